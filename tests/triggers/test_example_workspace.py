"""The example automation workspace under ``fixtures/automation`` works as documented."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

from tests.conftest import FIXTURES
from tests.triggers.workspaces import arco_json, events


def example(tmp_path: Path) -> Path:
    ws = tmp_path / "automation"
    shutil.copytree(FIXTURES / "automation", ws)
    config = ws / "arco.toml"
    config.write_text(config.read_text().replace('["python",', f'[{json.dumps(sys.executable)},'))
    return ws


def test_example_schedules_are_listed_with_their_next_tick(tmp_path: Path) -> None:
    ws = example(tmp_path)
    listing = arco_json(ws, "schedule", "list", "--now", "2025-03-29T12:00:00Z", expect=0)
    assert [(s["scheduleId"], s["nextTickAt"]) for s in listing["data"]["schedules"]] == [
        ("hourly_orders", "2025-03-29T13:00:00.000Z"),
        ("nightly_events", "2025-03-30T01:00:00.000Z"),   # 02:30 falls into the DST gap
    ]


def test_example_sensors_request_runs_from_files_and_messages(tmp_path: Path) -> None:
    ws = example(tmp_path)
    (ws / "drops").mkdir()
    for name in ("2025-01-15-a.csv", "2025-01-15-b.csv"):
        (ws / "drops" / name).write_text("id\n", encoding="utf-8")
    polled = arco_json(ws, "sensor", "evaluate", "order_drops", "--now", "2025-01-15T10:00:00Z",
                       "--no-execute", expect=0)["data"]
    assert [r["runKey"] for r in polled["runs"]] == [
        "orders-drop-2025-01-15-a.csv", "orders-drop-2025-01-15-b.csv"]
    assert polled["cursor"] == "2025-01-15-b.csv"
    quiet = arco_json(ws, "sensor", "evaluate", "order_drops", "--now", "2025-01-15T10:01:00Z",
                      "--no-execute", expect=0)["data"]
    assert (quiet["status"], quiet["skipReason"]) == (
        "no_new_data", "no file after 2025-01-15-b.csv")

    pushed = arco_json(ws, "sensor", "evaluate", "event_messages", "--message-id",
                       "events-2025-01-14", "--now", "2025-01-15T10:02:00Z", "--no-execute",
                       expect=0)["data"]
    assert [r["runKey"] for r in pushed["runs"]] == ["sensor:event_messages:msg:events-2025-01-14"]
    (requested,) = [e for e in events(ws, "RunRequested")
                    if e["data"]["trigger_source_ref"]["sensor_id"] == "event_messages"]
    assert requested["data"]["partition_selection"] == ["date=d:2025-01-14"]
