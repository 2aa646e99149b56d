from __future__ import annotations

import pytest

from arco_cli.diagnostics import public_run_state, rerun_chain, run_read_shape, runs_list
from arco_cli.errors import ArcoError
from tests.diagnostics.conftest import FakeState, run_row, task_row

RUN_KEYS = ["runId", "workspaceId", "planId", "state", "createdAt", "startedAt", "completedAt",
            "tasks", "taskCounts", "labels", "parentRunId", "rerunKind", "rerunReason",
            "runKey", "rootRunId"]


def _failed_rerun() -> FakeState:
    labels = {"arco.parent_run_id": "run_parent", "arco.rerun.kind": "FROM_FAILURE",
              "arco.root_run_id": "run_root", "team": "data"}
    st = FakeState()
    st.add("runs", run_row("run_x", state="FAILED", labels=labels, run_key="rk",
                           completed_at="2025-01-01T00:05:00.000Z",
                           counts={"total": 3, "completed": 2, "failed": 1, "succeeded": 1}))
    st.add("tasks", task_row("run_x", "b.two", state="RETRY_WAIT", attempt=1,
                             started_at="2025-01-01T00:01:00.000Z",
                             retry_not_before="2025-01-01T00:02:00.000Z",
                             error_message="boom"))
    st.add("tasks", task_row("run_x", "a.one", state="SUCCEEDED", attempt=1,
                             started_at="2025-01-01T00:00:30.123Z",
                             completed_at="2025-01-01T00:00:40.000Z",
                             execution_lineage_ref='{"runId":"run_x","taskKey":"a.one","attempt":1}',
                             delta_table="warehouse/a", delta_version=4,
                             delta_partition="date=2025-01-01",
                             partition_key="date=d:2025-01-01"))
    st.add("tasks", task_row("run_x", "c.three", state="READY"))
    return st


def test_run_read_shape_has_every_field_in_spec_order() -> None:
    shape = run_read_shape(_failed_rerun(), "run_x")
    assert list(shape) == RUN_KEYS
    assert shape["state"] == "FAILED"
    assert shape["createdAt"] == "2025-01-01T00:00:00.000Z"
    assert shape["startedAt"] == "2025-01-01T00:00:30.123Z"
    assert shape["completedAt"] == "2025-01-01T00:05:00.000Z"
    assert shape["parentRunId"] == "run_parent"
    assert shape["rerunKind"] == "FROM_FAILURE"
    assert shape["rerunReason"] == "from_failure_unsucceeded_tasks"
    assert shape["rootRunId"] == "run_root" and shape["runKey"] == "rk"
    assert shape["labels"]["team"] == "data" and shape["workspaceId"] == "default"


def test_task_counts_mix_run_counters_and_public_task_states() -> None:
    counts = run_read_shape(_failed_rerun(), "run_x")["taskCounts"]
    assert counts == {"total": 3, "pending": 1, "queued": 1, "running": 0, "succeeded": 1,
                      "failed": 1, "skipped": 0, "cancelled": 0}


def test_tasks_are_sorted_and_carry_lineage_and_retry_wait_fields() -> None:
    tasks = run_read_shape(_failed_rerun(), "run_x")["tasks"]
    assert [t["taskKey"] for t in tasks] == ["a.one", "b.two", "c.three"]
    a, b, c = tasks
    assert a["executionLineageRef"] == '{"runId":"run_x","taskKey":"a.one","attempt":1}'
    assert (a["deltaTable"], a["deltaVersion"], a["deltaPartition"]) == \
        ("warehouse/a", 4, "date=2025-01-01")
    assert a["partitionKey"] == "date=d:2025-01-01" and a["completedAt"].endswith("40.000Z")
    assert b["state"] == "PENDING" and b["retryNotBefore"] == "2025-01-01T00:02:00.000Z"
    assert b["errorMessage"] == "boom" and "retryAttribution" not in b
    assert c == {"taskKey": "c.three", "assetKey": "c.three", "state": "QUEUED", "attempt": 0}


def test_unknown_run_is_an_unknown_run_error() -> None:
    with pytest.raises(ArcoError) as err:
        run_read_shape(FakeState(), "run_nope")
    assert err.value.code == "UNKNOWN_RUN"


@pytest.mark.parametrize(("fold", "cancel", "visibility", "expected"), [
    ("RUNNING", True, None, "CANCELLING"),
    ("CANCELLED", True, None, "CANCELLED"),
    ("FAILED", False, None, "FAILED"),
    ("SUCCEEDED", False, "FAILED", "FAILED"),
    ("SUCCEEDED", False, "PENDING", "RUNNING"),
    ("SUCCEEDED", False, "VISIBLE", "SUCCEEDED"),
    ("TRIGGERED", False, None, "PENDING"),
    ("RUNNING", False, "FAILED", "FAILED"),
])
def test_public_run_state_follows_the_first_matching_rule(
        fold: str, cancel: bool, visibility: str | None, expected: str) -> None:
    run = run_row("r", state=fold, cancel_requested=cancel)
    task = task_row("r", "t", state="SUCCEEDED", requires_visible_output=True,
                    output_visibility_state=visibility)
    assert public_run_state(run, [task]) == expected


