"""Bringing the projections up to date: continue from the stored fold state when
invariant 5 allows it, otherwise rebuild; write under a non-blocking projections lock
(decisions A52: readers fold in memory and never wait)."""

from __future__ import annotations

import heapq
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from arco_cli.errors import ArcoError
from arco_cli.fold import FoldState, OutOfOrder, fold_ascending, fold_records
from arco_cli.identity import TenantSecretError, tenant_secret
from arco_cli.log import CommitPoint, EventLog, LogRecord
from arco_cli.log.ids import event_id_of
from arco_cli.projections.fold_state import StoredFoldState
from arco_cli.projections.store import (
    PersistedState,
    load_persisted,
    manifest_matches,
    read_manifest,
    resolve,
    write_projection_set,
)
from arco_cli.workspace import Workspace

LOCK_NAME = "projections.lock"
OUTCOMES = ("applied", "duplicate", "rejected")


@dataclass
class Folded:
    state: FoldState
    counts: dict[str, int]
    rebuilt: bool
    #: the stored state this fold continued from, and its folder
    previous: PersistedState | None
    previous_folder: Path | None
    #: the set found when folding began, usable or not (an unusable one, e.g. of an older
    #: state format, is replaced by the first writer even at the same watermark)
    found_folder: Path | None = None

    @property
    def events_folded(self) -> int:
        return sum(self.counts.values())


def workspace_secret() -> bytes:
    try:
        return tenant_secret()
    except TenantSecretError as exc:
        raise ArcoError("INVALID_CONFIG", str(exc),
                        {"keyPath": "ARCO_TENANT_SECRET_B64"}) from exc


def _stored(ws: Workspace, secret: bytes) -> tuple[PersistedState | None, Path | None]:
    folder = resolve(ws.projections_dir)
    if folder is None:
        return None, None
    doc = read_manifest(folder)
    if doc is None or not manifest_matches(doc, FoldState(ws.tenant_id, ws.workspace_id,
                                                           secret)):
        return None, folder
    persisted = load_persisted(folder, doc)
    if persisted is not None:
        persisted.state.secret = secret
    return persisted, folder


def fold_log(ws: Workspace, *, rebuild: bool = False) -> Folded:
    """Fold the committed log in memory, from the stored state when allowed."""
    secret = workspace_secret()
    log = EventLog(ws.log_dir)
    head = log.head()
    persisted, folder = (None, None) if rebuild else _stored(ws, secret)
    if persisted is not None and persisted.state.log_offset <= head.records:
        state = persisted.state
        try:
            counts = fold_ascending(state, _records(log, state.log_offset, head.records,
                                                    head, state.log_position))
        except OutOfOrder:
            pass  # a new record at or below the watermark: invariant 5 says rebuild
        else:
            if isinstance(state, StoredFoldState):
                state.recover = lambda end: _fold_from_scratch(ws, secret, log, head, end)[0]
            state.log_position = head.position()
            return Folded(state, counts, False, persisted, folder)
    state, counts = _fold_from_scratch(ws, secret, log, head, head.records)
    state.log_position = head.position()
    return Folded(state, counts, True, None, None, folder)


def _fold_from_scratch(ws: Workspace, secret: bytes, log: EventLog, head: CommitPoint,
                       end: int) -> tuple[FoldState, dict[str, int]]:
    """Fold records ``0..end-1`` of the committed snapshot ``head`` into a new state."""
    state = FoldState(ws.tenant_id, ws.workspace_id, secret)
    try:
        # streaming keeps memory flat for the usual log, whose ids ascend
        counts = fold_ascending(state, _records(log, 0, end, head))
    except OutOfOrder:
        state = FoldState(ws.tenant_id, ws.workspace_id, secret)
        merged = _merged_runs(log, head, end)
        try:
            if merged is None:
                raise OutOfOrder("too many ascending runs to merge") from None
            counts = fold_ascending(state, merged)
        except OutOfOrder:
            # a repeated event id, or a log in no useful order: sort it all in memory
            state = FoldState(ws.tenant_id, ws.workspace_id, secret)
            counts = fold_records(state, _records(log, 0, end, head))
    return state, counts


#: ascending runs merged while streaming; a log cut into more runs is sorted in memory
MAX_MERGED_RUNS = 16


