"""The order-independent content hash of a table (data-model §9, decisions A43/A56).

Each row's *row line* is the canonical JSON array of its values in schema order plus
``\\n``; the table hash is the sum modulo 2^256 of the SHA-256 digests of the row lines,
read as big-endian integers. Being a sum, it can be extended with new rows without
re-reading the old ones (append-only tables are hashed incrementally).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from typing import Any

from arco_cli.fold.jsonenc import compact_text

_MOD = 2**256


def row_line(values: Sequence[Any]) -> bytes:
    """Values are None, bool, int or str (canonical JSON needs no key sorting here)."""
    import orjson

    try:
        return orjson.dumps(values) + b"\n"
    except TypeError:  # e.g. an integer beyond 64 bits: the standard encoder words it
        return (compact_text(list(values)) + "\n").encode("utf-8")


def hash_sum(rows: Iterable[Sequence[Any]], start: int = 0) -> int:
    # orjson writes exactly the standard compact encoding for these values (the same
    # escapes; tuples as arrays), as bytes, several times faster
    import orjson

    total = start
    sha = hashlib.sha256
    dumps = orjson.dumps
    from_bytes = int.from_bytes
    for values in rows:
        try:
            line = dumps(values) + b"\n"
        except TypeError:
            line = row_line(values)
        total += from_bytes(sha(line).digest(), "big")
    return total % _MOD


def hash_sums_by(rows: Iterable[Sequence[Any]], groups: Iterable[int],
                 count: int) -> list[int]:
    """The content hash sums of ``rows`` split by ``groups`` (one group number below
    ``count`` per row): what each part holds when a table is split later."""
    import orjson

    sums = [0] * count
    sha = hashlib.sha256
    dumps = orjson.dumps
    from_bytes = int.from_bytes
    for values, group in zip(rows, groups, strict=True):
        try:
            line = dumps(values) + b"\n"
        except TypeError:
            line = row_line(values)
        sums[group] += from_bytes(sha(line).digest(), "big")
    return [total % _MOD for total in sums]


def hex_digest(total: int) -> str:
    return f"{total % _MOD:064x}"
