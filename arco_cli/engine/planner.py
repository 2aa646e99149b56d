"""The planner: a run request (selection, flags, partitions, labels) → validated TaskDefs
and the request fingerprint (data-model §4.3, §4.7; decisions A4–A6).

Pure: reads only the workspace definition, never the log or the clock, so a request that
cannot be planned is refused before anything is reserved (§4.6 step 2).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from arco_cli.config import AssetDef, WorkspaceDefinition
from arco_cli.errors import ArcoError
from arco_cli.identity import (
    AssetKeyError,
    PartitionKeyError,
    canonical_asset_key,
    canonical_partition_key,
    partition_dimensions,
    partition_id,
    request_fingerprint,
)

RESERVED_LABEL_PREFIX = "arco."
LABEL_INCLUDE_UPSTREAM = "arco.include_upstream"
LABEL_INCLUDE_DOWNSTREAM = "arco.include_downstream"


@dataclass(frozen=True)
class TaskDef:
    """One planned task, as carried by ``PlanCreated.tasks`` (data-model §2.3)."""

    key: str
    depends_on: tuple[str, ...]
    asset_key: str | None
    partition_key: str | None
    max_attempts: int = 3
    heartbeat_timeout_sec: int = 300
    requires_visible_output: bool = False

    def payload(self) -> dict[str, Any]:
        """The TaskDef object of the event (the three defaulted fields always written)."""
        out: dict[str, Any] = {
            "key": self.key,
            "depends_on": list(self.depends_on),
            "max_attempts": self.max_attempts,
            "heartbeat_timeout_sec": self.heartbeat_timeout_sec,
            "requires_visible_output": self.requires_visible_output,
        }
        if self.asset_key is not None:
            out["asset_key"] = self.asset_key
        if self.partition_key is not None:
            out["partition_key"] = self.partition_key
        return out

    def summary(self) -> dict[str, Any]:
        """The camelCase shape of ``run --dry-run`` (decisions A20)."""
        out: dict[str, Any] = {"taskKey": self.key}
        if self.asset_key is not None:
            out["assetKey"] = self.asset_key
        if self.partition_key is not None:
            out["partitionKey"] = self.partition_key
        out["dependsOn"] = list(self.depends_on)
        out["maxAttempts"] = self.max_attempts
        return out


@dataclass(frozen=True)
class RunPlan:
    """A validated request: what the fingerprint covers, and the tasks it plans."""

    selection: tuple[str, ...]          # P.selection: canonical, unique, sorted
    partitions: tuple[str, ...]         # P.partitions: canonical, unique, sorted
    include_upstream: bool
    include_downstream: bool
    user_labels: dict[str, str]
    tasks: tuple[TaskDef, ...]          # sorted by key
    root_assets: tuple[str, ...]
    code_version: str | None
    fingerprint: str
    parent_run_id: str | None = None
    rerun_kind: str | None = None
    extra_labels: dict[str, str] = field(default_factory=dict)

    @property
    def labels(self) -> dict[str, str]:
        """The request's full label map (§4.6 step 5): user labels plus reserved ones."""
        out = dict(self.user_labels)
        out.update(self.extra_labels)
        if self.include_upstream:
            out[LABEL_INCLUDE_UPSTREAM] = "true"
        if self.include_downstream:
            out[LABEL_INCLUDE_DOWNSTREAM] = "true"
        return dict(sorted(out.items()))


# --------------------------------------------------------------------------- validation

def canonical_selection(definition: WorkspaceDefinition, raw: Iterable[str]) -> tuple[str, ...]:
    """Canonical, unique, sorted asset keys; INVALID_ASSET_KEY / UNKNOWN_ASSET otherwise."""
    keys: set[str] = set()
    invalid: list[str] = []
    for item in raw:
        try:
            keys.add(canonical_asset_key(item))
        except AssetKeyError as exc:
            invalid.append(str(exc))
    if invalid:
        raise ArcoError("INVALID_ASSET_KEY",
                        "; ".join(invalid) + "; write asset keys as namespace.name",
                        {"invalid": invalid})
    if not keys:
        raise ArcoError("UNKNOWN_ASSET", "nothing selected; name at least one asset")
    unknown = sorted(keys - set(definition.assets))
    if unknown:
        known = ", ".join(definition.assets) or "none"
        raise ArcoError("UNKNOWN_ASSET",
                        f"unknown asset(s): {', '.join(unknown)}; defined assets: {known}",
                        {"unknown": unknown})
    return tuple(sorted(keys))


def canonical_partitions(raw: Iterable[str]) -> tuple[str, ...]:
    """Canonical, unique, sorted partition keys (a bare date means ``date=d:DATE``)."""
    keys: set[str] = set()
    for item in raw:
        if item == "":
            raise ArcoError("INVALID_PARTITION_KEY",
                            "empty partition key; omit -p for unpartitioned assets",
                            {"partitionKey": item})
        try:
            keys.add(canonical_partition_key(item))
        except PartitionKeyError as exc:
            raise ArcoError("INVALID_PARTITION_KEY",
                            f"{exc}; use a canonical key such as date=d:2025-01-15 or a "
                            "bare date", {"partitionKey": item}) from None
    return tuple(sorted(keys))


def check_user_labels(labels: Mapping[str, str]) -> dict[str, str]:
    """User labels must not use the reserved ``arco.`` prefix (§4.6)."""
    reserved = sorted(k for k in labels if k.startswith(RESERVED_LABEL_PREFIX))
    if reserved:
        raise ArcoError("RESERVED_LABEL",
                        f"labels cannot include reserved keys: {', '.join(reserved)}",
                        {"keys": reserved})
    return dict(sorted(labels.items()))


# --------------------------------------------------------------------------- closure

