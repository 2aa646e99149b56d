"""Planner: selection validation, closure (A5), partitions (A4), fingerprint, labels, code
version (A6)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from arco_cli.config import WorkspaceDefinition, load_definition
from arco_cli.engine.planner import plan_run
from arco_cli.errors import ArcoError
from arco_cli.identity import partition_id, request_fingerprint
from tests.conftest import write_workspace

# A -> B, A -> C, B -> D  (edges point downstream); E partitioned by date, after B.
GRAPH = """
[assets."g.a"]
run = ["true"]
code_version = "v1"
[assets."g.b"]
deps = ["g.a"]
run = ["true"]
code_version = "v1"
max_attempts = 5
heartbeat_timeout_s = 60
[assets."g.c"]
deps = ["g.a"]
run = ["true"]
[assets."g.d"]
deps = ["g.b"]
run = ["true"]
code_version = "v1"
[assets."p.e"]
deps = ["g.b"]
run = ["true"]
partitioned_by = ["date"]
[assets."p.f"]
deps = ["p.e"]
run = ["true"]
partitioned_by = ["date"]
[assets."p.r"]
run = ["true"]
partitioned_by = ["region"]
"""


@pytest.fixture(scope="module")
def graph(tmp_path_factory: pytest.TempPathFactory) -> WorkspaceDefinition:
    return load_definition(write_workspace(tmp_path_factory.mktemp("planner"), GRAPH))


def _keys(definition: WorkspaceDefinition, *selection: str, up: bool = False,
          down: bool = False, day: str | None = None) -> list[str]:
    plan = plan_run(definition, selection, include_upstream=up, include_downstream=down,
                    partitions=[day] if day else [])
    return [t.key for t in plan.tasks]


def test_closure_is_the_union_of_ancestors_and_descendants(graph: WorkspaceDefinition) -> None:
    assert _keys(graph, "g.b") == ["g.b"]
    assert _keys(graph, "g.b", up=True) == ["g.a", "g.b"]
    assert _keys(graph, "g.a", down=True, day="2025-01-15") == [
        "g.a", "g.b", "g.c", "g.d", "p.e", "p.f"]
    assert _keys(graph, "g.c", down=True) == ["g.c"]
    # both flags: ancestors ∪ descendants of the selection, never iterated (no sibling g.c)
    assert _keys(graph, "g.d", up=True, down=True) == ["g.a", "g.b", "g.d"]


def test_tasks_depend_only_on_planned_upstreams_and_carry_asset_settings(
        graph: WorkspaceDefinition) -> None:
    plan = plan_run(graph, ["g/d", "g.b"])
    assert plan.selection == ("g.b", "g.d")
    b, d = plan.tasks
    assert (b.key, b.depends_on, b.max_attempts, b.heartbeat_timeout_sec) == ("g.b", (), 5, 60)
    assert (d.key, d.depends_on, d.max_attempts, d.heartbeat_timeout_sec) == (
        "g.d", ("g.b",), 3, 300)
    assert d.payload() == {"key": "g.d", "depends_on": ["g.b"], "asset_key": "g.d",
                           "max_attempts": 3, "heartbeat_timeout_sec": 300,
                           "requires_visible_output": False}


def test_run_code_version_is_the_common_value_or_absent(graph: WorkspaceDefinition) -> None:
    assert plan_run(graph, ["g.b", "g.d"]).code_version == "v1"
    assert plan_run(graph, ["g.b", "g.c"]).code_version is None


def test_unknown_and_invalid_assets_are_refused(graph: WorkspaceDefinition) -> None:
    with pytest.raises(ArcoError) as info:
        plan_run(graph, ["g.a", "g.zz", "x.y"])
    assert info.value.code == "UNKNOWN_ASSET"
    assert "g.zz, x.y" in info.value.message
    with pytest.raises(ArcoError) as info:
        plan_run(graph, ["Bad"])
    assert info.value.code == "INVALID_ASSET_KEY" and "asset key" in info.value.message


def test_partitioned_asset_needs_a_partition(graph: WorkspaceDefinition) -> None:
    with pytest.raises(ArcoError) as info:
        plan_run(graph, ["p.e"])
    assert info.value.code == "PARTITION_REQUIRED"
    assert "-p 2025-01-15" in info.value.message


@pytest.mark.parametrize(("selection", "partition", "code"), [
    (["p.e"], "region=s:ZXU", "PARTITION_MISMATCH"),
    (["g.a"], "2025-01-15", "PARTITION_MISMATCH"),
    (["p.e", "p.r"], "2025-01-15", "PARTITION_MISMATCH"),
    (["p.e"], "2025-02-30", "INVALID_PARTITION_KEY"),
    (["p.e"], "date=d:2025-1-1", "INVALID_PARTITION_KEY"),
])
def test_partition_keys_must_match_partitioned_by(
        graph: WorkspaceDefinition, selection: list[str], partition: str, code: str) -> None:
    with pytest.raises(ArcoError) as info:
        plan_run(graph, selection, partitions=[partition])
    assert info.value.code == code


def test_one_partition_keeps_asset_task_keys_and_unpartitioned_upstream_has_none(
        graph: WorkspaceDefinition) -> None:
    plan = plan_run(graph, ["p.e"], partitions=["2025-01-15"], include_upstream=True)
    assert [(t.key, t.partition_key, t.depends_on) for t in plan.tasks] == [
        ("g.a", None, ()),
        ("g.b", None, ("g.a",)),
        ("p.e", "date=d:2025-01-15", ("g.b",)),
    ]
    assert plan.partitions == ("date=d:2025-01-15",)


def test_several_partitions_plan_one_task_per_asset_and_partition(
        graph: WorkspaceDefinition) -> None:
    days = ["date=d:2025-01-16", "2025-01-15"]
    plan = plan_run(graph, ["g.b", "p.e", "p.f"], partitions=days)
    e15 = f"p.e@{partition_id('p.e', 'date=d:2025-01-15')}"
    e16 = f"p.e@{partition_id('p.e', 'date=d:2025-01-16')}"
    f15 = f"p.f@{partition_id('p.f', 'date=d:2025-01-15')}"
    f16 = f"p.f@{partition_id('p.f', 'date=d:2025-01-16')}"
    by_key = {t.key: t for t in plan.tasks}
    assert [t.key for t in plan.tasks] == sorted(by_key) == sorted(["g.b", e15, e16, f15, f16])
    assert by_key[f15].depends_on == (e15,) and by_key[f16].depends_on == (e16,)
    assert by_key[e15].depends_on == ("g.b",)
    assert by_key[e16].partition_key == "date=d:2025-01-16"
    assert ":" not in "".join(by_key)
    planned = set(by_key)
    assert all(dep in planned for t in plan.tasks for dep in t.depends_on)


def test_reserved_labels_are_refused_and_include_flags_become_labels(
        graph: WorkspaceDefinition) -> None:
    with pytest.raises(ArcoError) as info:
        plan_run(graph, ["g.a"], labels={"arco.z": "1", "arco.a": "2", "team": "x"})
    assert info.value.code == "RESERVED_LABEL"
    assert info.value.message == "labels cannot include reserved keys: arco.a, arco.z"
    plan = plan_run(graph, ["g.b"], include_upstream=True, labels={"team": "x"})
    assert plan.labels == {"arco.include_upstream": "true", "team": "x"}
    assert plan.fingerprint == request_fingerprint(
        ["g.b"], [], include_upstream=True, labels={"team": "x"})


SELECTABLE = ["g.a", "g.b", "g.c", "g.d"]
DAYS = ["2025-01-15", "2025-01-16", "2025-03-01"]


@settings(max_examples=60, deadline=None)
@given(selection=st.lists(st.sampled_from(SELECTABLE), unique=True).map(lambda s: ["p.e", *s]),
       days=st.lists(st.sampled_from(DAYS), min_size=1, unique=True),
       up=st.booleans(), down=st.booleans(),
       labels=st.dictionaries(st.sampled_from(["team", "ticket"]), st.sampled_from(["1", "2"])),
       seed=st.randoms(use_true_random=False))
def test_fingerprint_ignores_order_and_changes_with_every_field(
        graph: WorkspaceDefinition, selection: list[str], days: list[str], up: bool,
        down: bool, labels: dict[str, str], seed: object) -> None:
    import random

    assert isinstance(seed, random.Random)
    base = plan_run(graph, selection, partitions=days, include_upstream=up,
                    include_downstream=down, labels=labels)
    shuffled_sel, shuffled_days = list(selection), list(days) + [days[0]]
    seed.shuffle(shuffled_sel)
    seed.shuffle(shuffled_days)
    same = plan_run(graph, shuffled_sel + selection[:1], partitions=shuffled_days,
                    include_upstream=up, include_downstream=down,
                    labels=dict(reversed(list(labels.items()))))
    assert same.fingerprint == base.fingerprint
    assert same.tasks == base.tasks

    def fp(**changes: object) -> str:
        args: dict[str, object] = {"partitions": days, "include_upstream": up,
                                   "include_downstream": down, "labels": labels}
        sel = changes.pop("selection", selection)
        args.update(changes)
        return plan_run(graph, sel, **args).fingerprint  # type: ignore[arg-type]

    variants = [
        fp(include_upstream=not up),
        fp(include_downstream=not down),
        fp(labels={**labels, "other": "x"}),
        fp(partitions=[*days, "2025-12-31"]),
        fp(selection=[*selection, "g.c"] if "g.c" not in selection
           else [s for s in selection if s != "g.c"]),
    ]
    assert base.fingerprint not in variants
