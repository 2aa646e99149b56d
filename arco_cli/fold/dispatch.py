"""Dispatch and timer events (data-model §5.8). Their records are private fold state."""

from __future__ import annotations

from typing import Any

from arco_cli.fold.context import APPLIED, Event, Result, rejected
from arco_cli.fold.state import TERMINAL_TASK_STATES, FoldState
from arco_cli.fold.tasks import drop_dispatch, history_entry

_CONSUMED_STATES = TERMINAL_TASK_STATES | {"RUNNING", "RETRY_WAIT"}
_DISPATCHABLE = frozenset({"READY", "RETRY_WAIT", "DISPATCHED"})
_TIMER_KINDS = {"retry": "retry", "heartbeat": "heartbeat_check", "cron": "cron",
                "sla": "sla_check"}
DEFAULT_QUEUE = "default-queue"


def _consumed(task: dict[str, Any] | None, attempt: int) -> bool:
    if task is None:
        return False
    return task["attempt"] > attempt or (
        task["attempt"] == attempt and task["state"] in _CONSUMED_STATES)


def dispatch_requested(st: FoldState, ev: Event, d: dict[str, Any]) -> Result:
    run_id, task_key, attempt = d["run_id"], d["task_key"], d["attempt"]
    task = st.tasks.get(run_id, {}).get(task_key)
    if _consumed(task, attempt):
        drop_dispatch(st, run_id, task_key, attempt)
        return rejected("stale_attempt", f"Attempt {attempt} of task {task_key} is consumed.")
    queue = d.get("worker_queue") or DEFAULT_QUEUE
    record = st.dispatches.get(d["dispatch_id"])
    record_changed = False
    if record is not None:
        if not record["attempt_id"]:
            record["attempt_id"] = d["attempt_id"]
            record_changed = True
        if record["worker_queue"] in ("", DEFAULT_QUEUE) and queue != record["worker_queue"] \
                and queue != DEFAULT_QUEUE:
            record["worker_queue"] = queue
            record_changed = True
    task_changed = False
    if task is not None and task["state"] in _DISPATCHABLE and attempt >= task["attempt"]:
        attempt_id = record["attempt_id"] if record is not None else d["attempt_id"]
        if (task["state"], task["attempt"], task["attempt_id"], task["retry_not_before"]) != (
                "DISPATCHED", attempt, attempt_id, None):
            task["state"] = "DISPATCHED"
            task["attempt"] = attempt
            task["attempt_id"] = attempt_id
            task["retry_not_before"] = None
            task["row_version"] = ev.event_id
            history_entry(task, attempt, attempt_id, ev.event_id)
            task_changed = True
    else:
        ev.diag("dispatch_ignored_by_task",
                f"Task {task_key} is missing or not dispatchable; only the dispatch is kept.")
    if record is not None:
        if record_changed:
            record["row_version"] = ev.event_id
        if task_changed or record_changed:
            return APPLIED
        return rejected("no_change", f"Dispatch {d['dispatch_id']} is already recorded.")
    st.dispatches[d["dispatch_id"]] = {
        "run_id": run_id, "task_key": task_key, "attempt": attempt,
        "attempt_id": d["attempt_id"], "worker_queue": queue, "status": "PENDING",
        "cloud_task_id": None, "created_at": None, "row_version": ev.event_id,
    }
    st.dispatch_by_attempt[(run_id, task_key, attempt)] = d["dispatch_id"]
    return APPLIED


