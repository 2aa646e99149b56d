"""Execute several runs at once, each in its own ``arco`` process (a backfill's
``max_concurrent_runs``, data-model §7.4).

One process per run because the executor owns its process's signals (Ctrl-C, SIGTERM)
and its run lock. The children run in their own sessions so that a Ctrl-C reaches this
process alone: it first records what the interrupt means for the caller (a backfill
pauses, decisions A34) and only then forwards SIGINT, so each child cancels its run
exactly as an interrupted ``arco run`` does.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from types import FrameType
from typing import TYPE_CHECKING

from arco_cli.engine.triggers.bridge import ExecutionReport
from arco_cli.errors import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, ArcoError

if TYPE_CHECKING:
    from arco_cli.workspace import Workspace

_POLL_S = 0.02


def _spawn(ws: Workspace, run_id: str, lock_timeout: float, at_ms: int) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "arco_cli", "-w", str(ws.root), "--json", "--lock-timeout",
         str(lock_timeout), "execute-run", run_id, "--at-ms", str(at_ms)],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, text=True, start_new_session=True)


def _child_error(run_id: str, proc: subprocess.Popen[str]) -> ArcoError:
    out = proc.stdout.read() if proc.stdout else ""
    try:
        first = json.loads(out)["errors"][0]
        return ArcoError(first["code"], f"executing run {run_id}: {first['message']}",
                         first.get("details"))
    except (ValueError, KeyError, IndexError, TypeError):
        return ArcoError("INTERNAL_ERROR",
                         f"executing run {run_id} failed with exit status {proc.returncode}")


def _sigterm_as_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def execute_runs_in_processes(ws: Workspace, run_ids: list[str], *, max_concurrent: int,
                              lock_timeout: float, clock: Callable[[], int],
                              on_interrupt: Callable[[], None]) -> ExecutionReport:
    """Run ``run_ids`` with at most ``max_concurrent`` executing at a time. On Ctrl-C or
    SIGTERM: ``on_interrupt()`` first, then every running child is interrupted and
    awaited. A child that could not do its job (exit 2/70) raises its error after the
    others finished."""
    report = ExecutionReport()
    pending = list(run_ids)
    running: dict[str, subprocess.Popen[str]] = {}
    failure: ArcoError | None = None
    previous = signal.signal(signal.SIGTERM, _sigterm_as_interrupt)
    try:
        while pending or running:
            while pending and len(running) < max(1, max_concurrent):
                run_id = pending.pop(0)
                running[run_id] = _spawn(ws, run_id, lock_timeout, clock())
                report.executed.append(run_id)
            for run_id, proc in list(running.items()):
                if proc.poll() is None:
                    continue
                del running[run_id]
                if proc.returncode == EXIT_INTERRUPTED:
                    report.interrupted = True  # interrupted on its own: start nothing new
                    pending.clear()
                elif proc.returncode not in (EXIT_OK, EXIT_FAILED) and failure is None:
                    failure = _child_error(run_id, proc)
                    pending.clear()
            time.sleep(_POLL_S)
    except KeyboardInterrupt:
        report.interrupted = True
        on_interrupt()
        for proc in running.values():
            proc.send_signal(signal.SIGINT)
        for proc in running.values():
            proc.wait()
    finally:
        signal.signal(signal.SIGTERM, previous)
    if failure is not None:
        raise failure
    return report
