"""Sensor evaluators: invocation, result validation and the events of one evaluation.

cli.md §2 (evaluator contract), data-model §4.2, §4.5, §7.2, decisions A22–A27. The
evaluator always runs in a child process (a ``python`` callable through a tiny runner,
or a ``run`` command printing JSON), so a crashing or hanging evaluator cannot take the
controller down and a timeout can be enforced.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from arco_cli.identity import (
    AssetKeyError,
    PartitionKeyError,
    canonical_asset_key,
    canonical_partition_key,
    format_ms,
    request_fingerprint,
    sha256_hex,
    validate_run_key,
)

EVALUATOR_TIMEOUT_S = 300
_STDERR_TAIL_LINES = 5
_RESULT_KEYS = frozenset({"run_requests", "cursor", "skip_reason"})
_REQUEST_KEYS = frozenset({"run_key", "selection", "partitions", "labels"})


class EvaluatorError(Exception):
    """The evaluation failed; the message becomes ``error{message}`` (exit 1)."""


class _Missing:
    """Marker for "the evaluator returned no ``cursor`` key" (keep the cursor, A24)."""

    def __repr__(self) -> str:
        return "MISSING"


MISSING = _Missing()


@dataclass(frozen=True)
class SensorRequest:
    run_key: str
    selection: list[str]
    partitions: list[str]
    labels: dict[str, str]

    @property
    def fingerprint(self) -> str:
        return request_fingerprint(self.selection, self.partitions, labels=self.labels)


@dataclass(frozen=True)
class EvaluatorResult:
    requests: list[SensorRequest] = field(default_factory=list)
    cursor: str | None | _Missing = MISSING
    skip_reason: str | None = None


# ------------------------------------------------------------------ identity

def eval_id(sensor_id: str, kind: str, *, message_id: str | None, poll_epoch: int,
            cursor_before: str | None) -> str:
    """§4.5: push ``eval:{id}:msg:{message_id}``, poll ``eval:{id}:poll:{epoch}:{h}``."""
    if kind == "push":
        return f"eval:{sensor_id}:msg:{message_id}"
    h = sha256_hex(cursor_before)[:16] if cursor_before is not None else "none"
    return f"eval:{sensor_id}:poll:{poll_epoch}:{h}"


def default_run_key(sensor_id: str, kind: str, *, message_id: str | None, poll_epoch: int,
                    index: int) -> str:
    """§4.2 defaults, with ``:{i}`` for the i-th key-less request when i ≥ 1 (A25)."""
    if kind == "push":
        base = f"sensor:{sensor_id}:msg:{message_id}"
    else:
        base = f"sensor:{sensor_id}:poll:{poll_epoch}"
    return base if index == 0 else f"{base}:{index}"


# ------------------------------------------------------------------ invocation

_PY_RUNNER = """
import datetime, importlib, json, os, pathlib, sys, types
root, spec, out = pathlib.Path(sys.argv[1]), sys.argv[2], sys.argv[3]
sys.path.insert(0, str(root))
module_name, _, attr = spec.partition(":")
func = getattr(importlib.import_module(module_name), attr)
now = datetime.datetime.strptime(os.environ["ARCO_NOW"], "%Y-%m-%dT%H:%M:%S.%fZ")
ctx = types.SimpleNamespace(
    sensor_id=os.environ["ARCO_SENSOR_ID"], kind=os.environ["ARCO_SENSOR_KIND"],
    cursor=os.environ.get("ARCO_SENSOR_CURSOR"), message_id=os.environ.get("ARCO_MESSAGE_ID"),
    now=now.replace(tzinfo=datetime.timezone.utc), workspace=root)
result = func(ctx)
with open(out, "w", encoding="utf-8") as fh:
    json.dump(result, fh)
"""


def evaluator_env(sensor_id: str, kind: str, *, cursor: str | None, message_id: str | None,
                  now_ms: int, workspace: Path) -> dict[str, str]:
    """The child's environment: ``ARCO_SENSOR_CURSOR`` is unset (not empty) without a
    cursor, and ``ARCO_NOW`` is ``…sssZ`` (A24)."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("ARCO_SENSOR_CURSOR", "ARCO_MESSAGE_ID")}
    env.update({"ARCO_WORKSPACE": str(workspace), "ARCO_SENSOR_ID": sensor_id,
                "ARCO_SENSOR_KIND": kind, "ARCO_NOW": format_ms(now_ms)})
    if cursor is not None:
        env["ARCO_SENSOR_CURSOR"] = cursor
    if message_id is not None:
        env["ARCO_MESSAGE_ID"] = message_id
    return env


