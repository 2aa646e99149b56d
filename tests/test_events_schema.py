from __future__ import annotations

from arco_cli.events import (
    expected_idempotency_key,
    is_documented_override,
    make_event,
    validate_envelope,
)
from arco_cli.identity import sha256_hex

SCOPE = {"tenant_id": "local", "workspace_id": "default"}


def _event(data: dict[str, object]) -> dict[str, object]:
    return make_event(data, event_id="01J00000000000000000000001", timestamp_ms=0, **SCOPE)


def test_make_event_sets_expected_key_and_correlation_id() -> None:
    ev = _event({"type": "run_cancel_requested", "run_id": "run_x", "requested_by": "alice",
                 "reason": None})
    assert ev["idempotency_key"] == "cancel_req:run_x"
    assert ev["correlation_id"] == "run_x"
    assert ev["event_type"] == "RunCancelRequested"
    assert "reason" not in ev["data"]  # type: ignore[operator]
    assert validate_envelope(ev) == []


def test_run_requested_has_no_correlation_id_and_hashes_fingerprint() -> None:
    ev = _event({"type": "run_requested", "run_key": "k", "request_fingerprint": "fp",
                 "asset_selection": ["a.b"], "labels": {},
                 "trigger_source_ref": {"type": "manual", "user_id": "u", "request_id": "r"}})
    assert "correlation_id" not in ev
    assert "labels" not in ev["data"]  # type: ignore[operator]
    assert ev["idempotency_key"] == f"runreq:k:{sha256_hex('fp')}"


def test_heartbeat_key_includes_epoch_ms_when_present() -> None:
    data = {"type": "task_heartbeat", "run_id": "r", "task_key": "t", "attempt": 2,
            "attempt_id": "a", "worker_id": "w", "heartbeat_at": "1970-01-01T00:00:01.5Z"}
    assert expected_idempotency_key(data) == "heartbeat:r:t:2:a:1500"


def test_schedule_definition_key_hashes_six_parts() -> None:
    data = {"type": "schedule_definition_upserted", "schedule_id": "s",
            "cron_expression": "0 2 * * *",
            "timezone": "UTC", "catchup_window_minutes": 0, "asset_selection": ["b.b", "a.a"],
            "max_catchup_ticks": 1, "enabled": True}
    digest = sha256_hex("0 2 * * *|UTC|0|1|true|a.a,b.b")
    assert expected_idempotency_key(data) == f"sched_def:s:{digest}"
    assert is_documented_override(data, f"sched_def:s:{digest}:rev:E1", "E1")


def test_poll_sensor_key_uses_cursor_hash_or_none() -> None:
    base = {"type": "sensor_evaluated", "sensor_id": "s", "eval_id": "e",
            "trigger_source": {"source": "poll", "poll_epoch": 10},
            "status": {"status": "triggered"}}
    assert expected_idempotency_key(base) == "sensor_eval:s:poll:10:none"
    assert expected_idempotency_key({**base, "cursor_before": "c"}) == (
        f"sensor_eval:s:poll:10:{sha256_hex('c')}")


def test_validation_reports_each_problem() -> None:
    ev = _event({"type": "task_started", "run_id": "r", "task_key": "t", "attempt": 1,
                 "attempt_id": "a", "worker_id": "w"})
    ev["data"]["attempt"] = 0  # type: ignore[index]
    ev["timestamp"] = "yesterday"
    problems = validate_envelope(ev)
    assert any("data.attempt" in p for p in problems)
    assert any("timestamp" in p for p in problems)


def test_unknown_payload_type_is_structurally_valid() -> None:
    ev = _event({"type": "run_cancel_requested", "run_id": "r", "requested_by": "u"})
    ev["data"] = {"type": "something_new", "x": 1}
    assert validate_envelope(ev) == []
