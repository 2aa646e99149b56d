"""Ingesting events produced elsewhere: read, validate everything, then append in batches.

Inputs are JSON Lines files, stdin (``-``) or arco-flow ledger folders
(``…/{YYYY-MM-DD}/{event_id}.json``). Nothing is appended unless every event of every
input is valid (decisions A55); events already in the log are skipped and counted, so a
re-run after a crash is safe.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from arco_cli.errors import ArcoError
from arco_cli.events import EVENT_TYPES, validate_envelope
from arco_cli.identity import (
    CanonicalJsonError,
    canonical_json,
    is_ulid,
    loads_strict,
    parse_timestamp_ms,
    ulid_time_ms,
)
from arco_cli.log.commit import CommitPoint
from arco_cli.log.store import EventLog

#: group commit: one lock hold, one fsync and one COMMIT per this many events ...
BATCH_EVENTS = 1000
#: ... or per this many bytes, whichever comes first
BATCH_BYTES = 4 * 1024 * 1024

_BOM = b"\xef\xbb\xbf"


@dataclass(frozen=True, slots=True)
class IncomingEvent:
    """One valid input event; only what ingest needs is kept (inputs may be large)."""

    file: str
    line: int
    raw: bytes
    """the record as it will be stored: the input's bytes, on one line"""
    event_id: str
    type_tag: str
    """``data.type``"""


@dataclass
class IngestInputs:
    """Everything read from the inputs: valid events in append order, and problems."""

    events: list[IncomingEvent] = field(default_factory=list)
    problems: list[ArcoError] = field(default_factory=list)
    repeated: int = 0
    """events repeated within the inputs with identical content (counted as duplicates)"""


@dataclass
class IngestReport:
    appended: int = 0
    duplicates: int = 0
    duplicates_differing: list[str] = field(default_factory=list)
    unknown_types: dict[str, int] = field(default_factory=dict)
    non_canonical_ids: list[str] = field(default_factory=list)
    """appended ids that are not canonical upper-case ULIDs (decisions A49)"""


# --------------------------------------------------------------------------- reading


def _problem(code: str, file: str, line: int | None, reason: str, message: str,
             event_id: str | None = None) -> ArcoError:
    details: dict[str, Any] = {"file": file}
    if line is not None:
        details["line"] = line
    details["reason"] = reason
    if event_id is not None:
        details["eventId"] = event_id
    where = f"{file}:{line}" if line is not None else file
    return ArcoError(code, f"{where}: {message}", details)


def _one_line(raw: bytes) -> bytes:
    """The same JSON text on one line.

    In valid JSON a raw CR or LF can only stand outside strings, and so can the
    whitespace touching it; dropping both leaves every value byte-for-byte unchanged.
    """
    if b"\n" not in raw and b"\r" not in raw:
        return raw.strip()
    return b"".join(part.strip() for part in raw.splitlines())


def _ledger_date(event: dict[str, Any]) -> str:
    event_id = event["event_id"]
    ms = ulid_time_ms(event_id) if is_ulid(event_id) else parse_timestamp_ms(event["timestamp"])
    moment = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc) + dt.timedelta(milliseconds=ms)
    return moment.strftime("%Y-%m-%d")


