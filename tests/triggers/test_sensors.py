"""Sensor evaluator invocation, result validation (A22–A27) and evaluation events."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

from arco_cli.engine.triggers.sensors import (
    MISSING,
    EvaluatorError,
    eval_id,
    evaluation_payloads,
    evaluator_env,
    invoke_evaluator,
    validate_result,
)
from arco_cli.identity import parse_timestamp_ms, request_fingerprint, sha256_hex

NOW = parse_timestamp_ms("2025-01-02T03:04:05.678Z")
ASSETS = {"raw.orders", "analytics.orders"}


def check(raw: Any, kind: str = "poll", message_id: str | None = None) -> Any:
    return validate_result(raw, sensor_id="s1", kind=kind, default_selection=["raw.orders"],
                           known_assets=ASSETS.__contains__, message_id=message_id,
                           poll_epoch=NOW // 1000)


def test_missing_selection_and_run_keys_take_the_defaults_with_index_suffix() -> None:
    result = check({"run_requests": [{}, {"partitions": ["2025-01-01"]}, {"run_key": "k"}]})
    assert [r.run_key for r in result.requests] == [
        "sensor:s1:poll:1735787045", "sensor:s1:poll:1735787045:1", "k"]
    assert result.requests[1].selection == ["raw.orders"]
    assert result.requests[1].partitions == ["date=d:2025-01-01"]
    assert result.cursor is MISSING


def test_push_default_run_key_uses_the_message_id() -> None:
    result = check({"run_requests": [{}]}, kind="push", message_id="m-1")
    assert result.requests[0].run_key == "sensor:s1:msg:m-1"


def test_labels_are_carried_into_the_fingerprint() -> None:
    result = check({"run_requests": [{"selection": ["analytics/orders"], "labels": {"x": "1"}}]})
    req = result.requests[0]
    assert req.selection == ["analytics.orders"]
    assert req.fingerprint == request_fingerprint(["analytics.orders"], [], labels={"x": "1"})


@pytest.mark.parametrize("raw,match", [
    ([], "must return a JSON object"),
    ({"run_requests": [{}], "skip_reason": "quiet"}, "both run_requests and skip_reason"),
    ({"run_requests": [{"labels": {"arco.x": "1"}}]}, "reserved keys: arco.x"),
    ({"run_requests": [{"selection": ["nope.asset"]}]}, "unknown asset 'nope.asset'"),
    ({"run_requests": [{"selection": ["Bad Key"]}]}, "invalid asset key"),
    ({"run_requests": [{"partitions": ["2025-13-01"]}]}, "invalid date"),
    ({"run_requests": [{"run_key": "run_x"}]}, "must not start with 'run_'"),
    ({"run_requests": [{"run_key": "a b"}]}, "whitespace"),
    ({"cursor": 5}, "cursor must be a string or null"),
    ({"extra": 1}, "unknown keys in evaluator result: extra"),
    ({"run_requests": [{"run_key": "k"}, {"run_key": "k", "partitions": ["2025-01-01"]}]},
     "twice with different requests"),
])
def test_invalid_results_are_evaluation_errors(raw: Any, match: str) -> None:
    with pytest.raises(EvaluatorError, match=match):
        check(raw)


def test_explicit_null_cursor_clears_and_missing_cursor_keeps() -> None:
    cleared = check({"cursor": None})
    kept = check({})
    payloads = evaluation_payloads(
        sensor_id="s1", kind="poll", eval_id_="e", cursor_before="c0",
        expected_state_version=2, message_id=None, poll_epoch=1, result=cleared, error=None)
    assert payloads[0]["cursor_after"] is None
    payloads = evaluation_payloads(
        sensor_id="s1", kind="poll", eval_id_="e", cursor_before="c0",
        expected_state_version=2, message_id=None, poll_epoch=1, result=kept, error=None)
    assert payloads[0]["cursor_after"] == "c0"
    assert payloads[0]["status"] == {"status": "no_new_data"}


def test_error_keeps_the_cursor_and_requests_nothing() -> None:
    payloads = evaluation_payloads(
        sensor_id="s1", kind="poll", eval_id_="e", cursor_before="c0",
        expected_state_version=0, message_id=None, poll_epoch=1, result=None, error="boom")
    assert payloads == [{
        "type": "sensor_evaluated", "sensor_id": "s1", "eval_id": "e", "cursor_before": "c0",
        "cursor_after": "c0", "expected_state_version": 0,
        "trigger_source": {"source": "poll", "poll_epoch": 1}, "run_requests": [],
        "status": {"status": "error", "message": "boom"}, "skip_reason": None}]


def test_push_evaluation_moves_the_cursor_to_the_message_and_requests_runs() -> None:
    result = check({"run_requests": [{}], "cursor": "ignored"}, kind="push", message_id="m-1")
    evaluated, requested = evaluation_payloads(
        sensor_id="s1", kind="push", eval_id_="eval:s1:msg:m-1", cursor_before=None,
        expected_state_version=None, message_id="m-1", poll_epoch=1, result=result, error=None)
    assert evaluated["cursor_after"] == "m-1"
    assert evaluated["trigger_source"] == {"source": "push", "message_id": "m-1"}
    assert evaluated["status"] == {"status": "triggered"}
    assert requested["trigger_source_ref"] == {"type": "sensor", "sensor_id": "s1",
                                               "eval_id": "eval:s1:msg:m-1"}
    assert requested["run_key"] == "sensor:s1:msg:m-1"


def test_eval_ids_follow_the_identity_table() -> None:
    assert eval_id("s1", "push", message_id="m", poll_epoch=9, cursor_before=None) == (
        "eval:s1:msg:m")
    assert eval_id("s1", "poll", message_id=None, poll_epoch=9, cursor_before=None) == (
        "eval:s1:poll:9:none")
    assert eval_id("s1", "poll", message_id=None, poll_epoch=9, cursor_before="c") == (
        f"eval:s1:poll:9:{sha256_hex('c')[:16]}")


def test_python_evaluator_gets_the_context_in_a_child_process(tmp_path: Path) -> None:
    (tmp_path / "sensors_mod.py").write_text(
        "def evaluate(ctx):\n"
        "    return {'cursor': f'{ctx.sensor_id}|{ctx.kind}|{ctx.cursor}|{ctx.message_id}|'\n"
        "            f'{ctx.now.isoformat()}|{ctx.workspace.name}'}\n", encoding="utf-8")
    env = evaluator_env("s1", "poll", cursor=None, message_id=None, now_ms=NOW,
                        workspace=tmp_path)
    raw = invoke_evaluator(tmp_path, python="sensors_mod:evaluate", run=None, env=env)
    assert raw == {"cursor": f"s1|poll|None|None|2025-01-02T03:04:05.678000+00:00|"
                             f"{tmp_path.name}"}


def test_command_evaluator_reads_env_and_prints_json(tmp_path: Path) -> None:
    script = ("import json, os; print(json.dumps({'cursor': os.environ['ARCO_NOW'] + '|' + "
              "os.environ.get('ARCO_SENSOR_CURSOR', 'unset') + '|' + "
              "os.environ['ARCO_MESSAGE_ID']}))")
    env = evaluator_env("s1", "push", cursor=None, message_id="m-9", now_ms=NOW,
                        workspace=tmp_path)
    raw = invoke_evaluator(tmp_path, python=None, run=[sys.executable, "-c", script], env=env)
    assert raw == {"cursor": "2025-01-02T03:04:05.678Z|unset|m-9"}


def test_failing_evaluator_reports_the_stderr_tail(tmp_path: Path) -> None:
    env = evaluator_env("s1", "poll", cursor="c", message_id=None, now_ms=NOW,
                        workspace=tmp_path)
    with pytest.raises(EvaluatorError, match="status 3: no upstream"):
        invoke_evaluator(tmp_path, python=None, env=env, run=[
            sys.executable, "-c", "import sys; sys.stderr.write('no upstream\\n'); sys.exit(3)"])


def test_non_json_output_is_an_error(tmp_path: Path) -> None:
    env = evaluator_env("s1", "poll", cursor=None, message_id=None, now_ms=NOW,
                        workspace=tmp_path)
    with pytest.raises(EvaluatorError, match="did not return a JSON object"):
        invoke_evaluator(tmp_path, python=None, env=env,
                         run=[sys.executable, "-c", "print('hello')"])
