"""Due ticks of data-model §7.1 with the DST, start and field rules of decisions A28–A30."""

from __future__ import annotations

import pytest

from arco_cli.engine.triggers.cron import (
    CronError,
    due_ticks,
    manual_run_key,
    manual_tick_id,
    next_fire_ms,
    normalize_cron,
    tick_fingerprint,
    tick_id,
    tick_partition,
    tick_run_key,
)
from arco_cli.identity import format_ms, parse_timestamp_ms, request_fingerprint


def ms(text: str) -> int:
    return parse_timestamp_ms(text)


def due(expr: str, tz: str, now: str, last: str | None = None, window: int = 0,
        max_ticks: int = 100) -> list[str]:
    ticks = due_ticks(expr, tz, now_ms=ms(now),
                      last_scheduled_for_ms=ms(last) if last else None,
                      catchup_window_minutes=window, max_catchup_ticks=max_ticks)
    return [format_ms(t) for t in ticks]


def test_five_fields_get_a_leading_zero_seconds_field() -> None:
    assert normalize_cron(" 0 2 * * * ") == "0 0 2 * * *"


def test_six_fields_are_seconds_first() -> None:
    assert due("30 0 2 * * *", "UTC", "2025-01-02T03:00:00Z", "2025-01-01T03:00:00Z") == [
        "2025-01-02T02:00:30.000Z"]


@pytest.mark.parametrize("expr", ["@daily", "0 2 * *", "0 0 2 * * * 2025"])
def test_macros_and_other_field_counts_are_refused(expr: str) -> None:
    with pytest.raises(CronError, match=r"^invalid cron expression \(expected 5 or 6 fields\)"):
        normalize_cron(expr)


def test_unparsable_expression_names_the_parser_problem() -> None:
    with pytest.raises(CronError, match=r"^invalid cron expression: .*out of range"):
        normalize_cron("0 99 * * *")


def test_unknown_timezone_is_refused() -> None:
    with pytest.raises(CronError, match=r"^invalid timezone: Mars/Base$"):
        due("0 2 * * *", "Mars/Base", "2025-01-02T03:00:00Z")


def test_without_state_the_window_defaults_to_24_hours_oldest_first() -> None:
    assert due("0 */6 * * *", "UTC", "2025-01-02T01:00:00Z") == [
        "2025-01-01T06:00:00.000Z", "2025-01-01T12:00:00.000Z",
        "2025-01-01T18:00:00.000Z", "2025-01-02T00:00:00.000Z"]


def test_a_fire_time_exactly_at_the_window_start_is_not_due() -> None:
    assert due("0 * * * *", "UTC", "2025-01-01T02:00:00Z", window=60) == [
        "2025-01-01T02:00:00.000Z"]


def test_max_catchup_ticks_keeps_the_oldest() -> None:
    assert due("0 * * * *", "UTC", "2025-01-01T05:00:00Z", window=600, max_ticks=2) == [
        "2024-12-31T20:00:00.000Z", "2024-12-31T21:00:00.000Z"]


def test_zero_max_catchup_ticks_means_none() -> None:
    assert due("0 * * * *", "UTC", "2025-01-01T05:00:00Z", max_ticks=0) == []


def test_last_scheduled_for_is_exclusive_and_a_tick_one_second_later_is_due() -> None:
    # decisions A30: a 6-field cron firing every second loses nothing after the last tick
    assert due("* * * * * *", "UTC", "2025-01-01T00:00:03Z", "2025-01-01T00:00:01Z") == [
        "2025-01-01T00:00:02.000Z", "2025-01-01T00:00:03.000Z"]


def test_last_scheduled_for_older_than_the_window_is_raised_to_the_window() -> None:
    assert due("0 0 * * *", "UTC", "2025-01-10T12:00:00Z", "2025-01-01T00:00:00Z",
               window=24 * 60) == ["2025-01-10T00:00:00.000Z"]


def test_repeated_tick_at_the_same_now_is_not_due_again() -> None:
    assert due("0 2 * * *", "UTC", "2025-01-02T02:00:00Z", "2025-01-02T02:00:00Z") == []


