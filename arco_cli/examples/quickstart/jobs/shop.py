"""Example python tasks: each receives arco's task context and returns a pyarrow.Table,
which arco writes to the asset's Delta table and records as the task's lineage."""

from __future__ import annotations

import json
from typing import Any

import pyarrow as pa

from arco_cli import TaskFailure

ORDERS = [
    {"order_id": 1, "customer_id": 10, "total_cents": 1250},
    {"order_id": 2, "customer_id": 11, "total_cents": 830},
    {"order_id": 3, "customer_id": 10, "total_cents": -200},   # a refund
    {"order_id": 4, "customer_id": 12, "total_cents": 4100},
]
CUSTOMERS = [
    {"customer_id": 10, "name": "Ada"},
    {"customer_id": 11, "name": "Grace"},
    {"customer_id": 12, "name": "Edsger"},
]


def raw_orders(ctx: Any) -> pa.Table:
    ctx.log.info("loading %d orders", len(ORDERS))
    return pa.Table.from_pylist(ORDERS)


def raw_customers(ctx: Any) -> pa.Table:
    # Simulates a flaky source: the first attempt of every run times out upstream, the
    # retry (same run, attempt 2) succeeds. arco records both attempts.
    if ctx.attempt == 1:
        raise TaskFailure("customer API timed out (simulated)", category="INFRASTRUCTURE",
                          retryable=True)
    return pa.Table.from_pylist(CUSTOMERS)


def orders_enriched(ctx: Any) -> pa.Table:
    names = {c["customer_id"]: c["name"] for c in CUSTOMERS}
    return pa.Table.from_pylist(
        [{**order, "customer_name": names[order["customer_id"]]} for order in ORDERS])


def revenue(ctx: Any) -> pa.Table:
    # Fails while data/revenue_rules.json rejects negative totals and a refund exists:
    # a data-quality failure, not retryable. Edit the rule and rerun from failure.
    rules = json.loads((ctx.workspace / "data" / "revenue_rules.json").read_text("utf-8"))
    negative = [o["order_id"] for o in ORDERS if o["total_cents"] < 0]
    if rules.get("reject_negative_totals") and negative:
        raise TaskFailure(f"orders with negative totals: {negative}; set "
                          "reject_negative_totals to false in data/revenue_rules.json to "
                          "count refunds", category="DATA_QUALITY", retryable=False)
    total = sum(o["total_cents"] for o in ORDERS)
    return pa.Table.from_pylist([{"currency": rules.get("currency", "EUR"),
                                  "revenue_cents": total}])


def daily_revenue(ctx: Any) -> pa.Table:
    return pa.Table.from_pylist([{"report": "daily", "orders": len(ORDERS)}])
