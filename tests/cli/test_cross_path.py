"""The one run-key model across trigger paths (decisions A54, C7).

Group 1: a schedule tick, a sensor returning the tick's ``sched:…`` key and a manual
``arco run --run-key sched:…`` (all unpartitioned) share one run. Group 2: a backfill
chunk, a sensor returning ``backfill:…`` and a manual run with the chunk's partitions.
The same key with a different selection is refused (manual, exit 3) or recorded as a
conflict (automation, exit 3 with the conflict in its item) and listed by ``arco
conflicts`` with what differs.
"""

from __future__ import annotations

from pathlib import Path

from tests.triggers.workspaces import answer, arco_json, events, make_workspace

AUTOMATION = """
[schedules.daily]
cron = "0 2 * * *"
selection = ["raw.orders"]

[sensors.feed]
kind = "poll"
python = "sensor_jobs:evaluate"
selection = ["raw.orders"]
min_interval_s = 0
"""

TICK = "2025-01-02T02:00:00Z"
KEY = "sched:daily:1735783200"


def test_schedule_sensor_and_manual_requests_share_one_run_and_conflicts_are_recorded(
        tmp_path: Path) -> None:
    ws = make_workspace(tmp_path / "ws", AUTOMATION)
    tick = arco_json(ws, "schedule", "tick", "daily", "--now", TICK, expect=0)
    (item,) = tick["data"]["ticks"]
    assert (item["runKey"], item["state"]) == (KEY, "SUCCEEDED")
    run_id = item["runId"]

    answer(ws, {"run_requests": [{"run_key": KEY}]})
    sensed = arco_json(ws, "sensor", "evaluate", "feed", "--now", "2025-01-02T02:01:00Z",
                       expect=0)
    assert sensed["data"]["runs"] == [{"runKey": KEY, "runId": run_id, "created": False,
                                       "state": "SUCCEEDED"}]

    manual = arco_json(ws, "run", "raw.orders", "--run-key", KEY, expect=0)
    assert (manual["data"]["runId"], manual["data"]["created"]) == (run_id, False)
    assert len(events(ws, "RunTriggered")) == 1
    # the sensor's repeat is a gate duplicate, never a conflict (C7)
    assert arco_json(ws, "conflicts", expect=0)["data"]["conflicts"] == []

    refused = arco_json(ws, "run", "analytics.orders", "--run-key", KEY, expect=3)
    assert refused["status"] == "conflict"
    assert refused["errors"][0]["code"] == "RUN_KEY_CONFLICT"
    assert refused["errors"][0]["details"]["existingRunId"] == run_id

    answer(ws, {"run_requests": [{"run_key": KEY, "selection": ["raw.orders"],
                                  "labels": {"team": "ops"}}]})
    conflicting = arco_json(ws, "sensor", "evaluate", "feed", "--now", "2025-01-02T02:02:00Z",
                            expect=3)
    (run,) = conflicting["data"]["runs"]
    assert (run["runId"], run["conflict"], run["created"]) == (run_id, True, False)
    assert conflicting["errors"][0]["code"] == "RUN_KEY_CONFLICT"

    conflicts = arco_json(ws, "conflicts", "--run-key", KEY, expect=0)["data"]["conflicts"]
    assert [c["existingSource"]["type"] for c in conflicts] == ["schedule", "schedule"]
    by_source = {c["requestedSource"]["type"]: c for c in conflicts}
    assert by_source["manual"]["differences"]["selection"] == {
        "added": ["analytics.orders"], "removed": ["raw.orders"]}
    assert by_source["sensor"]["differences"]["labels"] == {
        "added": {"team": "ops"}, "removed": {}, "changed": {}}
    assert {c["existingRunId"] for c in conflicts} == {run_id}
    assert len(events(ws, "RunTriggered")) == 1


def test_backfill_chunk_sensor_and_manual_requests_share_one_run(tmp_path: Path) -> None:
    ws = make_workspace(tmp_path / "ws", AUTOMATION)
    arco_json(ws, "backfill", "create", "raw.events", "--partitions",
              "2025-01-01..2025-01-02", "--id", "bf", expect=0)
    done = arco_json(ws, "backfill", "run", "bf", expect=0)["data"]
    (chunk,) = done["chunks"]
    key, run_id = chunk["runKey"], chunk["runId"]
    assert key == "backfill:bf:chunk:0"

    answer(ws, {"run_requests": [{"run_key": key, "selection": ["raw.events"],
                                  "partitions": ["2025-01-02", "2025-01-01"]}]})
    sensed = arco_json(ws, "sensor", "evaluate", "feed", "--now", "2025-01-02T02:01:00Z",
                       expect=0)
    assert sensed["data"]["runs"] == [{"runKey": key, "runId": run_id, "created": False,
                                       "state": "SUCCEEDED"}]
    manual = arco_json(ws, "run", "raw.events", "-p", "2025-01-01", "-p", "2025-01-02",
                       "--run-key", key, expect=0)
    assert (manual["data"]["runId"], manual["data"]["created"]) == (run_id, False)

    refused = arco_json(ws, "run", "raw.events", "-p", "2025-01-01", "--run-key", key,
                        expect=3)
    details = refused["errors"][0]["details"]
    assert details["differences"]["partitions"] == {"added": [],
                                                    "removed": ["date=d:2025-01-02"]}
    assert details["existingSource"] == {"type": "backfill", "backfill_id": "bf",
                                         "chunk_id": "bf:0"}
    assert len(events(ws, "RunTriggered")) == 1
