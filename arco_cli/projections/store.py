"""The projection set on disk: versioned folders behind an atomically swapped symlink.

Layout (decisions A51, A56, A41)::

    .arco/projections            -> projections.d/000000001234.0   (relative symlink)
    .arco/projections.d/<offset>.<n>/
        manifest.json            canonical JSON, written last
        runs.parquet ...         one file per table (compact form), or parts:
        event_outcomes/part-000000.parquet ...   append-only parts (incremental folds)
        tasks/bucket-017.parquet ...             per-run tables bucketed by run id,
        tasks/delta-000042.parquet ...           and new runs in delta parts
                                                 (:mod:`~arco_cli.projections.per_run`)
        run_key_index/bucket-003.parquet ...     key-hashed tables
                                                 (:mod:`~arco_cli.projections.key_parts`)
        _state/...               private fold state tied to the manifest watermark
                                 (see :mod:`arco_cli.projections.fold_state`)
    .arco/projections.d/_objects/<generation>/   its buckets, shared by the sets
                                                 (:mod:`~arco_cli.projections.objects`)

A writer fills a fresh folder, then points a temporary symlink at it and renames that
over ``.arco/projections`` (``rename(2)`` is atomic), so a reader that resolves the link
once sees one consistent set. The previous folder is kept as a grace period for readers
that resolved it just before the swap; older ones are removed, and so are the state
objects neither kept set refers to.
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
    dirty_buckets,
    read_state,
    write_state,
)
from arco_cli.projections.key_parts import KEY_BUCKETED, key_part_count, write_key_parts
from arco_cli.projections.objects import OBJECTS_DIR, collect_objects
from arco_cli.projections.parts import (
    buckets_of,
    compact_tail,
    dict_columns,
    link_or_copy,
    next_part_name,
    tuple_columns,
)
from arco_cli.projections.per_run import BUCKETED, write_per_run_tables
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


#: rows transposed at a time into columns (and written as one row group) by a rebuild
TRANSPOSE_ROWS = 100_000


def _column_slices(state: FoldState, table: str) -> Iterator[list[list[Any]]]:
    """The table's columns in PK order, a slice of :data:`TRANSPOSE_ROWS` rows at a
    time for the per-run tables (read from the fold's rows without copying them: a
    1M-event state would otherwise be duplicated while it is written), in one piece for
    the others; at least one (possibly empty) slice."""
    names = column_names(table)
    if table not in BUCKETED:
        yield dict_columns(table, state.rows(table))
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
                    zip(*columns, strict=True), buckets_of(columns[at], len(sums)),
                    len(sums))):
                sums[bucket] += value
    if sums is not None:
        sums = [value % 2**256 for value in sums]
        total = sum(sums)
    return count, total % 2**256, sums


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
        per_run, deltas = write_per_run_tables(folder, state, layout, dirty, previous,
                                                previous_folder)
    for table in TABLE_NAMES:
        if table in APPEND_ONLY:
            table_parts = _write_append_only(folder, state, table, new_keys[table],
                                             previous, previous_folder, compact)
        elif table in BUCKETED and not compact:
            table_parts = per_run[table]
        elif table in KEY_BUCKETED and not compact:
            table_parts, part_counts[table] = write_key_parts(
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
                link_or_copy(previous_folder, part.file, folder, name)
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
        name = next_part_name(table, parts)
        count, total = _write_batched(folder / name, state, table, sorted(new_keys), width)
        parts.append(Part(name, count, total))
        compact_tail(folder, table, parts)
    return parts


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
            columns = tuple_columns(width, rows)
            arrays = [pa.array(values, type=schema.field(i).type)
                      for i, values in enumerate(columns)]
            writer.write_table(pa.Table.from_arrays(arrays, schema=schema))
            total = hash_sum(rows, total)
    return len(keys), total


def _bucketing(table: str, rows: int, layout: Layout) -> tuple[str, int]:
    """(the column whose value picks a row's bucket, the bucket count) of a table stored
    in buckets: per-run tables by run id, key-hashed ones by their first key column."""
    if table in BUCKETED:
        return "run_id", layout.run_buckets
    return PRIMARY_KEYS[table][2], key_part_count(rows)


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
