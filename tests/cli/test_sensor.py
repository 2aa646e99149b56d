"""``arco sensor evaluate|list`` end to end: cursors, CAS, min interval, push dedupe."""

from __future__ import annotations

import sys
from pathlib import Path

from tests.triggers.workspaces import answer, arco_json, events, make_workspace, run_states

SENSORS = """
[sensors.orders_poll]
kind = "poll"
python = "sensor_jobs:evaluate"
selection = ["raw.orders"]
min_interval_s = 60

[sensors.orders_push]
kind = "push"
python = "sensor_jobs:evaluate"
selection = ["raw.orders"]
"""

T0 = "2025-01-01T00:00:00Z"


def test_poll_sensor_triggers_moves_its_cursor_and_respects_the_min_interval(
        tmp_path: Path) -> None:
    ws = make_workspace(tmp_path / "ws", SENSORS)
    answer(ws, {"run_requests": [{"run_key": "orders-1"}], "cursor": "c1"})
    env = arco_json(ws, "sensor", "evaluate", "orders_poll", "--now", T0, expect=0)
    assert env["data"] == {
        "sensorId": "orders_poll", "evalId": "eval:orders_poll:poll:1735689600:none",
        "status": "triggered", "cursor": "c1",
        "runs": [{"runKey": "orders-1", "runId": run_states(ws)["orders-1"]["runId"],
                  "created": True, "state": "SUCCEEDED"}]}
    (triggered,) = events(ws, "RunTriggered")
    assert triggered["data"]["trigger"] == {"type": "sensor", "sensor_id": "orders_poll",
                                            "cursor": "c1"}

    soon = arco_json(ws, "sensor", "evaluate", "orders_poll", "--now", "2025-01-01T00:00:59Z",
                     expect=0)
    assert soon["data"]["status"] == "skipped_min_interval"

    answer(ws, {"skip_reason": "nothing new upstream"})
    later = arco_json(ws, "sensor", "evaluate", "orders_poll", "--now",
                      "2025-01-01T00:01:00Z", expect=0)
    assert later["data"]["status"] == "no_new_data"
    assert later["data"]["skipReason"] == "nothing new upstream"
    assert later["data"]["cursor"] == "c1"   # a missing cursor keeps the old one (A24)
    evaluated = events(ws, "SensorEvaluated")
    assert evaluated[-1]["data"]["cursor_before"] == "c1"
    assert evaluated[-1]["data"]["expected_state_version"] == 1
    assert evaluated[-1]["data"]["skip_reason"] == "nothing new upstream"


def test_push_redelivery_calls_nothing_and_returns_the_original_runs(tmp_path: Path) -> None:
    ws = make_workspace(tmp_path / "ws", SENSORS)
    answer(ws, {"run_requests": [{}, {"partitions": []}, {"selection": ["analytics.orders"]}]})
    first = arco_json(ws, "sensor", "evaluate", "orders_push", "--message-id", "m-1",
                      "--now", T0, "--no-execute", expect=0)
    keys = [r["runKey"] for r in first["data"]["runs"]]
    # the second key-less request repeats the first one, the third differs (A25)
    assert keys == ["sensor:orders_push:msg:m-1", "sensor:orders_push:msg:m-1:1",
                    "sensor:orders_push:msg:m-1:2"]
    logged = len(events(ws))
    answer(ws, {"run_requests": [{"selection": ["broken.job"]}]})  # must not be called
    again = arco_json(ws, "sensor", "evaluate", "orders_push", "--message-id", "m-1",
                      "--now", "2025-01-01T00:05:00Z", expect=0)
    assert again["data"]["status"] == "duplicate"
    assert [r["runKey"] for r in again["data"]["runs"]] == keys
    assert {r["created"] for r in again["data"]["runs"]} == {False}
    assert [r["runId"] for r in again["data"]["runs"]] == [r["runId"] for r in
                                                           first["data"]["runs"]]
    assert len(events(ws)) == logged


def test_message_id_is_required_for_push_and_refused_for_poll(tmp_path: Path) -> None:
    ws = make_workspace(tmp_path / "ws", SENSORS)
    assert arco_json(ws, "sensor", "evaluate", "orders_push", expect=2)["errors"][0][
        "code"] == "USAGE_ERROR"
    assert arco_json(ws, "sensor", "evaluate", "orders_poll", "--message-id", "m", expect=2)[
        "errors"][0]["code"] == "USAGE_ERROR"
    assert arco_json(ws, "sensor", "evaluate", "nope", expect=2)["errors"][0][
        "code"] == "UNKNOWN_SENSOR"


