"""``arco execute-run RUN_ID`` (hidden): execute one already-planned run in this process.

Used by commands that execute several runs at once (``backfill run``); an operator
never needs it — ``arco run`` and ``arco rerun`` plan and execute in one step.
"""

from __future__ import annotations

import os

import typer

from arco_cli.cli.output import arco_command, current_workspace, emit, lock_timeout
from arco_cli.errors import EXIT_INTERRUPTED, EXIT_OK


def register(app: typer.Typer) -> None:
    @app.command("execute-run", hidden=True)
    @arco_command("execute-run")
    def execute_run_command(
        run_id: str = typer.Argument(..., metavar="RUN_ID"),
        at_ms: int | None = typer.Option(
            None, "--at-ms", help="Time base of the events (epoch ms; default: the clock)."),
    ) -> None:
        """Execute a planned run (internal).

        Example: arco execute-run run_x --at-ms 1736935200000
        """
        from arco_cli.config import load_definition
        from arco_cli.engine.executor import execute_run
        from arco_cli.identity import anchored_clock, now_ms

        ws = current_workspace()
        outcome = execute_run(
            ws, load_definition(ws.root), run_id, max_parallel=os.cpu_count() or 1,
            lock_timeout=lock_timeout(), progress=False,
            clock=anchored_clock(at_ms) if at_ms is not None else now_ms)
        emit({"runId": run_id, "interrupted": outcome.interrupted},
             exit_code=EXIT_INTERRUPTED if outcome.interrupted else EXIT_OK)
