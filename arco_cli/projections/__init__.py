"""Parquet projections of the fold: schemas, manifest, atomic swap, incremental update."""

from arco_cli.projections.schemas import COLUMNS, PRIMARY_KEYS, SCHEMA_VERSION, arrow_schema
from arco_cli.projections.store import read_manifest, read_rows, resolve
from arco_cli.projections.update import current_state, fold_log, fold_workspace

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
