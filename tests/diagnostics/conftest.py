"""An in-memory fold state filled with hand-written §9 rows, for unit tests of the
diagnostics (the real ``FoldState`` exposes the same methods)."""

from __future__ import annotations

from typing import Any

from arco_cli.identity import canonical_json, parse_timestamp_ms

TENANT = "local"
WORKSPACE = "default"

_PK = {
    "runs": ("run_id",),
    "tasks": ("run_id", "task_key"),
    "dep_satisfaction": ("run_id", "upstream_task_key", "downstream_task_key"),
    "run_key_index": ("tenant_id", "workspace_id", "run_key"),
    "run_key_conflicts": ("tenant_id", "workspace_id", "run_key", "conflicting_event_id"),
    "partition_status": ("tenant_id", "workspace_id", "asset_key", "partition_key"),
    "event_outcomes": ("event_id",),
}


def ms(text: str) -> int:
    return parse_timestamp_ms(text)


class FakeState:
    tenant_id = TENANT
    workspace_id = WORKSPACE
    secret = b""

    def __init__(self) -> None:
        self.tables: dict[str, list[dict[str, Any]]] = {name: [] for name in _PK}

    def add(self, table: str, row: dict[str, Any]) -> FakeState:
        self.tables[table].append(row)
        return self

    def rows(self, table: str) -> list[dict[str, Any]]:
        pk = _PK[table]
        return sorted(self.tables.get(table, []), key=lambda r: tuple(r[c] for c in pk))

    def get(self, table: str, pk: tuple[Any, ...]) -> dict[str, Any] | None:
        cols = _PK[table]
        for row in self.tables.get(table, []):
            if tuple(row[c] for c in cols) == pk:
                return row
        return None

    def tasks_of(self, run_id: str) -> list[dict[str, Any]]:
        return [r for r in self.rows("tasks") if r["run_id"] == run_id]

    def edges_of(self, run_id: str) -> list[dict[str, Any]]:
        return [r for r in self.rows("dep_satisfaction") if r["run_id"] == run_id]

    def outcomes_of(self, run_id: str) -> list[dict[str, Any]]:
        return [r for r in self.rows("event_outcomes") if r.get("run_id") == run_id]


def run_row(run_id: str, *, state: str = "RUNNING", labels: dict[str, str] | None = None,
            triggered_at: str = "2025-01-01T00:00:00.000Z", completed_at: str | None = None,
            run_key: str | None = None, cancel_requested: bool = False,
            counts: dict[str, int] | None = None, trigger: dict[str, Any] | None = None,
            ) -> dict[str, Any]:
    c = {"total": 0, "completed": 0, "succeeded": 0, "failed": 0, "skipped": 0,
         "cancelled": 0, **(counts or {})}
    return {
        "run_id": run_id, "plan_id": f"plan:{run_id}", "state": state, "run_key": run_key,
        "cancel_requested": cancel_requested, "tasks_total": c["total"],
        "tasks_completed": c["completed"], "tasks_succeeded": c["succeeded"],
        "tasks_failed": c["failed"], "tasks_skipped": c["skipped"],
        "tasks_cancelled": c["cancelled"], "triggered_at": ms(triggered_at),
        "completed_at": ms(completed_at) if completed_at else None,
        "labels": canonical_json(labels) if labels else None, "code_version": None,
        "row_version": "01J00000000000000000000001",
        "trigger": canonical_json(trigger) if trigger else None,
    }


def task_row(run_id: str, task_key: str, *, state: str = "BLOCKED", attempt: int = 0,
             history: list[dict[str, Any]] | None = None, **extra: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "run_id": run_id, "task_key": task_key, "state": state, "attempt": attempt,
        "attempt_id": None, "started_at": None, "completed_at": None, "error_message": None,
        "deps_total": 0, "deps_satisfied_count": 0, "max_attempts": 3,
        "heartbeat_timeout_sec": 300, "last_heartbeat_at": None, "ready_at": None,
        "asset_key": task_key, "partition_key": None, "requires_visible_output": False,
        "materialization_id": None, "output_visibility_state": None, "published_at": None,
        "publish_error": None, "retry_not_before": None, "delta_table": None,
        "delta_version": None, "delta_partition": None, "execution_lineage_ref": None,
        "row_version": "01J00000000000000000000002",
        "attempt_history": canonical_json(history) if history else None,
    }
    for key, value in extra.items():
        row[key] = ms(value) if key.endswith(("_at", "_before")) and isinstance(value, str) \
            else value
    return row


def edge_row(run_id: str, upstream: str, downstream: str, resolution: str | None,
             at: str | None = None, row_version: str = "01J00000000000000000000003",
             ) -> dict[str, Any]:
    return {
        "run_id": run_id, "upstream_task_key": upstream, "downstream_task_key": downstream,
        "satisfied": resolution == "SUCCESS", "resolution": resolution,
        "satisfied_at": ms(at) if at else None,
        "satisfying_attempt": 1 if resolution == "SUCCESS" else None,
        "row_version": row_version,
    }


def outcome_row(event_id: str, event_type: str, outcome: str, *, run_id: str | None = None,
                task_key: str | None = None, reason: str | None = None,
                detail: str | None = None, diagnostics: list[dict[str, str]] | None = None,
                key: str = "k") -> dict[str, Any]:
    return {
        "event_id": event_id, "event_type": event_type, "idempotency_key": key,
        "outcome": outcome, "reason": reason, "detail": detail, "log_offset": 0,
        "run_id": run_id, "task_key": task_key, "expected_idempotency_key": None,
        "diagnostics": canonical_json(diagnostics) if diagnostics else None,
    }


def partition_row(asset: str, partition: str = "", *, materialized_at: str | None = None,
                  code_version: str | None = None, run_id: str = "run_a",
                  outcome: str | None = None, **extra: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "tenant_id": TENANT, "workspace_id": WORKSPACE, "asset_key": asset,
        "partition_key": partition,
        "last_materialization_run_id": run_id if materialized_at else None,
        "last_materialization_at": ms(materialized_at) if materialized_at else None,
        "last_materialization_code_version": code_version,
        "last_attempt_run_id": run_id, "last_attempt_at": ms(materialized_at)
        if materialized_at else None,
        "last_attempt_outcome": outcome or ("SUCCEEDED" if materialized_at else "FAILED"),
        "stale_since": None, "stale_reason_code": None, "partition_values": None,
        "delta_table": None, "delta_version": None, "delta_partition": None,
        "execution_lineage_ref": None, "row_version": "01J00000000000000000000004",
        "materialization_row_version": None, "attempt_row_version": None,
    }
    row.update(extra)
    return row


# --------------------------------------------------------------------------- real fold

SCENARIO = __import__("pathlib").Path(__file__).resolve().parents[2] / "fixtures" / \
    "scenarios" / "diagnostics.jsonl"


class _Record:
    def __init__(self, offset: int, raw: bytes) -> None:
        self.offset = offset
        self.raw = raw


def fold_scenario(path: Any = SCENARIO) -> Any:
    """The real fold state of a scenario file (one envelope per line)."""
    from arco_cli.fold import FoldState, fold_records

    state = FoldState(TENANT, WORKSPACE)
    lines = path.read_bytes().splitlines()
    fold_records(state, [_Record(i, line) for i, line in enumerate(lines)])
    return state