def test_visibility_is_ignored_for_tasks_that_do_not_require_it() -> None:
    run = run_row("r", state="SUCCEEDED")
    task = task_row("r", "t", state="SUCCEEDED", output_visibility_state="PENDING")
    assert public_run_state(run, [task]) == "SUCCEEDED"


def test_completed_at_is_hidden_while_the_public_state_is_not_terminal() -> None:
    st = FakeState().add("runs", run_row("r", state="SUCCEEDED",
                                         completed_at="2025-01-01T01:00:00.000Z"))
    st.add("tasks", task_row("r", "t", state="SUCCEEDED", requires_visible_output=True,
                             output_visibility_state="PENDING"))
    shape = run_read_shape(st, "r")
    assert shape["state"] == "RUNNING" and "completedAt" not in shape


def test_unknown_rerun_kind_yields_no_kind_and_no_reason() -> None:
    st = FakeState().add("runs", run_row("r", labels={"arco.rerun.kind": "WHATEVER",
                                                      "arco.parent_run_id": "p"}))
    shape = run_read_shape(st, "r")
    assert shape["parentRunId"] == "p"
    assert "rerunKind" not in shape and "rerunReason" not in shape


def test_rerun_chain_lists_root_first_and_unknown_parent_with_only_its_id() -> None:
    st = FakeState()
    st.add("runs", run_row("run_b", labels={"arco.parent_run_id": "run_gone",
                                            "arco.rerun.kind": "SUBSET"}))
    st.add("runs", run_row("run_c", labels={"arco.parent_run_id": "run_b",
                                            "arco.rerun.kind": "FROM_FAILURE"}))
    assert rerun_chain(st, "run_c") == [
        {"runId": "run_gone"},
        {"runId": "run_b", "rerunKind": "SUBSET", "rerunReason": "subset_selection"},
        {"runId": "run_c", "rerunKind": "FROM_FAILURE",
         "rerunReason": "from_failure_unsucceeded_tasks"},
    ]


def test_rerun_chain_of_a_plain_run_is_the_run_itself_and_stops_at_a_cycle() -> None:
    st = FakeState().add("runs", run_row("solo"))
    assert rerun_chain(st, "solo") == [{"runId": "solo"}]
    st.add("runs", run_row("x", labels={"arco.parent_run_id": "y"}))
    st.add("runs", run_row("y", labels={"arco.parent_run_id": "x"}))
    assert [i["runId"] for i in rerun_chain(st, "x")] == ["y", "x"]


def _many_runs() -> FakeState:
    st = FakeState()
    st.add("runs", run_row("run_b", state="SUCCEEDED", triggered_at="2025-01-02T00:00:00.000Z",
                           completed_at="2025-01-02T00:01:00.000Z"))
    st.add("runs", run_row("run_a", state="FAILED", triggered_at="2025-01-02T00:00:00.000Z",
                           run_key="nightly", completed_at="2025-01-02T00:02:00.000Z"))
    st.add("runs", run_row("run_c", state="RUNNING", triggered_at="2025-01-03T00:00:00.000Z",
                           labels={"arco.parent_run_id": "run_a",
                                   "arco.rerun.kind": "FROM_FAILURE"}))
    return st


def test_runs_are_listed_newest_first_then_by_run_id() -> None:
    runs = runs_list(_many_runs())["runs"]
    assert [r["runId"] for r in runs] == ["run_c", "run_a", "run_b"]
    assert runs[0]["parentRunId"] == "run_a"
    assert runs[0]["rerunReason"] == "from_failure_unsucceeded_tasks"
    assert "completedAt" not in runs[0] and runs[1]["runKey"] == "nightly"
    assert list(runs[1]) == ["runId", "state", "runKey", "createdAt", "completedAt",
                             "taskCounts"]


def test_runs_filters_by_state_in_any_case_run_key_and_limit() -> None:
    st = _many_runs()
    assert [r["runId"] for r in runs_list(st, "failed")["runs"]] == ["run_a"]
    assert [r["runId"] for r in runs_list(st, run_key="nightly")["runs"]] == ["run_a"]
    assert [r["runId"] for r in runs_list(st, limit=2)["runs"]] == ["run_c", "run_a"]
    assert runs_list(st, limit=0)["runs"] == []


def test_runs_refuses_an_unknown_state() -> None:
    with pytest.raises(ArcoError) as err:
        runs_list(_many_runs(), "DONE")
    assert err.value.code == "USAGE_ERROR" and "CANCELLING" in err.value.message


def test_task_summary_carries_output_visibility_fields() -> None:
    st = FakeState().add("runs", run_row("r", state="SUCCEEDED"))
    st.add("tasks", task_row("r", "a.pub", state="SUCCEEDED", attempt=1,
                             materialization_id="m1", output_visibility_state="VISIBLE",
                             published_at="2025-01-01T00:10:00.000Z"))
    st.add("tasks", task_row("r", "b.pub", state="SUCCEEDED", attempt=1,
                             output_visibility_state="FAILED", publish_error="denied"))
    a, b = run_read_shape(st, "r")["tasks"]
    assert (a["outputVisibilityState"], a["publishedAt"]) == ("VISIBLE",
                                                              "2025-01-01T00:10:00.000Z")
    assert (b["outputVisibilityState"], b["publishError"]) == ("FAILED", "denied")
    assert list(a) == ["taskKey", "assetKey", "state", "attempt", "outputVisibilityState",
                       "publishedAt"]
