"""``arco verify``: the log is well-formed, the projections on disk equal a fresh replay,
task and partition lineage agree, and recorded Delta versions were committed by their
runs (cli.md §4, decisions A20).

Lineage agreement (:func:`lineage_findings`) is a pure function of the fold state; the
other checks read the log, the projection files and the Delta tables.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from arco_cli.diagnostics.state import FoldView

if TYPE_CHECKING:
    from pathlib import Path

    from arco_cli.workspace import Workspace


def _finding(code: str, message: str, run_id: str | None = None,
             task_key: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"code": code, "message": message}
    if run_id is not None:
        out["runId"] = run_id
    if task_key is not None:
        out["taskKey"] = task_key
    return out


def _parse_ref(ref: str) -> dict[str, Any] | None:
    try:
        value = json.loads(ref)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def lineage_findings(state: FoldView) -> tuple[int, int, list[dict[str, Any]]]:
    """(tasks checked, partitions checked, findings).

    Every successful task's ``execution_lineage_ref`` must name that task's own run, key
    and attempt; every partition row's ref must be byte-identical to the ref of the task
    it names (data-model invariant 11).
    """
    findings: list[dict[str, Any]] = []
    tasks = [t for t in state.rows("tasks") if t.get("execution_lineage_ref") is not None]
    for task in tasks:
        ref = _parse_ref(task["execution_lineage_ref"])
        own = (task["run_id"], task["task_key"], task["attempt"])
        if ref is None or (ref.get("runId"), ref.get("taskKey"), ref.get("attempt")) != own:
            findings.append(_finding(
                "LINEAGE_MISMATCH",
                f"task lineage ref {task['execution_lineage_ref']} does not name run "
                f"{own[0]} task {own[1]} attempt {own[2]}", own[0], own[1]))
    partitions = [p for p in state.rows("partition_status")
                  if p.get("execution_lineage_ref") is not None]
    for row in partitions:
        where = f"partition {row['asset_key']} [{row['partition_key']}]"
        ref = _parse_ref(row["execution_lineage_ref"])
        if ref is None or not isinstance(ref.get("runId"), str) \
                or not isinstance(ref.get("taskKey"), str):
            findings.append(_finding("LINEAGE_MISMATCH",
                                     f"{where} has an unreadable lineage ref "
                                     f"{row['execution_lineage_ref']}"))
            continue
        run_id, task_key = ref["runId"], ref["taskKey"]
        named = state.get("tasks", (run_id, task_key))
        if named is None:
            findings.append(_finding("LINEAGE_MISMATCH",
                                     f"{where} names run {run_id} task {task_key}, which does "
                                     "not exist", run_id, task_key))
        elif named.get("execution_lineage_ref") != row["execution_lineage_ref"]:
            findings.append(_finding(
                "LINEAGE_MISMATCH",
                f"{where} lineage ref {row['execution_lineage_ref']} differs from the task's "
                f"{named.get('execution_lineage_ref')}", run_id, task_key))
    return len(tasks), len(partitions), findings


def _check_log(ws: Workspace) -> tuple[int, list[dict[str, Any]]]:
    """(records read, findings): every committed record is a JSON object with a unique
    string ``event_id``."""
    from arco_cli.errors import ArcoError
    from arco_cli.log import EventLog

    findings: list[dict[str, Any]] = []
    seen: dict[str, int] = {}
    count = 0
    try:
        for record in EventLog(ws.log_dir).read():
            count += 1
            try:
                doc = json.loads(record.raw)
            except ValueError:
                findings.append(_finding("LOG_CORRUPT",
                                         f"log record at offset {record.offset} is not JSON"))
                continue
            event_id = doc.get("event_id") if isinstance(doc, dict) else None
            if not isinstance(event_id, str) or not event_id:
                findings.append(_finding(
                    "LOG_CORRUPT", f"log record at offset {record.offset} has no string "
                    "event_id"))
            elif event_id in seen:
                findings.append(_finding(
                    "LOG_CORRUPT", f"event id {event_id} repeats at log offsets "
                    f"{seen[event_id]} and {record.offset}"))
            else:
                seen[event_id] = record.offset
    except ArcoError as exc:
        findings.append(_finding("LOG_CORRUPT", exc.message))
    return count, findings


def _projection_folder(ws: Workspace) -> Path | None:
    from arco_cli.projections.store import resolve

    link = ws.projections_dir
    return resolve(link) or (link if link.is_dir() else None)


def _check_projections(ws: Workspace) -> tuple[int, list[dict[str, Any]]]:
    """(tables checked, findings): the manifest's row counts and content hashes equal a
    fresh replay of the records it claims to cover, and the Parquet files hold exactly
    the rows the manifest describes (decisions A43: content, not file bytes)."""
    from arco_cli.fold import FoldState, fold_records
    from arco_cli.identity import tenant_secret
    from arco_cli.log import EventLog
    from arco_cli.projections.content import hash_sum, hex_digest
    from arco_cli.projections.schemas import TABLE_NAMES, column_names
    from arco_cli.projections.store import read_manifest, read_rows

    folder = _projection_folder(ws)
    doc = read_manifest(folder) if folder is not None else None
    if folder is None or doc is None:
        return 0, [_finding("PROJECTION_MISMATCH",
                            f"no readable projections in {ws.projections_dir}; run 'arco fold'")]
    covered = int((doc.get("watermark") or {}).get("log_offset") or 0)
    fresh = FoldState(ws.tenant_id, ws.workspace_id, tenant_secret())
    records = (r for r in EventLog(ws.log_dir).read() if r.offset < covered)
    fold_records(fresh, records)
    findings: list[dict[str, Any]] = []
    tables = doc.get("tables") or {}
    for table in TABLE_NAMES:
        columns = column_names(table)
        entry = tables.get(table)
        if not isinstance(entry, dict):
            findings.append(_finding("PROJECTION_MISMATCH",
                                     f"table {table} is missing from the manifest"))
            continue
        replay_rows = [tuple(r[c] for c in columns) for r in fresh.rows(table)]
        replay = (len(replay_rows), hex_digest(hash_sum(replay_rows)))
        recorded = (entry.get("row_count"), entry.get("content_sha256"))
        if recorded != replay:
            findings.append(_finding(
                "PROJECTION_MISMATCH",
                f"table {table}: manifest says {recorded[0]} rows, content {recorded[1]}; a "
                f"fresh replay of {covered} records gives {replay[0]} rows, content "
                f"{replay[1]}; run 'arco fold --rebuild'"))
            continue
        # the files must hold exactly the replayed rows (both sorted by primary key);
        # comparing values is cheaper than hashing them a second time
        disk_rows = [tuple(r.get(c) for c in columns) for r in read_rows(folder, table)]
        if disk_rows != replay_rows:
            differing = sum(1 for a, b in zip(disk_rows, replay_rows, strict=False) if a != b)
            findings.append(_finding(
                "PROJECTION_MISMATCH",
                f"table {table}: the Parquet files hold {len(disk_rows)} rows "
                f"({differing} differing), not the {len(replay_rows)} rows of the manifest "
                "and a fresh replay; run 'arco fold --rebuild'"))
    return len(TABLE_NAMES), findings


def verify_workspace(ws: Workspace, load_state: Callable[[], FoldView]) -> dict[str, Any]:
    """``arco verify`` data: ``{"checked": {...}, "findings": [...]}``. ``load_state``
    brings the projections up to date and returns the fold state; it is called only
    when the log is well-formed (a corrupt log can be neither folded nor replayed)."""
    from arco_cli.lineage.verify import check_delta_commits

    events, findings = _check_log(ws)
    checked = {"events": events, "tables": 0, "tasks": 0, "partitions": 0, "deltaCommits": 0}
    if findings:
        return {"checked": checked, "findings": findings}
    state = load_state()
    checked["tables"], projection = _check_projections(ws)
    checked["tasks"], checked["partitions"], lineage = lineage_findings(state)
    checked["deltaCommits"], delta = check_delta_commits(state, ws)
    return {"checked": checked, "findings": [*projection, *lineage, *delta]}
