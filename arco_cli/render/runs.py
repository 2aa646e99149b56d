"""Text for ``arco runs``: one aligned row per run, states coloured."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console, RenderableType
    from rich.table import Table
    from rich.text import Text

STATE_STYLES = {
    "SUCCEEDED": "green", "FAILED": "red", "SKIPPED": "yellow", "CANCELLED": "magenta",
    "CANCELLING": "magenta", "RUNNING": "cyan", "QUEUED": "cyan", "PENDING": "blue",
    "TIMED_OUT": "red",
}


def print_table(console: Console, table: Table) -> None:
    """Print a table at its natural width: ids and timestamps are never cut or wrapped
    to fit a narrow (or non-terminal, 120-column) console."""
    from rich.measure import Measurement

    needed = Measurement.get(console, console.options.update_width(10_000), table).maximum
    # Console.print clamps a width argument to the console's own width, so widen it
    previous = console.width
    console.width = max(previous, needed)
    try:
        console.print(table, crop=False)
    finally:
        console.width = previous


def print_line(console: Console, line: RenderableType) -> None:
    """One sentence on one line, however long (so it can be grepped)."""
    console.print(line, soft_wrap=True)


def state_text(state: str) -> Text:
    """A state word in its colour (plain when colour is off)."""
    from rich.text import Text

    return Text(state, style=STATE_STYLES.get(state, ""))


def counts_text(counts: dict[str, int]) -> str:
    """``3 tasks: 1 succeeded, 1 failed, 1 skipped`` (zero counts left out)."""
    parts = [f"{counts[k]} {k}" for k in ("succeeded", "failed", "skipped", "cancelled",
                                          "running", "queued", "pending") if counts.get(k)]
    total = counts.get("total", 0)
    head = f"{total} task" + ("" if total == 1 else "s")
    return head + (": " + ", ".join(parts) if parts else "")


def render_runs(data: dict[str, Any], console: Console) -> None:
    from rich.table import Table

    runs = data["runs"]
    if not runs:
        console.print("No runs to show.")
        return
    table = Table(box=None, pad_edge=False, show_edge=False, header_style="bold")
    for column in ("RUN", "STATE", "CREATED", "COMPLETED", "RUN KEY", "TASKS", "RERUN OF"):
        table.add_column(column, no_wrap=column in ("RUN", "CREATED", "COMPLETED"))
    for run in runs:
        rerun = ""
        if "parentRunId" in run:
            rerun = run["parentRunId"] + (f" ({run['rerunReason']})" if "rerunReason" in run
                                          else "")
        table.add_row(run["runId"], state_text(run["state"]), run["createdAt"],
                      run.get("completedAt", "-"), run.get("runKey", "-"),
                      counts_text(run["taskCounts"]), rerun or "-")
    print_table(console, table)
