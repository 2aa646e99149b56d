"""Run events (data-model §5.3) and the run counters with the terminal run rule (§5.2)."""

from __future__ import annotations

from typing import Any

from arco_cli.fold.context import APPLIED, Event, Result, rejected
from arco_cli.fold.jsonenc import canonical_text
from arco_cli.fold.state import (
    TERMINAL_RUN_STATES,
    TERMINAL_TASK_STATES,
    EdgeRow,
    FoldState,
    RunRow,
    TaskRow,
)
from arco_cli.identity import run_id_from_run_key

_COUNTER = {"SUCCEEDED": "tasks_succeeded", "FAILED": "tasks_failed",
            "SKIPPED": "tasks_skipped", "CANCELLED": "tasks_cancelled"}


_dumps = canonical_text


def derived_run_id(st: FoldState, run_key: str) -> str:
    run_id = st.derived_run_ids.get(run_key)
    if run_id is None:
        run_id = run_id_from_run_key(st.tenant_id, st.workspace_id, run_key, st.secret)
        st.derived_run_ids[run_key] = run_id
    return run_id


def terminal_run_state(run: Any) -> str:
    if run["tasks_cancelled"] > 0:
        return "CANCELLED"
    if run["tasks_failed"] > 0:
        return "FAILED"
    return "SUCCEEDED"


def count_terminal_task(st: FoldState, run_id: str, state: str, ev: Event) -> None:
    """A task of ``run_id`` became terminal: bump the counters, maybe finish the run."""
    run = st.runs.get(run_id)
    if run is None:
        return
    run["tasks_completed"] += 1
    run[_COUNTER[state]] += 1
    run["row_version"] = ev.event_id
    if run["tasks_completed"] == run["tasks_total"] and run["state"] not in TERMINAL_RUN_STATES:
        run["state"] = terminal_run_state(run)
        run["completed_at"] = ev.ts


def run_triggered(st: FoldState, ev: Event, d: dict[str, Any]) -> Result:
    run_id: str = d["run_id"]
    if run_id in st.runs:
        return rejected("already_exists", f"Run {run_id} already exists.")
    run_key = d.get("run_key")
    labels: dict[str, str] = d.get("labels") or {}
    if run_key is not None and derived_run_id(st, run_key) != run_id:
        ev.diag("run_id_not_derived_from_run_key",
                f"Run id {run_id} is not the id derived from run key {run_key!r}.")
    parent = labels.get("arco.parent_run_id")
    if parent is not None and parent not in st.runs:
        ev.diag("unknown_parent_run", f"Parent run {parent} has no run row.")
    run = RunRow({
        "run_id": run_id, "plan_id": d["plan_id"], "state": "TRIGGERED", "run_key": run_key,
        "cancel_requested": False, "tasks_total": 0, "tasks_completed": 0,
        "tasks_succeeded": 0, "tasks_failed": 0, "tasks_skipped": 0, "tasks_cancelled": 0,
        "triggered_at": ev.ts, "completed_at": None,
        "labels": _dumps(labels) if labels else None, "code_version": d.get("code_version"),
        "row_version": ev.event_id, "trigger": _dumps(d["trigger"]),
    })
    # a PlanCreated folded before this event already created the task rows
    tasks = st.tasks.get(run_id)
    if tasks:
        run["tasks_total"] = len(tasks)
        completed_at = None
        for task in tasks.values():
            state = task["state"]
            if state in TERMINAL_TASK_STATES:
                run["tasks_completed"] += 1
                run[_COUNTER[state]] += 1
                if task["completed_at"] is not None and (
                        completed_at is None or task["completed_at"] > completed_at):
                    completed_at = task["completed_at"]
        if run["tasks_completed"] == run["tasks_total"]:
            run["state"] = terminal_run_state(run)
            run["completed_at"] = completed_at
        else:
            run["state"] = "RUNNING"
    st.runs[run_id] = run
    return APPLIED


