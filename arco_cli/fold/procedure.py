"""The fold procedure of data-model §5.1: order, scope, type, gate, rule, record, outcome.

Pure: records in, state mutated, no I/O and no clock. Hot-path notes: arco writes
canonical JSON, so a record whose re-encoding equals its bytes needs no strict re-parse;
payload digests for ``duplicate_payload_differs`` are 8-byte BLAKE2b values.
"""

from __future__ import annotations

import contextlib
import gc
import hashlib
import json
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Protocol

from arco_cli.errors import ArcoError
from arco_cli.events import (
    EVENT_TYPES,
    RUN_ID_FROM_RUN_KEY,
    expected_idempotency_key,
    is_documented_override,
    payload_run_id,
    validate_envelope,
    validate_payload,
)
from arco_cli.fold import automation, dispatch, runkeys, runs, tasks
from arco_cli.fold.context import Event, Result, rejected
from arco_cli.fold.jsonenc import canonical_text
from arco_cli.fold.state import FoldState
from arco_cli.identity import loads_strict, parse_timestamp_ms


class LogRecordLike(Protocol):
    """What the fold needs of :class:`arco_cli.log.LogRecord`."""

    @property
    def offset(self) -> int: ...

    @property
    def raw(self) -> bytes: ...


# --------------------------------------------------------------------------- time

_DAY_MS: dict[str, int] = {}
#: ``YYYY-MM-DDTHH:MM:`` → epoch ms of that minute (bounded: cleared when full)
_MINUTE_MS: dict[str, int] = {}
_MINUTES_KEPT = 100_000


def _minute_ms(prefix: str) -> int | None:
    if prefix[10] != "T" or prefix[13] != ":" or prefix[16] != ":":
        return None
    clock = prefix[11:13] + prefix[14:16]
    if not (clock.isascii() and clock.isdigit()):
        return None
    day = _DAY_MS.get(prefix[:10])
    if day is None:
        day = parse_timestamp_ms(prefix[:10] + "T00:00:00Z")
        _DAY_MS[prefix[:10]] = day
    hour, minute = int(clock[0:2]), int(clock[2:4])
    if hour >= 24 or minute >= 60:
        return None
    if len(_MINUTE_MS) >= _MINUTES_KEPT:
        _MINUTE_MS.clear()
    value = _MINUTE_MS[prefix] = day + (hour * 60 + minute) * 60_000
    return value


def timestamp_ms(text: str) -> int:
    """RFC 3339 → epoch ms (floored), with a fast path for arco's own ``…sssZ`` form:
    events come a few per millisecond, so the minute is nearly always known already."""
    if len(text) == 24 and text[23] == "Z" and text[19] == ".":
        prefix = text[:17]
        minute = _MINUTE_MS.get(prefix)
        if minute is None:
            minute = _minute_ms(prefix)
        if minute is not None:
            # "SS" + "mmm" read as one number is the milliseconds into the minute
            tail = text[17:19] + text[20:23]
            if tail.isascii() and tail.isdigit():
                within = int(tail)
                if within < 60_000:
                    return minute + within
    return parse_timestamp_ms(text)


# --------------------------------------------------------------------------- parsing

_I64_MIN, _U64_MAX = -(2**63), 2**64 - 1


_dumps = canonical_text


