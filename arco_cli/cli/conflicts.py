"""``arco conflicts [--run-key KEY] [--fail-on-any]`` (cli.md §4, data-model §8.7)."""

from __future__ import annotations

import typer

from arco_cli.cli.output import arco_command, current_workspace, emit
from arco_cli.errors import EXIT_FAILED, EXIT_OK

HELP = """List run-key conflicts: requests refused because their run key was already held
by a request with a different fingerprint, with what differs field by field.

\b
Sorted by run key, then the conflicting request's event id. With --fail-on-any the exit
status is 1 when there is at least one conflict (a CI gate).

\b
Examples:
  arco conflicts
  arco conflicts --run-key nightly-2025-01-15 --fail-on-any --json
"""


def register(app: typer.Typer) -> None:
    @app.command("conflicts", help=HELP, short_help="List run-key conflicts.")
    @arco_command("conflicts")
    def conflicts_command(
        run_key: str | None = typer.Option(None, "--run-key", metavar="KEY",
                                           help="Only conflicts on this run key."),
        fail_on_any: bool = typer.Option(False, "--fail-on-any",
                                         help="Exit 1 when any conflict is found."),
    ) -> None:
        from arco_cli.cli.runs import read_state
        from arco_cli.diagnostics import conflict_payloads
        from arco_cli.render.conflicts import render_conflicts

        conflicts = conflict_payloads(read_state(current_workspace()), run_key)
        data = {"conflicts": conflicts}
        exit_code = EXIT_FAILED if fail_on_any and conflicts else EXIT_OK
        emit(data, exit_code=exit_code, text=lambda console: render_conflicts(data, console))