def test_vixie_or_when_both_day_fields_are_restricted() -> None:
    # the 13th of January 2025 is a Monday, Friday the 17th is not the 13th
    ticks = due("0 0 13 * 5", "UTC", "2025-01-18T00:00:00Z", "2025-01-12T00:00:00Z",
                window=7 * 24 * 60)
    assert ticks == ["2025-01-13T00:00:00.000Z", "2025-01-17T00:00:00.000Z"]


def test_berlin_spring_forward_gap_fires_once_at_the_first_instant_after_it() -> None:
    # 2025-03-30 02:00 CET jumps to 03:00 CEST (01:00Z); 02:30 local does not exist
    assert due("30 2 * * *", "Europe/Berlin", "2025-03-31T12:00:00Z", "2025-03-28T12:00:00Z",
               window=7 * 24 * 60) == [
        "2025-03-29T01:30:00.000Z", "2025-03-30T01:00:00.000Z", "2025-03-31T00:30:00.000Z"]


def test_every_time_in_the_gap_and_the_gap_end_collapse_into_one_tick() -> None:
    assert due("*/30 * * * *", "Europe/Berlin", "2025-03-30T02:00:00Z",
               "2025-03-29T23:59:00Z", window=600) == [
        "2025-03-30T00:00:00.000Z", "2025-03-30T00:30:00.000Z", "2025-03-30T01:00:00.000Z",
        "2025-03-30T01:30:00.000Z", "2025-03-30T02:00:00.000Z"]


def test_berlin_fall_back_repeated_hour_fires_once_at_its_first_occurrence() -> None:
    # 2025-10-26 03:00 CEST falls back to 02:00 CET; 02:30 local happens at 00:30Z and 01:30Z
    assert due("30 2 * * *", "Europe/Berlin", "2025-10-28T00:00:00Z", "2025-10-24T12:00:00Z",
               window=7 * 24 * 60) == [
        "2025-10-25T00:30:00.000Z", "2025-10-26T00:30:00.000Z", "2025-10-27T01:30:00.000Z"]


def test_fall_back_half_hourly_cron_skips_the_second_pass_of_the_hour() -> None:
    assert due("*/30 * * * *", "Europe/Berlin", "2025-10-26T02:00:00Z",
               "2025-10-25T23:59:00Z", window=600) == [
        "2025-10-26T00:00:00.000Z", "2025-10-26T00:30:00.000Z", "2025-10-26T02:00:00.000Z"]


def test_a_tick_starting_inside_the_repeated_hour_does_not_refire_it() -> None:
    assert due("30 2 * * *", "Europe/Berlin", "2025-10-26T02:00:00Z",
               "2025-10-26T00:30:00Z") == []


def test_next_fire_is_strictly_after_the_instant() -> None:
    assert next_fire_ms("0 2 * * *", "UTC", ms("2025-01-01T02:00:00Z")) == ms(
        "2025-01-02T02:00:00Z")


def test_impossible_date_has_no_ticks() -> None:
    assert due("0 0 30 2 *", "UTC", "2025-03-01T00:00:00Z") == []


def test_tick_ids_and_run_keys_use_epoch_seconds() -> None:
    at = ms("2025-01-02T02:00:00.999Z")
    assert tick_id("daily", at) == "daily:1735783200"
    assert tick_run_key("daily", at) == "sched:daily:1735783200"
    assert manual_tick_id("daily", at) == "daily:manual:1735783200"
    assert manual_run_key("daily", at) == "sched:daily:manual:1735783200"


def test_partition_date_previous_and_tick_use_the_local_date() -> None:
    # 23:30Z on Jan 1 is already Jan 2 in Berlin
    at = ms("2025-01-01T23:30:00Z")
    assert tick_partition(at, "Europe/Berlin", "previous") == "date=d:2025-01-01"
    assert tick_partition(at, "Europe/Berlin", "tick") == "date=d:2025-01-02"
    assert tick_partition(at, "UTC", "previous") == "date=d:2024-12-31"


def test_tick_fingerprint_equals_the_manual_request_fingerprint() -> None:
    assert tick_fingerprint(["b.x", "a.y"], []) == request_fingerprint(["a.y", "b.x"], [])
