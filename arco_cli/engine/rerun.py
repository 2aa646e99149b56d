"""Rerun planning: a new run linked to its parent, from failure or for a subset of its
tasks (data-model §4.6 "Rerun", decisions A5, A48).

Planned from the parent run's own tasks and dependency edges (not from ``arco.toml``), so
a rerun repeats exactly what the parent planned even after the config changed.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from arco_cli.diagnostics.state import FoldView
from arco_cli.engine.planner import RunPlan, TaskDef, check_user_labels
from arco_cli.errors import ArcoError
from arco_cli.identity import AssetKeyError, canonical_asset_key, request_fingerprint

FROM_FAILURE = "FROM_FAILURE"
SUBSET = "SUBSET"
_RERUNNABLE_PARENT_STATES = ("FAILED", "CANCELLED")


def default_rerun_key(parent_run_id: str, kind: str, fingerprint: str) -> str:
    """``rerun:{parent}:{from_failure|subset}:{fp[:16]}`` (§4.2): repeating the same
    rerun yields the same key, so it returns the same run."""
    return f"rerun:{parent_run_id}:{kind.lower()}:{fingerprint[:16]}"


def _match_entries(tasks: Mapping[str, dict[str, Any]], entries: Iterable[str]) -> list[str]:
    """Requested entries → parent task keys: verbatim, then as a canonical asset key (a
    task key, or every task of that asset for multi-partition parents, A48)."""
    matched: set[str] = set()
    unknown: list[str] = []
    for entry in entries:
        if entry in tasks:
            matched.add(entry)
            continue
        try:
            asset = canonical_asset_key(entry)
        except AssetKeyError:
            unknown.append(entry)
            continue
        if asset in tasks:
            matched.add(asset)
            continue
        of_asset = [key for key, row in tasks.items() if row.get("asset_key") == asset]
        if of_asset:
            matched.update(of_asset)
        else:
            unknown.append(entry)
    if unknown:
        raise ArcoError("UNKNOWN_TASK",
                        f"unknown task keys: {', '.join(sorted(set(unknown)))}",
                        {"unknown": sorted(set(unknown)), "parentTasks": sorted(tasks)})
    return sorted(matched)


def _reach(start: Iterable[str], edges: Mapping[str, Sequence[str]]) -> set[str]:
    seen: set[str] = set()
    queue = deque(start)
    while queue:
        for nxt in edges.get(queue.popleft(), ()):
            if nxt not in seen:
                seen.add(nxt)
                queue.append(nxt)
    return seen


def plan_rerun(
    state: FoldView,
    parent_run_id: str,
    *,
    kind: str,
    select: Sequence[str] = (),
    include_upstream: bool = False,
    include_downstream: bool = False,
    labels: Mapping[str, str] | None = None,
) -> RunPlan:
    """The rerun's plan and fingerprint. Raises RERUN_NOT_ALLOWED, UNKNOWN_TASK,
    RESERVED_LABEL (exit 2) before anything is written."""
    user_labels = check_user_labels(labels or {})
    parent = state.get("runs", (parent_run_id,))
    if parent is None:
        raise ArcoError("UNKNOWN_RUN", f"unknown run {parent_run_id!r}", {"run": parent_run_id})
    tasks = {row["task_key"]: row for row in state.tasks_of(parent_run_id)}
    if not tasks:
        raise ArcoError("RERUN_NOT_ALLOWED",
                        f"run {parent_run_id} has no tasks, so there is nothing to rerun",
                        {"parentRunId": parent_run_id})
    edges = [(e["upstream_task_key"], e["downstream_task_key"])
             for e in state.edges_of(parent_run_id)
             if e["upstream_task_key"] in tasks and e["downstream_task_key"] in tasks]

    if kind == FROM_FAILURE:
        fold_state = str(parent["state"])
        if fold_state not in _RERUNNABLE_PARENT_STATES:
            why = "succeeded" if fold_state == "SUCCEEDED" else "has not finished"
            raise ArcoError(
                "RERUN_NOT_ALLOWED",
                f"run {parent_run_id} is {fold_state}: --from-failure needs a FAILED or "
                f"CANCELLED parent (this one {why}); use --select to rerun chosen tasks",
                {"parentRunId": parent_run_id, "state": fold_state})
        planned = {key for key, row in tasks.items() if row["state"] != "SUCCEEDED"}
        roots = sorted(planned)
        selection = sorted(planned)
        include_upstream = include_downstream = False
    elif kind == SUBSET:
        roots = _match_entries(tasks, select)
        planned = set(roots)
        if include_upstream:
            upstream: dict[str, list[str]] = {}
            for up, down in edges:
                upstream.setdefault(down, []).append(up)
            planned |= _reach(roots, upstream)
        if include_downstream:
            downstream: dict[str, list[str]] = {}
            for up, down in edges:
                downstream.setdefault(up, []).append(down)
            planned |= _reach(roots, downstream)
        selection = roots
    else:  # pragma: no cover - the CLI only passes the two kinds
        raise ValueError(f"unknown rerun kind {kind!r}")
    if not planned:
        raise ArcoError("RERUN_NOT_ALLOWED", f"nothing to rerun in run {parent_run_id}",
                        {"parentRunId": parent_run_id})

    new_tasks = tuple(
        TaskDef(
            key=key,
            depends_on=tuple(sorted({up for up, down in edges if down == key and up in planned})),
            asset_key=tasks[key].get("asset_key"),
            partition_key=tasks[key].get("partition_key"),
            max_attempts=int(tasks[key].get("max_attempts") or 3),
            heartbeat_timeout_sec=int(tasks[key].get("heartbeat_timeout_sec") or 300),
            requires_visible_output=bool(tasks[key].get("requires_visible_output")),
        )
        for key in sorted(planned))
    partitions = sorted({t.partition_key for t in new_tasks if t.partition_key is not None})
    fingerprint = request_fingerprint(
        selection, partitions, include_upstream=include_upstream,
        include_downstream=include_downstream, labels=user_labels,
        parent_run_id=parent_run_id, rerun_kind=kind)
    parent_labels = _labels_of(parent)
    return RunPlan(
        selection=tuple(selection), partitions=tuple(partitions),
        include_upstream=include_upstream, include_downstream=include_downstream,
        user_labels=user_labels, tasks=new_tasks, root_assets=tuple(roots),
        code_version=parent.get("code_version"), fingerprint=fingerprint,
        parent_run_id=parent_run_id, rerun_kind=kind,
        extra_labels={
            "arco.parent_run_id": parent_run_id,
            "arco.rerun.kind": kind,
            "arco.root_run_id": parent_labels.get("arco.root_run_id", parent_run_id),
        })


def _labels_of(run: dict[str, Any]) -> dict[str, str]:
    import json

    raw = run.get("labels")
    if not raw:
        return {}
    value = json.loads(raw) if isinstance(raw, str) else raw
    return {str(k): str(v) for k, v in value.items()} if isinstance(value, dict) else {}
