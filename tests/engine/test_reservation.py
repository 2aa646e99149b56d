"""Run-key reservation (data-model §4.6, decisions A16, A52) on a real log and fold."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from arco_cli.config import WorkspaceDefinition, load_definition
from arco_cli.engine.batch import Batch
from arco_cli.engine.planner import plan_run
from arco_cli.engine.reservation import (
    lookup_reservation,
    reserve_run,
    run_requested_payload,
)
from arco_cli.errors import ArcoError
from arco_cli.identity import run_id_from_run_key
from arco_cli.log import EventLog
from arco_cli.projections import current_state
from arco_cli.workspace import Workspace, open_workspace
from tests.conftest import write_workspace

BODY = """
[assets."raw.orders"]
run = ["true"]
code_version = "v2"
[assets."analytics.orders"]
deps = ["raw.orders"]
run = ["true"]
code_version = "v2"
"""


@pytest.fixture
def ws(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Workspace:
    monkeypatch.delenv("ARCO_TENANT_SECRET_B64", raising=False)
    monkeypatch.setenv("ARCO_USER", "alice")
    return open_workspace(write_workspace(tmp_path / "ws", BODY))


@pytest.fixture
def definition(ws: Workspace) -> WorkspaceDefinition:
    return load_definition(ws.root)


def _events(ws: Workspace) -> list[dict[str, Any]]:
    return [json.loads(r.raw) for r in EventLog(ws.log_dir).read()]


def test_new_run_key_appends_request_trigger_and_plan_in_one_batch(
        ws: Workspace, definition: WorkspaceDefinition) -> None:
    plan = plan_run(definition, ["analytics.orders"], include_upstream=True,
                    labels={"team": "sales"})
    got = reserve_run(ws, plan, run_key="nightly-1", lock_timeout=5)
    assert got.created and not got.bridged
    assert got.run_id == run_id_from_run_key("local", "default", "nightly-1")
    events = _events(ws)
    assert [e["event_type"] for e in events] == ["RunRequested", "RunTriggered", "PlanCreated"]
    assert len({e["timestamp"] for e in events}) == 1
    requested, triggered, planned = (e["data"] for e in events)
    assert requested["asset_selection"] == ["analytics.orders"]
    assert requested["trigger_source_ref"]["type"] == "manual"
    assert requested["trigger_source_ref"]["user_id"] == "alice"
    assert requested["trigger_source_ref"]["request_id"].startswith("req_")
    assert requested["labels"] == {"arco.include_upstream": "true", "team": "sales"}
    assert requested["code_version"] == "v2" and "partition_selection" not in requested
    assert triggered["trigger"] == {"type": "manual", "user_id": "alice"}
    assert triggered["labels"] == requested["labels"]
    assert triggered["root_assets"] == ["analytics.orders"] and triggered["run_key"] == "nightly-1"
    assert [t["key"] for t in planned["tasks"]] == ["analytics.orders", "raw.orders"]
    assert got.state.get("runs", (got.run_id,)) is not None


def test_same_key_and_fingerprint_returns_the_run_and_appends_nothing(
        ws: Workspace, definition: WorkspaceDefinition) -> None:
    plan = plan_run(definition, ["raw.orders"])
    first = reserve_run(ws, plan, run_key="k", lock_timeout=5)
    count = EventLog(ws.log_dir).record_count()
    again = reserve_run(ws, plan_run(definition, ["raw/orders"]), run_key="k", lock_timeout=5)
    assert (again.run_id, again.created, again.bridged) == (first.run_id, False, False)
    assert EventLog(ws.log_dir).record_count() == count
    assert lookup_reservation(again.state, ws, "k", plan.fingerprint) == (first.run_id,
                                                                          "existing")


def test_different_fingerprint_is_refused_and_the_conflict_recorded(
        ws: Workspace, definition: WorkspaceDefinition) -> None:
    first = reserve_run(ws, plan_run(definition, ["raw.orders"]), run_key="k", lock_timeout=5)
    other = plan_run(definition, ["analytics.orders"], include_upstream=True)
    for occurrence in (1, 2):
        with pytest.raises(ArcoError) as info:
            reserve_run(ws, other, run_key="k", lock_timeout=5)
        err = info.value
        assert (err.code, err.exit_code) == ("RUN_KEY_CONFLICT", 3)
        assert err.message == "run_key 'k' already reserved with different trigger payload"
        assert err.details is not None
        assert err.details["existingRunId"] == first.run_id
        assert err.details["requestedFingerprint"] == other.fingerprint
        assert err.details["occurrences"] == occurrence
        assert err.details["differences"]["selection"] == {"added": ["analytics.orders"],
                                                           "removed": ["raw.orders"]}
        assert err.details["differences"]["includeUpstream"] == {"existing": False,
                                                                 "requested": True}
        assert err.data["runId"] == first.run_id
    types = [e["event_type"] for e in _events(ws)]
    assert types == ["RunRequested", "RunTriggered", "PlanCreated", "RunRequested",
                     "RunRequested"]
    state = current_state(ws)
    assert [r["run_key"] for r in state.rows("run_key_conflicts")] == ["k"]
    assert [r["run_id"] for r in state.rows("runs")] == [first.run_id]


def test_run_without_key_gets_a_random_run_id_and_no_request(
        ws: Workspace, definition: WorkspaceDefinition) -> None:
    plan = plan_run(definition, ["raw.orders"])
    a = reserve_run(ws, plan, run_key=None, lock_timeout=5)
    b = reserve_run(ws, plan, run_key=None, lock_timeout=5)
    assert a.run_id != b.run_id and a.run_id.startswith("run_") and len(a.run_id) == 30
    assert [e["event_type"] for e in _events(ws)] == ["RunTriggered", "PlanCreated"] * 2
    assert current_state(ws).rows("run_key_index") == []


def test_reserved_key_without_run_is_bridged_with_its_own_source(
        ws: Workspace, definition: WorkspaceDefinition) -> None:
    plan = plan_run(definition, ["raw.orders"])
    source = {"type": "schedule", "schedule_id": "daily", "tick_id": "daily:1735689600"}
    log = EventLog(ws.log_dir)
    log.check_scope(ws.tenant_id, ws.workspace_id)
    with log.writer(5) as writer:
        batch = Batch(ws, writer, 1735689600000)
        batch.add(run_requested_payload(plan, "sched:daily:1735689600", source))
        batch.commit()
    got = reserve_run(ws, plan, run_key="sched:daily:1735689600", lock_timeout=5)
    assert (got.created, got.bridged, got.execute) == (False, True, True)
    requested, triggered, planned = _events(ws)
    assert triggered["event_type"] == "RunTriggered"
    assert triggered["data"]["trigger"] == {"type": "cron", "schedule_id": "daily"}
    assert triggered["causation_id"] == requested["event_id"]
    assert planned["data"]["run_id"] == got.run_id
    again = reserve_run(ws, plan, run_key="sched:daily:1735689600", lock_timeout=5)
    assert (again.created, again.bridged) == (False, False)


@pytest.mark.parametrize("key", ["", "has space", "run_abc", "tab\there"])
def test_invalid_run_keys_are_refused_before_anything_is_written(
        ws: Workspace, definition: WorkspaceDefinition, key: str) -> None:
    with pytest.raises(ArcoError) as info:
        reserve_run(ws, plan_run(definition, ["raw.orders"]), run_key=key, lock_timeout=5)
    assert info.value.code == "INVALID_RUN_KEY"
    assert EventLog(ws.log_dir).record_count() == 0
