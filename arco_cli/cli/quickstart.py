"""``arco quickstart [DIR]``: the embedded demo, end to end (cli.md §4, decisions A20, B10).

Each step checks that arco behaved as designed (not merely that a command returned), so
the demo doubles as a smoke test of a fresh install: exit 0 only when every step did.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from arco_cli.cli.output import arco_command, emit, json_mode, lock_timeout, stdout_console
from arco_cli.errors import EXIT_FAILED, EXIT_OK, ArcoError, UsageError

if TYPE_CHECKING:
    from arco_cli.config import WorkspaceDefinition
    from arco_cli.workspace import Workspace

HELP = """Run the embedded demo in DIR (default ./arco-quickstart, which must be empty or
absent): create the example workspace, run it (a flaky task is retried, a failing task
skips its downstream, three assets write Delta tables), fix the failure, rerun from
failure, and provoke a run-key conflict — explaining each step. Exit 0 when every step
behaved as designed.

\b
Examples:
  arco quickstart
  arco quickstart /tmp/arco-demo --json
"""

#: the fixed step names of ``data.steps`` (decisions A20)
STEP_NAMES = ("create_workspace", "first_run", "retry", "skip_cascade", "delta_lineage",
              "fix_failure", "rerun_from_failure", "run_key_conflict")
DEMO_RUN_KEY = "quickstart-demo"
ALL_ASSETS = ("analytics.orders", "analytics.revenue", "raw.customers", "raw.orders",
              "reports.daily_revenue")
DELTA_ASSETS = ("analytics.orders", "raw.customers", "raw.orders")


@dataclass
class _Demo:
    ws: Workspace
    definition: WorkspaceDefinition
    explain: bool
    steps: list[dict[str, Any]]
    first_run: str | None = None

    def step(self, name: str, ok: bool, run_id: str | None = None, note: str = "") -> None:
        item: dict[str, Any] = {"name": name}
        if run_id is not None:
            item["runId"] = run_id
        item["ok"] = ok
        self.steps.append(item)
        if self.explain:
            console = stdout_console()
            mark = "ok" if ok else "UNEXPECTED"
            console.print(f"\n== {name}: {mark}" + (f" — {note}" if note else ""),
                          markup=False, soft_wrap=True)

    def show(self, run_id: str, task: str | None = None) -> None:
        """Print ``arco explain`` of the run (text mode only, decisions A20)."""
        if not self.explain:
            return
        from arco_cli.cli.explain import attempt_logs
        from arco_cli.diagnostics import explain_run
        from arco_cli.projections import current_state
        from arco_cli.render.explain import render_explain

        state = current_state(self.ws)
        render_explain(explain_run(state, run_id, task, logs=attempt_logs(self.ws)),
                       stdout_console())


def _run(demo: _Demo, selection: tuple[str, ...], run_key: str | None) -> dict[str, Any]:
    from arco_cli.cli.run import execute
    from arco_cli.diagnostics import run_read_shape
    from arco_cli.engine.planner import plan_run
    from arco_cli.engine.reservation import reserve_run

    plan = plan_run(demo.definition, selection)
    reservation = reserve_run(demo.ws, plan, run_key=run_key, lock_timeout=lock_timeout())
    state, _ = execute(demo.ws, demo.definition, reservation, 2)
    return run_read_shape(state, reservation.run_id)


def _tasks(run: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {t["taskKey"]: t for t in run["tasks"]}


def _delta_commit_by(ws: Workspace, task: dict[str, Any], run_id: str) -> bool:
    """The task's recorded Delta version exists and was committed by this run."""
    from arco_cli.lineage.delta import commit_info
    from arco_cli.lineage.verify import table_path

    if "deltaTable" not in task or "deltaVersion" not in task:
        return False
    info = commit_info(table_path(ws, task["deltaTable"]), int(task["deltaVersion"]))
    return info is not None and info.get("arco.run_id") == run_id


def _first_run(demo: _Demo) -> None:
    run = _run(demo, ALL_ASSETS, DEMO_RUN_KEY)
    demo.first_run = run["runId"]
    tasks = _tasks(run)
    demo.step("first_run", run["state"] == "FAILED", run["runId"],
              "one task failed as designed; the run is FAILED")
    demo.show(run["runId"])

    flaky = tasks["raw.customers"]
    demo.step("retry", flaky["state"] == "SUCCEEDED" and flaky["attempt"] == 2
              and flaky.get("retryAttribution", {}).get("retries") == 1, run["runId"],
              "raw.customers failed once and succeeded on its retry")
    demo.show(run["runId"], "raw.customers")

    skipped = tasks["reports.daily_revenue"].get("skipAttribution", {})
    demo.step("skip_cascade", tasks["analytics.revenue"]["state"] == "FAILED"
              and tasks["reports.daily_revenue"]["state"] == "SKIPPED"
              and skipped.get("rootCauseTaskKey") == "analytics.revenue", run["runId"],
              "analytics.revenue failed, so reports.daily_revenue was skipped")
    demo.show(run["runId"], "reports.daily_revenue")

    lineage = all(tasks[a]["state"] == "SUCCEEDED" and _delta_commit_by(demo.ws, tasks[a],
                                                                       run["runId"])
                  for a in DELTA_ASSETS)
    demo.step("delta_lineage", lineage, run["runId"],
              "each Delta version recorded on a task was committed by this run")
    if demo.explain:
        for asset in DELTA_ASSETS:
            task = tasks[asset]
            stdout_console().print(f"  {asset}: {task.get('deltaTable')} version "
                                   f"{task.get('deltaVersion')}", markup=False, soft_wrap=True)


