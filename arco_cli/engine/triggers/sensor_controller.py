"""The sensor controller: decide whether to evaluate, run the evaluator outside the writer
lock, append ``SensorEvaluated`` + ``RunRequested`` as one batch, then bridge and execute
this sensor's runs (data-model §7.2, §7.3; decisions A17, A18, A22–A27, B7, C6).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from arco_cli.engine.batch import fold_now
from arco_cli.engine.triggers.bridge import (
    UNFINISHED,
    CompactionLag,
    bridge_source,
    controller_batch,
    execute_runs,
    json_value,
    public_state,
    scoped,
)
from arco_cli.engine.triggers.sensors import (
    EvaluatorError,
    EvaluatorResult,
    eval_id,
    evaluation_payloads,
    evaluator_env,
    invoke_evaluator,
    validate_result,
)
from arco_cli.errors import ArcoError
from arco_cli.identity import anchored_clock, format_ms, validate_run_key

if TYPE_CHECKING:
    from arco_cli.config import SensorDef, WorkspaceDefinition
    from arco_cli.fold import FoldState
    from arco_cli.workspace import Workspace


@dataclass
class SensorRunItem:
    run_key: str
    fingerprint: str
    run_id: str | None = None
    created: bool = False
    state: str | None = None
    conflict: dict[str, Any] | None = None
    requested_event_id: str | None = None

    def shape(self) -> dict[str, Any]:
        out: dict[str, Any] = {"runKey": self.run_key, "runId": self.run_id,
                               "created": self.created}
        if self.state is not None:
            out["state"] = self.state
        if self.conflict is not None:
            out["conflict"] = True
        return out


@dataclass
class SensorEvalResult:
    sensor_id: str
    eval_id: str | None
    status: str
    cursor: str | None = None
    skip_reason: str | None = None
    error: str | None = None
    runs: list[SensorRunItem] = field(default_factory=list)
    bridge_skips: list[dict[str, str]] = field(default_factory=list)
    interrupted: bool = False

    def shape(self) -> dict[str, Any]:
        out: dict[str, Any] = {"sensorId": self.sensor_id, "evalId": self.eval_id,
                               "status": self.status}
        if self.cursor is not None:
            out["cursor"] = self.cursor
        if self.skip_reason is not None:
            out["skipReason"] = self.skip_reason
        if self.error is not None:
            out["error"] = self.error
        out["runs"] = [r.shape() for r in self.runs]
        return out

    def exit_code(self, *, executed: bool) -> int:
        """Decisions A18: conflict 3 > error or unsuccessful run 1 > 0; with
        ``--no-execute`` the states of returned runs do not count."""
        if any(r.conflict is not None for r in self.runs):
            return 3
        if self.status == "error":
            return 1
        if executed and any(r.state is not None and r.state != "SUCCEEDED" for r in self.runs):
            return 1
        return 0

    def unfinished(self) -> list[SensorRunItem]:
        return [r for r in self.runs if r.conflict is None and r.state in UNFINISHED]


def _sensor(definition: WorkspaceDefinition, sensor_id: str) -> SensorDef:
    sensor = definition.sensors.get(sensor_id)
    if sensor is None:
        known = ", ".join(sorted(definition.sensors)) or "none"
        raise ArcoError("UNKNOWN_SENSOR",
                        f"unknown sensor {sensor_id!r}; configured sensors: {known}",
                        {"sensorId": sensor_id})
    return sensor


def check_message_id(sensor: SensorDef, message_id: str | None) -> None:
    """A26: push needs ``--message-id`` (run-key characters), poll refuses it."""
    if sensor.kind == "push" and message_id is None:
        raise ArcoError("USAGE_ERROR", f"sensor {sensor.sensor_id!r} is a push sensor; pass "
                        "the message with --message-id ID")
    if sensor.kind == "poll" and message_id is not None:
        raise ArcoError("USAGE_ERROR", f"sensor {sensor.sensor_id!r} is a poll sensor; "
                        "--message-id is only for push sensors")
    if message_id is not None:
        problem = validate_run_key(message_id)
        if problem:
            raise ArcoError("USAGE_ERROR",
                            f"--message-id {message_id!r}: {problem.replace('run key', 'id')}")


def _duplicate(ws: Workspace, state: FoldState, sensor_id: str, eval_row: dict[str, Any]
               ) -> SensorEvalResult:
    """A26: the original evaluation's runs, nothing evaluated or appended."""
    result = SensorEvalResult(sensor_id, str(eval_row["eval_id"]), "duplicate",
                              cursor=eval_row.get("cursor_after"))
    for req in json_value(eval_row.get("run_requests"), []):
        item = SensorRunItem(req["run_key"], req["request_fingerprint"])
        result.runs.append(item)
    _resolve_runs(ws, state, result, duplicate=True)
    return result


