"""The schedule controller: upsert the definition, append due ticks and their requests,
bridge and execute this schedule's runs (data-model §7.1, §7.3; decisions A1, A17,
A18, A29–A32, B7, B9).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from arco_cli.engine.batch import fold_now
from arco_cli.engine.triggers.bridge import (
    CompactionLag,
    bridge_source,
    controller_batch,
    execute_runs,
    json_value,
    public_state,
    scoped,
)
from arco_cli.engine.triggers.cron import (
    CronError,
    due_ticks,
    manual_run_key,
    manual_tick_id,
    next_fire_ms,
    tick_id,
    tick_partition,
    tick_run_key,
)
from arco_cli.errors import ArcoError
from arco_cli.events.keys import expected_idempotency_key
from arco_cli.identity import anchored_clock, format_ms, request_fingerprint

if TYPE_CHECKING:
    from arco_cli.config import ScheduleDef, WorkspaceDefinition
    from arco_cli.fold import FoldState
    from arco_cli.workspace import Workspace


def definition_payload(sched: ScheduleDef) -> dict[str, Any]:
    """``ScheduleDefinitionUpserted``; automation requests carry no code version (A6)."""
    return {"type": "schedule_definition_upserted", "schedule_id": sched.schedule_id,
            "cron_expression": sched.cron.strip(), "timezone": sched.timezone.strip(),
            "catchup_window_minutes": sched.catchup_window_minutes,
            "asset_selection": sorted(set(sched.selection)),
            "max_catchup_ticks": sched.max_catchup_ticks, "enabled": sched.enabled}


def _row_matches(row: dict[str, Any] | None, payload: dict[str, Any]) -> bool:
    if row is None:
        return False
    return bool(row["cron_expression"] == payload["cron_expression"]
                and row["timezone"] == payload["timezone"]
                and row["catchup_window_minutes"] == payload["catchup_window_minutes"]
                and json_value(row.get("asset_selection"), []) == payload["asset_selection"]
                and row.get("code_version") is None
                and row["max_catchup_ticks"] == payload["max_catchup_ticks"]
                and bool(row["enabled"]) == payload["enabled"])


@dataclass
class TickItem:
    tick_id: str
    status: str                       # triggered | skipped | failed | conflict
    run_key: str | None = None
    run_id: str | None = None
    state: str | None = None
    reason: str | None = None
    error: str | None = None
    conflict: dict[str, Any] | None = None
    fingerprint: str | None = None

    def shape(self) -> dict[str, Any]:
        out: dict[str, Any] = {"tickId": self.tick_id, "status": self.status}
        for key, value in (("runKey", self.run_key), ("runId", self.run_id),
                           ("state", self.state), ("reason", self.reason),
                           ("error", self.error), ("conflict", self.conflict)):
            if value is not None:
                out[key] = value
        return out


@dataclass
class ScheduleTickResult:
    schedule_id: str
    ticks: list[TickItem] = field(default_factory=list)
    skipped: str | None = None        # compaction_lag
    bridge_skips: list[dict[str, str]] = field(default_factory=list)
    interrupted: bool = False


def _tick_payloads(ws: Workspace, definition: WorkspaceDefinition, sched: ScheduleDef,
                   scheduled_for: int, tick: str, run_key: str | None, status: dict[str, Any],
                   definition_version: str) -> tuple[TickItem, list[dict[str, Any]]]:
    from arco_cli.engine.planner import plan_run

    selection = sorted(set(sched.selection))
    partitions = ([tick_partition(scheduled_for, sched.timezone, sched.partition_date)]
                  if sched.partitioned else [])
    ticked: dict[str, Any] = {
        "type": "schedule_ticked", "schedule_id": sched.schedule_id,
        "scheduled_for": format_ms(scheduled_for), "tick_id": tick,
        "definition_version": definition_version, "asset_selection": selection,
        "partition_selection": partitions or None, "status": status}
    if status["status"] != "triggered" or run_key is None:
        item = TickItem(tick, status["status"], reason=status.get("reason"),
                        error=status.get("error"))
        return item, [ticked]
    try:
        # decisions A27: a request that cannot be planned never reserves its key
        plan_run(definition, selection, partitions=partitions)
    except ArcoError as exc:
        failed = {"status": "failed", "error": exc.message}
        ticked["status"] = failed
        return TickItem(tick, "failed", error=exc.message), [ticked]
    fingerprint = request_fingerprint(selection, partitions)
    ticked["run_key"] = run_key
    ticked["request_fingerprint"] = fingerprint
    requested = {"type": "run_requested", "run_key": run_key,
                 "request_fingerprint": fingerprint, "asset_selection": selection,
                 "partition_selection": partitions or None,
                 "trigger_source_ref": {"type": "schedule", "schedule_id": sched.schedule_id,
                                        "tick_id": tick}}
    return TickItem(tick, "triggered", run_key=run_key, fingerprint=fingerprint), \
        [ticked, requested]


def tick_schedule(ws: Workspace, definition: WorkspaceDefinition, schedule_id: str, *,
                  now_ms: int, manual: bool, execute: bool, lock_timeout: float,
                  progress: bool = False) -> ScheduleTickResult:
    """Evaluate one configured schedule at ``now_ms`` (A32: only config schedules)."""
    clock = anchored_clock(now_ms)
    sched = definition.schedules.get(schedule_id)
    if sched is None:
        known = ", ".join(sorted(definition.schedules)) or "none"
        raise ArcoError("UNKNOWN_SCHEDULE",
                        f"unknown schedule {schedule_id!r}; configured schedules: {known}",
                        {"scheduleId": schedule_id})
    result = ScheduleTickResult(schedule_id)
    try:
        with controller_batch(ws, lock_timeout, now_ms) as (state, batch):
            _append_ticks(ws, definition, sched, state, batch, now_ms, manual, result)
    except CompactionLag:
        result.skipped = "compaction_lag"
        return result
    state = fold_now(ws)
    _resolve_items(ws, state, result)
    if not execute:
        return result
    report = bridge_source(ws, definition, "schedule", schedule_id,
                           lock_timeout=lock_timeout, at_ms=now_ms)
    result.bridge_skips = report.skipped
    executed = execute_runs(ws, definition, report.bridged, lock_timeout=lock_timeout,
                            clock=clock, progress=progress)
    result.interrupted = executed.interrupted
    state = fold_now(ws)
    _resolve_items(ws, state, result)
    return result


def _append_ticks(ws: Workspace, definition: WorkspaceDefinition, sched: ScheduleDef,
                  state: FoldState, batch: Any, now_ms: int, manual: bool,
                  result: ScheduleTickResult) -> None:
    sid = sched.schedule_id
    payload = definition_payload(sched)
    row = state.get("schedule_definitions", scoped(ws, sid))
    if _row_matches(row, payload):
        assert row is not None
        definition_version = str(row["row_version"])
    else:
        standard = expected_idempotency_key(payload)
        recorded = state.get("idempotency_keys", scoped(ws, standard)) is not None
        # a revert to earlier content would be a gate duplicate under the standard key
        definition_version = batch.add(
            payload, idempotency_key=(lambda eid: f"{standard}:rev:{eid}") if recorded
            else None)
    items: list[tuple[int, str, str | None, dict[str, str]]]
    if manual:
        items = [(now_ms, manual_tick_id(sid, now_ms), manual_run_key(sid, now_ms),
                  {"status": "triggered"})]
    else:
        sched_state = state.get("schedule_state", scoped(ws, sid))
        last = sched_state.get("last_scheduled_for") if sched_state else None
        try:
            due = due_ticks(sched.cron, sched.timezone, now_ms=now_ms,
                            last_scheduled_for_ms=last,
                            catchup_window_minutes=sched.catchup_window_minutes,
                            max_catchup_ticks=sched.max_catchup_ticks)
        except CronError as exc:
            items = [(now_ms, tick_id(sid, now_ms), None,
                      {"status": "failed", "error": str(exc)})]
        else:
            status = {"status": "triggered"} if sched.enabled else {
                "status": "skipped", "reason": "paused"}
            items = [(t, tick_id(sid, t), tick_run_key(sid, t) if sched.enabled else None,
                      status) for t in due]
    for scheduled_for, tick, run_key, status in items:
        item, payloads = _tick_payloads(ws, definition, sched, scheduled_for, tick, run_key,
                                        status, definition_version)
        for body in payloads:
            batch.add(body)
        result.ticks.append(item)


def _resolve_items(ws: Workspace, state: FoldState, result: ScheduleTickResult) -> None:
    """Fill run ids, states and conflicts from the folded index (first fingerprint wins)."""
    from arco_cli.diagnostics import conflict_payloads

    for item in result.ticks:
        if item.run_key is None:
            continue
        index = state.get("run_key_index", scoped(ws, item.run_key))
        if index is None:
            continue
        item.run_id = str(index["run_id"])
        if index["request_fingerprint"] != item.fingerprint:
            item.status = "conflict"
            found = [p for p in conflict_payloads(state, item.run_key)
                     if p["requestedFingerprint"] == item.fingerprint]
            item.conflict = found[-1] if found else None
        item.state = public_state(state, item.run_id)


def exit_code_of(results: list[ScheduleTickResult], *, executed: bool) -> int:
    """Decisions A18: conflict 3 > failed tick or unsuccessful run 1 > 0."""
    items = [t for r in results for t in r.ticks]
    if any(t.status == "conflict" for t in items):
        return 3
    if any(t.status == "failed" for t in items):
        return 1
    if executed and any(t.state is not None and t.state != "SUCCEEDED" for t in items):
        return 1
    return 0


def schedule_listing(ws: Workspace, definition: WorkspaceDefinition, state: FoldState,
                     now_ms: int) -> list[dict[str, Any]]:
    """``schedule list`` items (decisions A20), sorted by schedule id."""
    out: list[dict[str, Any]] = []
    for sid in sorted(definition.schedules):
        sched = definition.schedules[sid]
        item: dict[str, Any] = {
            "scheduleId": sid, "cron": sched.cron.strip(), "timezone": sched.timezone.strip(),
            "enabled": sched.enabled, "selection": sorted(sched.selection),
            "catchupWindowMinutes": sched.catchup_window_minutes,
            "maxCatchupTicks": sched.max_catchup_ticks,
            "partitionDate": sched.partition_date if sched.partitioned else None,
        }
        row = state.get("schedule_state", scoped(ws, sid))
        last = row.get("last_scheduled_for") if row else None
        if row:
            item["lastScheduledFor"] = format_ms(last) if last is not None else None
            item["lastTickId"] = row.get("last_tick_id")
            item["lastRunKey"] = row.get("last_run_key")
        try:
            after = max(now_ms, last) if last is not None else now_ms
            nxt = next_fire_ms(sched.cron, sched.timezone, after)
        except CronError:
            nxt = None
        item["nextTickAt"] = format_ms(nxt) if nxt is not None else None
        out.append({k: v for k, v in item.items() if v is not None})
    return out
