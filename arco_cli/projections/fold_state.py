"""The private fold state of a projection set (decisions A41), split so that an
incremental fold writes only what changed:

    <set>/_state/fold.pickle           everything but the per-run maps and the keys,
                                       plus the bookkeeping of the set's parts and of
                                       which object holds each bucket
    <set>/_state/objects.json          the object generations the set refers to (what
                                       the garbage collection of old objects keeps)
    projections.d/_objects/<generation>/
        runs-NNNNN.pickle              runs, tasks, edges and plan order of the runs
                                       whose id hashes to state bucket NNNNN
        keys-NNNNN.pickle              idempotency keys, timers, accepted run-key
                                       requests and run-key index rows whose key hashes
                                       to key bucket NNNNN
        outcomes-NNNNN.pickle          event outcome rows (tuples) of the runs whose id
                                       hashes to state bucket NNNNN, by run id: what
                                       ``outcomes_of`` reads without the whole table

The bucket pickles are immutable objects shared by every set that refers to them: a set
written from another names the objects of its unchanged buckets (no copy, no link) and
writes its changed buckets as new objects under its own generation (the name of its
folder). So buckets can be many and small — the cost of an incremental fold follows its
new events, not the number of buckets — while the set's folder swaps atomically as
before. A generation is removed once no kept set refers to it
(:func:`~arco_cli.projections.objects.collect_objects`).

Each file has its own pickler, so no single pickle memo spans the whole state (memory at
1M events). A state read back loads its run and key buckets lazily, on first touch
(:class:`~arco_cli.fold.state.LazyMap`), so an incremental fold reads only the buckets
its new events need, and a reader only the buckets of the runs it looks at
(:class:`StoredFoldState`).
"""

from __future__ import annotations

import copy
import json
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from arco_cli.fold import FoldState
from arco_cli.fold.state import OUTCOME_COLUMNS, OUTCOME_RUN_ID, LazyMap
from arco_cli.projections.objects import (
    KEYS,
    OBJECTS_FILE,
    OUTCOMES,
    RUNS,
    ObjectReader,
    Objects,
    ObjectWriter,
    dump_pickle,
    generations_of,
    load_pickle,
    objects_root,
)

CORE_FILE = "_state/fold.pickle"
#: bump when the pickled FoldState layout changes: an old state then forces a rebuild
STATE_FORMAT = 10
#: bucket counts grow with the log (powers of two, chosen when a set is written from
#: scratch and doubled at least twofold when the log outgrows them): a small workspace
#: keeps few files, a 1M-event one keeps each bucket small. The per-run Parquet tables
#: are split in fewer buckets than the pickled state: their files are hard-linked into
#: every set (external readers read the set's folder), the state objects are not, and
#: new runs go to small delta parts first (store.SETTLE_RUNS), so a bucket is rewritten
#: only when one of its runs changes later or when the delta parts are settled.
MAX_RUN_BUCKETS = 64
MAX_STATE_BUCKETS = 4096
MAX_KEY_BUCKETS = 16384
KEYS_PER_RUN_BUCKET = 250
KEYS_PER_KEY_BUCKET = 100
#: run-key lookups of unloaded key buckets answered by loading the bucket before a stored
#: state reads the whole run-key index from Parquet instead
KEY_LOOKUPS_BEFORE_BULK = 16
#: FoldState maps keyed by run id
PER_RUN = ("runs", "tasks", "deps", "dependents")
#: FoldState maps keyed by a string key in the key buckets: the fold only ever reads or
#: writes one entry of them by its key (timer id, run key), so they need not be loaded whole
KEYED = ("idempotency_keys", "timers", "accepted_requests", "run_key_index")


def bucket_of(run_id: str, count: int) -> int:
    return zlib.crc32(run_id.encode("utf-8")) % count


def _pow2_at_least(value: int, cap: int) -> int:
    count = 1
    while count < value and count < cap:
        count *= 2
    return count


