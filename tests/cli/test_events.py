from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.cli.test_ingest import EVENTS, LEDGER, append_in_process, log_bytes, log_of
from tests.conftest import run_arco, write_workspace


def events(ws: Path, *args: str) -> Any:
    return run_arco("-w", str(ws), "events", *args, "--json")


def ingested(ws: Path) -> Path:
    # events.jsonl holds "evt-future-1", which sorts after the ledger's ULIDs: log order
    # and event_id order differ.
    append_in_process(ws, EVENTS, LEDGER)
    return ws


def logged(ws: Path) -> list[dict[str, Any]]:
    return [json.loads(r.raw) for r in log_of(ws).read()]


def test_events_are_printed_in_log_order_as_logged_byte_for_byte_again(
        workspace: Path) -> None:
    ws = ingested(workspace)
    before = log_bytes(ws)
    res = events(ws)
    assert res.returncode == 0
    assert res.envelope["data"] == {"events": logged(ws)}
    ids = [e["event_id"] for e in res.envelope["data"]["events"]]
    assert ids != sorted(ids)
    assert events(ws).stdout == res.stdout  # deterministic
    assert log_bytes(ws) == before  # a reader never writes the log


def test_type_filter_matches_the_pascal_case_event_type_exactly(workspace: Path) -> None:
    ws = ingested(workspace)
    res = events(ws, "--type", "TimerFired")
    assert [e["data"]["timer_id"] for e in res.envelope["data"]["events"]] == ["t1", "t2"]
    assert events(ws, "--type", "timer_fired").envelope["data"] == {"events": []}


def test_limit_keeps_the_last_n_in_log_order(workspace: Path) -> None:
    ws = ingested(workspace)
    everything = logged(ws)
    assert events(ws, "--limit", "3").envelope["data"]["events"] == everything[-3:]
    assert events(ws, "--limit", "0").envelope["data"]["events"] == []
    bad = events(ws, "--limit", "-1")
    assert bad.returncode == 2 and bad.envelope["errors"][0]["code"] == "USAGE_ERROR"


def test_run_filter_uses_the_folded_run_attribution(workspace: Path) -> None:
    ws = ingested(workspace)
    res = events(ws, "--run", "run_fixture_a")
    assert res.returncode == 0, res.stderr
    assert [e["event_type"] for e in res.envelope["data"]["events"]] == [
        "RunTriggered", "PlanCreated", "TaskStarted", "TaskFinished"]
    # a TimerFired that carries the run id counts for the run too; filters combine
    ledger_run = events(ws, "--run", "run_ledger", "--type", "TimerFired", "--limit", "5")
    assert [e["data"]["timer_id"] for e in ledger_run.envelope["data"]["events"]] == ["t1"]


def test_unknown_run_is_exit_2(workspace: Path) -> None:
    res = events(ingested(workspace), "--run", "run_nobody")
    assert res.returncode == 2
    assert res.envelope["errors"][0]["code"] == "UNKNOWN_RUN"


def test_text_output_is_a_table_of_offsets_ids_types_and_runs(workspace: Path) -> None:
    ws = ingested(workspace)
    res = run_arco("-w", str(ws), "events", "--type", "TaskStarted")
    assert res.returncode == 0
    header, row = res.stdout.splitlines()
    assert header.split() == ["OFFSET", "EVENT", "ID", "TYPE", "TIMESTAMP", "RUN"]
    assert row.split() == ["2", "01JGFJK0YG0000000000000007", "TaskStarted",
                           "2025-01-01T00:00:02.000Z", "run_fixture_a"]
    assert run_arco("-w", str(ws), "events", "--type", "Nope").stdout == "No events match.\n"


def test_empty_workspace_has_no_events_and_gets_no_log(workspace: Path) -> None:
    res = events(workspace)
    assert res.returncode == 0 and res.envelope["data"] == {"events": []}
    assert not (workspace / ".arco" / "log").exists()


def test_corrupt_committed_record_is_corrupt_log_naming_the_offset(workspace: Path) -> None:
    ws = ingested(workspace)
    segment = ws / ".arco" / "log" / "000000000000.jsonl"
    data = segment.read_bytes()
    second = data.index(b"\n") + 1
    segment.write_bytes(data[:second] + b"#" + data[second + 1:])
    res = events(ws)
    assert res.returncode == 2
    [error] = res.envelope["errors"]
    assert error["code"] == "CORRUPT_LOG" and error["details"] == {"offsets": [1]}


def test_changed_scope_is_refused(tmp_path: Path) -> None:
    ws = ingested(write_workspace(tmp_path / "ws"))
    write_workspace(ws, name="elsewhere")
    res = events(ws)
    assert res.returncode == 2 and res.envelope["errors"][0]["code"] == "SCOPE_MISMATCH"
