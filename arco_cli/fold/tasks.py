"""Task events (data-model §5.4), retries (§5.5), satisfaction and cascade (§5.6) and the
attempt history (§8.5)."""

from __future__ import annotations

from collections import deque
from typing import Any

from arco_cli.events import effective_retryable
from arco_cli.fold.context import APPLIED, Event, Result, rejected
from arco_cli.fold.partitions import execution_metadata, lineage_ref, update_partition_status
from arco_cli.fold.runs import count_terminal_task
from arco_cli.fold.state import TERMINAL_TASK_STATES, FoldState
from arco_cli.identity import is_ulid, ulid_time_ms

_I64_MAX = 2**63 - 1
_FINISHED_STATE = {"succeeded": "SUCCEEDED", "skipped": "SKIPPED", "cancelled": "CANCELLED"}
_CASCADE = {"FAILED": "FAILED", "SKIPPED": "SKIPPED", "CANCELLED": "CANCELLED"}


def retry_not_before(ev: Event, attempt: int) -> int | None:
    """§5.5: anchor (ULID server time, else envelope time) + capped exponential backoff."""
    anchor = ulid_time_ms(ev.event_id) if is_ulid(ev.event_id) else ev.ts
    backoff_ms = min(30_000 * 2 ** min(max(attempt - 1, 0), 6), 900_000)
    value = anchor + backoff_ms
    return value if -(2**63) <= value <= _I64_MAX else None


def _task(st: FoldState, d: dict[str, Any]) -> dict[str, Any] | None:
    return st.tasks.get(d["run_id"], {}).get(d["task_key"])


def _missing(d: dict[str, Any]) -> Result:
    return rejected("unknown_task", f"Task {d['task_key']} of run {d['run_id']} does not exist.")


def history_entry(task: dict[str, Any], attempt: int, attempt_id: str | None,
                  event_id: str) -> dict[str, Any]:
    """The attempt-history entry of (attempt, attempt_id), created when first observed."""
    history: list[tuple[int, str, dict[str, Any]]] | None = task["attempt_history"]
    if history is None:
        history = task["attempt_history"] = []
    for a, _eid, found in history:
        if a == attempt and found.get("attemptId") == attempt_id:
            return found
    entry: dict[str, Any] = {"attempt": attempt}
    if attempt_id is not None:
        entry["attemptId"] = attempt_id
    history.append((attempt, event_id, entry))
    return entry


def drop_dispatch(st: FoldState, run_id: str, task_key: str, attempt: int) -> None:
    dispatch_id = st.dispatch_by_attempt.pop((run_id, task_key, attempt), None)
    if dispatch_id is not None:
        st.dispatches.pop(dispatch_id, None)


def task_started(st: FoldState, ev: Event, d: dict[str, Any]) -> Result:
    task = _task(st, d)
    if task is None:
        return _missing(d)
    attempt = d["attempt"]
    if task["state"] in TERMINAL_TASK_STATES:
        return rejected("terminal_task", f"Task {d['task_key']} is already {task['state']}.")
    if attempt < task["attempt"]:
        return rejected("stale_attempt",
                        f"Attempt {attempt} is older than the task's attempt {task['attempt']}.")
    if attempt == task["attempt"] and task["attempt_id"] is not None \
            and task["attempt_id"] != d["attempt_id"]:
        return rejected("attempt_id_conflict",
                        f"Attempt {attempt} already has attempt id {task['attempt_id']}.")
    if task["state"] == "BLOCKED":
        ev.diag("started_while_blocked",
                f"Task {d['task_key']} started while its upstreams were unfinished.")
    task["state"] = "RUNNING"
    task["attempt"] = attempt
    task["attempt_id"] = d["attempt_id"]
    task["started_at"] = ev.ts
    # decisions A36: a new attempt clears the retry time, keeps the last error message
    task["retry_not_before"] = None
    task["row_version"] = ev.event_id
    drop_dispatch(st, d["run_id"], d["task_key"], attempt)
    history_entry(task, attempt, d["attempt_id"], ev.event_id)["startedAt"] = ev.ts
    return APPLIED


