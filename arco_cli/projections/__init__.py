"""Parquet projections of the fold: schemas, manifest, atomic swap, incremental update.

The schemas load eagerly (the fold's row layouts come from them); everything that needs
the fold is imported on first use, which keeps ``fold`` → ``projections.schemas`` free
of import cycles.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from arco_cli.projections.schemas import COLUMNS, PRIMARY_KEYS, SCHEMA_VERSION, arrow_schema

if TYPE_CHECKING:
    from arco_cli.projections.store import read_manifest, read_rows, resolve
    from arco_cli.projections.update import current_state, fold_log, fold_workspace

_LAZY = {
    "read_manifest": "store", "read_rows": "store", "resolve": "store",
    "current_state": "update", "fold_log": "update", "fold_workspace": "update",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"arco_cli.projections.{module}"), name)


__all__ = [
    "COLUMNS",
    "PRIMARY_KEYS",
    "SCHEMA_VERSION",
    "arrow_schema",
    "current_state",
    "fold_log",
    "fold_workspace",
    "read_manifest",
    "read_rows",
    "resolve",
]
