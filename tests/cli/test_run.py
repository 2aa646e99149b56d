"""``arco run`` end to end: real subprocesses, real log, real task processes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from arco_cli.log import EventLog
from tests.conftest import run_arco, write_workspace

PY = json.dumps(sys.executable)
# slow.task runs while hold.flag exists (at most 20 s), so tests decide how long it runs
HOLD = json.dumps("import os, time; t = time.time(); [time.sleep(0.05) for _ in iter("
                  "lambda: os.path.exists('hold.flag') and time.time() - t < 20, False)]")
# raw.orders succeeds; analytics.orders fails while fail.flag exists; reports.daily after it
BODY = f"""
[assets."raw.orders"]
run = [{PY}, "-c", "pass"]
[assets."analytics.orders"]
deps = ["raw.orders"]
run = [{PY}, "-c", "import os, sys; sys.exit(3 if os.path.exists('fail.flag') else 0)"]
max_attempts = 1
[assets."reports.daily"]
deps = ["analytics.orders"]
run = [{PY}, "-c", "pass"]
[assets."raw.events"]
run = [{PY}, "-c", "import os; assert os.environ['ARCO_PARTITION_KEY']"]
partitioned_by = ["date"]
[assets."slow.task"]
run = [{PY}, "-c", {HOLD}]
"""


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    return write_workspace(tmp_path / "ws", BODY)


def records(ws: Path) -> int:
    log_dir = ws / ".arco" / "log"
    return EventLog(log_dir).record_count() if log_dir.exists() else 0


def arco(ws: Path, *args: str) -> tuple[int, dict[str, Any]]:
    result = run_arco("-w", str(ws), "--json", *args)
    return result.returncode, result.envelope


def test_run_executes_the_closure_and_returns_the_run(ws: Path) -> None:
    code, env = arco(ws, "run", "reports.daily", "--include-upstream", "--label", "team=x")
    assert (code, env["status"], env["command"]) == (0, "ok", "run")
    data = env["data"]
    assert data["created"] is True and data["state"] == "SUCCEEDED"
    assert [t["taskKey"] for t in data["tasks"]] == ["analytics.orders", "raw.orders",
                                                     "reports.daily"]
    assert data["labels"] == {"arco.include_upstream": "true", "team": "x"}
    assert data["taskCounts"]["succeeded"] == 3 and env["errors"] == []


def test_failed_run_exits_1_with_the_run_as_data(ws: Path) -> None:
    (ws / "fail.flag").write_text("", encoding="utf-8")
    code, env = arco(ws, "run", "reports.daily", "--include-upstream")
    assert (code, env["status"], env["errors"]) == (1, "failed", [])
    tasks = {t["taskKey"]: t for t in env["data"]["tasks"]}
    assert env["data"]["state"] == "FAILED"
    assert tasks["analytics.orders"]["state"] == "FAILED"
    assert tasks["reports.daily"]["skipAttribution"]["rootCauseTaskKey"] == "analytics.orders"


def test_run_key_is_idempotent_and_a_different_request_conflicts(ws: Path) -> None:
    code, first = arco(ws, "run", "raw.orders", "--run-key", "nightly")
    assert code == 0 and first["data"]["created"] is True
    count = records(ws)
    code, again = arco(ws, "run", "raw/orders", "--run-key", "nightly")
    assert code == 0 and again["data"]["created"] is False
    assert again["data"]["runId"] == first["data"]["runId"]
    assert records(ws) == count  # nothing appended, nothing executed

    code, refused = arco(ws, "run", "raw.orders", "analytics.orders", "--run-key", "nightly")
    assert (code, refused["status"]) == (3, "conflict")
    [error] = refused["errors"]
    assert error["code"] == "RUN_KEY_CONFLICT"
    assert error["message"] == "run_key 'nightly' already reserved with different trigger payload"
    assert error["details"]["differences"] == {"selection": {"added": ["analytics.orders"],
                                                             "removed": []}}
    assert refused["data"]["runId"] == first["data"]["runId"]
    assert records(ws) == count + 1  # the refused request is recorded
    text = run_arco("-w", str(ws), "run", "raw.orders", "analytics.orders", "--run-key",
                    "nightly")
    assert text.returncode == 3
    assert "Run key 'nightly' is held by" in text.stdout and "seen 2 times" in text.stdout
    assert "selection adds analytics.orders" in text.stdout
    assert "[RUN_KEY_CONFLICT]" in text.stderr
    code, explained = arco(ws, "explain", "nightly")
    assert code == 0
    assert [c["requestedFingerprint"] for c in explained["data"]["conflicts"]] == [
        error["details"]["requestedFingerprint"]]


@pytest.mark.parametrize(("args", "code"), [
    (["raw.nope"], "UNKNOWN_ASSET"),
    (["Raw.Orders"], "INVALID_ASSET_KEY"),
    (["raw.events"], "PARTITION_REQUIRED"),
    (["raw.events", "-p", "region=s:ZXU"], "PARTITION_MISMATCH"),
    (["raw.events", "-p", "2025-02-30"], "INVALID_PARTITION_KEY"),
    (["raw.orders", "--label", "arco.parent_run_id=x"], "RESERVED_LABEL"),
    (["raw.orders", "--label", "novalue"], "USAGE_ERROR"),
    (["raw.orders", "--run-key", "run_1"], "INVALID_RUN_KEY"),
])
def test_invalid_request_is_refused_before_its_key_is_reserved(
        ws: Path, args: list[str], code: str) -> None:
    exit_code, env = arco(ws, "run", *args, "--run-key", "k1") if "--run-key" not in args \
        else arco(ws, "run", *args)
    assert (exit_code, env["status"], env["data"]) == (2, "error", None)
    assert env["errors"][0]["code"] == code
    assert records(ws) == 0
    if code in ("UNKNOWN_ASSET", "PARTITION_MISMATCH"):
        ok_code, ok = arco(ws, "run", "raw.orders", "--run-key", "k1")
        assert ok_code == 0 and ok["data"]["created"] is True


def test_partitioned_run_passes_the_partition_to_the_task(ws: Path) -> None:
    code, env = arco(ws, "run", "raw.events", "-p", "2025-01-15")
    assert code == 0, env
    assert env["data"]["tasks"][0]["partitionKey"] == "date=d:2025-01-15"


def test_invalid_config_writes_nothing(ws: Path) -> None:
    (ws / "arco.toml").write_text('[assets.raw.orders]\nrun = ["true"]\n', encoding="utf-8")
    result = run_arco("-w", str(ws), "--json", "run", "raw.orders")
    env = result.envelope
    assert (result.returncode, env["errors"][0]["code"]) == (2, "INVALID_CONFIG")
    assert env["errors"][0]["details"]["keyPath"] == "assets.raw"
    assert "quote the asset key" in env["errors"][0]["message"]
    assert not (ws / ".arco" / "log").exists() or records(ws) == 0


def test_dry_run_prints_plan_and_fingerprint_and_writes_nothing(ws: Path) -> None:
    arco(ws, "run", "raw.orders", "--run-key", "k")
    count = records(ws)
    code, env = arco(ws, "run", "analytics.orders", "--include-upstream", "--run-key", "k",
                     "--dry-run")
    assert code == 0
    data = env["data"]
    assert data["dryRun"] is True and data["reservation"] == "conflict"
    assert len(data["requestFingerprint"]) == 64 and data["runKey"] == "k"
    assert data["tasks"] == [
        {"taskKey": "analytics.orders", "assetKey": "analytics.orders",
         "dependsOn": ["raw.orders"], "maxAttempts": 1},
        {"taskKey": "raw.orders", "assetKey": "raw.orders", "dependsOn": [], "maxAttempts": 3},
    ]
    assert records(ws) == count


def _wait_running(ws: Path, proc: subprocess.Popen[str]) -> None:
    from arco_cli.projections import current_state
    from arco_cli.workspace import open_workspace

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if (ws / ".arco" / "log").exists() and records(ws) > 0:
            state = current_state(open_workspace(ws), write=False)
            if any(t["state"] == "RUNNING" for t in state.rows("tasks")):
                return
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.05)
    raise AssertionError("the task never started")


def _start(ws: Path, *args: str) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ARCO_")}
    return subprocess.Popen([sys.executable, "-m", "arco_cli", "-w", str(ws), "--json", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def test_ctrl_c_cancels_the_run_and_exits_130_with_the_run(ws: Path) -> None:
    (ws / "hold.flag").write_text("", encoding="utf-8")
    proc = _start(ws, "run", "slow.task")
    _wait_running(ws, proc)
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=30)
    env = json.loads(out)
    assert (proc.returncode, env["status"]) == (130, "error")
    assert env["errors"][0]["code"] == "INTERRUPTED"
    assert env["data"]["state"] == "CANCELLED"


def test_dead_executor_run_is_not_finished_until_cancelled(ws: Path) -> None:
    (ws / "hold.flag").write_text("", encoding="utf-8")
    proc = _start(ws, "run", "slow.task", "--run-key", "stuck")
    _wait_running(ws, proc)
    proc.kill()  # SIGKILL: nothing is recorded, the run stays RUNNING
    proc.wait()
    (ws / "hold.flag").unlink()  # lets the orphaned task process end
    code, env = arco(ws, "run", "slow.task", "--run-key", "stuck")
    assert (code, env["status"]) == (1, "failed")
    assert env["data"]["created"] is False and env["data"]["state"] == "RUNNING"
    assert env["errors"][0]["code"] == "RUN_NOT_FINISHED"
    code, refused = arco(ws, "rerun", "stuck", "--from-failure")
    assert code == 2 and refused["errors"][0]["code"] == "RERUN_NOT_ALLOWED"
    assert "RUNNING" in refused["errors"][0]["message"]

    code, cancelled = arco(ws, "cancel", "stuck", "--reason", "executor killed")
    assert code == 0, cancelled
    data = cancelled["data"]
    assert data["state"] == "CANCELLED" and data["executorAlive"] is False
    assert data["cancelledAttempts"] == [{"taskKey": "slow.task", "attempt": 1}]
    code, rerun = arco(ws, "rerun", "stuck", "--from-failure")
    assert code == 0 and rerun["data"]["parentRunId"] == data["runId"]
    code, again = arco(ws, "cancel", "stuck")  # already finished: nothing appended
    assert code == 0 and again["data"]["cancelRequested"] is False
    assert again["data"]["cancelledAttempts"] == []


def test_concurrent_requests_for_one_run_key_create_exactly_one_run(ws: Path) -> None:
    procs = [_start(ws, "run", "raw.orders", "--run-key", "race") for _ in range(3)]
    envs = [json.loads(p.communicate(timeout=60)[0]) for p in procs]
    assert all(e["data"] is not None for e in envs), envs
    assert sorted(e["data"]["created"] for e in envs) == [False, False, True]
    assert len({e["data"]["runId"] for e in envs}) == 1
    for proc, env in zip(procs, envs, strict=True):
        if env["data"]["created"]:
            assert proc.returncode == 0
        elif proc.returncode == 1:  # returned while the creator was still executing it
            assert env["errors"][0]["code"] == "RUN_NOT_FINISHED"
        else:
            assert (proc.returncode, env["data"]["state"]) == (0, "SUCCEEDED")


def test_run_gives_up_on_a_locked_log_and_writes_nothing(ws: Path) -> None:
    log = EventLog(ws / ".arco" / "log")
    log.check_scope("local", "default")
    with log.writer(5):
        result = run_arco("-w", str(ws), "--json", "--lock-timeout", "0.2", "run", "raw.orders",
                          "--run-key", "locked")
    assert result.returncode == 2
    assert result.envelope["errors"][0]["code"] == "WORKSPACE_LOCKED"
    assert records(ws) == 0


def test_cancel_stops_a_live_executor_which_records_the_cancellation(ws: Path) -> None:
    (ws / "hold.flag").write_text("", encoding="utf-8")
    proc = _start(ws, "run", "slow.task", "--run-key", "live")
    _wait_running(ws, proc)
    code, cancelled = arco(ws, "cancel", "live", "--reason", "operator stop")
    assert code == 0, cancelled
    data = cancelled["data"]
    assert data["executorAlive"] is True and data["executorStopped"] is True
    assert data["state"] == "CANCELLED"
    assert data["cancelledAttempts"] == []  # recorded by the executor, not by cancel
    out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 130 and json.loads(out)["data"]["state"] == "CANCELLED"
