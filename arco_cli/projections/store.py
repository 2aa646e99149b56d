"""The projection set on disk: versioned folders behind an atomically swapped symlink.

Layout (decisions A51, A56, A41)::

    .arco/projections            -> projections.d/000000001234.0   (relative symlink)
    .arco/projections.d/<offset>.<n>/
        manifest.json            canonical JSON, written last
        runs.parquet ...         one file per table (compact form), or parts:
        event_outcomes/part-000000.parquet ...   append-only parts (incremental folds)
        tasks/bucket-017.parquet ...             per-run tables bucketed by run id
        _state/...               private fold state tied to the manifest watermark
                                 (see :mod:`arco_cli.projections.fold_state`)

A writer fills a fresh folder, then points a temporary symlink at it and renames that
over ``.arco/projections`` (``rename(2)`` is atomic), so a reader that resolves the link
once sees one consistent set. The previous folder is kept as a grace period for readers
that resolved it just before the swap; older ones are removed.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from arco_cli.fold import FoldState
from arco_cli.fold.procedure import without_gc
from arco_cli.fold.state import OUTCOME_COLUMNS, attempt_history_json, load_everything
from arco_cli.identity import canonical_json, secret_check
from arco_cli.projections.content import hash_sum, hash_sums_by, hex_digest
from arco_cli.projections.fold_state import (
    Layout,
    Part,
    PersistedState,
    StoredFoldState,
    _bucket_number,
    bucket_of,
    dirty_buckets,
    read_state,
    write_state,
)
from arco_cli.projections.objects import OBJECTS_DIR, collect_objects
from arco_cli.projections.schemas import (
    COLUMNS,
    PRIMARY_KEYS,
    SCHEMA_VERSION,
    TABLE_NAMES,
    arrow_schema,
    column_names,
)

MANIFEST = "manifest.json"
#: tables that only ever gain rows, stored as append-only parts between rebuilds
APPEND_ONLY = ("event_outcomes", "idempotency_keys")
#: per-run tables, stored as parts bucketed by run id between rebuilds so that an
#: incremental fold rewrites only the buckets of the runs it touched (decisions A56)
BUCKETED = ("runs", "tasks", "dep_satisfaction")
#: tables keyed by something other than a run id that grow with the log, stored as parts
#: bucketed by key hash between rebuilds; the column that moves to the event id whenever
#: a row is added or changed tells an incremental fold which rows (and buckets) to rewrite
KEY_BUCKETED = {"run_key_index": "row_version", "run_key_conflicts": "last_seen_event_id",
                "partition_status": "row_version"}
#: rows per key-hashed bucket when a set is written from scratch (at most 64 buckets)
ROWS_PER_KEY_PART = 1000
MAX_KEY_PARTS = 64


def versions_dir(link: Path) -> Path:
    return link.parent / f"{link.name}.d"


def resolve(link: Path) -> Path | None:
    """The folder the projections link points to now (resolved once), or None."""
    if not link.is_symlink():
        return None
    target = link.parent / os.readlink(link)
    return target if target.is_dir() else None


def read_manifest(folder: Path) -> dict[str, Any] | None:
    try:
        doc = json.loads((folder / MANIFEST).read_bytes())
    except (OSError, ValueError):
        return None
    return doc if isinstance(doc, dict) else None


def manifest_matches(doc: dict[str, Any], state: FoldState) -> bool:
    return (doc.get("schema_version") == SCHEMA_VERSION
            and doc.get("tenant_id") == state.tenant_id
            and doc.get("workspace_id") == state.workspace_id
            and doc.get("tenant_secret_check") == secret_check(
                state.tenant_id, state.workspace_id, state.secret))


def load_persisted(folder: Path, doc: dict[str, Any]) -> PersistedState | None:
    """The pickled state of ``folder`` when it belongs to the manifest's watermark."""
    try:
        with without_gc():
            persisted = read_state(folder)
        files = [folder / name for name in doc["tables"]["event_outcomes"]["files"]]
    except Exception:  # noqa: BLE001 - any unreadable state only means "rebuild"
        return None
    if persisted is None:
        return None
    watermark = doc.get("watermark") or {}
    if persisted.watermark != (watermark.get("event_id"), watermark.get("log_offset")):
        return None
    persisted.state.defer_outcomes(lambda: _read_tuples(files))
    if isinstance(persisted.state, StoredFoldState):
        persisted.state.runs_files = [folder / name for name in doc["tables"]["runs"]["files"]]
        persisted.state.table_files = {
            table: [folder / name for name in doc["tables"][table]["files"]]
            for table in ("runs", "tasks", "dep_satisfaction", "run_key_index")}
    return persisted


def _read_tuples(files: list[Path]) -> Iterator[tuple[Any, ...]]:
    import pyarrow.parquet as pq

    for path in files:
        table = pq.read_table(path)
        yield from zip(*(column.to_pylist() for column in table.columns), strict=True)


# --------------------------------------------------------------------------- writing

