"""Schedule, sensor and backfill events (data-model §5.10) and the derived backfill chunk
states (§7.4), computed after the last event of every fold."""

from __future__ import annotations

from typing import Any

from arco_cli.fold.context import APPLIED, Event, Result, rejected
from arco_cli.fold.jsonenc import canonical_text
from arco_cli.fold.runs import derived_run_id
from arco_cli.fold.state import FoldState

_STALE_STATUS = '{"status":"skipped_stale_cursor"}'
BACKFILL_TRANSITIONS = {
    "PENDING": ("RUNNING", "CANCELLED"),
    "RUNNING": ("PAUSED", "CANCELLED", "SUCCEEDED", "FAILED"),
    "PAUSED": ("RUNNING", "CANCELLED"),
}
_CHUNK_STATE = {"TRIGGERED": "RUNNING", "RUNNING": "RUNNING", "SUCCEEDED": "SUCCEEDED",
                "FAILED": "FAILED", "CANCELLED": "FAILED"}


_dumps = canonical_text


def _stale(kind: str, name: str) -> Result:
    return rejected("stale_event", f"{kind} {name} already has a newer version.")


def schedule_definition_upserted(st: FoldState, ev: Event, d: dict[str, Any]) -> Result:
    schedule_id = d["schedule_id"]
    row = st.schedule_definitions.get(schedule_id)
    if row is not None and row["row_version"] >= ev.event_id:
        return _stale("Schedule definition", schedule_id)
    st.schedule_definitions[schedule_id] = {
        "schedule_id": schedule_id, "cron_expression": d["cron_expression"],
        "timezone": d["timezone"], "catchup_window_minutes": d["catchup_window_minutes"],
        "asset_selection": _dumps(d["asset_selection"]), "code_version": d.get("code_version"),
        "max_catchup_ticks": d["max_catchup_ticks"], "enabled": d["enabled"],
        "created_at": ev.ts if row is None else row["created_at"], "row_version": ev.event_id,
    }
    return APPLIED


def schedule_ticked(st: FoldState, ev: Event, d: dict[str, Any], scheduled_for: int) -> Result:
    schedule_id, tick_id, run_key = d["schedule_id"], d["tick_id"], d.get("run_key")
    changed = False
    state = st.schedule_state.get(schedule_id)
    if state is None:
        state = st.schedule_state[schedule_id] = {
            "schedule_id": schedule_id, "last_scheduled_for": None, "last_tick_id": None,
            "last_run_key": None, "row_version": "",
        }
    if ev.event_id > state["row_version"]:
        state.update(last_scheduled_for=scheduled_for, last_tick_id=tick_id,
                     last_run_key=run_key, row_version=ev.event_id)
        changed = True
    tick = st.schedule_ticks.get(tick_id)
    if tick is None or ev.event_id > tick["row_version"]:
        partitions = d.get("partition_selection")
        st.schedule_ticks[tick_id] = {
            "tick_id": tick_id, "schedule_id": schedule_id, "scheduled_for": scheduled_for,
            "definition_version": d["definition_version"],
            "asset_selection": _dumps(d["asset_selection"]),
            "partition_selection": _dumps(partitions) if partitions is not None else None,
            "status": _dumps(d["status"]), "run_key": run_key,
            "run_id": derived_run_id(st, run_key) if run_key is not None else None,
            "request_fingerprint": d.get("request_fingerprint"), "row_version": ev.event_id,
        }
        changed = True
    return APPLIED if changed else _stale("Schedule tick", tick_id)


def sensor_evaluated(st: FoldState, ev: Event, d: dict[str, Any]) -> Result:
    sensor_id, eval_id = d["sensor_id"], d["eval_id"]
    state = st.sensor_state.get(sensor_id)
    current_version = state["state_version"] if state is not None else 0
    expected = d.get("expected_state_version")
    stale = expected is not None and expected != current_version
    written = False
    row = st.sensor_evals.get(eval_id)
    if row is None or row["row_version"] < ev.event_id:
        requests = d.get("run_requests")
        st.sensor_evals[eval_id] = {
            "eval_id": eval_id, "sensor_id": sensor_id, "cursor_before": d.get("cursor_before"),
            "cursor_after": d.get("cursor_after"), "expected_state_version": expected,
            "trigger_source": _dumps(d["trigger_source"]),
            "run_requests": _dumps(requests) if requests else None,
            "status": _STALE_STATUS if stale else _dumps(d["status"]),
            "evaluated_at": ev.ts, "row_version": ev.event_id,
            "skip_reason": d.get("skip_reason"),
        }
        written = True
    if stale:
        if not written:
            return _stale("Sensor evaluation", eval_id)
        return ("applied", "stale_cursor", f"Expected state version {expected} of sensor "
                f"{sensor_id}, found {current_version}; the cursor is unchanged.")
    if state is None:
        state = st.sensor_state[sensor_id] = {
            "sensor_id": sensor_id, "cursor": None, "last_evaluation_at": None,
            "last_eval_id": None, "status": "ACTIVE", "state_version": 0, "row_version": "",
        }
    if ev.event_id > state["row_version"]:
        state["cursor"] = d.get("cursor_after")
        state["last_evaluation_at"] = ev.ts
        state["last_eval_id"] = eval_id
        state["state_version"] += 1
        state["row_version"] = ev.event_id
        written = True
    return APPLIED if written else _stale("Sensor", sensor_id)


