"""``arco quickstart``: the embedded demo behaves as designed, on real Delta tables."""

from __future__ import annotations

from pathlib import Path

from arco_cli.cli.quickstart import STEP_NAMES
from tests.conftest import run_arco


def test_quickstart_runs_every_step_as_designed(tmp_path: Path) -> None:
    target = tmp_path / "demo"
    result = run_arco("quickstart", str(target), "--json")
    assert result.returncode == 0, result.stdout + result.stderr
    env = result.envelope
    assert (env["command"], env["status"]) == ("quickstart", "ok")
    data = env["data"]
    assert data["workspace"] == str(target)
    assert [s["name"] for s in data["steps"]] == list(STEP_NAMES)
    assert all(s["ok"] is True for s in data["steps"]), data["steps"]
    by_name = {s["name"]: s for s in data["steps"]}
    first, rerun = by_name["first_run"]["runId"], by_name["rerun_from_failure"]["runId"]
    assert first != rerun and by_name["run_key_conflict"]["runId"] == first
    for table in ("raw/orders", "raw/customers", "analytics/orders", "analytics/revenue",
                  "reports/daily_revenue"):
        assert (target / "warehouse" / table / "_delta_log").is_dir(), table
    # the demo's history is an ordinary workspace: the conflict is recorded in its log
    conflicts = run_arco("-w", str(target), "--json", "conflicts").envelope["data"]
    assert [c["runKey"] for c in conflicts["conflicts"]] == ["quickstart-demo"]


def test_quickstart_refuses_a_non_empty_folder(tmp_path: Path) -> None:
    (tmp_path / "keep.txt").write_text("mine", encoding="utf-8")
    result = run_arco("quickstart", str(tmp_path), "--json")
    assert result.returncode == 2
    assert result.envelope["errors"][0]["code"] == "USAGE_ERROR"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.txt"]
