"""``RunRequested``: the run-key index, conflicts with their ``differences`` and the
occurrence rule (data-model §5.9, §8.7; encoding of decisions A44)."""

from __future__ import annotations

from typing import Any

from arco_cli.fold.context import APPLIED, Event, Result, rejected
from arco_cli.fold.jsonenc import canonical_text
from arco_cli.fold.runs import derived_run_id
from arco_cli.fold.state import FoldState

_dumps = canonical_text


def carried_request(d: dict[str, Any]) -> dict[str, Any]:
    """The parts of a request that ``differences`` compares."""
    return {"selection": list(d["asset_selection"]),
            "partitions": list(d.get("partition_selection") or ()),
            "labels": dict(d.get("labels") or {}), "code_version": d.get("code_version")}


def _set_change(existing: list[str], requested: list[str]) -> dict[str, list[str]] | None:
    old, new = set(existing), set(requested)
    if old == new:
        return None
    return {"added": sorted(new - old), "removed": sorted(old - new)}


def differences(existing: dict[str, Any], requested: dict[str, Any]) -> dict[str, Any]:
    """§8.7 ``differences``; entries only where values differ (A44: explicit nulls)."""
    out: dict[str, Any] = {}
    for name in ("selection", "partitions"):
        change = _set_change(existing[name], requested[name])
        if change is not None:
            out[name] = change
    old_labels, new_labels = existing["labels"], requested["labels"]
    for name, label in (("includeUpstream", "arco.include_upstream"),
                        ("includeDownstream", "arco.include_downstream")):
        old, new = old_labels.get(label) == "true", new_labels.get(label) == "true"
        if old != new:
            out[name] = {"existing": old, "requested": new}
    old_user = {k: v for k, v in old_labels.items() if not k.startswith("arco.")}
    new_user = {k: v for k, v in new_labels.items() if not k.startswith("arco.")}
    if old_user != new_user:
        out["labels"] = {
            "added": {k: v for k, v in new_user.items() if k not in old_user},
            "removed": {k: v for k, v in old_user.items() if k not in new_user},
            "changed": {k: {"existing": old_user[k], "requested": v}
                        for k, v in new_user.items() if k in old_user and old_user[k] != v},
        }
    for name, label in (("parentRunId", "arco.parent_run_id"), ("rerunKind", "arco.rerun.kind")):
        old_value, new_value = old_labels.get(label), new_labels.get(label)
        if old_value != new_value:
            out[name] = {"existing": old_value, "requested": new_value}
    if existing["code_version"] != requested["code_version"]:
        out["codeVersion"] = {"existing": existing["code_version"],
                              "requested": requested["code_version"]}
    return out


def run_requested(st: FoldState, ev: Event, d: dict[str, Any]) -> Result:
    source = d["trigger_source_ref"]
    if source["type"] == "sensor":
        evaluation = st.sensor_evals.get(source["eval_id"])
        if evaluation is None:
            ev.diag("missing_sensor_eval",
                    f"Sensor evaluation {source['eval_id']} has no row; treated as not stale.")
        elif evaluation["status"] == '{"status":"skipped_stale_cursor"}':
            return rejected("stale_cursor", f"Sensor evaluation {source['eval_id']} was "
                            "skipped because its cursor was stale.")
    run_key: str = d["run_key"]
    fingerprint: str = d["request_fingerprint"]
    index = st.run_key_index.get(run_key)
    if index is None:
        run_id = derived_run_id(st, run_key)
        if source["type"] == "schedule":
            tick = st.schedule_ticks.get(source["tick_id"])
            if tick is not None and tick["run_id"] is not None:
                run_id = tick["run_id"]
        st.run_key_index[run_key] = {
            "run_key": run_key, "run_id": run_id, "request_fingerprint": fingerprint,
            "code_version": d.get("code_version"), "created_at": ev.ts,
            "row_version": ev.event_id, "trigger_source_ref": _dumps(source),
        }
        st.accepted_requests[run_key] = carried_request(d)
        return APPLIED
    if index["request_fingerprint"] == fingerprint:
        return ("applied", "run_key_match", f"Run key {run_key} already maps to "
                f"{index['run_id']} with this fingerprint.")
    pk = (run_key, ev.event_id)
    st.run_key_conflicts[pk] = {
        "run_key": run_key, "existing_fingerprint": index["request_fingerprint"],
        "conflicting_fingerprint": fingerprint, "conflicting_event_id": ev.event_id,
        "detected_at": ev.ts, "existing_event_id": index["row_version"],
        "existing_source": index["trigger_source_ref"], "requested_source": _dumps(source),
        "occurrences": 1, "last_seen_event_id": ev.event_id,
        "differences": _dumps(differences(st.accepted_requests[run_key], carried_request(d))),
    }
    st.conflict_by_fingerprint.setdefault((run_key, fingerprint), pk)
    return ("applied", "run_key_conflict", f"Run key {run_key} is reserved by event "
            f"{index['row_version']} with another fingerprint.")


def count_duplicate_request(st: FoldState, ev: Event, d: dict[str, Any]) -> None:
    """Occurrence rule: a gate-dropped request repeating a conflicting fingerprint."""
    pk = st.conflict_by_fingerprint.get((d["run_key"], d["request_fingerprint"]))
    if pk is not None:
        row = st.run_key_conflicts[pk]
        row["occurrences"] += 1
        row["last_seen_event_id"] = ev.event_id