def task_heartbeat(st: FoldState, ev: Event, d: dict[str, Any], heartbeat_ms: int | None) -> Result:
    task = _task(st, d)
    if task is None:
        return _missing(d)
    if task["state"] in TERMINAL_TASK_STATES:
        return rejected("terminal_task", f"Task {d['task_key']} is already {task['state']}.")
    if task["attempt_id"] is None:
        return rejected("unstarted_attempt", f"Task {d['task_key']} has not been started.")
    if (task["attempt"], task["attempt_id"]) != (d["attempt"], d["attempt_id"]):
        return rejected("stale_attempt", f"The task's current attempt is "
                        f"{task['attempt']} ({task['attempt_id']}).")
    task["last_heartbeat_at"] = ev.ts if heartbeat_ms is None else heartbeat_ms
    task["row_version"] = ev.event_id
    return APPLIED


def task_finished(st: FoldState, ev: Event, d: dict[str, Any]) -> Result:
    """``TaskFinished`` and ``TaskCompletionRecorded`` (§5.4, steps 1–9)."""
    task = _task(st, d)
    if task is None:
        return _missing(d)
    pair = (d["attempt"], d["attempt_id"])
    current = (task["attempt"], task["attempt_id"])
    if task["state"] in TERMINAL_TASK_STATES and pair == current:
        return rejected("terminal_task", f"Task {d['task_key']} is already {task['state']}.")
    if task["attempt_id"] is None:
        return rejected("unstarted_attempt",
                        f"Task {d['task_key']} was never dispatched or started.")
    if pair != current:
        return rejected("stale_attempt", f"The task's current attempt is "
                        f"{current[0]} ({current[1]}).")
    run_id, attempt, outcome = d["run_id"], d["attempt"], d["outcome"]
    error = d.get("error")
    # 1. the new state
    if outcome == "failed":
        retry = effective_retryable(error) and attempt < task["max_attempts"]
        state = "RETRY_WAIT" if retry else "FAILED"
    else:
        state = _FINISHED_STATE[outcome]
    terminal = state in TERMINAL_TASK_STATES
    # 2. keys the plan did not carry
    if task["asset_key"] is None:
        task["asset_key"] = d.get("asset_key")
    if task["partition_key"] is None:
        partition_key = d.get("partition_key")
        if partition_key is None:
            partition_key = (d.get("output") or {}).get("deltaPartition")
        task["partition_key"] = partition_key
    task["state"] = state
    task["row_version"] = ev.event_id
    # 3.
    if terminal:
        task["completed_at"] = ev.ts
    # 4. + 5.
    materialization = None
    ref = None
    if state == "SUCCEEDED":
        task["error_message"] = None
        task["retry_not_before"] = None
        materialization = execution_metadata(d)
        mid, delta_table, delta_version, delta_partition = materialization
        ref = lineage_ref(run_id, d["task_key"], attempt, mid, delta_table, delta_version,
                          delta_partition)
        task["materialization_id"] = mid
        task["delta_table"] = delta_table
        task["delta_version"] = delta_version
        task["delta_partition"] = delta_partition
        task["execution_lineage_ref"] = ref
        if task["output_visibility_state"] is None:
            task["published_at"] = None
            task["publish_error"] = None
    else:
        task["error_message"] = d.get("error_message")
        task["retry_not_before"] = retry_not_before(ev, attempt) if state == "RETRY_WAIT" \
            else None
        task["output_visibility_state"] = None
        task["published_at"] = None
        task["publish_error"] = None
    # 6. attempt history
    entry = history_entry(task, attempt, d["attempt_id"], ev.event_id)
    entry["outcome"] = outcome.upper()
    entry["completedAt"] = ev.ts
    message = d.get("error_message")
    if message is None and error:
        message = error.get("message")
    if message is not None:
        entry["errorMessage"] = message
    if error:
        entry["errorCategory"] = error["category"]
        entry["retryable"] = effective_retryable(error)
    # 7. run counters
    if terminal:
        count_terminal_task(st, run_id, state, ev)
    # 8. downstream edges
    if state == "SUCCEEDED":
        satisfy_dependents(st, ev, run_id, d["task_key"], attempt)
    elif terminal:
        cascade(st, ev, run_id, d["task_key"], _CASCADE[state])
    # 9. partition status
    update_partition_status(st, ev, d, task, state == "SUCCEEDED", materialization, ref)
    return APPLIED


