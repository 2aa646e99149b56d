"""Idempotency keys and the run id an event belongs to (data-model §3).

Both functions take a *validated* payload of a recognised type.
"""

from __future__ import annotations

from typing import Any

from arco_cli.identity import parse_timestamp_ms, sha256_hex


def _finished(d: dict[str, Any]) -> str:
    return f"finished:{d['run_id']}:{d['task_key']}:{d['attempt']}"


def _heartbeat(d: dict[str, Any]) -> str:
    key = f"heartbeat:{d['run_id']}:{d['task_key']}:{d['attempt']}:{d['attempt_id']}"
    if d.get("heartbeat_at") is not None:
        key += f":{parse_timestamp_ms(d['heartbeat_at'])}"
    return key


def schedule_definition_digest(d: dict[str, Any]) -> str:
    parts = [
        d["cron_expression"],
        d["timezone"],
        str(d["catchup_window_minutes"]),
        str(d["max_catchup_ticks"]),
        "true" if d["enabled"] else "false",
        ",".join(sorted(d["asset_selection"])),
    ]
    return sha256_hex("|".join(parts))


def _sensor_eval(d: dict[str, Any]) -> str:
    source = d["trigger_source"]
    if source["source"] == "push":
        return f"sensor_eval:{d['sensor_id']}:msg:{source['message_id']}"
    cursor = d.get("cursor_before")
    h = sha256_hex(cursor) if cursor is not None else "none"
    return f"sensor_eval:{d['sensor_id']}:poll:{source['poll_epoch']}:{h}"


_KEYS: dict[str, Any] = {
    "run_triggered": lambda d: f"run:{d['run_key']}" if d.get("run_key") is not None
    else f"run:{d['run_id']}",
    "plan_created": lambda d: f"plan:{d['run_id']}",
    "run_cancel_requested": lambda d: f"cancel_req:{d['run_id']}",
    "task_started": lambda d: f"started:{d['run_id']}:{d['task_key']}:{d['attempt']}",
    "task_heartbeat": _heartbeat,
    "task_finished": _finished,
    "task_completion_recorded": _finished,
    "task_output_visibility_changed": lambda d: (
        f"output_visibility:{d['run_id']}:{d['task_key']}:{d['attempt']}:"
        f"{d['visibility_state']}"),
    "dispatch_requested": lambda d: f"dispatch_req:{d['dispatch_id']}",
    "timer_requested": lambda d: f"timer_req:{d['timer_id']}",
    "dispatch_enqueued": lambda d: f"dispatch_ack:{d['dispatch_id']}",
    "timer_enqueued": lambda d: f"timer_ack:{d['timer_id']}",
    "timer_fired": lambda d: f"timer_fired:{d['timer_id']}",
    "schedule_definition_upserted": lambda d: (
        f"sched_def:{d['schedule_id']}:{schedule_definition_digest(d)}"),
    "schedule_ticked": lambda d: f"sched_tick:{d['tick_id']}",
    "sensor_evaluated": _sensor_eval,
    "run_requested": lambda d: (
        f"runreq:{d['run_key']}:{sha256_hex(d['request_fingerprint'])}"),
    "backfill_created": lambda d: f"backfill_create:{d['client_request_id']}",
    "backfill_chunk_planned": lambda d: f"backfill_chunk:{d['backfill_id']}:{d['chunk_index']}",
    "backfill_state_changed": lambda d: (
        f"backfill_state:{d['backfill_id']}:{d['state_version']}:{d['to_state']}"),
}


def expected_idempotency_key(data: dict[str, Any]) -> str:
    """The key the payload implies (§3), without the documented overrides."""
    key: str = _KEYS[data["type"]](data)
    return key


def is_documented_override(data: dict[str, Any], envelope_key: str, event_id: str) -> bool:
    """Whether ``envelope_key`` is one of the two documented overrides of §3."""
    kind = data["type"]
    if kind == "backfill_created" and data.get("parent_backfill_id") is not None:
        return envelope_key == (
            f"backfill_retry:{data['parent_backfill_id']}:{data['client_request_id']}")
    if kind == "schedule_definition_upserted":
        return envelope_key == f"{expected_idempotency_key(data)}:rev:{event_id}"
    return False


#: payload types whose run id comes from the payload's ``run_id`` field
_RUN_ID_FROM_PAYLOAD = frozenset({
    "run_triggered", "plan_created", "run_cancel_requested", "task_started", "task_heartbeat",
    "task_finished", "task_completion_recorded", "task_output_visibility_changed",
    "dispatch_requested", "timer_requested", "dispatch_enqueued", "timer_enqueued",
    "timer_fired",
})
#: payload types whose outcome row's run id is derived from their ``run_key``
RUN_ID_FROM_RUN_KEY = frozenset({"run_requested", "schedule_ticked", "backfill_chunk_planned"})


def payload_run_id(data: dict[str, Any]) -> str | None:
    """The payload's own ``run_id`` (what ``correlation_id`` is set to, decisions A39)."""
    if data.get("type") in _RUN_ID_FROM_PAYLOAD:
        run_id = data.get("run_id")
        return run_id if isinstance(run_id, str) else None
    return None