def _fix_and_rerun(demo: _Demo) -> None:
    from arco_cli.cli.run import execute
    from arco_cli.diagnostics import run_read_shape
    from arco_cli.engine.rerun import FROM_FAILURE, default_rerun_key, plan_rerun
    from arco_cli.engine.reservation import reserve_run
    from arco_cli.projections import current_state

    rules = demo.ws.root / "data" / "revenue_rules.json"
    content = json.loads(rules.read_text("utf-8"))
    content["reject_negative_totals"] = False
    rules.write_text(json.dumps(content) + "\n", encoding="utf-8")
    demo.step("fix_failure", True, None, "data/revenue_rules.json now counts refunds")

    assert demo.first_run is not None
    plan = plan_rerun(current_state(demo.ws), demo.first_run, kind=FROM_FAILURE)
    key = default_rerun_key(demo.first_run, FROM_FAILURE, plan.fingerprint)
    reservation = reserve_run(demo.ws, plan, run_key=key, lock_timeout=lock_timeout())
    state, _ = execute(demo.ws, demo.definition, reservation, 2)
    rerun = run_read_shape(state, reservation.run_id)
    demo.step("rerun_from_failure", rerun["state"] == "SUCCEEDED"
              and sorted(_tasks(rerun)) == ["analytics.revenue", "reports.daily_revenue"]
              and rerun.get("parentRunId") == demo.first_run, rerun["runId"],
              "only the failed and skipped tasks ran again, and succeeded")
    demo.show(rerun["runId"])


def _conflict(demo: _Demo) -> None:
    from arco_cli.diagnostics import conflict_payloads
    from arco_cli.engine.planner import plan_run
    from arco_cli.engine.reservation import reserve_run
    from arco_cli.projections import current_state

    plan = plan_run(demo.definition, ["raw.orders"])
    try:
        reserve_run(demo.ws, plan, run_key=DEMO_RUN_KEY, lock_timeout=lock_timeout())
        refused = False
    except ArcoError as exc:
        refused = exc.code == "RUN_KEY_CONFLICT" and exc.exit_code == 3
    recorded = [c for c in conflict_payloads(current_state(demo.ws), DEMO_RUN_KEY)
                if c["requestedFingerprint"] == plan.fingerprint]
    demo.step("run_key_conflict", refused and len(recorded) == 1, demo.first_run,
              "the same run key with another selection was refused (exit 3) and recorded")
    if demo.explain and recorded:
        from arco_cli.render.conflicts import conflict_sentence

        stdout_console().print("  " + conflict_sentence(recorded[0]), markup=False, soft_wrap=True)


def run_demo(target: Path, *, explain: bool) -> dict[str, Any]:
    from arco_cli.cli.init import write_workspace
    from arco_cli.config import load_definition
    from arco_cli.workspace import open_workspace

    data = write_workspace(target, example=True, force=False)
    ws = open_workspace(Path(data["workspace"]))
    demo = _Demo(ws=ws, definition=load_definition(ws.root), explain=explain, steps=[])
    demo.step("create_workspace", (ws.root / "arco.toml").is_file(), None,
              f"example workspace written to {ws.root}")
    stages: list[Callable[[_Demo], None]] = [_first_run, _fix_and_rerun, _conflict]
    for stage in stages:
        stage(demo)
    return {"workspace": str(ws.root), "steps": demo.steps}


def register(app: typer.Typer) -> None:
    @app.command("quickstart", help=HELP, short_help="Run the embedded end-to-end demo.")
    @arco_command("quickstart")
    def quickstart_command(
        directory: Path = typer.Argument(Path("arco-quickstart"), metavar="[DIR]",
                                         help="Folder to create (default ./arco-quickstart)."),
    ) -> None:
        target = directory.expanduser().resolve()
        if target.exists() and (not target.is_dir() or any(target.iterdir())):
            raise UsageError(f"{target} is not empty; choose a new folder for the demo",
                             {"path": str(target)})
        data = run_demo(target, explain=not json_mode())
        ok = all(step["ok"] for step in data["steps"])
        code = EXIT_OK if ok else EXIT_FAILED

        def summary(console: Any) -> None:
            console.print("")
            for step in data["steps"]:
                console.print(f"  {'ok ' if step['ok'] else 'BAD'}  {step['name']}",
                              markup=False, soft_wrap=True)
            verdict = "every step behaved as designed" if ok else "some steps misbehaved"
            console.print(f"quickstart: {verdict}; workspace {data['workspace']}",
                          markup=False, soft_wrap=True)

        emit(data, exit_code=code, text=summary)
