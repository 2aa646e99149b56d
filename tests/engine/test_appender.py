"""The executor's event lines: orjson's shortcut writes exactly ``canonical_json``."""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from arco_cli.engine.appender import canonical_line
from arco_cli.identity import CanonicalJsonError, canonical_json

#: every character class canonical JSON treats specially: controls, quotes, backslash,
#: DEL, non-ASCII, line and paragraph separators, astral characters
TEXT = st.text(st.characters(exclude_categories=["Cs"]), max_size=12) | st.sampled_from(
    ["", "\x00\x01\x1f\x7f", '"\\/', "\b\f\n\r\t", "é\u2028\u2029", "😀𝄞", "\ufeff"])
INTS = st.integers(min_value=-(2**63), max_value=2**64 - 1)
VALUES = st.recursive(
    st.none() | st.booleans() | INTS | TEXT,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(TEXT, inner, max_size=4),
    max_leaves=20)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(TEXT, VALUES, max_size=6))
def test_the_shortcut_writes_the_canonical_bytes(envelope: dict[str, Any]) -> None:
    assert canonical_line(envelope) == canonical_json(envelope).encode("utf-8")


@pytest.mark.parametrize("bad", [
    1.5, math.nan, math.inf, 2**64, -(2**63) - 1, "lone \ud800 surrogate",
    {1: "non-string key"}])
def test_what_canonical_json_refuses_is_refused_the_same_way(bad: Any) -> None:
    envelope = {"data": {"output": {"rowCount": bad}}}
    with pytest.raises(CanonicalJsonError):
        canonical_json(envelope)
    with pytest.raises(CanonicalJsonError):
        canonical_line(envelope)


def test_values_off_the_shortcut_still_get_the_canonical_bytes() -> None:
    envelope = {"data": {"partitionValues": ("2025-01-15", 7)}, "event_id": "01J"}
    assert canonical_line(envelope) == b'{"data":{"partitionValues":["2025-01-15",7]},' \
        b'"event_id":"01J"}'
