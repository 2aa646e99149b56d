"""The fold procedure: order, corrupt records, scope, type, payload, keys, outcome rows
(data-model §5.1, invariants 3 and 7, decisions A38/A42)."""

from __future__ import annotations

import json

import pytest

from arco_cli.errors import ArcoError
from arco_cli.events import make_event
from arco_cli.fold import FoldState, fold_records
from arco_cli.identity import canonical_json, run_id_from_run_key
from tests.fold.conftest import (
    Record,
    as_records,
    codes,
    fold_lines,
    fold_scenario,
    only_outcome,
    outcomes,
    scenario_lines,
)


def _all_rows(state: FoldState) -> dict[str, list[dict[str, object]]]:
    from arco_cli.fold import TABLES

    return {table: state.rows(table) for table in TABLES}


def test_fold_order_is_event_id_order_not_log_order() -> None:
    lines = scenario_lines("retries")
    forward = FoldState("local", "default")
    fold_records(forward, as_records(lines))
    backward = FoldState("local", "default")
    fold_records(backward, list(reversed(as_records(lines))))
    assert _all_rows(forward) == _all_rows(backward)
    assert backward.watermark_event_id == json.loads(lines[-1])["event_id"]
    assert backward.log_offset == len(lines)


def test_outcome_rows_keep_the_log_offset_of_their_record() -> None:
    state = fold_lines(scenario_lines("cancel"))
    rows = state.rows("event_outcomes")
    assert [row["log_offset"] for row in rows] == list(range(len(rows)))


def test_record_that_is_not_json_stops_the_fold_naming_its_offset() -> None:
    lines = scenario_lines("cancel")[:3] + [b'{"event_id": "01J', b"{}"]
    with pytest.raises(ArcoError) as caught:
        fold_records(FoldState("local", "default"), as_records(lines, first_offset=10))
    assert caught.value.code == "CORRUPT_LOG"
    assert caught.value.details == {"offsets": [13]}
    assert "offset 13" in caught.value.message


def test_record_without_a_string_event_id_stops_the_fold() -> None:
    with pytest.raises(ArcoError) as caught:
        fold_records(FoldState("local", "default"), [Record(4, b'{"event_id": 7}')])
    assert (caught.value.code, caught.value.details) == ("CORRUPT_LOG", {"offsets": [4]})


def test_repeated_event_id_names_both_offsets_within_and_across_folds() -> None:
    lines = scenario_lines("cancel")
    with pytest.raises(ArcoError) as caught:
        fold_records(FoldState("local", "default"), as_records(lines + lines[2:3]))
    assert caught.value.details == {"offsets": [2, len(lines)]}
    state = FoldState("local", "default")
    fold_records(state, as_records(lines))
    with pytest.raises(ArcoError) as caught:
        fold_records(state, [Record(len(lines), lines[-1])])
    assert caught.value.details == {"offsets": [len(lines) - 1, len(lines)]}


def test_records_below_the_watermark_are_refused_so_the_caller_rebuilds() -> None:
    lines = scenario_lines("cancel")
    state = FoldState("local", "default")
    fold_records(state, as_records(lines[1:]))
    with pytest.raises(ValueError, match="rebuild"):
        fold_records(state, [Record(99, lines[0])])


def test_foreign_scope_is_rejected_and_ignored() -> None:
    state = fold_scenario("malformed")
    row = outcomes(state, "run:run_m")[0]
    assert (row["outcome"], row["reason"]) == ("rejected", "foreign_scope")
    assert state.get("runs", ("run_m",)) is None
    assert state.get("idempotency_keys", ("local", "default", "run:run_m")) is None


def test_unknown_event_type_is_rejected() -> None:
    row = only_outcome(fold_scenario("malformed"), "mystery:1")
    assert (row["outcome"], row["reason"], row["event_type"]) == (
        "rejected", "unknown_event_type", "MysteryHappened")


def test_payload_missing_a_required_field_is_invalid() -> None:
    row = only_outcome(fold_scenario("malformed"), "plan:run_m")
    assert row["reason"] == "invalid_payload"
    assert "data.tasks is required" in row["detail"]


def test_float_anywhere_in_the_record_is_invalid_payload() -> None:
    row = only_outcome(fold_scenario("malformed"), "k")
    assert row["reason"] == "invalid_payload"
    assert "1.5" in row["detail"]


def test_duplicate_object_keys_are_invalid_payload() -> None:
    line = scenario_lines("cancel")[0]
    broken = line.replace(b'"run_id":"run_early"', b'"run_id":"run_early","run_id":"x"')
    state = fold_lines([broken])
    (row,) = state.rows("event_outcomes")
    assert row["reason"] == "invalid_payload"
    assert state.rows("runs") == []


@pytest.mark.parametrize("value", [b"18446744073709551616", b'"\\ud800"', b"NaN"])
def test_values_without_canonical_json_are_invalid_payload(value: bytes) -> None:
    line = scenario_lines("cancel")[0]
    broken = line.replace(b'"root_assets":["raw.a"]', b'"root_assets":["raw.a"],"x":' + value)
    assert broken != line
    (row,) = fold_lines([broken]).rows("event_outcomes")
    assert (row["outcome"], row["reason"]) == ("rejected", "invalid_payload")