def plan_created(st: FoldState, ev: Event, d: dict[str, Any]) -> Result:
    run_id: str = d["run_id"]
    if st.tasks.get(run_id):
        return rejected("already_exists", f"Run {run_id} already has task rows.")
    run = st.runs.get(run_id)
    if run is not None and run["state"] in TERMINAL_RUN_STATES:
        return rejected("terminal_run", f"Run {run_id} is already {run['state']}.")
    # decisions A37: a later TaskDef replaces an earlier one with the same key (keeping
    # the first position), and repeated upstreams count once
    defs: dict[str, dict[str, Any]] = {}
    for task_def in d["tasks"]:
        key = task_def["key"]
        if key in defs:
            ev.diag("duplicate_task_key", f"Task key {key} appears more than once in the plan.")
        defs[key] = task_def
    tasks: dict[str, TaskRow] = {}
    edges: dict[tuple[str, str], EdgeRow] = {}
    dependents: dict[str, list[str]] = {key: [] for key in defs}
    for key, task_def in defs.items():
        upstreams = list(dict.fromkeys(task_def["depends_on"]))
        for up in upstreams:
            if up not in defs:
                ev.diag("dangling_dependency",
                        f"Task {key} depends on {up}, which is not in the plan.")
            dependents.setdefault(up, []).append(key)
            edges[(up, key)] = EdgeRow({
                "run_id": run_id, "upstream_task_key": up, "downstream_task_key": key,
                "satisfied": False, "resolution": None, "satisfied_at": None,
                "satisfying_attempt": None, "row_version": ev.event_id,
            })
        ready = not upstreams
        max_attempts = task_def.get("max_attempts")
        heartbeat = task_def.get("heartbeat_timeout_sec")
        visible = task_def.get("requires_visible_output")
        tasks[key] = TaskRow({
            "run_id": run_id, "task_key": key, "state": "READY" if ready else "BLOCKED",
            "attempt": 0, "attempt_id": None, "started_at": None, "completed_at": None,
            "error_message": None, "deps_total": len(upstreams), "deps_satisfied_count": 0,
            "max_attempts": 3 if max_attempts is None else max_attempts,
            "heartbeat_timeout_sec": 300 if heartbeat is None else heartbeat,
            "last_heartbeat_at": None, "ready_at": ev.ts if ready else None,
            "asset_key": task_def.get("asset_key"),
            "partition_key": task_def.get("partition_key"),
            "requires_visible_output": False if visible is None else visible,
            "materialization_id": None, "output_visibility_state": None,
            "published_at": None, "publish_error": None, "retry_not_before": None,
            "delta_table": None, "delta_version": None, "delta_partition": None,
            "execution_lineage_ref": None, "row_version": ev.event_id,
            "attempt_history": None,
        })
    if not tasks:
        ev.diag("empty_plan", f"The plan of run {run_id} has no tasks.")
    else:
        st.tasks[run_id] = tasks
        st.deps[run_id] = edges
        st.dependents[run_id] = dependents
    if run is not None:
        run["tasks_total"] = len(tasks)
        run["state"] = "RUNNING"
        run["row_version"] = ev.event_id
        return APPLIED
    if tasks:
        return APPLIED
    return rejected("no_change", f"Empty plan for run {run_id}, which has no run row.")


def run_cancel_requested(st: FoldState, ev: Event, d: dict[str, Any]) -> Result:
    run_id: str = d["run_id"]
    run = st.runs.get(run_id)
    tasks = st.tasks.get(run_id)
    if run is not None and run["state"] in TERMINAL_RUN_STATES:
        return rejected("terminal_run", f"Run {run_id} is already {run['state']}.")
    if run is None and not tasks:
        return rejected("unknown_run", f"Run {run_id} has neither a run row nor tasks.")
    for task in (tasks or {}).values():
        if task["state"] not in TERMINAL_TASK_STATES and task["state"] != "RUNNING":
            task["state"] = "CANCELLED"
            task["row_version"] = ev.event_id
            if run is not None:
                run["tasks_cancelled"] += 1
                run["tasks_completed"] += 1
    if run is not None:
        run["cancel_requested"] = True
        run["row_version"] = ev.event_id
        if run["tasks_completed"] == run["tasks_total"]:
            run["state"] = "CANCELLED"
            run["completed_at"] = ev.ts
    return APPLIED