class _Reader:
    def __init__(self, tenant_id: str, workspace_id: str) -> None:
        self.scope = (tenant_id, workspace_id)
        self.out = IngestInputs()
        #: first occurrence of each id in the inputs: (file, line, raw)
        self.seen: dict[str, IncomingEvent] = {}

    def parse(self, file: str, line: int, raw: bytes,
              ledger_path: Path | None = None) -> IncomingEvent | None:
        """Validate one input record; a problem is recorded and ``None`` returned."""
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            self.out.problems.append(_problem("INVALID_EVENT", file, line, "malformed_json",
                                              f"not UTF-8 ({exc.reason} at byte {exc.start})"))
            return None
        try:
            doc = loads_strict(text)
        except CanonicalJsonError as exc:
            self.out.problems.append(_problem(
                "INVALID_EVENT", file, line, "non_canonical_json",
                f"{exc}; arco stores integers, strings, booleans and objects with unique keys "
                "only"))
            return None
        except ValueError as exc:
            self.out.problems.append(_problem("INVALID_EVENT", file, line, "malformed_json",
                                              f"malformed JSON: {exc}"))
            return None
        errs = validate_envelope(doc)
        event_id = doc.get("event_id") if isinstance(doc, dict) else None
        event_id = event_id if isinstance(event_id, str) and event_id else None
        if errs:
            self.out.problems.append(_problem("INVALID_EVENT", file, line, "invalid_payload",
                                              "invalid event: " + "; ".join(errs), event_id))
            return None
        assert event_id is not None
        scope = (doc["tenant_id"], doc["workspace_id"])
        if scope != self.scope:
            self.out.problems.append(_problem(
                "FOREIGN_SCOPE", file, line, "foreign_scope",
                f"event {event_id} belongs to tenant {scope[0]!r}, workspace {scope[1]!r}, "
                f"but this workspace is tenant {self.scope[0]!r}, workspace "
                f"{self.scope[1]!r}", event_id))
            return None
        if ledger_path is not None:
            expected = f"{_ledger_date(doc)}/{event_id}.json"
            actual = f"{ledger_path.parent.name}/{ledger_path.name}"
            if actual != expected:
                self.out.problems.append(_problem(
                    "INVALID_EVENT", file, line, "non_canonical_path",
                    f"ledger file is not at its canonical path: expected …/{expected}",
                    event_id))
                return None
        event = IncomingEvent(file, line, _one_line(raw), event_id, doc["data"]["type"])
        first = self.seen.get(event_id)
        if first is not None:
            if _content(first.raw) == canonical_json(doc):
                self.out.repeated += 1
            else:
                self.out.problems.append(_problem(
                    "INVALID_EVENT", file, line, "repeated_event_id",
                    f"event id {event_id} was already used with different content at "
                    f"{first.file}:{first.line}", event_id))
            return None
        self.seen[event_id] = event
        return event


def _content(raw: bytes) -> str:
    return canonical_json(loads_strict(raw))


def _jsonl_lines(data: bytes) -> Iterator[tuple[int, bytes]]:
    if data.startswith(_BOM):
        data = data[len(_BOM):]
    for number, line in enumerate(data.split(b"\n"), 1):
        if line.strip():  # blank lines are skipped (decisions A55)
            yield number, line


def read_inputs(paths: Sequence[str], tenant_id: str, workspace_id: str,
                read_stdin: Callable[[], bytes]) -> IngestInputs:
    """Read and validate every input; JSONL in file order, folders in event_id order."""
    reader = _Reader(tenant_id, workspace_id)
    for name in paths:
        if name == "-":
            try:
                data = read_stdin()
            except OSError as exc:
                reader.out.problems.append(_problem("INPUT_UNREADABLE", "-", None, "unreadable",
                                                    f"cannot read stdin: {exc}"))
                continue
            _read_jsonl(reader, "-", data)
            continue
        path = Path(name)
        if path.is_dir():
            _read_ledger(reader, name, path)
            continue
        try:
            data = path.read_bytes()
        except OSError as exc:
            reader.out.problems.append(_problem("INPUT_UNREADABLE", name, None, "unreadable",
                                                f"cannot read: {exc.strerror or exc}"))
            continue
        _read_jsonl(reader, name, data)
    return reader.out


def _read_jsonl(reader: _Reader, name: str, data: bytes) -> None:
    for number, line in _jsonl_lines(data):
        event = reader.parse(name, number, line)
        if event is not None:
            reader.out.events.append(event)


def _read_ledger(reader: _Reader, name: str, folder: Path) -> None:
    found: list[IncomingEvent] = []
    for path in sorted(p for p in folder.rglob("*.json") if p.is_file()):
        shown = f"{name.rstrip('/')}/{path.relative_to(folder).as_posix()}"
        try:
            data = path.read_bytes()
        except OSError as exc:
            reader.out.problems.append(_problem("INPUT_UNREADABLE", shown, None, "unreadable",
                                                f"cannot read: {exc.strerror or exc}"))
            continue
        if data.startswith(_BOM):
            data = data[len(_BOM):]
        event = reader.parse(shown, 1, data, ledger_path=path)
        if event is not None:
            found.append(event)
    found.sort(key=lambda e: e.event_id)
    reader.out.events.extend(found)


# --------------------------------------------------------------------------- appending


