"""The fold's fast record parser (orjson) may only accept a record that the standard
parser also finds canonical, and must then give the very same value: records are drawn
as JSON values of every kind (floats, big integers, escapes, surrogates, duplicate keys)
written in canonical and non-canonical ways."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from arco_cli.fold.jsonenc import canonical_text
from arco_cli.fold.procedure import RecordParser

TEXT = st.one_of(
    st.text(max_size=6),
    st.sampled_from(['"', "\\", "\\ud800", "\ud800", "\u2028", "\x7f", "\x00", "\x1f", "é",
                     "😀", "a.b", "1e5", "true", 'say "hi"', "\\\\ud", "x\\"]),
)
NUMBER = st.one_of(
    st.integers(-(2**64), 2**65),
    st.sampled_from([2**63 - 1, -(2**63), -(2**63) - 1, 2**64 - 1, 2**64]),
    st.floats(allow_nan=False, allow_infinity=False),
)
VALUES = st.recursive(
    st.one_of(st.none(), st.booleans(), NUMBER, TEXT),
    lambda inner: st.one_of(st.lists(inner, max_size=3),
                            st.dictionaries(TEXT, inner, max_size=3)),
    max_leaves=8,
)


def _encodings(value: Any) -> list[bytes]:
    out = [json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False),
           json.dumps(value, sort_keys=True, separators=(",", ":")),
           json.dumps(value, separators=(", ", ": "), ensure_ascii=False),
           json.dumps(value, ensure_ascii=False)]
    encoded = []
    for text in out:
        try:
            encoded.append(text.encode("utf-8"))
        except UnicodeEncodeError:
            encoded.append(text.encode("utf-8", "surrogatepass"))
    return encoded


def _agree(raw: bytes) -> None:
    fast = RecordParser().parse_canonical(raw)
    if fast is None:
        return
    slow = RecordParser()
    obj = slow.parse(raw)
    assert obj == fast and type(obj) is type(fast)
    assert slow.canonical_problem(obj, raw) == (None, True)


@settings(max_examples=300, deadline=None)
@given(VALUES)
def test_fast_parser_accepts_only_what_the_standard_parser_calls_canonical(
        value: Any) -> None:
    for raw in _encodings(value):
        _agree(raw)
        _agree(raw.replace(b"}", b',"a":1}', 1))  # a possible duplicate key


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.text(max_size=4), st.integers(-5, 5), max_size=3),
       st.sampled_from(["1.0", "1.5", "-0.0", "1e+16", "1E5", "2e-07", "NaN",
                        "18446744073709551616", "-9223372036854775809"]))
def test_a_record_with_a_float_or_huge_integer_takes_the_slow_path(
        fields: dict[str, int], number: str) -> None:
    raw = canonical_text({**fields, "type": "x"}).replace('"type"', f'"n":{number},"type"')
    assert RecordParser().parse_canonical(raw.encode()) is None


def test_an_arco_record_takes_the_fast_path() -> None:
    raw = (b'{"data":{"run_id":"r","type":"run_cancel_requested"},"event_id":"01J",'
           b'"event_version":1,"timestamp":"2026-01-01T00:00:00.000Z"}')
    assert RecordParser().parse_canonical(raw) == json.loads(raw)


def test_the_envelope_shortcut_agrees_with_the_full_envelope_check() -> None:
    from arco_cli.fold.procedure import _envelope_problem, _envelope_problem_checked

    base: dict[str, Any] = {
        "data": {"type": "x"}, "event_id": "e", "event_type": "T", "event_version": 1,
        "idempotency_key": "k", "source": "", "tenant_id": "t", "timestamp": "ts",
        "workspace_id": "w", "correlation_id": "c"}
    junk: list[Any] = [None, "", "s", 0, 1, True, [], {}, {"type": 1}, {"type": "y"}]
    for name in [*base, "causation_id"]:
        for value in junk:
            envelope = {**base, name: value}
            assert _envelope_problem(envelope) == _envelope_problem_checked(envelope), \
                (name, value)
    assert not _envelope_problem(base)


ENTRY = st.dictionaries(
    st.sampled_from(["attempt", "attemptId", "startedAt", "outcome", "errorMessage",
                     "retryable", "é", "Z"]),
    st.one_of(st.integers(-(2**63), 2**64 - 1), st.booleans(), TEXT), max_size=6)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 3), st.text(max_size=2), ENTRY), min_size=1,
                max_size=3))
def test_attempt_history_is_the_canonical_json_of_its_entries_in_attempt_order(
        history: list[tuple[int, str, dict[str, Any]]]) -> None:
    from arco_cli.fold.state import attempt_history_json

    ordered = [entry for _a, _e, entry in sorted(history, key=lambda h: (h[0], h[1]))]
    assert attempt_history_json(history) == json.dumps(
        ordered, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def test_payload_digest_of_a_record_with_unknown_top_level_keys_is_the_data_digest() -> None:
    from arco_cli.fold.procedure import _payload_digest

    data = {"run_id": "r", "type": "run_cancel_requested", "requested_by": "u"}
    record = {"aaa": {"data": {"x": 1}, "event_id": "y"}, "data": data, "event_id": "E1",
              "zzz": {"k": 1, "event_id": "z"}}
    raw = canonical_text(record).encode("utf-8")
    plain = {"data": data, "event_id": "E1"}
    assert _payload_digest(record, raw, True) == _payload_digest(
        plain, canonical_text(plain).encode("utf-8"), True)
