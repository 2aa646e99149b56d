"""The content hash's row lines are the standard library's compact JSON of the row's
values, whatever encoder produces them (decisions A56: hashes must not change)."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from arco_cli.projections.content import hash_sum, row_line

VALUE = st.one_of(st.none(), st.booleans(), st.integers(-(2**70), 2**70),
                  st.text(alphabet=st.characters(exclude_categories=["Cs"]), max_size=8),
                  st.sampled_from(['"', "\\", "\n\t\x00\x1f\x7f", "\u2028é😀", "</script>"]))


def _standard(values: Any) -> bytes:
    return (json.dumps(list(values), separators=(",", ":"), ensure_ascii=False)
            + "\n").encode("utf-8")


@settings(max_examples=300, deadline=None)
@given(st.lists(VALUE, max_size=8))
def test_row_line_is_the_standard_compact_json(values: list[Any]) -> None:
    assert row_line(values) == _standard(values)
    assert row_line(tuple(values)) == _standard(values)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(VALUE, VALUE), max_size=5))
def test_hash_sum_adds_the_sha256_of_each_standard_line(rows: list[tuple[Any, Any]]) -> None:
    expected = sum(int.from_bytes(hashlib.sha256(_standard(r)).digest(), "big")
                   for r in rows) % 2**256
    assert hash_sum(rows) == expected
