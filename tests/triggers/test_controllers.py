"""Controller rules exercised in-process on real workspaces (log files, fold, Parquet):
definition revisions, the source-limited bridge and its skip reasons."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from arco_cli.config import load_definition
from arco_cli.engine.batch import fold_now
from arco_cli.engine.triggers.bridge import bridge_source, controller_batch
from arco_cli.engine.triggers.schedules import tick_schedule
from arco_cli.identity import parse_timestamp_ms, request_fingerprint
from arco_cli.workspace import Workspace, open_workspace
from tests.triggers.workspaces import events, make_workspace

NOW = parse_timestamp_ms("2025-01-01T00:30:00Z")
DAILY = """
[schedules.daily]
cron = "0 0 * * *"
selection = ["raw.orders"]
"""


def tick(ws: Workspace, at: int = NOW) -> Any:
    return tick_schedule(ws, load_definition(ws.root), "daily", now_ms=at, manual=False,
                         execute=False, lock_timeout=5)


def test_reverting_a_schedule_definition_uses_the_revision_key(tmp_path: Path) -> None:
    root = make_workspace(tmp_path / "ws", DAILY)
    ws = open_workspace(root)
    tick(ws)
    tick(ws)   # unchanged definition: no second upsert
    config = root / "arco.toml"
    config.write_text(config.read_text().replace('"0 0 * * *"', '"0 1 * * *"'))
    tick(ws)
    config.write_text(config.read_text().replace('"0 1 * * *"', '"0 0 * * *"'))
    tick(ws)
    upserts = events(root, "ScheduleDefinitionUpserted")
    assert [u["data"]["cron_expression"] for u in upserts] == [
        "0 0 * * *", "0 1 * * *", "0 0 * * *"]
    assert upserts[0]["idempotency_key"] == upserts[2]["idempotency_key"].split(":rev:")[0]
    assert upserts[2]["idempotency_key"].endswith(f":rev:{upserts[2]['event_id']}")
    row = fold_now(ws).get("schedule_definitions", (ws.tenant_id, ws.workspace_id, "daily"))
    assert row is not None and row["cron_expression"] == "0 0 * * *"
    assert row["row_version"] == upserts[2]["event_id"]
    (first_tick,) = events(root, "ScheduleTicked")
    assert first_tick["data"]["definition_version"] == upserts[0]["event_id"]


def _request(run_key: str, selection: list[str], source: dict[str, Any]) -> dict[str, Any]:
    return {"type": "run_requested", "run_key": run_key,
            "request_fingerprint": request_fingerprint(selection, []),
            "asset_selection": selection, "trigger_source_ref": source}


def test_bridge_creates_runs_only_for_its_own_source_and_reports_skips(tmp_path: Path) -> None:
    root = make_workspace(tmp_path / "ws", DAILY)
    ws = open_workspace(root)
    definition = load_definition(root)
    result = tick(ws)
    (pending,) = result.ticks
    with controller_batch(ws, 5, NOW) as (_state, batch):
        # as if ingested: a request of another schedule, one whose tick does not exist,
        # and one naming an asset this workspace does not define
        batch.add(_request("other-1", ["raw.orders"],
                           {"type": "schedule", "schedule_id": "other", "tick_id": "other:1"}))
        batch.add(_request("ghost-1", ["raw.orders"],
                           {"type": "schedule", "schedule_id": "daily", "tick_id": "daily:1"}))
        batch.add({"type": "schedule_ticked", "schedule_id": "daily",
                   "scheduled_for": "2024-12-30T00:00:00.000Z", "tick_id": "daily:1735516800",
                   "definition_version": "x", "asset_selection": ["gone.asset"],
                   "status": {"status": "triggered"}})
        batch.add(_request("gone-1", ["gone.asset"],
                           {"type": "schedule", "schedule_id": "daily",
                            "tick_id": "daily:1735516800"}))
    report = bridge_source(ws, definition, "schedule", "daily", lock_timeout=5, at_ms=NOW)
    assert report.bridged == [pending.run_id]
    assert report.skipped == [
        {"runKey": "ghost-1", "reason": "run_request_source_not_found"},
        {"runKey": "gone-1", "reason": "plan_compile_failed:unknown asset(s): gone.asset; "
                                      "defined assets: " + ", ".join(definition.assets)}]
    (triggered,) = events(root, "RunTriggered")
    assert triggered["data"]["trigger"] == {"type": "cron", "schedule_id": "daily"}
    assert triggered["data"]["run_key"] == pending.run_key
    assert triggered["timestamp"] == "2025-01-01T00:30:00.000Z"
    requested = [e for e in events(root, "RunRequested")
                 if e["data"]["run_key"] == pending.run_key]
    assert triggered["causation_id"] == requested[0]["event_id"]
    (plan,) = events(root, "PlanCreated")
    assert plan["data"]["tasks"][0]["key"] == "raw.orders"
    # a second bridge finds nothing left to create
    again = bridge_source(ws, definition, "schedule", "daily", lock_timeout=5, at_ms=NOW)
    assert again.bridged == []
    assert plan["data"]["plan_id"] == f"plan:{pending.run_id}"
