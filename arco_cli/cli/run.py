"""``arco run SELECTION...``: plan, reserve and execute a run (cli.md §4, decisions A15,
A16, A20, B2). Also the result/exit-code helpers that ``rerun`` shares."""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, Any

import typer

from arco_cli.cli.output import arco_command, current_workspace, emit, json_mode, lock_timeout
from arco_cli.errors import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, UsageError

if TYPE_CHECKING:
    from rich.console import Console

    from arco_cli.config import WorkspaceDefinition
    from arco_cli.engine.reservation import Reservation
    from arco_cli.workspace import Workspace

HELP = """Plan and execute a run of the selected assets.

\b
SELECTION is one or more asset keys (namespace.name or namespace/name). Partitioned
assets need -p (a canonical key such as date=d:2025-01-15, or a bare date). With
--run-key the request is idempotent: the same key and request return the existing run
(created: false, nothing executed); the same key with a different request is refused
with exit 3 and the conflict is recorded. --dry-run prints the plan and the request
fingerprint and writes nothing.

\b
Exit: 0 succeeded, 1 failed/cancelled or not finished, 2 invalid request, 3 run-key
conflict, 130 interrupted (the run is recorded as cancelled).

\b
Examples:
  arco run analytics.orders --include-upstream -p 2025-01-15
  arco run analytics.orders --run-key nightly-2025-01-15 --label team=sales --json
"""

TERMINAL_OK = "SUCCEEDED"
TERMINAL_NEGATIVE = ("FAILED", "CANCELLED")


def parse_labels(raw: list[str]) -> dict[str, str]:
    """``K=V`` split at the first ``=``; empty or repeated keys are usage errors (B10)."""
    labels: dict[str, str] = {}
    for item in raw:
        key, eq, value = item.partition("=")
        if not eq or not key:
            raise UsageError(f"--label expects K=V with a non-empty key, got {item!r}")
        if key in labels:
            raise UsageError(f"--label {key!r} is given twice; give each key once")
        labels[key] = value
    return labels


def show_progress() -> bool:
    return not json_mode() and sys.stderr.isatty()


def execute(ws: Workspace, definition: WorkspaceDefinition, reservation: Reservation,
            max_parallel: int | None) -> tuple[Any, bool]:
    """Execute the reserved run when this command created (or bridged) it; returns the
    folded state afterwards and whether the run was interrupted."""
    if not reservation.execute:
        return reservation.state, False
    from arco_cli.engine.executor import execute_run
    from arco_cli.projections import current_state

    outcome = execute_run(ws, definition, reservation.run_id,
                          max_parallel=max_parallel or os.cpu_count() or 1,
                          lock_timeout=lock_timeout(), progress=show_progress())
    return current_state(ws), outcome.interrupted


def finish(data: dict[str, Any], *, interrupted: bool, run: dict[str, Any],
           text_title: str) -> None:
    """Emit the result with the exit status of the run's public state (A15, B2)."""
    state = run["state"]
    errors: list[dict[str, Any]] = []
    if interrupted:
        code = EXIT_INTERRUPTED
        errors = [{"code": "INTERRUPTED",
                   "message": f"interrupted; run {run['runId']} was recorded as cancelled"}]
    elif state == TERMINAL_OK:
        code = EXIT_OK
    elif state in TERMINAL_NEGATIVE:
        code = EXIT_FAILED
    else:
        code = EXIT_FAILED
        errors = [{"code": "RUN_NOT_FINISHED",
                   "message": f"run {run['runId']} is {state}, not finished; see "
                              f"'arco explain {run['runId']}' or 'arco cancel {run['runId']}'",
                   "details": {"runId": run["runId"], "state": state}}]
    emit(data, exit_code=code, errors=errors,
         text=lambda console: render_run(run, console, text_title))


def reserve_or_report(ws: Workspace, plan: Any, run_key: str | None) -> Reservation | None:
    """Reserve the run; on a run-key conflict print the conflict (text: one sentence
    naming what differs) and exit 3 with the payload (cli.md §4), returning None."""
    from arco_cli.engine.reservation import reserve_run
    from arco_cli.errors import EXIT_CONFLICT, ArcoError

    try:
        return reserve_run(ws, plan, run_key=run_key, lock_timeout=lock_timeout())
    except ArcoError as exc:
        if exc.code != "RUN_KEY_CONFLICT":
            raise
        payload = exc.details or {}

        def text(console: Console) -> None:
            from arco_cli.render.conflicts import conflict_sentence

            console.print(conflict_sentence(payload), markup=False, soft_wrap=True)
            console.print(f"see: arco conflicts --run-key {run_key}", markup=False, soft_wrap=True)

        emit(exc.data, exit_code=EXIT_CONFLICT, errors=exc.items(), text=text)
        return None


