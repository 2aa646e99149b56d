"""The local executor end to end: real subprocesses, a real log, real Delta tables."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest
from deltalake import CommitProperties, DeltaTable, write_deltalake

from arco_cli.config import WorkspaceDefinition, load_definition
from arco_cli.engine.executor import execute_run
from arco_cli.engine.planner import plan_run
from arco_cli.events import make_event
from arco_cli.identity import new_run_id, now_ms, parse_timestamp_ms
from arco_cli.lineage.verify import check_delta_commits
from arco_cli.log.store import EventLog
from arco_cli.projections import current_state
from arco_cli.workspace import Workspace, open_workspace
from tests.conftest import write_workspace

PY = sys.executable


def plan_and_trigger(root: Path, body: str, selection: list[str],
                     partitions: tuple[str, ...] = ()
                     ) -> tuple[Workspace, WorkspaceDefinition, str]:
    """Write ``arco.toml``, plan ``selection`` and append its RunTriggered + PlanCreated."""
    write_workspace(root, body)
    ws = open_workspace(root)
    definition = load_definition(root)
    plan = plan_run(definition, selection, partitions=partitions)
    run_id = new_run_id()
    log = EventLog(ws.log_dir)
    log.check_scope(ws.tenant_id, ws.workspace_id)
    payloads: list[dict[str, Any]] = [
        {"type": "run_triggered", "run_id": run_id, "plan_id": f"plan:{run_id}",
         "trigger": {"type": "manual", "user_id": "tester"},
         "root_assets": list(plan.root_assets)},
        {"type": "plan_created", "run_id": run_id, "plan_id": f"plan:{run_id}",
         "tasks": [task.payload() for task in plan.tasks]},
    ]
    with log.writer(5) as writer:
        ts = now_ms()
        writer.append([make_event(p, event_id=writer.new_event_id(ts), timestamp_ms=ts,
                                  tenant_id=ws.tenant_id, workspace_id=ws.workspace_id)
                       for p in payloads])
    return ws, definition, run_id


def execute(ws: Workspace, definition: WorkspaceDefinition, run_id: str,
            max_parallel: int = 2) -> bool:
    outcome = execute_run(ws, definition, run_id, max_parallel=max_parallel,
                          lock_timeout=5, progress=False)
    assert outcome.run_id == run_id
    return outcome.interrupted


def events_of(ws: Workspace, run_id: str) -> list[dict[str, Any]]:
    out = []
    for record in EventLog(ws.log_dir).read():
        event: dict[str, Any] = json.loads(record.raw)
        if event.get("correlation_id") == run_id:
            out.append(event)
    return out


def task_events(ws: Workspace, run_id: str, task_key: str) -> list[tuple[str, dict[str, Any]]]:
    return [(e["event_type"], e["data"]) for e in events_of(ws, run_id)
            if e["data"].get("task_key") == task_key]


def task_row(ws: Workspace, run_id: str, task_key: str) -> dict[str, Any]:
    rows = {r["task_key"]: r for r in current_state(ws, write=False).tasks_of(run_id)}
    row: dict[str, Any] = rows[task_key]
    return row


def script(root: Path, name: str, code: str) -> str:
    path = root / "jobs" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(code), encoding="utf-8")
    return f"jobs/{name}"


def asset(key: str, argv: list[str], **extra: Any) -> str:
    lines = [f'[assets."{key}"]', f"run = {json.dumps(argv)}", "retry_delay_s = 0"]
    lines += [f"{k} = {json.dumps(v)}" for k, v in extra.items()]
    return "\n".join(lines) + "\n\n"


def test_flaky_task_fails_once_then_succeeds_with_a_retry_timer(tmp_path: Path) -> None:
    root = tmp_path / "ws"
    job = script(root, "flaky.py", """
        import os, sys
        if os.environ["ARCO_ATTEMPT"] == "1":
            print("warming up", file=sys.stderr)
            print("connection reset by peer", file=sys.stderr)
            sys.exit(3)
    """)
    ws, definition, run_id = plan_and_trigger(
        root, asset("raw.orders", [PY, job], max_attempts=3), ["raw.orders"])
    assert execute(ws, definition, run_id) is False

    history = task_events(ws, run_id, "raw.orders")
    assert [kind for kind, _ in history] == [
        "TaskStarted", "TaskFinished", "TimerRequested", "TaskStarted", "TaskFinished"]
    first, timer = history[1][1], history[2][1]
    assert first["outcome"] == "failed"
    assert first["error"] == {"category": "USER_CODE", "retryable": True,
                              "message": "warming up\nconnection reset by peer"}
    assert first["error_message"] == "warming up\nconnection reset by peer"
    assert first["asset_key"] == "raw.orders" and "partition_key" not in first
    # A10: the failed attempt's number, fired at the TaskFinished timestamp + 0 s
    finished_ts = [e for e in events_of(ws, run_id)
                   if e["event_type"] == "TaskFinished"][0]["timestamp"]
    assert timer["attempt"] == 1 and timer["fire_at"] == finished_ts
    assert timer["timer_id"] == (
        f"timer:retry:{run_id}:raw.orders:1:{parse_timestamp_ms(finished_ts) // 1000}")
    assert history[3][1]["attempt"] == 2 and history[4][1]["outcome"] == "succeeded"
    assert history[0][1]["worker_id"] == f"local:{os.uname().nodename}:{os.getpid()}"
    row = task_row(ws, run_id, "raw.orders")
    assert (row["state"], row["attempt"]) == ("SUCCEEDED", 2)
    logs = ws.runs_dir / run_id / "raw.orders"
    assert (logs / "1.stderr").read_text() == "warming up\nconnection reset by peer\n"
    assert (logs / "2.stdout").exists()


def test_downstream_of_a_failed_task_is_never_started(tmp_path: Path) -> None:
    root = tmp_path / "ws"
    fail = script(root, "fail.py", "import sys; sys.exit('boom')\n")
    mark = script(root, "mark.py", "open('downstream-ran', 'w').close()\n")
    body = (asset("raw.orders", [PY, fail], max_attempts=2)
            + asset("analytics.orders", [PY, mark], deps=["raw.orders"])
            + asset("analytics.report", [PY, mark], deps=["analytics.orders"]))
    ws, definition, run_id = plan_and_trigger(
        root, body, ["raw.orders", "analytics.orders", "analytics.report"])
    execute(ws, definition, run_id)

    assert not (root / "downstream-ran").exists()
    assert task_events(ws, run_id, "analytics.orders") == []
    finished = [d for kind, d in task_events(ws, run_id, "raw.orders") if kind == "TaskFinished"]
    assert [d["attempt"] for d in finished] == [1, 2]
    assert finished[-1]["error_message"] == "boom"
    states = {r["task_key"]: r["state"]
              for r in current_state(ws, write=False).tasks_of(run_id)}
    assert states == {"raw.orders": "FAILED", "analytics.orders": "SKIPPED",
                      "analytics.report": "SKIPPED"}


def test_timeout_kills_the_task_process_group(tmp_path: Path) -> None:
    root = tmp_path / "ws"
    job = script(root, "hang.py", """
        import subprocess, sys, time
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
        open("child.pid", "w").write(str(child.pid))
        time.sleep(60)
    """)
    ws, definition, run_id = plan_and_trigger(
        root, asset("raw.orders", [PY, job], timeout_s=1, max_attempts=1), ["raw.orders"])
    started = time.monotonic()
    execute(ws, definition, run_id)
    assert time.monotonic() - started < 10

    finished = task_events(ws, run_id, "raw.orders")[-1][1]
    assert finished["error"] == {"category": "TIMEOUT", "message": "timed out after 1 s",
                                 "retryable": True}
    child = int((root / "child.pid").read_text())
    assert not _alive(child)
    assert task_row(ws, run_id, "raw.orders")["state"] == "FAILED"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie is dead for our purposes (its parent, the killed task, is gone)
    status = Path(f"/proc/{pid}/status")
    return not (status.exists() and "zombie" in status.read_text())


DRIVER = """
import json, sys
from pathlib import Path
from arco_cli.config import load_definition
from arco_cli.engine.executor import execute_run
from arco_cli.workspace import open_workspace
ws = open_workspace(Path(sys.argv[1]))
outcome = execute_run(ws, load_definition(ws.root), sys.argv[2], max_parallel=4,
                      lock_timeout=5, progress=False)
