"""Compact JSON encoders for the hot path of the fold and the content hash.

``json.dumps`` / ``JSONEncoder.encode`` build a new C encoder on every call; at a few
hundred thousand calls per fold that setup costs as much as the encoding itself, so the
encoders here are built once. Output is byte-for-byte that of
``json.dumps(value, separators=(",", ":"), ensure_ascii=False[, sort_keys=True])`` for the
acyclic JSON values the fold handles (no circular-reference check: parsed JSON has no
cycles).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

#: the C accelerator (None without it, e.g. on another interpreter)
_c_make_encoder: Any = getattr(json.encoder, "c_make_encoder", None)


def _unserializable(value: Any) -> Any:
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def _build(sort_keys: bool) -> Callable[[Any], str]:
    if _c_make_encoder is None:  # pragma: no cover
        return json.JSONEncoder(sort_keys=sort_keys, separators=(",", ":"),
                                ensure_ascii=False).encode
    chunks = _c_make_encoder(None, _unserializable, json.encoder.encode_basestring, None,
                             ":", ",", sort_keys, False, True)
    join = "".join

    def encode(value: Any) -> str:
        return join(chunks(value, 0))
    return encode


#: canonical JSON text (sorted keys, no whitespace, UTF-8 kept as is)
canonical_text = _build(True)
#: JSON text with keys in insertion order (rows of values, pre-ordered objects)
compact_text = _build(False)
