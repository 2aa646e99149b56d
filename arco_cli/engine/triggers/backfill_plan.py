"""Backfill planning rules (data-model §7.4, decisions A33–A35, B8, C5): pure functions.

Selectors resolve to partition keys, keys split into chunks, the reconciler fills free
slots, completion is derived from chunk states, and retry-failed collects the failed
partitions. Nothing here touches the log; the controller in ``backfills.py`` does.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from arco_cli.errors import ArcoError
from arco_cli.identity import (
    PartitionKeyError,
    canonical_partition_key,
    parse_partition_key,
    request_fingerprint,
    sha256_hex,
)

DEFAULT_CHUNK_SIZE = 10
DEFAULT_MAX_CONCURRENT_RUNS = 2
TERMINAL_STATES = frozenset({"SUCCEEDED", "FAILED", "CANCELLED"})

#: data-model §7.4 "Transitions"
ALLOWED_TRANSITIONS: dict[str, frozenset[str]] = {
    "PENDING": frozenset({"RUNNING", "CANCELLED"}),
    "RUNNING": frozenset({"PAUSED", "CANCELLED", "SUCCEEDED", "FAILED"}),
    "PAUSED": frozenset({"RUNNING", "CANCELLED"}),
    "SUCCEEDED": frozenset(),
    "FAILED": frozenset(),
    "CANCELLED": frozenset(),
}

#: states a parent may have for retry-failed (decisions B8)
RETRYABLE_PARENT_STATES = frozenset({"FAILED", "CANCELLED"})

_FILTER_KEYS = frozenset({"start", "end", "partition_start", "partition_end"})


def _date_bound(text: str, what: str) -> tuple[str, dt.date]:
    """(dimension, day) of a single-dimension date key; a bare date means ``date``."""
    try:
        key = canonical_partition_key(text)
        dims = parse_partition_key(key)
    except PartitionKeyError as exc:
        raise ArcoError("INVALID_PARTITION_KEY", f"range {what} {text!r}: {exc}") from None
    if len(dims) != 1 or dims[0][1] != "d":
        raise ArcoError(
            "INVALID_PARTITION_KEY",
            f"range {what} {text!r} must be a single date dimension such as "
            "'date=d:2025-01-15' or a bare date '2025-01-15'")
    name, _tag, value = dims[0]
    assert isinstance(value, str)
    return name, dt.date.fromisoformat(value)


def range_selector(start: str, end: str) -> dict[str, Any]:
    """A canonical ``range`` selector (bounds stored canonical, A33); validates bounds."""
    dim_a, day_a = _date_bound(start, "start")
    dim_b, day_b = _date_bound(end, "end")
    if dim_a != dim_b:
        raise ArcoError("INVALID_PARTITION_KEY",
                        f"range bounds use different dimensions: {dim_a!r} and {dim_b!r}")
    if day_a > day_b:
        raise ArcoError("INVALID_PARTITION_KEY",
                        f"range start {day_a.isoformat()} is after its end {day_b.isoformat()}")
    return {"type": "range", "start": f"{dim_a}=d:{day_a.isoformat()}",
            "end": f"{dim_b}=d:{day_b.isoformat()}"}


def parse_range_arg(text: str) -> dict[str, Any]:
    """``FROM..TO`` of ``--partitions`` → a range selector (the compact form, C5)."""
    start, sep, end = text.partition("..")
    if not sep or not start or not end:
        raise ArcoError("USAGE_ERROR",
                        f"--partitions expects FROM..TO (e.g. 2025-01-01..2025-01-31), "
                        f"not {text!r}")
    return range_selector(start, end)


def explicit_selector(keys: Iterable[str]) -> dict[str, Any]:
    """An ``explicit`` selector with canonical keys, sorted and de-duplicated."""
    canonical: set[str] = set()
    for key in keys:
        try:
            canonical.add(canonical_partition_key(key))
        except PartitionKeyError as exc:
            raise ArcoError("INVALID_PARTITION_KEY", str(exc)) from None
    if not canonical:
        raise ArcoError("USAGE_ERROR", "a backfill needs at least one partition")
    return {"type": "explicit", "partition_keys": sorted(canonical)}


def resolve_selector(selector: Mapping[str, Any]) -> list[str]:
    """The partition keys a selector stands for, in order (data-model §7.4)."""
    kind = selector.get("type")
    if kind == "range":
        canonical = range_selector(str(selector["start"]), str(selector["end"]))
        dim = canonical["start"].partition("=")[0]
        first = dt.date.fromisoformat(canonical["start"].rpartition(":")[2])
        last = dt.date.fromisoformat(canonical["end"].rpartition(":")[2])
        return [f"{dim}=d:{(first + dt.timedelta(days=i)).isoformat()}"
                for i in range((last - first).days + 1)]
    if kind == "explicit":
        return list(explicit_selector(selector["partition_keys"])["partition_keys"])
    if kind == "filter":
        filters: Mapping[str, str] = selector.get("filters", {})
        unsupported = sorted(set(filters) - _FILTER_KEYS)
        if unsupported:
            raise ArcoError("INVALID_PARTITION_KEY",
                            f"unsupported partition filter keys: {', '.join(unsupported)}")
        start = filters.get("start", filters.get("partition_start"))
        end = filters.get("end", filters.get("partition_end"))
        if start is None or end is None:
            raise ArcoError("INVALID_PARTITION_KEY",
                            "a partition filter needs a start and an end")
        return resolve_selector({"type": "range", "start": start, "end": end})
    raise ArcoError("INVALID_PARTITION_KEY", f"unknown partition selector type {kind!r}")


def selector_dimensions(keys: Sequence[str]) -> set[tuple[str, ...]]:
    """The dimension-name tuples the keys use (an asset must be partitioned by them, A33)."""
    return {tuple(name for name, _t, _v in parse_partition_key(k)) for k in keys}


# ----------------------------------------------------------------------- chunks

def effective_chunk_size(value: int) -> int:
    return value or DEFAULT_CHUNK_SIZE


def effective_max_concurrent_runs(value: int) -> int:
    return value or DEFAULT_MAX_CONCURRENT_RUNS


def total_chunks(key_count: int, chunk_size: int) -> int:
    return -(-key_count // chunk_size) if chunk_size > 0 else 0


def chunk_keys(keys: Sequence[str], index: int, chunk_size: int) -> list[str]:
    return list(keys[index * chunk_size:(index + 1) * chunk_size])


def chunk_id(backfill_id: str, index: int) -> str:
    return f"{backfill_id}:{index}"


def chunk_run_key(backfill_id: str, index: int) -> str:
    return f"backfill:{backfill_id}:chunk:{index}"


def chunk_fingerprint(asset_selection: Sequence[str], keys: Sequence[str]) -> str:
    """§4.3 for a backfill chunk: the backfill's selection and the chunk's keys."""
    return request_fingerprint(asset_selection, keys)


@dataclass(frozen=True)
class ChunkPlan:
    index: int
    chunk_id: str
    partition_keys: list[str]
    run_key: str
    request_fingerprint: str


def chunks_to_plan(backfill: Mapping[str, Any], chunk_states: Mapping[int, str],
                   keys: Sequence[str]) -> list[ChunkPlan]:
    """The reconciler's new chunks for one backfill row (§7.4 "Reconcile").

    ``chunk_states`` maps each existing chunk index of the backfill to its derived state.
    """
    size = int(backfill["chunk_size"])
    limit = int(backfill["max_concurrent_runs"])
    if backfill["state"] != "RUNNING" or size <= 0 or limit <= 0:
        return []
    active = sum(1 for state in chunk_states.values() if state in ("PLANNED", "RUNNING"))
    slots = limit - active
    total = total_chunks(len(keys), size)
    selection = _selection(backfill)
    index = int(backfill["planned_chunks"])
    out: list[ChunkPlan] = []
    while slots > 0 and index < total:
        if index in chunk_states:
            index += 1
            continue
        part = chunk_keys(keys, index, size)
        if not part:
            break
        bf_id = str(backfill["backfill_id"])
        out.append(ChunkPlan(index, chunk_id(bf_id, index), part, chunk_run_key(bf_id, index),
                             chunk_fingerprint(selection, part)))
        slots -= 1
        index += 1
    return out


def _selection(backfill: Mapping[str, Any]) -> list[str]:
    raw = backfill["asset_selection"]
    if isinstance(raw, str):
        import json

        decoded: list[str] = json.loads(raw)
        return decoded
    return list(raw)


def completion_state(backfill: Mapping[str, Any], chunk_states: Mapping[int, str],
                     key_count: int) -> str | None:
    """``SUCCEEDED``/``FAILED`` when a RUNNING backfill is complete (§7.4), else None."""
    if backfill["state"] != "RUNNING":
        return None
    total = total_chunks(key_count, int(backfill["chunk_size"]))
    if int(backfill["planned_chunks"]) != total or len(chunk_states) < total:
        return None
    states = [chunk_states[i] for i in range(total) if i in chunk_states]
    if len(states) != total or any(s not in ("SUCCEEDED", "FAILED") for s in states):
        return None
    return "FAILED" if "FAILED" in states else "SUCCEEDED"


# ----------------------------------------------------------------- transitions

def check_transition(backfill_id: str, current: str, target: str, *, current_version: int,
                     expected_version: int | None) -> None:
    """Refuse a version mismatch (A35) or a transition §7.4 does not allow."""
    if expected_version is not None and expected_version != current_version:
        raise ArcoError("VERSION_CONFLICT",
                        f"Version conflict: expected {expected_version}, found {current_version}",
                        {"backfillId": backfill_id, "expected": expected_version,
                         "actual": current_version})
    if target not in ALLOWED_TRANSITIONS.get(current, frozenset()):
        raise ArcoError("INVALID_TRANSITION",
                        f"backfill {backfill_id} is {current}; it cannot become {target}",
                        {"backfillId": backfill_id, "fromState": current, "toState": target})


def state_change_payload(backfill_id: str, current: str, target: str, current_version: int,
                         changed_by: str | None) -> dict[str, Any]:
    return {"type": "backfill_state_changed", "backfill_id": backfill_id,
            "from_state": current, "to_state": target, "state_version": current_version + 1,
            "changed_by": changed_by}


# ----------------------------------------------------------------- retry failed

def failed_partitions(chunks: Iterable[Mapping[str, Any]],
                      tasks_by_run: Mapping[str, Sequence[Mapping[str, Any]]]) -> list[str]:
    """Failed partitions of the chosen chunks (§7.4 "Retry failed"): sorted, unique.

    A partition is failed when some task of it in the chunk's run is not SUCCEEDED; a
    chunk without a run counts all its keys. Tasks without a partition key (unpartitioned
    upstreams, A4) fail every partition of the chunk.
    """
    failed: set[str] = set()
    for chunk in chunks:
        keys = _json_list(chunk["partition_keys"])
        run_id = chunk.get("run_id")
        tasks = tasks_by_run.get(run_id, []) if run_id else []
        if not run_id or not tasks:
            failed.update(keys)
            continue
        for task in tasks:
            if task["state"] == "SUCCEEDED":
                continue
            part = task.get("partition_key")
            if part:
                failed.add(part)
            else:
                failed.update(keys)
    if "" in failed:
        raise ArcoError("NOTHING_TO_RETRY", "a failed chunk has an empty partition key")
    return sorted(failed)


def _json_list(value: Any) -> list[str]:
    if isinstance(value, str):
        import json

        decoded: list[str] = json.loads(value)
        return decoded
    return list(value)


def default_retry_request_id(parent_backfill_id: str, keys: Sequence[str]) -> str:
    """Derived from (parent, sorted failed keys) so a repeat finds the same retry (B8)."""
    digest = sha256_hex(parent_backfill_id + "\n" + "\n".join(sorted(keys)))
    return f"req_retry_{digest[:24]}"


def default_retry_backfill_id(request_id: str) -> str:
    return f"bf_{sha256_hex(request_id)[:24]}"


def retry_envelope_key(parent_backfill_id: str, request_id: str) -> str:
    return f"backfill_retry:{parent_backfill_id}:{request_id}"
