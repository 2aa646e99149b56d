"""What every automation controller shares: one batch under one writer-lock hold against
projections folded to the end of the log (data-model §7), the run bridge limited to the
invoking source (§7.3, decisions A17), and the execution of the bridged runs.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from arco_cli.engine.batch import Batch, fold_now, open_log
from arco_cli.errors import ArcoError

if TYPE_CHECKING:
    from arco_cli.config import WorkspaceDefinition
    from arco_cli.fold import FoldState
    from arco_cli.log import EventLog
    from arco_cli.workspace import Workspace

TERMINAL_PUBLIC = frozenset({"SUCCEEDED", "FAILED", "CANCELLED"})
#: public states of a returned run that is not finished (decisions A15: RUN_NOT_FINISHED)
UNFINISHED = frozenset({"PENDING", "RUNNING", "CANCELLING"})


class CompactionLag(Exception):
    """The projections are not folded to the end of the log: emit nothing (§7)."""


def json_value(value: Any, default: Any) -> Any:
    """A JSON column (canonical JSON string) parsed; ``default`` when null."""
    if value is None or value == "":
        return default
    if isinstance(value, str):
        return json.loads(value)
    return value


def scoped(ws: Workspace, *rest: Any) -> tuple[Any, ...]:
    return (ws.tenant_id, ws.workspace_id, *rest)


@contextmanager
def controller_batch(ws: Workspace, lock_timeout: float, at_ms: int
                     ) -> Iterator[tuple[FoldState, Batch]]:
    """Hold the writer lock, fold to the end of the log, and append the batch on exit.

    Raises :class:`CompactionLag` (nothing appended) when the fold does not reach the
    committed end of the log.
    """
    log = open_log(ws)
    with log.writer(lock_timeout) as writer:
        state = fold_now(ws, write=False)
        if state.log_offset != log.record_count():
            raise CompactionLag(
                f"projections are at log offset {state.log_offset}, the log has "
                f"{log.record_count()} records")
        batch = Batch(ws, writer, at_ms)
        yield state, batch
        batch.commit()


# ------------------------------------------------------------------ bridge

@dataclass
class BridgeReport:
    bridged: list[str] = field(default_factory=list)     # run ids, oldest request first
    pending: list[str] = field(default_factory=list)     # run ids of rows not bridged
    skipped: list[dict[str, str]] = field(default_factory=list)   # {runKey, reason}


def source_matches(source: dict[str, Any], kind: str, source_id: str) -> bool:
    id_field = {"schedule": "schedule_id", "sensor": "sensor_id", "backfill": "backfill_id"}
    return source.get("type") == kind and source.get(id_field[kind]) == source_id


def _source_row(state: FoldState, ws: Workspace, source: dict[str, Any]) -> Any:
    kind = source.get("type")
    if kind == "schedule":
        return state.get("schedule_ticks", scoped(ws, source.get("tick_id")))
    if kind == "sensor":
        return state.get("sensor_evals", scoped(ws, source.get("eval_id")))
    return state.get("backfill_chunks", scoped(ws, source.get("chunk_id")))


def _accepted_request(log: EventLog, state: FoldState, event_id: str) -> dict[str, Any] | None:
    """The ``RunRequested`` payload the index accepted, read from the log (§7.3)."""
    outcome = state.get("event_outcomes", (event_id,))
    start = int(outcome["log_offset"]) if outcome and outcome.get("log_offset") is not None \
        else 0
    for record in log.read(start):
        doc = json.loads(record.raw)
        if doc.get("event_id") == event_id:
            data = doc.get("data")
            return data if isinstance(data, dict) else None
    return None


def bridge_source(ws: Workspace, definition: WorkspaceDefinition, kind: str, source_id: str,
                  *, lock_timeout: float, at_ms: int) -> BridgeReport:
    """Append ``RunTriggered`` + ``PlanCreated`` for every reserved run of one source that
    has no run yet (§7.3, A17), in one batch; returns their run ids oldest first."""
    from arco_cli.engine.planner import plan_run
    from arco_cli.engine.reservation import (
        plan_created_payload,
        run_triggered_payload,
        trigger_of_source,
    )

    report = BridgeReport()
    log = open_log(ws)
    order: list[tuple[int, str, str]] = []
    with controller_batch(ws, lock_timeout, at_ms) as (state, batch):
        for index in state.rows("run_key_index"):
            source = json_value(index.get("trigger_source_ref"), {})
            if not source_matches(source, kind, source_id):
                continue
            run_id = str(index["run_id"])
            if state.get("runs", (run_id,)) is not None:
                continue
            run_key = str(index["run_key"])
            if _source_row(state, ws, source) is None:
                report.skipped.append({"runKey": run_key,
                                       "reason": "run_request_source_not_found"})
                continue
            request = _accepted_request(log, state, str(index["row_version"]))
            if request is None:
                report.skipped.append({"runKey": run_key,
                                       "reason": "run_request_source_not_found"})
                continue
            labels = dict(request.get("labels") or {})
            try:
                plan = plan_run(
                    definition, request.get("asset_selection") or [],
                    partitions=request.get("partition_selection") or [],
                    include_upstream=labels.get("arco.include_upstream") == "true",
                    include_downstream=labels.get("arco.include_downstream") == "true",
                    labels={k: v for k, v in labels.items() if not k.startswith("arco.")})
            except ArcoError as exc:
                report.skipped.append({"runKey": run_key,
                                       "reason": f"plan_compile_failed:{exc.message}"})
                continue
            root = str(index["row_version"])
            batch.add(run_triggered_payload(
                plan, run_id, trigger_of_source(state, source), run_key, labels=labels,
                code_version=index.get("code_version"),
                root_assets=list(request.get("asset_selection") or [])), causation_id=root)
            batch.add(plan_created_payload(plan, run_id), causation_id=root)
            order.append((int(index["created_at"]), root, run_id))
    report.bridged = [run_id for _c, _r, run_id in sorted(order)]
    return report


# ------------------------------------------------------------------ execution

@dataclass
class ExecutionReport:
    interrupted: bool = False
    executed: list[str] = field(default_factory=list)


def execute_runs(ws: Workspace, definition: WorkspaceDefinition, run_ids: list[str], *,
                 lock_timeout: float, clock: Callable[[], int],
                 progress: bool = False) -> ExecutionReport:
    """Execute runs one after the other (the machine's cores go to each run's tasks);
    stops at the first interrupted run. ``clock`` is the command's time base (A31)."""
    from arco_cli.engine.executor import execute_run

    report = ExecutionReport()
    for run_id in run_ids:
        outcome = execute_run(ws, definition, run_id, max_parallel=os.cpu_count() or 1,
                              lock_timeout=lock_timeout, progress=progress, clock=clock)
        report.executed.append(run_id)
        if outcome.interrupted:
            report.interrupted = True
            break
    return report


def not_finished_error(run_key: str, run_id: str, state: str) -> dict[str, Any]:
    return {"code": "RUN_NOT_FINISHED",
            "message": f"run {run_id} (run key {run_key}) is {state}, not finished; see "
                       f"'arco explain {run_id}' or 'arco cancel {run_id}'",
            "details": {"runId": run_id, "runKey": run_key, "state": state}}


def public_state(state: FoldState, run_id: str | None) -> str | None:
    """The public run state (§5.7) of ``run_id``, None when it has no run row."""
    from arco_cli.diagnostics.runs import public_run_state

    if run_id is None:
        return None
    run = state.get("runs", (run_id,))
    if run is None:
        return None
    return public_run_state(run, state.tasks_of(run_id))
