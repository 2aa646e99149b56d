"""Schedules and backfills (data-model §5.10, §7.4)."""

from __future__ import annotations

from arco_cli.identity import parse_timestamp_ms, run_id_from_run_key
from tests.fold.conftest import codes, fold_scenario, only_outcome, outcomes

SCOPE = ("local", "default")


def test_schedule_revert_uses_the_rev_override_and_keeps_created_at() -> None:
    state = fold_scenario("schedules")
    rows = [r for r in state.rows("event_outcomes")
            if r["event_type"] == "ScheduleDefinitionUpserted"]
    assert [r["outcome"] for r in rows] == ["applied"] * 3
    assert rows[2]["idempotency_key"].endswith(f":rev:{rows[2]['event_id']}")
    assert rows[2]["diagnostics"] is None
    definition = state.get("schedule_definitions", (*SCOPE, "daily"))
    assert definition is not None
    assert (definition["enabled"], definition["row_version"]) == (True, rows[2]["event_id"])
    assert definition["asset_selection"] == '["raw.b","raw.a"]'
    assert definition["created_at"] == parse_timestamp_ms("2025-01-01T00:00:01Z")


def test_repeated_tick_is_dropped_by_the_gate() -> None:
    first, second = outcomes(fold_scenario("schedules"), "sched_tick:daily:1735689600")
    assert (first["outcome"], second["outcome"]) == ("applied", "duplicate")


def test_ticks_of_any_status_advance_the_schedule_state() -> None:
    state = fold_scenario("schedules")
    daily = state.get("schedule_state", (*SCOPE, "daily"))
    assert daily is not None
    assert (daily["last_tick_id"], daily["last_run_key"], daily["last_scheduled_for"]) == (
        "daily:1735776000", None, parse_timestamp_ms("2025-01-02T00:00:00Z"))
    tick = state.get("schedule_ticks", (*SCOPE, "daily:1735689600"))
    assert tick is not None
    assert tick["run_id"] == run_id_from_run_key(*SCOPE, "sched:daily:1735689600")
    skipped = state.get("schedule_ticks", (*SCOPE, "daily:1735776000"))
    assert skipped is not None
    assert (skipped["status"], skipped["run_id"], skipped["partition_selection"]) == (
        '{"reason":"paused","status":"skipped"}', None, None)


def test_chunk_planned_before_its_backfill_is_stored_and_flagged() -> None:
    state = fold_scenario("backfills")
    assert codes(only_outcome(state, "backfill_chunk:bf1:0")) == ["unknown_backfill"]
    assert only_outcome(state, "backfill_create:req2")["reason"] == "already_exists"
    early = fold_scenario("backfills", until_key="backfill_create:req1")
    backfill = early.get("backfills", (*SCOPE, "bf1"))
    assert backfill is not None
    assert (backfill["planned_chunks"], backfill["state"], backfill["state_version"]) == (
        1, "RUNNING", 1)


def test_chunk_states_and_counters_derive_from_the_chunk_runs() -> None:
    state = fold_scenario("backfills")
    chunks = state.rows("backfill_chunks")
    assert [(c["chunk_id"], c["state"]) for c in chunks] == [
        ("bf1:0", "SUCCEEDED"), ("bf1:1", "FAILED"), ("bf1:2", "RUNNING"),
        ("bf1:3", "PLANNED")]
    assert chunks[3]["run_id"] == run_id_from_run_key(*SCOPE, "backfill:bf1:chunk:3")
    assert chunks[0]["row_version"] == only_outcome(state, "backfill_chunk:bf1:0")["event_id"]
    backfill = state.get("backfills", (*SCOPE, "bf1"))
    assert backfill is not None
    assert (backfill["planned_chunks"], backfill["completed_chunks"],
            backfill["failed_chunks"]) == (4, 1, 1)


def test_backfill_transitions_check_state_version_and_existence() -> None:
    state = fold_scenario("backfills")
    assert only_outcome(state, "backfill_state:bf1:2:PAUSED")["outcome"] == "applied"
    assert only_outcome(state, "backfill_state:bf1:3:SUCCEEDED")["reason"] == \
        "invalid_transition"
    assert only_outcome(state, "backfill_state:bf1:5:RUNNING")["reason"] == "stale_version"
    assert only_outcome(state, "backfill_state:bf_missing:3:CANCELLED")["reason"] == \
        "unknown_backfill"
    backfill = state.get("backfills", (*SCOPE, "bf1"))
    assert backfill is not None
    assert (backfill["state"], backfill["state_version"]) == ("CANCELLED", 3)


def test_retry_backfill_records_its_parent() -> None:
    retry = fold_scenario("backfills").get("backfills", (*SCOPE, "bf2"))
    assert retry is not None
    assert (retry["parent_backfill_id"], retry["total_partitions"], retry["planned_chunks"]) \
        == ("bf1", 1, 0)
