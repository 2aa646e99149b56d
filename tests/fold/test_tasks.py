"""Task events, retries and backoff, attempt history (data-model §5.4, §5.5, §8.5)."""

from __future__ import annotations

import json

from arco_cli.fold import FoldState
from arco_cli.identity import parse_timestamp_ms, ulid_time_ms
from tests.fold.conftest import codes, fold_scenario, only_outcome, outcomes, run, task

RUN = "run_retry"


def _event_id(state: FoldState, key: str) -> str:
    event_id: str = outcomes(state, key)[-1]["event_id"]
    return event_id


def test_retryable_failure_waits_with_backoff_anchored_at_the_event_id_time() -> None:
    key = "finished:run_retry:raw.a:1"
    state = fold_scenario("retries", until_key=key)
    row = task(state, RUN, "raw.a")
    assert row["state"] == "RETRY_WAIT"
    assert row["retry_not_before"] == ulid_time_ms(_event_id(state, key)) + 30_000
    assert row["error_message"] == "boom 1"
    assert row["completed_at"] is None
    assert run(state, RUN)["tasks_completed"] == 0


def test_retry_timer_overwrites_retry_not_before_with_its_fire_time() -> None:
    state = fold_scenario("retries",
                          until_key="timer_req:timer:retry:run_retry:raw.a:1:1735690200")
    assert task(state, RUN, "raw.a")["retry_not_before"] == parse_timestamp_ms(
        "2025-01-01T00:10:00Z")


def test_task_started_clears_the_retry_time_and_keeps_the_error_message() -> None:
    state = fold_scenario("retries", until_key="started:run_retry:raw.a:2")
    row = task(state, RUN, "raw.a")
    assert (row["state"], row["attempt"], row["attempt_id"]) == ("RUNNING", 2, "att_raw.a_2")
    assert row["retry_not_before"] is None
    assert row["error_message"] == "boom 1"


def test_late_report_of_a_superseded_attempt_is_rejected_as_stale() -> None:
    state = fold_scenario("retries")
    row = only_outcome(state, "finished:run_retry:raw.a:2")
    assert (row["outcome"], row["reason"]) == ("rejected", "stale_attempt")
    assert row["run_id"] == RUN and row["task_key"] == "raw.a"


def test_second_start_of_an_attempt_with_another_attempt_id_is_a_differing_duplicate() -> None:
    state = fold_scenario("retries")
    first, second = outcomes(state, "started:run_retry:raw.a:1")
    assert first["outcome"] == "applied"
    assert (second["outcome"], second["reason"]) == ("duplicate", "duplicate_key")
    assert first["event_id"] in second["detail"]
    assert codes(second) == ["duplicate_payload_differs"]


def test_start_after_success_is_rejected_as_terminal_task() -> None:
    state = fold_scenario("retries")
    assert only_outcome(state, "started:run_retry:raw.a:4")["reason"] == "terminal_task"


def test_non_retryable_error_category_fails_the_task_at_once() -> None:
    state = fold_scenario("retries")
    row = task(state, RUN, "raw.q")
    assert row["state"] == "FAILED"
    assert row["completed_at"] is not None
    assert row["retry_not_before"] is None


def test_retryable_failure_on_the_last_attempt_fails_the_task() -> None:
    row = task(fold_scenario("retries"), RUN, "raw.z")
    assert (row["state"], row["error_message"]) == ("FAILED", "no error object")


def test_completion_of_a_missing_task_is_unknown_task() -> None:
    state = fold_scenario("retries")
    assert only_outcome(state, "finished:run_retry:raw.nope:1")["reason"] == "unknown_task"


def test_completion_of_a_never_started_task_is_unstarted_attempt() -> None:
    state = fold_scenario("retries")
    rows = outcomes(state, "finished:run_retry:raw.b:1")
    assert (rows[0]["outcome"], rows[0]["reason"]) == ("rejected", "unstarted_attempt")
    assert rows[1]["outcome"] == "applied"  # the key was not consumed by the rejection


def test_heartbeat_time_is_floored_to_milliseconds() -> None:
    state = fold_scenario("retries", until_key="finished:run_retry:raw.b:1")
    assert task(state, RUN, "raw.b")["last_heartbeat_at"] == parse_timestamp_ms(
        "2025-01-01T00:20:00.123Z")


def test_retry_timer_of_another_attempt_leaves_the_retry_time_alone() -> None:
    key = "finished:run_retry:raw.b:1"
    state = fold_scenario("retries",
                          until_key="timer_req:timer:retry:run_retry:raw.b:2:1735690800")
    row = task(state, RUN, "raw.b")
    assert row["retry_not_before"] == ulid_time_ms(_event_id(state, key)) + 30_000
    state = fold_scenario("retries",
                          until_key="timer_req:timer:retry:run_retry:raw.b:1:1735690800")
    assert task(state, RUN, "raw.b")["retry_not_before"] == parse_timestamp_ms(
        "2025-01-01T00:20:00Z")


def test_start_of_an_attempt_older_than_the_current_one_is_stale() -> None:
    state = fold_scenario("retries")
    assert only_outcome(state, "started:run_retry:raw.b:2")["reason"] == "stale_attempt"
    assert task(state, RUN, "raw.b")["attempt"] == 3


def test_task_first_seen_at_attempt_two_backs_off_sixty_seconds() -> None:
    state = fold_scenario("retries")
    key = "finished:run_retry:raw.w:2"
    row = task(state, RUN, "raw.w")
    assert row["state"] == "RETRY_WAIT"
    assert row["retry_not_before"] == ulid_time_ms(_event_id(state, key)) + 60_000


def test_attempt_history_lists_every_observed_attempt_in_order() -> None:
    history = json.loads(task(fold_scenario("retries"), RUN, "raw.a")["attempt_history"])
    assert [(h["attempt"], h.get("outcome")) for h in history] == [
        (1, "FAILED"), (2, None), (3, "SUCCEEDED")]
    first = history[0]
    assert first["attemptId"] == "att_raw.a_1"
    assert (first["errorMessage"], first["errorCategory"], first["retryable"]) == (
        "boom 1", "USER_CODE", True)
    assert first["startedAt"] < first["completedAt"]
    assert "completedAt" not in history[1]


def test_attempt_history_is_null_before_any_attempt() -> None:
    state = fold_scenario("retries", until_key="plan:run_retry")
    assert task(state, RUN, "raw.a")["attempt_history"] is None


def test_success_satisfies_the_downstream_edge_and_readies_the_task() -> None:
    key = "finished:run_retry:raw.a:3"
    state = fold_scenario("retries", until_key=key)
    edge = state.get("dep_satisfaction", (RUN, "raw.a", "raw.b"))
    assert edge is not None
    assert (edge["satisfied"], edge["resolution"], edge["satisfying_attempt"]) == (
        True, "SUCCESS", 3)
    downstream = task(state, RUN, "raw.b")
    assert (downstream["state"], downstream["deps_satisfied_count"]) == ("READY", 1)
    assert downstream["ready_at"] == edge["satisfied_at"]
    assert edge["row_version"] == _event_id(state, key)


def test_run_counters_follow_terminal_tasks_only() -> None:
    row = run(fold_scenario("retries"), RUN)
    assert (row["state"], row["tasks_total"], row["tasks_completed"]) == ("RUNNING", 5, 3)
    assert (row["tasks_succeeded"], row["tasks_failed"]) == (1, 2)