def evaluate_sensor(ws: Workspace, definition: WorkspaceDefinition, sensor_id: str, *,
                    now_ms: int, message_id: str | None, execute: bool, lock_timeout: float,
                    progress: bool = False) -> SensorEvalResult:
    from arco_cli.engine.planner import plan_run

    clock = anchored_clock(now_ms)
    sensor = _sensor(definition, sensor_id)
    check_message_id(sensor, message_id)
    state = fold_now(ws)
    sensor_state = state.get("sensor_state", scoped(ws, sensor_id))
    status_now = sensor_state.get("status") if sensor_state else "ACTIVE"
    if sensor.paused or status_now in ("PAUSED", "ERROR"):
        return SensorEvalResult(sensor_id, None, "paused",
                                cursor=sensor_state.get("cursor") if sensor_state else None)
    poll_epoch = now_ms // 1000
    if sensor.kind == "push":
        eid = eval_id(sensor_id, "push", message_id=message_id, poll_epoch=poll_epoch,
                      cursor_before=None)
        existing = state.get("sensor_evals", scoped(ws, eid))
        if existing is not None:
            return _duplicate(ws, state, sensor_id, existing)
        cursor_before: str | None = None
        expected: int | None = None
    else:
        last = sensor_state.get("last_evaluation_at") if sensor_state else None
        cursor_before = sensor_state.get("cursor") if sensor_state else None
        if last is not None and now_ms - int(last) < sensor.min_interval_s * 1000:
            return SensorEvalResult(sensor_id, None, "skipped_min_interval",
                                    cursor=cursor_before)
        expected = int(sensor_state["state_version"]) if sensor_state else 0
        eid = eval_id(sensor_id, "poll", message_id=None, poll_epoch=poll_epoch,
                      cursor_before=cursor_before)
        existing = state.get("sensor_evals", scoped(ws, eid))
        if existing is not None:
            # same second, same cursor: the evaluation event would be a gate duplicate
            # while fresh requests would not, so nothing is evaluated (as A26 for push)
            return _duplicate(ws, state, sensor_id, existing)

    result_obj: EvaluatorResult | None = None
    error: str | None = None
    try:
        raw = invoke_evaluator(ws.root, python=sensor.python, run=sensor.run, env=evaluator_env(
            sensor_id, sensor.kind, cursor=cursor_before, message_id=message_id,
            now_ms=now_ms, workspace=ws.root))
        result_obj = validate_result(
            raw, sensor_id=sensor_id, kind=sensor.kind, default_selection=sensor.selection,
            known_assets=definition.assets.__contains__, message_id=message_id,
            poll_epoch=poll_epoch)
        for i, req in enumerate(result_obj.requests):
            try:
                # decisions A27: plan every request before any key is reserved
                plan_run(definition, req.selection, partitions=req.partitions,
                         labels=req.labels)
            except ArcoError as exc:
                raise EvaluatorError(f"run_requests[{i}]: {exc.message}") from None
    except EvaluatorError as exc:
        error = str(exc)
        result_obj = None

    payloads = evaluation_payloads(
        sensor_id=sensor_id, kind=sensor.kind, eval_id_=eid, cursor_before=cursor_before,
        expected_state_version=expected, message_id=message_id, poll_epoch=poll_epoch,
        result=result_obj, error=error)
    out = SensorEvalResult(sensor_id, eid, payloads[0]["status"]["status"], error=error,
                           skip_reason=payloads[0].get("skip_reason"))
    try:
        with controller_batch(ws, lock_timeout, now_ms) as (locked, batch):
            again = locked.get("sensor_evals", scoped(ws, eid))
            if again is not None:   # recorded by another process while we evaluated
                out = _duplicate(ws, locked, sensor_id, again)
                return out
            for body in payloads:
                event_id = batch.add(body)
                if body["type"] == "run_requested":
                    out.runs.append(SensorRunItem(body["run_key"], body["request_fingerprint"],
                                                  requested_event_id=event_id))
    except CompactionLag:
        return SensorEvalResult(sensor_id, eid, "compaction_lag")
    state = fold_now(ws)
    row = state.get("sensor_evals", scoped(ws, eid))
    if row is not None and json_value(row["status"], {}).get("status") == "skipped_stale_cursor":
        # the cursor moved under us (CAS, §5.10): the requests were rejected
        out.status = "skipped_stale_cursor"
        out.runs = []
    after = state.get("sensor_state", scoped(ws, sensor_id))
    out.cursor = after.get("cursor") if after else None
    _resolve_runs(ws, state, out)
    if not execute or out.status == "skipped_stale_cursor":
        return out
    report = bridge_source(ws, definition, "sensor", sensor_id, lock_timeout=lock_timeout,
                           at_ms=now_ms)
    out.bridge_skips = report.skipped
    executed = execute_runs(ws, definition, report.bridged, lock_timeout=lock_timeout,
                            clock=clock, progress=progress)
    out.interrupted = executed.interrupted
    _resolve_runs(ws, fold_now(ws), out)
    return out


