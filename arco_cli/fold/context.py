"""What a fold rule sees of the event being folded, and what it returns."""

from __future__ import annotations

from typing import Any

#: (outcome, reason, detail) of one fold rule
Result = tuple[str, str | None, str | None]

APPLIED: Result = ("applied", None, None)


def rejected(reason: str, detail: str) -> Result:
    return ("rejected", reason, detail)


class Event:
    """The envelope values the rules need; ``diags`` collects (code, message) pairs."""

    __slots__ = ("event_id", "ts", "event_type", "diags", "data")

    def __init__(self, event_id: str, ts: int, event_type: str, data: dict[str, Any]) -> None:
        self.event_id = event_id
        self.ts = ts
        self.event_type = event_type
        self.data = data
        self.diags: list[tuple[str, str]] = []

    def diag(self, code: str, message: str) -> None:
        self.diags.append((code, message))
