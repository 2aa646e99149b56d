"""The commit point (``log/COMMIT``): how much of the log readers may see.

A batch becomes visible only when ``COMMIT`` is atomically replaced after the batch's
bytes were fsynced (decisions A50). Everything past the committed byte length of the last
segment is a torn tail: readers ignore it, the next writer truncates it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from arco_cli.errors import ArcoError
from arco_cli.identity import canonical_json
from arco_cli.log.durability import write_atomically

COMMIT_NAME = "COMMIT"
COMMIT_FORMAT = 1


@dataclass(frozen=True)
class CommitPoint:
    """A consistent snapshot of the committed log."""

    records: int
    """committed records across all segments (the next record's offset)"""
    segment: int
    """first offset of the last segment (its file is ``{segment:012d}.jsonl``)"""
    segment_bytes: int
    """committed byte length of the last segment"""
    max_event_id: str | None
    """greatest ``event_id`` in string order: where a full fold's watermark ends"""
    max_ulid: str | None
    """greatest ULID-shaped id, upper-cased (decisions A49): the floor for new ids"""

    def position(self) -> tuple[int, int]:
        """Where the next record will begin: (its segment, the byte in it). Valid for as
        long as the log exists: committed bytes are never moved."""
        return self.segment, self.segment_bytes

    def to_json(self) -> str:
        doc: dict[str, Any] = {
            "format": COMMIT_FORMAT,
            "records": self.records,
            "segment": self.segment,
            "segment_bytes": self.segment_bytes,
        }
        if self.max_event_id is not None:
            doc["max_event_id"] = self.max_event_id
        if self.max_ulid is not None:
            doc["max_ulid"] = self.max_ulid
        return canonical_json(doc)


EMPTY = CommitPoint(records=0, segment=0, segment_bytes=0, max_event_id=None, max_ulid=None)


def _corrupt(path: Path, why: str) -> ArcoError:
    return ArcoError("CORRUPT_LOG", f"{path}: the commit point is unreadable: {why}; "
                     "the log cannot be read safely", {"file": str(path)})


def read_commit(log_dir: Path) -> CommitPoint:
    """The committed point; an absent ``COMMIT`` means nothing was ever committed."""
    path = log_dir / COMMIT_NAME
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return EMPTY
    try:
        doc = json.loads(raw)
    except ValueError as exc:
        raise _corrupt(path, f"not JSON ({exc})") from exc
    if not isinstance(doc, dict) or doc.get("format") != COMMIT_FORMAT:
        raise _corrupt(path, f"expected format {COMMIT_FORMAT}")
    numbers = [doc.get(k) for k in ("records", "segment", "segment_bytes")]
    if not all(isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in numbers):
        raise _corrupt(path, "records, segment and segment_bytes must be integers >= 0")
    records, segment, segment_bytes = (int(n) for n in numbers)  # type: ignore[arg-type]
    if segment > records:
        raise _corrupt(path, "the last segment starts after the last record")
    ids = [doc.get(k) for k in ("max_event_id", "max_ulid")]
    if not all(i is None or isinstance(i, str) for i in ids):
        raise _corrupt(path, "max_event_id and max_ulid must be strings")
    return CommitPoint(records, segment, segment_bytes, ids[0], ids[1])


def write_commit(log_dir: Path, point: CommitPoint) -> None:
    write_atomically(log_dir / COMMIT_NAME, point.to_json().encode("utf-8"))
