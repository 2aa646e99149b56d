"""Projection test helpers: real workspaces with a real event log under tmp_path."""

from __future__ import annotations

from pathlib import Path

from arco_cli.log import EventLog
from arco_cli.workspace import Workspace
from tests.conftest import write_workspace


def make_workspace(root: Path) -> Workspace:
    write_workspace(root)
    return Workspace(root=root, tenant_id="local", workspace_id="default")


def append(ws: Workspace, lines: list[bytes]) -> None:
    with EventLog(ws.log_dir).writer(5) as writer:
        writer.append_raw(lines)
