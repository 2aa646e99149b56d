"""The single writer: lock, torn-tail repair, durable group-committed batches.

An append is acknowledged only after its bytes were fsynced *and* the new commit point
was atomically installed, so a crash at any instant leaves either the old or the new
commit point, and bytes past the commit point are never read (decisions A50).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from arco_cli.errors import ArcoError
from arco_cli.identity import UlidGenerator, canonical_json
from arco_cli.log.commit import CommitPoint, read_commit, write_commit
from arco_cli.log.durability import fsync_dir
from arco_cli.log.ids import event_ids_of, greatest_id, greatest_ulid
from arco_cli.log.segments import list_segments, segment_path

if TYPE_CHECKING:
    from arco_cli.log.store import EventLog


class LogWriter:
    """Appends batches while the writer lock is held (get one from ``EventLog.writer``)."""

    def __init__(self, log: EventLog, point: CommitPoint, repaired_bytes: int = 0) -> None:
        self._log = log
        self._point = point
        self._ids = UlidGenerator(point.max_ulid)
        self._fd: int | None = None
        self._fd_segment = -1
        #: bytes of torn tail cut when this writer opened the log
        self.repaired_bytes = repaired_bytes

    @property
    def head(self) -> CommitPoint:
        """The commit point after the last acknowledged batch."""
        return self._point

    def new_event_id(self, at_ms: int | None = None) -> str:
        """A ULID greater than every ULID in the log and every id minted before."""
        return self._ids.new(at_ms)

    def append(self, envelopes: Sequence[dict[str, Any]]) -> int:
        """Append one atomic batch as canonical JSON lines; returns its first offset."""
        lines = [canonical_json(envelope).encode("utf-8") for envelope in envelopes]
        ids = [str(envelope["event_id"]) for envelope in envelopes]
        return self._commit_batch(lines, ids)

    def append_raw(self, records: Sequence[bytes]) -> int:
        """Append ingested records verbatim (each must be one line of JSON)."""
        lines = list(records)
        for raw in lines:
            if not raw or b"\n" in raw or b"\r" in raw:
                raise ValueError("a raw log record must be one non-empty line")
        return self._commit_batch(lines, event_ids_of(lines, self._point.records))

    def _segment_fd(self, first: int, create: bool) -> int:
        if self._fd is not None and self._fd_segment == first:
            return self._fd
        self.close()
        flags = os.O_WRONLY | os.O_CREAT | (os.O_EXCL if create else 0)
        self._fd = os.open(segment_path(self._log.log_dir, first), flags, 0o644)
        self._fd_segment = first
        return self._fd

    def _commit_batch(self, lines: list[bytes], ids: list[str]) -> int:
        point = self._point
        if not lines:
            return point.records
        payload = b"\n".join(lines) + b"\n"
        rollover = (point.segment_bytes > 0 and
                    point.segment_bytes + len(payload) > self._log.segment_max_bytes)
        segment = point.records if rollover else point.segment
        start = 0 if rollover else point.segment_bytes
        new_file = rollover or not segment_path(self._log.log_dir, segment).exists()
        fd = self._segment_fd(segment, create=rollover)
        try:
            view = memoryview(payload)
            position = start
            while view:
                written = os.pwrite(fd, view, position)
                view = view[written:]
                position += written
            os.fsync(fd)
            if new_file:
                fsync_dir(self._log.log_dir)
        except BaseException:
            # Leave no torn bytes for later batches of this writer; a crash leaves them
            # to the next writer's repair.
            with contextlib.suppress(OSError):
                os.ftruncate(fd, start)
            raise
        new_point = CommitPoint(
            records=point.records + len(lines),
            segment=segment,
            segment_bytes=start + len(payload),
            max_event_id=greatest_id(ids, point.max_event_id),
            max_ulid=greatest_ulid(ids, point.max_ulid),
        )
        write_commit(self._log.log_dir, new_point)
        self._point = new_point
        for event_id in ids:
            self._ids.observe(event_id)
        return point.records

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
            self._fd_segment = -1


def repair_torn_tail(log: EventLog) -> tuple[CommitPoint, int]:
    """Cut every byte past the commit point (caller holds the lock); returns bytes cut."""
    log_dir = log.log_dir
    point = read_commit(log_dir)
    cut = 0
    removed = False
    for first in list_segments(log_dir):
        path = segment_path(log_dir, first)
        if first > point.segment or (point.records == 0 and first > 0):
            cut += path.stat().st_size
            path.unlink()
            removed = True
            continue
        if first < point.segment:
            continue
        size = path.stat().st_size
        if size < point.segment_bytes:
            raise ArcoError("CORRUPT_LOG", f"{path}: {size} bytes, but {point.segment_bytes} "
                            "were committed; the committed log is damaged", {"file": str(path)})
        if size > point.segment_bytes:
            with open(path, "rb+") as fh:
                fh.truncate(point.segment_bytes)
                os.fsync(fh.fileno())
            cut += size - point.segment_bytes
    if point.segment_bytes > 0 and not segment_path(log_dir, point.segment).exists():
        path = segment_path(log_dir, point.segment)
        raise ArcoError("CORRUPT_LOG", f"{path}: a committed segment is missing; the "
                        "committed log is damaged", {"file": str(path)})
    if removed:
        fsync_dir(log_dir)
    return point, cut


@contextlib.contextmanager
def open_writer(log: EventLog, timeout: float) -> Iterator[LogWriter]:
    from filelock import FileLock, Timeout

    created = not log.log_dir.is_dir()
    log.log_dir.mkdir(parents=True, exist_ok=True)
    if created:
        fsync_dir(log.log_dir.parent)
    lock = FileLock(str(log.lock_path), timeout=timeout, preserve_lock_file=True)
    try:
        lock.acquire()
    except Timeout:
        raise ArcoError(
            "WORKSPACE_LOCKED",
            f"another arco process holds the log's writer lock {log.lock_path}; gave up "
            f"after {timeout:g} s (raise --lock-timeout to wait longer)",
            {"lockPath": str(log.lock_path), "timeoutSeconds": timeout}) from None
    try:
        point, cut = repair_torn_tail(log)
        log.record_pending_scope()
        writer = LogWriter(log, point, repaired_bytes=cut)
        try:
            yield writer
        finally:
            writer.close()
    finally:
        lock.release()