def _stderr_tail(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return "\n".join(lines[-_STDERR_TAIL_LINES:])


def invoke_evaluator(workspace: Path, *, python: str | None, run: Sequence[str] | None,
                     env: Mapping[str, str], timeout_s: float = EVALUATOR_TIMEOUT_S) -> Any:
    """Run the evaluator and return its decoded JSON result; raises EvaluatorError."""
    with tempfile.TemporaryDirectory(prefix="arco-sensor-") as tmp:
        out_path = Path(tmp) / "result.json"
        if python is not None:
            argv = [sys.executable, "-c", _PY_RUNNER, str(workspace), python, str(out_path)]
        elif run:
            argv = list(run)
        else:
            raise EvaluatorError("sensor has no evaluator (set `python` or `run`)")
        try:
            proc = subprocess.run(argv, cwd=workspace, env=dict(env), capture_output=True,
                                  text=True, timeout=timeout_s, check=False)
        except subprocess.TimeoutExpired:
            raise EvaluatorError(f"evaluator timed out after {timeout_s:g} s") from None
        except OSError as exc:
            raise EvaluatorError(f"cannot start evaluator {argv[0]!r}: {exc.strerror}") from None
        if proc.returncode != 0:
            tail = _stderr_tail(proc.stderr)
            raise EvaluatorError(f"evaluator exited with status {proc.returncode}"
                                 + (f": {tail}" if tail else ""))
        text = out_path.read_text(encoding="utf-8") if python is not None else proc.stdout
    try:
        return json.loads(text)
    except ValueError as exc:
        raise EvaluatorError(f"evaluator did not return a JSON object: {exc}") from None


# ------------------------------------------------------------------ validation

def _str_list(value: Any, where: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise EvaluatorError(f"{where} must be a list of strings")
    return list(value)


def validate_result(raw: Any, *, sensor_id: str, kind: str, default_selection: Sequence[str],
                    known_assets: Callable[[str], bool], message_id: str | None,
                    poll_epoch: int) -> EvaluatorResult:
    """Check an evaluator result (A22–A27) and fill in default selections and run keys."""
    if not isinstance(raw, dict):
        raise EvaluatorError("evaluator must return a JSON object")
    unknown = sorted(set(raw) - _RESULT_KEYS)
    if unknown:
        raise EvaluatorError(f"unknown keys in evaluator result: {', '.join(unknown)}")
    raw_requests = raw.get("run_requests")
    if raw_requests is None:
        raw_requests = []
    if not isinstance(raw_requests, list):
        raise EvaluatorError("run_requests must be a list")
    skip_reason = raw.get("skip_reason")
    if skip_reason is not None and not isinstance(skip_reason, str):
        raise EvaluatorError("skip_reason must be a string")
    if skip_reason is not None and raw_requests:
        raise EvaluatorError("evaluator returned both run_requests and skip_reason")
    cursor: str | None | _Missing = MISSING
    if "cursor" in raw:
        cursor = raw["cursor"]
        if cursor is not None and not isinstance(cursor, str):
            raise EvaluatorError("cursor must be a string or null")
    requests: list[SensorRequest] = []
    keyless = 0
    for i, item in enumerate(raw_requests):
        where = f"run_requests[{i}]"
        if not isinstance(item, dict):
            raise EvaluatorError(f"{where} must be an object")
        extra = sorted(set(item) - _REQUEST_KEYS)
        if extra:
            raise EvaluatorError(f"unknown keys in {where}: {', '.join(extra)}")
        run_key = item.get("run_key")
        if run_key is None:
            run_key = default_run_key(sensor_id, kind, message_id=message_id,
                                      poll_epoch=poll_epoch, index=keyless)
            keyless += 1
        elif not isinstance(run_key, str):
            raise EvaluatorError(f"{where}.run_key must be a string")
        else:
            problem = validate_run_key(run_key)
            if problem:
                raise EvaluatorError(f"{where}.run_key {run_key!r}: {problem}")
        raw_selection = item.get("selection")
        selection_in = (list(default_selection) if raw_selection is None
                        else _str_list(raw_selection, f"{where}.selection"))
        selection: set[str] = set()
        for entry in selection_in:
            try:
                key = canonical_asset_key(entry)
            except AssetKeyError as exc:
                raise EvaluatorError(f"{where}.selection: {exc}") from None
            if not known_assets(key):
                raise EvaluatorError(f"{where}.selection: unknown asset {key!r}")
            selection.add(key)
        if not selection:
            raise EvaluatorError(f"{where}.selection must not be empty")
        partitions: set[str] = set()
        for entry in _str_list(item.get("partitions") or [], f"{where}.partitions"):
            try:
                partitions.add(canonical_partition_key(entry))
            except PartitionKeyError as exc:
                raise EvaluatorError(f"{where}.partitions: {exc}") from None
        labels_raw = item.get("labels") or {}
        if not isinstance(labels_raw, dict) or not all(
                isinstance(k, str) and k and isinstance(v, str) for k, v in labels_raw.items()):
            raise EvaluatorError(f"{where}.labels must map non-empty strings to strings")
        reserved = sorted(k for k in labels_raw if k.startswith("arco."))
        if reserved:
            raise EvaluatorError(
                f"labels cannot include reserved keys: {', '.join(reserved)}")
        requests.append(SensorRequest(run_key, sorted(selection), sorted(partitions),
                                      dict(labels_raw)))
    seen: dict[str, str] = {}
    for req in requests:
        if seen.setdefault(req.run_key, req.fingerprint) != req.fingerprint:
            raise EvaluatorError(
                f"run_requests use run key {req.run_key!r} twice with different requests")
    return EvaluatorResult(requests, cursor, skip_reason)


# ------------------------------------------------------------------ events

def run_request_object(req: SensorRequest) -> dict[str, Any]:
    """The ``RunRequest`` carried inside ``SensorEvaluated.run_requests`` (A22 labels)."""
    return {"run_key": req.run_key, "request_fingerprint": req.fingerprint,
            "asset_selection": req.selection, "partition_selection": req.partitions or None,
            "labels": req.labels or None}


def evaluation_payloads(*, sensor_id: str, kind: str, eval_id_: str, cursor_before: str | None,
                        expected_state_version: int | None, message_id: str | None,
                        poll_epoch: int, result: EvaluatorResult | None,
                        error: str | None) -> list[dict[str, Any]]:
    """``SensorEvaluated`` followed by one ``RunRequested`` per request (§7.2)."""
    requests = result.requests if result is not None and error is None else []
    if kind == "push":
        cursor_after: str | None = message_id
        trigger_source: dict[str, Any] = {"source": "push", "message_id": message_id}
    else:
        trigger_source = {"source": "poll", "poll_epoch": poll_epoch}
        if error is not None or result is None or isinstance(result.cursor, _Missing):
            cursor_after = cursor_before
        else:
            cursor_after = result.cursor
    if error is not None:
        status: dict[str, Any] = {"status": "error", "message": error}
    elif requests:
        status = {"status": "triggered"}
    else:
        status = {"status": "no_new_data"}
    evaluated: dict[str, Any] = {
        "type": "sensor_evaluated", "sensor_id": sensor_id, "eval_id": eval_id_,
        "cursor_before": cursor_before, "cursor_after": cursor_after,
        "expected_state_version": expected_state_version, "trigger_source": trigger_source,
        "run_requests": [run_request_object(r) for r in requests], "status": status,
        "skip_reason": result.skip_reason if result is not None and error is None else None,
    }
    out = [evaluated]
    source_ref = {"type": "sensor", "sensor_id": sensor_id, "eval_id": eval_id_}
    for req in requests:
        out.append({"type": "run_requested", "run_key": req.run_key,
                    "request_fingerprint": req.fingerprint, "asset_selection": req.selection,
                    "partition_selection": req.partitions or None,
                    "trigger_source_ref": source_ref, "labels": req.labels or None})
    return out