class RecordParser:
    """Parses one record and notes what keeps it from being canonical JSON (decisions
    A42) without a second strict parse on the hot path: floats, NaN/Infinity and
    out-of-range integers are caught by the decoder's hooks; duplicate keys and other
    deviations by comparing the record with its canonical re-encoding (arco writes
    canonical JSON, so the comparison normally succeeds)."""

    def __init__(self) -> None:
        self.problems: list[str] = []
        #: one object per distinct repeated value (event types, run ids, task keys...)
        self.shared: dict[str, str] = {}
        self._decoder = json.JSONDecoder(parse_float=self._number,
                                         parse_constant=self._number, parse_int=self._int)
        self._scan: Callable[[str, int], tuple[Any, int]] = \
            self._decoder.scan_once  # type: ignore[attr-defined]
        import orjson

        self._fast_loads = orjson.loads
        self._fast_dumps = orjson.dumps
        self._sort_keys = orjson.OPT_SORT_KEYS

    def _number(self, text: str) -> int:
        self.problems.append(f"non-integer number {text}")
        return 0

    def _int(self, text: str) -> int:
        value = int(text)
        if not _I64_MIN <= value <= _U64_MAX:
            self.problems.append(f"integer {text} is out of range")
        return value

    def parse_canonical(self, raw: bytes) -> Any:
        """The parsed record when ``raw`` is canonical JSON whose numbers are all
        integers (every record arco writes), else None: then :meth:`parse` and
        :meth:`canonical_problem` decide.

        orjson parses and re-encodes several times faster than the standard library,
        and on these records agrees with it: same values, same canonical bytes (sorted
        keys, the same escapes); integers outside i64/u64 turn into floats, whose text
        differs. What it would let through is a float written the way orjson writes it
        (``1.5``, ``1e+16``), so any ``.``/``e``/``E`` outside strings sends the record
        to the slow path, as do escaped quotes (they would hide where strings end) and
        ``\\u`` surrogate escapes (the slow path never calls those records canonical).
        """
        try:
            obj = self._fast_loads(raw)
            if self._fast_dumps(obj, option=self._sort_keys) != raw:
                return None
        except (ValueError, TypeError):  # orjson's decode / encode errors
            return None
        if b"\\" in raw and (b'\\"' in raw or b"\\ud" in raw or b"\\uD" in raw):
            return None
        outside = b"".join(raw.split(b'"')[::2])
        if b"." in outside or b"E" in outside or \
                outside.count(b"e") != outside.count(b"true") + outside.count(b"false"):
            return None
        return obj

    def parse(self, raw: bytes) -> Any:
        """The parsed record; ValueError when it is not JSON at all."""
        self.problems.clear()
        text = self.text = raw.decode("utf-8")
        try:
            # the scanner without decode()'s whitespace handling: a record is one value
            obj, end = self._scan(text, 0)
        except StopIteration:
            obj, end = None, -1
        if end != len(text):
            # leading/trailing whitespace or garbage: decode() accepts or words it
            self.problems.clear()
            return self._decoder.decode(text)
        return obj

    def canonical_problem(self, obj: Any, raw: bytes) -> tuple[str | None, bool]:
        """(why the record cannot be canonical JSON or None, whether ``raw`` already is
        the canonical encoding)."""
        if self.problems:
            return self.problems[0], False
        no_escaped_surrogate = b"\\ud" not in raw and b"\\uD" not in raw
        if no_escaped_surrogate and _dumps(obj) == self.text:
            return None, True
        try:
            loads_strict(raw)
        except ValueError as exc:
            return str(exc), False
        return None, False


_ENVELOPE_KEYS = frozenset({
    "causation_id", "correlation_id", "data", "event_id", "event_type", "event_version",
    "idempotency_key", "source", "tenant_id", "timestamp", "workspace_id"})


def _payload_digest(obj: dict[str, Any], raw: bytes, canonical: bool) -> bytes:
    """8-byte digest of the canonical JSON of ``data`` (compared by the gate)."""
    if canonical and _ENVELOPE_KEYS.issuperset(obj):
        # In a canonical record the top-level "data" value is followed directly by
        # the "event_id" key (keys are sorted), so its canonical text is a slice of raw.
        # Only with the envelope's own keys: an unknown top-level object could hold a
        # nested "data": or "event_id": and move the slice.
        keys = list(obj)
        position = keys.index("data")
        if position + 1 < len(keys) and keys[position + 1] == "event_id":
            start = raw.find(b'"data":') + 7
            end = raw.rfind(b',"event_id":"')
            return hashlib.blake2b(raw[start:end], digest_size=8).digest()
    return hashlib.blake2b(_dumps(obj["data"]).encode("utf-8"), digest_size=8).digest()


