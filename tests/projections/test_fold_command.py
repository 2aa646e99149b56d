"""``arco fold`` end to end, in a subprocess."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import run_arco
from tests.fold.conftest import scenario_lines
from tests.projections.conftest import append, make_workspace


def test_fold_reports_watermark_and_this_invocations_outcomes(tmp_path: Path) -> None:
    ws = make_workspace(tmp_path / "ws")
    lines = scenario_lines("cancel")
    append(ws, lines)
    result = run_arco("-w", str(ws.root), "fold", "--json")
    assert result.returncode == 0, result.stderr
    data = result.envelope["data"]
    assert data["eventsFolded"] == len(lines)
    assert data["outcomes"] == {"applied": 15, "duplicate": 0, "rejected": 3}
    assert data["watermark"]["logOffset"] == len(lines)
    again = run_arco("-w", str(ws.root), "fold", "--rebuild")
    assert again.returncode == 0
    assert f"Folded {len(lines)} events" in again.stdout
    assert "rejected" in again.stdout


def test_fold_help_says_what_it_does_with_an_example(tmp_path: Path) -> None:
    result = run_arco("fold", "--help")
    assert result.returncode == 0
    assert "--rebuild" in result.stdout and "arco fold --rebuild --json" in result.stdout


def test_corrupt_log_record_exits_2_naming_its_offset_and_writes_nothing(
        tmp_path: Path) -> None:
    ws = make_workspace(tmp_path / "ws")
    append(ws, scenario_lines("cancel")[:4])
    segment = next(ws.log_dir.glob("*.jsonl"))
    body = segment.read_bytes()
    lines = body.split(b"\n")
    lines[2] = b"#" + lines[2][1:]  # same length: committed bytes stay consistent
    segment.write_bytes(b"\n".join(lines))
    result = run_arco("-w", str(ws.root), "fold", "--json")
    assert result.returncode == 2
    error = result.envelope["errors"][0]
    assert error["code"] == "CORRUPT_LOG" and "offset 2" in error["message"]
    assert not ws.projections_dir.exists()


def test_fold_of_an_empty_log_writes_every_table_empty(tmp_path: Path) -> None:
    ws = make_workspace(tmp_path / "ws")
    result = run_arco("-w", str(ws.root), "fold", "--json")
    assert result.returncode == 0, result.stderr
    assert result.envelope["data"] == {
        "watermark": {"eventId": None, "logOffset": 0}, "eventsFolded": 0,
        "outcomes": {"applied": 0, "duplicate": 0, "rejected": 0}}
    manifest = (ws.projections_dir / "manifest.json").read_text()
    assert manifest.count('"content_sha256":"' + "0" * 64) == 15