def render_run(run: dict[str, Any], console: Console, title: str) -> None:
    """The run, one aligned line per task with the cause of every non-success."""
    from rich.text import Text

    from arco_cli.render.explain import task_cause
    from arco_cli.render.runs import counts_text, state_text

    head = Text(f"{title} {run['runId']}  ")
    head.append_text(state_text(run["state"]))
    head.append(f"  {counts_text(run['taskCounts'])}")
    console.print(head, soft_wrap=True)
    tasks = run["tasks"]
    width = max((len(t["taskKey"]) for t in tasks), default=0)
    for task in tasks:
        cause = task_cause(task)
        attempts = f"attempt {task['attempt']}" if task["attempt"] else "not started"
        line = Text(f"  {task['taskKey']:<{width}}  ")
        line.append_text(state_text(task["state"]))
        line.append(" " * max(1, 11 - len(task["state"])) + attempts
                    + (f"  {cause}" if cause else ""))
        console.print(line, soft_wrap=True)
    if run["state"] != TERMINAL_OK:
        console.print(f"details: arco explain {run['runId']}", markup=False, soft_wrap=True)


def render_dry_run(data: dict[str, Any], console: Console) -> None:
    console.print(f"dry run: {len(data['tasks'])} task(s), request fingerprint "
                  f"{data['requestFingerprint']}", markup=False, soft_wrap=True)
    if "runKey" in data:
        console.print(f"run key {data['runKey']} -> {data['runId']} ({data['reservation']})",
                      markup=False, soft_wrap=True)
    width = max((len(t["taskKey"]) for t in data["tasks"]), default=0)
    for task in data["tasks"]:
        deps = ", ".join(task["dependsOn"]) or "-"
        part = f"  [{task['partitionKey']}]" if "partitionKey" in task else ""
        console.print(f"  {task['taskKey']:<{width}}  after: {deps}  max attempts "
                      f"{task['maxAttempts']}{part}", markup=False, soft_wrap=True)


def register(app: typer.Typer) -> None:
    @app.command("run", help=HELP, short_help="Plan and execute a run of assets.")
    @arco_command("run")
    def run_command(
        selection: list[str] = typer.Argument(..., metavar="SELECTION...",
                                              help="Asset keys to run."),
        partition: list[str] = typer.Option([], "-p", "--partition", metavar="KEY",
                                            help="Partition key (repeatable)."),
        run_key: str | None = typer.Option(None, "--run-key", metavar="KEY",
                                           help="Idempotency key of this request."),
        label: list[str] = typer.Option([], "--label", metavar="K=V",
                                        help="User label (repeatable; 'arco.' is reserved)."),
        include_upstream: bool = typer.Option(False, "--include-upstream",
                                              help="Also run every upstream asset."),
        include_downstream: bool = typer.Option(False, "--include-downstream",
                                                help="Also run every downstream asset."),
        max_parallel: int | None = typer.Option(None, "--max-parallel", metavar="N", min=1,
                                                help="Tasks at once (default: CPUs)."),
        dry_run: bool = typer.Option(False, "--dry-run",
                                     help="Print the plan and fingerprint; write nothing."),
    ) -> None:
        from arco_cli.config import load_definition
        from arco_cli.diagnostics import run_read_shape
        from arco_cli.engine.planner import plan_run
        from arco_cli.engine.reservation import check_run_key

        ws = current_workspace()
        definition = load_definition(ws.root)
        labels = parse_labels(label)
        plan = plan_run(definition, selection, partitions=partition,
                        include_upstream=include_upstream,
                        include_downstream=include_downstream, labels=labels)
        if run_key is not None:
            check_run_key(run_key)
        if dry_run:
            data = dry_run_data(ws, plan, run_key)
            emit(data, text=lambda console: render_dry_run(data, console))
            return
        reservation = reserve_or_report(ws, plan, run_key)
        if reservation is None:
            return
        state, interrupted = execute(ws, definition, reservation, max_parallel)
        run = run_read_shape(state, reservation.run_id)
        data = {**run, "created": reservation.created}
        title = "run" if reservation.execute else "existing run"
        finish(data, interrupted=interrupted, run=run, text_title=title)


def dry_run_data(ws: Workspace, plan: Any, run_key: str | None) -> dict[str, Any]:
    """``{dryRun, requestFingerprint, runKey?, runId?, reservation?, tasks}`` (A20);
    reads the run-key index without taking the writer lock."""
    data: dict[str, Any] = {"dryRun": True, "requestFingerprint": plan.fingerprint}
    if run_key is not None:
        from arco_cli.engine.reservation import lookup_reservation
        from arco_cli.projections import current_state

        run_id, reservation = lookup_reservation(current_state(ws, write=False), ws, run_key,
                                                 plan.fingerprint)
        data.update({"runKey": run_key, "runId": run_id, "reservation": reservation})
    data["tasks"] = [task.summary() for task in plan.tasks]
    return data
