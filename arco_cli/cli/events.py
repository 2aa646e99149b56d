"""``arco events``: print log events in log order (cli.md §4, decisions A46)."""

from __future__ import annotations

import json
from collections import deque
from typing import TYPE_CHECKING, Any

import typer

from arco_cli.cli.output import arco_command, current_workspace, emit

if TYPE_CHECKING:
    from rich.console import Console

    from arco_cli.log import EventLog

HELP = """Print events of the workspace's log, in log order.

\b
--type matches the PascalCase event_type (e.g. TaskFinished); --run matches the run id
the fold attributes to each event (its event_outcomes.run_id, so a RunRequested counts
for the run derived from its run key); --limit N keeps the last N matches. Reads the
committed log without taking any lock and never writes it.

\b
Examples:
  arco events --limit 20
  arco events --run run_01J... --type TaskFinished --json
"""


def select_events(log: EventLog, *, event_type: str | None, offsets: set[int] | None,
                  limit: int | None) -> list[tuple[int, dict[str, Any]]]:
    """Matching events as ``(log offset, envelope)``, in log order, the last ``limit``."""
    from arco_cli.log.ids import parse_record

    needle = json.dumps(event_type).encode("utf-8") if event_type is not None else None
    kept: deque[tuple[int, Any]] = deque(maxlen=limit)
    if limit == 0:
        return []
    for first, lines in log.read_batches():
        for offset, raw in enumerate(lines, first):
            if offsets is not None and offset not in offsets:
                continue
            if needle is not None:
                # Cheap byte test first; only records that may match are parsed.
                if needle not in raw:
                    continue
                doc = parse_record(raw, offset)
                if doc.get("event_type") != event_type:
                    continue
                kept.append((offset, doc))
            else:
                kept.append((offset, raw))
    return [(offset, item if isinstance(item, dict) else parse_record(item, offset))
            for offset, item in kept]


def _run_of(event: dict[str, Any]) -> str:
    data = event.get("data")
    run = event.get("correlation_id")
    if run is None and isinstance(data, dict):
        run = data.get("run_id")
    return run if isinstance(run, str) else ""


def render_events(rows: list[tuple[int, dict[str, Any]]], console: Console) -> None:
    from rich.table import Table

    if not rows:
        console.print("No events match.")
        return
    table = Table(box=None, pad_edge=False, header_style="bold")
    for name, justify in (("OFFSET", "right"), ("EVENT ID", "left"), ("TYPE", "left"),
                          ("TIMESTAMP", "left"), ("RUN", "left")):
        table.add_column(name, justify=justify, no_wrap=True)  # type: ignore[arg-type]
    for offset, event in rows:
        table.add_row(str(offset), str(event.get("event_id", "")),
                      str(event.get("event_type", "")), str(event.get("timestamp", "")),
                      _run_of(event))
    console.print(table)


def register(app: typer.Typer) -> None:
    @app.command("events", help=HELP, short_help="Print log events, log order.")
    @arco_command("events")
    def events_command(
        run: str | None = typer.Option(None, "--run", metavar="RUN_ID",
                                       help="Only events the fold attributes to this run."),
        event_type: str | None = typer.Option(None, "--type", metavar="TYPE",
                                              help="Only events of this PascalCase type."),
        limit: int | None = typer.Option(None, "--limit", metavar="N", min=0,
                                         help="Only the last N matching events."),
    ) -> None:
        from arco_cli.errors import ArcoError
        from arco_cli.log import EventLog

        ws = current_workspace()
        log = EventLog(ws.log_dir)
        log.check_scope(ws.tenant_id, ws.workspace_id, record=False)
        offsets: set[int] | None = None
        if run is not None:
            from arco_cli.projections import current_state

            outcomes = current_state(ws).outcomes_of(run)
            if not outcomes:
                raise ArcoError("UNKNOWN_RUN", f"no event in the log belongs to run {run!r}; "
                                "see 'arco runs' for run ids", {"runId": run})
            offsets = {int(row["log_offset"]) for row in outcomes}
        rows = select_events(log, event_type=event_type, offsets=offsets, limit=limit)
        data = {"events": [event for _offset, event in rows]}
        emit(data, text=lambda console: render_events(rows, console))