def test_invalid_request_turns_the_evaluation_into_an_error_that_reserves_nothing(
        tmp_path: Path) -> None:
    ws = make_workspace(tmp_path / "ws", SENSORS)
    answer(ws, {"run_requests": [{"run_key": "ok-1"}, {"selection": ["raw.events"]}],
                "cursor": "c9"})
    env = arco_json(ws, "sensor", "evaluate", "orders_poll", "--now", T0, expect=1)
    assert env["data"]["status"] == "error"
    assert "run_requests[1]" in env["data"]["error"]
    assert "partitioned" in env["data"]["error"]
    assert "cursor" not in env["data"]       # the cursor did not move
    assert events(ws, "RunRequested") == []
    (evaluated,) = events(ws, "SensorEvaluated")
    assert evaluated["data"]["status"]["status"] == "error"


def test_crashing_evaluator_is_recorded_as_an_error(tmp_path: Path) -> None:
    ws = make_workspace(tmp_path / "ws", f"""
[sensors.crashy]
kind = "poll"
run = ["{sys.executable}", "-c", "import sys; sys.stderr.write('feed down'); sys.exit(4)"]
selection = ["raw.orders"]
""")
    env = arco_json(ws, "sensor", "evaluate", "crashy", "--now", T0, expect=1)
    assert env["data"]["error"] == "evaluator exited with status 4: feed down"


def test_concurrent_evaluation_loses_the_cursor_compare_and_set(tmp_path: Path) -> None:
    # The evaluator of the outer evaluation runs a second, inner evaluation of the same
    # sensor before answering: the inner one moves the cursor first, so the outer one
    # (still expecting version 0) is recorded as skipped_stale_cursor and creates no run.
    ws = make_workspace(tmp_path / "ws", """
[sensors.racy]
kind = "poll"
python = "racy:evaluate"
selection = ["raw.orders"]
min_interval_s = 0
""")
    (ws / "racy.py").write_text(f"""\
import os, subprocess


def evaluate(ctx):
    if ctx.now.minute == 0:
        subprocess.run([{sys.executable!r}, "-m", "arco_cli", "-w", str(ctx.workspace),
                        "sensor", "evaluate", "racy", "--now", "2025-01-01T00:01:00Z",
                        "--no-execute"], check=True, capture_output=True)
        return {{"run_requests": [{{"run_key": "outer"}}], "cursor": "outer"}}
    if ctx.now.minute == 3:
        return {{}}
    key = f"inner-{{ctx.now.minute}}"
    return {{"run_requests": [{{"run_key": key}}], "cursor": key}}
""", encoding="utf-8")
    env = arco_json(ws, "sensor", "evaluate", "racy", "--now", T0, "--no-execute", expect=0)
    assert env["data"]["status"] == "skipped_stale_cursor"
    assert env["data"]["runs"] == []
    assert env["data"]["cursor"] == "inner-1"
    index_keys = [e["data"]["run_key"] for e in events(ws, "RunRequested")]
    assert sorted(index_keys) == ["inner-1", "outer"]   # both appended, only one accepted
    listing = arco_json(ws, "sensor", "list", expect=0)["data"]["sensors"]
    assert listing == [{"sensorId": "racy", "kind": "poll", "selection": ["raw.orders"],
                        "minIntervalS": 0, "paused": False, "status": "ACTIVE",
                        "stateVersion": 1, "cursor": "inner-1",
                        "lastEvalId": "eval:racy:poll:1735689660:none",
                        "lastEvaluationAt": "2025-01-01T00:01:00.000Z"}]
    # the accepted path: the next evaluation expects version 1 and wins
    env = arco_json(ws, "sensor", "evaluate", "racy", "--now", "2025-01-01T00:02:00Z",
                    "--no-execute", expect=0)
    assert env["data"]["status"] == "triggered"
    assert env["data"]["runs"][0]["created"] is True
    assert env["data"]["cursor"] == "inner-2"
    # the same second with the same cursor again: recognised before evaluating
    quiet = arco_json(ws, "sensor", "evaluate", "racy", "--now", "2025-01-01T00:03:00Z",
                      expect=0)
    assert (quiet["data"]["status"], quiet["data"]["cursor"]) == ("no_new_data", "inner-2")
    logged = len(events(ws))
    again = arco_json(ws, "sensor", "evaluate", "racy", "--now", "2025-01-01T00:03:00Z",
                      expect=0)
    assert again["data"] == {**quiet["data"], "status": "duplicate"}
    assert len(events(ws)) == logged


def test_paused_sensor_is_not_evaluated(tmp_path: Path) -> None:
    ws = make_workspace(tmp_path / "ws", SENSORS.replace("min_interval_s = 60",
                                                         "min_interval_s = 60\npaused = true"))
    env = arco_json(ws, "sensor", "evaluate", "orders_poll", "--now", T0, expect=0)
    assert env["data"]["status"] == "paused"
    assert events(ws) == []
