"""``arco explain RUN_ID_OR_RUN_KEY [--task TASK_KEY]`` (cli.md §4, decisions A20/A47/B5)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import typer

from arco_cli.cli.output import arco_command, current_workspace, emit

if TYPE_CHECKING:
    from arco_cli.workspace import Workspace

HELP = """Explain one run: state, trigger, run key and fingerprint, rerun chain, every task
with its attempts, and the cause of every retry, skip, cancellation and conflict.

\b
RUN_ID_OR_RUN_KEY is a run id, else a run key (the run-key index, then the runs' keys).
--task limits the task table and the ignored events to one task.
Exit 2 with UNKNOWN_RUN / UNKNOWN_TASK when nothing matches.

\b
Examples:
  arco explain run_01JH4Z2Q7T8W3C6V9N0B5M1K2D
  arco explain nightly-2025-01-15 --task analytics.orders --json
"""

_LOG_KINDS = ("stdout", "stderr", "log")


def attempt_logs(ws: Workspace) -> Any:
    """Locator of attempt log files (decisions B5): paths relative to the workspace root
    of ``.arco/runs/<run_id>/<task_key>/<attempt>.{stdout,stderr,log}`` that exist."""

    def locate(run_id: str, task_key: str, attempt: int) -> dict[str, str]:
        folder = ws.runs_dir / run_id / task_key
        found = {}
        for kind in _LOG_KINDS:
            path = folder / f"{attempt}.{kind}"
            if path.is_file():
                found[kind] = path.relative_to(ws.root).as_posix()
        return found

    return locate


def register(app: typer.Typer) -> None:
    @app.command("explain", help=HELP, short_help="Explain one run and every non-success.")
    @arco_command("explain")
    def explain_command(
        run: str = typer.Argument(..., metavar="RUN_ID_OR_RUN_KEY",
                                  help="A run id or a run key."),
        task: str | None = typer.Option(None, "--task", metavar="TASK_KEY",
                                        help="Only this task."),
    ) -> None:
        from arco_cli.cli.runs import read_state
        from arco_cli.diagnostics import explain_run, resolve_run
        from arco_cli.render.explain import render_explain

        ws = current_workspace()
        state = read_state(ws)
        run_id = resolve_run(state, run)
        data = explain_run(state, run_id, task, logs=attempt_logs(ws))
        emit(data, text=lambda console: render_explain(data, console))
