"""The backfill controller: create, reconcile chunks, bridge and execute chunk runs,
lifecycle transitions and retry-failed (data-model §7.4; decisions A33–A35, B8, C5).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from arco_cli.engine.batch import fold_now
from arco_cli.engine.triggers.backfill_plan import (
    RETRYABLE_PARENT_STATES,
    check_transition,
    chunks_to_plan,
    completion_state,
    default_retry_backfill_id,
    default_retry_request_id,
    effective_chunk_size,
    effective_max_concurrent_runs,
    failed_partitions,
    resolve_selector,
    retry_envelope_key,
    selector_dimensions,
    state_change_payload,
    total_chunks,
)
from arco_cli.engine.triggers.bridge import (
    bridge_source,
    controller_batch,
    json_value,
    public_state,
    scoped,
)
from arco_cli.engine.triggers.parallel_runs import execute_runs_in_processes
from arco_cli.errors import ArcoError
from arco_cli.identity import anchored_clock, format_ms, is_safe_id, new_ulid

if TYPE_CHECKING:
    from arco_cli.config import WorkspaceDefinition
    from arco_cli.fold import FoldState
    from arco_cli.workspace import Workspace


# ------------------------------------------------------------------ read shape

def chunks_of(state: FoldState, backfill_id: str) -> list[dict[str, Any]]:
    rows = [r for r in state.rows("backfill_chunks") if r["backfill_id"] == backfill_id]
    return sorted(rows, key=lambda r: int(r["chunk_index"]))


def _row(ws: Workspace, state: FoldState, backfill_id: str) -> dict[str, Any]:
    row = state.get("backfills", scoped(ws, backfill_id))
    if row is None:
        raise ArcoError("UNKNOWN_BACKFILL", f"unknown backfill {backfill_id!r}; "
                        "'arco backfill list' shows the backfills", {"backfillId": backfill_id})
    return row


def backfill_shape(state: FoldState, row: dict[str, Any], *,
                   with_chunks: bool = True) -> dict[str, Any]:
    """The backfill row shape of decisions A20 (camelCase columns, progress, chunks)."""
    selector = json_value(row["partition_selector"], {})
    out: dict[str, Any] = {
        "backfillId": row["backfill_id"],
        "assetSelection": json_value(row["asset_selection"], []),
        "partitionSelector": selector,
        "chunkSize": int(row["chunk_size"]),
        "maxConcurrentRuns": int(row["max_concurrent_runs"]),
        "state": row["state"],
        "stateVersion": int(row["state_version"]),
        "totalPartitions": int(row["total_partitions"]),
        "plannedChunks": int(row["planned_chunks"]),
        "completedChunks": int(row["completed_chunks"]),
        "failedChunks": int(row["failed_chunks"]),
        "createdAt": format_ms(int(row["created_at"])),
    }
    if row.get("code_version") is not None:
        out["codeVersion"] = row["code_version"]
    if row.get("parent_backfill_id") is not None:
        out["parentBackfillId"] = row["parent_backfill_id"]
    out["progress"] = {
        "total": total_chunks(int(row["total_partitions"]), int(row["chunk_size"])),
        "planned": int(row["planned_chunks"]),
        "succeeded": int(row["completed_chunks"]),
        "failed": int(row["failed_chunks"]),
    }
    if with_chunks:
        chunks = []
        for chunk in chunks_of(state, str(row["backfill_id"])):
            item: dict[str, Any] = {
                "chunkId": chunk["chunk_id"], "chunkIndex": int(chunk["chunk_index"]),
                "partitionKeys": json_value(chunk["partition_keys"], []),
                "runKey": chunk["run_key"]}
            if chunk.get("run_id") is not None:
                item["runId"] = chunk["run_id"]
            item["state"] = chunk["state"]
            chunks.append(item)
        out["chunks"] = chunks
    return out


def show_backfill(ws: Workspace, backfill_id: str) -> dict[str, Any]:
    state = fold_now(ws)
    return backfill_shape(state, _row(ws, state, backfill_id))


def list_backfills(ws: Workspace) -> list[dict[str, Any]]:
    state = fold_now(ws)
    return [backfill_shape(state, row, with_chunks=False) for row in state.rows("backfills")]


# ------------------------------------------------------------------ create

@dataclass
class CreateResult:
    backfill_id: str
    total_partitions: int
    chunks: int
    created: bool

    def shape(self) -> dict[str, Any]:
        return {"backfillId": self.backfill_id, "totalPartitions": self.total_partitions,
                "chunks": self.chunks, "created": self.created}


def _check_partitioning(definition: WorkspaceDefinition, selection: Sequence[str],
                        keys: Sequence[str]) -> None:
    """Every asset is partitioned by exactly the selector's dimensions (A33)."""
    dims = selector_dimensions(keys)
    if len(dims) != 1:
        raise ArcoError("PARTITION_MISMATCH",
                        "the backfill's partition keys use different dimensions; give keys "
                        "of one kind", {"dimensions": sorted(",".join(d) for d in dims)})
    wanted = set(next(iter(dims)))
    for asset in selection:
        have = set(definition.assets[asset].partitioned_by)
        if have != wanted:
            raise ArcoError(
                "PARTITION_MISMATCH",
                f"asset {asset!r} is partitioned by {sorted(have)} but the backfill's "
                f"partitions use {sorted(wanted)}; backfill only assets partitioned by "
                "exactly those dimensions", {"assetKey": asset})


