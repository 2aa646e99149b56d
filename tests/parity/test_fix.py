"""``--fix`` rewrites only the numbers inside stale anchors, and is idempotent (A61)."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import run_arco
from tests.parity.conftest import EXPECTED, MATRIX, run_in_process


def test_fix_changes_only_anchor_numbers_and_reports_each_rewrite(repo_copy: Path) -> None:
    matrix = repo_copy / MATRIX
    # CRLF endings and a missing final newline must survive byte for byte.
    original = matrix.read_bytes().replace(b"\n", b"\r\n").rstrip(b"\r\n")
    matrix.write_bytes(original)
    res = run_arco("parity-check", "--repo", str(repo_copy), "--fix", "--json")
    assert res.returncode == 1
    data = res.envelope["data"]
    assert data["fixed"] == [
        {"file": MATRIX, "line": 21, "old": "crates/flow/src/lib.rs:999",
         "new": "crates/flow/src/lib.rs:6"},
        {"file": MATRIX, "line": 23, "old": "crates/flow/src/lib.rs:20",
         "new": "crates/flow/src/lib.rs:6"},
        {"file": MATRIX, "line": 23, "old": "crates/flow/src/lib.rs:31-33",
         "new": "crates/flow/src/lib.rs:23-25"},
    ]
    # fixed findings are neither reported nor counted
    remaining = [(f["rule"], f["line"]) for f in data["findings"]]
    assert ("P103", 23) not in remaining
    assert remaining.count(("P101", 21)) == 1
    assert data["warnings"] == sum(1 for e in EXPECTED if e[2] == "warning") - 2
    expected = (original
                .replace(b"`crates/flow/src/lib.rs:999`", b"`crates/flow/src/lib.rs:6`")
                .replace(b"`crates/flow/src/lib.rs:20`", b"`crates/flow/src/lib.rs:6`")
                .replace(b"`crates/flow/src/lib.rs:31-33`", b"`crates/flow/src/lib.rs:23-25`"))
    assert matrix.read_bytes() == expected


def test_a_second_fix_run_changes_nothing(repo_copy: Path) -> None:
    matrix = repo_copy / MATRIX
    first = run_arco("parity-check", "--repo", str(repo_copy), "--fix")
    assert "fixed docs/parity/matrix.md:23: `crates/flow/src/lib.rs:20` -> " \
        "`crates/flow/src/lib.rs:6`" in first.stdout
    after_first = matrix.read_bytes()
    second = run_arco("parity-check", "--repo", str(repo_copy), "--fix", "--format", "github")
    assert "::notice" not in second.stdout
    assert matrix.read_bytes() == after_first
    second = run_arco("parity-check", "--repo", str(repo_copy), "--fix", "--json")
    assert second.envelope["data"]["fixed"] == []
    assert matrix.read_bytes() == after_first


def test_fix_rewrites_only_the_stale_one_of_two_equal_spans(tmp_path: Path) -> None:
    from arco_cli.parity.check import Options, run_check

    repo = tmp_path / "r"
    (repo / "src").mkdir(parents=True)
    (repo / "src" / "a.rs").write_text("fn f() {}\n" + "\n" * 8 + "fn g() {}\n",
                                       encoding="utf-8")
    (repo / "docs").mkdir()
    matrix = repo / "docs" / "parity-matrix.md"
    row = ("| X | Implemented | `src/a.rs:1` (`f`)<br>`src/a.rs:1` (`g`) | t | c |")
    matrix.write_text("| Capability | Status | Evidence (Code) | Evidence (Tests) | "
                      f"Evidence (CI) |\n|---|---|---|---|---|\n{row}\n", encoding="utf-8")
    report = run_check(Options(repo=repo, fix=True), repo)
    assert [(f.line, f.old, f.new) for f in report.fixed or []] == [
        (3, "src/a.rs:1", "src/a.rs:10")]
    assert matrix.read_text(encoding="utf-8").splitlines()[2] == (
        "| X | Implemented | `src/a.rs:1` (`f`)<br>`src/a.rs:10` (`g`) | t | c |")


def test_fix_in_github_format_announces_each_rewrite(repo_copy: Path) -> None:
    res = run_in_process("parity-check", "--repo", str(repo_copy), "--fix", "--format",
                         "github")
    notices = [line for line in res.stdout.splitlines() if line.startswith("::notice")]
    assert notices[0] == (f"::notice file={MATRIX},line=21,title=fixed::"
                          "`crates/flow/src/lib.rs:999` -> `crates/flow/src/lib.rs:6`")
    assert len(notices) == 3
