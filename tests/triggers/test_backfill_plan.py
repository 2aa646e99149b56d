"""Backfill selectors, chunking, reconcile slots, completion, transitions, retry-failed."""

from __future__ import annotations

from typing import Any

import pytest

from arco_cli.engine.triggers.backfill_plan import (
    check_transition,
    chunks_to_plan,
    completion_state,
    default_retry_request_id,
    explicit_selector,
    failed_partitions,
    parse_range_arg,
    resolve_selector,
    total_chunks,
)
from arco_cli.errors import ArcoError
from arco_cli.identity import is_safe_id, request_fingerprint


def backfill(**over: Any) -> dict[str, Any]:
    row: dict[str, Any] = {"backfill_id": "bf1", "asset_selection": '["a.b"]', "chunk_size": 2,
                           "max_concurrent_runs": 2, "state": "RUNNING", "planned_chunks": 0}
    row.update(over)
    return row


DAYS = [f"date=d:2025-01-0{i}" for i in range(1, 8)]


def test_range_of_bare_dates_resolves_every_day_inclusive_with_canonical_bounds() -> None:
    selector = parse_range_arg("2025-01-30..2025-02-02")
    assert selector == {"type": "range", "start": "date=d:2025-01-30",
                        "end": "date=d:2025-02-02"}
    assert resolve_selector(selector) == ["date=d:2025-01-30", "date=d:2025-01-31",
                                          "date=d:2025-02-01", "date=d:2025-02-02"]


def test_range_keeps_a_custom_dimension() -> None:
    assert resolve_selector({"type": "range", "start": "day=d:2025-01-01",
                             "end": "day=d:2025-01-02"}) == ["day=d:2025-01-01",
                                                             "day=d:2025-01-02"]


@pytest.mark.parametrize("arg,match", [
    ("2025-01-05..2025-01-01", "after its end"),
    ("date=d:2025-01-01..day=d:2025-01-02", "different dimensions"),
    ("region=s:ZXU..region=s:ZXU", "single date dimension"),
    ("2025-02-30..2025-03-01", "invalid date"),
])
def test_invalid_ranges_are_refused(arg: str, match: str) -> None:
    with pytest.raises(ArcoError, match=match) as info:
        parse_range_arg(arg)
    assert info.value.code == "INVALID_PARTITION_KEY"


def test_range_argument_without_dots_is_a_usage_error() -> None:
    with pytest.raises(ArcoError) as info:
        parse_range_arg("2025-01-01")
    assert info.value.code == "USAGE_ERROR"


def test_explicit_keys_are_canonical_sorted_and_unique() -> None:
    assert explicit_selector(["2025-01-02", "date=d:2025-01-01", "2025-01-02"]) == {
        "type": "explicit", "partition_keys": ["date=d:2025-01-01", "date=d:2025-01-02"]}


def test_filter_selector_is_a_range_over_start_and_end_aliases() -> None:
    assert resolve_selector({"type": "filter", "filters": {
        "partition_start": "2025-01-01", "end": "2025-01-02"}}) == DAYS[:2]
    with pytest.raises(ArcoError, match="unsupported partition filter keys: region"):
        resolve_selector({"type": "filter", "filters": {"region": "eu"}})


def test_chunk_count_rounds_up() -> None:
    assert total_chunks(7, 2) == 4
    assert total_chunks(6, 2) == 3


def test_reconcile_fills_free_slots_from_planned_chunks() -> None:
    plans = chunks_to_plan(backfill(), {}, DAYS)
    assert [(p.index, p.chunk_id, p.partition_keys, p.run_key) for p in plans] == [
        (0, "bf1:0", DAYS[0:2], "backfill:bf1:chunk:0"),
        (1, "bf1:1", DAYS[2:4], "backfill:bf1:chunk:1")]
    assert plans[0].request_fingerprint == request_fingerprint(["a.b"], DAYS[0:2])


def test_reconcile_counts_planned_and_running_chunks_as_active() -> None:
    assert chunks_to_plan(backfill(planned_chunks=2), {0: "RUNNING", 1: "PLANNED"}, DAYS) == []
    plans = chunks_to_plan(backfill(planned_chunks=2), {0: "SUCCEEDED", 1: "RUNNING"}, DAYS)
    assert [p.index for p in plans] == [2]