def _records(log: EventLog, start: int, end: int, point: CommitPoint,
             position: tuple[int, int] | None = None) -> Iterator[LogRecord]:
    """Records ``start..end-1`` of the committed snapshot ``point`` (``position``: where
    record ``start`` begins, see :meth:`EventLog.read_batches`)."""
    for first, lines in log.read_batches(start, point, position):
        for offset, raw in enumerate(lines, first):
            if offset >= end:
                return
            yield LogRecord(offset, raw)


def _merged_runs(log: EventLog, point: CommitPoint,
                 end: int | None = None) -> Iterator[LogRecord] | None:
    """The log in event-id order as a merge of its ascending runs (e.g. arco's own
    events around an ingested foreign batch, decisions A49), reading each run
    sequentially; None when there are more than :data:`MAX_MERGED_RUNS` runs. ``end``
    stops before that offset (default: the snapshot's end)."""
    end = point.records if end is None else end
    starts = [0]
    previous: str | None = None
    offset = 0
    for _first, _lines, ids in log.read_ids(0, point):
        for event_id in ids:
            if offset >= end:
                break
            if previous is not None and event_id <= previous:
                starts.append(offset)
                if len(starts) > MAX_MERGED_RUNS:
                    return None
            previous = event_id
            offset += 1
    bounds = [*starts, end]
    runs = [_records(log, start, end, point) for start, end in zip(bounds, bounds[1:],
                                                                     strict=False)]
    return heapq.merge(*runs, key=lambda record: event_id_of(record.raw, record.offset))


def _try_write(ws: Workspace, folded: Folded, timeout: float, force: bool) -> bool:
    """Write the projection set unless another writer holds the lock (or got further)."""
    from filelock import FileLock, Timeout

    ws.arco_dir.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(ws.arco_dir / LOCK_NAME))
    try:
        lock.acquire(timeout=timeout)
    except Timeout:
        return False
    try:
        current = resolve(ws.projections_dir)
        doc = read_manifest(current) if current is not None else None
        # a set we could not continue from (older state format, say) is no newer state
        unusable = folded.previous is None and current is not None \
            and current == folded.found_folder
        if not force and not unusable and doc is not None \
                and manifest_matches(doc, folded.state):
            stored_offset = (doc.get("watermark") or {}).get("log_offset")
            if isinstance(stored_offset, int) and stored_offset >= folded.state.log_offset:
                return True  # another process already wrote this or a newer state
        write_projection_set(ws.projections_dir, folded.state, folded.previous,
                             folded.previous_folder, compact=force)
        return True
    finally:
        lock.release()


def current_state(ws: Workspace, *, write: bool = True) -> FoldState:
    """The fold state at the end of the committed log; persisted when it changed and the
    projections lock is free (never waits)."""
    folded = _fold_retrying(ws, rebuild=False)
    # the state stays lazy: a reader loads only the run buckets (and outcome rows) it
    # looks at; should the folder vanish before that, the state recovers from the log
    if write and (folded.rebuilt or folded.events_folded or folded.previous is None):
        _try_write(ws, folded, timeout=0, force=False)
    return folded.state


def _fold_retrying(ws: Workspace, *, rebuild: bool) -> Folded:
    """:func:`fold_log`; should two other writers replace the stored set while its
    buckets are still being read, fold again from the log."""
    try:
        return fold_log(ws, rebuild=rebuild)
    except FileNotFoundError:
        return fold_log(ws, rebuild=True)


def fold_workspace(ws: Workspace, *, rebuild: bool = False,
                   lock_timeout: float = 10.0) -> dict[str, Any]:
    """``arco fold [--rebuild]``: fold and write the projections; this invocation's counts.

    ``lock_timeout`` (an addition to the contract, default 10 s) bounds the wait for a
    concurrent projections writer."""
    folded = _fold_retrying(ws, rebuild=rebuild)
    try:
        written = _try_write(ws, folded, timeout=lock_timeout, force=rebuild)
    except FileNotFoundError:
        # the set the state was read from vanished mid-write: write a rebuilt state
        folded = fold_log(ws, rebuild=True)
        written = _try_write(ws, folded, timeout=lock_timeout, force=True)
    if not written:
        raise ArcoError("WORKSPACE_LOCKED", "another arco process is writing the "
                        f"projections of {ws.root}; retry, or raise --lock-timeout",
                        {"path": str(ws.arco_dir / LOCK_NAME)})
    state = folded.state
    return {
        "watermark": {"eventId": state.watermark_event_id, "logOffset": state.log_offset},
        "eventsFolded": folded.events_folded,
        "outcomes": {name: folded.counts.get(name, 0) for name in OUTCOMES},
    }
