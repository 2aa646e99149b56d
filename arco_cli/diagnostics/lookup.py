"""Resolving ``RUN_ID_OR_RUN_KEY`` to a run (decisions A47: run id, then the run-key
index, then ``runs.run_key``)."""

from __future__ import annotations

from arco_cli.diagnostics.state import FoldView
from arco_cli.errors import ArcoError


def resolve_run(state: FoldView, run_id_or_key: str) -> str:
    """The run id named by a run id or a run key; ``UNKNOWN_RUN`` otherwise.

    A key that is reserved in the index but whose run has no row yet (not bridged) is
    reported with the reserved run id, so the operator knows what to look for.
    """
    if state.get("runs", (run_id_or_key,)) is not None:
        return run_id_or_key
    indexed = state.get("run_key_index", (state.tenant_id, state.workspace_id, run_id_or_key))
    if indexed is not None and state.get("runs", (indexed["run_id"],)) is not None:
        return str(indexed["run_id"])
    by_key = sorted(r["run_id"] for r in state.rows("runs") if r.get("run_key") == run_id_or_key)
    if by_key:
        return str(by_key[0])
    if indexed is not None:
        raise ArcoError(
            "UNKNOWN_RUN",
            f"run key {run_id_or_key!r} is reserved for run {indexed['run_id']}, which has "
            "not been created yet (its request was recorded but never planned)",
            {"runKey": run_id_or_key, "reservedRunId": indexed["run_id"]})
    raise ArcoError("UNKNOWN_RUN",
                    f"no run with id or run key {run_id_or_key!r}; list runs with 'arco runs'",
                    {"run": run_id_or_key})
