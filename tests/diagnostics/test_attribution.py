from __future__ import annotations

from arco_cli.diagnostics import run_read_shape
from arco_cli.diagnostics.attribution import cancel_attribution, skip_attribution
from tests.diagnostics.conftest import FakeState, edge_row, outcome_row, run_row, task_row

T0 = "2025-01-01T00:00:00.000Z"
T1 = "2025-01-01T00:00:01.000Z"


def _skip_of(edges: list[dict[str, object]], **task: object) -> dict[str, object] | None:
    row = task_row("r", "d.down", state="SKIPPED", **task)  # type: ignore[arg-type]
    return skip_attribution(row, edges)  # type: ignore[arg-type]


def test_skip_names_a_failed_upstream_as_cause_and_root() -> None:
    edges = [edge_row("r", "a.up", "d.down", "FAILED", T0)]
    assert _skip_of(edges) == {
        "upstreamTaskKey": "a.up", "upstreamResolution": "FAILED",
        "reasonCode": "UPSTREAM_FAILED", "rootCauseTaskKey": "a.up",
        "message": "Skipped because upstream task a.up failed."}


def test_skip_tie_break_on_equal_time_is_the_upstream_key_not_event_order() -> None:
    edges = [edge_row("r", "z.up", "d.down", "FAILED", T0, row_version="01A"),
             edge_row("r", "b.up", "d.down", "CANCELLED", T0, row_version="01B")]
    skip = _skip_of(edges)
    assert skip is not None and skip["upstreamTaskKey"] == "b.up"
    assert skip["reasonCode"] == "UPSTREAM_CANCELLED"
    assert skip["message"] == "Skipped because upstream task b.up was cancelled."


def test_skip_earliest_edge_wins_and_null_time_counts_as_zero() -> None:
    edges = [edge_row("r", "a.up", "d.down", "FAILED", T1),
             edge_row("r", "b.up", "d.down", "SKIPPED", None)]
    skip = _skip_of(edges)
    assert skip is not None and skip["upstreamTaskKey"] == "b.up"


def test_skip_ignores_satisfied_edges() -> None:
    edges = [edge_row("r", "a.up", "d.down", "SUCCESS", T0),
             edge_row("r", "b.up", "d.down", "FAILED", T1)]
    skip = _skip_of(edges)
    assert skip is not None and skip["upstreamTaskKey"] == "b.up"


def test_skip_follows_skipped_upstreams_to_the_root_cause() -> None:
    edges = [edge_row("r", "a.root", "b.mid", "FAILED", T0),
             edge_row("r", "b.mid", "c.mid", "SKIPPED", T0),
             edge_row("r", "c.mid", "d.down", "SKIPPED", T0)]
    skip = _skip_of(edges)
    assert skip is not None
    assert skip["reasonCode"] == "UPSTREAM_SKIPPED" and skip["rootCauseTaskKey"] == "a.root"
    assert skip["message"] == ("Skipped because upstream task c.mid was skipped; "
                               "root cause: task a.root.")


def test_skip_root_cause_stops_at_a_worker_skipped_upstream_and_at_cycles() -> None:
    edges = [edge_row("r", "c.mid", "d.down", "SKIPPED", T0)]
    skip = _skip_of(edges)
    assert skip is not None and skip["rootCauseTaskKey"] == "c.mid"
    cyclic = [edge_row("r", "c.mid", "d.down", "SKIPPED", T0),
              edge_row("r", "d.down", "c.mid", "SKIPPED", T0)]
    skip = _skip_of(cyclic)
    assert skip is not None and skip["rootCauseTaskKey"] == "d.down"


def test_worker_skip_without_edges_is_worker_reported() -> None:
    history = [{"attempt": 1, "outcome": "SKIPPED", "errorMessage": "no new data"}]
    assert _skip_of([], attempt=1, history=history) == {
        "reasonCode": "WORKER_REPORTED", "message": "Skipped by the worker on attempt 1."}


def test_non_success_edge_wins_over_the_worker_skip() -> None:
    history = [{"attempt": 1, "outcome": "SKIPPED"}]
    skip = _skip_of([edge_row("r", "a.up", "d.down", "FAILED", T0)], attempt=1,
                    history=history)
    assert skip is not None and skip["reasonCode"] == "UPSTREAM_FAILED"


def test_only_skipped_tasks_get_skip_attribution() -> None:
    row = task_row("r", "d.down", state="CANCELLED")
    assert skip_attribution(row, [edge_row("r", "a.up", "d.down", "CANCELLED", T0)]) is None