def _write_parquet(path: Path, table: str, columns: list[list[Any]]) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = arrow_schema(table)
    arrays = [pa.array(values, type=schema.field(i).type) for i, values in enumerate(columns)]
    pq.write_table(pa.Table.from_arrays(arrays, schema=schema), path)


#: rows transposed at a time into columns (and written as one row group) by a rebuild
TRANSPOSE_ROWS = 100_000


def _column_slices(state: FoldState, table: str) -> Iterator[list[list[Any]]]:
    """The table's columns in PK order, a slice of :data:`TRANSPOSE_ROWS` rows at a
    time for the per-run tables (read from the fold's rows without copying them: a
    1M-event state would otherwise be duplicated while it is written), in one piece for
    the others; at least one (possibly empty) slice."""
    names = column_names(table)
    if table not in BUCKETED:
        yield _dict_columns(table, state.rows(table))
        return
    sources: dict[str, dict[str, Any]] = {"runs": state.runs, "tasks": state.tasks,
                                          "dep_satisfaction": state.deps}
    source = sources[table]
    if table == "runs":
        rows: list[Any] = [source[k] for k in sorted(source)]
    else:
        rows = [inner[k] for r in sorted(source) for inner in (source[r],)
                for k in sorted(inner)]
    if not rows:
        yield [[] for _ in names]
        return
    values = type(rows[0]).VALUES
    at = names.index("attempt_history") if "attempt_history" in names else None
    for start in range(0, len(rows), TRANSPOSE_ROWS):
        # each row's values in one C call, transposed by zip
        columns = [list(part) for part in zip(*map(values, rows[start:start + TRANSPOSE_ROWS]),
                                              strict=True)]
        if at is not None:
            columns[at] = [attempt_history_json(history) for history in columns[at]]
        yield columns