def create_backfill(ws: Workspace, definition: WorkspaceDefinition, selection: Sequence[str],
                    selector: dict[str, Any], *, chunk_size: int, max_concurrent_runs: int,
                    backfill_id: str | None, now_ms: int, lock_timeout: float) -> CreateResult:
    from arco_cli.engine.planner import canonical_selection

    assets = list(canonical_selection(definition, selection))
    keys = resolve_selector(selector)
    if not keys:
        raise ArcoError("USAGE_ERROR", "the backfill selects no partitions")
    _check_partitioning(definition, assets, keys)
    if chunk_size < 0 or max_concurrent_runs < 0:
        raise ArcoError("USAGE_ERROR", "--chunk-size and --max-concurrent-runs must be ≥ 0")
    size = effective_chunk_size(chunk_size)
    limit = effective_max_concurrent_runs(max_concurrent_runs)
    if backfill_id is not None and not is_safe_id(backfill_id):
        raise ArcoError("USAGE_ERROR", f"--id {backfill_id!r} must match "
                        "[A-Za-z0-9][A-Za-z0-9_.@-]* (no ':')")
    bf_id = backfill_id or "bf_" + new_ulid()
    payload = {"type": "backfill_created", "backfill_id": bf_id,
               "client_request_id": "req_" + new_ulid(), "asset_selection": assets,
               "partition_selector": selector, "total_partitions": len(keys),
               "chunk_size": size, "max_concurrent_runs": limit}
    with controller_batch(ws, lock_timeout, now_ms) as (state, batch):
        existing = state.get("backfills", scoped(ws, bf_id))
        if existing is not None:
            same = (json_value(existing["asset_selection"], []) == assets
                    and json_value(existing["partition_selector"], {}) == selector
                    and int(existing["chunk_size"]) == size
                    and int(existing["max_concurrent_runs"]) == limit
                    and existing.get("parent_backfill_id") is None)
            if not same:
                raise ArcoError("BACKFILL_EXISTS",
                                f"backfill {bf_id!r} already exists with another definition; "
                                "choose another --id", {"backfillId": bf_id})
            return CreateResult(bf_id, len(keys), total_chunks(len(keys), size), False)
        batch.add(payload)
    fold_now(ws)
    return CreateResult(bf_id, len(keys), total_chunks(len(keys), size), True)


# ------------------------------------------------------------------ run

@dataclass
class RunResult:
    backfill_id: str
    status: str                        # finished | paused | cancelled | not_running | waiting
    executed: list[str] = field(default_factory=list)
    conflicts: list[dict[str, Any]] = field(default_factory=list)
    bridge_skips: list[dict[str, str]] = field(default_factory=list)
    interrupted: bool = False


