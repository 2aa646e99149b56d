"""Every projection schema equals data-model §9 (plus the A23/A47 additions at the end)."""

from __future__ import annotations

import re

import pytest

from arco_cli.fold import TABLES
from arco_cli.projections import COLUMNS, PRIMARY_KEYS, arrow_schema
from arco_cli.projections.schemas import column_names
from tests.fold.conftest import fold_lines, scenario_lines

# data-model §9, copied verbatim (column lists only)
SECTION_9 = """
**`runs`** — PK (`run_id`):
`run_id` Utf8 NN · `plan_id` Utf8 NN · `state` Utf8 NN (`TRIGGERED`, `RUNNING`,
`SUCCEEDED`, `FAILED`, `CANCELLED`) · `run_key` Utf8 · `cancel_requested` Boolean NN ·
`tasks_total` UInt32 NN · `tasks_completed` UInt32 NN · `tasks_succeeded` UInt32 NN ·
`tasks_failed` UInt32 NN · `tasks_skipped` UInt32 NN · `tasks_cancelled` UInt32 NN ·
`triggered_at` Int64 NN · `completed_at` Int64 · `labels` Utf8 (JSON object; null when
empty) · `code_version` Utf8 · `row_version` Utf8 NN.

**`tasks`** — PK (`run_id`, `task_key`):
`run_id` Utf8 NN · `task_key` Utf8 NN · `state` Utf8 NN (§5.2) · `attempt` UInt32 NN (0
before the first dispatch/start) · `attempt_id` Utf8 · `started_at` Int64 ·
`completed_at` Int64 (only from a worker-reported terminal outcome) · `error_message` Utf8
· `deps_total` UInt32 NN · `deps_satisfied_count` UInt32 NN · `max_attempts` UInt32 NN ·
`heartbeat_timeout_sec` UInt32 NN · `last_heartbeat_at` Int64 · `ready_at` Int64 ·
`asset_key` Utf8 · `partition_key` Utf8 · `requires_visible_output` Boolean ·
`materialization_id` Utf8 · `output_visibility_state` Utf8 (`PENDING`, `VISIBLE`,
`FAILED`) · `published_at` Int64 · `publish_error` Utf8 · `retry_not_before` Int64 ·
`delta_table` Utf8 · `delta_version` Int64 · `delta_partition` Utf8 ·
`execution_lineage_ref` Utf8 (§6.2) · `row_version` Utf8 NN
‖ `attempt_history` Utf8 (JSON array, §8.5; null before any attempt).

**`dep_satisfaction`** — PK (`run_id`, `upstream_task_key`, `downstream_task_key`):
`run_id` Utf8 NN · `upstream_task_key` Utf8 NN · `downstream_task_key` Utf8 NN ·
`satisfied` Boolean NN · `resolution` Utf8 (`SUCCESS`, `FAILED`, `SKIPPED`, `CANCELLED`)
· `satisfied_at` Int64 (also set by failure/skip/cancel resolutions) ·
`satisfying_attempt` UInt32 · `row_version` Utf8 NN.

**`run_key_index`** — PK (`tenant_id`, `workspace_id`, `run_key`):
T/W · `run_key` Utf8 NN · `run_id` Utf8 NN (§4.4) · `request_fingerprint` Utf8 NN (first
accepted) · `code_version` Utf8 · `created_at` Int64 NN · `row_version` Utf8 NN (event id
of the accepted `RunRequested`) ‖ `trigger_source_ref` Utf8 (JSON object of the accepted
request's source).

**`run_key_conflicts`** — PK (`tenant_id`, `workspace_id`, `run_key`,
`conflicting_event_id`):
T/W · `run_key` Utf8 NN · `existing_fingerprint` Utf8 NN · `conflicting_fingerprint` Utf8
NN · `conflicting_event_id` Utf8 NN · `detected_at` Int64 NN (envelope timestamp of the
conflicting request) ‖ `existing_event_id` Utf8 · `existing_source` Utf8 (JSON object) ·
`requested_source` Utf8 (JSON object) · `occurrences` UInt32 (≥ 1) ·
`last_seen_event_id` Utf8 · `differences` Utf8 (JSON object, §8.7). No `row_version`.

**`partition_status`** — PK (`tenant_id`, `workspace_id`, `asset_key`, `partition_key`):
T/W · `asset_key` Utf8 NN · `partition_key` Utf8 NN (`""` = unpartitioned) ·
`last_materialization_run_id` Utf8 · `last_materialization_at` Int64 ·
`last_materialization_code_version` Utf8 · `last_attempt_run_id` Utf8 ·
`last_attempt_at` Int64 · `last_attempt_outcome` Utf8 (`SUCCEEDED`, `FAILED`, `SKIPPED`,
`CANCELLED`) · `stale_since` Int64 · `stale_reason_code` Utf8 · `partition_values` Utf8
(JSON object) — these three are never set by the fold · `delta_table` Utf8 ·
`delta_version` Int64 · `delta_partition` Utf8 · `execution_lineage_ref` Utf8 (identical
to the task row's) · `row_version` Utf8 NN (max of the two half versions)
‖ `materialization_row_version` Utf8 · `attempt_row_version` Utf8.

**`idempotency_keys`** — PK (`tenant_id`, `workspace_id`, `idempotency_key`):
T/W · `idempotency_key` Utf8 NN (envelope key) · `event_id` Utf8 NN (first applied event
with the key) · `event_type` Utf8 NN (PascalCase) · `recorded_at` Int64 NN (envelope
timestamp) · `row_version` Utf8 NN.

**`schedule_definitions`** — PK (`tenant_id`, `workspace_id`, `schedule_id`):
T/W · `schedule_id` Utf8 NN · `cron_expression` Utf8 NN · `timezone` Utf8 NN ·
`catchup_window_minutes` UInt32 NN · `asset_selection` Utf8 (JSON array, event order) ·
`code_version` Utf8 · `max_catchup_ticks` UInt32 NN · `enabled` Boolean NN · `created_at`
Int64 NN · `row_version` Utf8 NN (the `definition_version` of later ticks).

**`schedule_state`** — PK (`tenant_id`, `workspace_id`, `schedule_id`):
T/W · `schedule_id` Utf8 NN · `last_scheduled_for` Int64 · `last_tick_id` Utf8 ·
`last_run_key` Utf8 · `row_version` Utf8 NN.

**`schedule_ticks`** — PK (`tenant_id`, `workspace_id`, `tick_id`):
T/W · `tick_id` Utf8 NN · `schedule_id` Utf8 NN · `scheduled_for` Int64 NN ·
`definition_version` Utf8 NN · `asset_selection` Utf8 (JSON array) ·
`partition_selection` Utf8 (JSON array; null when absent) · `status` Utf8 NN (JSON of
`TickStatus`, e.g. `{"reason":"paused","status":"skipped"}`) · `run_key` Utf8 · `run_id`
Utf8 (derived from `run_key`) · `request_fingerprint` Utf8 · `row_version` Utf8 NN.

**`sensor_state`** — PK (`tenant_id`, `workspace_id`, `sensor_id`):
T/W · `sensor_id` Utf8 NN · `cursor` Utf8 · `last_evaluation_at` Int64 · `last_eval_id`
Utf8 · `status` Utf8 NN (`ACTIVE`, `PAUSED`, `ERROR`) · `state_version` UInt32 NN ·
`row_version` Utf8 NN.

**`sensor_evals`** — PK (`tenant_id`, `workspace_id`, `eval_id`):
T/W · `eval_id` Utf8 NN · `sensor_id` Utf8 NN · `cursor_before` Utf8 · `cursor_after` Utf8
· `expected_state_version` UInt32 · `trigger_source` Utf8 NN (JSON of `TriggerSource`) ·
`run_requests` Utf8 (JSON array of `RunRequest`; null when empty) · `status` Utf8 NN (JSON
of `SensorEvalStatus`, e.g. `{"status":"skipped_stale_cursor"}`) · `evaluated_at` Int64
NN · `row_version` Utf8 NN.

**`backfills`** — PK (`tenant_id`, `workspace_id`, `backfill_id`):
T/W · `backfill_id` Utf8 NN · `asset_selection` Utf8 NN (JSON array) · `code_version` Utf8
· `partition_selector` Utf8 NN (JSON of `PartitionSelector`) · `chunk_size` UInt32 NN ·
`max_concurrent_runs` UInt32 NN · `state` Utf8 NN (`BackfillState`) · `state_version`
UInt32 NN · `total_partitions` UInt32 NN · `planned_chunks` UInt32 NN ·
`completed_chunks` UInt32 NN (derived, §7.4) · `failed_chunks` UInt32 NN (derived) ·
`parent_backfill_id` Utf8 · `created_at` Int64 NN · `row_version` Utf8 NN.

**`backfill_chunks`** — PK (`tenant_id`, `workspace_id`, `chunk_id`):
T/W · `chunk_id` Utf8 NN · `backfill_id` Utf8 NN · `chunk_index` UInt32 NN ·
`partition_keys` Utf8 NN (JSON array, event order) · `run_key` Utf8 NN · `run_id` Utf8
(derived, §7.4) · `state` Utf8 NN (`ChunkState`, derived) · `row_version` Utf8 NN.

**`event_outcomes`** (arco table) — PK (`event_id`):
`event_id` Utf8 NN · `event_type` Utf8 NN (envelope value) · `idempotency_key` Utf8 NN
(envelope value) · `outcome` Utf8 NN (`applied`, `duplicate`, `rejected`) · `reason` Utf8
(§5.11) · `detail` Utf8 (one sentence) ‖ `log_offset` Int64 · `run_id` Utf8 (§3) ·
`task_key` Utf8 (task events) · `expected_idempotency_key` Utf8 (only when it differs
from the envelope key) · `diagnostics` Utf8 (JSON array of `{"code","message"}` sorted by
code; null when empty).
"""
#: decisions A47 (runs.trigger) and A23 (sensor_evals.skip_reason): nullable, at the end
ADDITIONS = {"runs": [("trigger", "string", True)],
             "sensor_evals": [("skip_reason", "string", True)]}
