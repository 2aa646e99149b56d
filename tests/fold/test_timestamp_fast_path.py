"""The fold's cached fast path for ``…sssZ`` timestamps agrees with the RFC 3339 parser
on every string, valid or not (the cache must not remember a wrong minute)."""

from __future__ import annotations

from collections.abc import Callable

from hypothesis import given, settings
from hypothesis import strategies as st

from arco_cli.fold.procedure import timestamp_ms
from arco_cli.identity import parse_timestamp_ms

BASE = "2024-02-29T23:59:59.999Z"


def _parsed(parse: Callable[[str], int], text: str) -> int | str:
    try:
        return parse(text)
    except ValueError:
        return "invalid"


@settings(max_examples=400, deadline=None)
@given(st.lists(st.tuples(st.integers(0, len(BASE) - 1), st.sampled_from("0159T:.Z-x٣")),
                max_size=3))
def test_fast_path_agrees_with_the_parser(edits: list[tuple[int, str]]) -> None:
    chars = list(BASE)
    for at, char in edits:
        chars[at] = char
    text = "".join(chars)
    # twice: the second call is served from the minute cache
    assert _parsed(timestamp_ms, text) == _parsed(parse_timestamp_ms, text)
    assert _parsed(timestamp_ms, text) == _parsed(parse_timestamp_ms, text)


def test_minutes_seconds_and_milliseconds_add_up() -> None:
    assert timestamp_ms("1970-01-01T01:02:03.004Z") == 3_723_004
    assert timestamp_ms("1970-01-01T01:02:59.999Z") == 3_779_999
