"""The python-task worker as a real subprocess: context, Skip/TaskFailure, return values."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

TASKS = '''
import pyarrow as pa
from arco_cli import Skip, TaskFailure

def describe(ctx):
    ctx.log.info("hello from %s", ctx.task_key)
    return {"materializationId": "|".join(str(v) for v in (
        ctx.run_id, ctx.task_key, ctx.asset_key, ctx.partition_key,
        sorted(ctx.partition_values.items()), ctx.attempt, ctx.attempt_id,
        ctx.workspace.name))}

def skip(ctx):
    raise Skip("nothing new upstream")

def structured(ctx):
    raise TaskFailure("bad rows", category="DATA_QUALITY", retryable=True)

def crash(ctx):
    {}["missing"]

def table(ctx):
    return pa.table({"x": [1, 2]})

def text(ctx):
    return "done"

def bad_report(ctx):
    return {"rows": 3}

def exits(ctx):
    raise SystemExit(3)

def claims_version(ctx):
    return {"deltaVersion": 3}

def mutate(ctx):
    ctx.attempt = 9

def compare(ctx):
    import copy, pickle
    same = type(ctx)(**{k: getattr(ctx, k) for k in (
        "run_id", "task_key", "asset_key", "partition_key", "partition_values", "attempt",
        "attempt_id", "workspace")}, log_path=ctx.workspace / "other.log")
    ctx.log.info("before pickling")
    thawed = pickle.loads(pickle.dumps(ctx))
    thawed.log.info("after pickling")
    assert thawed == ctx == copy.copy(ctx) and thawed.log is ctx.log
    return {"materializationId": f"{same == ctx} {repr(ctx)}"}
'''


def run_worker(tmp_path: Path, target: str, **overrides: Any) -> dict[str, Any]:
    root = tmp_path / "ws"
    (root / "jobs").mkdir(parents=True, exist_ok=True)
    (root / "jobs" / "__init__.py").write_text("")
    (root / "jobs" / "tasks.py").write_text(textwrap.dedent(TASKS))
    spec: dict[str, Any] = {
        "python": target, "workspace": str(root), "run_id": "run_1", "task_key": "raw.orders",
        "asset_key": "raw.orders", "partition_key": "date=d:2025-01-15",
        "partition_values": {"date": "2025-01-15"}, "attempt": 2, "attempt_id": "att_1",
        "log_path": str(tmp_path / "1.log"), "result_path": str(tmp_path / "1.output.json"),
        "delta": None}
    spec.update(overrides)
    spec_path = tmp_path / "spec.json"
    spec_path.write_text(json.dumps(spec))
    proc = subprocess.run([sys.executable, "-m", "arco_cli.engine.worker", str(spec_path)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    result: dict[str, Any] = json.loads((tmp_path / "1.output.json").read_text())
    return result


def test_context_carries_the_attempt_and_logs_to_the_attempt_log(tmp_path: Path) -> None:
    result = run_worker(tmp_path, "jobs.tasks:describe")
    assert result == {"materializationId": (
        "run_1|raw.orders|raw.orders|date=d:2025-01-15|[('date', '2025-01-15')]|2|att_1|ws")}
    assert "INFO hello from raw.orders" in (tmp_path / "1.log").read_text()


@pytest.mark.parametrize(("target", "expected"), [
    ("jobs.tasks:skip", {"skip": "nothing new upstream"}),
    ("jobs.tasks:structured", {"error": {"category": "DATA_QUALITY", "message": "bad rows",
                                         "retryable": True}}),
])
def test_skip_and_task_failure_become_reports(tmp_path: Path, target: str,
                                              expected: dict[str, Any]) -> None:
    assert run_worker(tmp_path, target) == expected


def test_other_exceptions_are_user_code_failures_with_a_trace(tmp_path: Path) -> None:
    error = run_worker(tmp_path, "jobs.tasks:crash")["error"]
    assert (error["category"], error["message"]) == ("USER_CODE", "KeyError: 'missing'")
    assert "Traceback" in error["stackTrace"] and "retryable" not in error


def test_sys_exit_with_a_status_is_a_user_code_failure(tmp_path: Path) -> None:
    assert run_worker(tmp_path, "jobs.tasks:exits") == {
        "error": {"category": "USER_CODE", "message": "the task called sys.exit(3)"}}


@pytest.mark.parametrize(("target", "fragment"), [
    ("jobs.tasks:table", "has no delta_table"),
    ("jobs.tasks:text", "returned a str"),
    ("jobs.tasks:bad_report", "unknown key 'rows'"),
    ("jobs.nowhere:build", "module 'jobs.nowhere' not found"),
    ("jobs.tasks:absent", "has no callable 'absent'"),
])
def test_unusable_tasks_fail_as_configuration(tmp_path: Path, target: str,
                                              fragment: str) -> None:
    error = run_worker(tmp_path, target)["error"]
    assert error["category"] == "CONFIGURATION" and error["retryable"] is False
    assert fragment in error["message"]


def test_returned_table_is_written_to_the_configured_delta_table(tmp_path: Path) -> None:
    delta = {"table_path": str(tmp_path / "ws" / "warehouse" / "t"), "table_config":
             "warehouse/t", "mode": "overwrite", "partitioned_by": ["date"],
             "hive_partition": "date=2025-01-15"}
    result = run_worker(tmp_path, "jobs.tasks:table", delta=delta)
    assert result == {"deltaTable": "warehouse/t", "deltaVersion": 0,
                      "deltaPartition": "date=2025-01-15", "rowCount": 2}


def test_returned_dict_claiming_a_missing_delta_version_fails(tmp_path: Path) -> None:
    delta: dict[str, Any] = {
        "table_path": str(tmp_path / "ws" / "warehouse" / "t"), "table_config": "warehouse/t",
        "mode": "overwrite", "partitioned_by": [], "hive_partition": None}
    error = run_worker(tmp_path, "jobs.tasks:claims_version", delta=delta)["error"]
    assert error == {"category": "CONFIGURATION", "retryable": False,
                     "message": "the task reported version 3 of Delta table warehouse/t, "
                                "which does not exist"}


def test_pool_worker_undoes_what_a_task_changed_before_the_next_attempt(
        tmp_path: Path) -> None:
    from arco_cli.engine.worker_host import PoolWorker

    root = tmp_path / "ws"
    (root / "jobs").mkdir(parents=True)
    (root / "jobs" / "__init__.py").write_text("")
    (root / "jobs" / "meddle.py").write_text(textwrap.dedent('''
        import os, sys

        def meddle(ctx):
            os.environ["LEFT_BEHIND"] = "1"
            os.environ["HOME"] = "/elsewhere"
            os.chdir("/")
            sys.path.append("/nowhere")

        def look(ctx):
            seen = {k: v for k, v in os.environ.items() if k.startswith("ARCO_")}
            return {"materializationId": repr((os.environ.get("LEFT_BEHIND"),
                                               os.environ.get("HOME"), os.getcwd(),
                                               "/nowhere" in sys.path, sorted(seen)))}
    '''))
    env = {"PATH": "/usr/bin:/bin", "HOME": "/home/pool",
           "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    worker = PoolWorker(cwd=root, env=env, stderr_path=tmp_path / "worker.stderr")
    try:
        reports = []
        for n, target in enumerate(("jobs.meddle:meddle", "jobs.meddle:look"), 1):
            assert worker.send({
                "python": target, "workspace": str(root), "run_id": "run_1",
                "task_key": f"t{n}", "asset_key": f"t{n}", "partition_key": None,
                "partition_values": {}, "attempt": 1, "attempt_id": f"att_{n}",
                "env": {"ARCO_TASK_KEY": f"t{n}"} if n == 1 else {"ARCO_RUN_ID": "run_1"},
                "log_path": str(tmp_path / f"{n}.log"),
                "stdout_path": str(tmp_path / f"{n}.stdout"),
                "stderr_path": str(tmp_path / f"{n}.stderr"), "delta": None})
            answers: list[dict[str, Any]] = []
            deadline = time.monotonic() + 30
            while not answers and time.monotonic() < deadline:
                answers, gone = worker.receive()
                assert not gone
                time.sleep(0.005)
            reports.append(answers[0]["report"])
    finally:
        worker.close()
    assert reports == [{}, {"materializationId": repr(
        (None, "/home/pool", str(root), False, ["ARCO_RUN_ID"]))}]


def test_the_context_is_read_only_and_compares_by_its_attributes(tmp_path: Path) -> None:
    error = run_worker(tmp_path, "jobs.tasks:mutate")["error"]
    assert error["message"] == ("AttributeError: cannot assign to field 'attempt': the "
                                "context is read-only")
    assert not (tmp_path / "1.log").exists()   # created on the first record only
    root = tmp_path / "ws"
    assert run_worker(tmp_path, "jobs.tasks:compare") == {"materializationId": (
        "True TaskContext(run_id='run_1', task_key='raw.orders', asset_key='raw.orders', "
        "partition_key='date=d:2025-01-15', partition_values={'date': '2025-01-15'}, "
        f"attempt=2, attempt_id='att_1', workspace=PosixPath('{root}'))")}
    assert (tmp_path / "1.log").read_text().count("pickling") == 2
