"""Workspaces for the schedule, sensor, backfill and cross-path CLI tests.

Jobs are tiny ``python -c`` commands so that executed runs stay fast; behaviour that a
test needs to steer (a failing partition, a sensor's answer) is read from files in the
workspace, never mocked.
"""

from __future__ import annotations

import io
import json
import sys
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path
from typing import Any

from tests.conftest import CliResult, run_arco, write_workspace

#: exits 1 when the file ``fail-{partition key with ':' → '_'}`` exists in the workspace;
#: interrupts arco (SIGINT to its parent, as Ctrl-C would) once when ``int-{…}`` exists
PY = json.dumps(sys.executable)
PARTITION_JOB = (
    f'[{PY}, "-c", "import os, signal, sys, time; '
    "p = os.environ['ARCO_PARTITION_KEY'].replace(':', '_'); "
    "i = 'int-' + p; "
    "(os.remove(i), os.kill(os.getppid(), signal.SIGINT), time.sleep(5)) "
    "if os.path.exists(i) else None; "
    "sys.exit(1 if os.path.exists('fail-' + p) else 0)\"]"
)
OK_JOB = f'[{PY}, "-c", "pass"]'
FAIL_JOB = f'[{PY}, "-c", "import sys; sys.exit(1)"]'

#: a sensor evaluator answering with the JSON stored in ``sensor-answer.json``
SENSOR_MODULE = """\
import json, pathlib


def evaluate(ctx):
    path = pathlib.Path(ctx.workspace) / "sensor-answer.json"
    return json.loads(path.read_text()) if path.exists() else {}
"""

ASSETS = f"""
[defaults]
max_attempts = 1

[assets."raw.orders"]
run = {OK_JOB}

[assets."analytics.orders"]
deps = ["raw.orders"]
run = {OK_JOB}

[assets."raw.events"]
run = {PARTITION_JOB}
partitioned_by = ["date"]

[assets."broken.job"]
run = {FAIL_JOB}
"""


def make_workspace(root: Path, extra: str = "") -> Path:
    ws = write_workspace(root, ASSETS + extra)
    (ws / "sensor_jobs.py").write_text(SENSOR_MODULE, encoding="utf-8")
    return ws


def answer(ws: Path, result: dict[str, Any]) -> None:
    """What the file-backed sensor evaluator returns on its next evaluation."""
    (ws / "sensor-answer.json").write_text(json.dumps(result), encoding="utf-8")


#: command paths that never execute a run: run through the entry point in process
_IN_PROCESS = {("schedule", "list"), ("sensor", "list"), ("backfill", "create"),
               ("backfill", "pause"), ("backfill", "resume"), ("backfill", "cancel"),
               ("backfill", "show"), ("backfill", "list"), ("backfill", "retry-failed"),
               ("conflicts",)}


def _in_process(*args: str) -> CliResult:
    """The CLI entry point (argv, envelope, exit codes) without a new interpreter; used
    for commands that execute no run, to keep the suite fast. Runs are always executed
    by a real ``arco`` subprocess (signals, task processes)."""
    from arco_cli.cli.main import run

    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = run(list(args))
    return CliResult(code, out.getvalue(), err.getvalue())


def arco_json(ws: Path, *args: str, expect: int | None = None) -> dict[str, Any]:
    """Run ``arco -w WS --json ARGS`` and return the envelope (checking the exit code)."""
    in_process = ("--no-execute" in args or expect == 2 or tuple(args[:2]) in _IN_PROCESS
                  or tuple(args[:1]) in _IN_PROCESS)
    runner = _in_process if in_process else run_arco
    result = runner("-w", str(ws), "--json", *args)
    envelope = result.envelope
    if expect is not None:
        assert result.returncode == expect, (result.stdout, result.stderr)
    assert envelope["exitCode"] == result.returncode
    return envelope


def events(ws: Path, event_type: str | None = None) -> list[dict[str, Any]]:
    """The committed log records of the workspace, in log order (read from the files)."""
    from arco_cli.log import EventLog

    found = [json.loads(r.raw) for r in EventLog(ws / ".arco" / "log").read()]
    return [e for e in found if event_type is None or e["event_type"] == event_type]


def run_states(ws: Path) -> dict[str, dict[str, str]]:
    """Run key → {runId, state (public)} from the folded projections of the workspace."""
    from arco_cli.diagnostics.runs import public_run_state
    from arco_cli.projections import current_state
    from arco_cli.workspace import open_workspace

    state = current_state(open_workspace(ws), write=False)
    return {str(run["run_key"]): {"runId": run["run_id"],
                                  "state": public_run_state(run, state.tasks_of(run["run_id"]))}
            for run in state.rows("runs") if run.get("run_key")}
