"""The fixture matrix: exact findings in every format, and exit codes per format."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from tests.conftest import CliResult, run_arco
from tests.parity.conftest import CLEAN_LINES, EXPECTED, MATRIX, PARITY_REPO, run_in_process


def _triples(findings: list[dict[str, object]]) -> list[tuple[object, object, object]]:
    return [(f["rule"], f["line"], f["severity"]) for f in findings]


@pytest.fixture(scope="module")
def json_result() -> CliResult:
    return run_arco("parity-check", "--repo", str(PARITY_REPO), "--json")


def test_json_reports_exactly_the_expected_findings_sorted_by_line_and_rule(
        json_result: CliResult) -> None:
    res = json_result
    assert res.returncode == 1
    env = res.envelope
    assert env["command"] == "parity-check" and env["status"] == "failed"
    data = env["data"]
    assert _triples(data["findings"]) == EXPECTED
    assert data["errors"] == sum(1 for e in EXPECTED if e[2] == "error")
    assert data["warnings"] == sum(1 for e in EXPECTED if e[2] == "warning")
    assert data["rowsChecked"] == 33
    assert "fixed" not in data
    first = data["findings"][0]
    assert list(first) == ["rule", "severity", "file", "line", "section", "capability",
                           "message", "fixable"]
    assert first["file"] == MATRIX and first["section"] == "Rust"
    assert first["capability"] == "Empty evidence"
    flagged = {f["line"] for f in data["findings"]}
    assert not flagged & set(CLEAN_LINES)


def test_fixable_flag_marks_stale_anchors_and_past_end_anchors_with_a_symbol(
        json_result: CliResult) -> None:
    data = json_result.envelope["data"]
    fixable = [(f["rule"], f["line"], f["message"].split("`")[1])
               for f in data["findings"] if f["fixable"]]
    assert fixable == [("P101", 21, "crates/flow/src/lib.rs:999"),
                       ("P103", 23, "crates/flow/src/lib.rs:20"),
                       ("P103", 23, "crates/flow/src/lib.rs:31-33")]


def test_strict_relabels_warnings_as_errors_in_json() -> None:
    res = run_in_process("parity-check", "--repo", str(PARITY_REPO), "--strict",
                   "--format", "json")
    data = res.envelope["data"]
    assert res.returncode == 1
    assert data["warnings"] == 0 and data["errors"] == len(EXPECTED)
    assert {f["severity"] for f in data["findings"]} == {"error"}


def test_text_groups_by_section_errors_first_and_ends_with_the_summary(
        repo_copy: Path) -> None:
    before = (repo_copy / MATRIX).read_bytes()
    res = run_arco("parity-check", "--repo", str(repo_copy))
    assert res.returncode == 1
    assert (repo_copy / MATRIX).read_bytes() == before     # only --fix writes
    lines = res.stdout.splitlines()
    assert lines[-1] == "33 rows checked, 22 errors, 10 warnings"
    assert lines[0] == MATRIX
    rust = lines.index("  ## Rust")
    python = lines.index("  ## Python")
    severities = [line.split()[1] for line in lines[rust + 1:python]]
    assert severities == sorted(severities)            # "error" < "warning"
    assert f"    {MATRIX}:27: error P106 [Skipped test] CI does not run" in res.stdout
    reported = [(m.group(3), int(m.group(1)), m.group(2)) for m in
                re.finditer(rf"^    {re.escape(MATRIX)}:(\d+): (error|warning) (P\d+)",
                            res.stdout, re.MULTILINE)]
    assert sorted(reported) == sorted(EXPECTED)
    assert res.stderr == ""


def test_github_format_emits_one_command_per_finding_grouped_per_matrix(
        tmp_path: Path) -> None:
    summary = tmp_path / "summary.md"
    summary.write_text("# earlier step\n", encoding="utf-8")
    res = run_arco("parity-check", "--repo", str(PARITY_REPO), "--format", "github",
                   env={"GITHUB_STEP_SUMMARY": str(summary)})
    assert res.returncode == 1
    lines = res.stdout.splitlines()
    assert lines[0] == f"::group::{MATRIX}"
    commands = [line for line in lines if line.startswith(("::error ", "::warning "))]
    parsed = [(re.search(r"title=(P\d+)", c).group(1),  # type: ignore[union-attr]
               int(re.search(r",line=(\d+),", c).group(1)),  # type: ignore[union-attr]
               c[2:c.index(" ")]) for c in commands]
    assert parsed == EXPECTED
    assert commands[0] == (f"::error file={MATRIX},line=15,title=P002 Empty evidence::"
                           "`Evidence (Code)` is empty; cite the code that implements it, "
                           "or change the Status")
    assert lines[len(commands) + 1] == "::endgroup::"
    assert lines[-1] == "33 rows checked, 22 errors, 10 warnings"
    text = summary.read_text(encoding="utf-8")
    assert text.startswith("# earlier step\n## arco parity-check\n")
    assert f"| error | P106 | `{MATRIX}:27` | Rust | Skipped test |" in text


def test_junit_is_valid_xml_with_a_testcase_per_implemented_row() -> None:
    res = run_arco("parity-check", "--repo", str(PARITY_REPO), "--format", "junit")
    assert res.returncode == 1
    root = ET.fromstring(res.stdout)
    assert root.tag == "testsuites"
    (suite,) = root.findall("testsuite")
    assert suite.get("name") == MATRIX
    cases = suite.findall("testcase")
    names = [c.get("name") for c in cases]
    # 33 Implemented rows plus one testcase per table holding row-less findings
    assert len(cases) == 33 + 3
    assert names[0] == " / Top-level row" and "Rust / Run keys" in names
    skipped = cases[names.index("Rust / Skipped test")]
    failure = skipped.find("failure")
    assert failure is not None and failure.get("type") == "P106"
    clean = cases[names.index("Python / Canonical JSON")]
    assert clean.find("failure") is None and clean.find("system-out") is None
    stale = cases[names.index("Rust / Stale anchor")]
    assert stale.find("failure") is None
    out = stale.find("system-out")
    assert out is not None and "P103" in (out.text or "")
    legacy = cases[names.index("Legacy / table at line 65")]
    legacy_failure = legacy.find("failure")
    assert legacy_failure is not None and legacy_failure.get("type") == "P001"
    assert suite.get("failures") == str(sum(1 for c in cases if c.find("failure") is not None))
    # every error of the fixture appears in exactly one failure, every warning in system-out
    errors = [line for c in cases for f in c.findall("failure")
              for line in (f.text or "").splitlines()]
    warnings = [line for c in cases for o in c.findall("system-out")
                for line in (o.text or "").splitlines()]
    assert sorted((ln.split()[1], int(ln.split(":")[1])) for ln in errors) == sorted(
        (rule, line) for rule, line, severity in EXPECTED if severity == "error")
    assert sorted((ln.split()[2], int(ln.split(":")[1])) for ln in warnings) == sorted(
        (rule, line) for rule, line, severity in EXPECTED if severity == "warning")


@pytest.mark.parametrize("fmt", ["text", "json", "github", "junit"])
def test_exit_code_is_zero_on_a_clean_matrix_in_every_format(fmt: str) -> None:
    res = run_in_process("parity-check", "--repo", str(PARITY_REPO), "--matrix",
                   str(PARITY_REPO / "docs" / "clean-matrix.md"), "--format", fmt)
    assert res.returncode == 0, res.stdout + res.stderr
    if fmt == "json":
        assert res.envelope["data"]["errors"] == 0


@pytest.mark.parametrize("fmt", ["text", "json", "github", "junit"])
def test_exit_code_is_two_for_a_missing_matrix_in_every_format(fmt: str,
                                                              tmp_path: Path) -> None:
    res = run_in_process("parity-check", "--repo", str(PARITY_REPO), "--matrix",
                         "docs/no-such-matrix.md", "--format", fmt, cwd=tmp_path)
    assert res.returncode == 2
    if fmt == "json":
        assert res.envelope["errors"][0]["code"] == "INPUT_UNREADABLE"
        assert res.envelope["data"] is None
    else:
        assert res.stdout == ""
        assert "INPUT_UNREADABLE" in res.stderr and "no-such-matrix.md" in res.stderr


def test_junit_under_strict_turns_warnings_into_failures() -> None:
    res = run_in_process("parity-check", "--repo", str(PARITY_REPO), "--format", "junit",
                         "--strict")
    assert res.returncode == 1
    suite = ET.fromstring(res.stdout).find("testsuite")
    assert suite is not None
    stale = next(c for c in suite.findall("testcase") if c.get("name") == "Rust / Stale anchor")
    failure = stale.find("failure")
    assert failure is not None and failure.get("type") == "P103"
    assert stale.find("system-out") is None
