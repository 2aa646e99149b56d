"""The run read shape, task summaries, public states, rerun chains and the run list
(data-model §5.7, §8.1–§8.3; decisions A46)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from arco_cli.diagnostics.attribution import (
    LogLocator,
    attempt_history,
    cancel_attribution,
    retry_attribution,
    skip_attribution,
)
from arco_cli.diagnostics.state import FoldView, iso, json_column, put
from arco_cli.errors import UsageError

TERMINAL_RUN_STATES = ("SUCCEEDED", "FAILED", "CANCELLED")
PUBLIC_RUN_STATES = ("PENDING", "RUNNING", "CANCELLING", "SUCCEEDED", "FAILED", "CANCELLED",
                     "TIMED_OUT")

_PUBLIC_TASK_STATE = {
    "PLANNED": "PENDING", "BLOCKED": "PENDING", "RETRY_WAIT": "PENDING",
    "READY": "QUEUED", "DISPATCHED": "QUEUED", "RUNNING": "RUNNING",
    "SUCCEEDED": "SUCCEEDED", "FAILED": "FAILED", "SKIPPED": "SKIPPED",
    "CANCELLED": "CANCELLED",
}

_RERUN_REASONS = {"FROM_FAILURE": "from_failure_unsucceeded_tasks",
                  "SUBSET": "subset_selection"}


def public_task_state(fold_state: str) -> str:
    return _PUBLIC_TASK_STATE.get(fold_state, fold_state)


def public_run_state(run: dict[str, Any], tasks: list[dict[str, Any]]) -> str:
    """§5.7, first match wins; output visibility only matters for tasks that require it."""
    fold = run["state"]
    if run.get("cancel_requested") and fold not in TERMINAL_RUN_STATES:
        return "CANCELLING"
    if fold == "CANCELLED":
        return "CANCELLED"
    gated = [t for t in tasks if t.get("requires_visible_output") and t["state"] == "SUCCEEDED"]
    if fold == "FAILED" or any(t.get("output_visibility_state") == "FAILED" for t in gated):
        return "FAILED"
    if fold == "SUCCEEDED" and any(t.get("output_visibility_state") == "PENDING" for t in gated):
        return "RUNNING"
    return "PENDING" if fold == "TRIGGERED" else str(fold)


def rerun_fields(labels: dict[str, str]) -> dict[str, Any]:
    """§8.3: ``parentRunId``, ``rerunKind``, ``rerunReason`` from the reserved labels;
    an unknown kind yields neither kind nor reason (§11.32)."""
    out: dict[str, Any] = {}
    put(out, "parentRunId", labels.get("arco.parent_run_id"))
    kind = labels.get("arco.rerun.kind")
    if kind in _RERUN_REASONS:
        out["rerunKind"] = kind
        out["rerunReason"] = _RERUN_REASONS[kind]
    return out


def run_labels(run: dict[str, Any]) -> dict[str, str]:
    labels: dict[str, str] = json_column(run.get("labels"), {})
    return labels


def cancel_request_event_id(state: FoldView, run_id: str) -> str | None:
    """The applied ``RunCancelRequested`` of the run (event id), if any."""
    for row in state.outcomes_of(run_id):
        if row["event_type"] == "RunCancelRequested" and row["outcome"] == "applied":
            return str(row["event_id"])
    return None


def task_summary(task: dict[str, Any], edges: list[dict[str, Any]], cancel_event_id: str | None,
                 logs: LogLocator | None = None) -> dict[str, Any]:
    """§8.2 plus ``cancelAttribution`` (decisions B5)."""
    out: dict[str, Any] = {"taskKey": task["task_key"]}
    put(out, "assetKey", task.get("asset_key"))
    put(out, "partitionKey", task.get("partition_key"))
    out["state"] = public_task_state(task["state"])
    out["attempt"] = int(task.get("attempt") or 0)
    put(out, "startedAt", iso(task.get("started_at")))
    put(out, "completedAt", iso(task.get("completed_at")))
    put(out, "errorMessage", task.get("error_message"))
    put(out, "executionLineageRef", task.get("execution_lineage_ref"))
    put(out, "deltaTable", task.get("delta_table"))
    put(out, "deltaVersion", task.get("delta_version"))
    put(out, "deltaPartition", task.get("delta_partition"))
    history = attempt_history(task, logs)
    # the current attempt's log files (arco addition): a task that failed on its first
    # attempt has no retry history, yet its stderr is what the operator reads next
    current = [h for h in history if h.get("attempt") == out["attempt"] and "logs" in h]
    if current:
        out["logs"] = current[-1]["logs"]
    put(out, "retryAttribution", retry_attribution(task, history))
    put(out, "skipAttribution", skip_attribution(task, edges))
    put(out, "cancelAttribution", cancel_attribution(task, edges, cancel_event_id))
    if task["state"] == "RETRY_WAIT":
        put(out, "retryNotBefore", iso(task.get("retry_not_before")))
    put(out, "outputVisibilityState", task.get("output_visibility_state"))
    put(out, "publishedAt", iso(task.get("published_at")))
    put(out, "publishError", task.get("publish_error"))
    return out


def _task_counts(run: dict[str, Any], public_states: list[str]) -> dict[str, int]:
    return {
        "total": int(run["tasks_total"]),
        "pending": public_states.count("PENDING"),
        "queued": public_states.count("QUEUED"),
        "running": public_states.count("RUNNING"),
        "succeeded": int(run["tasks_succeeded"]),
        "failed": int(run["tasks_failed"]),
        "skipped": int(run["tasks_skipped"]),
        "cancelled": int(run["tasks_cancelled"]),
    }


def run_read_shape(state: FoldView, run_id: str, *, logs: LogLocator | None = None,
                   task: str | None = None) -> dict[str, Any]:
    """§8.1. ``task`` limits ``tasks`` to one task key (``explain --task``); ``logs``
    adds attempt log paths (decisions B5). Both are keyword-only additions."""
    run = state.get("runs", (run_id,))
    if run is None:
        from arco_cli.errors import ArcoError

        raise ArcoError("UNKNOWN_RUN", f"unknown run {run_id!r}", {"run": run_id})
    tasks = state.tasks_of(run_id)
    edges = state.edges_of(run_id)
    cancel_event_id = cancel_request_event_id(state, run_id) if run.get("cancel_requested") \
        else None
    public = public_run_state(run, tasks)
    labels = run_labels(run)
    out: dict[str, Any] = {
        "runId": run_id,
        "workspaceId": state.workspace_id,
        "planId": run["plan_id"],
        "state": public,
        "createdAt": iso(run["triggered_at"]),
    }
    started = [t["started_at"] for t in tasks if t.get("started_at") is not None]
    put(out, "startedAt", iso(min(started)) if started else None)
    if public in TERMINAL_RUN_STATES:
        put(out, "completedAt", iso(run.get("completed_at")))
    shown = [t for t in tasks if task is None or t["task_key"] == task]
    out["tasks"] = [task_summary(t, edges, cancel_event_id, logs)
                    for t in sorted(shown, key=lambda t: t["task_key"])]
    out["taskCounts"] = _task_counts(run, [public_task_state(t["state"]) for t in tasks])
    out["labels"] = labels
    out.update(rerun_fields(labels))
    put(out, "runKey", run.get("run_key"))
    put(out, "rootRunId", labels.get("arco.root_run_id"))
    return out


def rerun_chain(state: FoldView, run_id: str) -> list[dict[str, Any]]:
    """§8.3 + decisions A44: ancestors root first, ending with the run itself; a parent
    that has no run row is listed first with only its ``runId``; stops at a repeat."""
    chain: list[dict[str, Any]] = []
    seen: set[str] = set()
    current: str | None = run_id
    while current is not None and current not in seen:
        seen.add(current)
        run = state.get("runs", (current,))
        if run is None:
            chain.append({"runId": current})
            break
        labels = run_labels(run)
        fields = rerun_fields(labels)
        item: dict[str, Any] = {"runId": current}
        put(item, "rerunKind", fields.get("rerunKind"))
        put(item, "rerunReason", fields.get("rerunReason"))
        chain.append(item)
        current = labels.get("arco.parent_run_id")
    chain.reverse()
    return chain


def normalise_state_filter(value: str | None) -> str | None:
    """``--state`` accepts any case (decisions A46); unknown values are usage errors."""
    if value is None:
        return None
    upper = value.upper()
    if upper not in PUBLIC_RUN_STATES:
        raise UsageError(f"unknown run state {value!r}; expected one of "
                         + ", ".join(PUBLIC_RUN_STATES))
    return upper


def _newest_first(state: FoldView, run_key: str | None) -> Iterator[dict[str, Any]]:
    """Run rows newest first (``triggered_at``, then ``run_id``). A state that offers
    ``run_order()`` (a stored fold state) is sorted by those keys and reads only the
    rows the list reaches, not the whole table."""
    order = getattr(state, "run_order", None)
    if order is None:
        rows = sorted(state.rows("runs"), key=lambda r: r["run_id"])
        rows.sort(key=lambda r: r["triggered_at"], reverse=True)
        yield from rows
        return
    keys: list[tuple[int, str, str | None]] = sorted(order(), key=lambda k: k[1])
    keys.sort(key=lambda k: k[0], reverse=True)
    for _triggered_at, run_id, key in keys:
        if run_key is None or key == run_key:
            run = state.get("runs", (run_id,))
            if run is not None:
                yield run


def runs_list(state: FoldView, state_filter: str | None = None, run_key: str | None = None,
              limit: int | None = None) -> dict[str, Any]:
    """``arco runs``: newest first by ``triggered_at``, then ``run_id`` (decisions A46)."""
    wanted = normalise_state_filter(state_filter)
    if limit is not None and limit < 0:
        raise UsageError("--limit must not be negative")
    items: list[dict[str, Any]] = []
    for run in _newest_first(state, run_key):
        if limit is not None and len(items) >= limit:
            break
        if run_key is not None and run.get("run_key") != run_key:
            continue
        tasks = state.tasks_of(run["run_id"])
        public = public_run_state(run, tasks)
        if wanted is not None and public != wanted:
            continue
        labels = run_labels(run)
        item: dict[str, Any] = {"runId": run["run_id"], "state": public}
        put(item, "runKey", run.get("run_key"))
        item["createdAt"] = iso(run["triggered_at"])
        if public in TERMINAL_RUN_STATES:
            put(item, "completedAt", iso(run.get("completed_at")))
        rerun = rerun_fields(labels)
        put(item, "parentRunId", rerun.get("parentRunId"))
        put(item, "rerunReason", rerun.get("rerunReason"))
        item["taskCounts"] = _task_counts(run, [public_task_state(t["state"]) for t in tasks])
        items.append(item)
    return {"runs": items}