def _logged(log: EventLog, wanted: dict[str, IncomingEvent], start: int,
            point: CommitPoint) -> dict[str, bytes]:
    """The logged record of every wanted id found in records ``start..point``."""
    found: dict[str, bytes] = {}
    if not wanted:
        return found
    for _first, lines, ids in log.read_ids(start, point):
        hits = wanted.keys() & ids
        if hits:
            for raw, event_id in zip(lines, ids, strict=True):
                if event_id in hits:
                    found[event_id] = raw
    return found


def _split_duplicates(pending: dict[str, IncomingEvent], logged: dict[str, bytes],
                      report: IngestReport) -> None:
    for event_id, raw in logged.items():
        event = pending.pop(event_id, None)
        if event is None:
            continue
        report.duplicates += 1
        if raw == event.raw:
            continue  # the usual re-delivery: same bytes, no need to parse
        try:
            same = _content(raw) == _content(event.raw)
        except ValueError:
            same = False  # the logged record is not canonical-safe: it cannot be equal
        if not same:
            report.duplicates_differing.append(event_id)


def _count_appended(events: Sequence[IncomingEvent], report: IngestReport) -> None:
    report.appended += len(events)
    for event in events:
        if event.type_tag not in EVENT_TYPES:
            report.unknown_types[event.type_tag] = report.unknown_types.get(event.type_tag,
                                                                             0) + 1
        if not is_ulid(event.event_id) or event.event_id != event.event_id.upper():
            report.non_canonical_ids.append(event.event_id)


def plan_dry_run(log: EventLog, inputs: IngestInputs) -> IngestReport:
    """What :func:`append_events` would do now, writing nothing."""
    report = IngestReport(duplicates=inputs.repeated)
    pending = {event.event_id: event for event in inputs.events}
    _split_duplicates(pending, _logged(log, pending, 0, log.head()), report)
    _count_appended([e for e in inputs.events if e.event_id in pending], report)
    return report


BatchCallback = Callable[[int, Sequence[IncomingEvent]], None]


def append_events(log: EventLog, inputs: IngestInputs, *, timeout: float,
                  on_batch: BatchCallback | None = None,
                  batch_events: int = BATCH_EVENTS,
                  batch_bytes: int = BATCH_BYTES) -> IngestReport:
    """Append the new events in group-committed batches, holding the lock per batch.

    ``on_batch(first_offset, events)`` is called after each batch is durable
    (acknowledged). Records another writer committed in between are checked again, so an
    event never lands twice.
    """
    report = IngestReport(duplicates=inputs.repeated)
    pending = {event.event_id: event for event in inputs.events}
    scanned = log.head()
    _split_duplicates(pending, _logged(log, pending, 0, scanned), report)
    queue = [event for event in inputs.events if event.event_id in pending]
    try:
        _append_queue(log, queue, pending, scanned, report, timeout, on_batch, batch_events,
                      batch_bytes)
    except ArcoError as exc:
        if report.appended == 0:
            raise
        # Earlier batches are durable: say so, since the error replaces the report.
        raise ArcoError(exc.code, f"{exc.message} ({report.appended} events were appended "
                        "before this; re-run the same ingest to append the rest, duplicates "
                        "are skipped)", exc.details) from exc
    return report


def _append_queue(log: EventLog, queue: list[IncomingEvent],
                  pending: dict[str, IncomingEvent], scanned: CommitPoint,
                  report: IngestReport, timeout: float, on_batch: BatchCallback | None,
                  batch_events: int, batch_bytes: int) -> None:
    position = 0
    while position < len(queue):
        with log.writer(timeout) as writer:
            head = writer.head
            if head.records != scanned.records:
                _split_duplicates(pending, _logged(log, pending, scanned.records, head), report)
                scanned = head
            batch: list[IncomingEvent] = []
            size = 0
            while position < len(queue) and len(batch) < batch_events and size < batch_bytes:
                event = queue[position]
                position += 1
                if event.event_id in pending:
                    batch.append(event)
                    size += len(event.raw) + 1
            if not batch:
                continue
            first = writer.append_raw([event.raw for event in batch])
            scanned = writer.head
        for event in batch:
            del pending[event.event_id]
        _count_appended(batch, report)
        if on_batch is not None:
            on_batch(first, batch)
