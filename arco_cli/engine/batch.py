"""What every writer of arco's own events shares: the log opened against the workspace
scope, one atomic batch of envelopes, the folded state, and who is asking.
"""

from __future__ import annotations

import getpass
import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from arco_cli.events import make_event

if TYPE_CHECKING:
    from arco_cli.fold import FoldState
    from arco_cli.log import EventLog, LogWriter
    from arco_cli.workspace import Workspace


def user_id() -> str:
    """``$ARCO_USER``, else the OS login name (decisions A7)."""
    user = os.environ.get("ARCO_USER")
    if user:
        return user
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (containers): still a stable name
        return "unknown"


def open_log(ws: Workspace) -> EventLog:
    """The workspace's log, refusing a log recorded for another scope (decisions B4)."""
    from arco_cli.log import EventLog

    log = EventLog(ws.log_dir)
    log.check_scope(ws.tenant_id, ws.workspace_id)
    return log


def fold_now(ws: Workspace, *, write: bool = True) -> FoldState:
    """The fold state at the end of the log (projections written when the lock is free)."""
    from arco_cli.projections import current_state

    return current_state(ws, write=write)


class Batch:
    """Envelopes of one atomic append: one timestamp, increasing event ids."""

    def __init__(self, ws: Workspace, writer: LogWriter, at_ms: int) -> None:
        self.ws = ws
        self.writer = writer
        self.at_ms = at_ms
        self.events: list[dict[str, Any]] = []

    def add(self, payload: dict[str, Any], *, causation_id: str | None = None,
            idempotency_key: Callable[[str], str] | None = None) -> str:
        """Append ``payload``; ``idempotency_key`` builds a documented override from the
        new event id (the ``:rev:{event_id}`` key needs it)."""
        event_id = self.writer.new_event_id(self.at_ms)
        self.events.append(make_event(
            payload, event_id=event_id, timestamp_ms=self.at_ms, tenant_id=self.ws.tenant_id,
            workspace_id=self.ws.workspace_id, causation_id=causation_id,
            idempotency_key=idempotency_key(event_id) if idempotency_key else None))
        return event_id

    def commit(self) -> None:
        if self.events:
            self.writer.append(self.events)
