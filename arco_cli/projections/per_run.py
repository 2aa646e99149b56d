"""The per-run tables (``runs``, ``tasks``, ``dep_satisfaction``) of a projection set
stored in parts: hash buckets by run id, plus delta parts for the runs new since they
were last settled (see :func:`write_per_run_tables`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from arco_cli.fold import FoldState
from arco_cli.fold.state import load_everything
from arco_cli.projections.content import hash_sum
from arco_cli.projections.fold_state import (
    Layout,
    Part,
    PersistedState,
    bucket_number,
    bucket_of,
)
from arco_cli.projections.parts import (
    MERGE_SIZE_RATIO,
    as_schema,
    dict_columns,
    link_or_copy,
    merge_sorted,
    splice,
    splice_table,
    split_compact,
    write_parquet,
)
from arco_cli.projections.schemas import PRIMARY_KEYS, arrow_schema

#: per-run tables, stored as parts bucketed by run id between rebuilds so that an
#: incremental fold rewrites only the buckets of the runs it touched (decisions A56)
BUCKETED = ("runs", "tasks", "dep_satisfaction")


def bucket_rows(state: FoldState, table: str, run_ids: list[str]) -> list[dict[str, Any]]:
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


def changed_runs(state: FoldState, table: str, since: str) -> set[str]:
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


def write_per_run_tables(folder: Path, state: FoldState, layout: Layout,
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
    changed = {table: changed_runs(state, table, since) for table in BUCKETED}
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
    """One per-run table of :func:`write_per_run_tables` (``sources``: the old delta
    numbers each delta part of the new set holds; None settles every delta run)."""
    import pyarrow.parquet as pq

    schema = arrow_schema(table)
    old_parts = {part.file: part for part in previous.parts[table]}
    old_deltas = {bucket_number(name): part for name, part in old_parts.items()
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
                link_or_copy(previous_folder, name, folder, name)
                parts.append(part)
            continue
        rows = bucket_rows(state, table, run_ids) + extra
        rows.sort(key=lambda row: tuple(row[c] for c in pk))
        replaced = sorted({(run_id,) for run_id in run_ids} | {(r["run_id"],) for r in extra})
        stored = as_schema(pq.ParquetFile(previous_folder / name).read(), schema) \
            if part is not None else schema.empty_table()
        merged = splice_table(stored, folder / name, table, part or Part(name, 0, 0),
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
                link_or_copy(previous_folder, part.file, folder, name)
                parts.append(part)
            continue
        stored = schema.empty_table()
        for part in stored_parts:
            read = as_schema(pq.ParquetFile(previous_folder / part.file).read(), schema)
            stored = merge_sorted(stored, read, pk) if stored.num_rows else read
        base = Part(name, stored.num_rows, sum(p.hash_sum for p in stored_parts))
        merged = splice_table(stored, folder / name, table, base, ("run_id",),
                               sorted((run_id,) for run_id in run_ids),
                               bucket_rows(state, table, run_ids))
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
        for run_id in changed_runs(state, table, since):
            touched.setdefault(bucket_of(run_id, count), []).append(run_id)
        return split_compact(folder, previous_folder, table, sums, "run_id", ("run_id",), {
            bucket: (sorted((run_id,) for run_id in run_ids),
                     bucket_rows(state, table, run_ids))
            for bucket, run_ids in touched.items()})
    if not old or dirty is None:
        dirty = None  # from scratch, from the compact form or re-bucketed: write all
        load_everything(state)
    changed: set[str] | None = None
    if dirty is not None and previous is not None and previous.watermark[0] is not None:
        changed = changed_runs(state, table, previous.watermark[0])
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
                link_or_copy(previous_folder, name, folder, name)
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
                link_or_copy(previous_folder, name, folder, name)
                parts.append(part)
                continue
            merged = _merge_bucket(previous_folder / name, folder / name, state, table,
                                   part, run_ids)
            if merged is not None:
                parts.append(merged)
            continue
        rows = bucket_rows(state, table, run_ids)
        if not rows:
            continue
        columns = dict_columns(table, rows)
        write_parquet(folder / name, table, columns)
        parts.append(Part(name, len(rows), hash_sum(zip(*columns, strict=True))))
    return parts


def _merge_bucket(stored: Path, target: Path, state: FoldState, table: str, part: Part,
                  run_ids: list[str]) -> Part | None:
    """Write the stored part ``stored`` with the rows of ``run_ids`` replaced by their
    current ones (see :func:`splice`)."""
    return splice(stored, target, table, part, ("run_id",),
                   sorted((run_id,) for run_id in run_ids),
                   bucket_rows(state, table, run_ids))
