from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from arco_cli.log import EventLog
from tests.conftest import FIXTURES, run_arco, write_workspace
from tests.log.conftest import writer_lock_held_elsewhere

INGEST = FIXTURES / "ingest"
EVENTS = INGEST / "events.jsonl"
LEDGER = INGEST / "ledger"


def log_of(ws: Path) -> EventLog:
    return EventLog(ws / ".arco" / "log")


def log_bytes(ws: Path) -> dict[str, bytes]:
    """Every byte of the log folder that matters (the lock file is just a lock)."""
    folder = ws / ".arco" / "log"
    if not folder.exists():
        return {}
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.name != "LOCK"}


def ingest(ws: Path, *args: str, input: str | None = None) -> Any:
    return run_arco("-w", str(ws), "ingest", *args, "--json", input=input)


def test_jsonl_is_appended_verbatim_in_file_order(workspace: Path) -> None:
    res = ingest(workspace, str(EVENTS))
    assert res.returncode == 0, res.stderr
    data = res.envelope["data"]
    assert data == {"appended": 6, "duplicates": 0, "duplicatesDiffering": [],
                    "unknownTypes": {"quota_exceeded": 1},
                    "watermark": {"eventId": "evt-future-1", "logOffset": 6}}
    lines = EVENTS.read_bytes().splitlines()
    assert [r.raw for r in log_of(workspace).read()] == lines
    assert "evt-future-1" in res.stderr and "ULID" in res.stderr  # decisions A49 warning


def test_ingest_folds_the_projections_up_to_the_reported_watermark(workspace: Path) -> None:
    from arco_cli.projections import read_manifest, resolve

    res = ingest(workspace, str(EVENTS))
    assert res.returncode == 0, res.stderr
    folder = resolve(workspace / ".arco" / "projections")
    assert folder is not None
    manifest = read_manifest(folder)
    assert manifest is not None
    assert manifest["watermark"] == {"event_id": "evt-future-1", "log_offset": 6}
    assert res.envelope["data"]["watermark"] == {"eventId": "evt-future-1", "logOffset": 6}


def test_reingest_skips_every_duplicate_and_names_those_whose_content_differs(
        workspace: Path, tmp_path: Path) -> None:
    append_in_process(workspace, EVENTS)
    again = ingest(workspace, str(EVENTS))
    assert again.returncode == 0
    assert again.envelope["data"]["appended"] == 0
    assert again.envelope["data"]["duplicates"] == 6
    assert again.envelope["data"]["duplicatesDiffering"] == []
    changed = json.loads(EVENTS.read_text().splitlines()[4])
    changed["data"]["requested_by"] = "mallory"
    other = tmp_path / "changed.jsonl"
    other.write_text(json.dumps(changed) + "\n")
    res = ingest(workspace, str(other))
    assert res.returncode == 0
    assert res.envelope["data"]["duplicates"] == 1
    assert res.envelope["data"]["duplicatesDiffering"] == [changed["event_id"]]
    assert log_of(workspace).record_count() == 6


def test_stdin_is_read_for_dash(workspace: Path) -> None:
    res = ingest(workspace, "-", input=EVENTS.read_text())
    assert res.returncode == 0, res.stderr
    assert res.envelope["data"]["appended"] == 6
    assert log_of(workspace).record_count() == 6


def test_ledger_folder_is_appended_in_event_id_order_one_line_each(workspace: Path) -> None:
    res = ingest(workspace, str(LEDGER))
    assert res.returncode == 0, res.stderr
    assert res.envelope["data"]["appended"] == 3
    files = {p.stem: json.loads(p.read_text()) for p in LEDGER.rglob("*.json")}
    records = list(log_of(workspace).read())
    ids = [json.loads(r.raw)["event_id"] for r in records]
    assert ids == sorted(files)
    for record in records:
        assert b"\n" not in record.raw
        doc = json.loads(record.raw)
        assert doc == files[doc["event_id"]]
        assert list(doc) == list(files[doc["event_id"]])  # key order kept, values unchanged


def test_ledger_file_at_a_non_canonical_path_is_refused(workspace: Path,
                                                        tmp_path: Path) -> None:
    ledger = tmp_path / "ledger"
    shutil.copytree(LEDGER, ledger)
    wrong = ledger / "orchestration" / "2025-01-02" / "01JGFJJZZ80000000000000009.json"
    (ledger / "orchestration" / "2025-01-01" / wrong.name).rename(wrong)
    res = ingest(workspace, str(ledger))
    assert res.returncode == 2
    shown = f"{ledger}/orchestration/2025-01-02/{wrong.name}"
    assert res.envelope["errors"] == [{
        "code": "INVALID_EVENT",
        "message": f"{shown}:1: ledger file is not at its canonical path: expected "
                   f"…/2025-01-01/{wrong.name}",
        "details": {"file": shown, "line": 1, "reason": "non_canonical_path",
                    "eventId": wrong.stem}}]
    assert log_bytes(workspace) == {}


#: case → (error code, details.reason, whether the item names the event id, message part)
BAD_CASES = {
    "malformed_json": ("INVALID_EVENT", "malformed_json", False, "malformed JSON"),
    "wrong_types": ("INVALID_EVENT", "invalid_payload", True, "event_version must be an integer"),
    "foreign_tenant": ("FOREIGN_SCOPE", "foreign_scope", True, "tenant 'acme'"),
    "missing_workspace": ("INVALID_EVENT", "invalid_payload", True,
                          "workspace_id must be a non-empty string"),
    "float": ("INVALID_EVENT", "non_canonical_json", False, "floats are not allowed"),
    "duplicate_key": ("INVALID_EVENT", "non_canonical_json", False,
                      "duplicate object key 'tenant_id'"),
}


