"""The event log as readers see it: committed records only, read without any lock.

Layout (decisions A50): ``log/{first_offset:012d}.jsonl`` segments, ``log/COMMIT`` (the
commit point), ``log/SCOPE`` (the scope recorded when the log was created, decisions B4)
and ``log/LOCK`` (the writer lock). A reader takes one snapshot of ``COMMIT`` and reads
segment bytes up to it; writers only ever add bytes past the committed point (and cut
torn bytes past it), so a reader never sees a partial batch and never waits.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from arco_cli.errors import ArcoError
from arco_cli.identity import canonical_json
from arco_cli.log.commit import CommitPoint, read_commit
from arco_cli.log.durability import fsync_dir
from arco_cli.log.ids import corrupt_record, event_ids_of
from arco_cli.log.segments import SEGMENT_MAX_BYTES, list_segments, segment_path

if TYPE_CHECKING:
    from arco_cli.log.writer import LogWriter

#: bytes read per system call: large enough for ~1M records/s, small enough for memory
READ_CHUNK_BYTES = 8 * 1024 * 1024

SCOPE_NAME = "SCOPE"
LOCK_NAME = "LOCK"


@dataclass(frozen=True, slots=True)
class LogRecord:
    offset: int
    """zero-based position across segments"""
    raw: bytes
    """one record (one line) without the trailing newline"""


def _corrupt_segment(path: Path, why: str) -> ArcoError:
    return ArcoError("CORRUPT_LOG", f"{path}: {why}; the committed log is damaged",
                     {"file": str(path)})


class EventLog:
    """The append-only event log in ``log_dir`` (normally ``.arco/log``)."""

    def __init__(self, log_dir: Path, *, segment_max_bytes: int = SEGMENT_MAX_BYTES) -> None:
        self.log_dir = Path(log_dir)
        self.segment_max_bytes = segment_max_bytes
        self._pending_scope: tuple[str, str] | None = None

    @property
    def lock_path(self) -> Path:
        return self.log_dir / LOCK_NAME

    @property
    def scope_path(self) -> Path:
        return self.log_dir / SCOPE_NAME

    # ------------------------------------------------------------------ reading

    def head(self) -> CommitPoint:
        """The current commit point (a consistent snapshot)."""
        return read_commit(self.log_dir)

    def record_count(self) -> int:
        return self.head().records

    def read(self, start_offset: int = 0) -> Iterator[LogRecord]:
        """Committed records from ``start_offset`` on, in log order."""
        for first, lines in self.read_batches(start_offset):
            for offset, raw in enumerate(lines, first):
                yield LogRecord(offset, raw)

    def read_batches(self, start_offset: int = 0, point: CommitPoint | None = None,
                     position: tuple[int, int] | None = None
                     ) -> Iterator[tuple[int, list[bytes]]]:
        """The fast path: ``(first_offset, raw lines)`` chunks of committed records.

        ``point`` pins the snapshot (default: the current commit point). ``position``
        (segment, byte) says where record ``start_offset`` begins, as an earlier snapshot
        of that many records recorded it (:meth:`CommitPoint.position`): reading starts
        there instead of scanning the segment up to it. Structural damage
        inside the committed region (a missing or short segment, an empty line, NUL bytes,
        a record count that disagrees with the segment names) raises ``CORRUPT_LOG``.
        """
        point = self.head() if point is None else point
        if point.records == 0 or start_offset >= point.records:
            return
        firsts = [f for f in list_segments(self.log_dir) if f <= point.segment]
        if not firsts or firsts[0] != 0 or firsts[-1] != point.segment:
            missing = 0 if not firsts or firsts[0] != 0 else point.segment
            raise _corrupt_segment(segment_path(self.log_dir, missing),
                                   "a committed segment is missing")
        for i, first in enumerate(firsts):
            end = firsts[i + 1] if i + 1 < len(firsts) else point.records
            if end <= start_offset:
                continue
            limit = point.segment_bytes if first == point.segment else None
            skip = position[1] if position is not None and position[0] == first else 0
            yield from self._read_segment(first, end, limit, start_offset, skip)

    def _read_segment(self, first: int, end: int, limit: int | None,
                      start_offset: int, skip: int = 0) -> Iterator[tuple[int, list[bytes]]]:
        """Records ``first..end-1`` of one segment, reading at most ``limit`` bytes;
        ``skip`` > 0 is the byte where record ``start_offset`` begins."""
        path = segment_path(self.log_dir, first)
        try:
            fh = path.open("rb")
        except FileNotFoundError:
            raise _corrupt_segment(path, "a committed segment is missing") from None
        with fh:
            if limit is None:
                limit = os.fstat(fh.fileno()).st_size
            remaining = limit
            offset = first
            if 0 < skip <= limit:
                # a record begins right after a newline; anything else means the
                # position is not this log's (scan instead)
                fh.seek(skip - 1)
                if fh.read(1) == b"\n":
                    remaining -= skip
                    offset = start_offset
                else:
                    fh.seek(0)
            carry = b""
            while remaining > 0:
                block = fh.read(min(READ_CHUNK_BYTES, remaining))
                if not block:
                    raise _corrupt_segment(
                        path, f"the segment ends before its committed length of {limit} bytes")
                remaining -= len(block)
                data = carry + block if carry else block
                cut = data.rfind(b"\n") + 1
                if cut == len(data):
                    complete, carry = data, b""
                else:
                    complete, carry = data[:cut], data[cut:]
                if not complete:
                    continue
                if offset < start_offset:
                    # Skipping ahead to the start offset: count, don't split.
                    count = complete.count(b"\n")
                    if offset + count <= start_offset:
                        offset += count
                        continue
                lines = complete.split(b"\n")
                lines.pop()
                if offset + len(lines) > end:
                    raise corrupt_record(end, f"{path} holds more records than committed")
                self._check_lines(path, complete, lines, offset)
                if offset < start_offset:
                    lines = lines[start_offset - offset:]
                    offset = start_offset
                yield offset, lines
                offset += len(lines)
            if carry:
                raise corrupt_record(offset, f"{path}: the committed region ends inside a "
                                     "record")
            if offset != end:
                raise corrupt_record(offset, f"{path} holds {offset - first} records, its "
                                     f"successor expects {end - first}")

    @staticmethod
    def _check_lines(path: Path, complete: bytes, lines: list[bytes], offset: int) -> None:
        # Cheap C-speed scans; JSON validity is checked by whoever parses the records.
        if b"\x00" in complete or b"" in lines:
            for i, raw in enumerate(lines):
                if not raw:
                    raise corrupt_record(offset + i, f"{path}: empty line")
                if b"\x00" in raw:
                    raise corrupt_record(offset + i, f"{path}: NUL bytes in a record")

    def read_ids(self, start_offset: int = 0, point: CommitPoint | None = None
                 ) -> Iterator[tuple[int, list[bytes], list[str]]]:
        """Like :meth:`read_batches`, with the top-level ``event_id`` of every record."""
        for first, lines in self.read_batches(start_offset, point):
            yield first, lines, event_ids_of(lines, first)

    def event_ids(self, start_offset: int = 0) -> Iterator[str]:
        """Every committed ``event_id`` in log order (parses only the id)."""
        for _first, _lines, ids in self.read_ids(start_offset):
            yield from ids

    # ------------------------------------------------------------------ writing

    def writer(self, timeout: float) -> contextlib.AbstractContextManager[LogWriter]:
        """Hold the writer lock (waiting up to ``timeout`` s) and repair a torn tail."""
        from arco_cli.log.writer import open_writer

        return open_writer(self, timeout)

    # ------------------------------------------------------------------ scope

    def recorded_scope(self) -> tuple[str, str] | None:
        try:
            doc = json.loads(self.scope_path.read_bytes())
        except FileNotFoundError:
            return None
        except ValueError as exc:
            raise ArcoError("CORRUPT_LOG", f"{self.scope_path}: unreadable scope record "
                            f"({exc})", {"file": str(self.scope_path)}) from exc
        if not isinstance(doc, dict) or not all(
                isinstance(doc.get(k), str) for k in ("tenant_id", "workspace_id")):
            raise ArcoError("CORRUPT_LOG", f"{self.scope_path}: unreadable scope record",
                            {"file": str(self.scope_path)})
        return doc["tenant_id"], doc["workspace_id"]

    def check_scope(self, tenant_id: str, workspace_id: str, *, record: bool = True) -> None:
        """Refuse a workspace whose configured scope differs from the log's (decisions B4).

        The scope is recorded when the log is created (by the first writer); a log
        that exists without a scope record gets it now unless ``record`` is false (read
        commands never modify ``log/``).
        """
        recorded = self.recorded_scope()
        if recorded is None:
            self._pending_scope = (tenant_id, workspace_id)
            if record and self.log_dir.is_dir():
                self.record_pending_scope()
                recorded = self.recorded_scope()
            if recorded is None:
                return
        if recorded != (tenant_id, workspace_id):
            raise ArcoError(
                "SCOPE_MISMATCH",
                f"the event log belongs to tenant {recorded[0]!r}, workspace {recorded[1]!r}, "
                f"but arco.toml says tenant {tenant_id!r}, workspace {workspace_id!r}; "
                "restore [workspace] in arco.toml or use a new workspace folder",
                {"logScope": {"tenant": recorded[0], "workspace": recorded[1]},
                 "configScope": {"tenant": tenant_id, "workspace": workspace_id},
                 "file": str(self.scope_path)})

    def record_pending_scope(self) -> None:
        """Write ``SCOPE`` from the last :meth:`check_scope`, unless one exists already."""
        if self._pending_scope is None or self.scope_path.exists():
            return
        tenant_id, workspace_id = self._pending_scope
        content = canonical_json({"tenant_id": tenant_id, "workspace_id": workspace_id})
        tmp = self.log_dir / f"{SCOPE_NAME}.{os.getpid()}.tmp"
        tmp.write_bytes(content.encode("utf-8"))
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        try:
            # link() fails when another process recorded a scope first: theirs stands,
            # and a different one is refused below.
            os.link(tmp, self.scope_path)
        except FileExistsError:
            pass
        finally:
            tmp.unlink()
        fsync_dir(self.log_dir)
        self.check_scope(tenant_id, workspace_id, record=False)
