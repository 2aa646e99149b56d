"""RunRequested: run-key index, conflicts, differences, occurrences, stale sensor cursors
(data-model §5.9, §8.7, decisions A44, A53, A54)."""

from __future__ import annotations

import json

from arco_cli.identity import run_id_from_run_key
from tests.fold.conftest import codes, fold_scenario, outcomes

RK = "sched:daily:1735689600"


def _requests(state: object, run_key: str) -> list[dict[str, object]]:
    return [r for r in state.rows("event_outcomes")  # type: ignore[attr-defined]
            if r["event_type"] == "RunRequested" and r["idempotency_key"].startswith(
                f"runreq:{run_key}:")]


def test_first_request_reserves_the_key_with_the_tick_run_id() -> None:
    state = fold_scenario("run_keys")
    row = state.get("run_key_index", ("local", "default", RK))
    assert row is not None
    first = _requests(state, RK)[0]
    assert row["run_id"] == run_id_from_run_key("local", "default", RK)
    assert row["run_id"] == state.get("schedule_ticks", (
        "local", "default", "daily:1735689600"))["run_id"]  # type: ignore[index]
    assert (row["request_fingerprint"], row["code_version"]) == ("fp-a" * 16, "v1")
    assert row["row_version"] == first["event_id"]
    assert row["trigger_source_ref"] == \
        '{"schedule_id":"daily","tick_id":"daily:1735689600","type":"schedule"}'


def test_same_request_from_another_source_is_a_differing_duplicate() -> None:
    second = _requests(fold_scenario("run_keys"), RK)[1]
    assert (second["outcome"], second["reason"]) == ("duplicate", "duplicate_key")
    assert codes(second) == ["duplicate_payload_differs"]


def test_different_fingerprint_records_a_conflict_with_its_differences() -> None:
    state = fold_scenario("run_keys")
    requests = _requests(state, RK)
    conflict = requests[2]
    assert (conflict["outcome"], conflict["reason"]) == ("applied", "run_key_conflict")
    (row,) = state.rows("run_key_conflicts")
    assert (row["run_key"], row["existing_fingerprint"], row["conflicting_fingerprint"]) == (
        RK, "fp-a" * 16, "fp-b" * 16)
    assert row["conflicting_event_id"] == conflict["event_id"]
    assert row["existing_event_id"] == requests[0]["event_id"]
    assert json.loads(row["requested_source"])["type"] == "manual"
    assert json.loads(row["differences"]) == {
        "selection": {"added": ["raw.b"], "removed": []},
        "partitions": {"added": ["date=d:2025-01-01"], "removed": []},
        "includeUpstream": {"existing": False, "requested": True},
        "labels": {"added": {"team": "x"}, "removed": {}, "changed": {}},
        "codeVersion": {"existing": "v1", "requested": "v2"},
    }
    assert row["differences"] == json.dumps(json.loads(row["differences"]), sort_keys=True,
                                            separators=(",", ":"))
    index = state.get("run_key_index", ("local", "default", RK))
    assert index["request_fingerprint"] == "fp-a" * 16  # type: ignore[index]


def test_repeated_conflicting_request_counts_occurrences() -> None:
    state = fold_scenario("run_keys")
    repeat = _requests(state, RK)[3]
    assert repeat["outcome"] == "duplicate"
    (row,) = state.rows("run_key_conflicts")
    assert (row["occurrences"], row["last_seen_event_id"]) == (2, repeat["event_id"])


def test_request_with_a_foreign_key_and_the_same_fingerprint_is_a_match() -> None:
    state = fold_scenario("run_keys")
    (row,) = outcomes(state, f"runreq:{RK}:foreign")
    assert (row["outcome"], row["reason"]) == ("applied", "run_key_match")
    assert codes(row) == ["idempotency_key_mismatch"]


def test_stale_poll_evaluation_is_recorded_but_leaves_the_cursor() -> None:
    state = fold_scenario("run_keys")
    evaluation = state.get("sensor_evals", ("local", "default", "eval:p1:poll:2"))
    assert evaluation is not None
    assert evaluation["status"] == '{"status":"skipped_stale_cursor"}'
    row = [r for r in state.rows("event_outcomes") if r["idempotency_key"].startswith(
        "sensor_eval:p1:poll:1735689701")][0]
    assert (row["outcome"], row["reason"]) == ("applied", "stale_cursor")
    sensor = state.get("sensor_state", ("local", "default", "p1"))
    assert sensor is not None
    assert (sensor["cursor"], sensor["state_version"], sensor["last_eval_id"]) == (
        "c3", 2, "eval:p1:poll:3")


def test_requests_of_a_stale_evaluation_are_rejected_without_consuming_their_key() -> None:
    state = fold_scenario("run_keys")
    (row,) = _requests(state, "sensor:p1:poll:1735689701")
    assert (row["outcome"], row["reason"]) == ("rejected", "stale_cursor")
    assert state.get("run_key_index", ("local", "default", "sensor:p1:poll:1735689701")) is None
    assert state.get("idempotency_keys", ("local", "default", row["idempotency_key"])) is None


def test_request_naming_a_missing_evaluation_is_accepted_and_flagged() -> None:
    (row,) = _requests(fold_scenario("run_keys"), "sensor:p9:x")
    assert (row["outcome"], codes(row)) == ("applied", ["missing_sensor_eval"])


def test_push_evaluation_bumps_the_state_version_and_sets_the_cursor() -> None:
    sensor = fold_scenario("run_keys").get("sensor_state", ("local", "default", "s1"))
    assert sensor is not None
    assert (sensor["cursor"], sensor["state_version"], sensor["status"]) == ("m1", 1, "ACTIVE")


def test_evaluation_skip_reason_is_kept_in_its_column() -> None:
    row = fold_scenario("run_keys").get("sensor_evals", ("local", "default", "eval:p1:poll:1"))
    assert row is not None and row["skip_reason"] == "quiet"
