"""Delta writes of returned Arrow data: partitions, modes, commit stamps (real tables)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pyarrow as pa
import pytest
from deltalake import DeltaTable

from arco_cli.lineage.delta import DeltaOutputError, commit_info, version_exists, write_task_output
from arco_cli.lineage.partitions import hive_partition, partition_columns


def _write(root: Path, table: pa.Table, *, partition_key: str | None = "date=d:2025-01-15",
           partitioned_by: tuple[str, ...] = ("date",), mode: str = "overwrite",
           run_id: str = "run_a", attempt: int = 1) -> dict[str, object]:
    return write_task_output(
        table, table_path=root / "warehouse" / "orders", table_config="warehouse/orders",
        delta_mode=mode, partitioned_by=partitioned_by, partition_key=partition_key,
        run_id=run_id, task_key="analytics.orders", attempt=attempt)


def test_partitioned_write_records_version_partition_and_commit_stamp(tmp_path: Path) -> None:
    out = _write(tmp_path, pa.table({"amount": [1, 2, 3]}), attempt=2)
    assert out == {"deltaTable": "warehouse/orders", "deltaVersion": 0,
                   "deltaPartition": "date=2025-01-15", "rowCount": 3}
    info = commit_info(tmp_path / "warehouse" / "orders", 0)
    assert info is not None
    assert (info["arco.run_id"], info["arco.task_key"], info["arco.attempt"]) == (
        "run_a", "analytics.orders", "2")
    table = DeltaTable(str(tmp_path / "warehouse" / "orders"))
    assert table.metadata().partition_columns == ["date"]
    assert table.schema().to_arrow().field("date").type == pa.date32()


def test_partition_overwrite_replaces_only_its_partition(tmp_path: Path) -> None:
    _write(tmp_path, pa.table({"amount": [1, 2]}), partition_key="date=d:2025-01-15")
    _write(tmp_path, pa.table({"amount": [7]}), partition_key="date=d:2025-01-16")
    out = _write(tmp_path, pa.table({"amount": [10]}), partition_key="date=d:2025-01-15",
                 run_id="run_b")
    assert out["deltaVersion"] == 2
    rows = DeltaTable(str(tmp_path / "warehouse" / "orders")).to_pyarrow_table().to_pylist()
    assert sorted((r["date"], r["amount"]) for r in rows) == [
        (dt.date(2025, 1, 15), 10), (dt.date(2025, 1, 16), 7)]


def test_returned_rows_of_another_partition_fail_as_configuration(tmp_path: Path) -> None:
    table = pa.table({"amount": [1], "date": ["2025-01-16"]})
    with pytest.raises(DeltaOutputError) as err:
        _write(tmp_path, table, partition_key="date=d:2025-01-15")
    assert err.value.category == "CONFIGURATION" and not err.value.retryable
    assert not (tmp_path / "warehouse" / "orders").exists()


def test_matching_partition_column_is_accepted_and_retyped(tmp_path: Path) -> None:
    out = _write(tmp_path, pa.table({"amount": [1], "date": ["2025-01-15"]}))
    assert out["deltaVersion"] == 0
    field = DeltaTable(str(tmp_path / "warehouse" / "orders")).schema().to_arrow().field("date")
    assert field.type == pa.date32()


def test_unpartitioned_modes_append_and_overwrite(tmp_path: Path) -> None:
    reader = pa.RecordBatchReader.from_batches(
        pa.schema([("x", pa.int64())]), [pa.record_batch({"x": [1, 2]})])
    _write(tmp_path, reader, partition_key=None, partitioned_by=(), mode="append")
    out = _write(tmp_path, pa.table({"x": [3]}), partition_key=None, partitioned_by=(),
                 mode="append")
    assert out == {"deltaTable": "warehouse/orders", "deltaVersion": 1, "rowCount": 1}
    path = str(tmp_path / "warehouse" / "orders")
    assert DeltaTable(path).to_pyarrow_table().num_rows == 3
    _write(tmp_path, pa.table({"x": [9]}), partition_key=None, partitioned_by=(),
           mode="overwrite")
    assert DeltaTable(path).to_pyarrow_table().to_pylist() == [{"x": 9}]


def test_typed_multi_column_partition_in_partitioned_by_order(tmp_path: Path) -> None:
    # "it's/a=b" in base64url; keys are sorted in the canonical key, not in partitioned_by
    key = "day=d:2025-01-15,flag=b:true,n=i:-3,region=s:aXQncy9hPWI"
    out = _write(tmp_path, pa.table({"v": [1]}), partition_key=key,
                 partitioned_by=("region", "day", "n", "flag"))
    assert out["deltaPartition"] == "region=it%27s%2Fa%3Db/day=2025-01-15/n=-3/flag=true"
    schema = DeltaTable(str(tmp_path / "warehouse" / "orders")).schema().to_arrow()
    assert [schema.field(c).type for c in ("region", "day", "n", "flag")] == [
        pa.string(), pa.date32(), pa.int64(), pa.bool_()]


def test_timestamp_partition_hive_form_escapes_colons() -> None:
    columns = partition_columns("at=t:2025-01-15T10:00:00.000000Z", ["at"])
    assert hive_partition(columns) == "at=2025-01-15T10%3A00%3A00.000000Z"


def test_partition_key_not_matching_partitioned_by_is_refused(tmp_path: Path) -> None:
    with pytest.raises(DeltaOutputError, match="partitioned by"):
        _write(tmp_path, pa.table({"v": [1]}), partition_key="region=s:ZXU")
    with pytest.raises(DeltaOutputError, match="no partition key"):
        _write(tmp_path, pa.table({"v": [1]}), partition_key=None)


def test_version_exists_only_for_committed_versions(tmp_path: Path) -> None:
    path = tmp_path / "warehouse" / "orders"
    assert not version_exists(path, 0)
    _write(tmp_path, pa.table({"v": [1]}))
    assert version_exists(path, 0)
    assert not version_exists(path, 1)
