"""Event envelope and payload types: validation, idempotency keys, construction."""

from arco_cli.events.envelope import make_event, prune_nulls
from arco_cli.events.keys import (
    RUN_ID_FROM_RUN_KEY,
    expected_idempotency_key,
    is_documented_override,
    payload_run_id,
)
from arco_cli.events.schema import (
    EVENT_TYPES,
    TYPE_TAGS,
    effective_retryable,
    validate_envelope,
    validate_payload,
)

__all__ = [
    "EVENT_TYPES",
    "RUN_ID_FROM_RUN_KEY",
    "TYPE_TAGS",
    "effective_retryable",
    "expected_idempotency_key",
    "is_documented_override",
    "make_event",
    "payload_run_id",
    "prune_nulls",
    "validate_envelope",
    "validate_payload",
]
