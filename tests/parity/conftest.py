"""Fixtures of the parity-check tests: the fixture repository and tmp copies of it."""

from __future__ import annotations

import io
import os
import shutil
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import pytest

from tests.conftest import FIXTURES, CliResult

PARITY_REPO = FIXTURES / "parity"
MATRIX = "docs/parity/matrix.md"

#: (rule, line, severity) of every finding on the fixture matrix, sorted per A68
EXPECTED = [
    ("P002", 15, "error"), ("P002", 15, "error"), ("P003", 16, "error"),
    ("P004", 17, "error"), ("P005", 18, "error"), ("P006", 19, "error"),
    ("P006", 19, "error"), ("P007", 20, "error"), ("P101", 21, "error"),
    ("P101", 21, "error"), ("P102", 22, "error"), ("P103", 23, "warning"),
    ("P103", 23, "warning"), ("P104", 24, "error"), ("P105", 25, "error"),
    ("P105", 26, "error"), ("P106", 27, "error"), ("P106", 28, "error"),
    ("P106", 29, "error"), ("P106", 31, "error"), ("P107", 33, "warning"),
    ("P107", 34, "warning"), ("P109", 35, "warning"), ("P108", 37, "warning"),
    ("P106", 47, "error"), ("P107", 48, "warning"), ("P106", 50, "error"),
    ("P107", 52, "warning"), ("P002", 53, "error"), ("P107", 60, "warning"),
    ("P109", 61, "warning"), ("P001", 65, "error"),
]

#: rows of the fixture that must not produce any finding (rule not triggered)
CLEAN_LINES = [8, 14, 30, 32, 46, 49, 51, 54]


@pytest.fixture
def repo_copy(tmp_path: Path) -> Path:
    """A writable copy of the fixture repository (``--fix`` rewrites files)."""
    target = tmp_path / "repo"
    shutil.copytree(PARITY_REPO, target)
    return target


def run_in_process(*args: str, cwd: Path | None = None) -> CliResult:
    """The CLI entry point (argv parsing, envelope, exit codes) without a new
    interpreter: for the many exit-code and configuration cases, to keep the suite fast.
    End-to-end behaviour is covered by ``run_arco`` subprocess tests."""
    from arco_cli.cli.main import run

    out, err = io.StringIO(), io.StringIO()
    previous = os.getcwd()
    try:
        if cwd is not None:
            os.chdir(cwd)
        with redirect_stdout(out), redirect_stderr(err):
            code = run(list(args))
    finally:
        os.chdir(previous)
    return CliResult(code, out.getvalue(), err.getvalue())
