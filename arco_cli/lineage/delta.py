"""Delta writes of task outputs and the checks of versions that tasks report.

A python task that returns Arrow data has it written here (cli.md §2, decisions A3/A4):
partitioned assets overwrite exactly their partition, unpartitioned ones follow
``delta_mode``; every commit carries ``arco.run_id``, ``arco.task_key`` and
``arco.attempt`` so that ``verify`` can tell which run wrote which version.
``pyarrow`` and ``deltalake`` are imported inside the functions (fast ``arco --help``).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from arco_cli.lineage.partitions import (
    PartitionColumn,
    PartitionSpecError,
    arrow_type,
    hive_partition,
    overwrite_predicate,
    partition_columns,
    python_value,
)

META_RUN_ID = "arco.run_id"
META_TASK_KEY = "arco.task_key"
META_ATTEMPT = "arco.attempt"


class DeltaOutputError(Exception):
    """A task output that cannot be written or accepted; ``category`` per data-model §2.4."""

    def __init__(self, message: str, category: str = "CONFIGURATION",
                 retryable: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.category = category
        self.retryable = retryable


def commit_metadata(run_id: str, task_key: str, attempt: int) -> dict[str, str]:
    return {META_RUN_ID: run_id, META_TASK_KEY: task_key, META_ATTEMPT: str(attempt)}


def _with_partition_columns(table: Any, columns: Sequence[PartitionColumn]) -> Any:
    """Set arco's typed partition columns; refuse rows that claim another partition."""
    import pyarrow as pa
    import pyarrow.compute as pc

    for column in columns:
        target = arrow_type(column.tag)
        expected = python_value(column)
        typed = pa.array([expected] * table.num_rows, type=target)
        index = table.schema.get_field_index(column.name)
        if index < 0:
            table = table.append_column(pa.field(column.name, target), typed)
            continue
        existing = table.column(index)
        try:
            cast = existing.cast(target)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
            raise DeltaOutputError(
                f"column {column.name!r} of the returned table cannot hold the partition "
                f"value {column.value!r} ({exc}); drop the column and arco fills it") from None
        if expected is None:
            clash = cast.null_count != len(cast)
        else:
            same = pc.equal(cast, pa.scalar(expected, type=target))
            clash = cast.null_count > 0 or not pc.all(same).as_py()
        if table.num_rows and clash:
            raise DeltaOutputError(
                f"column {column.name!r} of the returned table holds values other than the "
                f"task's partition value {column.value!r}; a partitioned task writes only its "
                "own partition")
        table = table.set_column(index, pa.field(column.name, target), typed)
    return table


def _commit_version(path: str, metadata: dict[str, str]) -> int:
    """The version of the commit stamped with ``metadata`` (newest first: concurrent
    writers may have committed after us, so "latest version" is not good enough)."""
    from deltalake import DeltaTable

    table = DeltaTable(path)
    for commit in table.history(limit=50):
        if all(commit.get(k) == v for k, v in metadata.items()):
            return int(commit["version"])
    return int(table.version())


def write_task_output(
    data: Any,
    *,
    table_path: Path,
    table_config: str,
    delta_mode: str,
    partitioned_by: Sequence[str],
    partition_key: str | None,
    run_id: str,
    task_key: str,
    attempt: int,
) -> dict[str, Any]:
    """Write ``data`` (a ``pyarrow.Table`` or ``RecordBatchReader``); return the task
    output ``{deltaTable, deltaVersion, deltaPartition?, rowCount}``."""
    import pyarrow as pa
    from deltalake import CommitProperties, DeltaTable, write_deltalake
    from deltalake.exceptions import DeltaError, SchemaMismatchError

    if isinstance(data, pa.RecordBatchReader):
        data = data.read_all()
    try:
        columns = partition_columns(partition_key, partitioned_by)
    except PartitionSpecError as exc:
        raise DeltaOutputError(str(exc)) from None
    table = _with_partition_columns(data, columns)
    path = str(table_path)
    if columns and DeltaTable.is_deltatable(path):
        existing = list(DeltaTable(path).metadata().partition_columns)
        if existing != list(partitioned_by):
            raise DeltaOutputError(
                f"Delta table {table_config} is partitioned by {existing or 'nothing'}, "
                f"not by {list(partitioned_by)}; fix partitioned_by or move the table")
    metadata = commit_metadata(run_id, task_key, attempt)
    try:
        if columns:
            write_deltalake(path, table, mode="overwrite", partition_by=list(partitioned_by),
                            predicate=overwrite_predicate(columns),
                            commit_properties=CommitProperties(custom_metadata=metadata))
        elif delta_mode == "append":
            write_deltalake(path, table, mode="append",
                            commit_properties=CommitProperties(custom_metadata=metadata))
        else:
            write_deltalake(path, table, mode="overwrite",
                            commit_properties=CommitProperties(custom_metadata=metadata))
    except SchemaMismatchError as exc:
        raise DeltaOutputError(
            f"the returned table does not match the schema of {table_config}: {exc}") from None
    except DeltaError as exc:
        raise DeltaOutputError(f"writing {table_config} failed: {exc}",
                               category="INFRASTRUCTURE", retryable=True) from None
    output: dict[str, Any] = {
        "deltaTable": table_config,
        "deltaVersion": _commit_version(path, metadata),
        "rowCount": int(table.num_rows),
    }
    hive = hive_partition(columns)
    if hive is not None:
        output["deltaPartition"] = hive
    return output


def version_exists(table_path: Path, version: int) -> bool:
    """Whether the Delta table at ``table_path`` exists and has ``version``."""
    from deltalake import DeltaTable

    path = str(table_path)
    if version < 0 or not DeltaTable.is_deltatable(path):
        return False
    try:
        DeltaTable(path, version=version)
    except Exception:  # deltalake raises several types for "no such version"
        return False
    return True


def commit_info(table_path: Path, version: int) -> dict[str, Any] | None:
    """The commitInfo of ``version`` (custom metadata at top level), None when absent."""
    from deltalake import DeltaTable

    table = DeltaTable(str(table_path))
    latest = int(table.version())
    if version > latest or version < 0:
        return None
    for commit in table.history(limit=latest - version + 1):
        if int(commit.get("version", -1)) == version:
            return dict(commit)
    return None
