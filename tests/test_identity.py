from __future__ import annotations

import pytest

from arco_cli import identity as ident


def test_canonical_json_sorts_keys_and_keeps_non_ascii_raw() -> None:
    text = ident.canonical_json({"b": 1, "a": ["é", "/", "\u007f"]})
    assert text == '{"a":["é","/","\x7f"],"b":1}'


def test_canonical_json_escapes_control_characters_lowercase() -> None:
    assert ident.canonical_json("\x01\n") == '"\\u0001\\n"'


@pytest.mark.parametrize("value", [1.0, float("nan"), 2**64, -(2**63) - 1, "\ud800"])
def test_canonical_json_rejects_values_without_canonical_form(value: object) -> None:
    with pytest.raises(ident.CanonicalJsonError):
        ident.canonical_json(value)


def test_loads_strict_rejects_duplicate_keys_and_floats() -> None:
    with pytest.raises(ValueError):
        ident.loads_strict('{"a":1,"a":2}')
    with pytest.raises(ValueError):
        ident.loads_strict('{"a":1.5}')
    assert ident.loads_strict('{"a":[1,true,null]}') == {"a": [1, True, None]}


@pytest.mark.parametrize(("text", "ms"), [
    ("1970-01-01T00:00:00Z", 0),
    ("1970-01-01T00:00:00.0019Z", 1),
    ("1970-01-01T01:00:00.5+01:00", 500),
    ("2025-01-15T10:00:00.123456789-00:30", 1736935200000 + 1800000 + 123),
])
def test_timestamps_are_floored_to_utc_milliseconds(text: str, ms: int) -> None:
    assert ident.parse_timestamp_ms(text) == ms


def test_format_ms_renders_utc_with_milliseconds() -> None:
    assert ident.format_ms(1736935200123) == "2025-01-15T10:00:00.123Z"


def test_run_id_from_run_key_is_hmac_base32_lowercase() -> None:
    rid = ident.run_id_from_run_key("local", "default", "nightly")
    assert rid.startswith("run_") and len(rid) == 30 and rid == rid.lower()
    assert rid == ident.run_id_from_run_key("local", "default", "nightly")
    assert rid != ident.run_id_from_run_key("local", "default", "nightly", b"secret")
    assert rid != ident.run_id_from_run_key("local", "other", "nightly")


def test_ulid_generator_is_monotonic_and_stays_above_floor() -> None:
    floor = "7ZZZZZZZZZZZZZZZZZZZZZZZZY"
    gen = ident.UlidGenerator(floor)
    first, second = gen.new(0), gen.new(0)
    assert floor < first < second
    assert ident.is_ulid(first)


def test_ulid_time_is_embedded_milliseconds() -> None:
    gen = ident.UlidGenerator()
    assert ident.ulid_time_ms(gen.new(1736935200123)) == 1736935200123


@pytest.mark.parametrize(("text", "canonical"), [
    ("raw.orders", "raw.orders"), ("a/b.c", "a.b.c"), ("a.b.c", "a.b.c")])
def test_asset_keys_canonicalise(text: str, canonical: str) -> None:
    assert ident.canonical_asset_key(text) == canonical


@pytest.mark.parametrize("text", ["a..b", "a/", "orders", " a.b", "A.b", "a.1b", "a.b "])
def test_invalid_asset_keys_are_refused(text: str) -> None:
    with pytest.raises(ident.AssetKeyError, match="asset key"):
        ident.canonical_asset_key(text)


@pytest.mark.parametrize("key", [
    "", "date=d:2024-02-29", "a=i:0,b=b:true", "n=n:null", "s=s:", "s=s:aGk",
    "t=t:2025-01-15T10:00:00.000000Z", "i=i:-12"])
def test_canonical_partition_keys_round_trip(key: str) -> None:
    assert ident.is_canonical_partition_key(key)


@pytest.mark.parametrize("key", [
    "date=d:2023-02-29", "date=d:1969-12-31", "b=i:1,a=i:1", "a=i:1,a=i:2", "a=i:01",
    "a=i:-0", "a=x:1", "a=b:yes", "a", "A=i:1", "t=t:2025-01-15T24:00:00.000000Z",
    "t=t:2025-01-15T10:00:00Z", "s=s:aGk="])
def test_non_canonical_partition_keys_are_refused(key: str) -> None:
    assert not ident.is_canonical_partition_key(key)


def test_bare_date_means_date_dimension() -> None:
    assert ident.canonical_partition_key("2025-01-15") == "date=d:2025-01-15"


def test_partition_values_decode_tags() -> None:
    assert ident.partition_values("a=i:5,b=b:false,c=s:aGk,d=n:null") == {
        "a": 5, "b": False, "c": "hi", "d": None}
    assert ident.partition_values("not canonical") == {}


def test_fingerprint_ignores_order_and_reserved_labels() -> None:
    a = ident.request_fingerprint(["b.x", "a.y"], ["p=i:2", "p=i:1"], labels={"k": "v"})
    b = ident.request_fingerprint(["a.y", "b.x", "a.y"], ["p=i:1", "p=i:2"],
                                  labels={"k": "v", "arco.include_upstream": "true"})
    assert a == b
    assert a != ident.request_fingerprint(["a.y", "b.x"], ["p=i:1", "p=i:2"],
                                          labels={"k": "v"}, include_upstream=True)


def test_attempt_id_is_derived_from_dispatch_id() -> None:
    att = ident.attempt_id("run_x", "a.b", 1)
    assert att.startswith("att_") and len(att) == 28
