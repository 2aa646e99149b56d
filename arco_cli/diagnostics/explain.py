"""``arco explain``: the run read shape plus trigger, fingerprint, conflicts, rerun chain
and the events the fold ignored (cli.md §4, data-model §8.9, decisions A20/A44/A47)."""

from __future__ import annotations

from typing import Any

from arco_cli.diagnostics.attribution import LogLocator
from arco_cli.diagnostics.conflicts import conflict_payloads
from arco_cli.diagnostics.runs import rerun_chain, run_read_shape
from arco_cli.diagnostics.state import FoldView, json_column, put
from arco_cli.errors import ArcoError


def ignored_events(state: FoldView, run_id: str, task: str | None = None) -> list[dict[str, Any]]:
    """§8.9: duplicate or rejected outcomes of the run in event-id order; ``task`` keeps
    only that task's events. ``diagnostics`` is parsed and omitted when empty (A44)."""
    out: list[dict[str, Any]] = []
    rows = sorted(state.outcomes_of(run_id), key=lambda r: r["event_id"])
    for row in rows:
        if row["outcome"] not in ("duplicate", "rejected"):
            continue
        if task is not None and row.get("task_key") != task:
            continue
        item: dict[str, Any] = {
            "eventId": row["event_id"],
            "eventType": row["event_type"],
            "idempotencyKey": row["idempotency_key"],
            "outcome": row["outcome"],
        }
        put(item, "reason", row.get("reason"))
        put(item, "detail", row.get("detail"))
        diagnostics = json_column(row.get("diagnostics"), [])
        if diagnostics:
            item["diagnostics"] = diagnostics
        out.append(item)
    return out


def explain_run(state: FoldView, run_id: str, task: str | None = None, *,
                logs: LogLocator | None = None) -> dict[str, Any]:
    """Everything about one run; ``task`` filters ``tasks`` and ``ignoredEvents`` to one
    task key (``UNKNOWN_TASK`` when the run has no such task)."""
    if task is not None and state.get("tasks", (run_id, task)) is None:
        known = ", ".join(t["task_key"] for t in state.tasks_of(run_id)) or "none"
        raise ArcoError("UNKNOWN_TASK", f"run {run_id} has no task {task!r} (tasks: {known})",
                        {"runId": run_id, "taskKey": task})
    data = run_read_shape(state, run_id, logs=logs, task=task)
    run = state.get("runs", (run_id,))
    assert run is not None  # run_read_shape raised UNKNOWN_RUN otherwise
    put(data, "trigger", json_column(run.get("trigger"), None))
    run_key = run.get("run_key")
    if run_key is not None:
        index = state.get("run_key_index", (state.tenant_id, state.workspace_id, run_key))
        if index is not None and index["run_id"] == run_id:
            data["requestFingerprint"] = index["request_fingerprint"]
        data["conflicts"] = conflict_payloads(state, run_key)
    else:
        data["conflicts"] = []
    data["rerunChain"] = rerun_chain(state, run_id)
    data["ignoredEvents"] = ignored_events(state, run_id, task)
    return data
