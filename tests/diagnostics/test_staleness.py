from __future__ import annotations

import pytest

from arco_cli.diagnostics import partition_rows
from arco_cli.errors import ArcoError
from tests.diagnostics.conftest import FakeState, ms, partition_row

DAY = "date=d:2025-01-15"
NOW = ms("2025-01-15T12:00:00.000Z")

GRAPH = {
    "raw.events": ((), None, 1440, False),
    "raw.orders": ((), None, 1440, True),
    "analytics.orders": (("raw.events", "raw.orders"), "v2", 60, True),
}


def _rows(*rows: dict[str, object], asset: str | None = "analytics.orders",
          stale_only: bool = False, now: int = NOW) -> list[dict[str, object]]:
    st = FakeState()
    for row in rows:
        st.add("partition_status", row)
    return partition_rows(st, asset, stale_only, now, GRAPH)


def _fresh_upstreams() -> list[dict[str, object]]:
    return [partition_row("raw.events", "", materialized_at="2025-01-15T10:00:00.000Z"),
            partition_row("raw.orders", DAY, materialized_at="2025-01-15T10:00:00.000Z")]


def test_rule1_never_materialized_has_no_stale_since() -> None:
    [row] = _rows(partition_row("analytics.orders", DAY, code_version="v1"))
    assert row["isStale"] is True and row["staleReason"] == "NEVER_MATERIALIZED"
    assert "staleSince" not in row and row["lastAttemptOutcome"] == "FAILED"


def test_rule2_code_changed_is_stale_since_now() -> None:
    [row] = _rows(partition_row("analytics.orders", DAY, code_version="v1",
                                materialized_at="2025-01-15T11:00:00.000Z"))
    assert row["staleReason"] == "CODE_CHANGED"
    assert row["staleSince"] == "2025-01-15T12:00:00.000Z"


def test_rule2_needs_both_code_versions() -> None:
    [row] = _rows(partition_row("analytics.orders", DAY, code_version=None,
                                materialized_at="2025-01-15T11:30:00.000Z"),
                  *_fresh_upstreams())
    assert row["isStale"] is False


def test_rule3_upstream_never_materialized_including_a_missing_row() -> None:
    [row] = _rows(partition_row("analytics.orders", DAY, code_version="v2",
                                materialized_at="2025-01-15T11:30:00.000Z"),
                  partition_row("raw.events", "", materialized_at="2025-01-15T10:00:00.000Z"))
    assert row["staleReason"] == "UPSTREAM_NEVER_MATERIALIZED" and "staleSince" not in row


def test_rule4_first_upstream_in_key_order_materialized_later() -> None:
    [row] = _rows(partition_row("analytics.orders", DAY, code_version="v2",
                                materialized_at="2025-01-15T11:30:00.000Z"),
                  partition_row("raw.events", "", materialized_at="2025-01-15T11:50:00.000Z"),
                  partition_row("raw.orders", DAY, materialized_at="2025-01-15T11:40:00.000Z"))
    assert row["staleReason"] == "UPSTREAM_CHANGED"
    assert row["staleSince"] == "2025-01-15T11:50:00.000Z"


def test_rule4_an_upstream_at_the_same_instant_is_not_later() -> None:
    at = "2025-01-15T11:30:00.000Z"
    [row] = _rows(partition_row("analytics.orders", DAY, code_version="v2",
                                materialized_at=at),
                  partition_row("raw.events", "", materialized_at=at),
                  partition_row("raw.orders", DAY, materialized_at=at))
    assert row["isStale"] is False


def test_rule5_freshness_uses_the_per_asset_lag_and_reports_the_deadline() -> None:
    [row] = _rows(partition_row("analytics.orders", DAY, code_version="v2",
                                materialized_at="2025-01-15T10:30:00.000Z"),
                  *_fresh_upstreams())
    assert row["staleReason"] == "FRESHNESS_POLICY"
    assert row["staleSince"] == "2025-01-15T11:30:00.000Z"


def test_rule6_fresh_row_has_no_reason_and_decodes_partition_values() -> None:
    [row] = _rows(partition_row("analytics.orders", DAY, code_version="v2",
                                materialized_at="2025-01-15T11:30:00.000Z",
                                delta_table="warehouse/orders", delta_version=3,
                                delta_partition="date=2025-01-15",
                                execution_lineage_ref='{"runId":"run_a","taskKey":"t",'
                                '"attempt":1}'),
                  *_fresh_upstreams())
    assert row == {
        "assetKey": "analytics.orders", "partitionKey": DAY,
        "lastMaterializationRunId": "run_a", "lastMaterializationAt": "2025-01-15T11:30:00.000Z",
        "lastAttemptRunId": "run_a", "lastAttemptAt": "2025-01-15T11:30:00.000Z",
        "lastAttemptOutcome": "SUCCEEDED", "isStale": False,
        "partitionValues": {"date": "2025-01-15"}, "deltaTable": "warehouse/orders",
        "deltaVersion": 3, "deltaPartition": "date=2025-01-15",
        "executionLineageRef": '{"runId":"run_a","taskKey":"t","attempt":1}'}


def test_an_asset_without_upstreams_skips_rules_3_and_4() -> None:
    [row] = _rows(partition_row("raw.orders", DAY, materialized_at="2025-01-15T11:00:00.000Z"),
                  asset="raw.orders")
    assert row["isStale"] is False


def test_unconfigured_assets_use_the_default_lag_and_no_upstreams() -> None:
    [row] = _rows(partition_row("old.thing", "", materialized_at="2025-01-13T11:00:00.000Z"),
                  asset="old.thing")
    assert row["staleReason"] == "FRESHNESS_POLICY"
    assert row["staleSince"] == "2025-01-14T11:00:00.000Z"


def test_configured_unpartitioned_assets_without_rows_get_a_synthetic_row() -> None:
    rows = _rows(asset=None)
    assert [(r["assetKey"], r["partitionKey"]) for r in rows] == [("raw.events", "")]
    assert rows[0]["staleReason"] == "NEVER_MATERIALIZED" and rows[0]["partitionValues"] == {}


def test_rows_are_sorted_and_stale_only_filters() -> None:
    rows = _rows(partition_row("analytics.orders", "date=d:2025-01-14", code_version="v2",
                               materialized_at="2025-01-15T11:30:00.000Z"),
                 partition_row("analytics.orders", DAY, code_version="v2",
                               materialized_at="2025-01-15T11:30:00.000Z"),
                 *_fresh_upstreams(), asset=None)
    assert [(r["assetKey"], r["partitionKey"]) for r in rows] == [
        ("analytics.orders", "date=d:2025-01-14"), ("analytics.orders", DAY),
        ("raw.events", ""), ("raw.orders", DAY)]
    stale = _rows(*[partition_row("analytics.orders", "date=d:2025-01-14", code_version="v2",
                                  materialized_at="2025-01-15T11:30:00.000Z"),
                    *_fresh_upstreams()], asset=None, stale_only=True)
    assert [(r["assetKey"], r["staleReason"]) for r in stale] == [
        ("analytics.orders", "UPSTREAM_NEVER_MATERIALIZED")]


def test_unknown_asset_is_refused_but_a_configured_one_without_rows_is_empty() -> None:
    with pytest.raises(ArcoError) as err:
        _rows(asset="nope.nothing")
    assert err.value.code == "UNKNOWN_ASSET"
    assert _rows(asset="raw.orders") == []
