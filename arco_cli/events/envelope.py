"""Building arco's own event envelopes (data-model §2.1).

Every event arco writes goes through :func:`make_event`: the idempotency key is the
expected key of §3 unless a documented override is passed, ``correlation_id`` is the
payload's run id, and optional fields are dropped when ``None`` (producers never write
``null``).
"""

from __future__ import annotations

from typing import Any

from arco_cli.events.keys import expected_idempotency_key, payload_run_id
from arco_cli.events.schema import EVENT_TYPES
from arco_cli.identity import format_ms


def prune_nulls(value: Any) -> Any:
    """Drop ``None`` members of objects recursively, and empty ``labels``/``run_requests``."""
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if item is None:
                continue
            if key in ("labels", "run_requests") and not item:
                continue
            out[key] = prune_nulls(item)
        return out
    if isinstance(value, list):
        return [prune_nulls(item) for item in value]
    return value


def make_event(
    data: dict[str, Any],
    *,
    event_id: str,
    timestamp_ms: int,
    tenant_id: str,
    workspace_id: str,
    idempotency_key: str | None = None,
    causation_id: str | None = None,
) -> dict[str, Any]:
    """An envelope for payload ``data`` (which must carry its snake_case ``type``)."""
    payload = prune_nulls(data)
    envelope: dict[str, Any] = {
        "event_id": event_id,
        "event_type": EVENT_TYPES[payload["type"]],
        "event_version": 1,
        "timestamp": format_ms(timestamp_ms),
        "source": f"arco-flow/{tenant_id}/{workspace_id}",
        "tenant_id": tenant_id,
        "workspace_id": workspace_id,
        "idempotency_key": idempotency_key or expected_idempotency_key(payload),
        "data": payload,
    }
    run_id = payload_run_id(payload)
    if run_id is not None:
        envelope["correlation_id"] = run_id
    if causation_id is not None:
        envelope["causation_id"] = causation_id
    return envelope
