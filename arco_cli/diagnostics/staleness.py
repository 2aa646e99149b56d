"""Partition status rows with read-time staleness (data-model §8.8, decisions A45).

Staleness depends on "now" and on the workspace definition (asset graph, current code
versions, freshness lags); both are explicit parameters, so the same inputs always give
the same rows.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

from arco_cli.diagnostics.state import FoldView, iso, put
from arco_cli.errors import ArcoError
from arco_cli.identity import partition_values

DEFAULT_FRESHNESS_LAG_MINUTES = 1440


class AssetPolicy(NamedTuple):
    """What staleness needs to know about one configured asset."""

    deps: tuple[str, ...]
    code_version: str | None
    freshness_lag_minutes: int
    partitioned: bool


#: {canonical asset key: AssetPolicy} — plain 4-tuples are accepted as well
WorkspaceGraph = Mapping[str, tuple[tuple[str, ...], str | None, int, bool]]


def _staleness(row: dict[str, Any], policy: AssetPolicy | None, now_ms: int,
               status: dict[tuple[str, str], dict[str, Any]],
               graph: WorkspaceGraph) -> tuple[str | None, int | None]:
    """(reason, staleSince) per §8.8, first match wins; (None, None) when fresh."""
    materialized_at = row.get("last_materialization_at")
    if materialized_at is None:
        return "NEVER_MATERIALIZED", None
    current = policy.code_version if policy is not None else None
    recorded = row.get("last_materialization_code_version")
    if current is not None and recorded is not None and current != recorded:
        return "CODE_CHANGED", now_ms
    upstream_times: list[int | None] = []
    for dep in sorted(policy.deps if policy is not None else ()):
        dep_policy = graph.get(dep)
        # A45: an unpartitioned upstream is tracked under "" whatever the dependent's key
        dep_partitioned = AssetPolicy(*dep_policy).partitioned if dep_policy else True
        key = row["partition_key"] if dep_partitioned else ""
        dep_row = status.get((dep, key))
        upstream_times.append(dep_row.get("last_materialization_at") if dep_row else None)
    if any(t is None for t in upstream_times):
        return "UPSTREAM_NEVER_MATERIALIZED", None
    for t in upstream_times:
        assert t is not None
        if t > materialized_at:
            return "UPSTREAM_CHANGED", t
    lag = policy.freshness_lag_minutes if policy is not None else DEFAULT_FRESHNESS_LAG_MINUTES
    deadline = materialized_at + lag * 60_000
    if now_ms > deadline:
        return "FRESHNESS_POLICY", deadline
    return None, None


def _shape(row: dict[str, Any], reason: str | None, since: int | None) -> dict[str, Any]:
    out: dict[str, Any] = {"assetKey": row["asset_key"], "partitionKey": row["partition_key"]}
    put(out, "lastMaterializationRunId", row.get("last_materialization_run_id"))
    put(out, "lastMaterializationAt", iso(row.get("last_materialization_at")))
    put(out, "lastAttemptRunId", row.get("last_attempt_run_id"))
    put(out, "lastAttemptAt", iso(row.get("last_attempt_at")))
    put(out, "lastAttemptOutcome", row.get("last_attempt_outcome"))
    out["isStale"] = reason is not None
    put(out, "staleReason", reason)
    put(out, "staleSince", iso(since))
    out["partitionValues"] = partition_values(row["partition_key"])
    put(out, "deltaTable", row.get("delta_table"))
    put(out, "deltaVersion", row.get("delta_version"))
    put(out, "deltaPartition", row.get("delta_partition"))
    put(out, "executionLineageRef", row.get("execution_lineage_ref"))
    return out


def partition_rows(state: FoldView, asset: str | None, stale_only: bool, now_ms: int,
                   workspace_graph: WorkspaceGraph) -> list[dict[str, Any]]:
    """Partition rows sorted by (assetKey, partitionKey), each with its staleness.

    Configured unpartitioned assets without a row get a synthetic ``NEVER_MATERIALIZED``
    row (A45) so ``--stale`` shows what was never built. ``asset`` must be canonical; an
    asset neither configured nor present in the rows is ``UNKNOWN_ASSET``.
    """
    status = {(r["asset_key"], r["partition_key"]): r for r in state.rows("partition_status")}
    rows = dict(status)
    recorded = {a for a, _ in status}
    for key, raw_policy in workspace_graph.items():
        if not AssetPolicy(*raw_policy).partitioned and key not in recorded:
            rows[(key, "")] = {"asset_key": key, "partition_key": ""}
    if asset is not None:
        if asset not in workspace_graph and asset not in recorded:
            known = sorted(recorded | set(workspace_graph))
            raise ArcoError("UNKNOWN_ASSET",
                            f"unknown asset {asset!r}; known assets: "
                            + (", ".join(known) or "none"),
                            {"asset": asset})
        rows = {k: v for k, v in rows.items() if k[0] == asset}
    out = []
    for key in sorted(rows):
        row = rows[key]
        raw = workspace_graph.get(row["asset_key"])
        policy = AssetPolicy(*raw) if raw is not None else None
        reason, since = _staleness(row, policy, now_ms, status, workspace_graph)
        if stale_only and reason is None:
            continue
        out.append(_shape(row, reason, since))
    return out