print(json.dumps({"interrupted": outcome.interrupted}))
"""


SLEEPER = """
import os, subprocess, sys, time

def main(_context=None):
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    open(os.environ["ARCO_TASK_KEY"] + ".pid", "w").write(str(child.pid))
    time.sleep(60)

if __name__ == "__main__":
    main()
"""


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_interrupt_cancels_running_attempts_in_task_key_order(tmp_path: Path,
                                                              signum: int) -> None:
    root = tmp_path / "ws"
    sleeper = script(root, "sleeper.py", SLEEPER)
    (root / "jobs" / "__init__.py").write_text("")
    # one command task and one python task (pool worker) running when the signal comes
    body = ('[assets."raw.b"]\npython = "jobs.sleeper:main"\n\n'
            + asset("raw.a", [PY, sleeper])
            + asset("analytics.after", [PY, sleeper], deps=["raw.a"]))
    ws, _definition, run_id = plan_and_trigger(
        root, body, ["raw.a", "raw.b", "analytics.after"])
    driver = tmp_path / "driver.py"
    driver.write_text(DRIVER, encoding="utf-8")
    proc = subprocess.Popen([PY, str(driver), str(root), run_id], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 20
    while not ((root / "raw.a.pid").exists() and (root / "raw.b.pid").exists()):
        assert time.monotonic() < deadline, proc.stderr.read() if proc.stderr else ""
        time.sleep(0.05)
    proc.send_signal(signum)
    out, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err
    assert json.loads(out) == {"interrupted": True}

    tail = [(e["event_type"], e["data"].get("task_key")) for e in events_of(ws, run_id)][-3:]
    assert tail == [("RunCancelRequested", None), ("TaskFinished", "raw.a"),
                    ("TaskFinished", "raw.b")]
    cancel = events_of(ws, run_id)[-3]["data"]
    assert cancel["reason"] == f"interrupted by {signal.Signals(signum).name}"
    finished = events_of(ws, run_id)[-1]["data"]
    assert finished["outcome"] == "cancelled"
    assert finished["error"]["category"] == "CANCELLED"
    for name in ("raw.a", "raw.b"):
        assert not _alive(int((root / f"{name}.pid").read_text()))
    state = current_state(ws, write=False)
    run = state.get("runs", (run_id,))
    assert run is not None and run["state"] == "CANCELLED"
    assert task_row(ws, run_id, "analytics.after")["state"] == "CANCELLED"


def test_python_task_delta_write_matches_lineage_and_verify(tmp_path: Path) -> None:
    root = tmp_path / "ws"
    script(root, "orders.py", """
        import pyarrow as pa

        def build(context):
            context.log.info("writing %s", context.partition_key)
            return pa.table({"amount": [1, 2, 3]})
    """)
    (root / "jobs" / "__init__.py").write_text("")
    body = ('[assets."analytics.orders"]\npython = "jobs.orders:build"\n'
            'delta_table = "warehouse/orders"\npartitioned_by = ["date"]\ncode_version = "v3"\n')
    ws, definition, run_id = plan_and_trigger(root, body, ["analytics.orders"],
                                              ("date=d:2025-01-15",))
    execute(ws, definition, run_id)

    finished = task_events(ws, run_id, "analytics.orders")[-1][1]
    assert finished["outcome"] == "succeeded", finished
    assert finished["output"] == {"deltaTable": "warehouse/orders", "deltaVersion": 0,
                                  "deltaPartition": "date=2025-01-15", "rowCount": 3}
    assert (finished["partition_key"], finished["code_version"]) == ("date=d:2025-01-15", "v3")
    commit = DeltaTable(str(root / "warehouse" / "orders")).history()[0]
    assert (commit["arco.run_id"], commit["arco.task_key"], commit["arco.attempt"]) == (
        run_id, "analytics.orders", "1")
    row = task_row(ws, run_id, "analytics.orders")
    assert row["execution_lineage_ref"] == (
        f'{{"runId":"{run_id}","taskKey":"analytics.orders","attempt":1,'
        '"deltaTable":"warehouse/orders","deltaVersion":0,"deltaPartition":"date=2025-01-15"}')
    log_text = (ws.runs_dir / run_id / "analytics.orders" / "1.log").read_text()
    assert "writing date=d:2025-01-15" in log_text

    state = current_state(ws, write=False)
    assert check_delta_commits(state, ws) == (1, [])
    # an outside writer replaces the table: version 0 is no longer arco's commit
    import shutil

    import pyarrow as pa
    shutil.rmtree(root / "warehouse" / "orders")
    write_deltalake(str(root / "warehouse" / "orders"), pa.table({"amount": [9]}),
                    commit_properties=CommitProperties(custom_metadata={"arco.run_id": "x"}))
    _, findings = check_delta_commits(state, ws)
    assert [(f["code"], f["runId"]) for f in findings] == [("DELTA_COMMIT_NOT_BY_RUN", run_id)]


OUTPUT_JOB = """
import json, os, sys
with open(os.environ["ARCO_OUTPUT"], "w") as fh:
    fh.write(sys.argv[2])
