from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

from rich.console import Console

from arco_cli.diagnostics import conflict_payloads, explain_run
from arco_cli.render.conflicts import conflict_sentence, differences_text
from arco_cli.render.explain import render_explain, task_cause
from tests.diagnostics.test_attribution import _retried
from tests.diagnostics.test_conflicts_and_lookup import _state


def _text(render: Callable[[dict[str, Any], Console], None], data: dict[str, Any]) -> str:
    buf = io.StringIO()
    render(data, Console(file=buf, width=200, no_color=True, color_system=None))
    return buf.getvalue()


def test_retry_cause_lists_every_failed_attempt_with_its_category() -> None:
    task = {"taskKey": "t", "state": "FAILED", "attempt": 2,
            "retryAttribution": {"retries": 1, "attempts": [
                {"attempt": 1, "outcome": "FAILED", "errorCategory": "USER_CODE",
                 "errorMessage": "Traceback\n  ...\nValueError: bad row"},
                {"attempt": 2, "outcome": "FAILED", "errorCategory": "TIMEOUT",
                 "errorMessage": "timed out after 5 s"}]}}
    assert task_cause(task) == (
        "Retried 1 time: attempt 1 failed (USER_CODE: ValueError: bad row); "
        "attempt 2 failed (TIMEOUT: timed out after 5 s), no attempts left.")


def test_succeeded_after_retries_and_first_attempt_failure_are_one_sentence() -> None:
    ok = {"taskKey": "t", "state": "SUCCEEDED", "attempt": 3, "retryAttribution": {
        "retries": 2, "attempts": [
            {"attempt": 1, "outcome": "FAILED", "errorCategory": "USER_CODE",
             "errorMessage": "x"},
            {"attempt": 2, "outcome": "FAILED", "errorCategory": "USER_CODE",
             "errorMessage": "y"},
            {"attempt": 3, "outcome": "SUCCEEDED"}]}}
    assert task_cause(ok) == ("Retried 2 times: attempt 1 failed (USER_CODE: x), attempt 2 "
                              "failed (USER_CODE: y); attempt 3 succeeded.")
    failed = {"taskKey": "t", "state": "FAILED", "attempt": 1, "errorMessage": "boom"}
    assert task_cause(failed) == "Failed on attempt 1: boom."
    assert task_cause({"taskKey": "t", "state": "SUCCEEDED", "attempt": 1}) is None


def test_conflict_sentence_names_the_holder_and_each_difference() -> None:
    payload = conflict_payloads(_state(), "nightly")[1]
    sentence = conflict_sentence(payload)
    assert sentence.startswith("Run key 'nightly' is held by the request from manual request "
                               "req_1 by u at 2025-01-01T00:00:00.000Z (run run_k)")
    assert "request 01Z from schedule s tick s:1" in sentence
    assert "seen 2 times" in sentence
    assert "selection adds b.x" in sentence
    assert "code version (informational) none -> v2" in sentence


def test_differences_text_covers_labels_flags_and_the_empty_case() -> None:
    text = differences_text({
        "includeUpstream": {"existing": False, "requested": True},
        "labels": {"added": {"a": "1"}, "removed": {}, "changed": {"b": {"existing": "x",
                                                                          "requested": "y"}}},
        "partitions": {"added": [], "removed": ["date=d:2025-01-01"]}})
    assert text == ("partitions removes date=d:2025-01-01; include-upstream false -> true; "
                    "labels adds a=1, changes b from x to y")
    assert "not carried on the events" in differences_text({})


def test_explain_text_shows_tasks_causes_attempts_and_conflicts() -> None:
    out = _text(render_explain, explain_run(_retried(), "r"))
    assert "Run r  CANCELLING" in out
    assert "a.flaky: Retried 1 time: attempt 1 failed (USER_CODE: boom); attempt 2 failed " \
        "(USER_CODE: again); next attempt not before 2025-01-01T00:03:00.000Z." in out
    assert "c.cut: Cancelled because a cancel was requested for the run." in out
    assert "#1 FAILED" in out and "Conflicts: none" in out
    out = _text(render_explain, explain_run(_state(), "run_k"))
    assert "Conflicts (2)" in out and "Ignored events (2)" in out
    assert "01F TaskFinished: rejected (stale_attempt) - attempt 1 is not current" in out


def test_run_cause_names_failed_tasks_and_the_skip_count() -> None:
    from arco_cli.render.explain import run_cause

    tasks = [{"taskKey": "a", "state": "FAILED"}, {"taskKey": "b", "state": "SKIPPED"},
             {"taskKey": "c", "state": "SKIPPED"}]
    assert run_cause({"state": "FAILED", "tasks": tasks}) == \
        "Failed because task a failed; 2 downstream tasks skipped."
    running = [{"taskKey": "a", "state": "RUNNING"}]
    assert run_cause({"state": "CANCELLING", "tasks": running}) == \
        "Cancel requested; waiting for a to report."
    assert run_cause({"state": "SUCCEEDED", "tasks": []}) is None
    filtered = {"state": "FAILED", "tasks": [tasks[1]],
                "taskCounts": {"failed": 1, "skipped": 2}}
    assert run_cause(filtered) == "Failed because 1 task failed; 2 downstream tasks skipped."


def test_verify_runs_and_partitions_text_name_codes_states_and_staleness() -> None:
    from arco_cli.diagnostics import partition_rows, runs_list
    from arco_cli.render.partitions import render_partitions
    from arco_cli.render.runs import render_runs
    from arco_cli.render.verify import render_verify
    from tests.diagnostics.conftest import fold_scenario, ms

    out = _text(render_verify, {
        "checked": {"events": 3, "tables": 15, "tasks": 1, "partitions": 1, "deltaCommits": 1},
        "findings": [{"code": "DELTA_TABLE_MISSING", "message": "no table", "runId": "r",
                      "taskKey": "t"}]})
    assert "Checked 3 events, 15 tables, 1 tasks, 1 partitions, 1 Delta commits." in out
    assert "DELTA_TABLE_MISSING (runId r taskKey t): no table" in out
    state = fold_scenario()
    runs = _text(render_runs, runs_list(state))
    assert "run_7drmbfb47rujhiqff3f6gthbhm  FAILED" in runs
    assert "4 tasks: 1 succeeded, 1 failed, 2 skipped" in runs
    rows = partition_rows(state, None, False, ms("2025-01-16T03:00:00.000Z"),
                          {"load.b": ((), None, 1440, False)})
    text = _text(render_partitions, {"partitions": rows})
    assert "load.b" in text and "NEVER_MATERIALIZED: never materialized" in text
    assert "(unpartitioned)" in text and "FRESHNESS_POLICY" in text
