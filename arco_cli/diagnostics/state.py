"""The read-only view of the fold state that every diagnostic reads.

Diagnostics depend on this protocol rather than on ``arco_cli.fold.FoldState`` so that
they stay pure functions of rows: the real fold state satisfies it structurally, and so
does any in-memory stand-in filled with §9 rows.
"""

from __future__ import annotations

import json
from typing import Any, Protocol

from arco_cli.identity import format_ms


class FoldView(Protocol):
    tenant_id: str
    workspace_id: str

    def rows(self, table: str) -> list[dict[str, Any]]: ...

    def get(self, table: str, pk: tuple[Any, ...]) -> dict[str, Any] | None: ...

    def tasks_of(self, run_id: str) -> list[dict[str, Any]]: ...

    def edges_of(self, run_id: str) -> list[dict[str, Any]]: ...

    def outcomes_of(self, run_id: str) -> list[dict[str, Any]]: ...


def iso(ms: int | None) -> str | None:
    """Epoch ms → ``YYYY-MM-DDTHH:MM:SS.sssZ`` (decisions B6: UTC, never relative)."""
    return None if ms is None else format_ms(ms)


def json_column(value: str | None, default: Any) -> Any:
    """A canonical-JSON column value parsed, ``default`` when the column is null."""
    if value is None or value == "":
        return default
    return json.loads(value)


def put(out: dict[str, Any], key: str, value: Any) -> None:
    """Set an optional read-shape field: optional fields are omitted when null."""
    if value is not None:
        out[key] = value
