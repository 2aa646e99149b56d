"""Event types and payload validation (data-model §2).

Events stay plain dicts (the parsed envelope) end to end: the log stores them verbatim,
the fold reads them by key. This module knows which payload fields each type requires,
their types and enum values, and reports every problem as a sentence.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from arco_cli.identity import parse_timestamp_ms

# snake_case payload tag → PascalCase event_type
EVENT_TYPES: dict[str, str] = {
    "run_triggered": "RunTriggered",
    "plan_created": "PlanCreated",
    "run_cancel_requested": "RunCancelRequested",
    "task_started": "TaskStarted",
    "task_heartbeat": "TaskHeartbeat",
    "task_finished": "TaskFinished",
    "task_completion_recorded": "TaskCompletionRecorded",
    "task_output_visibility_changed": "TaskOutputVisibilityChanged",
    "dispatch_requested": "DispatchRequested",
    "timer_requested": "TimerRequested",
    "dispatch_enqueued": "DispatchEnqueued",
    "timer_enqueued": "TimerEnqueued",
    "timer_fired": "TimerFired",
    "schedule_definition_upserted": "ScheduleDefinitionUpserted",
    "schedule_ticked": "ScheduleTicked",
    "sensor_evaluated": "SensorEvaluated",
    "run_requested": "RunRequested",
    "backfill_created": "BackfillCreated",
    "backfill_chunk_planned": "BackfillChunkPlanned",
    "backfill_state_changed": "BackfillStateChanged",
}
TYPE_TAGS: dict[str, str] = {v: k for k, v in EVENT_TYPES.items()}

TASK_OUTCOMES = ("succeeded", "failed", "skipped", "cancelled")
TIMER_TYPES = ("retry", "heartbeat_check", "cron", "sla_check")
VISIBILITY_STATES = ("pending", "visible", "failed")
BACKFILL_STATES = ("PENDING", "RUNNING", "PAUSED", "SUCCEEDED", "FAILED", "CANCELLED")
ERROR_CATEGORIES = {
    "USER_CODE": True,
    "DATA_QUALITY": False,
    "INFRASTRUCTURE": True,
    "CONFIGURATION": False,
    "TIMEOUT": True,
    "CANCELLED": False,
}

Check = Callable[[Any, str, list[str]], None]

#: what each check tests, so that :func:`validate_payload` can compile a fast predicate
#: for the common, valid payload (see :func:`_compile_payload`)
_SPECS: dict[Check, tuple[Any, ...]] = {}


def _spec(check: Check, *spec: Any) -> Check:
    _SPECS[check] = spec
    return check


def _type_name(value: Any) -> str:
    return "null" if value is None else type(value).__name__


def _str(value: Any, path: str, errs: list[str]) -> None:
    if not isinstance(value, str):
        errs.append(f"{path} must be a string, got {_type_name(value)}")


def _nonempty_str(value: Any, path: str, errs: list[str]) -> None:
    if not isinstance(value, str) or not value:
        errs.append(f"{path} must be a non-empty string")


def _int_range(lo: int, hi: int, what: str) -> Check:
    def check(value: Any, path: str, errs: list[str]) -> None:
        if isinstance(value, bool) or not isinstance(value, int):
            errs.append(f"{path} must be an integer ({what}), got {_type_name(value)}")
        elif not lo <= value <= hi:
            errs.append(f"{path} must be {what} (between {lo} and {hi}), got {value}")
    return _spec(check, "int", lo, hi)


_u32 = _int_range(0, 2**32 - 1, "u32")
_attempt = _int_range(1, 2**32 - 1, "an attempt number >= 1")
_u8 = _int_range(0, 255, "u8")
_i64 = _int_range(-(2**63), 2**63 - 1, "i64")
_u64 = _int_range(0, 2**64 - 1, "u64")


def _bool(value: Any, path: str, errs: list[str]) -> None:
    if not isinstance(value, bool):
        errs.append(f"{path} must be a boolean, got {_type_name(value)}")


def _ts(value: Any, path: str, errs: list[str]) -> None:
    if not isinstance(value, str):
        errs.append(f"{path} must be an RFC 3339 timestamp string, got {_type_name(value)}")
        return
    try:
        parse_timestamp_ms(value)
    except ValueError:
        errs.append(f"{path} is not an RFC 3339 timestamp: {value!r}")


def _list_str(value: Any, path: str, errs: list[str]) -> None:
    if not isinstance(value, list):
        errs.append(f"{path} must be a list of strings, got {_type_name(value)}")
        return
    for i, item in enumerate(value):
        _str(item, f"{path}[{i}]", errs)


def _map_str(value: Any, path: str, errs: list[str]) -> None:
    if not isinstance(value, dict):
        errs.append(f"{path} must be an object of strings, got {_type_name(value)}")
        return
    for key, item in value.items():
        _str(item, f"{path}.{key}", errs)


for _check, _kind in ((_str, "str"), (_nonempty_str, "nonempty"), (_bool, "bool"),
                      (_ts, "ts"), (_list_str, "list_str"), (_map_str, "map_str")):
    _spec(_check, _kind)


def _enum(values: tuple[str, ...]) -> Check:
    def check(value: Any, path: str, errs: list[str]) -> None:
        if value not in values:
            errs.append(f"{path} must be one of {', '.join(values)}, got {value!r}")
    return _spec(check, "enum", values)


def _object(required: dict[str, Check], optional: dict[str, Check] | None = None) -> Check:
    optional = optional or {}

    def check(value: Any, path: str, errs: list[str]) -> None:
        if not isinstance(value, dict):
            errs.append(f"{path} must be an object, got {_type_name(value)}")
            return
        for name, field_check in required.items():
            if value.get(name) is None:
                errs.append(f"{path}.{name} is required")
            else:
                field_check(value[name], f"{path}.{name}", errs)
        for name, field_check in optional.items():
            if value.get(name) is not None:
                field_check(value[name], f"{path}.{name}", errs)
    return _spec(check, "object", required, optional)


def _tagged(tag: str, variants: dict[str, dict[str, Check]]) -> Check:
    def check(value: Any, path: str, errs: list[str]) -> None:
        if not isinstance(value, dict):
            errs.append(f"{path} must be an object, got {_type_name(value)}")
            return
        variant = value.get(tag)
        # a list or object can be no variant (and cannot be looked up: unhashable)
        if isinstance(variant, (list, dict)) or variant not in variants:
            errs.append(f"{path}.{tag} must be one of {', '.join(variants)}, got {variant!r}")
            return
        _object(variants[variant])(value, path, errs)
    return _spec(check, "tagged", tag, variants)


def _list_of(item_check: Check) -> Check:
    def check(value: Any, path: str, errs: list[str]) -> None:
        if not isinstance(value, list):
            errs.append(f"{path} must be a list, got {_type_name(value)}")
            return
        for i, item in enumerate(value):
            item_check(item, f"{path}[{i}]", errs)
    return _spec(check, "list_of", item_check)


S = _str
TRIGGER_INFO = _tagged("type", {
    "cron": {"schedule_id": S},
    "manual": {"user_id": S},
    "materialization": {"upstream_materialization_id": S},
    "webhook": {"webhook_id": S},
    "sensor": {"sensor_id": S, "cursor": S},
})
TICK_STATUS = _tagged("status", {"triggered": {}, "skipped": {"reason": S}, "failed": {"error": S}})
TRIGGER_SOURCE = _tagged("source", {"push": {"message_id": S}, "poll": {"poll_epoch": _i64}})
SENSOR_EVAL_STATUS = _tagged("status", {
    "triggered": {}, "no_new_data": {}, "error": {"message": S}, "skipped_stale_cursor": {},
})
SOURCE_REF = _tagged("type", {
    "schedule": {"schedule_id": S, "tick_id": S},
    "sensor": {"sensor_id": S, "eval_id": S},
    "backfill": {"backfill_id": S, "chunk_id": S},
    "manual": {"user_id": S, "request_id": S},
})
PARTITION_SELECTOR = _tagged("type", {
    "range": {"start": S, "end": S},
    "explicit": {"partition_keys": _list_str},
    "filter": {"filters": _map_str},
})
RUN_REQUEST = _object(
    {"run_key": S, "request_fingerprint": S, "asset_selection": _list_str},
    {"partition_selection": _list_str, "code_version": S, "labels": _map_str},
)
TASK_DEF = _object(
    {"key": S, "depends_on": _list_str},
    {"asset_key": S, "partition_key": S, "max_attempts": _u32,
     "heartbeat_timeout_sec": _u32, "requires_visible_output": _bool},
)
TASK_OUTPUT = _object({}, {
    "materializationId": S, "rowCount": _u64, "byteSize": _u64, "outputPath": S,
    "deltaTable": S, "deltaVersion": _i64, "deltaPartition": S,
    "outputVisibilityState": _enum(("PENDING", "VISIBLE", "FAILED")), "publishedAt": _ts,
    "publishError": S,
})
TASK_ERROR = _object(
    {"category": _enum(tuple(ERROR_CATEGORIES)), "message": S},
    {"stackTrace": S, "retryable": _bool},
)
TASK_METRICS = _object({}, {
    "cpuTimeMs": _u64, "peakMemoryBytes": _u64, "ioReadBytes": _u64, "ioWriteBytes": _u64,
})
OUTPUT_VISIBILITY_UPDATE = _object(
    {"visibility_state": _enum(VISIBILITY_STATES)}, {"published_at": _ts, "publish_error": S},
)

_ATTEMPT_REF = {"run_id": S, "task_key": S, "attempt": _attempt, "attempt_id": S}
_COMPLETION_REQUIRED = {**_ATTEMPT_REF, "worker_id": S, "outcome": _enum(TASK_OUTCOMES)}
_COMPLETION_OPTIONAL: dict[str, Check] = {
    "materialization_id": S, "error_message": S, "output": TASK_OUTPUT, "error": TASK_ERROR,
    "metrics": TASK_METRICS, "cancelled_during_phase": S, "partial_progress_json": S,
    "asset_key": S, "partition_key": S, "code_version": S,
}

#: tag → (required fields, optional fields)
PAYLOADS: dict[str, tuple[dict[str, Check], dict[str, Check]]] = {
    "run_triggered": (
        {"run_id": S, "plan_id": S, "trigger": TRIGGER_INFO, "root_assets": _list_str},
        {"run_key": S, "labels": _map_str, "code_version": S},
    ),
    "plan_created": ({"run_id": S, "plan_id": S, "tasks": _list_of(TASK_DEF)}, {}),
    "run_cancel_requested": ({"run_id": S, "requested_by": S}, {"reason": S}),
    "task_started": ({**_ATTEMPT_REF, "worker_id": S}, {}),
    "task_heartbeat": (
        {**_ATTEMPT_REF, "worker_id": S},
        {"heartbeat_at": _ts, "progress_pct": _u8, "message": S},
    ),
    "task_finished": (_COMPLETION_REQUIRED, _COMPLETION_OPTIONAL),
    "task_completion_recorded": (
        _COMPLETION_REQUIRED,
        {**_COMPLETION_OPTIONAL, "output_visibility": OUTPUT_VISIBILITY_UPDATE},
    ),
    "task_output_visibility_changed": (
        {**_ATTEMPT_REF, "visibility_state": _enum(VISIBILITY_STATES)},
        {"published_at": _ts, "publish_error": S},
    ),
    "dispatch_requested": (
        {**_ATTEMPT_REF, "dispatch_id": S},
        {"worker_queue": S},
    ),
    "timer_requested": (
        {"timer_id": S, "timer_type": _enum(TIMER_TYPES), "fire_at": _ts},
        {"run_id": S, "task_key": S, "attempt": _attempt},
    ),
    "dispatch_enqueued": (
        {"dispatch_id": S, "cloud_task_id": S},
        {"run_id": S, "task_key": S, "attempt": _attempt},
    ),
    "timer_enqueued": (
        {"timer_id": S, "cloud_task_id": S},
        {"run_id": S, "task_key": S, "attempt": _attempt},
    ),
    "timer_fired": (
        {"timer_id": S, "timer_type": _enum(TIMER_TYPES)},
        {"run_id": S, "task_key": S, "attempt": _attempt},
    ),
    "schedule_definition_upserted": (
        {"schedule_id": S, "cron_expression": S, "timezone": S,
         "catchup_window_minutes": _u32, "asset_selection": _list_str,
         "max_catchup_ticks": _u32, "enabled": _bool},
        {"code_version": S},
    ),
    "schedule_ticked": (
        {"schedule_id": S, "scheduled_for": _ts, "tick_id": S, "definition_version": S,
         "asset_selection": _list_str, "status": TICK_STATUS},
        {"partition_selection": _list_str, "run_key": S, "request_fingerprint": S},
    ),
    "sensor_evaluated": (
        {"sensor_id": S, "eval_id": S, "trigger_source": TRIGGER_SOURCE,
         "status": SENSOR_EVAL_STATUS},
        {"cursor_before": S, "cursor_after": S, "expected_state_version": _u32,
         "run_requests": _list_of(RUN_REQUEST), "skip_reason": S},
    ),
    "run_requested": (
        {"run_key": S, "request_fingerprint": S, "asset_selection": _list_str,
         "trigger_source_ref": SOURCE_REF},
        {"partition_selection": _list_str, "labels": _map_str, "code_version": S},
    ),
    "backfill_created": (
        {"backfill_id": _nonempty_str, "client_request_id": _nonempty_str,
         "asset_selection": _list_str, "partition_selector": PARTITION_SELECTOR,
         "total_partitions": _u32, "chunk_size": _u32, "max_concurrent_runs": _u32},
        {"code_version": S, "parent_backfill_id": S},
    ),
    "backfill_chunk_planned": (
        {"backfill_id": S, "chunk_id": S, "chunk_index": _u32, "partition_keys": _list_str,
         "run_key": S, "request_fingerprint": S},
        {},
    ),
    "backfill_state_changed": (
        {"backfill_id": S, "from_state": _enum(BACKFILL_STATES),
         "to_state": _enum(BACKFILL_STATES), "state_version": _u32},
        {"changed_by": S},
    ),
}


def validate_payload(data: dict[str, Any]) -> list[str]:
    """Problems of a recognised payload (``data.type`` must be in :data:`EVENT_TYPES`)."""
    tag = data["type"]
    fields = PAYLOADS[tag]
    compiled = _COMPILED.get(tag)
    if compiled is None or compiled[0] is not fields:
        compiled = _COMPILED[tag] = (fields, _compile_payload(*fields))
    if compiled[1](data):
        return []
    # a problem: the checks themselves say which, in their words
    required, optional = fields
    errs: list[str] = []
    _object(required, optional)(data, "data", errs)
    return errs


# --------------------------------------------------------------------------- fast path
#
# The fold validates every event. The checks above build each message as they go and
# call one closure per field; a payload compiled into one generated predicate (inline
# type tests, one helper call per nested object) answers "valid?" several times faster.
# The predicate is at least as strict as the checks (``type(x) is str`` where they say
# ``isinstance``), so a payload it accepts has no problems, and any payload it refuses is
# checked again by the checks, which report the problems (or none).

_COMPILED: dict[str, tuple[tuple[dict[str, Check], dict[str, Check]],
                           Callable[[Any], bool]]] = {}


def _ts_ok(value: Any) -> bool:
    if type(value) is not str:
        return False
    try:
        parse_timestamp_ms(value)
    except ValueError:
        return False
    return True


def _all_str(items: Any) -> bool:
    for item in items:  # noqa: SIM110 - faster than all() over a generator
        if type(item) is not str:
            return False
    return True


class _Compiler:
    def __init__(self) -> None:
        self.env: dict[str, Any] = {"_ts_ok": _ts_ok, "_all_str": _all_str}
        self.lines: list[str] = []

    def name(self, value: Any) -> str:
        name = f"_c{len(self.env)}"
        self.env[name] = value
        return name

    def expr(self, check: Check, v: str) -> str:
        """A Python expression over the variable ``v`` that is true only when ``check``
        finds no problem in it."""
        spec = _SPECS.get(check)
        kind = spec[0] if spec else None
        if kind == "str":
            return f"type({v}) is str"
        if kind == "nonempty":
            return f"(type({v}) is str and {v} != '')"
        if kind == "int":
            assert spec is not None
            return f"(type({v}) is int and {int(spec[1])} <= {v} <= {int(spec[2])})"
        if kind == "bool":
            return f"({v} is True or {v} is False)"
        if kind == "ts":
            return f"_ts_ok({v})"
        if kind == "list_str":
            return f"(type({v}) is list and _all_str({v}))"
        if kind == "map_str":
            return f"(type({v}) is dict and _all_str({v}.values()))"
        if kind == "enum":
            assert spec is not None
            return f"({v} in {self.name(tuple(spec[1]))})"
        if kind == "object":
            assert spec is not None
            return f"{self.object(spec[1], spec[2])}({v})"
        if kind == "tagged":
            assert spec is not None
            return f"{self.tagged(spec[1], spec[2])}({v})"
        if kind == "list_of":
            assert spec is not None
            item = self.expr(spec[1], "x")
            fn = self.name(None)
            self.lines += [f"def {fn}(v):", "    if type(v) is not list: return False",
                           "    for x in v:", f"        if not {item}: return False",
                           "    return True"]
            return f"{fn}({v})"
        # an unknown check: ask it
        return f"not {self.name(_problems_of(check))}({v})"

    def object(self, required: dict[str, Check], optional: dict[str, Check]) -> str:
        body = ["    if type(d) is not dict: return False"]
        for name, check in required.items():
            body += [f"    v = d.get({name!r})",
                     f"    if v is None or not {self.expr(check, 'v')}: return False"]
        for name, check in optional.items():
            body += [f"    v = d.get({name!r})",
                     f"    if v is not None and not {self.expr(check, 'v')}: return False"]
        fn = self.name(None)
        self.lines += [f"def {fn}(d):", *body, "    return True"]
        return fn

    def tagged(self, tag: str, variants: dict[str, dict[str, Check]]) -> str:
        names = {variant: self.object(fields, {}) for variant, fields in variants.items()}
        fn = self.name(None)
        self.env[f"{fn}_fns"] = names
        self.lines += [f"def {fn}(d):", "    if type(d) is not dict: return False",
                       f"    variant = d.get({tag!r})",
                       "    if type(variant) is not str: return False",
                       f"    check = {fn}_fns.get(variant)",
                       "    return check is not None and check(d)"]
        return fn

    def build(self, required: dict[str, Check], optional: dict[str, Check]
              ) -> Callable[[Any], bool]:
        top = self.object(required, optional)
        # variant tables name functions defined later in the generated source: resolve
        # them once everything is defined
        namespace = dict(self.env)
        exec(compile("\n".join(self.lines), "<arco payload predicate>", "exec"), namespace)
        for key, value in self.env.items():
            if key.endswith("_fns"):
                namespace[key] = {variant: namespace[fn] for variant, fn in value.items()}
        predicate: Callable[[Any], bool] = namespace[top]
        return predicate


def _problems_of(check: Check) -> Callable[[Any], bool]:
    def problems(value: Any) -> bool:
        errs: list[str] = []
        check(value, "", errs)
        return bool(errs)
    return problems


def _compile_payload(required: dict[str, Check], optional: dict[str, Check]
                     ) -> Callable[[Any], bool]:
    return _Compiler().build(required, optional)


_ENVELOPE_STRINGS = ("event_type", "timestamp", "source", "tenant_id", "workspace_id",
                     "idempotency_key")


def validate_envelope(record: Any) -> list[str]:
    """Structural problems of an envelope (§2.1/§2.2), payload included when recognised.

    Scope is *not* compared here (the caller knows the workspace scope)."""
    if not isinstance(record, dict):
        return [f"an event must be a JSON object, got {_type_name(record)}"]
    errs: list[str] = []
    event_id = record.get("event_id")
    if not isinstance(event_id, str) or not event_id:
        errs.append("event_id must be a non-empty string")
    for name in _ENVELOPE_STRINGS:
        value = record.get(name)
        if not isinstance(value, str) or (name != "source" and not value):
            errs.append(f"{name} must be a non-empty string")
    version = record.get("event_version")
    if isinstance(version, bool) or not isinstance(version, int):
        errs.append("event_version must be an integer")
    if isinstance(record.get("timestamp"), str):
        _ts(record["timestamp"], "timestamp", errs)
    for name in ("correlation_id", "causation_id"):
        if record.get(name) is not None and not isinstance(record[name], str):
            errs.append(f"{name} must be a string when present")
    data = record.get("data")
    if not isinstance(data, dict):
        errs.append("data must be an object")
    elif not isinstance(data.get("type"), str):
        errs.append("data.type must be a string")
    elif data["type"] in PAYLOADS:
        errs.extend(validate_payload(data))
    return errs


def effective_retryable(error: dict[str, Any] | None) -> bool:
    """Effective retryability of a ``TaskError`` (§2.4); no structured error → True."""
    if not error:
        return True
    retryable = error.get("retryable")
    if isinstance(retryable, bool):
        return retryable
    return ERROR_CATEGORIES.get(str(error.get("category")), True)
