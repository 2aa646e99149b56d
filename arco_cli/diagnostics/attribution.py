"""Why a task was retried, skipped or cancelled (data-model §8.4–§8.6, decisions B5).

Each attribution is derived from the task row, its incoming ``dep_satisfaction`` edges
and its stored attempt history; nothing here reads the log or the clock.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from arco_cli.diagnostics.state import iso, json_column, put

#: edge resolutions that make a downstream task skip or cancel
NON_SUCCESS = ("FAILED", "SKIPPED", "CANCELLED")

_REASON_BY_RESOLUTION = {
    "FAILED": "UPSTREAM_FAILED",
    "SKIPPED": "UPSTREAM_SKIPPED",
    "CANCELLED": "UPSTREAM_CANCELLED",
}

#: finds the log files of one attempt: (run_id, task_key, attempt) → {kind: path}
LogLocator = Callable[[str, str, int], dict[str, str]]


def attempt_history(task: dict[str, Any], logs: LogLocator | None = None) -> list[dict[str, Any]]:
    """The stored ``attempt_history`` rendered for reading (§8.5): times as UTC strings,
    sorted by attempt (the stored order breaks ties by creating event id)."""
    entries: list[dict[str, Any]] = json_column(task.get("attempt_history"), [])
    rendered = []
    for entry in sorted(entries, key=lambda e: int(e.get("attempt", 0))):
        out: dict[str, Any] = {"attempt": entry.get("attempt")}
        for key in ("attemptId", "outcome", "errorMessage", "errorCategory", "retryable"):
            put(out, key, entry.get(key))
        for key in ("startedAt", "completedAt"):
            value = entry.get(key)
            put(out, key, iso(value) if isinstance(value, int) else value)
        if logs is not None and isinstance(entry.get("attempt"), int):
            found = logs(task["run_id"], task["task_key"], entry["attempt"])
            if found:
                out["logs"] = found
        rendered.append(out)
    return rendered


def retry_attribution(task: dict[str, Any], history: list[dict[str, Any]]) -> dict[str, Any] | None:
    """§8.4: present iff ``attempt > 1``; ``retries`` counts from the attempt number even
    when earlier attempts were never observed (§11.30)."""
    attempt = int(task.get("attempt") or 0)
    if attempt <= 1:
        return None
    out: dict[str, Any] = {
        "retries": attempt - 1,
        "reason": "prior_attempt_failed",
        "attempts": history,
    }
    if task.get("state") == "RETRY_WAIT":
        put(out, "nextRetryNotBefore", iso(task.get("retry_not_before")))
    return out


def _edge_order(edge: dict[str, Any]) -> tuple[int, str, str]:
    # §8.6 tie-break: equal timestamps resolve by upstream key, not by event order (§11.31)
    return (edge.get("satisfied_at") or 0, edge["upstream_task_key"], edge["row_version"])


def chosen_edge(edges: Iterable[dict[str, Any]], task_key: str,
                resolutions: tuple[str, ...] = NON_SUCCESS) -> dict[str, Any] | None:
    """The incoming non-success edge that explains ``task_key``, or None."""
    candidates = [e for e in edges
                  if e["downstream_task_key"] == task_key and e.get("resolution") in resolutions]
    return min(candidates, key=_edge_order) if candidates else None


def _worker_outcome(task: dict[str, Any], outcome: str) -> bool:
    """Did a worker report ``outcome`` for this task (rather than the cascade)?"""
    history = json_column(task.get("attempt_history"), [])
    if any(entry.get("outcome") == outcome for entry in history):
        return True
    # a foreign log may lack history; a completion time only comes from a worker report
    return int(task.get("attempt") or 0) >= 1 and task.get("completed_at") is not None


def skip_attribution(task: dict[str, Any], edges: list[dict[str, Any]]) -> dict[str, Any] | None:
    """§8.6: the chosen edge with its root cause, or the worker's own skip."""
    if task.get("state") != "SKIPPED":
        return None
    edge = chosen_edge(edges, task["task_key"])
    if edge is None:
        if not _worker_outcome(task, "SKIPPED"):
            return None
        attempt = int(task.get("attempt") or 0)
        return {"reasonCode": "WORKER_REPORTED",
                "message": f"Skipped by the worker on attempt {attempt}."}
    upstream = edge["upstream_task_key"]
    resolution = edge["resolution"]
    root = _root_cause(edge, edges, visited={task["task_key"]})
    if resolution == "FAILED":
        message = f"Skipped because upstream task {upstream} failed."
    elif resolution == "CANCELLED":
        message = f"Skipped because upstream task {upstream} was cancelled."
    else:
        message = (f"Skipped because upstream task {upstream} was skipped; "
                   f"root cause: task {root}.")
    return {
        "upstreamTaskKey": upstream,
        "upstreamResolution": resolution,
        "reasonCode": _REASON_BY_RESOLUTION[resolution],
        "rootCauseTaskKey": root,
        "message": message,
    }


def _root_cause(edge: dict[str, Any], edges: list[dict[str, Any]], visited: set[str]) -> str:
    while True:
        upstream = edge["upstream_task_key"]
        if edge["resolution"] != "SKIPPED" or upstream in visited:
            return str(upstream)
        visited.add(upstream)
        nxt = chosen_edge(edges, upstream)
        if nxt is None:
            return str(upstream)
        edge = nxt


def cancel_attribution(task: dict[str, Any], edges: list[dict[str, Any]],
                       cancel_event_id: str | None) -> dict[str, Any] | None:
    """decisions B5: who cancelled a ``CANCELLED`` task.

    ``cancel_event_id`` is the applied ``RunCancelRequested`` of the run, if any. A
    cancelled-edge written before that request means the upstream's cancellation came
    first; later edges only overwrite the edge of a task the run cancel already ended.
    """
    if task.get("state") != "CANCELLED":
        return None
    attempt = int(task.get("attempt") or 0)
    if _worker_outcome(task, "CANCELLED"):
        return {"reasonCode": "WORKER_REPORTED",
                "message": f"Cancelled by the worker on attempt {attempt}."}
    edge = chosen_edge(edges, task["task_key"], ("CANCELLED",))
    if edge is not None and (cancel_event_id is None or edge["row_version"] < cancel_event_id):
        upstream = edge["upstream_task_key"]
        return {"reasonCode": "UPSTREAM_CANCELLED", "upstreamTaskKey": upstream,
                "message": f"Cancelled because upstream task {upstream} was cancelled."}
    if cancel_event_id is not None:
        return {"reasonCode": "RUN_CANCELLED",
                "message": "Cancelled because a cancel was requested for the run."}
    return None
