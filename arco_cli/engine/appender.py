"""Group commit of the executor's events on a background thread.

The executor hands over its batches in order and keeps scheduling; this thread takes
every batch queued so far, opens the writer (lock held for that one append only), mints
ids, and appends them as one durable batch. One fsync then covers the
events of several attempts instead of one, while a batch handed over together (an
attempt's ``TaskFinished`` and its retry timer, or the cancel batch) still lands in one
append, in hand-over order. ``flush`` waits until everything handed over is durable.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from arco_cli.events import make_event
from arco_cli.identity import now_ms

if TYPE_CHECKING:
    from arco_cli.log.store import EventLog
    from arco_cli.workspace import Workspace

#: builds a batch's payloads from the timestamp (epoch ms) its events will carry
BatchBuilder = Callable[[int], list[dict[str, Any]]]


class EventAppender:
    def __init__(self, ws: Workspace, log: EventLog, lock_timeout: float,
                 clock: Callable[[], int] = now_ms) -> None:
        self._ws = ws
        self._clock = clock
        self._log = log
        self._lock_timeout = lock_timeout
        self._queue: list[tuple[int, BatchBuilder]] = []
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

        ``wake=False`` leaves the batch queued until :meth:`wake` (or a later submit):
        the executor wakes the appender just before it blocks, so the appender's work
        overlaps the tasks instead of competing with the scheduler for the GIL."""
        with self._cond:
            self._queue.append((self._clock(), build))
            if wake:
                self._cond.notify_all()

    def wake(self) -> None:
        with self._cond:
            if self._queue:
                self._cond.notify_all()

    def flush(self) -> None:
        """Wait until every submitted batch is appended; re-raise an append failure."""
        with self._cond:
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

    def _loop(self) -> None:
        while True:
            with self._cond:
                while not self._queue and not self._closing:
                    self._cond.wait()
                if not self._queue:
                    return
                builders, self._queue = self._queue, []
                self._busy = True
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
            envelopes = [
                make_event(payload, event_id=writer.new_event_id(ts), timestamp_ms=ts,
                           tenant_id=ws.tenant_id, workspace_id=ws.workspace_id)
                for ts, build in builders for payload in build(ts)]
            writer.append(envelopes)