def _write_compact(folder: Path, state: FoldState, table: str,
                   layout: Layout) -> tuple[int, int, list[int] | None]:
    """``{table}.parquet`` (the compact form, ``fold --rebuild``), written a slice at a
    time so that a 1M-event rebuild never holds a whole table as columns; (rows, content
    hash sum, hash sums by bucket for the tables stored in buckets between rebuilds:
    the next fold splits the file into buckets without hashing it again)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = arrow_schema(table)
    column = _bucketing(table, 0, layout)[0] if table in BUCKETED or table in KEY_BUCKETED \
        else None
    at = column_names(table).index(column) if column is not None else 0
    count = total = 0
    sums: list[int] | None = None
    with pq.ParquetWriter(folder / f"{table}.parquet", schema) as writer:
        for columns in _column_slices(state, table):
            writer.write_table(pa.Table.from_arrays(
                [pa.array(values, type=schema.field(i).type)
                 for i, values in enumerate(columns)], schema=schema))
            rows = len(columns[0])
            count += rows
            if column is None:
                total = hash_sum(zip(*columns, strict=True), total)
                continue
            if sums is None:
                # per-run tables: the layout's count; key-hashed ones (one slice): by rows
                sums = [0] * _bucketing(table, rows, layout)[1]
            for bucket, value in enumerate(hash_sums_by(
                    zip(*columns, strict=True), _buckets_of(columns[at], len(sums)),
                    len(sums))):
                sums[bucket] += value
    if sums is not None:
        sums = [value % 2**256 for value in sums]
        total = sum(sums)
    return count, total % 2**256, sums


def _dict_columns(table: str, rows: list[dict[str, Any]]) -> list[list[Any]]:
    return [[row[name] for row in rows] for name in column_names(table)]


def _tuple_columns(width: int, rows: list[tuple[Any, ...]]) -> list[list[Any]]:
    if not rows:
        return [[] for _ in range(width)]
    return [list(column) for column in zip(*rows, strict=True)]


def _append_only_rows(state: FoldState, table: str, keys: list[str]) -> list[tuple[Any, ...]]:
    """Rows of an append-only table as value tuples in schema order (``keys`` order)."""
    if table == "event_outcomes":
        outcomes = state.event_outcomes
        return [outcomes[k] for k in keys]
    scope = (state.tenant_id, state.workspace_id)
    out: list[tuple[Any, ...]] = []
    for key in keys:
        event_id, event_type, recorded_at, _digest, _run = state.idempotency_keys[key]
        out.append((*scope, key, event_id, event_type, recorded_at, event_id))
    return out


def write_projection_set(link: Path, state: FoldState, previous: PersistedState | None,
                         previous_folder: Path | None, *, compact: bool = False) -> Path:
    """Write ``state`` as a new version folder and swap the link to it.

    With ``previous`` (the persisted state this one continued from), append-only tables
    reuse the previous parts (hard links) and add one part with the new rows, and per-run
    tables rewrite only changed buckets. ``compact`` (``arco fold --rebuild``, decisions
    A56) writes one file per table instead; otherwise a set written from scratch is
    already in parts, so the next incremental fold has nothing to convert.
    """
    with without_gc():
        return _write_set(link, state, None if compact else previous,
                          None if compact else previous_folder, compact)


def _write_set(link: Path, state: FoldState, previous: PersistedState | None,
               previous_folder: Path | None, compact: bool) -> Path:
    if previous is None:
        load_everything(state)
    versions = versions_dir(link)
    versions.mkdir(parents=True, exist_ok=True)
    folder = _fresh_folder(versions, state.log_offset)
    tables: dict[str, Any] = {}
    parts: dict[str, list[Part]] = {}
    part_counts: dict[str, int] = {}
    compact_sums: dict[str, list[int]] = {}
    new_keys = {"event_outcomes": state.unpersisted_outcomes,
                "idempotency_keys": state.unpersisted_keys}
    # bucket counts: kept while the log grows moderately, re-chosen (everything rewritten)
    # when it outgrows them
    key_count = (previous.key_count if previous is not None else 0) + \
        len(state.unpersisted_keys)
    if previous is None:
        key_count = len(state.idempotency_keys)
    if previous is not None and not previous.layout.outgrown_by(key_count):
        layout = previous.layout
        dirty = dirty_buckets(state, previous.watermark[0], layout.run_buckets)
    else:
        load_everything(state)
        layout = Layout.for_keys(key_count)
        dirty = None
    per_run: dict[str, list[Part]] = {}
    deltas: tuple[dict[str, int], int] = ({}, 0)
    if not compact:
        per_run, deltas = _write_per_run_tables(folder, state, layout, dirty, previous,
                                                previous_folder)
    for table in TABLE_NAMES:
        if table in APPEND_ONLY:
            table_parts = _write_append_only(folder, state, table, new_keys[table],
                                             previous, previous_folder, compact)
        elif table in BUCKETED and not compact:
            table_parts = per_run[table]
        elif table in KEY_BUCKETED and not compact:
            table_parts, part_counts[table] = _write_key_parts(
                folder, state, table, previous, previous_folder)
        else:
            count, total, sums = _write_compact(folder, state, table, layout)
            if sums is not None:
                compact_sums[table] = sums
            tables[table] = {"files": [f"{table}.parquet"], "row_count": count,
                             "content_sha256": hex_digest(total)}
            continue
        parts[table] = table_parts
        tables[table] = {"files": [p.file for p in table_parts],
                         "row_count": sum(p.rows for p in table_parts),
                         "content_sha256": hex_digest(sum(p.hash_sum for p in table_parts))}
    write_state(folder, state, parts, dirty is not None, layout, key_count, previous,
                part_counts, compact_sums, deltas)
    state.unpersisted_outcomes = []
    state.unpersisted_keys = []
    (folder / MANIFEST).write_text(canonical_json(manifest(state, tables)) + "\n",
                                   encoding="utf-8")
    replaced = resolve(link)
    _swap(link, folder)
    # the replaced folder stays as the readers' grace period; older ones go, and so do
    # the state objects that neither refers to
    kept = [folder] if replaced is None else [folder, replaced]
    _remove_old_versions(versions, {f.name for f in kept})
    collect_objects(versions, kept)
    return folder


def manifest(state: FoldState, tables: dict[str, Any]) -> dict[str, Any]:
    return {
        "schema_version": SCHEMA_VERSION,
        "tenant_id": state.tenant_id,
        "workspace_id": state.workspace_id,
        "watermark": {"event_id": state.watermark_event_id, "log_offset": state.log_offset},
        "tenant_secret_check": secret_check(state.tenant_id, state.workspace_id, state.secret),
        "tables": tables,
    }


def _write_append_only(folder: Path, state: FoldState, table: str, new_keys: list[str],
                       previous: PersistedState | None, previous_folder: Path | None,
                       compact: bool) -> list[Part]:
    width = len(COLUMNS[table])
    reusable = previous is not None and previous_folder is not None \
        and table in previous.parts
    parts: list[Part] = []
    if reusable:
        assert previous is not None and previous_folder is not None
        (folder / table).mkdir()
        try:
            for part in previous.parts[table]:
                if not part.rows:
                    continue
                # a compact file continues as the first part of the folder form (A56:
                # one form per table), under a new name but without a copy
                name = part.file if part.file.startswith(f"{table}/") \
                    else f"{table}/part-000000.parquet"
                _link_or_copy(previous_folder, part.file, folder, name)
                parts.append(Part(name, part.rows, part.hash_sum))
        except OSError:
            reusable = False
            parts = []
    if not reusable:
        # every row: one file in the compact form, else the first part
        if (folder / table).exists():
            shutil.rmtree(folder / table)
        state.load_outcomes()
        keys = sorted(state.event_outcomes if table == "event_outcomes"
                      else state.idempotency_keys)
        if not keys and not compact:
            return []
        name = f"{table}.parquet"
        if not compact:
            (folder / table).mkdir()
            name = f"{table}/part-000000.parquet"
        count, total = _write_batched(folder / name, state, table, keys, width)
        return [Part(name, count, total)]
    if new_keys:
        (folder / table).mkdir(exist_ok=True)
        name = _next_part_name(table, parts)
        count, total = _write_batched(folder / name, state, table, sorted(new_keys), width)
        parts.append(Part(name, count, total))
        _compact_tail(folder, table, parts)
    return parts


def _next_part_name(table: str, parts: list[Part]) -> str:
    number = int(parts[-1].file.rsplit("-", 1)[1].split(".", 1)[0]) + 1 if parts else 0
    return f"{table}/part-{number:06d}.parquet"


#: append-only parts are merged while the one before the last is at most this many
#: times the last's size and the merged part stays under the row cap: the part sizes
#: then fall geometrically, so a table keeps O(log n) small parts however many folds
#: added one (plus one part per cap rows), and a row is rewritten O(log n) times
MERGE_SIZE_RATIO = 2
MERGE_MAX_ROWS = 250_000


def _compact_tail(folder: Path, table: str, parts: list[Part]) -> None:
    """Merge the last parts of an append-only table in place (in ``parts`` and in the
    set's folder): the merged part holds the rows of both, sorted by primary key, and
    their summed content hash."""
    while len(parts) >= 2:
        before, last = parts[-2], parts[-1]
        if before.rows > MERGE_SIZE_RATIO * last.rows \
                or before.rows + last.rows > MERGE_MAX_ROWS:
            return
        name = _next_part_name(table, parts)
        _merge_parts(folder, table, [before.file, last.file], name)
        parts[-2:] = [Part(name, before.rows + last.rows, before.hash_sum + last.hash_sum)]


def _merge_parts(folder: Path, table: str, files: list[str], name: str) -> None:
    import pyarrow.parquet as pq

    schema = arrow_schema(table)
    first, second = (_as_schema(pq.ParquetFile(folder / file).read(), schema)
                     for file in files)
    pq.write_table(_merge_sorted(first, second, PRIMARY_KEYS[table]), folder / name)
    for file in files:
        (folder / file).unlink()


def _as_schema(table: Any, schema: Any) -> Any:
    import pyarrow as pa

    return table if table.schema == schema else pa.Table.from_arrays(table.columns,
                                                                     schema=schema)


#: slices beyond which two interleaved parts are merged by a sort instead
MAX_MERGE_SLICES = 2000


def _merge_sorted(first: Any, second: Any, pk: tuple[str, ...]) -> Any:
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


#: rows converted to Arrow at a time: bounds the memory of writing a 1M-row table
BATCH_ROWS = 100_000


def _write_batched(path: Path, state: FoldState, table: str, keys: list[str],
                   width: int) -> tuple[int, int]:
    """Write the rows of ``keys`` (sorted) in batches; (row count, content hash sum)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = arrow_schema(table)
    total = 0
    with pq.ParquetWriter(path, schema) as writer:
        for start in range(0, max(len(keys), 1), BATCH_ROWS):
            rows = _append_only_rows(state, table, keys[start:start + BATCH_ROWS])
            columns = _tuple_columns(width, rows)
            arrays = [pa.array(values, type=schema.field(i).type)
                      for i, values in enumerate(columns)]
            writer.write_table(pa.Table.from_arrays(arrays, schema=schema))
            total = hash_sum(rows, total)
    return len(keys), total


def _bucket_rows(state: FoldState, table: str, run_ids: list[str]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for run_id in sorted(run_ids):
        if table == "runs":
            rows.append(state.runs[run_id].as_dict())
        elif table == "tasks":
            rows.extend(state.tasks_of(run_id))
        else:
            rows.extend(state.edges_of(run_id))
    return rows


#: runs in a dirty bucket from which its stored part is merged rather than rewritten
MERGE_MIN_RUNS = 64


def _changed_runs(state: FoldState, table: str, since: str) -> set[str]:
    """Runs with a row of ``table`` changed after event ``since`` (loaded entries only:
    a run of a bucket still on disk was not touched)."""
    if table == "runs":
        return {run_id for run_id, run in dict.items(state.runs)
                if run["row_version"] > since}
    source: dict[str, dict[Any, Any]] = state.tasks if table == "tasks" else state.deps
    return {run_id for run_id, rows in dict.items(source)
            if any(r["row_version"] > since for r in rows.values())}


#: runs whose Parquet rows may wait in delta parts before they are settled into their
#: buckets (one fold then rewrites every bucket; a fold that adds one run settles about
#: once in this many folds)
SETTLE_RUNS = 4096


def _write_per_run_tables(folder: Path, state: FoldState, layout: Layout,
                          dirty: set[int] | None, previous: PersistedState | None,
                          previous_folder: Path | None
                          ) -> tuple[dict[str, list[Part]], tuple[dict[str, int], int]]:
    """The per-run tables of a set continued from ``previous``: (parts by table, (the
    runs in delta parts, the next delta number)).

    A run new since the previous set goes into a small *delta* part written by this
    fold (``{table}/delta-NNNNNN.parquet``, one per fold that added runs, sharing its
    number across the three tables) instead of into its hash bucket, whose rewrite at
    1M events costs a read and a write of a few hundred runs' rows per new run. A later
    change to a run rewrites the part that holds it. Delta parts are merged like the
    append-only parts (sizes falling geometrically), and once more than
    :data:`SETTLE_RUNS` runs wait in them, a fold moves them all into their buckets.
    Each row is in exactly one part (decisions A56) throughout."""
    since = previous.watermark[0] if previous is not None else None
    stored_runs: set[str] | None = getattr(state, "stored_runs", None)
    usable = previous is not None and previous_folder is not None and dirty is not None \
        and since is not None and stored_runs is not None \
        and all(_in_bucket_form(previous, table) for table in BUCKETED)
    if not usable:
        if previous is not None and previous.delta_runs:
            dirty = None  # cannot tell where changed runs live: write everything afresh
        return {table: _write_buckets(folder, state, table, layout, dirty, previous,
                                      previous_folder) for table in BUCKETED}, ({}, 0)
    assert previous is not None and previous_folder is not None and since is not None
    assert stored_runs is not None
    old_delta = previous.delta_runs
    delta_runs = dict(old_delta)
    changed = {table: _changed_runs(state, table, since) for table in BUCKETED}
    next_delta = previous.next_delta
    new_runs = {run_id for runs in changed.values() for run_id in runs
                if run_id not in old_delta and run_id not in stored_runs}
    if new_runs:
        delta_runs.update(dict.fromkeys(new_runs, next_delta))
        next_delta += 1
    settle = len(delta_runs) > SETTLE_RUNS
    sources: dict[int, list[int]] = {}
    if not settle:
        sizes: dict[int, int] = {}
        for number in delta_runs.values():
            sizes[number] = sizes.get(number, 0) + 1
        order = sorted(sizes)
        sources = {number: [number] for number in order}
        while len(order) >= 2 and sizes[order[-2]] <= MERGE_SIZE_RATIO * sizes[order[-1]]:
            first, last = order[-2], order[-1]
            sizes[next_delta] = sizes.pop(first) + sizes.pop(last)
            sources[next_delta] = sources.pop(first) + sources.pop(last)
            order[-2:] = [next_delta]
            next_delta += 1
        final = {old: number for number, olds in sources.items() for old in olds}
        delta_runs = {run_id: final[number] for run_id, number in delta_runs.items()}
    parts = {table: _write_per_run_table(
        folder, state, table, layout.run_buckets, previous, previous_folder,
        changed[table], stored_runs, old_delta, delta_runs, None if settle else sources)
        for table in BUCKETED}
    return parts, ({} if settle else delta_runs, next_delta)


def _in_bucket_form(previous: PersistedState, table: str) -> bool:
    files = [part.file for part in previous.parts.get(table, [])]
    return table in previous.parts and all(
        f.startswith((f"{table}/bucket-", f"{table}/delta-")) for f in files)


def _write_per_run_table(folder: Path, state: FoldState, table: str, count: int,
                         previous: PersistedState, previous_folder: Path, changed: set[str],
                         stored_runs: set[str], old_delta: dict[str, int],
                         delta_runs: dict[str, int], sources: dict[int, list[int]] | None
                         ) -> list[Part]:
    """One per-run table of :func:`_write_per_run_tables` (``sources``: the old delta
    numbers each delta part of the new set holds; None settles every delta run)."""
    import pyarrow.parquet as pq

    schema = arrow_schema(table)
    old_parts = {part.file: part for part in previous.parts[table]}
    old_deltas = {_bucket_number(name): part for name, part in old_parts.items()
                  if name.startswith(f"{table}/delta-")}
    (folder / table).mkdir()
    parts: list[Part] = []
    if sources is None:
        to_bucket = set(changed)
        moved = _settled_rows(previous_folder, table, old_deltas, changed, count)
    else:
        to_bucket = {run_id for run_id in changed
                     if run_id not in old_delta and run_id in stored_runs}
        moved = {}
    by_bucket: dict[int, list[str]] = {}
    for run_id in to_bucket:
        by_bucket.setdefault(bucket_of(run_id, count), []).append(run_id)
    pk = PRIMARY_KEYS[table]
    for bucket in range(count):
        name = f"{table}/bucket-{bucket:03d}.parquet"
        part = old_parts.get(name)
        run_ids = by_bucket.get(bucket, [])
        extra = moved.get(bucket, [])
        if not run_ids and not extra:
            if part is not None:
                _link_or_copy(previous_folder, name, folder, name)
                parts.append(part)
            continue
        rows = _bucket_rows(state, table, run_ids) + extra
        rows.sort(key=lambda row: tuple(row[c] for c in pk))
        replaced = sorted({(run_id,) for run_id in run_ids} | {(r["run_id"],) for r in extra})
        stored = _as_schema(pq.ParquetFile(previous_folder / name).read(), schema) \
            if part is not None else schema.empty_table()
        merged = _splice_table(stored, folder / name, table, part or Part(name, 0, 0),
                               ("run_id",), replaced, rows)
        if merged is not None:
            parts.append(merged)
    if sources is None:
        return parts
    by_number: dict[int, list[str]] = {}
    for run_id in changed - to_bucket:
        by_number.setdefault(delta_runs[run_id], []).append(run_id)
    for number, olds in sorted(sources.items()):
        stored_parts = [old_deltas[old] for old in olds if old in old_deltas]
        run_ids = by_number.get(number, [])
        name = f"{table}/delta-{number:06d}.parquet"
        if olds == [number] and not run_ids:
            for part in stored_parts:  # untouched
                _link_or_copy(previous_folder, part.file, folder, name)
                parts.append(part)
            continue
        stored = schema.empty_table()
        for part in stored_parts:
            read = _as_schema(pq.ParquetFile(previous_folder / part.file).read(), schema)
            stored = _merge_sorted(stored, read, pk) if stored.num_rows else read
        base = Part(name, stored.num_rows, sum(p.hash_sum for p in stored_parts))
        merged = _splice_table(stored, folder / name, table, base, ("run_id",),
                               sorted((run_id,) for run_id in run_ids),
                               _bucket_rows(state, table, run_ids))
        if merged is not None:
            parts.append(merged)
    return parts


def _settled_rows(previous_folder: Path, table: str, old_deltas: dict[int, Part],
                  changed: set[str], count: int) -> dict[int, list[dict[str, Any]]]:
    """Rows of the delta parts of runs not changed by this fold (those come from the
    state), by the bucket of ``count`` they settle into."""
    import pyarrow.parquet as pq

    out: dict[int, list[dict[str, Any]]] = {}
    for part in old_deltas.values():
        for row in pq.ParquetFile(previous_folder / part.file).read().to_pylist():
            if row["run_id"] not in changed:
                out.setdefault(bucket_of(row["run_id"], count), []).append(row)
    return out


def _write_buckets(folder: Path, state: FoldState, table: str, layout: Layout,
                   dirty: set[int] | None, previous: PersistedState | None,
                   previous_folder: Path | None) -> list[Part]:
    """A per-run table as parts ``{table}/bucket-NNN.parquet`` (rows of the runs whose
    id hashes to the bucket); only ``dirty`` buckets are written (None: all), the others
    are hard-linked from the previous set. A dirty bucket with a stored part keeps that
    part's rows of unchanged runs in Arrow (no Python rows for them) and only the
    changed runs' rows are converted, hashed and put in place of their old ones."""
    count = layout.run_buckets
    # a dirty Parquet bucket is loaded whole only when it is one state bucket; when it
    # spans several, the runs of its unloaded state buckets are only in the stored part
    whole = layout.state_buckets == count
    sources: dict[str, dict[str, Any]] = {"runs": state.runs, "tasks": state.tasks,
                                          "dep_satisfaction": state.deps}
    source = sources[table]
    old: dict[str, Part] = {}
    if previous is not None and previous_folder is not None:
        old = {p.file: p for p in previous.parts.get(table, [])
               if p.file.startswith(f"{table}/bucket-")}
    since = previous.watermark[0] if previous is not None else None
    sums = previous.compact_sums.get(table) if previous is not None else None
    if not old and dirty is not None and since is not None and previous_folder is not None \
            and sums is not None and len(sums) == count:
        touched: dict[int, list[str]] = {}
        for run_id in _changed_runs(state, table, since):
            touched.setdefault(bucket_of(run_id, count), []).append(run_id)
        return _split_compact(folder, previous_folder, table, sums, "run_id", ("run_id",), {
            bucket: (sorted((run_id,) for run_id in run_ids),
                     _bucket_rows(state, table, run_ids))
            for bucket, run_ids in touched.items()})
    if not old or dirty is None:
        dirty = None  # from scratch, from the compact form or re-bucketed: write all
        load_everything(state)
    changed: set[str] | None = None
    if dirty is not None and previous is not None and previous.watermark[0] is not None:
        changed = _changed_runs(state, table, previous.watermark[0])
    by_bucket: dict[int, list[str]] = {}
    # loaded entries (unloaded buckets are unchanged: a dirty bucket is loaded whole)
    for run_id in dict.keys(source):
        bucket = bucket_of(run_id, count)
        if dirty is None or bucket in dirty:
            by_bucket.setdefault(bucket, []).append(run_id)
    (folder / table).mkdir()
    parts: list[Part] = []
    for bucket in range(count):
        name = f"{table}/bucket-{bucket:03d}.parquet"
        part = old.get(name)
        if dirty is not None and bucket not in dirty:
            if part is not None:
                assert previous_folder is not None
                _link_or_copy(previous_folder, name, folder, name)
                parts.append(part)
            continue
        run_ids = by_bucket.get(bucket, [])
        # a big bucket keeps its stored rows of unchanged runs (merged); a small one,
        # loaded whole, is cheaper to write afresh than to read back
        if changed is not None and part is not None \
                and (len(run_ids) >= MERGE_MIN_RUNS or not whole):
            assert previous_folder is not None
            run_ids = [run_id for run_id in run_ids if run_id in changed]
            if not run_ids:
                # dirty through another per-run table only: this table's part is unchanged
                _link_or_copy(previous_folder, name, folder, name)
                parts.append(part)
                continue
            merged = _merge_bucket(previous_folder / name, folder / name, state, table,
                                   part, run_ids)
            if merged is not None:
                parts.append(merged)
            continue
        rows = _bucket_rows(state, table, run_ids)
        if not rows:
            continue
        columns = _dict_columns(table, rows)
        _write_parquet(folder / name, table, columns)
        parts.append(Part(name, len(rows), hash_sum(zip(*columns, strict=True))))
    return parts


def _bucketing(table: str, rows: int, layout: Layout) -> tuple[str, int]:
    """(the column whose value picks a row's bucket, the bucket count) of a table stored
    in buckets: per-run tables by run id, key-hashed ones by their first key column."""
    if table in BUCKETED:
        return "run_id", layout.run_buckets
    return PRIMARY_KEYS[table][2], _key_part_count(rows)


def _buckets_of(values: list[Any], count: int) -> list[int]:
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


def _split_compact(folder: Path, previous_folder: Path, table: str, sums: list[int],
                   column: str, group_columns: tuple[str, ...],
                   changed: dict[int, tuple[list[tuple[Any, ...]], list[dict[str, Any]]]]
                   ) -> list[Part]:
    """The first fold after a rebuild: the compact file of a bucketed table split into
    ``len(sums)`` buckets by ``column`` in Arrow (each bucket's rows keep their order,
    hence the primary-key order; its hash sum was recorded by the rebuild), with the
    ``changed`` groups of a bucket (sorted, and their current rows) put in place by
    :func:`_splice`. Neither the stored rows nor the unchanged runs' and keys' state
    are turned into Python objects."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    count = len(sums)
    schema = arrow_schema(table)
    compact = _as_schema(pq.ParquetFile(previous_folder / f"{table}.parquet").read(),
                         schema)
    buckets = _buckets_of(compact.column(column).to_pylist(), count)
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
            merged = _splice_table(piece, folder / name, table, part, group_columns,
                                   replaced, rows)
            if merged is not None:
                parts.append(merged)
        elif piece.num_rows or bucket == 0:
            pq.write_table(piece, folder / name)
            parts.append(part)
    return parts


def _merge_bucket(stored: Path, target: Path, state: FoldState, table: str, part: Part,
                  run_ids: list[str]) -> Part | None:
    """Write the stored part ``stored`` with the rows of ``run_ids`` replaced by their
    current ones (see :func:`_splice`)."""
    return _splice(stored, target, table, part, ("run_id",),
                   sorted((run_id,) for run_id in run_ids),
                   _bucket_rows(state, table, run_ids))


def _splice(stored: Path, target: Path, table: str, part: Part,
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

    return _splice_table(_as_schema(pq.ParquetFile(stored).read(), arrow_schema(table)),
                         target, table, part, group_columns, replaced, rows)


def _splice_table(old: Any, target: Path, table: str, part: Part,
                  group_columns: tuple[str, ...], replaced: list[tuple[Any, ...]],
                  rows: list[dict[str, Any]]) -> Part | None:
    """:func:`_splice` of the stored rows ``old`` (an Arrow table of the schema)."""
    import bisect

    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = arrow_schema(table)
    names = column_names(table)
    old_groups = list(zip(*(old.column(c).to_pylist() for c in group_columns), strict=True))
    columns = _dict_columns(table, rows)
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


def key_part_of(key: Any, count: int) -> int:
    """The bucket of a row of a :data:`KEY_BUCKETED` table by its map key: a string, or
    a tuple whose first element (run key, asset key) keeps related rows together."""
    return bucket_of(key[0] if isinstance(key, tuple) else key, count)


def _write_key_parts(folder: Path, state: FoldState, table: str,
                     previous: PersistedState | None,
                     previous_folder: Path | None) -> tuple[list[Part], int]:
    """A :data:`KEY_BUCKETED` table as parts ``{table}/bucket-NNN.parquet``; (parts,
    bucket count). Continuing a set in this form, only the buckets holding a row whose
    version column moved past the previous watermark are rewritten: their stored rows
    read back from the previous part, the changed rows put over them; the other parts
    are hard-linked. The rows and the content hash of a rewritten bucket are recomputed
    from that bucket alone, so the cost follows the new events, not the table size."""
    source: dict[Any, dict[str, Any]] = getattr(state, table)
    version = KEY_BUCKETED[table]
    old: dict[str, Part] = {}
    count = 0
    since: str | None = None
    if previous is not None and previous_folder is not None:
        count = previous.part_counts.get(table, 0)
        old = {p.file: p for p in previous.parts.get(table, [])}
        since = previous.watermark[0]
        if since is None:
            count = 0  # a set of the empty log: every row is new
    scope = {"tenant_id": state.tenant_id, "workspace_id": state.workspace_id}
    pk = PRIMARY_KEYS[table][2:]
    sums = previous.compact_sums.get(table) if previous is not None else None
    if sums and not old and since is not None and previous_folder is not None:
        # the first fold after a rebuild: split the compact file
        by_bucket: dict[int, dict[Any, dict[str, Any]]] = {}
        for key, row in dict.items(source):
            stamp = row[version]
            if stamp is not None and stamp > since:
                by_bucket.setdefault(key_part_of(key, len(sums)), {})[key] = row
        split = {bucket: ([k if isinstance(k, tuple) else (k,) for k in sorted(rows)],
                          [{**scope, **rows[k]} for k in sorted(rows)])
                 for bucket, rows in by_bucket.items()}
        return _split_compact(folder, previous_folder, table, sums, pk[0], pk,
                              split), len(sums)
    changed: dict[int, dict[Any, dict[str, Any]]] = {}
    if count and since is not None:
        # only loaded entries can have changed (a lazily loaded map skips pending ones)
        for key, row in dict.items(source):
            stamp = row[version]
            if stamp is not None and stamp > since:
                changed.setdefault(key_part_of(key, count), {})[key] = row
        rows_now = sum(p.rows for p in old.values()) + sum(map(len, changed.values()))
        if _key_part_count(rows_now) >= 4 * count:
            count = 0  # outgrown: re-bucket everything
    parts: list[Part] = []
    if not count:
        count = _key_part_count(len(source))
        # bucket 0 always has a file, so that even an empty table has its schema on disk
        everything: dict[int, dict[Any, dict[str, Any]]] = {0: {}}
        for key, row in source.items():
            everything.setdefault(key_part_of(key, count), {})[key] = row
        changed, old = everything, {}
    (folder / table).mkdir()
    for bucket in range(count):
        name = f"{table}/bucket-{bucket:03d}.parquet"
        rows = changed.get(bucket)
        part = old.get(name)
        if rows is None:
            if part is not None:
                assert previous_folder is not None
                _link_or_copy(previous_folder, name, folder, name)
                parts.append(part)
            continue
        keys = sorted(rows)
        ordered = [{**scope, **rows[k]} for k in keys]
        if part is not None:
            assert previous_folder is not None
            merged = _splice(previous_folder / name, folder / name, table, part, pk,
                             [k if isinstance(k, tuple) else (k,) for k in keys], ordered)
            if merged is not None:
                parts.append(merged)
            continue
        columns = _dict_columns(table, ordered)
        _write_parquet(folder / name, table, columns)
        parts.append(Part(name, len(ordered), hash_sum(zip(*columns, strict=True))))
    return parts, count


def _key_part_count(rows: int) -> int:
    count = 1
    while count * ROWS_PER_KEY_PART < rows and count < MAX_KEY_PARTS:
        count *= 2
    return count


def _link_or_copy(source_folder: Path, source: str, folder: Path, target: str) -> None:
    """Hard-link ``source_folder/source`` as ``folder/target`` (copy where links fail);
    the target's folder exists (the writers make each table folder once). Plain string
    paths: a set links hundreds of parts, and pathlib costs more than the link."""
    source_path = os.path.join(source_folder, source)
    target_path = os.path.join(folder, target)
    try:
        os.link(source_path, target_path)
    except OSError:
        shutil.copy2(source_path, target_path)


def _fresh_folder(versions: Path, log_offset: int) -> Path:
    n = 0
    while True:
        folder = versions / f"{log_offset:012d}.{n}"
        try:
            folder.mkdir()
            return folder
        except FileExistsError:
            n += 1


def _swap(link: Path, folder: Path) -> None:
    if link.exists() and not link.is_symlink():
        # a plain folder from an older layout: move it aside, it is disposable
        link.rename(versions_dir(link) / f"legacy-{os.getpid()}")
    temporary = link.parent / f".{link.name}.swap-{os.getpid()}"
    with contextlib.suppress(FileNotFoundError):
        temporary.unlink()
    temporary.symlink_to(os.path.relpath(folder, link.parent))
    os.replace(temporary, link)


def _remove_old_versions(versions: Path, keep: set[str]) -> None:
    for entry in versions.iterdir():
        if entry.name not in keep and entry.name != OBJECTS_DIR:
            shutil.rmtree(entry, ignore_errors=True)


# --------------------------------------------------------------------------- reading

def read_rows(folder: Path, table: str) -> list[dict[str, Any]]:
    """Every row of ``table`` in the projection folder, sorted by primary key."""
    import pyarrow.parquet as pq

    doc = read_manifest(folder)
    if doc is None:
        return []
    rows: list[dict[str, Any]] = []
    for name in doc["tables"][table]["files"]:
        rows.extend(pq.read_table(folder / name).to_pylist())
    pk = PRIMARY_KEYS[table]
    rows.sort(key=lambda row: tuple(row[c] for c in pk))
    return rows


__all__ = ["OUTCOME_COLUMNS", "PersistedState", "read_manifest", "read_rows", "resolve",
           "write_projection_set"]
