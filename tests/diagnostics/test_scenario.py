"""The read model over a real fold of ``fixtures/scenarios/diagnostics.jsonl``."""

from __future__ import annotations

import json
from typing import Any

import pytest

from arco_cli.diagnostics import (
    conflict_payloads,
    explain_run,
    partition_rows,
    resolve_run,
    runs_list,
)
from tests.diagnostics.conftest import fold_scenario, ms


@pytest.fixture(scope="module")
def state() -> Any:
    return fold_scenario()


def _task(data: dict[str, Any], key: str) -> dict[str, Any]:
    return next(t for t in data["tasks"] if t["taskKey"] == key)


def test_failed_run_explains_retry_failure_and_the_skip_cascade(state: Any) -> None:
    data = explain_run(state, resolve_run(state, "nightly"))
    assert data["state"] == "FAILED" and data["runKey"] == "nightly"
    raw = _task(data, "raw.orders")["retryAttribution"]
    assert raw["retries"] == 1
    assert [(a["attempt"], a["outcome"]) for a in raw["attempts"]] == [(1, "FAILED"),
                                                                       (2, "SUCCEEDED")]
    assert raw["attempts"][0]["errorCategory"] == "USER_CODE"
    assert _task(data, "analytics.orders")["errorMessage"] == "missing column 'amount'"
    summary = _task(data, "analytics.summary")["skipAttribution"]
    assert summary["reasonCode"] == "UPSTREAM_SKIPPED"
    assert summary["rootCauseTaskKey"] == "analytics.orders"
    assert [(e["outcome"], e.get("reason")) for e in data["ignoredEvents"]] == [
        ("duplicate", "duplicate_key"), ("rejected", "stale_attempt")]


def test_conflict_differences_come_from_the_fold(state: Any) -> None:
    [conflict] = conflict_payloads(state)
    assert conflict["runKey"] == "nightly"
    assert conflict["existingSource"]["type"] == "manual"
    assert conflict["requestedSource"]["type"] == "schedule"
    assert conflict["differences"]["selection"] == {"added": ["analytics.report"],
                                                    "removed": []}
    assert conflict["differences"]["includeUpstream"] == {"existing": True, "requested": False}


def test_rerun_links_to_its_parent_and_an_unknown_parent_heads_the_chain(state: Any) -> None:
    runs = runs_list(state)["runs"]
    rerun = next(r for r in runs if r.get("runKey", "").startswith("rerun:"))
    data = explain_run(state, rerun["runId"])
    nightly = resolve_run(state, "nightly")
    assert data["parentRunId"] == nightly and data["rootRunId"] == nightly
    assert [i["runId"] for i in data["rerunChain"]] == [nightly, rerun["runId"]]
    orphan = next(r for r in runs if r.get("parentRunId") == "run_not_in_this_log")
    chain = explain_run(state, orphan["runId"])["rerunChain"]
    assert chain[0] == {"runId": "run_not_in_this_log"}
    assert chain[1]["rerunKind"] == "SUBSET"


def test_cancelled_run_attributes_run_cancel_and_worker_cancel(state: Any) -> None:
    [run] = runs_list(state, "cancelled")["runs"]
    data = explain_run(state, run["runId"])
    assert _task(data, "load.a")["cancelAttribution"]["reasonCode"] == "WORKER_REPORTED"
    assert _task(data, "load.b")["cancelAttribution"]["reasonCode"] == "RUN_CANCELLED"


def test_worker_skip_is_attributed_to_the_worker(state: Any) -> None:
    orphan = next(r for r in runs_list(state)["runs"]
                  if r.get("parentRunId") == "run_not_in_this_log")
    task = explain_run(state, orphan["runId"])["tasks"][0]
    assert task["skipAttribution"] == {"reasonCode": "WORKER_REPORTED",
                                       "message": "Skipped by the worker on attempt 1."}


def test_partitions_from_the_fold_track_materializations_not_attempts(state: Any) -> None:
    graph = {"raw.orders": ((), None, 1440, False),
             "analytics.orders": (("raw.orders",), None, 1440, False)}
    rows = partition_rows(state, None, False, ms("2025-01-15T03:00:00.000Z"), graph)
    by_asset = {r["assetKey"]: r for r in rows}
    # the rerun rebuilt analytics.orders after raw.orders; the later worker skip of
    # raw.orders is an attempt, not a materialization
    assert by_asset["analytics.orders"]["isStale"] is False
    assert by_asset["raw.orders"]["lastAttemptOutcome"] == "SKIPPED"
    assert by_asset["raw.orders"]["lastMaterializationAt"] == "2025-01-15T02:00:14.000Z"
    later = partition_rows(state, "analytics.orders", True, ms("2025-01-16T03:00:00.000Z"),
                           graph)
    assert [(r["staleReason"], r["staleSince"]) for r in later] == [
        ("FRESHNESS_POLICY", "2025-01-16T02:01:02.000Z")]


def test_the_same_log_gives_byte_identical_explain_json() -> None:
    first, second = fold_scenario(), fold_scenario()
    for run in runs_list(first)["runs"]:
        a = json.dumps(explain_run(first, run["runId"]), sort_keys=False)
        b = json.dumps(explain_run(second, run["runId"]), sort_keys=False)
        assert a == b
