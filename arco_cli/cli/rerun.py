"""``arco rerun RUN_ID (--from-failure | --select TASK...)`` (cli.md §4, decisions A48)."""

from __future__ import annotations

from typing import Any

import typer

from arco_cli.cli.output import arco_command, current_workspace
from arco_cli.errors import UsageError

HELP = """Create and execute a new run linked to its parent run.

\b
--from-failure reruns every task of a FAILED or CANCELLED parent that did not succeed
(refused with RERUN_NOT_ALLOWED for a succeeded or unfinished parent). --select TASK
(repeatable; a task key, or an asset key selecting all its tasks) reruns those tasks,
closed over the parent's dependencies with --include-upstream/--include-downstream.
The run key defaults to one derived from the request, so repeating the same rerun
returns the same run (created: false). RUN_ID may also be a run key.

\b
Examples:
  arco rerun run_01JH4Z2Q7T8W3C6V9N0B5M1K2D --from-failure
  arco rerun nightly-2025-01-15 --select analytics.orders --include-downstream --json
"""


def register(app: typer.Typer) -> None:
    @app.command("rerun", help=HELP, short_help="Rerun a run from failure or a subset.")
    @arco_command("rerun")
    def rerun_command(
        run: str = typer.Argument(..., metavar="RUN_ID", help="Parent run id or run key."),
        from_failure: bool = typer.Option(False, "--from-failure",
                                          help="Rerun every task that did not succeed."),
        select: list[str] = typer.Option([], "--select", metavar="TASK",
                                         help="Task or asset key to rerun (repeatable)."),
        include_upstream: bool = typer.Option(False, "--include-upstream",
                                              help="With --select: add upstream tasks."),
        include_downstream: bool = typer.Option(False, "--include-downstream",
                                                help="With --select: add downstream tasks."),
        run_key: str | None = typer.Option(None, "--run-key", metavar="KEY",
                                           help="Run key (default derived from the request)."),
        label: list[str] = typer.Option([], "--label", metavar="K=V",
                                        help="User label (repeatable; 'arco.' is reserved)."),
        max_parallel: int | None = typer.Option(None, "--max-parallel", metavar="N", min=1,
                                                help="Tasks at once (default: CPUs)."),
    ) -> None:
        from arco_cli.cli.run import execute, finish, parse_labels, reserve_or_report
        from arco_cli.config import load_definition
        from arco_cli.diagnostics import resolve_run, run_read_shape
        from arco_cli.engine.rerun import FROM_FAILURE, SUBSET, default_rerun_key, plan_rerun
        from arco_cli.engine.reservation import check_run_key
        from arco_cli.projections import current_state

        if from_failure == bool(select):
            raise UsageError("give exactly one of --from-failure or --select TASK")
        if from_failure and (include_upstream or include_downstream):
            raise UsageError("--include-upstream/--include-downstream only apply to --select")
        ws = current_workspace()
        definition = load_definition(ws.root)
        labels = parse_labels(label)
        state = current_state(ws)
        parent = resolve_run(state, run)
        kind = FROM_FAILURE if from_failure else SUBSET
        plan = plan_rerun(state, parent, kind=kind, select=select,
                          include_upstream=include_upstream,
                          include_downstream=include_downstream, labels=labels)
        key = check_run_key(run_key) if run_key is not None else \
            default_rerun_key(parent, kind, plan.fingerprint)
        reservation = reserve_or_report(ws, plan, key)
        if reservation is None:
            return
        state, interrupted = execute(ws, definition, reservation, max_parallel)
        shape = run_read_shape(state, reservation.run_id)
        data: dict[str, Any] = {"runId": shape["runId"], "planId": shape["planId"],
                                "state": shape["state"], "created": reservation.created,
                                "createdAt": shape["createdAt"]}
        for field in ("parentRunId", "rootRunId", "rerunKind", "rerunReason"):
            if field in shape:
                data[field] = shape[field]
        data["run"] = shape
        title = "rerun" if reservation.execute else "existing rerun"
        finish(data, interrupted=interrupted, run=shape, text_title=title)
