"""``arco fold [--rebuild]``: bring the Parquet projections up to date (cli.md §4)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import typer

from arco_cli.cli.output import arco_command, current_workspace, emit, lock_timeout

if TYPE_CHECKING:
    from rich.console import Console

HELP = """Fold the event log into the Parquet projections under .arco/projections.

\b
Without options only the events added since the last fold are folded (the stored fold
state is reused when every new event id is above the watermark; otherwise the fold starts
over). With --rebuild the projections are rebuilt from the whole log and written in the
compact one-file-per-table form. Readers are never blocked: the new projection set
replaces the old one atomically.

\b
Examples:
  arco fold
  arco fold --rebuild --json
"""


def render_fold(data: dict[str, Any], console: Console) -> None:
    from rich.table import Table

    mark = data["watermark"]
    noun = "event" if data["eventsFolded"] == 1 else "events"
    console.print(f"Folded {data['eventsFolded']} {noun}; watermark "
                  f"{mark['eventId'] or '(empty log)'} at log offset {mark['logOffset']}.")
    if data["eventsFolded"]:
        table = Table(show_header=True, header_style="bold", box=None, pad_edge=False)
        table.add_column("outcome")
        table.add_column("events", justify="right")
        colours = {"applied": "green", "duplicate": "yellow", "rejected": "red"}
        for outcome, count in data["outcomes"].items():
            table.add_row(f"[{colours.get(outcome, 'white')}]{outcome}[/]", str(count))
        console.print(table)
    if data["outcomes"].get("rejected"):
        console.print("Rejected events keep their reason in event_outcomes; see "
                      "'arco events' or 'arco explain RUN'.")


def register(app: typer.Typer) -> None:
    @app.command("fold", help=HELP, short_help="Bring the Parquet projections up to date.")
    @arco_command("fold")
    def fold_command(
        rebuild: bool = typer.Option(False, "--rebuild",
                                     help="Rebuild every projection from the whole log."),
    ) -> None:
        from arco_cli.projections import fold_workspace

        data = fold_workspace(current_workspace(), rebuild=rebuild,
                              lock_timeout=lock_timeout())
        emit(data, text=lambda console: render_fold(data, console))
