"""The projection tables keyed by something other than a run id that grow with the log
(``run_key_index``, ``run_key_conflicts``, ``partition_status``), stored in parts
bucketed by key hash between rebuilds."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from arco_cli.fold import FoldState
from arco_cli.projections.content import hash_sum
from arco_cli.projections.fold_state import (
    Part,
    PersistedState,
    bucket_of,
)
from arco_cli.projections.parts import (
    dict_columns,
    link_or_copy,
    splice,
    split_compact,
    write_parquet,
)
from arco_cli.projections.schemas import PRIMARY_KEYS

#: tables keyed by something other than a run id that grow with the log, stored as parts
#: bucketed by key hash between rebuilds; the column that moves to the event id whenever
#: a row is added or changed tells an incremental fold which rows (and buckets) to rewrite
KEY_BUCKETED = {"run_key_index": "row_version", "run_key_conflicts": "last_seen_event_id",
                "partition_status": "row_version"}


#: rows per key-hashed bucket when a set is written from scratch (at most 64 buckets)
ROWS_PER_KEY_PART = 1000


MAX_KEY_PARTS = 64


def key_part_of(key: Any, count: int) -> int:
    """The bucket of a row of a :data:`KEY_BUCKETED` table by its map key: a string, or
    a tuple whose first element (run key, asset key) keeps related rows together."""
    return bucket_of(key[0] if isinstance(key, tuple) else key, count)


def write_key_parts(folder: Path, state: FoldState, table: str,
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
        return split_compact(folder, previous_folder, table, sums, pk[0], pk,
                              split), len(sums)
    changed: dict[int, dict[Any, dict[str, Any]]] = {}
    if count and since is not None:
        # only loaded entries can have changed (a lazily loaded map skips pending ones)
        for key, row in dict.items(source):
            stamp = row[version]
            if stamp is not None and stamp > since:
                changed.setdefault(key_part_of(key, count), {})[key] = row
        rows_now = sum(p.rows for p in old.values()) + sum(map(len, changed.values()))
        if key_part_count(rows_now) >= 4 * count:
            count = 0  # outgrown: re-bucket everything
    parts: list[Part] = []
    if not count:
        count = key_part_count(len(source))
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
                link_or_copy(previous_folder, name, folder, name)
                parts.append(part)
            continue
        keys = sorted(rows)
        ordered = [{**scope, **rows[k]} for k in keys]
        if part is not None:
            assert previous_folder is not None
            merged = splice(previous_folder / name, folder / name, table, part, pk,
                             [k if isinstance(k, tuple) else (k,) for k in keys], ordered)
            if merged is not None:
                parts.append(merged)
            continue
        columns = dict_columns(table, ordered)
        write_parquet(folder / name, table, columns)
        parts.append(Part(name, len(ordered), hash_sum(zip(*columns, strict=True))))
    return parts, count


def key_part_count(rows: int) -> int:
    count = 1
    while count * ROWS_PER_KEY_PART < rows and count < MAX_KEY_PARTS:
        count *= 2
    return count