def _downstream_index(assets: Mapping[str, AssetDef]) -> dict[str, list[str]]:
    index: dict[str, list[str]] = {key: [] for key in assets}
    for asset in assets.values():
        for dep in asset.deps:
            index.setdefault(dep, []).append(asset.key)
    return index


def _reach(start: Iterable[str], edges: Mapping[str, Sequence[str]]) -> set[str]:
    seen: set[str] = set()
    queue = deque(start)
    while queue:
        node = queue.popleft()
        for nxt in edges.get(node, ()):
            if nxt not in seen:
                seen.add(nxt)
                queue.append(nxt)
    return seen


def closure(definition: WorkspaceDefinition, selection: Iterable[str], *,
            include_upstream: bool, include_downstream: bool) -> set[str]:
    """The selection plus its transitive ancestors and/or descendants — a union, never
    iterated, so siblings are not pulled in (decisions A5)."""
    chosen = set(selection)
    planned = set(chosen)
    if include_upstream:
        upstream = {key: list(asset.deps) for key, asset in definition.assets.items()}
        planned |= _reach(chosen, upstream)
    if include_downstream:
        planned |= _reach(chosen, _downstream_index(definition.assets))
    return planned


# --------------------------------------------------------------------------- partitions

def _check_partitions(definition: WorkspaceDefinition, planned: set[str],
                      partitions: tuple[str, ...]) -> None:
    partitioned = sorted(k for k in planned if definition.assets[k].partitioned_by)
    if partitioned and not partitions:
        dims = definition.assets[partitioned[0]].partitioned_by
        example = "2025-01-15" if dims == ("date",) else ",".join(
            f"{d}=s:VALUE" for d in sorted(dims))
        raise ArcoError("PARTITION_REQUIRED",
                        f"asset(s) {', '.join(partitioned)} are partitioned by "
                        f"{list(dims)}; pass a partition with -p (e.g. -p {example})",
                        {"assets": partitioned})
    if partitions and not partitioned:
        raise ArcoError("PARTITION_MISMATCH",
                        "none of the planned assets is partitioned; drop -p",
                        {"partitions": list(partitions)})
    for key in partitions:
        given = set(partition_dimensions(key))
        for asset in partitioned:
            expected = set(definition.assets[asset].partitioned_by)
            if given != expected:
                raise ArcoError(
                    "PARTITION_MISMATCH",
                    f"partition key {key!r} has dimensions {sorted(given)} but asset {asset!r}"
                    f" is partitioned by {sorted(expected)}; give a key with exactly those "
                    "dimensions",
                    {"partitionKey": key, "assetKey": asset})


def plan_tasks(definition: WorkspaceDefinition, planned: set[str],
               partitions: tuple[str, ...]) -> tuple[TaskDef, ...]:
    """TaskDefs over the planned assets (§4.7, A4): one task per asset, or per
    (asset, partition) when several partitions are requested; never a dangling edge."""
    assets = definition.assets
    several = len(partitions) > 1

    def task_keys(asset: str) -> dict[str | None, str]:
        """Partition → task key for one asset (None = the asset's single task)."""
        if not assets[asset].partitioned_by:
            return {None: asset}
        if not several:
            return {partitions[0]: asset}
        return {p: f"{asset}@{partition_id(asset, p)}" for p in partitions}

    keys_of = {asset: task_keys(asset) for asset in planned}
    tasks: list[TaskDef] = []
    for asset in planned:
        spec = assets[asset]
        for partition, task_key in keys_of[asset].items():
            depends: set[str] = set()
            for dep in spec.deps:
                if dep not in planned:
                    continue
                dep_keys = keys_of[dep]
                if None in dep_keys:
                    depends.add(dep_keys[None])
                elif partition is not None:
                    depends.add(dep_keys[partition])
                else:
                    # an unpartitioned asset waits for every partition of its upstream
                    depends.update(dep_keys.values())
            tasks.append(TaskDef(
                key=task_key, depends_on=tuple(sorted(depends)), asset_key=asset,
                partition_key=partition, max_attempts=spec.max_attempts,
                heartbeat_timeout_sec=spec.heartbeat_timeout_s))
    return tuple(sorted(tasks, key=lambda t: t.key))


def common_code_version(definition: WorkspaceDefinition, assets: Iterable[str]) -> str | None:
    """The run-level code version: the one non-null value all assets share (A6)."""
    versions = {definition.assets[a].code_version for a in assets}
    if len(versions) == 1:
        return next(iter(versions))
    return None


def plan_run(
    definition: WorkspaceDefinition,
    selection: Iterable[str],
    *,
    partitions: Iterable[str] = (),
    include_upstream: bool = False,
    include_downstream: bool = False,
    labels: Mapping[str, str] | None = None,
) -> RunPlan:
    """Validate and plan a manual run request. Raises ArcoError (exit 2) before anything
    is written: UNKNOWN_ASSET, INVALID_ASSET_KEY, INVALID_PARTITION_KEY,
    PARTITION_REQUIRED, PARTITION_MISMATCH, RESERVED_LABEL."""
    user_labels = check_user_labels(labels or {})
    chosen = canonical_selection(definition, selection)
    parts = canonical_partitions(partitions)
    planned = closure(definition, chosen, include_upstream=include_upstream,
                      include_downstream=include_downstream)
    _check_partitions(definition, planned, parts)
    tasks = plan_tasks(definition, planned, parts)
    fingerprint = request_fingerprint(
        chosen, parts, include_upstream=include_upstream,
        include_downstream=include_downstream, labels=user_labels)
    return RunPlan(
        selection=chosen, partitions=parts, include_upstream=include_upstream,
        include_downstream=include_downstream, user_labels=user_labels, tasks=tasks,
        root_assets=chosen, code_version=common_code_version(definition, planned),
        fingerprint=fingerprint)
