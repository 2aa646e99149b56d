"""``arco schedule list|tick`` end to end through the real CLI (data-model §7.1)."""

from __future__ import annotations

from pathlib import Path

from arco_cli.identity import canonical_json as canonical
from tests.triggers.workspaces import arco_json, events, make_workspace, run_states

HOURLY = """
[schedules.hourly]
cron = "0 * * * *"
selection = ["analytics.orders", "raw.orders"]
catchup_window_minutes = 180
max_catchup_ticks = 5
"""


def test_tick_runs_due_ticks_oldest_first_and_a_repeat_creates_nothing(tmp_path: Path) -> None:
    ws = make_workspace(tmp_path / "ws", HOURLY)
    env = arco_json(ws, "schedule", "tick", "hourly", "--now", "2025-01-01T05:30:00Z",
                    expect=0)
    ticks = env["data"]["ticks"]
    assert [t["tickId"] for t in ticks] == [
        "hourly:1735700400", "hourly:1735704000", "hourly:1735707600"]  # 03:00, 04:00, 05:00
    assert [t["runKey"] for t in ticks] == [
        "sched:hourly:1735700400", "sched:hourly:1735704000", "sched:hourly:1735707600"]
    assert {t["status"] for t in ticks} == {"triggered"}
    assert {t["state"] for t in ticks} == {"SUCCEEDED"}
    logged = events(ws)
    assert logged[0]["timestamp"] == "2025-01-01T05:30:00.000Z"  # --now stamps the batch
    # executed runs: --now plus the time elapsed since (decisions A31), not the wall clock
    finished = [e["timestamp"] for e in logged if e["event_type"] == "TaskFinished"]
    assert finished and all("2025-01-01T05:30:00.000Z" <= t < "2025-01-01T05:31:00.000Z"
                            for t in finished)

    again = arco_json(ws, "schedule", "tick", "hourly", "--now", "2025-01-01T05:30:00Z",
                      expect=0)
    assert again["data"]["ticks"] == []
    assert len(events(ws)) == len(logged)


def test_no_execute_records_requests_and_the_next_tick_runs_them(tmp_path: Path) -> None:
    ws = make_workspace(tmp_path / "ws", HOURLY)
    env = arco_json(ws, "schedule", "tick", "hourly", "--now", "2025-01-01T03:10:00Z",
                    "--no-execute", expect=0)
    assert [t["tickId"] for t in env["data"]["ticks"]] == [
        "hourly:1735693200", "hourly:1735696800", "hourly:1735700400"]  # 01:00–03:00
    assert all("state" not in t for t in env["data"]["ticks"])
    assert events(ws, "RunTriggered") == []
    later = arco_json(ws, "schedule", "tick", "hourly", "--now", "2025-01-01T04:10:00Z",
                      expect=0)
    assert [t["tickId"] for t in later["data"]["ticks"]] == ["hourly:1735704000"]
    runs = run_states(ws)
    assert sorted(runs) == [
        "sched:hourly:1735693200", "sched:hourly:1735696800", "sched:hourly:1735700400",
        "sched:hourly:1735704000"]
    assert {r["state"] for r in runs.values()} == {"SUCCEEDED"}


def test_disabled_schedule_records_a_paused_skip_and_requests_no_run(tmp_path: Path) -> None:
    ws = make_workspace(tmp_path / "ws", HOURLY + "enabled = false\n")
    env = arco_json(ws, "schedule", "tick", "hourly", "--now", "2025-01-01T03:10:00Z",
                    expect=0)
    assert env["data"]["ticks"] == [
        {"tickId": f"hourly:{epoch}", "status": "skipped", "reason": "paused"}
        for epoch in (1735693200, 1735696800, 1735700400)]
    assert events(ws, "RunRequested") == []
    ticked = events(ws, "ScheduleTicked")
    assert {canonical(e["data"]["status"]) for e in ticked} == {
        '{"reason":"paused","status":"skipped"}'}
    assert all("run_key" not in e["data"] for e in ticked)
    # history stays visible and advances the schedule: a repeat has nothing due
    assert arco_json(ws, "schedule", "tick", "hourly", "--now", "2025-01-01T03:10:00Z",
                     expect=0)["data"]["ticks"] == []


def test_dst_crossing_cron_in_berlin_fires_once_per_day(tmp_path: Path) -> None:
    ws = make_workspace(tmp_path / "ws", """
[schedules.berlin]
cron = "30 2 * * *"
timezone = "Europe/Berlin"
selection = ["raw.orders"]
catchup_window_minutes = 4320
max_catchup_ticks = 10
""")
    spring = arco_json(ws, "schedule", "tick", "berlin", "--now", "2025-03-31T12:00:00Z",
                       "--no-execute", expect=0)
    # 02:30 does not exist on 30 March: it fires at 03:00 CEST = 01:00Z
    assert [t["tickId"] for t in spring["data"]["ticks"]] == [
        "berlin:1743211800", "berlin:1743296400", "berlin:1743381000"]
    autumn = arco_json(ws, "schedule", "tick", "berlin", "--now", "2025-10-27T12:00:00Z",
                       "--no-execute", expect=0)
    # 02:30 happens twice on 26 October: only the first (CEST, 00:30Z) fires
    assert [t["tickId"] for t in autumn["data"]["ticks"]] == [
        "berlin:1761352200", "berlin:1761438600", "berlin:1761528600"]
    scheduled = [e["data"]["scheduled_for"] for e in events(ws, "ScheduleTicked")]
    assert scheduled[1] == "2025-03-30T01:00:00.000Z"
    assert scheduled[-2:] == ["2025-10-26T00:30:00.000Z", "2025-10-27T01:30:00.000Z"]


