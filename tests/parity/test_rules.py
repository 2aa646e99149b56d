"""Rule edge cases on small generated repositories, checked in process."""

from __future__ import annotations

from pathlib import Path

from arco_cli.parity.check import Options, run_check

HEADER = ("| Capability | Status | Evidence (Code) | Evidence (Tests) | Evidence (CI) |\n"
          "|---|---|---|---|---|\n")
CI = "`.github/workflows/ci.yml` (job `t`: `python -m pytest tests`)"
TESTS = "`tests/test_a.py` (`test_a`)"


def _repo(root: Path, rows: list[str], config: str = "") -> Path:
    (root / "src").mkdir(parents=True)
    (root / "src" / "a.py").write_text(
        "# header\n\n\n@decorator\ndef f():\n    pass\n" + "\n" * 10 + "class K:\n    x = 1\n",
        encoding="utf-8")
    (root / "tests").mkdir()
    (root / "tests" / "test_a.py").write_text("def test_a():\n    pass\n", encoding="utf-8")
    (root / ".github" / "workflows").mkdir(parents=True)
    (root / ".github" / "workflows" / "ci.yml").write_text(
        "on: push\njobs:\n  t:\n    steps:\n      - run: python -m pytest tests\n",
        encoding="utf-8")
    (root / "docs").mkdir()
    (root / "docs" / "parity-matrix.md").write_text("## S\n\n" + HEADER + "\n".join(rows)
                                                    + "\n", encoding="utf-8")
    if config:
        (root / "pyproject.toml").write_text(config, encoding="utf-8")
    return root


def _findings(root: Path) -> list[tuple[str, int, str]]:
    report = run_check(Options(repo=root), root)
    return [(f.rule, f.line, f.severity) for f in report.findings]


def _row(cap: str, status: str, code: str = "`src/a.py` (`f`)", tests: str = TESTS,
         ci: str = CI) -> str:
    return f"| {cap} | {status} | {code} | {tests} | {ci} |"


def test_formatted_statuses_are_recognised_and_unknown_prefixes_are_not(tmp_path: Path) -> None:
    root = _repo(tmp_path, [
        _row("a", "**Implemented**"), _row("b", "✅ Implemented"),
        _row("c", "Implemented (M2)"), _row("d", "`Not planned`"),
        _row("e", "Implementedness", code="—"), _row("f", "partial (M3)")])
    report = run_check(Options(repo=root), root)
    assert [(f.rule, f.line) for f in report.findings] == [("P108", 9)]
    assert report.rows_checked == 3


def test_duplicate_capabilities_compare_collapsed_whitespace_case_sensitively(
        tmp_path: Path) -> None:
    root = _repo(tmp_path, [_row("Run keys", "Planned"), _row(" Run   keys ", "Planned"),
                            _row("run keys", "Planned")])
    assert _findings(root) == [("P109", 6, "warning")]


def test_anchor_tolerance_around_the_definition_block(tmp_path: Path) -> None:
    # f: decorator at line 4, keyword at line 5 -> fresh from 1 to 8 with tolerance 3
    rows = [_row(str(n), "Implemented", code=f"`src/a.py:{n}` (`f`)") for n in (1, 8, 9)]
    root = _repo(tmp_path, rows)
    assert _findings(root) == [("P103", 7, "warning")]


def test_anchor_tolerance_is_configurable(tmp_path: Path) -> None:
    rows = [_row(str(n), "Implemented", code=f"`src/a.py:{n}` (`f`)") for n in (4, 6)]
    root = _repo(tmp_path, rows, config="[tool.arco.parity]\nanchor_tolerance = 0\n")
    assert _findings(root) == [("P103", 6, "warning")]


def test_invalid_anchors_are_p101_and_fixable_only_with_a_defined_symbol(
        tmp_path: Path) -> None:
    root = _repo(tmp_path, [
        _row("zero", "Implemented", code="`src/a.py:0` (`f`)"),
        _row("reversed", "Implemented", code="`src/a.py:5-2`"),
        _row("undefined", "Implemented", code="`src/a.py:99` (`nope`)")])
    report = run_check(Options(repo=root), root)
    assert [(f.rule, f.line, f.fixable) for f in report.findings] == [
        ("P101", 5, True), ("P101", 6, False), ("P101", 7, False), ("P102", 7, False)]


def test_class_attribute_reference_is_defined(tmp_path: Path) -> None:
    root = _repo(tmp_path, [_row("attr", "Implemented", code="`src/a.py:18` (`K.x`)"),
                            _row("missing", "Implemented", code="`src/a.py` (`K.y`)")])
    assert _findings(root) == [("P102", 6, "error")]


def test_a_missing_test_file_is_p007_without_a_p107_echo(tmp_path: Path) -> None:
    root = _repo(tmp_path, [_row("gone", "Implemented", tests="`tests/test_gone.py`")])
    assert _findings(root) == [("P007", 5, "error")]


def test_custom_implemented_status_and_forbidden_prefixes(tmp_path: Path) -> None:
    root = _repo(tmp_path, [_row("a", "Shipped", code="`src/a.py` (`f`)<br>`src/a.py:1`")],
                 config='[tool.arco.parity]\nimplemented_status = "Shipped"\n'
                        'forbidden_evidence = ["src/"]\n')
    report = run_check(Options(repo=root), root)
    assert [(f.rule, f.line) for f in report.findings] == [("P003", 5), ("P003", 5)]
    assert report.rows_checked == 1


def test_extra_test_runners_count_for_p006(tmp_path: Path) -> None:
    ci = "`.github/workflows/ci.yml` (job `t`: `just check`)"
    root = _repo(tmp_path, [_row("a", "Implemented", ci=ci)])
    (root / ".github" / "workflows" / "ci.yml").write_text(
        "on: push\njobs:\n  t:\n    steps:\n      - run: just check\n", encoding="utf-8")
    assert [r for r, _, _ in _findings(root)] == ["P006"]
    (root / "pyproject.toml").write_text('[tool.arco.parity]\ntest_runners = ["just"]\n',
                                         encoding="utf-8")
    assert [r for r, _, _ in _findings(root)] == ["P107"]


def test_a_path_escaping_the_repository_is_p007(tmp_path: Path) -> None:
    (tmp_path / "secret.py").write_text("def f():\n    pass\n", encoding="utf-8")
    root = _repo(tmp_path / "r", [_row("out", "Implemented",
                                       code="`src/../../secret.py:1` (`f`)")])
    assert _findings(root) == [("P007", 5, "error")]