def _reconcile(ws: Workspace, state: FoldState, batch: Any, row: dict[str, Any]
               ) -> tuple[list[tuple[str, str]], str | None]:
    """Plan free chunk slots or complete the backfill; returns (run key, fingerprint)
    of the requests appended and the completion state appended, if any."""
    bf_id = str(row["backfill_id"])
    keys = resolve_selector(json_value(row["partition_selector"], {}))
    chunk_states = {int(c["chunk_index"]): str(c["state"]) for c in chunks_of(state, bf_id)}
    selection = json_value(row["asset_selection"], [])
    requested: list[tuple[str, str]] = []
    for plan in chunks_to_plan(row, chunk_states, keys):
        batch.add({"type": "backfill_chunk_planned", "backfill_id": bf_id,
                   "chunk_id": plan.chunk_id, "chunk_index": plan.index,
                   "partition_keys": plan.partition_keys, "run_key": plan.run_key,
                   "request_fingerprint": plan.request_fingerprint})
        batch.add({"type": "run_requested", "run_key": plan.run_key,
                   "request_fingerprint": plan.request_fingerprint,
                   "asset_selection": selection, "partition_selection": plan.partition_keys,
                   "trigger_source_ref": {"type": "backfill", "backfill_id": bf_id,
                                          "chunk_id": plan.chunk_id},
                   "code_version": row.get("code_version")})
        requested.append((plan.run_key, plan.request_fingerprint))
    if requested:
        return requested, None
    done = completion_state(row, chunk_states, len(keys))
    if done is not None:
        batch.add(state_change_payload(bf_id, "RUNNING", done, int(row["state_version"]),
                                       "controller"))
    return requested, done


def run_backfill(ws: Workspace, definition: WorkspaceDefinition, backfill_id: str, *,
                 now_ms: int, lock_timeout: float) -> RunResult:
    """Plan and execute chunks until the backfill is finished, paused or cancelled."""
    from arco_cli.diagnostics import conflict_payloads

    result = RunResult(backfill_id, "not_running")
    clock = anchored_clock(now_ms)
    first = True
    while True:
        with controller_batch(ws, lock_timeout, now_ms) as (state, batch):
            row = _row(ws, state, backfill_id)
            if row["state"] != "RUNNING":
                result.status = ("not_running" if first else
                                 {"PAUSED": "paused", "CANCELLED": "cancelled"}.get(
                                     str(row["state"]), "finished"))
                break
            requested, done = _reconcile(ws, state, batch, row)
        first = False
        state = fold_now(ws)
        for run_key, fingerprint in requested:
            index = state.get("run_key_index", scoped(ws, run_key))
            if index is not None and index["request_fingerprint"] != fingerprint:
                result.conflicts.extend(p for p in conflict_payloads(state, run_key)
                                        if p["requestedFingerprint"] == fingerprint)
        if done is not None:
            result.status = "finished"
            break
        report = bridge_source(ws, definition, "backfill", backfill_id,
                               lock_timeout=lock_timeout, at_ms=now_ms)
        result.bridge_skips.extend(report.skipped)
        # the chunk runs execute side by side; planning above kept them within
        # max_concurrent_runs (decisions A34: an interrupt pauses before cancelling)
        executed = execute_runs_in_processes(
            ws, report.bridged, max_concurrent=int(row["max_concurrent_runs"]),
            lock_timeout=lock_timeout, clock=clock,
            on_interrupt=lambda: _pause_after_interrupt(ws, backfill_id, now_ms,
                                                        lock_timeout))
        result.executed.extend(executed.executed)
        if executed.interrupted:
            result.interrupted = True
            _pause_after_interrupt(ws, backfill_id, now_ms, lock_timeout)  # no-op if paused
            result.status = "paused"
            break
        if not requested and not report.bridged:
            # chunk runs still in flight elsewhere (or orphaned, see `arco cancel`)
            result.status = "waiting"
            break
    return result


def _pause_after_interrupt(ws: Workspace, backfill_id: str, now_ms: int,
                           lock_timeout: float) -> None:
    """Decisions A34: an interrupted run pauses the backfill, so `resume` + `run` go on."""
    with controller_batch(ws, lock_timeout, now_ms) as (state, batch):
        row = _row(ws, state, backfill_id)
        if row["state"] == "RUNNING":
            batch.add(state_change_payload(backfill_id, "RUNNING", "PAUSED",
                                           int(row["state_version"]), "interrupt"))
    fold_now(ws)