_ARROW = {"Utf8": "string", "UInt32": "uint32", "Int64": "int64", "Boolean": "bool"}


def _spec() -> dict[str, list[tuple[str, str, bool]]]:
    tables: dict[str, list[tuple[str, str, bool]]] = {}
    for block in re.split(r"\n(?=\*\*`)", SECTION_9.strip()):
        name = re.match(r"\*\*`(\w+)`\*\*", block).group(1)  # type: ignore[union-attr]
        body = block.split("):", 1)[1]
        columns = [(c, _ARROW[t], not nn) for c, t, nn in re.findall(
            r"`(\w+)`\s+(Utf8|UInt32|Int64|Boolean)(\s+NN)?", body)]
        if body.lstrip().startswith("T/W"):
            columns = [("tenant_id", "string", False), ("workspace_id", "string", False),
                       *columns]
        tables[name] = columns + ADDITIONS.get(name, [])
    return tables


SPEC = _spec()


def test_every_table_of_the_spec_is_projected_and_no_other() -> None:
    assert sorted(SPEC) == sorted(COLUMNS) == sorted(TABLES) == sorted(PRIMARY_KEYS)


@pytest.mark.parametrize("table", sorted(SPEC))
def test_arrow_schema_equals_section_9(table: str) -> None:
    schema = arrow_schema(table)
    assert [(f.name, str(f.type), f.nullable) for f in schema] == SPEC[table]


@pytest.mark.parametrize("table", sorted(SPEC))
def test_primary_key_columns_exist_and_are_not_nullable(table: str) -> None:
    nullable = {name: flag for name, _type, flag in COLUMNS[table]}
    assert all(nullable[c] is False for c in PRIMARY_KEYS[table])


def test_fold_rows_carry_exactly_the_schema_columns() -> None:
    seen: set[str] = set()
    for name in ("retries", "run_keys", "schedules", "backfills", "lineage", "malformed"):
        state = fold_lines(scenario_lines(name))
        for table in TABLES:
            for row in state.rows(table):
                assert tuple(row) == column_names(table), table
                seen.add(table)
    assert seen == set(TABLES)
