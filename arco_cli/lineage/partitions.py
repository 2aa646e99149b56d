"""Delta partition columns of a task: Hive paths, Arrow types and overwrite predicates.

arco owns the partition columns of a partitioned asset (decisions A4): their values come
from the task's canonical partition key, typed d→date32, s→string, i→int64, b→bool,
t→timestamp[us, UTC]. The Hive form is what ``deltaPartition`` records; the predicate is
what makes an overwrite replace exactly that partition.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from arco_cli.identity import PartitionKeyError, PartitionValue, parse_partition_key

# Hive's FileUtils.escapePathName escapes exactly these (plus control characters).
_HIVE_ESCAPED = frozenset('"#%\'*/:=?\\\x7f{[]^')
HIVE_NULL = "__HIVE_DEFAULT_PARTITION__"


class PartitionSpecError(ValueError):
    """The task's partition key does not fit the asset's ``partitioned_by``."""


@dataclass(frozen=True)
class PartitionColumn:
    name: str
    tag: str               # the partition-key tag: d, s, i, b, t or n
    value: PartitionValue  # decoded value (dates and timestamps as their key strings)


def hive_escape(text: str) -> str:
    return "".join(f"%{ord(ch):02X}" if ch in _HIVE_ESCAPED or ord(ch) < 0x20 else ch
                   for ch in text)


def _plain(value: PartitionValue) -> str:
    if value is None:
        return HIVE_NULL
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def partition_columns(partition_key: str | None,
                      partitioned_by: Sequence[str]) -> list[PartitionColumn]:
    """The columns of ``partition_key`` in ``partitioned_by`` order; [] when unpartitioned.

    The planner refuses mismatching keys before a run starts (PARTITION_MISMATCH); this is
    the executor's own guard so a hand-written plan cannot write the wrong partition.
    """
    if not partitioned_by:
        return []
    if not partition_key:
        raise PartitionSpecError(
            f"the asset is partitioned by {', '.join(partitioned_by)} but the task has no "
            "partition key")
    try:
        dims = {name: (tag, value) for name, tag, value in parse_partition_key(partition_key)}
    except PartitionKeyError as exc:
        raise PartitionSpecError(str(exc)) from None
    if set(dims) != set(partitioned_by):
        raise PartitionSpecError(
            f"partition key {partition_key!r} has dimensions {', '.join(sorted(dims))} but "
            f"the asset is partitioned by {', '.join(partitioned_by)}")
    return [PartitionColumn(name, dims[name][0], dims[name][1]) for name in partitioned_by]


def hive_partition(columns: Sequence[PartitionColumn]) -> str | None:
    """``date=2025-01-15/region=eu`` (partitioned_by order, Hive-escaped); None if none."""
    if not columns:
        return None
    return "/".join(f"{hive_escape(c.name)}={hive_escape(_plain(c.value))}" for c in columns)


def arrow_type(tag: str) -> Any:
    import pyarrow as pa

    types = {"d": pa.date32(), "s": pa.string(), "i": pa.int64(), "b": pa.bool_(),
             "t": pa.timestamp("us", tz="UTC"), "n": pa.string()}
    return types[tag]


def python_value(column: PartitionColumn) -> Any:
    """The value as pyarrow takes it for the column's Arrow type."""
    if column.tag == "d":
        return dt.date.fromisoformat(str(column.value))
    if column.tag == "t":
        text = str(column.value)
        return dt.datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=dt.timezone.utc)
    return column.value


def _sql_literal(column: PartitionColumn) -> str:
    value = column.value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    return "'" + str(value).replace("'", "''") + "'"


def overwrite_predicate(columns: Sequence[PartitionColumn]) -> str:
    """A delta-rs predicate matching exactly the rows of this partition."""
    parts = []
    for column in columns:
        ident = '"' + column.name.replace('"', '""') + '"'
        if column.value is None:
            parts.append(f"{ident} IS NULL")
        else:
            parts.append(f"{ident} = {_sql_literal(column)}")
    return " AND ".join(parts)
