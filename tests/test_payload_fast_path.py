"""validate_payload's compiled predicate must never accept a payload the checks reject:
payloads are generated from the schema itself, then fields are dropped or replaced by
values of the wrong type, and the answer is compared with the checks' own."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from arco_cli.events import validate_payload
from arco_cli.events.schema import _SPECS, PAYLOADS, Check, _compile_payload, _object

#: values of every JSON shape, including ones at the edge of each check
JUNK = st.sampled_from([
    None, 0, -1, 1, 255, 256, 2**32, 2**63, 2**64, True, False, 1.5, "", "x",
    "2026-01-01T00:00:00Z", "not a time", [], ["a"], [1], [None], {}, {"a": "b"}, {"a": 1},
    {"type": "manual"}, "PENDING", "succeeded", "retry",
])


def _valid(check: Check) -> st.SearchStrategy[Any]:
    spec = _SPECS[check]
    kind = spec[0]
    if kind == "str":
        return st.text(max_size=5)
    if kind == "nonempty":
        return st.text(min_size=1, max_size=5)
    if kind == "int":
        return st.integers(spec[1], spec[2])
    if kind == "bool":
        return st.booleans()
    if kind == "ts":
        return st.sampled_from(["2026-01-01T00:00:00Z", "2026-01-01T00:00:00.123+02:00"])
    if kind == "list_str":
        return st.lists(st.text(max_size=3), max_size=3)
    if kind == "map_str":
        return st.dictionaries(st.text(max_size=3), st.text(max_size=3), max_size=3)
    if kind == "enum":
        return st.sampled_from(spec[1])
    if kind == "object":
        return _obj(spec[1], spec[2])
    if kind == "tagged":
        tag, variants = spec[1], spec[2]
        return st.one_of(*(_tagged(_obj(fields, {}), tag, variant)
                           for variant, fields in variants.items()))
    assert kind == "list_of"
    return st.lists(_valid(spec[1]), max_size=3)


def _tagged(objects: st.SearchStrategy[dict[str, Any]], tag: str, variant: str
            ) -> st.SearchStrategy[dict[str, Any]]:
    return objects.map(lambda d: {**d, tag: variant})


def _maybe_broken(check: Check) -> st.SearchStrategy[Any]:
    return st.one_of(_valid(check), _valid(check), _valid(check), _valid(check), JUNK)


def _obj(required: dict[str, Check], optional: dict[str, Check]
         ) -> st.SearchStrategy[dict[str, Any]]:
    fields = {name: _maybe_broken(check) for name, check in required.items()}
    extra = {name: st.one_of(st.none(), _maybe_broken(check))
             for name, check in optional.items()}
    return st.fixed_dictionaries(fields, optional=extra).flatmap(
        lambda d: st.sets(st.sampled_from(sorted(d) or [""]), max_size=1).map(
            lambda dropped: {k: v for k, v in d.items() if k not in dropped}))


def _payloads() -> st.SearchStrategy[dict[str, Any]]:
    return st.sampled_from(sorted(PAYLOADS)).flatmap(
        lambda tag: _obj(*PAYLOADS[tag]).map(lambda d: {**d, "type": tag}))


def _checked(data: dict[str, Any]) -> list[str]:
    required, optional = PAYLOADS[data["type"]]
    errs: list[str] = []
    _object(required, optional)(data, "data", errs)
    return errs


@settings(max_examples=250, deadline=None)
@given(_payloads())
def test_fast_path_reports_exactly_the_checks_problems(data: dict[str, Any]) -> None:
    assert validate_payload(data) == _checked(data)


@settings(max_examples=250, deadline=None)
@given(_payloads())
def test_predicate_accepts_exactly_the_payloads_without_problems(data: dict[str, Any]) -> None:
    # JSON values: the predicate's exact type tests agree with the checks' isinstance
    assert _compile_payload(*PAYLOADS[data["type"]])(data) == (not _checked(data))


def test_a_missing_nested_field_is_reported_by_its_path() -> None:
    data = {"type": "run_requested", "run_key": "k", "request_fingerprint": "f",
            "asset_selection": ["a"], "trigger_source_ref": {"type": "manual", "user_id": "u"}}
    assert validate_payload(data) == ["data.trigger_source_ref.request_id is required"]


def test_a_list_or_object_as_variant_tag_is_a_problem_not_a_crash() -> None:
    data = {"type": "run_triggered", "run_id": "r", "plan_id": "p", "root_assets": [],
            "trigger": {"type": ["manual"]}}
    assert validate_payload(data) == [
        "data.trigger.type must be one of cron, manual, materialization, webhook, sensor, "
        "got ['manual']"]
    data["trigger"] = {"type": {}}
    assert len(validate_payload(data)) == 1


def test_every_check_in_the_schema_is_compiled_not_delegated() -> None:
    for required, optional in PAYLOADS.values():
        for check in (*required.values(), *optional.values()):
            assert check in _SPECS
