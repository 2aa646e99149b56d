"""The workflow model: jobs by id or name, run steps, working directories (A69)."""

from __future__ import annotations

from pathlib import Path

import pytest

from arco_cli.errors import ArcoError
from arco_cli.parity.workflow import load_workflow

WORKFLOW = """\
name: ci
on:
  push:
defaults:
  run:
    working-directory: top
jobs:
  build:
    name: Build and test
    defaults:
      run:
        working-directory: job-dir
    steps:
      - uses: actions/checkout@v4
      - name: here
        working-directory: step-dir
        run: |
          cargo test \\
            -p x
      - run: pytest
  plain:
    steps:
      - run: pytest
  reusable:
    uses: org/repo/.github/workflows/t.yml@v1
"""


def test_steps_working_directory_prefers_step_then_job_then_workflow(tmp_path: Path) -> None:
    path = tmp_path / "ci.yml"
    path.write_text(WORKFLOW, encoding="utf-8")
    wf = load_workflow(path, "ci.yml")
    build = wf.jobs["build"]
    assert [(s.index, s.working_directory) for s in build.steps] == [(1, "step-dir"),
                                                                     (2, "job-dir")]
    assert build.steps[0].run == "cargo test \\\n  -p x\n"
    assert wf.jobs["plain"].steps[0].working_directory == "top"
    assert wf.jobs["reusable"].uses == "org/repo/.github/workflows/t.yml@v1"


def test_jobs_are_found_by_id_then_by_name(tmp_path: Path) -> None:
    path = tmp_path / "ci.yml"
    path.write_text(WORKFLOW, encoding="utf-8")
    wf = load_workflow(path, "ci.yml")
    assert wf.find_job("build") is wf.jobs["build"]
    assert wf.find_job("Build and test") is wf.jobs["build"]
    assert wf.find_job("deploy") is None


@pytest.mark.parametrize("text", ["jobs: [1, 2]\n", "- a\n", "jobs:\n  a: [\n"])
def test_malformed_workflows_are_input_unreadable(tmp_path: Path, text: str) -> None:
    path = tmp_path / "bad.yml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ArcoError) as err:
        load_workflow(path, ".github/workflows/bad.yml")
    assert err.value.code == "INPUT_UNREADABLE"
    assert err.value.details is not None
    assert err.value.details["file"] == ".github/workflows/bad.yml"