def _advance_planned(st: FoldState, backfill: dict[str, Any]) -> bool:
    planned = backfill["planned_chunks"]
    backfill_id = backfill["backfill_id"]
    while f"{backfill_id}:{planned}" in st.backfill_chunks:
        planned += 1
    moved: bool = planned != backfill["planned_chunks"]
    backfill["planned_chunks"] = planned
    return moved


def backfill_created(st: FoldState, ev: Event, d: dict[str, Any]) -> Result:
    backfill_id = d["backfill_id"]
    if backfill_id in st.backfills:
        return rejected("already_exists", f"Backfill {backfill_id} already exists.")
    backfill = st.backfills[backfill_id] = {
        "backfill_id": backfill_id, "asset_selection": _dumps(d["asset_selection"]),
        "code_version": d.get("code_version"),
        "partition_selector": _dumps(d["partition_selector"]), "chunk_size": d["chunk_size"],
        "max_concurrent_runs": d["max_concurrent_runs"], "state": "RUNNING",
        "state_version": 1, "total_partitions": d["total_partitions"], "planned_chunks": 0,
        "completed_chunks": 0, "failed_chunks": 0,
        "parent_backfill_id": d.get("parent_backfill_id"), "created_at": ev.ts,
        "row_version": ev.event_id,
    }
    if d["chunk_size"] > 0:
        _advance_planned(st, backfill)
    return APPLIED


def backfill_chunk_planned(st: FoldState, ev: Event, d: dict[str, Any]) -> Result:
    chunk_id = d["chunk_id"]
    chunk = st.backfill_chunks.get(chunk_id)
    if chunk is not None and chunk["row_version"] >= ev.event_id:
        return _stale("Backfill chunk", chunk_id)
    st.backfill_chunks[chunk_id] = {
        "chunk_id": chunk_id, "backfill_id": d["backfill_id"], "chunk_index": d["chunk_index"],
        "partition_keys": _dumps(d["partition_keys"]), "run_key": d["run_key"],
        "run_id": chunk["run_id"] if chunk is not None else None,
        "state": chunk["state"] if chunk is not None else "PLANNED", "row_version": ev.event_id,
    }
    backfill = st.backfills.get(d["backfill_id"])
    if backfill is None:
        ev.diag("unknown_backfill", f"Backfill {d['backfill_id']} does not exist; "
                "the chunk is stored anyway.")
    elif _advance_planned(st, backfill):
        backfill["row_version"] = ev.event_id
    return APPLIED


def backfill_state_changed(st: FoldState, ev: Event, d: dict[str, Any]) -> Result:
    backfill_id = d["backfill_id"]
    backfill = st.backfills.get(backfill_id)
    if backfill is None:
        return rejected("unknown_backfill", f"Backfill {backfill_id} does not exist.")
    if ev.event_id <= backfill["row_version"]:
        return _stale("Backfill", backfill_id)
    current = backfill["state"]
    if current != d["from_state"] or d["to_state"] not in BACKFILL_TRANSITIONS.get(current, ()):
        return rejected("invalid_transition", f"Backfill {backfill_id} is {current}; "
                        f"{d['from_state']} -> {d['to_state']} is not allowed.")
    if d["state_version"] != backfill["state_version"] + 1:
        return rejected("stale_version", f"Expected state version "
                        f"{backfill['state_version'] + 1}, got {d['state_version']}.")
    backfill["state"] = d["to_state"]
    backfill["state_version"] = d["state_version"]
    backfill["row_version"] = ev.event_id
    return APPLIED


def derive_chunk_states(st: FoldState) -> None:
    """§7.4: chunk run id and state from the run-key index and the run rows."""
    counts: dict[str, list[int]] = {}
    for chunk in st.backfill_chunks.values():
        index = st.run_key_index.get(chunk["run_key"])
        run_id = index["run_id"] if index is not None else None
        run = st.runs.get(run_id) if run_id is not None else None
        state = _CHUNK_STATE[run["state"]] if run is not None else "PLANNED"
        chunk["run_id"] = run_id
        chunk["state"] = state
        tally = counts.setdefault(chunk["backfill_id"], [0, 0])
        if state == "SUCCEEDED":
            tally[0] += 1
        elif state == "FAILED":
            tally[1] += 1
    for backfill_id, backfill in st.backfills.items():
        backfill["completed_chunks"], backfill["failed_chunks"] = counts.get(backfill_id, [0, 0])
