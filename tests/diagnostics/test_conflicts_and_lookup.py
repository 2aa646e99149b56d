from __future__ import annotations

import pytest

from arco_cli.diagnostics import conflict_payloads, explain_run, ignored_events, resolve_run
from arco_cli.errors import ArcoError
from arco_cli.identity import canonical_json
from tests.diagnostics.conftest import (
    TENANT,
    WORKSPACE,
    FakeState,
    ms,
    outcome_row,
    run_row,
    task_row,
)

DIFFS = {"selection": {"added": ["b.x"], "removed": []},
         "codeVersion": {"existing": None, "requested": "v2"}}


def _index(run_key: str, run_id: str, fp: str = "fp1") -> dict[str, object]:
    return {"tenant_id": TENANT, "workspace_id": WORKSPACE, "run_key": run_key,
            "run_id": run_id, "request_fingerprint": fp, "code_version": None,
            "created_at": ms("2025-01-01T00:00:00.000Z"), "row_version": "01A",
            "trigger_source_ref": canonical_json({"type": "manual", "user_id": "u",
                                                  "request_id": "req_1"})}


def _conflict(run_key: str, event_id: str, fp: str = "fp2") -> dict[str, object]:
    return {"tenant_id": TENANT, "workspace_id": WORKSPACE, "run_key": run_key,
            "existing_fingerprint": "fp1", "conflicting_fingerprint": fp,
            "conflicting_event_id": event_id, "detected_at": ms("2025-01-02T00:00:00.000Z"),
            "existing_event_id": "01A",
            "existing_source": canonical_json({"type": "manual", "user_id": "u",
                                               "request_id": "req_1"}),
            "requested_source": canonical_json({"type": "schedule", "schedule_id": "s",
                                                "tick_id": "s:1"}),
            "occurrences": 2, "last_seen_event_id": event_id,
            "differences": canonical_json(DIFFS)}


def _state() -> FakeState:
    st = FakeState()
    st.add("runs", run_row("run_k", run_key="nightly", state="SUCCEEDED",
                           trigger={"type": "manual", "user_id": "alice"}))
    st.add("run_key_index", _index("nightly", "run_k"))
    st.add("run_key_index", _index("pending", "run_unbridged"))
    st.add("run_key_conflicts", _conflict("nightly", "01Z"))
    st.add("run_key_conflicts", _conflict("nightly", "01C", fp="fp3"))
    st.add("run_key_conflicts", _conflict("alpha", "01Y"))
    st.add("runs", run_row("run_legacy", run_key="legacy-key"))
    st.add("tasks", task_row("run_k", "a.one", state="SUCCEEDED", attempt=1))
    st.add("tasks", task_row("run_k", "b.two", state="SUCCEEDED", attempt=1))
    st.add("event_outcomes", outcome_row("01D", "TaskFinished", "applied", run_id="run_k",
                                         task_key="a.one"))
    st.add("event_outcomes", outcome_row(
        "01F", "TaskFinished", "rejected", run_id="run_k", task_key="b.two",
        reason="stale_attempt", detail="attempt 1 is not current",
        diagnostics=[{"code": "idempotency_key_mismatch", "message": "m"}], key="fin"))
    st.add("event_outcomes", outcome_row("01E", "TaskStarted", "duplicate", run_id="run_k",
                                         task_key="a.one", reason="duplicate_key"))
    return st


