"""``check_delta_commits`` against real Delta tables, before and after outside commits."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pyarrow as pa
from deltalake import CommitProperties, write_deltalake

from arco_cli.lineage.delta import write_task_output
from arco_cli.lineage.verify import check_delta_commits
from arco_cli.workspace import Workspace


class TaskRows:
    """The slice of the fold state ``check_delta_commits`` reads: task rows."""

    def __init__(self, rows: list[dict[str, Any]]) -> None:
        self._rows = rows

    def rows(self, table: str) -> list[dict[str, Any]]:
        assert table == "tasks"
        return self._rows


def _task_row(run_id: str, version: int, attempt: int = 1, state: str = "SUCCEEDED",
              task_key: str = "raw.orders") -> dict[str, Any]:
    return {"run_id": run_id, "task_key": task_key, "state": state, "attempt": attempt,
            "delta_table": "warehouse/orders", "delta_version": version}


def _arco_write(ws: Workspace, run_id: str, attempt: int = 1) -> int:
    out = write_task_output(
        pa.table({"x": [1]}), table_path=ws.root / "warehouse" / "orders",
        table_config="warehouse/orders", delta_mode="append", partitioned_by=(),
        partition_key=None, run_id=run_id, task_key="raw.orders", attempt=attempt)
    return int(out["deltaVersion"])


def test_commits_written_by_their_runs_pass(tmp_path: Path) -> None:
    ws = Workspace(tmp_path, "local", "default")
    v0 = _arco_write(ws, "run_a")
    v1 = _arco_write(ws, "run_b", attempt=2)
    rows = [_task_row("run_a", v0), _task_row("run_b", v1, attempt=2),
            _task_row("run_c", 5, state="FAILED")]
    assert check_delta_commits(TaskRows(rows), ws) == (2, [])


def test_outside_commits_and_missing_tables_are_found(tmp_path: Path) -> None:
    ws = Workspace(tmp_path, "local", "default")
    table = tmp_path / "warehouse" / "orders"
    _arco_write(ws, "run_a")
    rows = [_task_row("run_a", 0), _task_row("run_b", 1), _task_row("run_c", 2),
            _task_row("run_d", 9)]
    # someone rewrites the table from outside: version 0 is no longer arco's commit
    shutil.rmtree(table)
    write_deltalake(str(table), pa.table({"x": [5]}))
    write_deltalake(str(table), pa.table({"x": [6]}), mode="append",
                    commit_properties=CommitProperties(custom_metadata={
                        "arco.run_id": "run_other", "arco.task_key": "raw.orders",
                        "arco.attempt": "1"}))
    write_deltalake(str(table), pa.table({"x": [7]}), mode="append",
                    commit_properties=CommitProperties(custom_metadata={
                        "arco.run_id": "run_c", "arco.task_key": "raw.orders",
                        "arco.attempt": "1"}))
    checked, findings = check_delta_commits(TaskRows(rows), ws)
    assert checked == 4
    assert [(f["code"], f["runId"], f["taskKey"]) for f in findings] == [
        ("DELTA_COMMIT_METADATA_MISSING", "run_a", "raw.orders"),
        ("DELTA_COMMIT_NOT_BY_RUN", "run_b", "raw.orders"),
        ("DELTA_VERSION_MISSING", "run_d", "raw.orders"),
    ]
    assert "run_other" in findings[1]["message"]

    shutil.rmtree(table)
    _, findings = check_delta_commits(TaskRows(rows[:1]), ws)
    assert [f["code"] for f in findings] == ["DELTA_TABLE_MISSING"]
