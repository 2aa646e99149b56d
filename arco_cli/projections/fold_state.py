"""The private fold state of a projection set (decisions A41), split so that an
incremental fold writes only what changed:

    _state/fold.pickle                 everything but the per-run maps and the keys,
                                       plus the bookkeeping of the set's parts
    _state/runs/bucket-NNN.pickle      runs, tasks, edges and plan order of the runs
                                       whose id hashes to bucket NNN
    _state/keys/bucket-NNN.pickle      idempotency keys whose key hashes to bucket NNN

Unchanged files are hard-linked from the previous set. Each file has its own pickler, so
no single pickle memo spans the whole state (memory at 1M events). A state read back
loads its run and key buckets lazily, on first touch (:class:`~arco_cli.fold.state.LazyMap`),
so an incremental fold reads only the buckets its new events need.
"""

from __future__ import annotations

import copy
import pickle
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from arco_cli.fold import FoldState
from arco_cli.fold.state import LazyMap

CORE_FILE = "_state/fold.pickle"
#: bump when the pickled FoldState layout changes: an old state then forces a rebuild
STATE_FORMAT = 4
#: bucket counts grow with the log (powers of two, chosen when a set is written from
#: scratch and doubled at least twofold when the log outgrows them): a small workspace
#: keeps few files, a 1M-event one keeps each bucket small
MAX_RUN_BUCKETS = 256
MAX_KEY_BUCKETS = 1024
KEYS_PER_RUN_BUCKET = 250
KEYS_PER_KEY_BUCKET = 100
#: FoldState maps keyed by run id
PER_RUN = ("runs", "tasks", "deps", "dependents")


def bucket_of(run_id: str, count: int) -> int:
    return zlib.crc32(run_id.encode("utf-8")) % count


def _pow2_at_least(value: int, cap: int) -> int:
    count = 1
    while count < value and count < cap:
        count *= 2
    return count


@dataclass(frozen=True)
class Layout:
    """Bucket counts of a stored set (run buckets also split the per-run Parquet tables)."""

    run_buckets: int
    key_buckets: int

    @staticmethod
    def for_keys(keys: int) -> Layout:
        return Layout(_pow2_at_least(-(-keys // KEYS_PER_RUN_BUCKET), MAX_RUN_BUCKETS),
                      _pow2_at_least(-(-keys // KEYS_PER_KEY_BUCKET), MAX_KEY_BUCKETS))

    def outgrown_by(self, keys: int) -> bool:
        wanted = Layout.for_keys(keys)
        return wanted.run_buckets >= 4 * self.run_buckets \
            or wanted.key_buckets >= 4 * self.key_buckets


def _run_file(bucket: int) -> str:
    return f"_state/runs/bucket-{bucket:04d}.pickle"


def _key_file(bucket: int) -> str:
    return f"_state/keys/bucket-{bucket:04d}.pickle"


def _bucket_number(name: str) -> int:
    """``_state/keys/bucket-0042.pickle`` → 42."""
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
    #: state files besides the core, relative to the set's folder
    bucket_files: list[str] = field(default_factory=list)
    key_files: list[str] = field(default_factory=list)
    layout: Layout = field(default_factory=lambda: Layout(1, 1))
    #: consumed idempotency keys (the growth measure of :class:`Layout`)
    key_count: int = 0


def _dump(path: Path, value: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as fh:
        pickle.dump(value, fh, protocol=pickle.HIGHEST_PROTOCOL)


def _load(path: Path) -> Any:
    with path.open("rb") as fh:
        return pickle.load(fh)


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


def write_state(folder: Path, state: FoldState, parts: dict[str, list[Part]],
                dirty: set[int] | None, layout: Layout, key_count: int,
                previous: PersistedState | None, previous_folder: Path | None) -> None:
    reuse = previous is not None and previous_folder is not None and dirty is not None \
        and previous.layout == layout
    if not reuse:
        from arco_cli.fold.state import load_everything

        load_everything(state)
    buckets: dict[int, dict[str, dict[str, Any]]] = {}
    for name in PER_RUN:
        source: dict[str, Any] = getattr(state, name)
        for run_id, value in dict.items(source):
            bucket = bucket_of(run_id, layout.run_buckets)
            if not reuse or dirty is None or bucket in dirty:
                buckets.setdefault(bucket, {n: {} for n in PER_RUN})[name][run_id] = value
    bucket_files = _write_buckets(folder, buckets, layout.run_buckets, _run_file,
                                  previous.bucket_files if reuse and previous else [],
                                  previous_folder)
    dirty_keys = {bucket_of(k, layout.key_buckets) for k in state.unpersisted_keys} \
        if reuse else None
    key_buckets: dict[int, dict[str, Any]] = {}
    for key, value in dict.items(state.idempotency_keys):
        bucket = bucket_of(key, layout.key_buckets)
        if dirty_keys is None or bucket in dirty_keys:
            key_buckets.setdefault(bucket, {})[key] = value
    key_files = _write_buckets(folder, key_buckets, layout.key_buckets, _key_file,
                               previous.key_files if reuse and previous else [],
                               previous_folder)
    core = copy.copy(state)
    for name in (*PER_RUN, "idempotency_keys"):
        setattr(core, name, {})
    core.unpersisted_outcomes = []
    core.unpersisted_keys = []
    _dump(folder / CORE_FILE, PersistedState(
        STATE_FORMAT, (state.watermark_event_id, state.log_offset), core, parts,
        bucket_files, key_files, layout, key_count))


def _write_buckets(folder: Path, buckets: dict[int, Any], count: int,
                   file_of: Any, previous_files: list[str],
                   previous_folder: Path | None) -> list[str]:
    """Dump the given buckets; link the previous set's files of the other buckets."""
    files: list[str] = []
    old = set(previous_files)
    for bucket in range(count):
        name = file_of(bucket)
        if bucket in buckets:
            _dump(folder / name, buckets[bucket])
            files.append(name)
        elif name in old and previous_folder is not None:
            _link(previous_folder / name, folder / name)
            files.append(name)
    return files


def read_state(folder: Path) -> PersistedState | None:
    """The persisted state of ``folder``, its run and key buckets loaded on first touch;
    None when it is of another format. The caller must be done with the state (or call
    :func:`~arco_cli.fold.state.load_everything`) before the folder can disappear."""
    persisted = _load(folder / CORE_FILE)
    if not isinstance(persisted, PersistedState) or persisted.state_format != STATE_FORMAT:
        return None
    state = persisted.state
    run_files = {_bucket_number(name): name for name in persisted.bucket_files}
    key_files = {_bucket_number(name): name for name in persisted.key_files}
    pending_runs = set(run_files)
    pending_keys = set(key_files)

    def load_runs(bucket: int) -> None:
        pending_runs.discard(bucket)
        for name, values in _load(folder / run_files[bucket]).items():
            dict.update(getattr(state, name), values)

    def load_keys(bucket: int) -> None:
        pending_keys.discard(bucket)
        dict.update(state.idempotency_keys, _load(folder / key_files[bucket]))

    runs, keys = persisted.layout.run_buckets, persisted.layout.key_buckets
    for name in PER_RUN:
        setattr(state, name, LazyMap(lambda k: bucket_of(k, runs), load_runs, pending_runs))
    state.idempotency_keys = LazyMap(lambda k: bucket_of(k, keys), load_keys, pending_keys)
    return persisted


def _link(source: Path, target: Path) -> None:
    import os
    import shutil

    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)
