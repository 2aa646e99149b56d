"""``verify``'s Delta check: every recorded version exists and was committed by its run.

For each SUCCEEDED task that recorded a ``deltaVersion``, the table must exist, hold that
version, and the commit's metadata must name the task's run, task key and attempt
(decisions A13, A20). Findings are ``{code, message, runId, taskKey}`` sorted by run and
task, so the same log and tables give the same report.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

from arco_cli.lineage.delta import META_ATTEMPT, META_RUN_ID, META_TASK_KEY
from arco_cli.workspace import Workspace


class _HasRows(Protocol):
    def rows(self, table: str) -> list[dict[str, Any]]: ...


def table_path(ws: Workspace, delta_table: str) -> Path:
    """A configured ``delta_table`` is relative to the workspace root (or absolute)."""
    path = Path(delta_table)
    return path if path.is_absolute() else ws.root / path


def _history(path: Path) -> dict[int, dict[str, Any]] | None:
    """version → commitInfo, or None when no Delta table is there."""
    from deltalake import DeltaTable

    if not DeltaTable.is_deltatable(str(path)):
        return None
    return {int(c["version"]): dict(c) for c in DeltaTable(str(path)).history()}


def _finding(code: str, message: str, row: dict[str, Any]) -> dict[str, Any]:
    return {"code": code, "message": message, "runId": row["run_id"],
            "taskKey": row["task_key"]}


def check_delta_commits(state: _HasRows, ws: Workspace) -> tuple[int, list[dict[str, Any]]]:
    """(number of Delta commits checked, findings)."""
    rows = [r for r in state.rows("tasks")
            if r.get("state") == "SUCCEEDED" and r.get("delta_version") is not None
            and r.get("delta_table")]
    histories: dict[Path, dict[int, dict[str, Any]] | None] = {}
    findings: list[dict[str, Any]] = []
    for row in sorted(rows, key=lambda r: (r["run_id"], r["task_key"])):
        table, version = str(row["delta_table"]), int(row["delta_version"])
        path = table_path(ws, table)
        if path not in histories:
            histories[path] = _history(path)
        history = histories[path]
        where = f"run {row['run_id']} task {row['task_key']}"
        if history is None:
            findings.append(_finding(
                "DELTA_TABLE_MISSING",
                f"{where} recorded Delta table {table} version {version}, but there is no "
                f"Delta table at {path}", row))
            continue
        commit = history.get(version)
        if commit is None:
            findings.append(_finding(
                "DELTA_VERSION_MISSING",
                f"{where} recorded version {version} of {table}, which the table does not "
                "have", row))
            continue
        expected = {META_RUN_ID: row["run_id"], META_TASK_KEY: row["task_key"],
                    META_ATTEMPT: str(row["attempt"])}
        stamped = {key: commit.get(key) for key in expected}
        if all(value is None for value in stamped.values()):
            findings.append(_finding(
                "DELTA_COMMIT_METADATA_MISSING",
                f"version {version} of {table} carries no arco commit metadata, so it "
                f"cannot be shown to come from {where}", row))
        elif {k: str(v) if v is not None else None for k, v in stamped.items()} != expected:
            named = ", ".join(f"{k}={v}" for k, v in stamped.items())
            findings.append(_finding(
                "DELTA_COMMIT_NOT_BY_RUN",
                f"version {version} of {table} was committed by {named}, not by {where} "
                f"attempt {row['attempt']}", row))
    return len(rows), findings
