"""Fold test helpers: scenario fixtures from ``fixtures/events/*.jsonl`` folded in memory."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from arco_cli.fold import FoldState, fold_records
from tests.conftest import FIXTURES

EVENTS = FIXTURES / "events"


@dataclass(frozen=True)
class Record:
    """A log record as :class:`arco_cli.log.LogRecord` hands it to the fold."""

    offset: int
    raw: bytes


def scenario_lines(name: str) -> list[bytes]:
    return (EVENTS / f"{name}.jsonl").read_bytes().splitlines()


def as_records(lines: list[bytes], first_offset: int = 0) -> list[Record]:
    return [Record(first_offset + i, raw) for i, raw in enumerate(lines)]


def fold_lines(lines: list[bytes], secret: bytes = b"") -> FoldState:
    state = FoldState("local", "default", secret)
    fold_records(state, as_records(lines))
    return state


def fold_scenario(name: str, until_key: str | None = None) -> FoldState:
    """Fold a scenario, or its prefix up to the last event with envelope key ``until_key``."""
    lines = scenario_lines(name)
    if until_key is not None:
        keys = [json.loads(line)["idempotency_key"] for line in lines]
        lines = lines[:len(keys) - keys[::-1].index(until_key)]
    return fold_lines(lines)


def outcomes(state: FoldState, key: str) -> list[dict[str, Any]]:
    """The outcome rows of every event with envelope key ``key``, in event order."""
    return [row for row in state.rows("event_outcomes") if row["idempotency_key"] == key]


def only_outcome(state: FoldState, key: str) -> dict[str, Any]:
    rows = outcomes(state, key)
    assert len(rows) == 1, rows
    return rows[0]


def codes(row: dict[str, Any]) -> list[str]:
    return [item["code"] for item in json.loads(row["diagnostics"] or "[]")]


def task(state: FoldState, run_id: str, task_key: str) -> dict[str, Any]:
    row = state.get("tasks", (run_id, task_key))
    assert row is not None
    return row


def run(state: FoldState, run_id: str) -> dict[str, Any]:
    row = state.get("runs", (run_id,))
    assert row is not None
    return row
