"""Skip and cancel cascades, plan quirks and run cancellation (data-model §5.3, §5.6)."""

from __future__ import annotations

from tests.fold.conftest import codes, fold_scenario, only_outcome, outcomes, run, task


def _edge(state: object, run_id: str, up: str, down: str) -> dict[str, object]:
    edge = state.get("dep_satisfaction", (run_id, up, down))  # type: ignore[attr-defined]
    assert edge is not None
    return edge  # type: ignore[no-any-return]


def test_failure_skips_the_whole_downstream_chain_without_timestamps() -> None:
    state = fold_scenario("skip_cascade")
    for key in ("raw.b", "raw.c", "raw.d", "raw.e"):
        row = task(state, "run_skip", key)
        assert row["state"] == "SKIPPED", key
        assert row["completed_at"] is None and row["error_message"] is None
    assert _edge(state, "run_skip", "raw.a", "raw.b")["resolution"] == "FAILED"
    assert _edge(state, "run_skip", "raw.b", "raw.c")["resolution"] == "SKIPPED"
    assert _edge(state, "run_skip", "raw.a", "raw.d")["resolution"] == "FAILED"
    assert _edge(state, "run_skip", "raw.d", "raw.e")["resolution"] == "SKIPPED"
    assert _edge(state, "run_skip", "raw.b", "raw.c")["satisfied_at"] is not None


def test_dependent_with_a_satisfied_upstream_is_still_skipped_by_a_failed_one() -> None:
    state = fold_scenario("skip_cascade")
    assert _edge(state, "run_skip", "raw.x", "raw.d")["resolution"] == "SUCCESS"
    assert task(state, "run_skip", "raw.d")["deps_satisfied_count"] == 1
    assert task(state, "run_skip", "raw.d")["state"] == "SKIPPED"


def test_run_with_a_failure_and_skips_ends_failed_when_all_tasks_are_terminal() -> None:
    state = fold_scenario("skip_cascade")
    row = run(state, "run_skip")
    assert (row["state"], row["tasks_completed"], row["tasks_failed"],
            row["tasks_skipped"], row["tasks_succeeded"]) == ("FAILED", 6, 1, 4, 1)
    assert row["completed_at"] == task(state, "run_skip", "raw.a")["completed_at"]


def test_worker_reported_skip_cascades_and_the_run_still_succeeds() -> None:
    state = fold_scenario("skip_cascade")
    assert task(state, "run_wskip", "raw.a")["completed_at"] is not None
    assert task(state, "run_wskip", "raw.b")["state"] == "SKIPPED"
    assert _edge(state, "run_wskip", "raw.a", "raw.b")["resolution"] == "SKIPPED"
    assert run(state, "run_wskip")["state"] == "SUCCEEDED"


def test_plan_quirks_are_flagged_and_repaired() -> None:
    state = fold_scenario("skip_cascade")
    plan = only_outcome(state, "plan:run_quirk")
    assert plan["outcome"] == "applied"
    assert codes(plan) == ["dangling_dependency", "duplicate_task_key"]
    replaced = task(state, "run_quirk", "raw.a")
    assert (replaced["state"], replaced["deps_total"]) == ("BLOCKED", 1)
    assert task(state, "run_quirk", "raw.b")["deps_total"] == 1  # repeated upstream once
    assert [(e["upstream_task_key"], e["downstream_task_key"])
            for e in state.edges_of("run_quirk")] == [("raw.a", "raw.b"),
                                                      ("raw.ghost", "raw.a")]


def test_run_triggered_after_its_plan_recomputes_the_counters() -> None:
    row = run(fold_scenario("skip_cascade"), "run_quirk")
    assert (row["state"], row["tasks_total"]) == ("RUNNING", 2)


def test_starting_a_blocked_task_is_accepted_and_flagged() -> None:
    state = fold_scenario("skip_cascade")
    assert codes(only_outcome(state, "started:run_quirk:raw.b:1")) == ["started_while_blocked"]
    assert task(state, "run_quirk", "raw.b")["state"] == "RUNNING"


def test_empty_plan_leaves_the_run_running() -> None:
    state = fold_scenario("skip_cascade")
    assert codes(only_outcome(state, "plan:run_empty")) == ["empty_plan"]
    assert (run(state, "run_empty")["state"], state.tasks_of("run_empty")) == ("RUNNING", [])


def test_cancel_before_plan_cancels_the_run_and_rejects_its_plan() -> None:
    state = fold_scenario("cancel")
    row = run(state, "run_early")
    cancel = only_outcome(state, "cancel_req:run_early")
    assert (row["state"], row["cancel_requested"]) == ("CANCELLED", True)
    assert row["completed_at"] == state.get("idempotency_keys", (
        "local", "default", "cancel_req:run_early"))["recorded_at"]  # type: ignore[index]
    assert cancel["outcome"] == "applied"
    assert only_outcome(state, "plan:run_early")["reason"] == "terminal_run"
    assert state.tasks_of("run_early") == []


def test_cancel_leaves_running_tasks_to_their_worker() -> None:
    state = fold_scenario("cancel", until_key="cancel_req:run_busy")
    assert task(state, "run_busy", "raw.a")["state"] == "RUNNING"
    for key in ("raw.b", "raw.c"):
        row = task(state, "run_busy", key)
        assert (row["state"], row["completed_at"]) == ("CANCELLED", None)
    row = run(state, "run_busy")
    assert (row["state"], row["cancel_requested"], row["tasks_cancelled"],
            row["tasks_completed"]) == ("RUNNING", True, 2, 2)
    assert state.get("dep_satisfaction", ("run_busy", "raw.a", "raw.b"))["resolution"] is None  # type: ignore[index]


def test_run_is_cancelled_once_its_running_task_reports() -> None:
    state = fold_scenario("cancel")
    row = run(state, "run_busy")
    assert (row["state"], row["tasks_cancelled"], row["tasks_completed"]) == ("CANCELLED", 3, 3)
    assert _edge(state, "run_busy", "raw.a", "raw.b")["resolution"] == "CANCELLED"


def test_cancel_of_an_unknown_run_and_of_a_finished_run_are_rejected() -> None:
    state = fold_scenario("cancel")
    assert only_outcome(state, "cancel_req:run_ghost")["reason"] == "unknown_run"
    assert only_outcome(state, "cancel_req:run_done")["reason"] == "terminal_run"
    assert run(state, "run_done")["state"] == "SUCCEEDED"


def test_worker_reported_cancel_cascades_cancelled() -> None:
    state = fold_scenario("cancel")
    for key in ("raw.b", "raw.c"):
        assert task(state, "run_wcancel", key)["state"] == "CANCELLED"
    assert _edge(state, "run_wcancel", "raw.b", "raw.c")["resolution"] == "CANCELLED"
    assert run(state, "run_wcancel")["state"] == "CANCELLED"


def test_rejected_cancel_does_not_consume_its_key() -> None:
    state = fold_scenario("cancel")
    assert state.get("idempotency_keys", ("local", "default", "cancel_req:run_ghost")) is None
    assert len(outcomes(state, "cancel_req:run_ghost")) == 1


def test_rerun_naming_a_parent_without_a_run_row_is_flagged() -> None:
    state = fold_scenario("duplicates")
    assert only_outcome(state, "run:run_child")["diagnostics"] is None
    assert codes(only_outcome(state, "run:run_orphan")) == ["unknown_parent_run"]
    assert run(state, "run_orphan")["labels"] == \
        '{"arco.parent_run_id":"run_missing","arco.rerun.kind":"FROM_FAILURE"}'
