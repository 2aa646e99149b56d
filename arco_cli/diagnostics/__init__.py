"""Diagnostics read model: pure functions of the fold state (data-model §8).

Every function takes the fold state (anything with the :class:`FoldView` methods) plus
explicit parameters and returns the plain camelCase dicts that both ``--json`` and the
text renderers print.
"""

from arco_cli.diagnostics.attribution import (
    attempt_history,
    cancel_attribution,
    retry_attribution,
    skip_attribution,
)
from arco_cli.diagnostics.conflicts import conflict_payloads
from arco_cli.diagnostics.explain import explain_run, ignored_events
from arco_cli.diagnostics.lookup import resolve_run
from arco_cli.diagnostics.runs import (
    public_run_state,
    public_task_state,
    rerun_chain,
    run_read_shape,
    runs_list,
)
from arco_cli.diagnostics.staleness import AssetPolicy, WorkspaceGraph, partition_rows
from arco_cli.diagnostics.state import FoldView

__all__ = [
    "AssetPolicy",
    "FoldView",
    "WorkspaceGraph",
    "attempt_history",
    "cancel_attribution",
    "conflict_payloads",
    "explain_run",
    "ignored_events",
    "partition_rows",
    "public_run_state",
    "public_task_state",
    "rerun_chain",
    "resolve_run",
    "retry_attribution",
    "run_read_shape",
    "runs_list",
    "skip_attribution",
]