def _corrupt(message: str, offsets: list[int]) -> ArcoError:
    return ArcoError("CORRUPT_LOG", message, {"offsets": offsets})


def _event_id_of(raw: bytes) -> str | None:
    """The event id of a canonical record without a full parse (verified later)."""
    if raw.count(b'"event_id":"') != 1:
        return None
    start = raw.index(b'"event_id":"') + 12
    end = raw.find(b'"', start)
    if end < 0:
        return None
    value = raw[start:end]
    if b"\\" in value:
        return None
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        return None


def _record_event_id(record: LogRecordLike) -> str:
    event_id = _event_id_of(record.raw)
    if event_id is None:
        try:
            obj = json.loads(record.raw)
        except ValueError:
            raise _corrupt(f"log record at offset {record.offset} is not JSON",
                           [record.offset]) from None
        event_id = obj.get("event_id") if isinstance(obj, dict) else None
        if not isinstance(event_id, str):
            raise _corrupt(f"log record at offset {record.offset} has no string event_id",
                           [record.offset])
    return event_id


def _order(state: FoldState, records: Iterable[LogRecordLike]) -> list[Any]:
    """(event_id, offset, raw) sorted by event id; corrupt or repeated ids raise."""
    items: list[Any] = [(_record_event_id(record), record.offset, record.raw)
                        for record in records]
    items.sort(key=lambda item: item[0])
    for prev, item in zip(items, items[1:], strict=False):
        if prev[0] == item[0]:
            raise _corrupt(f"event id {item[0]} is repeated at log offsets {prev[1]} and "
                           f"{item[1]}", [prev[1], item[1]])
    if items and state.watermark_event_id is not None \
            and items[0][0] <= state.watermark_event_id:
        state.load_outcomes()
        folded = state.event_outcomes.get(items[0][0])
        if folded is not None:
            raise _corrupt(f"event id {items[0][0]} is repeated at log offsets {folded[6]} and "
                           f"{items[0][1]}", [folded[6], items[0][1]])
        raise OutOfOrder("records at or below the watermark need a rebuild (invariant 5)")
    return items


# --------------------------------------------------------------------------- rules

def _heartbeat(st: FoldState, ev: Event, d: dict[str, Any]) -> Result:
    at = d.get("heartbeat_at")
    return tasks.task_heartbeat(st, ev, d, timestamp_ms(at) if at is not None else None)


def _completion(st: FoldState, ev: Event, d: dict[str, Any]) -> Result:
    result = tasks.task_finished(st, ev, d)
    update = d.get("output_visibility")
    if result[0] == "applied" and d["outcome"] == "succeeded" and update is not None:
        published = update.get("published_at")
        # the embedded change's own rejection does not change the completion's outcome
        tasks.visibility_changed(st, ev, d, update["visibility_state"],
                                 timestamp_ms(published) if published is not None else None,
                                 update.get("publish_error"))
    return result


def _visibility(st: FoldState, ev: Event, d: dict[str, Any]) -> Result:
    published = d.get("published_at")
    return tasks.visibility_changed(st, ev, d, d["visibility_state"],
                                    timestamp_ms(published) if published is not None else None,
                                    d.get("publish_error"))


