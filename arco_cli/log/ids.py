"""Reading ``event_id`` out of raw log records without parsing whole records.

Ingest de-duplicates against the whole log and the writer tracks the greatest ids of
every batch, so this must be fast: a regex over a chunk of lines, with a full JSON parse
only for records the regex cannot vouch for.

Why the regex is sound: in valid JSON the byte sequence ``"event_id"`` followed by ``:``
can only be an object key (inside a string the quotes would be escaped). A record whose
line holds exactly one such key therefore holds it at the top level.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from typing import Any

from arco_cli.errors import ArcoError
from arco_cli.identity import is_ulid

_KEY = b'"event_id"'
_KEY_VALUE = re.compile(rb'"event_id"\s*:\s*"([^"\\]*)"')


def corrupt_record(offset: int, why: str) -> ArcoError:
    # details shaped like the fold's CORRUPT_LOG (which may name several offsets)
    return ArcoError("CORRUPT_LOG", f"log record at offset {offset} is corrupt: {why}",
                     {"offsets": [offset]})


def parse_record(raw: bytes, offset: int) -> dict[str, Any]:
    """One record as a JSON object; CORRUPT_LOG naming its offset when it is not one."""
    try:
        doc = json.loads(raw)
    except ValueError as exc:
        raise corrupt_record(offset, f"not JSON ({exc})") from None
    if not isinstance(doc, dict):
        raise corrupt_record(offset, "not a JSON object")
    return doc


def event_id_of(raw: bytes, offset: int) -> str:
    """The top-level ``event_id`` of one record; CORRUPT_LOG when it has none."""
    if raw.count(_KEY) == 1:
        match = _KEY_VALUE.search(raw)
        if match is not None:
            try:
                return match.group(1).decode("utf-8")
            except UnicodeDecodeError:
                pass
    event_id = parse_record(raw, offset).get("event_id")
    if not isinstance(event_id, str) or not event_id:
        raise corrupt_record(offset, "no string event_id")
    return event_id


def event_ids_of(lines: Sequence[bytes], first_offset: int) -> list[str]:
    """The ids of consecutive records starting at ``first_offset``."""
    if lines:
        chunk = b"\n".join(lines)
        if chunk.count(_KEY) == len(lines):
            values = _KEY_VALUE.findall(chunk)
            if len(values) == len(lines):
                try:
                    return [v.decode("utf-8") for v in values]
                except UnicodeDecodeError:
                    pass
    return [event_id_of(raw, first_offset + i) for i, raw in enumerate(lines)]


def greatest_ulid(ids: Iterable[str], floor: str | None = None) -> str | None:
    """The greatest ULID-shaped id, compared upper-cased (decisions A49)."""
    best = floor
    for event_id in ids:
        if is_ulid(event_id):
            upper = event_id.upper()
            if best is None or upper > best:
                best = upper
    return best


def greatest_id(ids: Iterable[str], floor: str | None = None) -> str | None:
    """The greatest id in plain string order (the fold's order, data-model invariant 3)."""
    best = floor
    for event_id in ids:
        if best is None or event_id > best:
            best = event_id
    return best