sys.exit(int(sys.argv[1]))
"""


def _outcome_of(tmp_path: Path, name: str, exit_status: int, output: str,
                **extra: Any) -> dict[str, Any]:
    root = tmp_path / name
    job = script(root, "report.py", OUTPUT_JOB)
    ws, definition, run_id = plan_and_trigger(
        root, asset("raw.orders", [PY, job, str(exit_status), output], max_attempts=2,
                    **extra), ["raw.orders"])
    execute(ws, definition, run_id)
    finished = [d for kind, d in task_events(ws, run_id, "raw.orders") if kind == "TaskFinished"]
    result = dict(finished[-1])
    result["attempts"] = len(finished)
    return result


def test_arco_output_precedence_follows_the_exit_status(tmp_path: Path) -> None:
    error = {"category": "DATA_QUALITY", "message": "nulls in amount"}
    # exit 0 with error: failed, with the reported (non-retryable) error
    got = _outcome_of(tmp_path, "a", 0, json.dumps({"error": error}))
    assert (got["outcome"], got["attempts"]) == ("failed", 1)
    assert got["error"] == {**error, "retryable": False}
    assert got["error_message"] == "nulls in amount"
    # exit 0 with skip: skipped, the reason in error_message
    got = _outcome_of(tmp_path, "b", 0, json.dumps({"skip": "no new orders"}))
    assert (got["outcome"], got["error_message"]) == ("skipped", "no new orders")
    assert "error" not in got
    # non-zero exit with skip: failed, skip ignored; retried (USER_CODE)
    got = _outcome_of(tmp_path, "c", 1, json.dumps({"skip": "ignored"}))
    assert (got["outcome"], got["attempts"]) == ("failed", 2)
    assert got["error"]["category"] == "USER_CODE"
    # error and skip together: error wins
    got = _outcome_of(tmp_path, "d", 0, json.dumps({"error": error, "skip": "x"}))
    assert got["outcome"] == "failed" and got["error"]["category"] == "DATA_QUALITY"
    # exit 0 with a materialization: succeeded with the output as reported
    got = _outcome_of(tmp_path, "e", 0, json.dumps({"materializationId": "m1", "rowCount": 5}))
    assert got["outcome"] == "succeeded"
    assert got["output"] == {"materializationId": "m1", "rowCount": 5}


def test_malformed_arco_output_fails_as_configuration_without_retry(tmp_path: Path) -> None:
    got = _outcome_of(tmp_path, "a", 0, '{"rowCount": 1.5}')
    assert (got["outcome"], got["attempts"]) == ("failed", 1)
    assert got["error"]["category"] == "CONFIGURATION" and got["error"]["retryable"] is False
    assert "ARCO_OUTPUT" in got["error"]["message"]
    got = _outcome_of(tmp_path, "b", 0, '{"rows": 3}')
    assert "unknown key 'rows'" in got["error"]["message"]


def test_command_task_reporting_a_missing_delta_version_fails(tmp_path: Path) -> None:
    got = _outcome_of(tmp_path, "a", 0, json.dumps({"deltaVersion": 4}),
                      delta_table="warehouse/orders")
    assert (got["outcome"], got["attempts"]) == ("failed", 1)
    assert got["error"] == {
        "category": "CONFIGURATION", "retryable": False,
        "message": "the task reported version 4 of Delta table warehouse/orders, which does "
                   "not exist"}


COMMAND_DELTA_JOB = """
import json, os
import pyarrow as pa
import pytest
from deltalake import CommitProperties, write_deltalake
values = json.loads(os.environ["ARCO_PARTITION_VALUES"])
write_deltalake(os.environ["ARCO_DELTA_TABLE"], pa.table({"n": [1], "date": [values["date"]]}),
                partition_by=["date"], mode="append",
                commit_properties=CommitProperties(custom_metadata={
                    "arco.run_id": os.environ["ARCO_RUN_ID"],
                    "arco.task_key": os.environ["ARCO_TASK_KEY"],
                    "arco.attempt": os.environ["ARCO_ATTEMPT"]}))
