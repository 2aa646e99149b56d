"""The pure fold: log records in, projection state out (data-model §5). No I/O, no clock."""

from arco_cli.fold.procedure import LogRecordLike, OutOfOrder, fold_ascending, fold_records
from arco_cli.fold.state import TABLES, FoldState

__all__ = ["TABLES", "FoldState", "LogRecordLike", "OutOfOrder", "fold_ascending",
           "fold_records"]