def test_cancel_attribution_distinguishes_run_upstream_and_worker() -> None:
    cancelled = task_row("r", "d.down", state="CANCELLED")
    edge_before = [edge_row("r", "a.up", "d.down", "CANCELLED", T0, row_version="01A")]
    edge_after = [edge_row("r", "a.up", "d.down", "CANCELLED", T0, row_version="01C")]
    assert cancel_attribution(cancelled, [], "01B") == {
        "reasonCode": "RUN_CANCELLED",
        "message": "Cancelled because a cancel was requested for the run."}
    assert cancel_attribution(cancelled, edge_before, "01B") == {
        "reasonCode": "UPSTREAM_CANCELLED", "upstreamTaskKey": "a.up",
        "message": "Cancelled because upstream task a.up was cancelled."}
    after = cancel_attribution(cancelled, edge_after, "01B")
    assert after is not None and after["reasonCode"] == "RUN_CANCELLED"
    worker = task_row("r", "d.down", state="CANCELLED", attempt=2,
                      history=[{"attempt": 2, "outcome": "CANCELLED"}])
    assert cancel_attribution(worker, edge_before, None) == {
        "reasonCode": "WORKER_REPORTED", "message": "Cancelled by the worker on attempt 2."}


def _retried() -> FakeState:
    history = [
        {"attempt": 1, "attemptId": "att_1", "outcome": "FAILED", "errorMessage": "boom",
         "errorCategory": "USER_CODE", "retryable": True,
         "startedAt": 1735689600000, "completedAt": 1735689601000},
        {"attempt": 2, "attemptId": "att_2", "outcome": "FAILED", "errorMessage": "again",
         "errorCategory": "USER_CODE", "retryable": True, "startedAt": 1735689660000,
         "completedAt": 1735689661000},
    ]
    st = FakeState().add("runs", run_row("r", cancel_requested=True))
    st.add("tasks", task_row("r", "a.flaky", state="RETRY_WAIT", attempt=2, history=history,
                             retry_not_before="2025-01-01T00:03:00.000Z"))
    st.add("tasks", task_row("r", "b.late", state="RUNNING", attempt=3,
                             history=[{"attempt": 3, "attemptId": "att_3"}]))
    st.add("tasks", task_row("r", "c.cut", state="CANCELLED"))
    st.add("event_outcomes", outcome_row("01B", "RunCancelRequested", "applied", run_id="r"))
    return st


def test_retry_attribution_counts_retries_and_renders_the_history() -> None:
    task = run_read_shape(_retried(), "r")["tasks"][0]
    retry = task["retryAttribution"]
    assert list(retry) == ["retries", "reason", "attempts", "nextRetryNotBefore"]
    assert retry["retries"] == 1 and retry["reason"] == "prior_attempt_failed"
    assert retry["nextRetryNotBefore"] == "2025-01-01T00:03:00.000Z"
    assert task["retryNotBefore"] == "2025-01-01T00:03:00.000Z"
    assert retry["attempts"][0] == {
        "attempt": 1, "attemptId": "att_1", "outcome": "FAILED", "errorMessage": "boom",
        "errorCategory": "USER_CODE", "retryable": True,
        "startedAt": "2025-01-01T00:00:00.000Z", "completedAt": "2025-01-01T00:00:01.000Z"}


def test_retry_attribution_counts_unobserved_attempts_from_the_attempt_number() -> None:
    task = run_read_shape(_retried(), "r")["tasks"][1]
    retry = task["retryAttribution"]
    assert retry["retries"] == 2 and [a["attempt"] for a in retry["attempts"]] == [3]
    assert "nextRetryNotBefore" not in retry and "retryNotBefore" not in task


def test_attempt_logs_are_added_when_a_locator_finds_them() -> None:
    def logs(run_id: str, task_key: str, attempt: int) -> dict[str, str]:
        return {"stderr": f".arco/runs/{run_id}/{task_key}/{attempt}.stderr"} \
            if attempt == 1 else {}

    task = run_read_shape(_retried(), "r", logs=logs)["tasks"][0]
    first, second = task["retryAttribution"]["attempts"]
    assert first["logs"] == {"stderr": ".arco/runs/r/a.flaky/1.stderr"}
    assert "logs" not in second


def test_run_cancel_is_attributed_in_the_read_shape() -> None:
    task = run_read_shape(_retried(), "r")["tasks"][2]
    assert task["cancelAttribution"]["reasonCode"] == "RUN_CANCELLED"


def test_current_attempt_logs_are_on_the_task_even_without_a_retry() -> None:
    def logs(run_id: str, task_key: str, attempt: int) -> dict[str, str]:
        return {"stderr": f".arco/runs/{run_id}/{task_key}/{attempt}.stderr"}

    st = FakeState().add("runs", run_row("r"))
    st.add("tasks", task_row("r", "a.once", state="FAILED", attempt=1, history=[
        {"attempt": 1, "attemptId": "att_1", "outcome": "FAILED", "errorMessage": "boom"}]))
    task = run_read_shape(st, "r", logs=logs)["tasks"][0]
    assert "retryAttribution" not in task
    assert task["logs"] == {"stderr": ".arco/runs/r/a.once/1.stderr"}
    assert "logs" not in run_read_shape(st, "r")["tasks"][0]  # no locator, no files
