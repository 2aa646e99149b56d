"""``arco sensor evaluate NAME`` and ``arco sensor list`` (cli.md §4; decisions A18, A20,
A26, B7)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import typer

from arco_cli.cli.output import arco_command, current_workspace, emit, lock_timeout, warn
from arco_cli.cli.schedule import (
    conflict_errors,
    failed_run_lines,
    parse_now,
    show_progress,
    table,
)
from arco_cli.errors import EXIT_INTERRUPTED

if TYPE_CHECKING:
    from rich.console import Console

EVALUATE_HELP = """Evaluate a sensor once and run what it requests.

A poll sensor is evaluated when its minimum interval has passed; its cursor advances by
compare-and-set, so a concurrent evaluation is recorded as skipped_stale_cursor. A push
sensor evaluates one message (--message-id); a redelivered message requests nothing new.

\b
Exit status: 0 every run SUCCEEDED (or nothing to do: paused, min interval, no new data),
1 the evaluator failed or a run failed, 3 a requested run key was held by a different
request (recorded as a conflict).

\b
Examples:
  arco sensor evaluate new_orders --now 2025-01-15T02:00:00Z
  arco sensor evaluate order_events --message-id msg-0042 --json
"""

LIST_HELP = """Show each configured sensor: kind, cursor, last evaluation and status.

\b
Example:
  arco sensor list --json
"""


def _render_eval(data: dict[str, Any], console: Console) -> None:
    line = f"sensor {data['sensorId']}: {data['status']}"
    if data.get("evalId"):
        line += f" ({data['evalId']})"
    console.print(line, markup=False)
    for key, label in (("skipReason", "skip reason"), ("error", "error"), ("cursor", "cursor")):
        if data.get(key) is not None:
            console.print(f"  {label}: {data[key]}", markup=False)
    if data["runs"]:
        rows = [[r["runKey"], r.get("runId") or "-", "yes" if r["created"] else "no",
                 "conflict" if r.get("conflict") else r.get("state", "-")]
                for r in data["runs"]]
        table(console, ["RUN KEY", "RUN", "CREATED", "STATE"], rows)
        failed_run_lines(console, [(r["runId"], r["state"]) for r in data["runs"]
                                   if r.get("state") not in (None, "SUCCEEDED")])


def _render_list(data: dict[str, Any], console: Console) -> None:
    if not data["sensors"]:
        console.print("no sensors configured", markup=False)
        return
    rows = [[s["sensorId"], s["kind"], "yes" if s["paused"] else "no", s["status"],
             s.get("cursor", "-"), s.get("lastEvaluationAt", "-")] for s in data["sensors"]]
    table(console, ["SENSOR", "KIND", "PAUSED", "STATUS", "CURSOR", "LAST EVALUATION"], rows)


GROUP_HELP = """Sensors: evaluate and list.

\b
Example:
  arco sensor evaluate new_orders
"""


def register(app: typer.Typer) -> None:
    group = typer.Typer(name="sensor", help=GROUP_HELP,
                        no_args_is_help=True)
    app.add_typer(group, name="sensor")

    @group.command("evaluate", help=EVALUATE_HELP, short_help="Evaluate a sensor once.")
    @arco_command("sensor evaluate")
    def evaluate_command(
        name: str = typer.Argument(..., metavar="NAME", help="Sensor to evaluate."),
        message_id: str | None = typer.Option(None, "--message-id", metavar="ID",
                                              help="The message a push sensor evaluates."),
        now: str | None = typer.Option(None, "--now", metavar="ISO8601",
                                       help="Evaluate at this instant; events carry it."),
        no_execute: bool = typer.Option(False, "--no-execute",
                                        help="Record the evaluation and requests only."),
    ) -> None:
        from arco_cli.config import load_definition
        from arco_cli.engine.triggers.bridge import not_finished_error
        from arco_cli.engine.triggers.sensor_controller import evaluate_sensor

        ws = current_workspace()
        definition = load_definition(ws.root)
        result = evaluate_sensor(ws, definition, name, now_ms=parse_now(now),
                                 message_id=message_id, execute=not no_execute,
                                 lock_timeout=lock_timeout(), progress=show_progress())
        for skip in result.bridge_skips:
            warn(f"run key {skip['runKey']} was not started: {skip['reason']}")
        data = result.shape()
        errors: list[dict[str, Any]] = []
        if result.interrupted:
            code = EXIT_INTERRUPTED
            errors = [{"code": "INTERRUPTED",
                       "message": "interrupted; the run in progress was recorded as cancelled"}]
        else:
            code = result.exit_code(executed=not no_execute)
            if code == 3:
                errors = conflict_errors([r.conflict for r in result.runs
                                          if r.conflict is not None])
            elif code == 1:
                errors = [not_finished_error(r.run_key, r.run_id or "", r.state or "")
                          for r in result.unfinished()]
        emit(data, exit_code=code, errors=errors,
             text=lambda console: _render_eval(data, console))

    @group.command("list", help=LIST_HELP, short_help="Show sensors.")
    @arco_command("sensor list")
    def list_command() -> None:
        from arco_cli.config import load_definition
        from arco_cli.engine.batch import fold_now
        from arco_cli.engine.triggers.sensor_controller import sensor_listing

        ws = current_workspace()
        definition = load_definition(ws.root)
        data = {"sensors": sensor_listing(ws, definition, fold_now(ws))}
        emit(data, text=lambda console: _render_list(data, console))