def test_reordered_but_valid_record_folds_like_its_canonical_form() -> None:
    line = scenario_lines("cancel")[0]
    event = json.loads(line)
    reordered = json.dumps(dict(reversed(list(event.items()))), indent=1).encode()
    reordered = reordered.replace(b"\n", b"")
    assert fold_lines([reordered]).rows("runs") == fold_lines([line]).rows("runs")


def test_gate_digest_of_a_canonical_record_is_the_digest_of_its_canonical_data() -> None:
    import hashlib

    from arco_cli.fold.procedure import RecordParser, _payload_digest

    parser = RecordParser()
    for name in ("retries", "run_keys", "lineage"):
        for line in scenario_lines(name):
            obj = parser.parse(line)
            problem, canonical = parser.canonical_problem(obj, line)
            assert (problem, canonical) == (None, True)
            expected = hashlib.blake2b(canonical_json(obj["data"]).encode(),
                                       digest_size=8).digest()
            assert _payload_digest(obj, line, True) == expected


def test_malformed_envelope_is_invalid_with_empty_required_columns() -> None:
    record = b'{"event_id":"01JGFJJZZ80000000000000000","data":{"type":"plan_created"}}'
    (row,) = fold_lines([record]).rows("event_outcomes")
    assert (row["outcome"], row["reason"]) == ("rejected", "invalid_payload")
    assert (row["event_type"], row["idempotency_key"]) == ("", "")
    no_timestamp = outcomes(fold_scenario("malformed"), "run:run_m")[1]
    assert no_timestamp["reason"] == "invalid_payload"
    assert "timestamp" in no_timestamp["detail"]


def test_mismatched_type_version_and_colon_ids_fold_with_sorted_diagnostics() -> None:
    state = fold_scenario("malformed")
    row = only_outcome(state, "run:run_x:y")
    assert row["outcome"] == "applied"
    assert codes(row) == ["ambiguous_key_component", "event_type_mismatch",
                          "unexpected_event_version"]
    assert row["event_type"] == "RunStarted"
    assert state.get("runs", ("run_x:y",)) is not None


def test_unexpected_key_is_reported_with_the_expected_key() -> None:
    state = fold_scenario("schedules")
    row = only_outcome(state, "sched_tick:something-else")
    assert row["expected_idempotency_key"] == "sched_tick:broken:1735776000"
    assert codes(row) == ["idempotency_key_mismatch"]
    assert row["outcome"] == "applied"


def test_documented_override_keys_are_not_mismatches() -> None:
    state = fold_scenario("backfills")
    row = only_outcome(state, "backfill_retry:bf1:retry1")
    assert (row["expected_idempotency_key"], row["diagnostics"]) == (None, None)


def test_outcome_run_id_is_derived_from_the_run_key_for_automation_events() -> None:
    state = fold_scenario("backfills")
    derived = run_id_from_run_key("local", "default", "backfill:bf1:chunk:2")
    assert only_outcome(state, "backfill_chunk:bf1:2")["run_id"] == derived
    rows = [r for r in state.rows("event_outcomes") if r["event_type"] == "RunRequested"
            and "chunk:2" in r["idempotency_key"]]
    assert rows[0]["run_id"] == derived
    assert only_outcome(state, "backfill_create:req1")["run_id"] is None


def test_outcomes_of_a_run_are_its_rows_in_event_order() -> None:
    state = fold_scenario("retries")
    rows = state.outcomes_of("run_retry")
    assert len(rows) == len(state.rows("event_outcomes"))
    assert [r["event_id"] for r in rows] == sorted(r["event_id"] for r in rows)


def test_run_ids_follow_the_tenant_secret() -> None:
    line = canonical_json(make_event(
        {"type": "run_requested", "run_key": "k1", "request_fingerprint": "f",
         "asset_selection": ["raw.a"],
         "trigger_source_ref": {"type": "manual", "user_id": "u", "request_id": "r"}},
        event_id="01JGFJJZZ80000000000000000", timestamp_ms=0, tenant_id="local",
        workspace_id="default")).encode()
    plain = fold_lines([line]).rows("run_key_index")[0]["run_id"]
    salted = fold_lines([line], secret=b"s3cret").rows("run_key_index")[0]["run_id"]
    assert plain == run_id_from_run_key("local", "default", "k1")
    assert salted == run_id_from_run_key("local", "default", "k1", b"s3cret") != plain


def test_streaming_fold_of_ascending_records_equals_the_sorting_fold() -> None:
    from arco_cli.fold import fold_ascending

    lines = scenario_lines("lineage")
    streamed = FoldState("local", "default")
    counts = fold_ascending(streamed, iter(as_records(lines)))
    assert _all_rows(streamed) == _all_rows(fold_lines(lines))
    assert sum(counts.values()) == len(lines)
    assert (streamed.watermark_event_id, streamed.log_offset) == (
        json.loads(lines[-1])["event_id"], len(lines))


def test_streaming_fold_stops_at_the_first_record_out_of_order() -> None:
    from arco_cli.fold import OutOfOrder, fold_ascending

    lines = scenario_lines("lineage")
    with pytest.raises(OutOfOrder, match="offset 1"):
        fold_ascending(FoldState("local", "default"), as_records([lines[1], lines[0]]))
