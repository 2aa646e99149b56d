"""The private fold state of a projection set (decisions A41), split so that an
incremental fold writes only what changed:

    _state/fold.pickle                 everything but the per-run maps and the keys,
                                       plus the bookkeeping of the set's parts
    _state/runs/bucket-NNN.pickle      runs, tasks, edges and plan order of the runs
                                       whose id hashes to bucket NNN
    _state/keys/part-NNNNNN.pickle     idempotency keys, one append-only part per write

Unchanged files are hard-linked from the previous set. Each file has its own pickler, so
no single pickle memo spans the whole state (memory at 1M events).
"""

from __future__ import annotations

import copy
import pickle
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from arco_cli.fold import FoldState

CORE_FILE = "_state/fold.pickle"
#: bump when the pickled FoldState layout changes: an old state then forces a rebuild
STATE_FORMAT = 2
BUCKETS = 128
KEYS_PER_PART = 200_000
#: FoldState maps keyed by run id
PER_RUN = ("runs", "tasks", "deps", "dependents")


def bucket_of(run_id: str) -> int:
    return zlib.crc32(run_id.encode("utf-8")) % BUCKETS


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


def _dump(path: Path, value: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as fh:
        pickle.dump(value, fh, protocol=pickle.HIGHEST_PROTOCOL)


def _load(path: Path) -> Any:
    with path.open("rb") as fh:
        return pickle.load(fh)


def dirty_buckets(state: FoldState, since: str | None) -> set[int] | None:
    """Buckets holding a per-run row changed after event ``since`` (every change to such
    a row sets its ``row_version`` to the event id); None means all of them."""
    if since is None:
        return None
    dirty: set[int] = set()
    for run_id, run in state.runs.items():
        if run["row_version"] > since:
            dirty.add(bucket_of(run_id))
    for source in (state.tasks, state.deps):
        for run_id, rows in source.items():
            bucket = bucket_of(run_id)
            if bucket not in dirty and any(r["row_version"] > since for r in rows.values()):
                dirty.add(bucket)
    return dirty


def write_state(folder: Path, state: FoldState, parts: dict[str, list[Part]],
                dirty: set[int] | None, previous: PersistedState | None,
                previous_folder: Path | None) -> None:
    buckets: dict[int, dict[str, dict[str, Any]]] = {}
    for name in PER_RUN:
        source: dict[str, Any] = getattr(state, name)
        for run_id, value in source.items():
            bucket = bucket_of(run_id)
            if dirty is None or bucket in dirty:
                buckets.setdefault(bucket, {n: {} for n in PER_RUN})[name][run_id] = value
    reuse = previous is not None and previous_folder is not None and dirty is not None
    bucket_files: list[str] = []
    for bucket in range(BUCKETS):
        name = f"_state/runs/bucket-{bucket:03d}.pickle"
        if bucket in buckets:
            _dump(folder / name, buckets[bucket])
            bucket_files.append(name)
        elif reuse and previous is not None and name in previous.bucket_files:
            _link(previous_folder / name, folder / name)  # type: ignore[operator]
            bucket_files.append(name)
    key_files: list[str] = []
    if reuse and previous is not None:
        for name in previous.key_files:
            _link(previous_folder / name, folder / name)  # type: ignore[operator]
            key_files.append(name)
        new_keys = list(state.unpersisted_keys)
    else:
        new_keys = list(state.idempotency_keys)
    # parts of bounded size: one pickle memo never spans every key of a 1M-event log
    for start in range(0, len(new_keys), KEYS_PER_PART):
        name = f"_state/keys/part-{len(key_files):06d}.pickle"
        _dump(folder / name, {key: state.idempotency_keys[key]
                              for key in new_keys[start:start + KEYS_PER_PART]})
        key_files.append(name)
    core = copy.copy(state)
    for name in (*PER_RUN, "idempotency_keys"):
        setattr(core, name, {})
    core.unpersisted_outcomes = []
    core.unpersisted_keys = []
    _dump(folder / CORE_FILE, PersistedState(
        STATE_FORMAT, (state.watermark_event_id, state.log_offset), core, parts,
        bucket_files, key_files))


def read_state(folder: Path) -> PersistedState | None:
    """The persisted state of ``folder``; None when it is missing or of another format."""
    persisted = _load(folder / CORE_FILE)
    if not isinstance(persisted, PersistedState) or persisted.state_format != STATE_FORMAT:
        return None
    state = persisted.state
    for name in persisted.bucket_files:
        bucket: dict[str, dict[str, Any]] = _load(folder / name)
        for attr, values in bucket.items():
            getattr(state, attr).update(values)
    for name in persisted.key_files:
        state.idempotency_keys.update(_load(folder / name))
    return persisted


def _link(source: Path, target: Path) -> None:
    import os
    import shutil

    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)
