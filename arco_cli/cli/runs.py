"""``arco runs``: list runs, newest first (cli.md §4, decisions A46).

Also home of :func:`read_state`, the one way the read commands get the fold state.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import typer

from arco_cli.cli.output import arco_command, current_workspace, emit, warn

if TYPE_CHECKING:
    from arco_cli.diagnostics import FoldView
    from arco_cli.workspace import Workspace

HELP = """List runs, newest first, with their public state and task counts.

\b
STATE is a public run state (any case): PENDING, RUNNING, CANCELLING, SUCCEEDED, FAILED,
CANCELLED. Reads the projections (bringing them up to date first); never writes the log.

\b
Examples:
  arco runs --state failed --limit 5
  arco runs --run-key nightly-2025-01-15 --json
"""


def read_state(ws: Workspace, *, check_config: bool = True) -> FoldView:
    """The fold state for a read command (decisions B3: only ``[workspace]`` must be
    valid; any other problem in ``arco.toml`` is a warning, not a failure).
    ``check_config=False`` when the caller already validated the definition."""
    from arco_cli.config import load_definition
    from arco_cli.errors import ArcoError
    from arco_cli.projections import current_state

    try:
        if check_config:
            load_definition(ws.root)
    except ArcoError as exc:
        count = len(exc.items())
        warn(f"arco.toml has {count} problem{'s' if count != 1 else ''} "
             f"(first: {exc.items()[0]['message']}); read commands still work")
    from arco_cli.log import EventLog

    # a changed [workspace] scope would fold every event as foreign: refuse instead (B4)
    EventLog(ws.log_dir).check_scope(ws.tenant_id, ws.workspace_id, record=False)
    state: FoldView = current_state(ws)
    return state


def register(app: typer.Typer) -> None:
    @app.command("runs", help=HELP, short_help="List runs, newest first.")
    @arco_command("runs")
    def runs_command(
        state: str | None = typer.Option(None, "--state", metavar="STATE",
                                         help="Only runs in this public state."),
        run_key: str | None = typer.Option(None, "--run-key", metavar="KEY",
                                           help="Only runs with this run key."),
        limit: int | None = typer.Option(None, "--limit", metavar="N", min=0,
                                         help="At most N runs (default: all)."),
    ) -> None:
        from arco_cli.diagnostics import runs_list
        from arco_cli.diagnostics.runs import normalise_state_filter
        from arco_cli.render.runs import render_runs

        wanted = normalise_state_filter(state)  # refuse a bad --state before any work
        data: dict[str, Any] = runs_list(read_state(current_workspace()), wanted, run_key,
                                         limit)
        emit(data, text=lambda console: render_runs(data, console))
