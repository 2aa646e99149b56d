"""The project's own matrix is gated (decisions A71): a false claim fails the gate."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import ROOT, run_arco


def test_a_false_claim_in_the_project_matrix_fails_the_strict_gate(tmp_path: Path) -> None:
    own = (ROOT / "docs" / "parity-matrix.md").read_text(encoding="utf-8")
    # Claim that the parity tests run in the job step that explicitly ignores them.
    false = own.replace("(job `test`: `python -m pytest tests/parity`)",
                        "(job `test`: `python -m pytest tests --ignore=tests/parity`)")
    assert false != own
    matrix = tmp_path / "false-matrix.md"
    matrix.write_text(false, encoding="utf-8")
    res = run_arco("parity-check", "--repo", str(ROOT), "--matrix", str(matrix),
                   "--strict", "--json")
    assert res.returncode == 1
    rules = {f["rule"] for f in res.envelope["data"]["findings"]}
    assert rules == {"P106"}
