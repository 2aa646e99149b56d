"""``arco rerun``: from failure, subsets, idempotency, refusals (§4.6, A48)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import run_arco, write_workspace

PY = json.dumps(sys.executable)
# a -> b -> c, a -> d ; b fails while fail.flag exists, so c is skipped, d succeeds
BODY = f"""
[assets."g.a"]
run = [{PY}, "-c", "pass"]
[assets."g.b"]
deps = ["g.a"]
run = [{PY}, "-c", "import os, sys; sys.exit(1 if os.path.exists('fail.flag') else 0)"]
max_attempts = 1
[assets."g.c"]
deps = ["g.b"]
run = [{PY}, "-c", "pass"]
[assets."g.d"]
deps = ["g.a"]
run = [{PY}, "-c", "pass"]
[assets."p.e"]
run = [{PY}, "-c", "import os; assert os.environ['ARCO_PARTITION_KEY']"]
partitioned_by = ["date"]
"""


def arco(ws: Path, *args: str) -> tuple[int, dict[str, Any]]:
    result = run_arco("-w", str(ws), "--json", *args)
    return result.returncode, result.envelope


@pytest.fixture(scope="module")
def failed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A workspace whose first run FAILED (g.b failed, g.c skipped), then fixed."""
    ws = write_workspace(tmp_path_factory.mktemp("rerun") / "ws", BODY)
    (ws / "fail.flag").write_text("", encoding="utf-8")
    code, env = arco(ws, "run", "g.a", "--include-downstream", "--run-key", "parent")
    assert code == 1 and env["data"]["state"] == "FAILED"
    (ws / "fail.flag").unlink()
    return ws, env["data"]["runId"]


def test_rerun_from_failure_selects_only_unsucceeded_tasks_and_is_idempotent(
        failed: tuple[Path, str]) -> None:
    ws, parent = failed
    code, env = arco(ws, "rerun", parent, "--from-failure")
    assert (code, env["command"]) == (0, "rerun")
    data = env["data"]
    assert data["created"] is True and data["state"] == "SUCCEEDED"
    assert (data["parentRunId"], data["rootRunId"], data["rerunKind"], data["rerunReason"]) == (
        parent, parent, "FROM_FAILURE", "from_failure_unsucceeded_tasks")
    tasks = data["run"]["tasks"]
    assert [t["taskKey"] for t in tasks] == ["g.b", "g.c"]
    assert all(t["state"] == "SUCCEEDED" for t in tasks)
    assert data["run"]["runKey"].startswith(f"rerun:{parent}:from_failure:")
    assert set(data) == {"runId", "planId", "state", "created", "createdAt", "parentRunId",
                         "rootRunId", "rerunKind", "rerunReason", "run"}

    code, again = arco(ws, "rerun", "parent", "--from-failure")  # a run key names it too
    assert code == 0 and again["data"]["created"] is False
    assert again["data"]["runId"] == data["runId"]

    code, refused = arco(ws, "rerun", data["runId"], "--from-failure")
    assert code == 2 and refused["errors"][0]["code"] == "RERUN_NOT_ALLOWED"
    assert "SUCCEEDED" in refused["errors"][0]["message"]


def test_rerun_subset_closes_over_the_parent_edges(failed: tuple[Path, str]) -> None:
    ws, parent = failed
    code, env = arco(ws, "rerun", parent, "--select", "g/b", "--include-upstream",
                     "--label", "why=fix")
    assert code == 0, env
    data = env["data"]
    assert data["rerunKind"] == "SUBSET"
    assert [t["taskKey"] for t in data["run"]["tasks"]] == ["g.a", "g.b"]
    labels = data["run"]["labels"]
    assert labels["arco.include_upstream"] == "true" and labels["why"] == "fix"
    code, down = arco(ws, "rerun", parent, "--select", "g.a", "--include-downstream")
    assert code == 0
    assert [t["taskKey"] for t in down["data"]["run"]["tasks"]] == ["g.a", "g.b", "g.c", "g.d"]


@pytest.mark.parametrize(("args", "code"), [
    (["--select", "g.zz", "--select", "g.b", "--select", "bad"], "UNKNOWN_TASK"),
    (["--from-failure", "--include-upstream"], "USAGE_ERROR"),
    (["--from-failure", "--select", "g.b"], "USAGE_ERROR"),
    ([], "USAGE_ERROR"),
    (["--select", "g.b", "--label", "arco.rerun.kind=x"], "RESERVED_LABEL"),
])
def test_invalid_rerun_requests_are_refused(failed: tuple[Path, str], args: list[str],
                                            code: str) -> None:
    ws, parent = failed
    exit_code, env = arco(ws, "rerun", parent, *args)
    assert exit_code == 2 and env["errors"][0]["code"] == code
    if code == "UNKNOWN_TASK":
        assert env["errors"][0]["message"] == "unknown task keys: bad, g.zz"


def test_rerun_of_an_unknown_run_is_refused(failed: tuple[Path, str]) -> None:
    ws, _ = failed
    code, env = arco(ws, "rerun", "run_nope", "--from-failure")
    assert code == 2 and env["errors"][0]["code"] == "UNKNOWN_RUN"


def test_rerun_select_by_asset_key_takes_every_partition_task(failed: tuple[Path, str]) -> None:
    ws, _ = failed
    code, parent = arco(ws, "run", "p.e", "-p", "2025-01-15", "-p", "2025-01-16")
    assert code == 0
    keys = [t["taskKey"] for t in parent["data"]["tasks"]]
    assert len(keys) == 2 and all(k.startswith("p.e@part_") for k in keys)
    code, env = arco(ws, "rerun", parent["data"]["runId"], "--select", "p.e")
    assert code == 0, env
    tasks = env["data"]["run"]["tasks"]
    assert [t["taskKey"] for t in tasks] == keys
    assert sorted(t["partitionKey"] for t in tasks) == ["date=d:2025-01-15", "date=d:2025-01-16"]
