"""Segment files: ``log/{first_offset:012d}.jsonl``, one record per line (decisions A50)."""

from __future__ import annotations

import re
from pathlib import Path

#: a new segment is started when a batch would grow the last one beyond this size
SEGMENT_MAX_BYTES = 64 * 1024 * 1024

_SEGMENT_RE = re.compile(r"^(\d{12})\.jsonl$")


def segment_path(log_dir: Path, first_offset: int) -> Path:
    return log_dir / f"{first_offset:012d}.jsonl"


def list_segments(log_dir: Path) -> list[int]:
    """First offsets of the segment files present, ascending (committed or not)."""
    try:
        names = [entry.name for entry in log_dir.iterdir()]
    except FileNotFoundError:
        return []
    firsts = []
    for name in names:
        match = _SEGMENT_RE.match(name)
        if match is not None:
            firsts.append(int(match.group(1)))
    return sorted(firsts)
