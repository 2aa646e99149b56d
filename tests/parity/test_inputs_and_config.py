"""Configuration (A57), discovery (A58, A59) and exit-2 inputs; GitHub escaping."""

from __future__ import annotations

from pathlib import Path

from arco_cli.parity.findings import ERROR, Finding, Report
from arco_cli.parity.reporters import escape_data, escape_property, render_github
from tests.parity.conftest import run_in_process


def _small_repo(root: Path) -> Path:
    """A repo with one clean python row and a workflow, for config tests."""
    (root / "tests").mkdir(parents=True)
    (root / "tests" / "test_x.py").write_text("def test_x() -> None:\n    pass\n",
                                              encoding="utf-8")
    (root / ".github" / "workflows").mkdir(parents=True)
    (root / ".github" / "workflows" / "ci.yml").write_text(
        "on: push\njobs:\n  test:\n    steps:\n      - run: python -m pytest tests\n",
        encoding="utf-8")
    (root / "docs").mkdir()
    (root / "docs" / "parity-matrix.md").write_text(
        "## Core\n\n| Capability | Status | Evidence (Code) | Evidence (Tests) | "
        "Evidence (CI) |\n|---|---|---|---|---|\n| X | Implemented | `tests/test_x.py` | "
        "`tests/test_x.py` (`test_x`) | `.github/workflows/ci.yml` (job `test`: "
        "`python -m pytest tests`) |\n| Y | Shipped | | | |\n", encoding="utf-8")
    return root


def test_default_discovery_finds_docs_parity_matrix_md_and_yml(tmp_path: Path) -> None:
    repo = _small_repo(tmp_path / "r")
    res = run_in_process("parity-check", "--repo", str(repo), "--json")
    assert res.returncode == 0
    data = res.envelope["data"]
    assert data["rowsChecked"] == 1
    assert [(f["rule"], f["line"]) for f in data["findings"]] == [("P108", 6)]


def test_strict_turns_a_warning_into_a_failing_exit(tmp_path: Path) -> None:
    repo = _small_repo(tmp_path / "r")
    res = run_in_process("parity-check", "--repo", str(repo), "--strict")
    assert res.returncode == 1
    assert "error P108 [Y]" in res.stdout
    assert res.stdout.splitlines()[-1] == "1 rows checked, 1 errors, 0 warnings"


def test_pyproject_table_wins_over_arco_toml(tmp_path: Path) -> None:
    repo = _small_repo(tmp_path / "r")
    (repo / "docs" / "parity-matrix.md").rename(repo / "docs" / "claims.md")
    (repo / "arco.toml").write_text('[parity]\nmatrix = ["docs/missing.md"]\n',
                                    encoding="utf-8")
    (repo / "pyproject.toml").write_text(
        '[tool.arco.parity]\nmatrix = ["docs/claims.md"]\nimplemented_status = "Implemented"'
        '\nanchor_tolerance = 0\ntest_runners = ["just"]\n', encoding="utf-8")
    res = run_in_process("parity-check", "--repo", str(repo), "--json")
    assert res.returncode == 0, res.stdout
    (repo / "pyproject.toml").unlink()
    res = run_in_process("parity-check", "--repo", str(repo), "--json")
    assert res.returncode == 2
    assert res.envelope["errors"][0]["code"] == "INPUT_UNREADABLE"


def test_unknown_config_key_is_invalid_config_naming_the_key(tmp_path: Path) -> None:
    repo = _small_repo(tmp_path / "r")
    (repo / "arco.toml").write_text('[parity]\nmatrixes = ["x.md"]\nanchor_tolerance = -1\n',
                                    encoding="utf-8")
    res = run_in_process("parity-check", "--repo", str(repo), "--json")
    assert res.returncode == 2
    errors = res.envelope["errors"]
    assert [(e["code"], e["details"]["keyPath"]) for e in errors] == [
        ("INVALID_CONFIG", "parity.matrixes"), ("INVALID_CONFIG", "parity.anchor_tolerance")]


def test_no_matrix_found_is_exit_2_and_templates_do_not_count(tmp_path: Path) -> None:
    repo = _small_repo(tmp_path / "r")
    (repo / "docs" / "parity-matrix.md").rename(repo / "docs" / "parity-matrix-template.md")
    res = run_in_process("parity-check", "--repo", str(repo), "--format", "github")
    assert res.returncode == 2
    assert res.stdout == ""
    assert "no parity matrix found" in res.stderr


def test_an_unparsable_workflow_is_exit_2_naming_file_and_line(tmp_path: Path) -> None:
    repo = _small_repo(tmp_path / "r")
    (repo / ".github" / "workflows" / "broken.yaml").write_text(
        "jobs:\n  a: [unclosed\n", encoding="utf-8")
    res = run_in_process("parity-check", "--repo", str(repo), "--json")
    assert res.returncode == 2
    error = res.envelope["errors"][0]
    assert error["code"] == "INPUT_UNREADABLE"
    assert error["details"]["file"] == ".github/workflows/broken.yaml"
    assert "line" in error["details"]


def test_github_escapes_percent_newlines_and_property_separators() -> None:
    assert escape_data("50% done\r\nnext: a, b") == "50%25 done%0D%0Anext: a, b"
    assert escape_property("a:b, 50%\n") == "a%3Ab%2C 50%25%0A"
    finding = Finding("P102", ERROR, "docs/m,x.md", 3, "S", "Keys: a, b",
                      "`x` is 100% missing\nsecond line")
    report = Report(findings=[finding], rows=[], matrices=["docs/m,x.md"])
    lines = render_github(report).splitlines()
    assert lines[0] == "::group::docs/m,x.md"
    assert lines[1] == ("::error file=docs/m%2Cx.md,line=3,title=P102 Keys%3A a%2C b::"
                        "`x` is 100%25 missing%0Asecond line")


def test_workflow_option_limits_the_workflows_of_the_repo() -> None:
    from tests.parity.conftest import PARITY_REPO

    res = run_in_process("parity-check", "--repo", str(PARITY_REPO), "--matrix",
                         "docs/clean-matrix.md", "--workflow",
                         ".github/workflows/nightly.yaml", "--json")
    assert res.returncode == 1
    findings = res.envelope["data"]["findings"]
    assert [(f["rule"], f["line"]) for f in findings] == [("P004", 7), ("P004", 8)]
    assert "cite one of .github/workflows/nightly.yaml" in findings[0]["message"]
