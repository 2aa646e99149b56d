"""The projection schemas, in one place: names, order, types and nullability of
data-model §9 plus the arco additions at the end (decisions A23, A47).

Columns are plain tuples so the fold, the content hash and the docs can use them without
importing pyarrow; :func:`arrow_schema` builds the Arrow schema lazily.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pyarrow as pa

SCHEMA_VERSION = 1

#: (column, type, nullable); types: utf8, uint32, int64, bool
Column = tuple[str, str, bool]

_S, _U, _I, _B = "utf8", "uint32", "int64", "bool"
_SCOPE: tuple[Column, ...] = (("tenant_id", _S, False), ("workspace_id", _S, False))

COLUMNS: dict[str, tuple[Column, ...]] = {
    "runs": (
        ("run_id", _S, False), ("plan_id", _S, False), ("state", _S, False),
        ("run_key", _S, True), ("cancel_requested", _B, False), ("tasks_total", _U, False),
        ("tasks_completed", _U, False), ("tasks_succeeded", _U, False),
        ("tasks_failed", _U, False), ("tasks_skipped", _U, False),
        ("tasks_cancelled", _U, False), ("triggered_at", _I, False),
        ("completed_at", _I, True), ("labels", _S, True), ("code_version", _S, True),
        ("row_version", _S, False),
        ("trigger", _S, True),
    ),
    "tasks": (
        ("run_id", _S, False), ("task_key", _S, False), ("state", _S, False),
        ("attempt", _U, False), ("attempt_id", _S, True), ("started_at", _I, True),
        ("completed_at", _I, True), ("error_message", _S, True), ("deps_total", _U, False),
        ("deps_satisfied_count", _U, False), ("max_attempts", _U, False),
        ("heartbeat_timeout_sec", _U, False), ("last_heartbeat_at", _I, True),
        ("ready_at", _I, True), ("asset_key", _S, True), ("partition_key", _S, True),
        ("requires_visible_output", _B, True), ("materialization_id", _S, True),
        ("output_visibility_state", _S, True), ("published_at", _I, True),
        ("publish_error", _S, True), ("retry_not_before", _I, True),
        ("delta_table", _S, True), ("delta_version", _I, True),
        ("delta_partition", _S, True), ("execution_lineage_ref", _S, True),
        ("row_version", _S, False),
        ("attempt_history", _S, True),
    ),
    "dep_satisfaction": (
        ("run_id", _S, False), ("upstream_task_key", _S, False),
        ("downstream_task_key", _S, False), ("satisfied", _B, False),
        ("resolution", _S, True), ("satisfied_at", _I, True),
        ("satisfying_attempt", _U, True), ("row_version", _S, False),
    ),
    "run_key_index": _SCOPE + (
        ("run_key", _S, False), ("run_id", _S, False), ("request_fingerprint", _S, False),
        ("code_version", _S, True), ("created_at", _I, False), ("row_version", _S, False),
        ("trigger_source_ref", _S, True),
    ),
    "run_key_conflicts": _SCOPE + (
        ("run_key", _S, False), ("existing_fingerprint", _S, False),
        ("conflicting_fingerprint", _S, False), ("conflicting_event_id", _S, False),
        ("detected_at", _I, False),
        ("existing_event_id", _S, True), ("existing_source", _S, True),
        ("requested_source", _S, True), ("occurrences", _U, True),
        ("last_seen_event_id", _S, True), ("differences", _S, True),
    ),
    "partition_status": _SCOPE + (
        ("asset_key", _S, False), ("partition_key", _S, False),
        ("last_materialization_run_id", _S, True), ("last_materialization_at", _I, True),
        ("last_materialization_code_version", _S, True), ("last_attempt_run_id", _S, True),
        ("last_attempt_at", _I, True), ("last_attempt_outcome", _S, True),
        ("stale_since", _I, True), ("stale_reason_code", _S, True),
        ("partition_values", _S, True), ("delta_table", _S, True),
        ("delta_version", _I, True), ("delta_partition", _S, True),
        ("execution_lineage_ref", _S, True), ("row_version", _S, False),
        ("materialization_row_version", _S, True), ("attempt_row_version", _S, True),
    ),
    "idempotency_keys": _SCOPE + (
        ("idempotency_key", _S, False), ("event_id", _S, False), ("event_type", _S, False),
        ("recorded_at", _I, False), ("row_version", _S, False),
    ),
    "schedule_definitions": _SCOPE + (
        ("schedule_id", _S, False), ("cron_expression", _S, False), ("timezone", _S, False),
        ("catchup_window_minutes", _U, False), ("asset_selection", _S, True),
        ("code_version", _S, True), ("max_catchup_ticks", _U, False),
        ("enabled", _B, False), ("created_at", _I, False), ("row_version", _S, False),
    ),
    "schedule_state": _SCOPE + (
        ("schedule_id", _S, False), ("last_scheduled_for", _I, True),
        ("last_tick_id", _S, True), ("last_run_key", _S, True), ("row_version", _S, False),
    ),
    "schedule_ticks": _SCOPE + (
        ("tick_id", _S, False), ("schedule_id", _S, False), ("scheduled_for", _I, False),
        ("definition_version", _S, False), ("asset_selection", _S, True),
        ("partition_selection", _S, True), ("status", _S, False), ("run_key", _S, True),
        ("run_id", _S, True), ("request_fingerprint", _S, True), ("row_version", _S, False),
    ),
    "sensor_state": _SCOPE + (
        ("sensor_id", _S, False), ("cursor", _S, True), ("last_evaluation_at", _I, True),
        ("last_eval_id", _S, True), ("status", _S, False), ("state_version", _U, False),
        ("row_version", _S, False),
    ),
    "sensor_evals": _SCOPE + (
        ("eval_id", _S, False), ("sensor_id", _S, False), ("cursor_before", _S, True),
        ("cursor_after", _S, True), ("expected_state_version", _U, True),
        ("trigger_source", _S, False), ("run_requests", _S, True), ("status", _S, False),
        ("evaluated_at", _I, False), ("row_version", _S, False),
        ("skip_reason", _S, True),
    ),
    "backfills": _SCOPE + (
        ("backfill_id", _S, False), ("asset_selection", _S, False),
        ("code_version", _S, True), ("partition_selector", _S, False),
        ("chunk_size", _U, False), ("max_concurrent_runs", _U, False), ("state", _S, False),
        ("state_version", _U, False), ("total_partitions", _U, False),
        ("planned_chunks", _U, False), ("completed_chunks", _U, False),
        ("failed_chunks", _U, False), ("parent_backfill_id", _S, True),
        ("created_at", _I, False), ("row_version", _S, False),
    ),
    "backfill_chunks": _SCOPE + (
        ("chunk_id", _S, False), ("backfill_id", _S, False), ("chunk_index", _U, False),
        ("partition_keys", _S, False), ("run_key", _S, False), ("run_id", _S, True),
        ("state", _S, False), ("row_version", _S, False),
    ),
    "event_outcomes": (
        ("event_id", _S, False), ("event_type", _S, False), ("idempotency_key", _S, False),
        ("outcome", _S, False), ("reason", _S, True), ("detail", _S, True),
        ("log_offset", _I, True), ("run_id", _S, True), ("task_key", _S, True),
        ("expected_idempotency_key", _S, True), ("diagnostics", _S, True),
    ),
}

PRIMARY_KEYS: dict[str, tuple[str, ...]] = {
    "runs": ("run_id",),
    "tasks": ("run_id", "task_key"),
    "dep_satisfaction": ("run_id", "upstream_task_key", "downstream_task_key"),
    "run_key_index": ("tenant_id", "workspace_id", "run_key"),
    "run_key_conflicts": ("tenant_id", "workspace_id", "run_key", "conflicting_event_id"),
    "partition_status": ("tenant_id", "workspace_id", "asset_key", "partition_key"),
    "idempotency_keys": ("tenant_id", "workspace_id", "idempotency_key"),
    "schedule_definitions": ("tenant_id", "workspace_id", "schedule_id"),
    "schedule_state": ("tenant_id", "workspace_id", "schedule_id"),
    "schedule_ticks": ("tenant_id", "workspace_id", "tick_id"),
    "sensor_state": ("tenant_id", "workspace_id", "sensor_id"),
    "sensor_evals": ("tenant_id", "workspace_id", "eval_id"),
    "backfills": ("tenant_id", "workspace_id", "backfill_id"),
    "backfill_chunks": ("tenant_id", "workspace_id", "chunk_id"),
    "event_outcomes": ("event_id",),
}

TABLE_NAMES = tuple(COLUMNS)


def column_names(table: str) -> tuple[str, ...]:
    return tuple(name for name, _type, _nullable in COLUMNS[table])


def arrow_schema(table: str) -> pa.Schema:
    import pyarrow as pa

    types = {"utf8": pa.string(), "uint32": pa.uint32(), "int64": pa.int64(),
             "bool": pa.bool_()}
    return pa.schema([pa.field(name, types[kind], nullable=nullable)
                      for name, kind, nullable in COLUMNS[table]])