def test_reconcile_stops_at_the_last_short_chunk() -> None:
    plans = chunks_to_plan(backfill(planned_chunks=3, max_concurrent_runs=5),
                           {0: "SUCCEEDED", 1: "SUCCEEDED", 2: "SUCCEEDED"}, DAYS)
    assert [(p.index, p.partition_keys) for p in plans] == [(3, DAYS[6:7])]


@pytest.mark.parametrize("state", ["PAUSED", "CANCELLED", "SUCCEEDED"])
def test_reconcile_plans_nothing_for_a_backfill_that_is_not_running(state: str) -> None:
    assert chunks_to_plan(backfill(state=state), {}, DAYS) == []


def test_completion_waits_for_every_chunk_then_fails_when_any_failed() -> None:
    done = {0: "SUCCEEDED", 1: "SUCCEEDED", 2: "SUCCEEDED", 3: "SUCCEEDED"}
    assert completion_state(backfill(planned_chunks=3), dict(list(done.items())[:3]), 7) is None
    assert completion_state(backfill(planned_chunks=4), {**done, 3: "RUNNING"}, 7) is None
    assert completion_state(backfill(planned_chunks=4), done, 7) == "SUCCEEDED"
    assert completion_state(backfill(planned_chunks=4), {**done, 1: "FAILED"}, 7) == "FAILED"


@pytest.mark.parametrize("current,target,ok", [
    ("RUNNING", "PAUSED", True), ("PAUSED", "RUNNING", True), ("PAUSED", "CANCELLED", True),
    ("PENDING", "RUNNING", True), ("RUNNING", "RUNNING", False), ("PAUSED", "PAUSED", False),
    ("CANCELLED", "RUNNING", False), ("SUCCEEDED", "PAUSED", False),
    ("FAILED", "CANCELLED", False), ("PENDING", "PAUSED", False),
])
def test_transitions_table(current: str, target: str, ok: bool) -> None:
    if ok:
        check_transition("bf1", current, target, current_version=3, expected_version=None)
    else:
        with pytest.raises(ArcoError) as info:
            check_transition("bf1", current, target, current_version=3, expected_version=None)
        assert info.value.code == "INVALID_TRANSITION"


def test_expected_version_mismatch_is_a_version_conflict() -> None:
    with pytest.raises(ArcoError, match=r"^Version conflict: expected 1, found 2$") as info:
        check_transition("bf1", "RUNNING", "PAUSED", current_version=2, expected_version=1)
    assert info.value.code == "VERSION_CONFLICT"


def test_failed_partitions_take_only_unsucceeded_tasks_sorted_and_unique() -> None:
    chunks = [
        {"partition_keys": '["date=d:2025-01-03","date=d:2025-01-04"]', "run_id": "run_b"},
        {"partition_keys": '["date=d:2025-01-01","date=d:2025-01-02"]', "run_id": "run_a"},
        {"partition_keys": '["date=d:2025-01-05"]', "run_id": None},
    ]
    tasks = {
        "run_a": [
            {"state": "SUCCEEDED", "partition_key": "date=d:2025-01-01"},
            {"state": "FAILED", "partition_key": "date=d:2025-01-02"},
            {"state": "SKIPPED", "partition_key": "date=d:2025-01-02"},
        ],
        "run_b": [
            {"state": "SUCCEEDED", "partition_key": "date=d:2025-01-03"},
            {"state": "CANCELLED", "partition_key": "date=d:2025-01-04"},
        ],
    }
    assert failed_partitions(chunks, tasks) == [
        "date=d:2025-01-02", "date=d:2025-01-04", "date=d:2025-01-05"]


def test_default_retry_request_id_depends_on_parent_and_keys_only() -> None:
    a = default_retry_request_id("bf1", ["date=d:2025-01-02", "date=d:2025-01-01"])
    assert a == default_retry_request_id("bf1", ["date=d:2025-01-01", "date=d:2025-01-02"])
    assert a != default_retry_request_id("bf2", ["date=d:2025-01-01", "date=d:2025-01-02"])
    assert a != default_retry_request_id("bf1", ["date=d:2025-01-01"])
    assert is_safe_id(a)