def run_exit_code(ws: Workspace, result: RunResult) -> int:
    """Decisions A18: 130 > 3 > 1 > 0 over the runs this invocation started; a backfill
    this invocation completed as FAILED also exits 1 (its failed chunk runs are returned)."""
    if result.interrupted:
        return 130
    if result.conflicts:
        return 3
    state = fold_now(ws)
    if any(public_state(state, run_id) != "SUCCEEDED" for run_id in result.executed):
        return 1
    row = state.get("backfills", scoped(ws, result.backfill_id))
    if result.status == "finished" and row is not None and row["state"] == "FAILED":
        return 1
    return 0


# ------------------------------------------------------------------ lifecycle

def change_state(ws: Workspace, backfill_id: str, target: str, *, expected_version: int | None,
                 changed_by: str, now_ms: int, lock_timeout: float) -> dict[str, Any]:
    """Pause, resume or cancel (§7.4, A35); refused before anything is appended."""
    with controller_batch(ws, lock_timeout, now_ms) as (state, batch):
        row = _row(ws, state, backfill_id)
        current, version = str(row["state"]), int(row["state_version"])
        check_transition(backfill_id, current, target, current_version=version,
                         expected_version=expected_version)
        batch.add(state_change_payload(backfill_id, current, target, version, changed_by))
    state = fold_now(ws)
    return backfill_shape(state, _row(ws, state, backfill_id))


def retry_failed(ws: Workspace, backfill_id: str, *, new_id: str | None, now_ms: int,
                 lock_timeout: float) -> tuple[dict[str, Any], bool]:
    """A new backfill over the failed partitions of a FAILED/CANCELLED parent (§7.4, B8).
    Returns (row shape, created); a repeat returns the existing retry."""
    if new_id is not None and not is_safe_id(new_id):
        raise ArcoError("USAGE_ERROR",
                        f"--id {new_id!r} must match [A-Za-z0-9][A-Za-z0-9_.@-]* (no ':')")
    with controller_batch(ws, lock_timeout, now_ms) as (state, batch):
        parent = _row(ws, state, backfill_id)
        if parent["state"] not in RETRYABLE_PARENT_STATES:
            raise ArcoError("NOTHING_TO_RETRY",
                            f"backfill {backfill_id} is {parent['state']}; retry-failed needs "
                            "a FAILED or CANCELLED backfill", {"backfillId": backfill_id})
        failed_chunks = [c for c in chunks_of(state, backfill_id) if c["state"] == "FAILED"]
        if not failed_chunks:
            raise ArcoError("NOTHING_TO_RETRY",
                            f"backfill {backfill_id} has no failed chunks",
                            {"backfillId": backfill_id})
        tasks = {str(c["run_id"]): state.tasks_of(str(c["run_id"]))
                 for c in failed_chunks if c.get("run_id")}
        keys = failed_partitions(failed_chunks, tasks)
        if not keys:
            raise ArcoError("NOTHING_TO_RETRY",
                            f"backfill {backfill_id} has no failed partitions",
                            {"backfillId": backfill_id})
        request_id = default_retry_request_id(backfill_id, keys)
        key = retry_envelope_key(backfill_id, request_id)
        if state.get("idempotency_keys", scoped(ws, key)) is not None:
            for row in state.rows("backfills"):
                selector = json_value(row["partition_selector"], {})
                if row.get("parent_backfill_id") == backfill_id and \
                        selector.get("partition_keys") == keys:
                    return backfill_shape(state, row), False
        retry_id = new_id or default_retry_backfill_id(request_id)
        if state.get("backfills", scoped(ws, retry_id)) is not None:
            raise ArcoError("BACKFILL_EXISTS", f"backfill {retry_id!r} already exists; "
                            "choose another --id", {"backfillId": retry_id})
        payload = {"type": "backfill_created", "backfill_id": retry_id,
                   "client_request_id": request_id,
                   "asset_selection": json_value(parent["asset_selection"], []),
                   "code_version": parent.get("code_version"),
                   "partition_selector": {"type": "explicit", "partition_keys": keys},
                   "total_partitions": len(keys), "chunk_size": int(parent["chunk_size"]),
                   "max_concurrent_runs": int(parent["max_concurrent_runs"]),
                   "parent_backfill_id": backfill_id}
        batch.add(payload, idempotency_key=lambda _eid: key)
    state = fold_now(ws)
    return backfill_shape(state, _row(ws, state, retry_id)), True
