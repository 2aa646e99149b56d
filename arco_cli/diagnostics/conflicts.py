"""Run-key conflict payloads (data-model §8.7): which earlier request holds a run key and
what differs in the later one."""

from __future__ import annotations

from typing import Any

from arco_cli.diagnostics.state import FoldView, iso, json_column, put
from arco_cli.identity import run_id_from_run_key

#: listing more conflicts than this reads the runs table once instead of run by run (a
#: stored fold state then loads no per-run bucket for them)
RUNS_AT_ONCE = 32


def _payload(state: FoldView, row: dict[str, Any],
             runs: dict[str, dict[str, Any]] | None = None) -> dict[str, Any]:
    run_key = row["run_key"]
    index = state.get("run_key_index", (state.tenant_id, state.workspace_id, run_key))
    if index is not None:
        existing_run_id = str(index["run_id"])
    else:  # a conflict row always follows an index row; derive the id defensively
        existing_run_id = run_id_from_run_key(state.tenant_id, state.workspace_id, run_key,
                                              getattr(state, "secret", b""))
    run = runs.get(existing_run_id) if runs is not None \
        else state.get("runs", (existing_run_id,))
    out: dict[str, Any] = {
        "conflictType": "RUN_KEY_FINGERPRINT_MISMATCH",
        "runKey": run_key,
        "existingFingerprint": row["existing_fingerprint"],
        "requestedFingerprint": row["conflicting_fingerprint"],
        "existingRunId": existing_run_id,
        "existingPlanId": run["plan_id"] if run is not None else f"plan:{existing_run_id}",
    }
    put(out, "existingCreatedAt", iso(index["created_at"]) if index is not None else None)
    out["requestedEventId"] = row["conflicting_event_id"]
    out["detectedAt"] = iso(row["detected_at"])
    put(out, "existingSource", json_column(row.get("existing_source"), None))
    put(out, "requestedSource", json_column(row.get("requested_source"), None))
    out["occurrences"] = int(row.get("occurrences") or 1)
    put(out, "differences", json_column(row.get("differences"), None))
    return out


def conflict_payloads(state: FoldView, run_key: str | None = None) -> list[dict[str, Any]]:
    """Every conflict (or those of ``run_key``), sorted by run key then conflicting event
    id (decisions C3: never by the producer's ``detected_at``)."""
    rows = [r for r in state.rows("run_key_conflicts")
            if run_key is None or r["run_key"] == run_key]
    rows.sort(key=lambda r: (r["run_key"], r["conflicting_event_id"]))
    runs = {r["run_id"]: r for r in state.rows("runs")} if len(rows) > RUNS_AT_ONCE else None
    return [_payload(state, r, runs) for r in rows]