RULES: dict[str, Callable[[FoldState, Event, dict[str, Any]], Result]] = {
    "run_triggered": runs.run_triggered,
    "plan_created": runs.plan_created,
    "run_cancel_requested": runs.run_cancel_requested,
    "task_started": tasks.task_started,
    "task_heartbeat": _heartbeat,
    "task_finished": tasks.task_finished,
    "task_completion_recorded": _completion,
    "task_output_visibility_changed": _visibility,
    "dispatch_requested": dispatch.dispatch_requested,
    "timer_requested": lambda st, ev, d: dispatch.timer_requested(
        st, ev, d, timestamp_ms(d["fire_at"])),
    "dispatch_enqueued": dispatch.dispatch_enqueued,
    "timer_enqueued": lambda st, ev, d: dispatch.timer_acknowledged(st, ev, d, False),
    "timer_fired": lambda st, ev, d: dispatch.timer_acknowledged(st, ev, d, True),
    "schedule_definition_upserted": automation.schedule_definition_upserted,
    "schedule_ticked": lambda st, ev, d: automation.schedule_ticked(
        st, ev, d, timestamp_ms(d["scheduled_for"])),
    "sensor_evaluated": automation.sensor_evaluated,
    "run_requested": runkeys.run_requested,
    "backfill_created": automation.backfill_created,
    "backfill_chunk_planned": automation.backfill_chunk_planned,
    "backfill_state_changed": automation.backfill_state_changed,
}

#: payload types whose run id / task key appear inside their idempotency key
_KEYED_BY_RUN = frozenset({
    "run_triggered", "plan_created", "run_cancel_requested", "task_started", "task_heartbeat",
    "task_finished", "task_completion_recorded", "task_output_visibility_changed",
})


def _envelope_problem(obj: dict[str, Any]) -> bool:
    # the usual envelope in one expression (exact types are stricter than isinstance;
    # anything else takes the full check below)
    get = obj.get
    data, a, b, c, d, e = get("data"), get("event_type"), get("timestamp"), \
        get("tenant_id"), get("workspace_id"), get("idempotency_key")
    corr, cause = get("correlation_id"), get("causation_id")
    if type(data) is dict and type(data.get("type")) is str \
            and type(get("event_version")) is int and type(get("source")) is str \
            and type(a) is str and type(b) is str and type(c) is str and type(d) is str \
            and type(e) is str and a and b and c and d and e \
            and (corr is None or type(corr) is str) and (cause is None or type(cause) is str):
        return False
    return _envelope_problem_checked(obj)


def _envelope_problem_checked(obj: dict[str, Any]) -> bool:
    for name in ("event_type", "timestamp", "tenant_id", "workspace_id", "idempotency_key"):
        value = obj.get(name)
        if not isinstance(value, str) or not value:
            return True
    if not isinstance(obj.get("source"), str):
        return True
    version = obj.get("event_version")
    if isinstance(version, bool) or not isinstance(version, int):
        return True
    for name in ("correlation_id", "causation_id"):
        if obj.get(name) is not None and not isinstance(obj[name], str):
            return True
    data = obj.get("data")
    return not isinstance(data, dict) or not isinstance(data.get("type"), str)


def _diagnostics_json(diags: list[tuple[str, str]]) -> str | None:
    if not diags:
        return None
    return _dumps([{"code": c, "message": m} for c, m in sorted(diags)])


#: ``_fold_one``'s ``parsed`` when the caller has not tried the fast parser yet
_UNPARSED: Any = object()