def test_conflict_payload_has_every_field_and_is_sorted_by_key_then_event() -> None:
    payloads = conflict_payloads(_state())
    assert [(p["runKey"], p["requestedEventId"]) for p in payloads] == [
        ("alpha", "01Y"), ("nightly", "01C"), ("nightly", "01Z")]
    p = payloads[2]
    assert list(p) == ["conflictType", "runKey", "existingFingerprint", "requestedFingerprint",
                       "existingRunId", "existingPlanId", "existingCreatedAt",
                       "requestedEventId", "detectedAt", "existingSource", "requestedSource",
                       "occurrences", "differences"]
    assert p["conflictType"] == "RUN_KEY_FINGERPRINT_MISMATCH"
    assert (p["existingFingerprint"], p["requestedFingerprint"]) == ("fp1", "fp2")
    assert (p["existingRunId"], p["existingPlanId"]) == ("run_k", "plan:run_k")
    assert p["existingCreatedAt"] == "2025-01-01T00:00:00.000Z"
    assert p["detectedAt"] == "2025-01-02T00:00:00.000Z" and p["occurrences"] == 2
    assert p["requestedSource"] == {"type": "schedule", "schedule_id": "s", "tick_id": "s:1"}
    assert p["differences"] == DIFFS


def test_conflict_without_a_run_row_points_at_the_derived_plan_id() -> None:
    payload = conflict_payloads(_state(), "alpha")[0]
    assert payload["existingRunId"].startswith("run_")
    assert payload["existingPlanId"] == f"plan:{payload['existingRunId']}"


def test_lookup_prefers_run_id_then_index_then_runs_run_key() -> None:
    st = _state()
    assert resolve_run(st, "run_k") == "run_k"
    assert resolve_run(st, "nightly") == "run_k"
    assert resolve_run(st, "legacy-key") == "run_legacy"
    st.add("runs", run_row("nightly"))  # a foreign run whose id equals a key
    assert resolve_run(st, "nightly") == "nightly"


def test_lookup_of_an_unbridged_key_names_the_reserved_run() -> None:
    with pytest.raises(ArcoError) as err:
        resolve_run(_state(), "pending")
    assert err.value.code == "UNKNOWN_RUN" and "run_unbridged" in err.value.message


def test_lookup_of_nothing_is_unknown_run() -> None:
    with pytest.raises(ArcoError) as err:
        resolve_run(_state(), "nope")
    assert err.value.code == "UNKNOWN_RUN"


def test_ignored_events_are_non_applied_outcomes_in_event_order() -> None:
    events = ignored_events(_state(), "run_k")
    assert [e["eventId"] for e in events] == ["01E", "01F"]
    assert events[0] == {"eventId": "01E", "eventType": "TaskStarted", "idempotencyKey": "k",
                         "outcome": "duplicate", "reason": "duplicate_key"}
    assert events[1]["diagnostics"] == [{"code": "idempotency_key_mismatch", "message": "m"}]
    assert events[1]["detail"] == "attempt 1 is not current"
    assert [e["eventId"] for e in ignored_events(_state(), "run_k", "b.two")] == ["01F"]


def test_explain_adds_trigger_fingerprint_conflicts_chain_and_ignored_events() -> None:
    data = explain_run(_state(), "run_k")
    assert list(data)[-5:] == ["trigger", "requestFingerprint", "conflicts", "rerunChain",
                               "ignoredEvents"]
    assert data["trigger"] == {"type": "manual", "user_id": "alice"}
    assert data["requestFingerprint"] == "fp1"
    assert [c["requestedEventId"] for c in data["conflicts"]] == ["01C", "01Z"]
    assert data["rerunChain"] == [{"runId": "run_k"}]


def test_explain_of_a_run_without_key_has_empty_conflicts() -> None:
    st = _state().add("runs", run_row("run_plain"))
    data = explain_run(st, "run_plain")
    assert data["conflicts"] == [] and "requestFingerprint" not in data
    assert "trigger" not in data and data["ignoredEvents"] == []


def test_explain_task_filters_tasks_and_ignored_events() -> None:
    data = explain_run(_state(), "run_k", "b.two")
    assert [t["taskKey"] for t in data["tasks"]] == ["b.two"]
    assert [e["eventId"] for e in data["ignoredEvents"]] == ["01F"]


def test_explain_unknown_task_is_unknown_task() -> None:
    with pytest.raises(ArcoError) as err:
        explain_run(_state(), "run_k", "z.none")
    assert err.value.code == "UNKNOWN_TASK" and "a.one, b.two" in err.value.message
