"""Run-key reservation: the request flows of data-model §4.6 under one writer-lock hold.

A reservation folds the log to its end, checks the run-key index and appends — all while
holding the writer lock (decisions A52), so two processes racing for one key cannot both
create a run: the second one sees the first one's ``RunRequested`` in its fold.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from arco_cli.engine.batch import Batch, fold_now, open_log, user_id
from arco_cli.errors import ArcoError
from arco_cli.identity import (
    new_run_id,
    new_ulid,
    now_ms,
    run_id_from_run_key,
    tenant_secret,
    validate_run_key,
)

if TYPE_CHECKING:
    from arco_cli.engine.planner import RunPlan
    from arco_cli.fold import FoldState
    from arco_cli.workspace import Workspace


@dataclass(frozen=True)
class Reservation:
    """What a request got: its run, whether this request reserved the key (``created``),
    and whether a run that existed only as a reservation was bridged (so it must be
    executed although ``created`` is false, decisions A16)."""

    run_id: str
    created: bool
    bridged: bool
    state: FoldState                  # folded to the end of the log after the append

    @property
    def execute(self) -> bool:
        return self.created or self.bridged


def check_run_key(run_key: str) -> str:
    problem = validate_run_key(run_key)
    if problem is not None:
        raise ArcoError("INVALID_RUN_KEY", f"{problem}; choose another --run-key",
                        {"runKey": run_key})
    return run_key


# --------------------------------------------------------------------------- payloads

def run_requested_payload(plan: RunPlan, run_key: str,
                          source_ref: dict[str, Any]) -> dict[str, Any]:
    """``RunRequested`` of a manual run or rerun (decisions A7)."""
    return {
        "type": "run_requested",
        "run_key": run_key,
        "request_fingerprint": plan.fingerprint,
        "asset_selection": list(plan.selection),
        "partition_selection": list(plan.partitions) or None,
        "trigger_source_ref": source_ref,
        "labels": plan.labels,
        "code_version": plan.code_version,
    }


def run_triggered_payload(plan: RunPlan, run_id: str, trigger: dict[str, Any],
                          run_key: str | None, *, labels: dict[str, str] | None = None,
                          code_version: str | None = None,
                          root_assets: list[str] | None = None) -> dict[str, Any]:
    return {
        "type": "run_triggered",
        "run_id": run_id,
        "plan_id": f"plan:{run_id}",
        "trigger": trigger,
        "root_assets": root_assets if root_assets is not None else list(plan.root_assets),
        "run_key": run_key,
        "labels": plan.labels if labels is None else labels,
        "code_version": plan.code_version if code_version is None else code_version,
    }


def plan_created_payload(plan: RunPlan, run_id: str) -> dict[str, Any]:
    return {"type": "plan_created", "run_id": run_id, "plan_id": f"plan:{run_id}",
            "tasks": [task.payload() for task in plan.tasks]}


def trigger_of_source(state: FoldState, source: dict[str, Any]) -> dict[str, Any]:
    """The ``RunTriggered.trigger`` a bridged run gets from its accepted source (§7.3)."""
    kind = source.get("type")
    if kind == "schedule":
        return {"type": "cron", "schedule_id": str(source.get("schedule_id", ""))}
    if kind == "sensor":
        cursor = "unknown"
        row = state.get("sensor_evals",
                        (state.tenant_id, state.workspace_id, source.get("eval_id")))
        if row is not None:
            cursor = row.get("cursor_after") or row.get("cursor_before") or "unknown"
        return {"type": "sensor", "sensor_id": str(source.get("sensor_id", "")),
                "cursor": cursor}
    if kind == "backfill":
        return {"type": "manual", "user_id": f"backfill:{source.get('backfill_id', '')}"}
    return {"type": "manual", "user_id": str(source.get("user_id") or user_id())}


# --------------------------------------------------------------------------- flows

def reserve_run(ws: Workspace, plan: RunPlan, *, run_key: str | None, lock_timeout: float,
                trigger: dict[str, Any] | None = None,
                at_ms: int | None = None) -> Reservation:
    """Create (or find) the run of a manual request or a rerun (data-model §4.6).

    Without a run key: ``RunTriggered`` + ``PlanCreated`` with a fresh ``run_`` + ULID id.
    With one: new key → ``RunRequested`` + ``RunTriggered`` + ``PlanCreated`` in one batch;
    same fingerprint → the existing run, nothing appended (a run missing its row is
    bridged); different fingerprint → the ``RunRequested`` is appended so the fold records
    the conflict, then ``RUN_KEY_CONFLICT`` is raised with the conflict payload.
    """
    if run_key is not None:
        check_run_key(run_key)
    user = user_id()
    trigger = trigger or {"type": "manual", "user_id": user}
    log = open_log(ws)
    stamp = now_ms() if at_ms is None else at_ms
    if run_key is None:
        run_id = new_run_id()
        with log.writer(lock_timeout) as writer:
            batch = Batch(ws, writer, stamp)
            batch.add(run_triggered_payload(plan, run_id, trigger, None))
            batch.add(plan_created_payload(plan, run_id))
            batch.commit()
        return Reservation(run_id, created=True, bridged=False, state=fold_now(ws))

    run_id = run_id_from_run_key(ws.tenant_id, ws.workspace_id, run_key, tenant_secret())
    source_ref = {"type": "manual", "user_id": user, "request_id": "req_" + new_ulid()}
    with log.writer(lock_timeout) as writer:
        # folded to the end while no one else can append; projections are written after
        # the hold, so the lock is held only for the fold, the check and the append
        state = fold_now(ws, write=False)
        batch = Batch(ws, writer, stamp)
        index = state.get("run_key_index", (ws.tenant_id, ws.workspace_id, run_key))
        if index is None:
            requested = batch.add(run_requested_payload(plan, run_key, source_ref))
            batch.add(run_triggered_payload(plan, run_id, trigger, run_key),
                      causation_id=requested)
            batch.add(plan_created_payload(plan, run_id))
            batch.commit()
            outcome = "created"
        elif index["request_fingerprint"] == plan.fingerprint:
            run_id = str(index["run_id"])
            outcome = "existing"
            if state.get("runs", (run_id,)) is None:
                # reserved but never planned (an interrupted writer, or an automation
                # request not bridged yet): bridge it as §7.3 would, with its own source
                source = _json_object(index.get("trigger_source_ref"))
                root = str(index["row_version"])
                batch.add(run_triggered_payload(
                    plan, run_id, trigger_of_source(state, source), run_key,
                    code_version=index.get("code_version")), causation_id=root)
                batch.add(plan_created_payload(plan, run_id), causation_id=root)
                batch.commit()
                outcome = "bridged"
        else:
            batch.add(run_requested_payload(plan, run_key, source_ref))
            batch.commit()
            outcome = "conflict"
    state = fold_now(ws)
    if outcome == "conflict":
        raise conflict_error(state, run_key, plan.fingerprint, str(index["run_id"])
                             if index is not None else run_id)
    return Reservation(run_id, created=outcome == "created", bridged=outcome == "bridged",
                       state=state)


def conflict_error(state: FoldState, run_key: str, fingerprint: str,
                   existing_run_id: str) -> ArcoError:
    """``RUN_KEY_CONFLICT`` (exit 3) with the recorded conflict payload (§8.7) and the
    existing run's read shape as ``data`` (``None`` when it has no row, decisions A16)."""
    from arco_cli.diagnostics import conflict_payloads, run_read_shape

    payloads = [p for p in conflict_payloads(state, run_key)
                if p["requestedFingerprint"] == fingerprint]
    details = payloads[-1] if payloads else {
        "conflictType": "RUN_KEY_FINGERPRINT_MISMATCH", "runKey": run_key,
        "requestedFingerprint": fingerprint, "existingRunId": existing_run_id}
    data = run_read_shape(state, existing_run_id) \
        if state.get("runs", (existing_run_id,)) is not None else None
    return ArcoError("RUN_KEY_CONFLICT",
                     f"run_key '{run_key}' already reserved with different trigger payload",
                     details, data=data)


def lookup_reservation(state: FoldState, ws: Workspace, run_key: str,
                       fingerprint: str) -> tuple[str, str]:
    """(run id, "new" | "existing" | "conflict") for ``run --dry-run``: read-only."""
    check_run_key(run_key)
    index = state.get("run_key_index", (ws.tenant_id, ws.workspace_id, run_key))
    if index is None:
        return run_id_from_run_key(ws.tenant_id, ws.workspace_id, run_key,
                                   tenant_secret()), "new"
    same = index["request_fingerprint"] == fingerprint
    return str(index["run_id"]), "existing" if same else "conflict"


def _json_object(value: Any) -> dict[str, Any]:
    import json

    if isinstance(value, dict):
        return value
    if isinstance(value, str) and value:
        parsed = json.loads(value)
        if isinstance(parsed, dict):
            return parsed
    return {}