def append_in_process(ws: Path, *paths: Path) -> None:
    """Fill the log through the ingest pipeline without a subprocess (and without a fold)."""
    from arco_cli.log.ingest import append_events, read_inputs

    inputs = read_inputs([str(p) for p in paths], "local", "default", lambda: b"")
    assert not inputs.problems
    log = log_of(ws)
    log.check_scope("local", "default")
    append_events(log, inputs, timeout=1)


@pytest.mark.parametrize("case", sorted(BAD_CASES))
def test_bad_input_exits_2_with_one_error_item_and_writes_nothing(workspace: Path,
                                                                  case: str) -> None:
    append_in_process(workspace, EVENTS)
    before = log_bytes(workspace)
    path = INGEST / "bad" / f"{case}.jsonl"
    res = ingest(workspace, str(path))
    assert res.returncode == 2
    env = res.envelope
    assert env["status"] == "error" and env["data"] is None
    code, reason, names_event, says = BAD_CASES[case]
    details: dict[str, Any] = {"file": str(path), "line": 2, "reason": reason}
    if names_event:
        details["eventId"] = json.loads(path.read_text().splitlines()[1])["event_id"]
    assert [(e["code"], e["details"]) for e in env["errors"]] == [(code, details)]
    assert env["errors"][0]["message"].startswith(f"{path}:2: ")
    assert says in env["errors"][0]["message"]
    assert log_bytes(workspace) == before


def test_one_bad_input_refuses_every_input_and_reports_every_problem(workspace: Path) -> None:
    res = ingest(workspace, str(EVENTS), str(INGEST / "bad" / "float.jsonl"),
                 str(INGEST / "bad" / "foreign_tenant.jsonl"), "no-such-file.jsonl")
    assert res.returncode == 2
    assert [(e["code"], e["details"]["file"]) for e in res.envelope["errors"]] == [
        ("INVALID_EVENT", str(INGEST / "bad" / "float.jsonl")),
        ("FOREIGN_SCOPE", str(INGEST / "bad" / "foreign_tenant.jsonl")),
        ("INPUT_UNREADABLE", "no-such-file.jsonl"),
    ]
    assert log_bytes(workspace) == {}


def test_blank_lines_are_skipped_and_line_numbers_stay_file_lines(workspace: Path) -> None:
    lines = EVENTS.read_text().splitlines()
    text = "\n\n".join(lines[:2]) + "\n   \n" + '{"broken"\n'
    res = ingest(workspace, "-", input=text)
    assert res.returncode == 2
    # the blank lines are no problem; the broken line keeps its line number in the file
    assert [e["details"] for e in res.envelope["errors"]] == [
        {"file": "-", "line": 5, "reason": "malformed_json"}]


def test_repeated_id_within_inputs_counts_as_duplicate_or_refuses_when_content_differs(
        workspace: Path) -> None:
    line = EVENTS.read_text().splitlines()[4]
    res = ingest(workspace, "-", input=f"{line}\n{line}\n")
    assert res.returncode == 0
    assert res.envelope["data"]["appended"] == 1 and res.envelope["data"]["duplicates"] == 1
    changed = json.loads(line)
    changed["data"]["reason"] = "second thoughts"
    res = ingest(workspace, "-", input=f"{line}\n{json.dumps(changed)}\n")
    assert res.returncode == 2
    [error] = res.envelope["errors"]
    assert error["details"]["reason"] == "repeated_event_id"
    assert "-:1" in error["message"]
    assert log_of(workspace).record_count() == 1


def test_dry_run_reports_the_same_shape_and_writes_nothing(workspace: Path) -> None:
    res = ingest(workspace, str(EVENTS), "--dry-run")
    assert res.returncode == 0
    assert res.envelope["data"] == {
        "appended": 6, "duplicates": 0, "duplicatesDiffering": [],
        "unknownTypes": {"quota_exceeded": 1},
        "watermark": {"eventId": None, "logOffset": 0}}
    assert not (workspace / ".arco" / "log").exists()


def test_locked_log_gives_workspace_locked_after_the_timeout(workspace: Path) -> None:
    append_in_process(workspace, LEDGER)
    before = log_bytes(workspace)
    with writer_lock_held_elsewhere(workspace / ".arco" / "log"):
        res = run_arco("-w", str(workspace), "--lock-timeout", "0.2", "ingest", str(EVENTS),
                       "--json")
    assert res.returncode == 2
    [error] = res.envelope["errors"]
    assert error["code"] == "WORKSPACE_LOCKED"
    assert error["details"]["lockPath"] == str(workspace / ".arco" / "log" / "LOCK")
    assert log_bytes(workspace) == before


def test_changed_workspace_scope_is_refused_naming_both_scopes(tmp_path: Path) -> None:
    ws = write_workspace(tmp_path / "ws")
    append_in_process(ws, EVENTS)
    write_workspace(ws, tenant="acme")
    res = ingest(ws, str(EVENTS))
    assert res.returncode == 2
    [error] = res.envelope["errors"]
    assert error["code"] == "SCOPE_MISMATCH"
    assert "'local'" in error["message"] and "'acme'" in error["message"]


def test_verbose_ingest_acknowledges_each_committed_batch_on_stderr(workspace: Path) -> None:
    res = run_arco("-w", str(workspace), "-v", "ingest", str(EVENTS))
    assert res.returncode == 0
    assert "ingest: committed offsets 0-5 (6 events, last evt-future-1)" in res.stderr
    assert "Appended 6 events" in res.stdout