@dataclass(frozen=True)
class Layout:
    """Bucket counts of a stored set: ``run_buckets`` split the per-run Parquet tables,
    ``state_buckets`` the pickled per-run state and outcomes, ``key_buckets`` the keys.
    All are powers of two and ``state_buckets`` is a multiple of ``run_buckets``."""

    run_buckets: int
    key_buckets: int
    state_buckets: int

    @staticmethod
    def for_keys(keys: int) -> Layout:
        wanted = -(-keys // KEYS_PER_RUN_BUCKET)
        runs = _pow2_at_least(wanted, MAX_RUN_BUCKETS)
        return Layout(runs, _pow2_at_least(-(-keys // KEYS_PER_KEY_BUCKET), MAX_KEY_BUCKETS),
                      max(runs, _pow2_at_least(wanted, MAX_STATE_BUCKETS)))

    def outgrown_by(self, keys: int) -> bool:
        wanted = Layout.for_keys(keys)
        return wanted.run_buckets >= 4 * self.run_buckets \
            or wanted.key_buckets >= 4 * self.key_buckets \
            or wanted.state_buckets >= 4 * self.state_buckets


def bucket_number(name: str) -> int:
    """``bucket-042.parquet`` → 42."""
    return int(name.rsplit("-", 1)[1].split(".", 1)[0])


@dataclass
class Part:
    """A Parquet part of a table: file (relative to the set), rows, content hash sum."""

    file: str
    rows: int
    hash_sum: int


@dataclass
class PersistedState:
    """What ``_state/fold.pickle`` holds."""

    state_format: int
    watermark: tuple[str | None, int]
    state: FoldState
    #: the tables stored in parts, with row counts and hash sums
    parts: dict[str, list[Part]] = field(default_factory=dict)
    #: the state objects of the set's buckets (a bucket without one is empty)
    objects: Objects = field(default_factory=dict)
    layout: Layout = field(default_factory=lambda: Layout(1, 1, 1))
    #: consumed idempotency keys (the growth measure of :class:`Layout`)
    key_count: int = 0
    #: bucket counts of the tables stored in key-hashed parts (key_parts.KEY_BUCKETED)
    part_counts: dict[str, int] = field(default_factory=dict)
    #: (kind, generation) of the objects stored in a pack
    packed: set[tuple[str, str]] = field(default_factory=set)
    #: runs whose per-run Parquet rows are in a delta part (by number), and the number
    #: the next delta part gets
    delta_runs: dict[str, int] = field(default_factory=dict)
    next_delta: int = 0
    #: per-run tables in the compact form: the content hash sum of each Parquet
    #: bucket's rows (what the next fold needs to split the file into buckets)
    compact_sums: dict[str, list[int]] = field(default_factory=dict)


class StoredFoldState(FoldState):
    """A fold state read back from a projection set, whose earlier outcome rows stay on
    disk: :meth:`outcomes_of` reads one run's rows from its outcome bucket instead of
    loading every outcome of the log (``arco explain`` at 1M events).

    Should the set's folder vanish while buckets or outcomes are still unread (two more
    writers replaced it), ``recover(log_offset)`` folds the log afresh up to this state's
    offset and the missing parts are taken from that equal state (a bucket still unread
    was not touched since the set was written, so its rows are the same at any offset)."""

    #: where the stored outcome buckets are: the shared objects and the object of each
    #: state bucket that has outcome rows
    objects: ObjectReader | None
    outcome_objects: dict[int, str]
    #: bucket counts: of the per-run Parquet files, and of the pickled per-run state
    #: (what the lazily loaded maps' pending buckets count)
    run_buckets: int
    state_buckets: int
    recover: Callable[[int], FoldState] | None
    #: the set's Parquet files of the ``runs`` table, and the rows read from them (of
    #: the run buckets not loaded when they were read)
    runs_files: list[Path]
    parquet_runs: dict[str, dict[str, Any]] | None
    #: the set's Parquet files of the per-run tables, by table
    table_files: dict[str, list[Path]]
    #: set once a reader went through every run (:meth:`rows`, :meth:`run_order`): the
    #: runs, tasks and edges of unloaded buckets then come from the per-bucket Parquet
    #: files, which read faster than a pickled bucket when only a few runs of it are needed
    bulk: bool
    #: Arrow tables of the per-bucket Parquet files read so far (None: no such file)
    parquet_buckets: dict[tuple[str, int], Any]
    #: the set's run-key index rows by run key, once read (see :meth:`get`)
    parquet_run_keys: dict[str, dict[str, Any]] | None
    #: keys of each key bucket as loaded, by map (what a rewrite of the bucket keeps)
    stored_keys: dict[int, dict[str, list[str]]]
    #: ids of the runs in the state buckets loaded so far, as stored: a run changed by
    #: the fold that is not among them has no Parquet rows yet (a new run)
    stored_runs: set[str]
    #: runs whose Parquet rows are in a delta part (by its number), not in their bucket
    delta_runs: dict[str, int]
    #: run-key lookups of unloaded key buckets so far (see :meth:`_many_key_lookups`)
    key_lookups: int

    def run_order(self) -> list[tuple[int, str, str | None]]:
        """``(triggered_at, run_id, run_key)`` of every run, read from the ``runs``
        Parquet columns for the unloaded buckets (``arco runs`` sorts and filters these,
        then reads only the runs it shows)."""
        pending = self._pending_run_buckets()
        out: list[tuple[int, str, str | None]] = []
        if pending:
            try:
                columns = read_parquet_columns(self.runs_files,
                                               ("triggered_at", "run_id", "run_key"))
            except FileNotFoundError:
                self.recover_missing()
                return self.run_order()
            self.bulk = True
            count = self.state_buckets
            out = [key for key in zip(*columns, strict=True)
                   if bucket_of(key[1], count) in pending]
        out.extend((run["triggered_at"], run_id, run["run_key"])
                   for run_id, run in dict.items(self.runs))
        return out

    def tasks_of(self, run_id: str) -> list[dict[str, Any]]:
        rows = self._bucket_parquet("tasks", run_id)
        if rows is None:
            return super().tasks_of(run_id)
        return sorted(rows, key=lambda row: row["task_key"])

    def edges_of(self, run_id: str) -> list[dict[str, Any]]:
        rows = self._bucket_parquet("dep_satisfaction", run_id)
        if rows is None:
            return super().edges_of(run_id)
        return sorted(rows, key=lambda r: (r["upstream_task_key"], r["downstream_task_key"]))

    def _bucket_parquet(self, table: str, run_id: str) -> list[dict[str, Any]] | None:
        """Rows of ``run_id`` from the table's Parquet file of the run's bucket (or of
        its delta part); None unless in bulk mode with the bucket unloaded and the table
        stored in buckets."""
        if not self.bulk:
            return None
        if bucket_of(run_id, self.state_buckets) not in self._pending_run_buckets():
            return None
        delta = self.delta_runs.get(run_id)
        bucket = bucket_of(run_id, self.run_buckets) if delta is None else -1 - delta
        key = (table, bucket)
        if key not in self.parquet_buckets:
            files = {}
            for path in self.table_files.get(table, []):
                if path.name.startswith("delta-"):
                    files[-1 - bucket_number(path.name)] = path
                elif not path.name.startswith("bucket-"):
                    return None  # the compact form: one file per table
                else:
                    files[bucket_number(path.name)] = path
            try:
                self.parquet_buckets[key] = read_parquet_table(files[bucket]) \
                    if bucket in files else None
            except FileNotFoundError:
                self.recover_missing()
                return None
        return arrow_rows(self.parquet_buckets[key], "run_id", run_id)

    def rows(self, table: str) -> list[dict[str, Any]]:
        """``runs`` without loading every run bucket: the rows of unloaded buckets come
        from the set's Parquet files (a tenth of the time at 1M events); likewise
        ``run_key_index`` without loading every key bucket (and its idempotency keys)."""
        if table == "run_key_index":
            return self._run_key_rows()
        if table != "runs" or not self._pending_run_buckets():
            return super().rows(table)
        stored = self._stored_runs()
        if stored is None:
            return super().rows(table)
        pending = self._pending_run_buckets()
        out = {run_id: dict(row) for run_id, row in stored.items()
               if bucket_of(run_id, self.state_buckets) in pending}
        for run_id, run in dict.items(self.runs):  # loaded buckets, current rows
            out[run_id] = run.as_dict()
        return [out[k] for k in sorted(out)]

    def _stored_run_keys(self) -> dict[str, dict[str, Any]] | None:
        """The set's run-key index rows by run key, read once (``arco conflicts`` looks
        up the index row of every conflict: one read instead of a key bucket each)."""
        files = self.table_files.get("run_key_index")
        if self.parquet_run_keys is None and files:
            try:
                self.parquet_run_keys = {row["run_key"]: row
                                         for row in read_parquet_rows(files)}
            except FileNotFoundError:
                self.recover_missing()
        return self.parquet_run_keys

    def _run_key_rows(self) -> list[dict[str, Any]]:
        """The run-key index from the set's Parquet files, overlaid with the loaded
        entries (a row changed since the set was written is in a loaded bucket; rows are
        never removed)."""
        index = self.run_key_index
        files = self.table_files.get("run_key_index")
        if not (isinstance(index, LazyMap) and index._pending and files):
            return super().rows("run_key_index")
        stored = self._stored_run_keys()
        if stored is None:
            return super().rows("run_key_index")
        out = {run_key: dict(row) for run_key, row in stored.items()}
        scope = {"tenant_id": self.tenant_id, "workspace_id": self.workspace_id}
        for run_key, row in dict.items(index):
            out[run_key] = {**scope, **row}
        return [out[k] for k in sorted(out)]

    def get(self, table: str, pk: tuple[Any, ...]) -> dict[str, Any] | None:
        """A run of an unloaded bucket comes from the Parquet rows once they were read
        (many lookups, e.g. every conflict's run, then load no pickled bucket)."""
        if table == "runs" and self.parquet_runs is not None \
                and bucket_of(pk[0], self.state_buckets) in self._pending_run_buckets():
            row = self.parquet_runs.get(pk[0])
            return dict(row) if row is not None else None
        if table == "run_key_index" and tuple(pk[:2]) == (self.tenant_id,
                                                           self.workspace_id):
            index = self.run_key_index
            if isinstance(index, LazyMap) and index._pending \
                    and index._bucket(pk[2]) in index._pending \
                    and self._many_key_lookups():
                stored = self._stored_run_keys()
                if stored is not None:
                    found = stored.get(pk[2])
                    return dict(found) if found is not None else None
        if table == "runs":
            rows = self._bucket_parquet("runs", pk[0])
            if rows is not None:
                return rows[0] if rows else None
        return super().get(table, pk)

    def _many_key_lookups(self) -> bool:
        """Whether run-key lookups of unloaded key buckets should be answered from the
        whole index in Parquet (read once) rather than by loading their small key
        buckets: yes once :data:`KEY_LOOKUPS_BEFORE_BULK` lookups were made (``arco
        conflicts`` looks up every conflict's key; ``explain`` one)."""
        if self.parquet_run_keys is not None:
            return True
        self.key_lookups += 1
        return self.key_lookups > KEY_LOOKUPS_BEFORE_BULK

    def _pending_run_buckets(self) -> set[int]:
        runs = self.runs
        return runs._pending if isinstance(runs, LazyMap) else set()

    def _stored_runs(self) -> dict[str, dict[str, Any]] | None:
        if self.parquet_runs is None and self.runs_files:
            try:
                self.parquet_runs = {row["run_id"]: row
                                     for row in read_parquet_rows(self.runs_files)}
            except FileNotFoundError:
                self.recover_missing()
            else:
                self.bulk = True
        return self.parquet_runs

    def outcomes_of(self, run_id: str) -> list[dict[str, Any]]:
        if self._outcome_loader is None or self.objects is None:
            return super().outcomes_of(run_id)  # every outcome is in memory already
        bucket = bucket_of(run_id, self.state_buckets)
        generation = self.outcome_objects.get(bucket)
        try:
            stored: dict[str, list[tuple[Any, ...]]] = \
                self.objects.load(OUTCOMES, bucket, generation) \
                if generation is not None else {}
        except FileNotFoundError:
            self.recover_missing()
            return super().outcomes_of(run_id)
        rows = {row[0]: row for row in stored.get(run_id, ())}
        # outcomes folded since the set was written (outcomes_by_run holds only those)
        for event_id in self.outcomes_by_run.get(run_id, ()):
            rows[event_id] = self.event_outcomes[event_id]
        return [dict(zip(OUTCOME_COLUMNS, rows[e], strict=True)) for e in sorted(rows)]

    def load_outcomes(self) -> None:
        loader = self._outcome_loader
        try:
            super().load_outcomes()
        except FileNotFoundError:
            self._outcome_loader = loader  # still unread: the recovery replaces them
            self.recover_missing()

    def recover_missing(self) -> None:
        """Replace what is still unread from the vanished folder by the same data folded
        afresh from the log."""
        if self.recover is None:
            raise FileNotFoundError("the projection set of this fold state was removed")
        fresh = self.recover(self.log_offset)
        self.recover = None
        # recovered key buckets were never loaded: a later write must scan every entry
        # (and cannot tell new runs from stored ones)
        self.__dict__.pop("stored_keys", None)
        self.__dict__.pop("stored_runs", None)
        maps = [getattr(self, name) for name in (*PER_RUN, *KEYED)]
        for name, current in zip((*PER_RUN, *KEYED), maps, strict=True):
            if isinstance(current, LazyMap):
                pending, bucket = current._pending, current._bucket
                for key, value in dict.items(getattr(fresh, name)):
                    if bucket(key) in pending:
                        dict.__setitem__(current, key, value)
        for current in maps:
            if isinstance(current, LazyMap):
                current._pending.clear()
        if self._outcome_loader is not None:
            self._outcome_loader = None
            fresh.load_outcomes()
            self.event_outcomes = fresh.event_outcomes
            self.outcomes_by_run = fresh.outcomes_by_run


def read_parquet_rows(files: list[Path]) -> list[dict[str, Any]]:
    """Every row of the Parquet ``files`` as dicts (columns converted whole: faster than
    ``Table.to_pylist``)."""
    import pyarrow.parquet as pq

    out: list[dict[str, Any]] = []
    for path in files:
        table = pq.ParquetFile(path).read()  # lighter than read_table per file
        names = table.column_names
        out.extend(dict(zip(names, values, strict=True))
                   for values in zip(*(c.to_pylist() for c in table.columns), strict=True))
    return out


def read_parquet_table(path: Path) -> Any:
    import pyarrow.parquet as pq

    return pq.ParquetFile(path).read()


def arrow_rows(table: Any, column: str, value: str) -> list[dict[str, Any]]:
    """Rows of an Arrow ``table`` whose ``column`` equals ``value``, as dicts (filtered
    in Arrow first: converting a whole bucket to Python costs more than reading it)."""
    if table is None:
        return []
    import pyarrow.compute as pc

    found = table.filter(pc.equal(table.column(column), value))
    names = found.column_names
    return [dict(zip(names, values, strict=True))
            for values in zip(*(c.to_pylist() for c in found.columns), strict=True)]


def read_parquet_columns(files: list[Path], names: tuple[str, ...]) -> list[list[Any]]:
    """The given columns of the Parquet ``files``, concatenated."""
    import pyarrow.parquet as pq

    out: list[list[Any]] = [[] for _ in names]
    for path in files:
        table = pq.ParquetFile(path).read(columns=list(names))
        for column, values in zip(out, table.columns, strict=True):
            column.extend(values.to_pylist())
    return out


def _first(row: tuple[Any, ...]) -> Any:
    return row[0]


def dirty_buckets(state: FoldState, since: str | None, count: int) -> set[int] | None:
    """Buckets holding a per-run row changed after event ``since`` (every change to such
    a row sets its ``row_version`` to the event id); None means all of them."""
    if since is None:
        return None
    dirty: set[int] = set()
    # only loaded entries can have changed: dict.items skips a LazyMap's pending buckets
    for run_id, run in dict.items(state.runs):
        if run["row_version"] > since:
            dirty.add(bucket_of(run_id, count))
    sources: tuple[dict[str, Any], ...] = (state.tasks, state.deps)
    for source in sources:
        for run_id, rows in dict.items(source):
            bucket = bucket_of(run_id, count)
            if bucket not in dirty and any(r["row_version"] > since for r in rows.values()):
                dirty.add(bucket)
    return dirty


def _dirty_key_buckets(state: FoldState, since: str | None,
                       count: int) -> dict[int, dict[str, set[str]]] | None:
    """Key buckets with an entry added or changed after event ``since``, with those
    entries' keys by map: new idempotency keys, timers whose ``row_version`` moved,
    accepted requests of new run-key index rows (set once, with the index row); None
    means all of them."""
    if since is None:
        return None
    dirty: dict[int, dict[str, set[str]]] = {}

    def add(name: str, key: str) -> None:
        dirty.setdefault(bucket_of(key, count), {}).setdefault(name, set()).add(key)

    for key in state.unpersisted_keys:
        add("idempotency_keys", key)
    # only loaded entries can have changed: dict.items skips a LazyMap's pending buckets
    for timer_id, timer in dict.items(state.timers):
        if timer["row_version"] > since:
            add("timers", timer_id)
    for run_key, index_row in dict.items(state.run_key_index):
        if index_row["row_version"] > since:
            add("run_key_index", run_key)
    for run_key in dict.keys(state.accepted_requests):
        index = state.run_key_index.get(run_key)
        if index is None or index["row_version"] > since:
            add("accepted_requests", run_key)
    return dirty


def _key_bucket_content(state: FoldState, bucket: int,
                        changed: dict[str, set[str]]) -> dict[str, dict[str, Any]]:
    """Everything a dirty key bucket holds now: the keys it was loaded with plus the
    changed ones (a bucket gains entries only after it was loaded)."""
    stored: dict[int, dict[str, list[str]]] = getattr(state, "stored_keys", {})
    loaded = stored.get(bucket, {})
    content: dict[str, dict[str, Any]] = {}
    for name in KEYED:
        source: dict[str, Any] = getattr(state, name)
        keys = set(loaded.get(name, ())) | changed.get(name, set())
        content[name] = {key: dict.__getitem__(source, key) for key in sorted(keys)}
    return content


def _load_keyed(state: FoldState) -> None:
    for name in KEYED:
        value = getattr(state, name)
        if isinstance(value, LazyMap):
            value.load_all()


def write_state(folder: Path, state: FoldState, parts: dict[str, list[Part]],
                reuse: bool, layout: Layout, key_count: int,
                previous: PersistedState | None,
                part_counts: dict[str, int] | None = None,
                compact_sums: dict[str, list[int]] | None = None,
                deltas: tuple[dict[str, int], int] = ({}, 0)) -> None:
    """Write the fold state of the set ``folder``: the core pickle in the set, the
    buckets changed since ``previous`` (all of them unless ``reuse``) as new objects of
    the set's generation, the others by the name of their existing objects. Must run
    under the projections lock (objects are collected under it)."""
    since = previous.watermark[0] if previous is not None else None
    reuse = reuse and previous is not None and since is not None \
        and previous.layout == layout
    if not reuse:
        from arco_cli.fold.state import load_everything

        load_everything(state)
    root = objects_root(folder)
    writer = ObjectWriter(root, folder.name, previous.objects if reuse and previous
                           else {}, previous.packed if reuse and previous else set())
    dirty = dirty_buckets(state, since, layout.state_buckets) if reuse else None
    buckets: dict[int, dict[str, dict[str, Any]]] = {}
    for name in PER_RUN:
        source: dict[str, Any] = getattr(state, name)
        for run_id, value in dict.items(source):
            bucket = bucket_of(run_id, layout.state_buckets)
            if dirty is None or bucket in dirty:
                buckets.setdefault(bucket, {n: {} for n in PER_RUN})[name][run_id] = value
    writer.write(RUNS, buckets)
    if not reuse:
        _load_keyed(state)
    dirty_keys = _dirty_key_buckets(state, since, layout.key_buckets) if reuse else None
    key_buckets: dict[int, dict[str, dict[str, Any]]] = {}
    if dirty_keys is not None and hasattr(state, "stored_keys"):
        # only the dirty buckets' entries, without hashing every loaded key
        key_buckets = {bucket: _key_bucket_content(state, bucket, changed)
                       for bucket, changed in dirty_keys.items()}
    else:
        for name in KEYED:
            for key, value in dict.items(getattr(state, name)):
                bucket = bucket_of(key, layout.key_buckets)
                if dirty_keys is None or bucket in dirty_keys:
                    key_buckets.setdefault(bucket, {n: {} for n in KEYED})[name][key] = value
    writer.write(KEYS, key_buckets)
    _write_outcome_buckets(writer, state, layout.state_buckets, reuse)
    core = copy.copy(state)
    # the read-back helpers of a stored state are tied to this process and folder
    core.__class__ = FoldState
    for name in ("objects", "outcome_objects", "run_buckets", "state_buckets",
                 "recover", "runs_files", "parquet_runs", "table_files", "bulk",
                 "parquet_buckets", "stored_keys", "parquet_run_keys", "stored_runs",
                 "delta_runs", "key_lookups"):
        core.__dict__.pop(name, None)
    for name in (*PER_RUN, *KEYED):
        setattr(core, name, {})
    core.unpersisted_outcomes = []
    core.unpersisted_keys = []
    in_use = generations_of(writer.objects)
    writer.check_reused(in_use)
    dump_pickle(folder / CORE_FILE, PersistedState(
        STATE_FORMAT, (state.watermark_event_id, state.log_offset), core, parts,
        writer.objects, layout, key_count, part_counts or {},
        {entry for entry in writer.reader.packed if entry[1] in in_use}, deltas[0], deltas[1],
        compact_sums or {}))
    (folder / OBJECTS_FILE).write_text(
        json.dumps(sorted(in_use)) + "\n", encoding="utf-8")


def _write_outcome_buckets(writer: ObjectWriter, state: FoldState, count: int,
                           reuse: bool) -> None:
    """Outcome rows by run id in state buckets. Continuing a set, only the buckets of
    runs with new outcomes are rewritten (their stored rows plus the new ones); the
    others keep their objects. Outcomes without a run id are in the Parquet table only."""
    if reuse:
        added: dict[int, dict[str, list[tuple[Any, ...]]]] = {}
        for event_id in state.unpersisted_outcomes:
            row = state.event_outcomes[event_id]
            run_id = row[OUTCOME_RUN_ID]
            if run_id is not None:
                added.setdefault(bucket_of(run_id, count), {}).setdefault(
                    run_id, []).append(row)
        old = writer.objects.get(OUTCOMES, {})
        buckets: dict[int, dict[str, list[tuple[Any, ...]]]] = {}
        for bucket, new_rows in added.items():
            generation = old.get(bucket)
            stored: dict[str, list[tuple[Any, ...]]] = \
                writer.reader.load(OUTCOMES, bucket, generation) \
                if generation is not None else {}
            for run_id, rows in new_rows.items():
                merged = {row[0]: row for row in stored.get(run_id, ())}
                merged.update((row[0], row) for row in rows)
                stored[run_id] = [merged[e] for e in sorted(merged)]
            buckets[bucket] = stored
        writer.write(OUTCOMES, buckets)
        return
    state.load_outcomes()
    everything: dict[int, dict[str, list[tuple[Any, ...]]]] = {}
    for row in state.event_outcomes.values():
        run_id = row[OUTCOME_RUN_ID]
        if run_id is not None:
            everything.setdefault(bucket_of(run_id, count), {}).setdefault(
                run_id, []).append(row)
    for by_run in everything.values():
        for rows in by_run.values():
            rows.sort(key=_first)  # already in event-id order after an ascending fold
    writer.write(OUTCOMES, everything)


def read_state(folder: Path) -> PersistedState | None:
    """The persisted state of ``folder``, its run and key buckets loaded on first touch;
    None when it is of another format. The caller must be done with the state (or call
    :func:`~arco_cli.fold.state.load_everything`) before the folder can disappear."""
    persisted = load_pickle(folder / CORE_FILE)
    if not isinstance(persisted, PersistedState) or persisted.state_format != STATE_FORMAT:
        return None
    state = persisted.state
    state.__class__ = StoredFoldState
    assert isinstance(state, StoredFoldState)
    root = objects_root(folder)
    layout = persisted.layout
    reader = ObjectReader(root, persisted.packed)
    state.objects = reader
    state.outcome_objects = persisted.objects.get(OUTCOMES, {})
    state.run_buckets = layout.run_buckets
    state.state_buckets = layout.state_buckets
    state.recover = None
    state.runs_files = []
    state.parquet_runs = None
    state.parquet_run_keys = None
    state.table_files = {}
    state.bulk = False
    state.stored_keys = {}
    state.stored_runs = set()
    state.key_lookups = 0
    state.delta_runs = persisted.delta_runs
    state.parquet_buckets = {}
    run_objects = persisted.objects.get(RUNS, {})
    key_objects = persisted.objects.get(KEYS, {})
    pending_runs = set(run_objects)
    pending_keys = set(key_objects)

    def loader(kind: str, objects: dict[int, str], pending: set[int],
               note: Callable[[int, dict[str, Any]], None]) -> Callable[[int], None]:
        """Loads a bucket into the state's maps, first telling ``note`` what it held."""
        def load(bucket: int) -> None:
            try:
                loaded = reader.load(kind, bucket, objects[bucket])
            except FileNotFoundError:
                state.recover_missing()
                return
            pending.discard(bucket)
            note(bucket, loaded)
            for name, values in loaded.items():
                dict.update(getattr(state, name), values)
        return load

    def note_runs(_bucket: int, loaded: dict[str, Any]) -> None:
        for name, values in loaded.items():
            if name != "dependents":
                state.stored_runs.update(values)

    def note_keys(bucket: int, loaded: dict[str, Any]) -> None:
        state.stored_keys[bucket] = {name: list(values) for name, values in loaded.items()}

    load_runs = loader(RUNS, run_objects, pending_runs, note_runs)
    load_keys = loader(KEYS, key_objects, pending_keys, note_keys)

    runs, keys = layout.state_buckets, layout.key_buckets
    for name in PER_RUN:
        setattr(state, name, LazyMap(lambda k: bucket_of(k, runs), load_runs, pending_runs))
    for name in KEYED:
        setattr(state, name, LazyMap(lambda k: bucket_of(k, keys), load_keys, pending_keys))
    return persisted
