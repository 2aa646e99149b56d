"""``arco cancel RUN_ID [--reason TEXT] [--force]``: cancel a run, and recover one whose
executor died (decisions B1).

A live executor holds ``.arco/runs/<run_id>/executor.lock``; when nobody holds it, the
run's RUNNING attempts can never report, so they are recorded as cancelled here
(``--force`` does so even while the lock is held, e.g. for a hung executor).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from arco_cli.cli.output import arco_command, current_workspace, emit, lock_timeout, warn

if TYPE_CHECKING:
    from arco_cli.workspace import Workspace

HELP = """Cancel a run: record a cancel request; tasks not started are cancelled.

\b
RUNNING attempts whose executor process is gone (killed, crashed, rebooted) are recorded
as cancelled too, so a dead run reaches CANCELLED and can be rerun with
'arco rerun RUN_ID --from-failure'. --force also cancels attempts of an executor that is
still alive (it should be stopped as well). RUN_ID may be a run key.

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
    from arco_cli.engine.reservation import manual_user_id
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
                                 "reason": reason, "requested_by": manual_user_id()})
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
            elif running:
                warn(f"run {run_id} is still being executed by a live process; stop it "
                     "(Ctrl-C) or pass --force to cancel its running attempts")
            if payloads:
                writer.append([make_event(p, event_id=writer.new_event_id(at),
                                          timestamp_ms=at, tenant_id=ws.tenant_id,
                                          workspace_id=ws.workspace_id) for p in payloads])
    shape = run_read_shape(current_state(ws), run_id)
    return {**shape, "cancelRequested": requested, "cancelledAttempts": cancelled,
            "executorAlive": alive}


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