def _resolve_runs(ws: Workspace, state: FoldState, result: SensorEvalResult, *,
                  duplicate: bool = False) -> None:
    from arco_cli.diagnostics import conflict_payloads

    for item in result.runs:
        index = state.get("run_key_index", scoped(ws, item.run_key))
        if index is None:
            continue
        item.run_id = str(index["run_id"])
        if index["request_fingerprint"] != item.fingerprint:
            found = [p for p in conflict_payloads(state, item.run_key)
                     if p["requestedFingerprint"] == item.fingerprint]
            item.conflict = found[-1] if found else {"runKey": item.run_key}
        else:
            # "created" = this request reserved the key (decisions A16)
            item.created = not duplicate and index["row_version"] == item.requested_event_id
        item.state = public_state(state, item.run_id)


def sensor_listing(ws: Workspace, definition: WorkspaceDefinition,
                   state: FoldState) -> list[dict[str, Any]]:
    """``sensor list`` items (decisions B7), sorted by sensor id."""
    out: list[dict[str, Any]] = []
    for sid in sorted(definition.sensors):
        sensor = definition.sensors[sid]
        row = state.get("sensor_state", scoped(ws, sid))
        item: dict[str, Any] = {
            "sensorId": sid, "kind": sensor.kind, "selection": list(sensor.selection),
            "minIntervalS": sensor.min_interval_s, "paused": sensor.paused,
            "status": row["status"] if row else "ACTIVE",
            "stateVersion": int(row["state_version"]) if row else 0}
        if row:
            for key, col in (("cursor", "cursor"), ("lastEvalId", "last_eval_id")):
                if row.get(col) is not None:
                    item[key] = row[col]
            if row.get("last_evaluation_at") is not None:
                item["lastEvaluationAt"] = format_ms(int(row["last_evaluation_at"]))
        out.append(item)
    return out
