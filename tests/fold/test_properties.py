"""Properties of the fold: any batch split equals one fold; re-delivery under new event ids
changes only the outcome rows and conflict occurrences (invariants 4-6, decisions A53)."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from arco_cli.fold import TABLES, FoldState, fold_records
from arco_cli.identity import canonical_json
from tests.fold.conftest import as_records, fold_lines, scenario_lines

SCENARIOS = ("retries", "duplicates", "skip_cascade", "cancel", "lineage", "run_keys",
             "schedules", "backfills", "dispatch", "malformed")
LATER = 1_800_000_000_000  # 2027: every re-delivered id sorts after the fixtures' ids
CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def _ulid(ms: int, low: int) -> str:
    value = (ms << 80) | low
    return "".join(CROCKFORD[(value >> (5 * i)) & 31] for i in reversed(range(26)))


def _tables(state: FoldState) -> dict[str, list[dict[str, Any]]]:
    return {table: state.rows(table) for table in TABLES}


@settings(max_examples=40, deadline=None)
@given(name=st.sampled_from(SCENARIOS), cuts=st.lists(st.integers(0, 40), max_size=6))
def test_any_batch_split_folds_to_the_same_rows(name: str, cuts: list[int]) -> None:
    lines = scenario_lines(name)
    whole = fold_lines(lines)
    split = FoldState("local", "default")
    bounds = sorted({0, len(lines), *(c for c in cuts if c < len(lines))})
    for start, end in zip(bounds, bounds[1:], strict=False):
        fold_records(split, as_records(lines[start:end], first_offset=start))
    assert _tables(split) == _tables(whole)
    assert (split.watermark_event_id, split.log_offset) == (
        whole.watermark_event_id, whole.log_offset)


@settings(max_examples=40, deadline=None)
@given(name=st.sampled_from(SCENARIOS), picks=st.lists(st.integers(0, 40), max_size=8))
def test_redelivery_under_new_ids_changes_only_outcomes_and_occurrences(
        name: str, picks: list[int]) -> None:
    lines = scenario_lines(name)
    before = fold_lines(lines)
    outcome_of = {row["log_offset"]: row["outcome"] for row in before.rows("event_outcomes")}
    resent = []
    for n, index in enumerate(i for i in picks if i < len(lines)):
        if outcome_of[index] == "rejected":
            continue  # a rejected event may legitimately fold differently later
        event = json.loads(lines[index])
        event["event_id"] = _ulid(LATER + n, 0)
        resent.append(canonical_json(event).encode())
    after = FoldState("local", "default")
    fold_records(after, as_records(lines))
    fold_records(after, as_records(resent, first_offset=len(lines)))
    old, new = _tables(before), _tables(after)
    for table in TABLES:
        if table in ("event_outcomes", "run_key_conflicts"):
            continue
        assert new[table] == old[table], table
    ignored = ("occurrences", "last_seen_event_id")
    assert [{k: v for k, v in r.items() if k not in ignored} for r in new["run_key_conflicts"]] \
        == [{k: v for k, v in r.items() if k not in ignored} for r in old["run_key_conflicts"]]
    assert new["event_outcomes"][:len(lines)] == old["event_outcomes"]
    assert all(row["outcome"] == "duplicate" for row in new["event_outcomes"][len(lines):])