def satisfy_dependents(st: FoldState, ev: Event, run_id: str, upstream: str,
                       attempt: int) -> None:
    tasks = st.tasks[run_id]
    edges = st.deps[run_id]
    for down in st.dependents[run_id].get(upstream, ()):
        edge = edges[(upstream, down)]
        was_satisfied = edge["satisfied"]
        edge["satisfied"] = True
        edge["resolution"] = "SUCCESS"
        edge["satisfied_at"] = ev.ts
        edge["satisfying_attempt"] = attempt
        edge["row_version"] = ev.event_id
        if was_satisfied:
            continue
        task = tasks[down]
        task["deps_satisfied_count"] += 1
        task["row_version"] = ev.event_id
        if task["deps_satisfied_count"] >= task["deps_total"] and task["state"] == "BLOCKED":
            task["state"] = "READY"
            task["ready_at"] = ev.ts


def cascade(st: FoldState, ev: Event, run_id: str, origin: str, resolution: str) -> None:
    """Breadth-first skip/cancel cascade of §5.6 (no timestamps on cascaded tasks)."""
    tasks = st.tasks[run_id]
    edges = st.deps[run_id]
    dependents = st.dependents[run_id]
    queue: deque[tuple[str, str]] = deque([(origin, resolution)])
    while queue:
        current, edge_resolution = queue.popleft()
        for down in dependents.get(current, ()):
            edge = edges[(current, down)]
            edge["satisfied"] = False
            edge["resolution"] = edge_resolution
            edge["satisfied_at"] = ev.ts
            edge["satisfying_attempt"] = None
            edge["row_version"] = ev.event_id
            task = tasks[down]
            if task["state"] in TERMINAL_TASK_STATES:
                continue
            new_state = "CANCELLED" if edge_resolution == "CANCELLED" else "SKIPPED"
            task["state"] = new_state
            task["row_version"] = ev.event_id
            count_terminal_task(st, run_id, new_state, ev)
            queue.append((down, new_state))


def visibility_changed(st: FoldState, ev: Event, d: dict[str, Any], state: str,
                       published_at: int | None, publish_error: str | None) -> Result:
    """``TaskOutputVisibilityChanged`` (also the embedded update of a completion)."""
    task = _task(st, d)
    if task is None:
        return _missing(d)
    if (task["attempt"], task["attempt_id"]) != (d["attempt"], d["attempt_id"]):
        return rejected("stale_attempt", f"The task's current attempt is "
                        f"{task['attempt']} ({task['attempt_id']}).")
    if task["state"] != "SUCCEEDED":
        return rejected("invalid_transition",
                        f"Task {d['task_key']} is {task['state']}, not SUCCEEDED.")
    new = state.upper()
    current = task["output_visibility_state"]
    if current in ("VISIBLE", "FAILED") and current != new:
        return rejected("invalid_transition", f"Output visibility {current} is final.")
    task["output_visibility_state"] = new
    if new == "PENDING":
        task["published_at"] = None
        task["publish_error"] = None
    elif new == "VISIBLE":
        task["published_at"] = ev.ts if published_at is None else published_at
        task["publish_error"] = None
    else:
        task["published_at"] = None
        task["publish_error"] = publish_error
    task["row_version"] = ev.event_id
    return APPLIED
