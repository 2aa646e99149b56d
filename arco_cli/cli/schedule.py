"""``arco schedule list`` and ``arco schedule tick [NAME]`` (cli.md §4; decisions A18, A20,
A31, B7)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import typer

from arco_cli.cli.output import arco_command, current_workspace, emit, lock_timeout, warn
from arco_cli.errors import EXIT_INTERRUPTED, ArcoError

if TYPE_CHECKING:
    from rich.console import Console

LIST_HELP = """Show each configured schedule: definition, last tick and next due tick.

\b
Example:
  arco schedule list --now 2025-01-15T03:00:00Z --json
"""

TICK_HELP = """Evaluate due ticks (catch-up bounded) and run what they request.

Without NAME every configured schedule is ticked, in name order. Each due tick appends a
ScheduleTicked event and its RunRequested; the runs are then planned and executed (unless
--no-execute). Repeating a tick at the same instant creates nothing.

\b
Exit status: 0 every run SUCCEEDED (or nothing was due), 1 a run failed or a tick
failed, 3 a tick's run key was held by a different request (recorded as a conflict).

\b
Examples:
  arco schedule tick daily_orders --now 2025-01-15T02:00:00Z
  arco schedule tick daily_orders --manual
  arco schedule tick            # every schedule, e.g. from one crontab line
"""


def parse_now(value: str | None) -> int:
    """``--now ISO8601`` as epoch ms; the wall clock when absent (decisions A31)."""
    from arco_cli.identity import now_ms, parse_timestamp_ms

    if value is None:
        return now_ms()
    try:
        return parse_timestamp_ms(value)
    except ValueError:
        raise ArcoError("USAGE_ERROR", f"--now {value!r} is not an RFC 3339 timestamp; use "
                        "e.g. 2025-01-15T02:00:00Z") from None


def show_progress() -> bool:
    """Progress bars only on an interactive stderr, never in JSON mode (cli.md §3)."""
    import sys

    from arco_cli.cli.output import json_mode

    return not json_mode() and sys.stderr.isatty()


_STATE_COLOURS = {
    "SUCCEEDED": "green", "triggered": "green", "finished": "green",
    "FAILED": "red", "CANCELLED": "red", "failed": "red", "conflict": "red", "error": "red",
    "RUNNING": "yellow", "PENDING": "yellow", "PAUSED": "yellow", "CANCELLING": "yellow",
    "PLANNED": "yellow", "skipped": "yellow",
}


def _escape(text: str) -> str:
    return text.replace("[", "\\[")


def table(console: Console, header: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    """Aligned text columns (same content as the JSON data); state words coloured."""
    widths = [len(h) for h in header]
    for row in rows:
        widths = [max(w, len(c)) for w, c in zip(widths, row, strict=True)]
    for i, row in enumerate((header, *rows)):
        cells = []
        for cell, width in zip(row, widths, strict=True):
            padded = _escape(cell.ljust(width))
            colour = _STATE_COLOURS.get(cell) if i else None
            cells.append(f"[{colour}]{padded}[/{colour}]" if colour else padded)
        console.print("  ".join(cells).rstrip())


def failed_run_lines(console: Console, runs: Sequence[tuple[str, str]]) -> None:
    """One sentence per run that did not succeed, pointing at its explanation."""
    for run_id, state in runs:
        console.print(f"run {run_id} is {state}; 'arco explain {run_id}' shows why",
                      markup=False)


def conflict_errors(payloads: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{"code": "RUN_KEY_CONFLICT",
             "message": f"run_key '{p['runKey']}' already reserved with different trigger "
                        "payload", "details": p} for p in payloads]


def _render_ticks(data: dict[str, Any], console: Console) -> None:
    ticks = data["ticks"]
    if not ticks:
        console.print("no tick was due", markup=False)
        return
    rows = [[t["tickId"], t["status"], t.get("runKey", "-"), t.get("runId", "-"),
             t.get("state", "-"), t.get("reason") or t.get("error") or ""] for t in ticks]
    table(console, ["TICK", "STATUS", "RUN KEY", "RUN", "STATE", "NOTE"], rows)
    failed_run_lines(console, [(t["runId"], t["state"]) for t in ticks
                               if t.get("state") not in (None, "SUCCEEDED")])


def _render_list(data: dict[str, Any], console: Console) -> None:
    rows = [[s["scheduleId"], s["cron"], s["timezone"], "yes" if s["enabled"] else "no",
             s.get("lastScheduledFor", "-"), s.get("nextTickAt", "-")]
            for s in data["schedules"]]
    if not rows:
        console.print("no schedules configured", markup=False)
        return
    table(console, ["SCHEDULE", "CRON", "TIMEZONE", "ENABLED", "LAST TICK", "NEXT TICK"], rows)


GROUP_HELP = """Cron schedules: list and tick.