def _fold_one(st: FoldState, parser: RecordParser, event_id: str, offset: int,
              raw: bytes, parsed: Any = _UNPARSED) -> str:
    obj = parser.parse_canonical(raw) if parsed is _UNPARSED else parsed
    problem: str | None = None
    canonical = obj is not None
    if not canonical:
        try:
            obj = parser.parse(raw)
        except ValueError:
            raise _corrupt(f"log record at offset {offset} is not JSON", [offset]) from None
    if not isinstance(obj, dict) or obj.get("event_id") != event_id:
        raise _corrupt(f"log record at offset {offset} has no string event_id", [offset])
    envelope_type = obj.get("event_type")
    key = obj.get("idempotency_key")
    event_type = envelope_type if isinstance(envelope_type, str) else ""
    key = key if isinstance(key, str) else ""
    data = obj.get("data")
    run_id = payload_run_id(data) if isinstance(data, dict) else None
    task_key = data.get("task_key") if isinstance(data, dict) else None
    task_key = task_key if isinstance(task_key, str) else None
    expected_key: str | None = None
    ev = Event(event_id, 0, event_type, data if isinstance(data, dict) else {})
    result: Result
    if not canonical:
        problem, canonical = parser.canonical_problem(obj, raw)
    ts: int | None = None
    if problem is None and not _envelope_problem(obj):
        try:
            ts = timestamp_ms(obj["timestamp"])
        except ValueError:
            ts = None
    if problem is not None:
        result = rejected("invalid_payload", f"The record is not canonical JSON: {problem}.")
    elif ts is None:
        errors = validate_envelope(obj) or ["the envelope is malformed"]
        result = rejected("invalid_payload", f"Invalid envelope: {'; '.join(errors)}.")
    elif obj["tenant_id"] != st.tenant_id or obj["workspace_id"] != st.workspace_id:
        result = rejected("foreign_scope", f"Scope {obj['tenant_id']}/{obj['workspace_id']} is "
                          f"not the log's scope {st.tenant_id}/{st.workspace_id}.")
    elif data["type"] not in RULES:  # type: ignore[index]
        result = rejected("unknown_event_type", f"Unknown payload type {data['type']!r}.")  # type: ignore[index]
    else:
        assert isinstance(data, dict)
        errors = validate_payload(data)
        if errors:
            result = rejected("invalid_payload", f"Invalid payload: {'; '.join(errors)}.")
        else:
            ev.ts = ts
            digest = _payload_digest(obj, raw, canonical)
            ev.event_type = parser.shared.setdefault(event_type, event_type)
            result, expected_key = _fold_valid(st, ev, obj, data, key, digest)
            if data["type"] in RUN_ID_FROM_RUN_KEY and data.get("run_key") is not None:
                run_id = runs.derived_run_id(st, data["run_key"])
    outcome, reason, detail = result
    # values repeated across many outcome rows share one string object (memory at 1M)
    shared = parser.shared
    diagnostics = _diagnostics_json(ev.diags)
    st.event_outcomes[event_id] = (
        event_id, shared.setdefault(event_type, event_type), key, outcome, reason, detail,
        offset, None if run_id is None else shared.setdefault(run_id, run_id),
        None if task_key is None else shared.setdefault(task_key, task_key), expected_key,
        None if diagnostics is None else shared.setdefault(diagnostics, diagnostics))
    st.unpersisted_outcomes.append(event_id)
    if run_id is not None:
        st.outcomes_by_run.setdefault(run_id, []).append(event_id)
    return outcome


def _fold_valid(st: FoldState, ev: Event, obj: dict[str, Any], data: dict[str, Any],
                key: str, digest: bytes) -> tuple[Result, str | None]:
    tag = data["type"]
    if obj["event_version"] != 1:
        ev.diag("unexpected_event_version", f"event_version is {obj['event_version']}, not 1.")
    if EVENT_TYPES[tag] != ev.event_type:
        ev.diag("event_type_mismatch", f"event_type {ev.event_type} does not match payload "
                f"type {tag}; folded as {EVENT_TYPES[tag]}.")
    if tag in _KEYED_BY_RUN:
        for name in ("run_id", "task_key"):
            value = data.get(name)
            if isinstance(value, str) and ":" in value:
                ev.diag("ambiguous_key_component",
                        f"{name} {value!r} contains ':' and makes its key ambiguous.")
    expected = expected_idempotency_key(data)
    expected_key: str | None = None
    if key != expected and not is_documented_override(data, key, ev.event_id):
        expected_key = expected
        ev.diag("idempotency_key_mismatch", f"The envelope key is not the expected key "
                f"{expected!r}.")
    recorded = st.idempotency_keys.get(key)
    if recorded is not None:
        if recorded[3] != digest:
            ev.diag("duplicate_payload_differs",
                    f"The payload differs from the one of event {recorded[0]}.")
        if tag == "run_triggered" and data.get("run_key") is not None \
                and recorded[4] is not None and recorded[4] != data["run_id"]:
            ev.diag("run_key_reused_by_different_run",
                    f"Run key {data['run_key']!r} was used by run {recorded[4]}.")
        if tag == "run_requested":
            runkeys.count_duplicate_request(st, ev, data)
        return ("duplicate", "duplicate_key", f"Key already recorded by event "
                f"{recorded[0]}."), expected_key
    result = RULES[tag](st, ev, data)
    if result[0] == "applied":
        st.idempotency_keys[key] = (
            ev.event_id, ev.event_type, ev.ts, digest,
            data["run_id"] if tag == "run_triggered" else None)
        st.unpersisted_keys.append(key)
    return result, expected_key


