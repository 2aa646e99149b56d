"""Execution metadata, the lineage ref and partition status (data-model §6)."""

from __future__ import annotations

from typing import Any

from arco_cli.fold.context import Event
from arco_cli.fold.jsonenc import compact_text
from arco_cli.fold.state import FoldState


def execution_metadata(d: dict[str, Any]) -> tuple[Any, Any, Any, Any]:
    """(materialization_id, delta_table, delta_version, delta_partition) of §6.1."""
    output = d.get("output") or {}
    materialization_id = d.get("materialization_id")
    if materialization_id is None:
        materialization_id = output.get("materializationId")
    delta_partition = output.get("deltaPartition")
    if delta_partition is None:
        delta_partition = d.get("partition_key")
    return materialization_id, output.get("deltaTable"), output.get("deltaVersion"), \
        delta_partition


def lineage_ref(run_id: str, task_key: str, attempt: int, materialization_id: Any,
                delta_table: Any, delta_version: Any, delta_partition: Any) -> str:
    """§6.2: fixed key order, compact, not key-sorted — byte format kept for arco-flow."""
    ref: dict[str, Any] = {"runId": run_id, "taskKey": task_key, "attempt": attempt}
    if materialization_id is not None:
        ref["materializationId"] = materialization_id
    if delta_table is not None:
        ref["deltaTable"] = delta_table
    if delta_version is not None:
        ref["deltaVersion"] = delta_version
    if delta_partition is not None:
        ref["deltaPartition"] = delta_partition
    return compact_text(ref)


def update_partition_status(st: FoldState, ev: Event, d: dict[str, Any],
                            task: dict[str, Any], succeeded: bool,
                            materialization: tuple[Any, Any, Any, Any] | None,
                            ref: str | None) -> None:
    """§6.3: the materialization half (successes) and the attempt half (every completion)."""
    asset_key = d.get("asset_key")
    if asset_key is None:
        asset_key = task["asset_key"]
        if asset_key is None:
            return
        ev.diag("asset_key_from_task", "The completion has no asset_key; used the task's.")
    partition_key = d.get("partition_key")
    if partition_key is None:
        partition_key = (d.get("output") or {}).get("deltaPartition")
    if partition_key is None:
        partition_key = task["partition_key"]
        if partition_key is not None:
            ev.diag("partition_key_from_task",
                    "The completion has no partition_key; used the task's.")
        else:
            partition_key = ""
            ev.diag("unpartitioned_asset_row",
                    f"No partition key for asset {asset_key}; tracked under \"\".")
    pk = (asset_key, partition_key)
    row = st.partition_status.get(pk)
    if row is None:
        row = {
            "asset_key": asset_key, "partition_key": partition_key,
            "last_materialization_run_id": None, "last_materialization_at": None,
            "last_materialization_code_version": None, "last_attempt_run_id": None,
            "last_attempt_at": None, "last_attempt_outcome": None, "stale_since": None,
            "stale_reason_code": None, "partition_values": None, "delta_table": None,
            "delta_version": None, "delta_partition": None, "execution_lineage_ref": None,
            "row_version": ev.event_id, "materialization_row_version": None,
            "attempt_row_version": None,
        }
        st.partition_status[pk] = row
    eid = ev.event_id
    if succeeded and materialization is not None:
        mrv = row["materialization_row_version"]
        if mrv is None or eid >= mrv:
            _mid, delta_table, delta_version, delta_partition = materialization
            row["last_materialization_run_id"] = d["run_id"]
            row["last_materialization_at"] = ev.ts
            row["last_materialization_code_version"] = d.get("code_version")
            row["delta_table"] = delta_table
            row["delta_version"] = delta_version
            row["delta_partition"] = delta_partition
            row["execution_lineage_ref"] = ref
            row["stale_since"] = None
            row["stale_reason_code"] = None
            row["materialization_row_version"] = eid
    arv = row["attempt_row_version"]
    if arv is None or eid >= arv:
        row["last_attempt_run_id"] = d["run_id"]
        row["last_attempt_at"] = ev.ts
        row["last_attempt_outcome"] = d["outcome"].upper()
        row["attempt_row_version"] = eid
    versions = [v for v in (row["materialization_row_version"], row["attempt_row_version"])
                if v is not None]
    row["row_version"] = max(versions)
