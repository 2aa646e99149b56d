"""Lineage ref byte format and the two halves of partition status (data-model §6)."""

from __future__ import annotations

from tests.fold.conftest import codes, fold_scenario, only_outcome, task

KEY = ("local", "default", "raw.orders", "date=d:2025-01-01")


def test_lineage_ref_keeps_its_fixed_key_order_and_raw_unicode() -> None:
    state = fold_scenario("lineage", until_key="finished:run_good:raw.orders:1")
    ref = task(state, "run_good", "raw.orders")["execution_lineage_ref"]
    assert ref == ('{"runId":"run_good","taskKey":"raw.orders","attempt":1,'
                   '"materializationId":"mat-é1","deltaTable":"warehouse/raw/orders",'
                   '"deltaVersion":3,"deltaPartition":"date=2025-01-01"}')
    row = state.get("partition_status", KEY)
    assert row is not None and row["execution_lineage_ref"] == ref


def test_newer_failure_touches_only_the_attempt_half() -> None:
    state = fold_scenario("lineage", until_key="finished:run_bad:raw.orders:1")
    row = state.get("partition_status", KEY)
    assert row is not None
    failure = only_outcome(state, "finished:run_bad:raw.orders:1")
    assert (row["last_materialization_run_id"], row["last_materialization_code_version"],
            row["delta_version"]) == ("run_good", "v1", 3)
    assert (row["last_attempt_run_id"], row["last_attempt_outcome"]) == ("run_bad", "FAILED")
    assert row["attempt_row_version"] == failure["event_id"] == row["row_version"]
    assert row["materialization_row_version"] < row["attempt_row_version"]
    assert row["last_attempt_at"] < row["last_materialization_at"]  # producer time only


def test_older_success_folded_after_the_newer_failure_updates_the_materialization() -> None:
    state = fold_scenario("lineage")
    row = state.get("partition_status", KEY)
    assert row is not None
    assert (row["last_materialization_run_id"], row["last_attempt_outcome"]) == (
        "run_old", "SUCCEEDED")
    assert (row["delta_table"], row["delta_version"]) == (None, None)
    assert row["execution_lineage_ref"] == task(state, "run_old",
                                                "raw.orders")["execution_lineage_ref"]
    assert row["stale_since"] is None and row["partition_values"] is None


def test_keys_fall_back_to_the_task_row_and_to_the_unpartitioned_key() -> None:
    state = fold_scenario("lineage")
    assert codes(only_outcome(state, "finished:run_fall:raw.items:1")) == [
        "asset_key_from_task", "partition_key_from_task"]
    assert state.get("partition_status", ("local", "default", "raw.items",
                                          "date=d:2025-01-02")) is not None
    assert codes(only_outcome(state, "finished:run_fall:raw.plain:1")) == [
        "unpartitioned_asset_row"]
    plain = state.get("partition_status", ("local", "default", "raw.plain", ""))
    assert plain is not None and plain["delta_partition"] is None


def test_output_visibility_moves_from_pending_to_visible_and_then_sticks() -> None:
    state = fold_scenario("lineage", until_key="finished:run_vis:raw.pub:1")
    assert task(state, "run_vis", "raw.pub")["output_visibility_state"] == "PENDING"
    state = fold_scenario("lineage")
    row = task(state, "run_vis", "raw.pub")
    assert (row["output_visibility_state"], row["published_at"]) == ("VISIBLE", 1735693200000)
    rejected = only_outcome(state, "output_visibility:run_vis:raw.pub:1:failed")
    assert rejected["reason"] == "invalid_transition"


def test_visibility_change_needs_a_succeeded_task_and_its_current_attempt() -> None:
    state = fold_scenario("lineage")
    assert only_outcome(state, "output_visibility:run_bad:raw.orders:1:visible")["reason"] \
        == "invalid_transition"
    assert only_outcome(state, "output_visibility:run_vis:raw.pub:2:pending")["reason"] == \
        "stale_attempt"
