"""Parquet parts of the projection tables (decisions A56): writing one, merging two
sorted ones, splicing new rows into a stored one, splitting a compact file into buckets,
and linking an unchanged part into a new set. The stored rows stay in Arrow: only the
rows that change are turned into Python objects (for the content hash)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

from arco_cli.projections.content import hash_sum
from arco_cli.projections.fold_state import (
    Part,
    bucket_of,
)
from arco_cli.projections.schemas import PRIMARY_KEYS, arrow_schema, column_names


def write_parquet(path: Path, table: str, columns: list[list[Any]]) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = arrow_schema(table)
    arrays = [pa.array(values, type=schema.field(i).type) for i, values in enumerate(columns)]
    pq.write_table(pa.Table.from_arrays(arrays, schema=schema), path)


def dict_columns(table: str, rows: list[dict[str, Any]]) -> list[list[Any]]:
    return [[row[name] for row in rows] for name in column_names(table)]


def tuple_columns(width: int, rows: list[tuple[Any, ...]]) -> list[list[Any]]:
    if not rows:
        return [[] for _ in range(width)]
    return [list(column) for column in zip(*rows, strict=True)]


def next_part_name(table: str, parts: list[Part]) -> str:
    number = int(parts[-1].file.rsplit("-", 1)[1].split(".", 1)[0]) + 1 if parts else 0
    return f"{table}/part-{number:06d}.parquet"


#: append-only parts are merged while the one before the last is at most this many
#: times the last's size and the merged part stays under the row cap: the part sizes
#: then fall geometrically, so a table keeps O(log n) small parts however many folds
#: added one (plus one part per cap rows), and a row is rewritten O(log n) times
MERGE_SIZE_RATIO = 2


MERGE_MAX_ROWS = 250_000


def compact_tail(folder: Path, table: str, parts: list[Part]) -> None:
    """Merge the last parts of an append-only table in place (in ``parts`` and in the
    set's folder): the merged part holds the rows of both, sorted by primary key, and
    their summed content hash."""
    while len(parts) >= 2:
        before, last = parts[-2], parts[-1]
        if before.rows > MERGE_SIZE_RATIO * last.rows \
                or before.rows + last.rows > MERGE_MAX_ROWS:
            return
        name = next_part_name(table, parts)
        merge_parts(folder, table, [before.file, last.file], name)
        parts[-2:] = [Part(name, before.rows + last.rows, before.hash_sum + last.hash_sum)]


def merge_parts(folder: Path, table: str, files: list[str], name: str) -> None:
    import pyarrow.parquet as pq

    schema = arrow_schema(table)
    first, second = (as_schema(pq.ParquetFile(folder / file).read(), schema)
                     for file in files)
    pq.write_table(merge_sorted(first, second, PRIMARY_KEYS[table]), folder / name)
    for file in files:
        (folder / file).unlink()


def as_schema(table: Any, schema: Any) -> Any:
    import pyarrow as pa

    return table if table.schema == schema else pa.Table.from_arrays(table.columns,
                                                                     schema=schema)


#: slices beyond which two interleaved parts are merged by a sort instead
MAX_MERGE_SLICES = 2000


def merge_sorted(first: Any, second: Any, pk: tuple[str, ...]) -> Any:
    """Two Arrow tables sorted by ``pk`` (keys unique across both) as one: the sorted
    order as alternating zero-copy slices of the two (parts of later folds mostly sort
    after earlier ones, or interleave little), or by a sort when they interleave much."""
    import bisect

    import pyarrow as pa

    keys_a = list(zip(*(first.column(c).to_pylist() for c in pk), strict=True))
    keys_b = list(zip(*(second.column(c).to_pylist() for c in pk), strict=True))
    pieces: list[Any] = []
    i = j = 0
    while i < len(keys_a) and j < len(keys_b):
        if len(pieces) > MAX_MERGE_SLICES:
            merged = pa.concat_tables([first, second])
            return merged.sort_by([(c, "ascending") for c in pk])
        if keys_a[i] < keys_b[j]:
            end = bisect.bisect_left(keys_a, keys_b[j], i)
            pieces.append(first.slice(i, end - i))
            i = end
        else:
            end = bisect.bisect_left(keys_b, keys_a[i], j)
            pieces.append(second.slice(j, end - j))
            j = end
    pieces.extend((first.slice(i), second.slice(j)))
    return pa.concat_tables([piece for piece in pieces if piece.num_rows] or [first])


def buckets_of(values: list[Any], count: int) -> list[int]:
    """The bucket of each row by its bucketing column (rows of one value are adjacent:
    the tables are sorted by a primary key that begins with that column)."""
    out: list[int] = []
    last: Any = None
    bucket = 0
    for value in values:
        if value != last:
            bucket, last = bucket_of(value, count), value
        out.append(bucket)
    return out


def split_compact(folder: Path, previous_folder: Path, table: str, sums: list[int],
                   column: str, group_columns: tuple[str, ...],
                   changed: dict[int, tuple[list[tuple[Any, ...]], list[dict[str, Any]]]]
                   ) -> list[Part]:
    """The first fold after a rebuild: the compact file of a bucketed table split into
    ``len(sums)`` buckets by ``column`` in Arrow (each bucket's rows keep their order,
    hence the primary-key order; its hash sum was recorded by the rebuild), with the
    ``changed`` groups of a bucket (sorted, and their current rows) put in place by
    :func:`splice`. Neither the stored rows nor the unchanged runs' and keys' state
    are turned into Python objects."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    count = len(sums)
    schema = arrow_schema(table)
    compact = as_schema(pq.ParquetFile(previous_folder / f"{table}.parquet").read(),
                         schema)
    buckets = buckets_of(compact.column(column).to_pylist(), count)
    sizes = [0] * count
    for bucket in buckets:
        sizes[bucket] += 1
    order = sorted(range(len(buckets)), key=buckets.__getitem__)  # stable
    grouped = compact.take(pa.array(order, type=pa.int64())) if order else compact
    (folder / table).mkdir()
    parts: list[Part] = []
    offset = 0
    for bucket in range(count):
        piece = grouped.slice(offset, sizes[bucket])
        offset += sizes[bucket]
        name = f"{table}/bucket-{bucket:03d}.parquet"
        part = Part(name, sizes[bucket], sums[bucket])
        if bucket in changed:
            replaced, rows = changed[bucket]
            merged = splice_table(piece, folder / name, table, part, group_columns,
                                   replaced, rows)
            if merged is not None:
                parts.append(merged)
        elif piece.num_rows or bucket == 0:
            pq.write_table(piece, folder / name)
            parts.append(part)
    return parts


def splice(stored: Path, target: Path, table: str, part: Part,
            group_columns: tuple[str, ...], replaced: list[tuple[Any, ...]],
            rows: list[dict[str, Any]]) -> Part | None:
    """Write the stored part ``stored`` with every row whose ``group_columns`` values
    are in ``replaced`` (sorted) swapped for ``rows`` (the current rows of those groups,
    sorted by primary key); None when no row is left. The hash sum is the stored one
    minus the removed rows' digests plus the new rows' (it is order-independent, A56).

    The stored rows stay in Arrow: a part is sorted by primary key, which begins with
    ``group_columns``, so each group is one contiguous slice, found by bisecting those
    columns; the result is the stored slices around the replaced groups with the new
    rows between them (zero-copy slices and one concatenation: no conversion of the
    other rows, and no pyarrow.compute, whose import alone costs what a small
    workspace's whole incremental fold does)."""
    import pyarrow.parquet as pq

    return splice_table(as_schema(pq.ParquetFile(stored).read(), arrow_schema(table)),
                         target, table, part, group_columns, replaced, rows)


def splice_table(old: Any, target: Path, table: str, part: Part,
                  group_columns: tuple[str, ...], replaced: list[tuple[Any, ...]],
                  rows: list[dict[str, Any]]) -> Part | None:
    """:func:`splice` of the stored rows ``old`` (an Arrow table of the schema)."""
    import bisect

    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = arrow_schema(table)
    names = column_names(table)
    old_groups = list(zip(*(old.column(c).to_pylist() for c in group_columns), strict=True))
    columns = dict_columns(table, rows)
    new_groups = list(zip(*(columns[names.index(c)] for c in group_columns), strict=True))
    added = pa.Table.from_arrays([pa.array(values, type=schema.field(i).type)
                                  for i, values in enumerate(columns)], schema=schema)
    pieces: list[Any] = []
    gone_total = 0
    cursor = new_cursor = 0  # the next stored and new rows not yet placed
    for group in replaced:
        lo = bisect.bisect_left(old_groups, group, cursor)
        hi = bisect.bisect_right(old_groups, group, lo)
        new_lo = bisect.bisect_left(new_groups, group, new_cursor)
        new_hi = bisect.bisect_right(new_groups, group, new_lo)
        pieces.append(old.slice(cursor, lo - cursor))
        if hi > lo:
            gone = old.slice(lo, hi - lo)
            gone_total = hash_sum(zip(*(c.to_pylist() for c in gone.columns), strict=True),
                                  gone_total)
        pieces.append(added.slice(new_lo, new_hi - new_lo))
        cursor, new_cursor = hi, new_hi
    pieces.append(old.slice(cursor))
    pieces = [piece for piece in pieces if piece.num_rows]
    if not pieces:
        return None
    merged = pa.concat_tables(pieces)
    total = hash_sum(zip(*columns, strict=True), part.hash_sum - gone_total)
    pq.write_table(merged, target)
    return Part(f"{target.parent.name}/{target.name}", merged.num_rows, total % 2**256)


def link_or_copy(source_folder: Path, source: str, folder: Path, target: str) -> None:
    """Hard-link ``source_folder/source`` as ``folder/target`` (copy where links fail);
    the target's folder exists (the writers make each table folder once). Plain string
    paths: a set links hundreds of parts, and pathlib costs more than the link."""
    source_path = os.path.join(source_folder, source)
    target_path = os.path.join(folder, target)
    try:
        os.link(source_path, target_path)
    except OSError:
        shutil.copy2(source_path, target_path)