def dispatch_enqueued(st: FoldState, ev: Event, d: dict[str, Any]) -> Result:
    run_id, task_key, attempt = d.get("run_id"), d.get("task_key"), d.get("attempt")
    full = run_id is not None and task_key is not None and attempt is not None
    if full:
        task = st.tasks.get(run_id, {}).get(task_key)  # type: ignore[arg-type]
        if _consumed(task, attempt):  # type: ignore[arg-type]
            drop_dispatch(st, run_id, task_key, attempt)  # type: ignore[arg-type]
            return rejected("stale_attempt", f"Attempt {attempt} of task {task_key} is consumed.")
    record = st.dispatches.get(d["dispatch_id"])
    if record is not None:
        if ev.event_id <= record["row_version"]:
            return rejected("stale_event", f"Dispatch {d['dispatch_id']} has a newer version.")
        record["status"] = "CREATED"
        record["cloud_task_id"] = d["cloud_task_id"]
        record["created_at"] = ev.ts
        record["row_version"] = ev.event_id
        return APPLIED
    if not full:
        return rejected("unknown_dispatch", f"Dispatch {d['dispatch_id']} is unknown.")
    st.dispatches[d["dispatch_id"]] = {
        "run_id": run_id, "task_key": task_key, "attempt": attempt, "attempt_id": "",
        "worker_queue": DEFAULT_QUEUE, "status": "CREATED", "cloud_task_id": d["cloud_task_id"],
        "created_at": ev.ts, "row_version": ev.event_id,
    }
    st.dispatch_by_attempt[(run_id, task_key, attempt)] = d["dispatch_id"]  # type: ignore[index]
    return APPLIED


def timer_requested(st: FoldState, ev: Event, d: dict[str, Any], fire_at: int) -> Result:
    record = st.timers.get(d["timer_id"])
    changed = False
    if record is None:
        record = st.timers[d["timer_id"]] = {
            "timer_type": d["timer_type"], "run_id": d.get("run_id"),
            "task_key": d.get("task_key"), "attempt": d.get("attempt"), "fire_at": fire_at,
            "state": "SCHEDULED", "cloud_task_id": None, "row_version": ev.event_id,
        }
        changed = True
    else:
        if record["fire_at"] != fire_at:
            record["fire_at"] = fire_at
            changed = True
        for name in ("run_id", "task_key", "attempt"):
            if record[name] is None and d.get(name) is not None:
                record[name] = d[name]
                changed = True
        if changed:
            record["row_version"] = ev.event_id
    if d["timer_type"] == "retry" and record["run_id"] is not None:
        task = st.tasks.get(record["run_id"], {}).get(record["task_key"])
        if task is not None and task["state"] == "RETRY_WAIT" \
                and task["attempt"] == record["attempt"] and task["retry_not_before"] != fire_at:
            task["retry_not_before"] = fire_at
            task["row_version"] = ev.event_id
            changed = True
    if changed:
        return APPLIED
    return rejected("no_change", f"Timer {d['timer_id']} is already recorded as requested.")


def parse_timer_id(timer_id: str) -> dict[str, Any] | None:
    """Fields encoded in a timer id (§4.5), or None when it does not parse."""
    parts = timer_id.split(":")
    if len(parts) < 4 or parts[0] != "timer" or parts[1] not in _TIMER_KINDS:
        return None
    try:
        fire_epoch = int(parts[-1])
    except ValueError:
        return None
    fields: dict[str, Any] = {"timer_type": _TIMER_KINDS[parts[1]], "run_id": None,
                              "task_key": None, "attempt": None, "fire_at": fire_epoch * 1000}
    if parts[1] == "cron":
        return fields if len(parts) == 4 else None
    if len(parts) != 6 or not parts[4].isdigit():
        return None
    fields.update(run_id=parts[2], task_key=parts[3], attempt=int(parts[4]))
    return fields


def timer_acknowledged(st: FoldState, ev: Event, d: dict[str, Any], fired: bool) -> Result:
    """``TimerEnqueued`` (``fired`` False) and ``TimerFired``."""
    record = st.timers.get(d["timer_id"])
    if record is not None:
        if ev.event_id <= record["row_version"]:
            return rejected("stale_event", f"Timer {d['timer_id']} has a newer version.")
    else:
        fields = parse_timer_id(d["timer_id"])
        if fields is None:
            return rejected("unknown_timer", f"Timer id {d['timer_id']} is unknown and "
                            "does not parse.")
        record = st.timers[d["timer_id"]] = {**fields, "state": "SCHEDULED",
                                             "cloud_task_id": None}
    if fired:
        record["state"] = "FIRED"
    else:
        record["cloud_task_id"] = d["cloud_task_id"]
    record["row_version"] = ev.event_id
    return APPLIED