\b
Example:
  arco schedule tick daily_orders --now 2025-01-15T02:00:00Z
"""


def register(app: typer.Typer) -> None:
    group = typer.Typer(name="schedule", help=GROUP_HELP,
                        no_args_is_help=True)
    app.add_typer(group, name="schedule")

    @group.command("list", help=LIST_HELP, short_help="Show schedules.")
    @arco_command("schedule list")
    def list_command(
        now: str | None = typer.Option(None, "--now", metavar="ISO8601",
                                       help="Compute the next tick from this instant."),
    ) -> None:
        from arco_cli.config import load_definition
        from arco_cli.engine.batch import fold_now
        from arco_cli.engine.triggers.schedules import schedule_listing

        ws = current_workspace()
        definition = load_definition(ws.root)
        at = parse_now(now)
        data = {"schedules": schedule_listing(ws, definition, fold_now(ws), at)}
        emit(data, text=lambda console: _render_list(data, console))

    @group.command("tick", help=TICK_HELP, short_help="Evaluate due ticks and run them.")
    @arco_command("schedule tick")
    def tick_command(
        name: str | None = typer.Argument(None, metavar="[NAME]",
                                          help="Schedule to tick (default: all)."),
        now: str | None = typer.Option(None, "--now", metavar="ISO8601",
                                       help="Evaluate at this instant; events carry it."),
        manual: bool = typer.Option(False, "--manual",
                                    help="Tick immediately, whatever the cron says."),
        no_execute: bool = typer.Option(False, "--no-execute",
                                        help="Record ticks and requests only; run nothing."),
    ) -> None:
        from arco_cli.config import load_definition
        from arco_cli.engine.triggers.bridge import UNFINISHED, not_finished_error
        from arco_cli.engine.triggers.schedules import exit_code_of, tick_schedule

        ws = current_workspace()
        definition = load_definition(ws.root)
        at = parse_now(now)
        names = [name] if name is not None else sorted(definition.schedules)
        results = []
        for sid in names:
            result = tick_schedule(ws, definition, sid, now_ms=at, manual=manual,
                                   execute=not no_execute, lock_timeout=lock_timeout(),
                                   progress=show_progress())
            results.append(result)
            for skip in result.bridge_skips:
                warn(f"run key {skip['runKey']} was not started: {skip['reason']}")
            if result.interrupted:
                break
        data: dict[str, Any] = {"ticks": [t.shape() for r in results for t in r.ticks]}
        lagging = [r.schedule_id for r in results if r.skipped]
        if lagging:
            data["skipped"] = [{"scheduleId": s, "reason": "compaction_lag"} for s in lagging]
        errors: list[dict[str, Any]] = []
        if any(r.interrupted for r in results):
            code = EXIT_INTERRUPTED
            errors = [{"code": "INTERRUPTED",
                       "message": "interrupted; the run in progress was recorded as cancelled"}]
        else:
            code = exit_code_of(results, executed=not no_execute)
            ticks = [t for r in results for t in r.ticks]
            if code == 3:
                errors = conflict_errors([t.conflict for t in ticks if t.conflict is not None])
            elif code == 1:
                errors = [not_finished_error(t.run_key or "", t.run_id or "", t.state or "")
                          for t in ticks if t.status == "triggered" and t.state in UNFINISHED]
        emit(data, exit_code=code, errors=errors,
             text=lambda console: _render_ticks(data, console))