with open(os.environ["ARCO_OUTPUT"], "w") as fh:
    json.dump({"deltaVersion": 0, "rowCount": 1}, fh)
print(os.environ["ARCO_DELTA_PARTITION"], os.environ["ARCO_PARTITION_KEY"],
      os.environ["ARCO_ATTEMPT_ID"], os.environ["ARCO_WORKSPACE"])
"""


def test_command_task_gets_the_contract_env_and_its_stamped_commit_verifies(
        tmp_path: Path) -> None:
    root = tmp_path / "ws"
    job = script(root, "cmd_delta.py", COMMAND_DELTA_JOB)
    body = asset("raw.orders", [PY, job], delta_table="warehouse/raw", partitioned_by=["date"])
    ws, definition, run_id = plan_and_trigger(root, body, ["raw.orders"], ("2025-01-15",))
    execute(ws, definition, run_id)

    finished = task_events(ws, run_id, "raw.orders")[-1][1]
    assert finished["outcome"] == "succeeded", finished
    # A13: the table is filled from config, the Hive partition from the task
    assert finished["output"] == {"deltaTable": "warehouse/raw", "deltaVersion": 0,
                                  "deltaPartition": "date=2025-01-15", "rowCount": 1}
    stdout = (ws.runs_dir / run_id / "raw.orders" / "1.stdout").read_text().split()
    assert stdout == ["date=2025-01-15", "date=d:2025-01-15", finished["attempt_id"],
                      str(ws.root)]
    assert check_delta_commits(current_state(ws, write=False), ws) == (1, [])


def test_python_task_timeout_kills_its_worker_and_the_retry_gets_a_fresh_one(
        tmp_path: Path) -> None:
    root = tmp_path / "ws"
    script(root, "slow.py", """
        import os, time

        def build(context):
            open(f"worker-{context.attempt}.pid", "w").write(str(os.getpid()))
            if context.attempt == 1:
                time.sleep(60)
    """)
    (root / "jobs" / "__init__.py").write_text("")
    body = ('[assets."raw.orders"]\npython = "jobs.slow:build"\ntimeout_s = 1\n'
            'max_attempts = 2\nretry_delay_s = 0\n')
    ws, definition, run_id = plan_and_trigger(root, body, ["raw.orders"])
    execute(ws, definition, run_id)

    finished = [d for kind, d in task_events(ws, run_id, "raw.orders") if kind == "TaskFinished"]
    assert [d["outcome"] for d in finished] == ["failed", "succeeded"]
    assert finished[0]["error"]["category"] == "TIMEOUT"
    first = int((root / "worker-1.pid").read_text())
    assert first != int((root / "worker-2.pid").read_text())
    assert not _alive(first)


def test_python_task_that_kills_its_worker_fails_as_user_code(tmp_path: Path) -> None:
    root = tmp_path / "ws"
    script(root, "die.py", """
        import os, sys

        def build(context):
            print("giving up", file=sys.stderr, flush=True)
            os._exit(4)
    """)
    (root / "jobs" / "__init__.py").write_text("")
    body = '[assets."raw.orders"]\npython = "jobs.die:build"\nmax_attempts = 1\n'
    ws, definition, run_id = plan_and_trigger(root, body, ["raw.orders"])
    execute(ws, definition, run_id)

    finished = task_events(ws, run_id, "raw.orders")[-1][1]
    assert finished["outcome"] == "failed"
    assert finished["error"] == {"category": "USER_CODE", "message": "giving up",
                                 "retryable": True}


def test_retry_waits_the_chosen_delay_and_records_it(tmp_path: Path) -> None:
    root = tmp_path / "ws"
    job = script(root, "flaky.py", """
        import os, sys
        sys.exit(1 if os.environ["ARCO_ATTEMPT"] == "1" else 0)
    """)
    body = asset("raw.orders", [PY, job], max_attempts=2).replace(
        "retry_delay_s = 0", "retry_delay_s = 1\nretry_max_delay_s = 5")
    ws, definition, run_id = plan_and_trigger(root, body, ["raw.orders"])
    execute(ws, definition, run_id)

    events = [e for e in events_of(ws, run_id) if e["data"].get("task_key") == "raw.orders"]
    finished, timer, restarted = events[1], events[2], events[3]
    fire_ms = parse_timestamp_ms(timer["data"]["fire_at"])
    assert fire_ms == parse_timestamp_ms(finished["timestamp"]) + 1000
    assert parse_timestamp_ms(restarted["timestamp"]) >= fire_ms
    assert task_row(ws, run_id, "raw.orders")["state"] == "SUCCEEDED"


def test_a_run_being_cancelled_executes_nothing(tmp_path: Path) -> None:
    root = tmp_path / "ws"
    mark = script(root, "mark.py", "open('ran', 'w').close()\n")
    ws, definition, run_id = plan_and_trigger(root, asset("raw.orders", [PY, mark]),
                                              ["raw.orders"])
    with EventLog(ws.log_dir).writer(5) as writer:
        ts = now_ms()
        writer.append([make_event(
            {"type": "run_cancel_requested", "run_id": run_id, "requested_by": "tester"},
            event_id=writer.new_event_id(ts), timestamp_ms=ts, tenant_id=ws.tenant_id,
            workspace_id=ws.workspace_id)])
    before = len(events_of(ws, run_id))
    assert execute(ws, definition, run_id) is False
    assert not (root / "ran").exists()
    assert len(events_of(ws, run_id)) == before


def test_resumed_run_keeps_the_recorded_retry_time(tmp_path: Path) -> None:
    root = tmp_path / "ws"
    ok = script(root, "ok.py", "pass\n")
    ws, definition, run_id = plan_and_trigger(root, asset("raw.orders", [PY, ok]),
                                              ["raw.orders"])
    # an earlier executor recorded a failed attempt 1 and a retry due in one second
    from arco_cli.identity import attempt_id, format_ms, retry_timer_id
    ts = now_ms()
    att = attempt_id(run_id, "raw.orders", 1)
    ref = {"run_id": run_id, "task_key": "raw.orders", "attempt": 1}
    payloads: list[dict[str, Any]] = [
        {"type": "task_started", **ref, "attempt_id": att, "worker_id": "local:h:1"},
        {"type": "task_finished", **ref, "attempt_id": att, "worker_id": "local:h:1",
         "outcome": "failed", "error_message": "x", "asset_key": "raw.orders"},
        {"type": "timer_requested", "timer_id": retry_timer_id(run_id, "raw.orders", 1,
                                                               (ts + 1000) // 1000),
         "timer_type": "retry", **ref, "fire_at": format_ms(ts + 1000)},
    ]
    with EventLog(ws.log_dir).writer(5) as writer:
        writer.append([make_event(p, event_id=writer.new_event_id(ts), timestamp_ms=ts,
                                  tenant_id=ws.tenant_id, workspace_id=ws.workspace_id)
                       for p in payloads])
    execute(ws, definition, run_id)

    started = [e for e in events_of(ws, run_id) if e["event_type"] == "TaskStarted"]
    assert [e["data"]["attempt"] for e in started] == [1, 2]
    assert parse_timestamp_ms(started[1]["timestamp"]) >= ts + 1000
    assert task_row(ws, run_id, "raw.orders")["state"] == "SUCCEEDED"


def test_python_tasks_run_in_parallel_pool_workers_that_are_reused(tmp_path: Path) -> None:
    root = tmp_path / "ws"
    script(root, "timed.py", """
        import json, os, time

        def build(context):
            started = time.time()
            time.sleep(0.4)
            with open(f"{context.task_key}.json", "w") as fh:
                json.dump({"pid": os.getpid(), "start": started, "end": time.time()}, fh)
    """)
    (root / "jobs" / "__init__.py").write_text("")
    body = "".join(f'[assets."raw.{name}"]\npython = "jobs.timed:build"\n' + (
        'deps = ["raw.a"]\n' if name == "c" else "") + "\n" for name in "abc")
    ws, definition, run_id = plan_and_trigger(root, body, ["raw.a", "raw.b", "raw.c"])
    execute(ws, definition, run_id, max_parallel=2)

    runs = {name: json.loads((root / f"raw.{name}.json").read_text()) for name in "abc"}
    assert runs["a"]["start"] < runs["b"]["end"] and runs["b"]["start"] < runs["a"]["end"]
    assert runs["a"]["pid"] != runs["b"]["pid"]
    assert runs["c"]["pid"] in (runs["a"]["pid"], runs["b"]["pid"])
    assert runs["c"]["start"] >= runs["a"]["end"]
    # the pool is gone (reaped, not zombies) once execute_run has returned
    assert not any(Path(f"/proc/{runs[name]['pid']}").exists() for name in "ab")


def test_a_command_that_cannot_start_fails_once_as_configuration(tmp_path: Path) -> None:
    root = tmp_path / "ws"
    ws, definition, run_id = plan_and_trigger(
        root, asset("raw.orders", [str(root / "no-such-program")], max_attempts=3),
        ["raw.orders"])
    execute(ws, definition, run_id)

    history = task_events(ws, run_id, "raw.orders")
    assert [kind for kind, _ in history] == ["TaskStarted", "TaskFinished"]
    error = history[1][1]["error"]
    assert (error["category"], error["retryable"]) == ("CONFIGURATION", False)
    assert error["message"].startswith(f"cannot start '{root / 'no-such-program'}'")


def test_serial_python_tasks_write_to_their_own_attempt_files(tmp_path: Path) -> None:
    # one slot and five ready tasks: the waiting ones get their folders made ahead
    root = tmp_path / "ws"
    script(root, "talk.py", """
        import sys

        def build(context):
            print("out", context.task_key)
            print("err", context.task_key, file=sys.stderr)
            context.log.info("log %s", context.task_key)
    """)
    (root / "jobs" / "__init__.py").write_text("")
    keys = [f"raw.t{i}" for i in range(5)]
    body = "".join(f'[assets."{key}"]\npython = "jobs.talk:build"\n\n' for key in keys)
    ws, definition, run_id = plan_and_trigger(root, body, keys)
    execute(ws, definition, run_id, max_parallel=1)

    for key in keys:
        folder = ws.runs_dir / run_id / key
        assert sorted(p.name for p in folder.iterdir()) == ["1.log", "1.stderr", "1.stdout"]
        assert (folder / "1.stdout").read_text() == f"out {key}\n"
        assert (folder / "1.stderr").read_text() == f"err {key}\n"
        assert (folder / "1.log").read_text().endswith(f"INFO log {key}\n")
        assert task_row(ws, run_id, key)["state"] == "SUCCEEDED"


def test_a_cancelled_run_leaves_no_folders_for_tasks_that_never_started(
        tmp_path: Path) -> None:
    root = tmp_path / "ws"
    sleeper = script(root, "sleeper.py", SLEEPER)
    keys = ["raw.a", "raw.b", "raw.c", "raw.d"]
    ws, _definition, run_id = plan_and_trigger(
        root, "".join(asset(key, [PY, sleeper]) for key in keys), keys)
    driver = tmp_path / "driver.py"
    driver.write_text(DRIVER.replace("max_parallel=4", "max_parallel=1"), encoding="utf-8")
    proc = subprocess.Popen([PY, str(driver), str(root), run_id], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 20
    while not (root / "raw.a.pid").exists():
        assert time.monotonic() < deadline, proc.stderr.read() if proc.stderr else ""
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err
    assert json.loads(out) == {"interrupted": True}

    assert sorted(p.name for p in (ws.runs_dir / run_id).iterdir()) == [
        "executor.lock", "raw.a"]
    assert sorted(p.name for p in (ws.runs_dir / run_id / "raw.a").iterdir()) == [
        "1.stderr", "1.stdout"]
    assert [kind for kind, _ in task_events(ws, run_id, "raw.b")] == []


def test_task_started_is_durable_while_the_task_runs(tmp_path: Path) -> None:
    # events wait for company at most a commit delay, never until the task ends
    root = tmp_path / "ws"
    script(root, "watch.py", """
        import json, time
        from arco_cli.log.store import EventLog

        def build(context):
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                for record in EventLog(context.workspace / ".arco" / "log").read():
                    event = json.loads(record.raw)
                    if (event["event_type"], event["data"].get("attempt_id")) == (
                            "TaskStarted", context.attempt_id):
                        return {"materializationId": "saw-my-start"}
                time.sleep(0.01)
            raise RuntimeError("TaskStarted never became visible")
    """)
    (root / "jobs" / "__init__.py").write_text("")
    body = '[assets."raw.orders"]\npython = "jobs.watch:build"\n'
    ws, definition, run_id = plan_and_trigger(root, body, ["raw.orders"])
    execute(ws, definition, run_id)

    finished = task_events(ws, run_id, "raw.orders")[-1][1]
    assert finished["outcome"] == "succeeded", finished
    assert finished["output"] == {"materializationId": "saw-my-start"}


def test_a_pool_worker_that_dies_while_idle_is_replaced(tmp_path: Path) -> None:
    root = tmp_path / "ws"
    script(root, "doomed.py", """
        import os, threading

        def leave_a_bomb(context):
            open("a.pid", "w").write(str(os.getpid()))
            # the worker dies after it answered, while the command task runs
            threading.Timer(0.2, os._exit, (0,)).start()

        def after(context):
            open("c.pid", "w").write(str(os.getpid()))
    """)
    (root / "jobs" / "__init__.py").write_text("")
    body = ('[assets."raw.a"]\npython = "jobs.doomed:leave_a_bomb"\n\n'
            + asset("raw.b", [PY, "-c", "import time; time.sleep(0.8)"], deps=["raw.a"])
            + '[assets."raw.c"]\npython = "jobs.doomed:after"\ndeps = ["raw.b"]\n')
    ws, definition, run_id = plan_and_trigger(root, body, ["raw.a", "raw.b", "raw.c"])
    execute(ws, definition, run_id, max_parallel=1)

    states = {r["task_key"]: r["state"] for r in current_state(ws, write=False).tasks_of(run_id)}
    assert states == {"raw.a": "SUCCEEDED", "raw.b": "SUCCEEDED", "raw.c": "SUCCEEDED"}
    assert (root / "a.pid").read_text() != (root / "c.pid").read_text()


def test_every_event_the_executor_appends_is_canonical_json(tmp_path: Path) -> None:
    from arco_cli.identity import canonical_json

    root = tmp_path / "ws"
    noisy = script(root, "noisy.py", """
        import os, sys
        sys.stderr.write("bad \\x01 byte, é, 😀, \\"quoted\\" \\\\ path\\n")
        sys.exit(1 if os.environ["ARCO_ATTEMPT"] == "1" else 0)
    """)
    script(root, "report.py", """
        from arco_cli import Skip

        def report(context):
            return {"materializationId": "m\\t\\u00e9\\"\\\\", "rowCount": 2**64 - 1}

        def skip(context):
            raise Skip("nothing\\tnew é\\u2028")
    """)
    (root / "jobs" / "__init__.py").write_text("")
    body = (asset("raw.noisy", [PY, noisy], max_attempts=2)
            + '[assets."raw.report"]\npython = "jobs.report:report"\n\n'
            + '[assets."raw.skip"]\npython = "jobs.report:skip"\n')
    ws, definition, run_id = plan_and_trigger(root, body, ["raw.noisy", "raw.report",
                                                           "raw.skip"])
    execute(ws, definition, run_id, max_parallel=1)

    kinds = set()
    for record in EventLog(ws.log_dir).read():
        event = json.loads(record.raw)
        assert record.raw == canonical_json(event).encode("utf-8")
        kinds.add(event["event_type"])
    assert {"TaskStarted", "TaskFinished", "TimerRequested"} <= kinds
    finished = [d for kind, d in task_events(ws, run_id, "raw.report") if kind == "TaskFinished"]
    assert finished[0]["output"] == {"materializationId": 'm\té"\\', "rowCount": 2**64 - 1}
    noisy_failed = task_events(ws, run_id, "raw.noisy")[1][1]
    assert noisy_failed["error_message"] == 'bad \x01 byte, é, 😀, "quoted" \\ path'
    skipped = task_events(ws, run_id, "raw.skip")[1][1]
    assert skipped["error_message"] == "nothing\tnew é\u2028"
