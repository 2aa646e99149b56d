"""How ingest reads its inputs (in process; the CLI tests cover the command)."""

from __future__ import annotations

import json
from pathlib import Path

from arco_cli.log.ingest import read_inputs
from tests.log.conftest import cancel_event

ULID = "01JGFJJZ000000000000000007"  # 2025-01-01T00:00:00Z


def test_crlf_lines_and_a_bom_are_accepted_and_stored_without_them(tmp_path: Path) -> None:
    line = json.dumps(cancel_event(ULID)).encode()
    path = tmp_path / "in.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + line + b"\r\n\r\n")
    inputs = read_inputs([str(path)], "local", "default", lambda: b"")
    assert not inputs.problems
    assert [e.raw for e in inputs.events] == [line]


def test_pretty_printed_ledger_file_is_stored_on_one_line_with_values_unchanged(
        tmp_path: Path) -> None:
    event = cancel_event(ULID)
    event["data"]["reason"] = "line one\nline two  \t with   spaces  "
    path = tmp_path / "ledger" / "2025-01-01" / f"{ULID}.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(event, indent=4) + "\r\n")
    inputs = read_inputs([str(tmp_path / "ledger")], "local", "default", lambda: b"")
    assert not inputs.problems
    [stored] = inputs.events
    assert b"\n" not in stored.raw and b"\r" not in stored.raw
    assert json.loads(stored.raw) == event


def test_ledger_date_of_a_non_ulid_id_comes_from_the_timestamp(tmp_path: Path) -> None:
    event = cancel_event("evt-1")
    event["timestamp"] = "2025-01-01T23:30:00-02:00"  # 2025-01-02 in UTC
    for day in ("2025-01-01", "2025-01-02"):
        path = tmp_path / day / "ledger" / day / "evt-1.json"
        path.parent.mkdir(parents=True)
        path.write_text(json.dumps(event))
    wrong = read_inputs([str(tmp_path / "2025-01-01" / "ledger")], "local", "default",
                        lambda: b"")
    right = read_inputs([str(tmp_path / "2025-01-02" / "ledger")], "local", "default",
                        lambda: b"")
    assert [p.details["reason"] for p in wrong.problems if p.details] == ["non_canonical_path"]
    assert not right.problems and len(right.events) == 1


def test_lone_surrogate_and_huge_integer_are_non_canonical(tmp_path: Path) -> None:
    base = json.dumps(cancel_event(ULID))[:-1]
    path = tmp_path / "in.jsonl"
    path.write_text(base + ', "x": "\\ud800"}\n' + base.replace(ULID, ULID[:-1] + "8")
                    + ', "x": 18446744073709551616}\n')
    inputs = read_inputs([str(path)], "local", "default", lambda: b"")
    assert [(p.details or {}).get("reason") for p in inputs.problems] == [
        "non_canonical_json", "non_canonical_json"]
    assert inputs.events == []