def test_manual_tick_uses_manual_ids_and_drops_older_due_ticks(tmp_path: Path) -> None:
    ws = make_workspace(tmp_path / "ws", HOURLY + "enabled = false\n")
    env = arco_json(ws, "schedule", "tick", "hourly", "--manual", "--now",
                    "2025-01-01T05:30:00Z", expect=0)
    (tick,) = env["data"]["ticks"]
    assert tick["tickId"] == "hourly:manual:1735709400"
    assert tick["runKey"] == "sched:hourly:manual:1735709400"
    assert tick["state"] == "SUCCEEDED"
    # decisions B9: the manual tick advanced last_scheduled_for past 03:00–05:00
    listing = arco_json(ws, "schedule", "list", "--now", "2025-01-01T05:30:00Z", expect=0)
    (item,) = listing["data"]["schedules"]
    assert item["lastTickId"] == "hourly:manual:1735709400"
    assert item["nextTickAt"] == "2025-01-01T06:00:00.000Z"


def test_failed_run_makes_the_tick_exit_1(tmp_path: Path) -> None:
    ws = make_workspace(tmp_path / "ws", """
[schedules.nightly]
cron = "0 2 * * *"
selection = ["broken.job"]
""")
    env = arco_json(ws, "schedule", "tick", "nightly", "--now", "2025-01-02T02:00:00Z",
                    expect=1)
    assert env["status"] == "failed"
    assert env["errors"] == []
    assert env["data"]["ticks"][0]["state"] == "FAILED"


def test_partitioned_schedule_requests_the_previous_local_day(tmp_path: Path) -> None:
    ws = make_workspace(tmp_path / "ws", """
[schedules.daily_events]
cron = "0 1 * * *"
timezone = "Europe/Berlin"
selection = ["raw.events"]
""")
    arco_json(ws, "schedule", "tick", "daily_events", "--now", "2025-01-15T00:00:00Z",
              expect=0)
    (requested,) = events(ws, "RunRequested")
    assert requested["data"]["partition_selection"] == ["date=d:2025-01-14"]
    (ticked,) = events(ws, "ScheduleTicked")
    assert ticked["data"]["partition_selection"] == ["date=d:2025-01-14"]


def test_tick_without_name_ticks_every_schedule_in_name_order(tmp_path: Path) -> None:
    ws = make_workspace(tmp_path / "ws", HOURLY + """
[schedules.daily]
cron = "0 0 * * *"
selection = ["raw.orders"]
""")
    env = arco_json(ws, "schedule", "tick", "--now", "2025-01-01T00:30:00Z", "--no-execute",
                    expect=0)
    assert [t["tickId"] for t in env["data"]["ticks"]] == [
        "daily:1735689600", "hourly:1735682400", "hourly:1735686000", "hourly:1735689600"]
    upserts = events(ws, "ScheduleDefinitionUpserted")
    assert [e["data"]["schedule_id"] for e in upserts] == ["daily", "hourly"]
    assert upserts[1]["data"]["asset_selection"] == ["analytics.orders", "raw.orders"]


def test_unknown_schedule_and_bad_now_are_usage_failures(tmp_path: Path) -> None:
    ws = make_workspace(tmp_path / "ws", HOURLY)
    env = arco_json(ws, "schedule", "tick", "nope", expect=2)
    assert env["errors"][0]["code"] == "UNKNOWN_SCHEDULE"
    env = arco_json(ws, "schedule", "tick", "hourly", "--now", "yesterday", expect=2)
    assert env["errors"][0]["code"] == "USAGE_ERROR"
    assert not (ws / ".arco" / "log").exists() or events(ws) == []


def test_schedule_list_shows_definition_and_next_tick(tmp_path: Path) -> None:
    ws = make_workspace(tmp_path / "ws", HOURLY)
    env = arco_json(ws, "schedule", "list", "--now", "2025-01-01T05:30:00Z", expect=0)
    assert env["data"]["schedules"] == [{
        "scheduleId": "hourly", "cron": "0 * * * *", "timezone": "UTC", "enabled": True,
        "selection": ["analytics.orders", "raw.orders"], "catchupWindowMinutes": 180,
        "maxCatchupTicks": 5, "nextTickAt": "2025-01-01T06:00:00.000Z"}]
