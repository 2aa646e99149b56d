"""``--projections``: the workspace verify joins the gate (decisions A70)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from tests.conftest import run_arco, write_workspace


def test_projections_without_a_workspace_is_exit_2(tmp_path: Path,
                                                   repo_copy: Path) -> None:
    res = run_arco("parity-check", "--repo", str(repo_copy), "--projections", "--json",
                   cwd=tmp_path)
    assert res.returncode == 2
    assert res.envelope["errors"][0]["code"] == "WORKSPACE_NOT_FOUND"


def test_projections_verify_joins_the_report(tmp_path: Path, repo_copy: Path) -> None:
    ws = write_workspace(tmp_path / "ws")
    res = run_arco("parity-check", "--repo", str(repo_copy), "--matrix",
                   "docs/clean-matrix.md", "--projections", "--json", cwd=ws)
    assert res.returncode == 0, res.stdout
    verify = res.envelope["data"]["verify"]
    assert verify["findings"] == [] and "checked" in verify
    text = run_arco("parity-check", "--repo", str(repo_copy), "--matrix",
                    "docs/clean-matrix.md", "--projections", cwd=ws)
    assert text.stdout.splitlines()[-2:] == ["verify: ok (0 findings)",
                                             "2 rows checked, 0 errors, 0 warnings"]


def test_projections_failure_fails_the_gate(tmp_path: Path, repo_copy: Path) -> None:
    ws = write_workspace(tmp_path / "ws")
    log = ws / ".arco" / "log"
    log.mkdir(parents=True)
    (log / "000000000000.jsonl").write_text("not json\n", encoding="utf-8")
    (log / "COMMIT").write_text("1\n", encoding="utf-8")
    res = run_arco("parity-check", "--repo", str(repo_copy), "--matrix",
                   "docs/clean-matrix.md", "--projections", "--json", cwd=ws)
    assert res.returncode == 1, res.stdout + res.stderr
    data = res.envelope["data"]
    assert data["errors"] == 0 and data["verify"]["findings"]
    junit = run_arco("parity-check", "--repo", str(repo_copy), "--matrix",
                     "docs/clean-matrix.md", "--projections", "--format", "junit", cwd=ws)
    assert junit.returncode == 1
    suite = ET.fromstring(junit.stdout).find("testsuite[@name='verify']")
    assert suite is not None and suite.get("failures") == "1"
