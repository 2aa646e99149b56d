"""``arco cancel RUN_ID [--reason TEXT] [--force]``: cancel a run, and recover one whose
executor died (decisions B1).

A live executor holds ``.arco/runs/<run_id>/executor.lock``. When it runs on this host it
is sent SIGTERM, which makes it stop its tasks and record their cancellation itself (the
same path as Ctrl-C); otherwise it would go on starting tasks the cancel request has
already cancelled. When nobody holds the lock, the run's RUNNING attempts can never
report, so they are recorded as cancelled here (``--force`` does so even while the lock
is held, e.g. for a hung executor).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from arco_cli.cli.output import arco_command, current_workspace, emit, lock_timeout, warn

if TYPE_CHECKING:
    from arco_cli.workspace import Workspace

HELP = """Cancel a run: record a cancel request; tasks not started are cancelled.

\b
A live executor on this machine is sent SIGTERM and records the cancellation of its
running tasks itself. RUNNING attempts whose executor process is gone (killed, crashed,
rebooted) are recorded as cancelled here, so a dead run reaches CANCELLED and can be
rerun with 'arco rerun RUN_ID --from-failure'. --force records running attempts as
cancelled even while their executor holds the run (e.g. a hung executor on another
host). RUN_ID may be a run key.

\b
Examples:
  arco cancel run_01JH4Z2Q7T8W3C6V9N0B5M1K2D --reason "stuck since the outage"
  arco cancel nightly-2025-01-15 --force --json
"""

_TERMINAL = ("SUCCEEDED", "FAILED", "CANCELLED")


def executor_alive(ws: Workspace, run_id: str) -> bool:
    """Whether a process holds the run's executor lock (non-blocking probe)."""
    path = ws.runs_dir / run_id / "executor.lock"
    if not path.is_file():
        return False
    try:
        import fcntl
    except ImportError:  # pragma: no cover - non-POSIX: liveness cannot be decided
        return True
    with path.open("a+", encoding="utf-8") as fh:
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(fh.fileno(), fcntl.LOCK_UN)
    return False


def stop_local_executor(ws: Workspace, run_id: str, timeout: float) -> bool:
    """SIGTERM the run's executor when it runs on this host; wait up to ``timeout`` s for
    it to release its lock. True when it stopped."""
    path = ws.runs_dir / run_id / "executor.lock"
    try:
        holder = path.read_text(encoding="utf-8").strip()
    except OSError:
        return False
    kind, _, rest = holder.partition(":")
    host, _, pid_text = rest.rpartition(":")
    if kind != "local" or host != socket.gethostname() or not pid_text.isdigit():
        warn(f"run {run_id} is executed by {holder or 'an unknown process'}, which cannot "
             "be signalled from here; stop it there")
        return False
    try:
        os.kill(int(pid_text), signal.SIGTERM)
    except ProcessLookupError:
        return not executor_alive(ws, run_id)
    deadline = time.monotonic() + max(timeout, 1.0)
    while time.monotonic() < deadline:
        if not executor_alive(ws, run_id):
            return True
        time.sleep(0.05)
    warn(f"the executor of run {run_id} did not stop within {timeout:g} s")
    return False


def _workers(log_dir: Path, run_id: str) -> dict[tuple[str, int], str]:
    """(task key, attempt) → worker id of the run's ``TaskStarted`` events."""
    from arco_cli.log import EventLog

    workers: dict[tuple[str, int], str] = {}
    needle = run_id.encode("utf-8")
    for record in EventLog(log_dir).read():
        if needle not in record.raw or b"task_started" not in record.raw:
            continue
        data = json.loads(record.raw).get("data", {})
        if data.get("type") == "task_started" and data.get("run_id") == run_id:
            workers[(str(data["task_key"]), int(data["attempt"]))] = str(data["worker_id"])
    return workers


def cancel_run(ws: Workspace, run: str, *, reason: str | None, force: bool) -> dict[str, Any]:
    from arco_cli.diagnostics import public_run_state, resolve_run, run_read_shape
    from arco_cli.engine.batch import user_id
    from arco_cli.events import make_event
    from arco_cli.identity import now_ms
    from arco_cli.log import EventLog
    from arco_cli.projections import current_state

    state = current_state(ws)
    run_id = resolve_run(state, run)
    alive = executor_alive(ws, run_id)
    log = EventLog(ws.log_dir)
    log.check_scope(ws.tenant_id, ws.workspace_id)
    cancelled: list[dict[str, Any]] = []
    requested = False
    with log.writer(lock_timeout()) as writer:
        state = current_state(ws, write=False)  # to the end of the log, under the lock
        row = state.get("runs", (run_id,))
        assert row is not None  # resolve_run found it, and runs are never removed
        tasks = state.tasks_of(run_id)
        if public_run_state(row, tasks) in _TERMINAL:
            warn(f"run {run_id} already finished; nothing to cancel")
        else:
            at = now_ms()
            payloads: list[dict[str, Any]] = []
            if not row.get("cancel_requested"):
                payloads.append({"type": "run_cancel_requested", "run_id": run_id,
                                 "reason": reason, "requested_by": user_id()})
                requested = True
            running = [t for t in tasks if t["state"] == "RUNNING"]
            if running and (force or not alive):
                workers = _workers(ws.log_dir, run_id)
                why = "forced by arco cancel" if alive else "its executor is gone"
                for task in running:
                    attempt = int(task["attempt"])
                    payloads.append({
                        "type": "task_finished", "run_id": run_id,
                        "task_key": task["task_key"], "attempt": attempt,
                        "attempt_id": task.get("attempt_id") or "",
                        "worker_id": workers.get((task["task_key"], attempt), "unknown"),
                        "outcome": "cancelled",
                        "error_message": f"attempt cancelled: {why}",
                        "error": {"category": "CANCELLED",
                                  "message": f"attempt cancelled: {why}"},
                        "cancelled_during_phase": "running",
                        "asset_key": task.get("asset_key"),
                        "partition_key": task.get("partition_key"),
                    })
                    cancelled.append({"taskKey": task["task_key"], "attempt": attempt})
            if payloads:
                writer.append([make_event(p, event_id=writer.new_event_id(at),
                                          timestamp_ms=at, tenant_id=ws.tenant_id,
                                          workspace_id=ws.workspace_id) for p in payloads])
    stopped = False
    if alive and not force and requested:
        # Outside the writer lock: the executor needs it to record its cancellation.
        stopped = stop_local_executor(ws, run_id, lock_timeout())
    shape = run_read_shape(current_state(ws), run_id)
    return {**shape, "cancelRequested": requested, "cancelledAttempts": cancelled,
            "executorAlive": alive, "executorStopped": stopped}


def register(app: typer.Typer) -> None:
    @app.command("cancel", help=HELP, short_help="Cancel a run; recover a dead one.")
    @arco_command("cancel")
    def cancel_command(
        run: str = typer.Argument(..., metavar="RUN_ID", help="Run id or run key."),
        reason: str | None = typer.Option(None, "--reason", metavar="TEXT",
                                          help="Why (recorded on the cancel request)."),
        force: bool = typer.Option(False, "--force",
                                   help="Also cancel attempts of a live executor."),
    ) -> None:
        data = cancel_run(current_workspace(), run, reason=reason, force=force)

        def text(console: Any) -> None:
            from arco_cli.cli.run import render_run

            render_run(data, console, "cancel")
            for item in data["cancelledAttempts"]:
                console.print(f"  recorded attempt {item['attempt']} of {item['taskKey']} "
                              "as cancelled", markup=False, soft_wrap=True)

        emit(data, text=text)
