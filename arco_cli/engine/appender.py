"""Group commit of the executor's events on a background thread.

The executor hands over its batches in order and keeps scheduling; this thread takes
every batch queued so far, opens the writer (lock held for that one append only), mints
ids, and appends them as one durable batch. While tasks keep finishing, a queued batch
waits up to :data:`COMMIT_DELAY_S` for company (a commit delay, as databases do): every
append costs the writer lock, an fsync of the segment and an atomic ``COMMIT`` replace
(three fsyncs, each a journal commit that also stalls the attempt folders and files being
created meanwhile). A batch handed over together (an attempt's ``TaskFinished`` and its
retry timer, or the cancel batch) still lands in one append, in hand-over order.
``flush`` appends at once and waits until everything handed over is durable.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from arco_cli.events import make_event
from arco_cli.identity import canonical_json, now_ms

if TYPE_CHECKING:
    from arco_cli.log.store import EventLog
    from arco_cli.workspace import Workspace

#: builds a batch's payloads from the timestamp (epoch ms) its events will carry
BatchBuilder = Callable[[int], list[dict[str, Any]]]


#: the longest a queued batch waits for more batches before it is appended (invisible
#: next to a task's own run time; measured on 200 no-op tasks, each append during the run
#: costs the scheduler ~2.5 ms, so 10 ms here was ~20 ms slower in all than 50 ms)
COMMIT_DELAY_S = 0.05
#: queued batches that are appended at once, however young
MAX_QUEUED = 512


class EventAppender:
    def __init__(self, ws: Workspace, log: EventLog, lock_timeout: float,
                 clock: Callable[[], int] = now_ms, *,
                 commit_delay_s: float = COMMIT_DELAY_S) -> None:
        self._ws = ws
        self._clock = clock
        self._log = log
        self._lock_timeout = lock_timeout
        self._delay = commit_delay_s
        self._queue: list[tuple[int, BatchBuilder]] = []
        self._due = 0.0          # monotonic time by which the queued batches are appended
        self._urgent = False     # append what is queued without waiting for company
        self._busy = False
        self._closing = False
        self._cond = threading.Condition()
        #: the first append failure (e.g. WORKSPACE_LOCKED); later batches are dropped
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._loop, name="arco-event-appender",
                                        daemon=True)
        self._thread.start()

    def submit(self, build: BatchBuilder, *, wake: bool = True) -> None:
        """Queue a batch. Its events carry the time of this call, not of the append: a
        ``TaskFinished`` says when the attempt ended, and a retry's ``fire_at`` (built
        from that time) is never later than the retry the executor actually starts.

        ``wake=True`` appends it (and everything queued before it) at once;
        ``wake=False`` lets it wait up to the commit delay for later batches."""
        with self._cond:
            if not self._queue:
                self._due = time.monotonic() + self._delay
                self._cond.notify_all()   # the thread times the delay
            self._queue.append((self._clock(), build))
            if wake or len(self._queue) >= MAX_QUEUED:
                self._urgent = True
                self._cond.notify_all()

    def flush(self) -> None:
        """Wait until every submitted batch is appended; re-raise an append failure."""
        with self._cond:
            self._urgent = True
            self._cond.notify_all()
            while (self._queue or self._busy) and self.error is None:
                self._cond.wait()
        if self.error is not None:
            raise self.error

    def close(self) -> None:
        with self._cond:
            self._closing = True
            self._cond.notify_all()
        self._thread.join()

    def _take(self) -> list[tuple[int, BatchBuilder]] | None:
        """The batches to append next, once they are due; None when closed and done."""
        with self._cond:
            while True:
                if not self._queue:
                    if self._closing:
                        return None
                    self._cond.wait()
                    continue
                wait = self._due - time.monotonic()
                if self._urgent or self._closing or wait <= 0:
                    break
                self._cond.wait(wait)
            builders, self._queue = self._queue, []
            self._urgent = False
            self._busy = True
            return builders

    def _loop(self) -> None:
        while True:
            builders = self._take()
            if builders is None:
                return
            try:
                self._append(builders)
            except BaseException as exc:  # handed to the scheduling thread
                with self._cond:
                    self.error = exc
                    self._queue = []
            finally:
                with self._cond:
                    self._busy = False
                    self._cond.notify_all()

    def _append(self, builders: list[tuple[int, BatchBuilder]]) -> None:
        ws = self._ws
        with self._log.writer(self._lock_timeout) as writer:
            # new_event_id keeps ids increasing in log order whatever the timestamps
            lines = [
                canonical_line(make_event(
                    payload, event_id=writer.new_event_id(ts), timestamp_ms=ts,
                    tenant_id=ws.tenant_id, workspace_id=ws.workspace_id))
                for ts, build in builders for payload in build(ts)]
            writer.append_raw(lines)


def _plain(value: Any) -> bool:
    """Whether ``value`` holds only strings, integers, booleans, None, lists and objects
    with string keys: no float (orjson would write one, and NaN as null). Scalars are
    checked inline: an envelope is mostly scalars, and this runs once per event."""
    kind = type(value)
    if kind is dict:
        for key, item in value.items():
            if type(key) is not str:
                return False
            item_kind = type(item)
            if not (item_kind is str or item_kind is int or item_kind is bool
                    or item is None or _plain(item)):
                return False
        return True
    if kind is list:
        for item in value:
            item_kind = type(item)
            if not (item_kind is str or item_kind is int or item_kind is bool
                    or item is None or _plain(item)):
                return False
        return True
    return kind is str or kind is int or kind is bool or value is None


def canonical_line(envelope: dict[str, Any]) -> bytes:
    """``canonical_json(envelope)`` as UTF-8 bytes, the same bytes, about four times
    faster: the final flush of a run serialises a few hundred events while the caller
    waits. For strings, integers, booleans, None, lists and objects orjson with sorted
    keys writes exactly the canonical form (the fold's record parser relies on the same
    agreement); anything else, and whatever orjson refuses (lone surrogates, integers
    beyond 64 bits), takes the checked path, which raises as it always did."""
    import orjson

    if _plain(envelope):
        try:
            return orjson.dumps(envelope, option=orjson.OPT_SORT_KEYS)
        except TypeError:   # orjson.JSONEncodeError
            pass
    return canonical_json(envelope).encode("utf-8")