def fold_records(state: FoldState, records: Iterable[LogRecordLike]) -> dict[str, int]:
    """Fold ``records`` (any order) into ``state``; returns this call's outcome counts.

    Every record's event id must be above the state's watermark (else the caller must
    rebuild from an empty state). A structurally corrupt record or a repeated event id
    raises ``CORRUPT_LOG``; the state is then unusable and must be discarded.
    """
    with without_gc():
        return _fold_all(state, records)


class OutOfOrder(ValueError):
    """A record's event id is not above every id folded before it."""


def fold_ascending(state: FoldState, records: Iterable[LogRecordLike]) -> dict[str, int]:
    """Fold ``records`` that ascend by event id as they stream in, holding no record
    longer than it takes to fold it (a log written by arco normally ascends).

    Raises :class:`OutOfOrder` at the first record whose id is not above the last folded
    one (or the watermark); the state is then unusable and the caller folds again with
    :func:`fold_records`, which sorts (and reports repeated ids with their offsets).
    """
    with without_gc():
        parser = RecordParser()
        counts: dict[str, int] = {}
        last = state.watermark_event_id
        last_offset = state.log_offset - 1
        for record in records:
            raw = record.raw
            # the id of a record the fast parser accepts is its top-level "event_id"
            # (what _record_event_id finds too: in canonical JSON that key cannot hide
            # inside a string)
            parsed = parser.parse_canonical(raw)
            event_id = parsed.get("event_id") if type(parsed) is dict else None
            if type(event_id) is not str:
                event_id = _record_event_id(record)
                parsed = _UNPARSED if parsed is not None else None
            if last is not None and event_id <= last:
                raise OutOfOrder(f"event id {event_id} at log offset {record.offset} is not "
                                 f"above {last}")
            outcome = _fold_one(state, parser, event_id, record.offset, raw, parsed)
            counts[outcome] = counts.get(outcome, 0) + 1
            last = event_id
            last_offset = max(last_offset, record.offset)
            state.watermark_event_id = event_id
            state.log_offset = last_offset + 1
        automation.derive_chunk_states(state)
        return counts


@contextlib.contextmanager
def without_gc() -> Iterator[None]:
    """Collect no cycles while building large acyclic state: CPython's generational GC
    would otherwise rescan the growing heap again and again (it has nothing to free)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _fold_all(state: FoldState, records: Iterable[LogRecordLike]) -> dict[str, int]:
    items = _order(state, records)
    parser = RecordParser()
    counts: dict[str, int] = {}
    last_offset = state.log_offset - 1
    for i, (event_id, offset, raw) in enumerate(items):
        items[i] = None  # free each record's bytes as soon as it is folded
        outcome = _fold_one(state, parser, event_id, offset, raw)
        counts[outcome] = counts.get(outcome, 0) + 1
        if offset > last_offset:
            last_offset = offset
    if items:
        state.watermark_event_id = event_id
        state.log_offset = last_offset + 1
    automation.derive_chunk_states(state)
    return counts
