"""Fixtures for the event-log tests: a fresh log folder and envelope factories."""

from __future__ import annotations

import contextlib
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from arco_cli.events import make_event
from arco_cli.log import EventLog
from tests.conftest import ROOT


def cancel_event(event_id: str, run: str = "run_a", tenant: str = "local",
                 workspace: str = "default") -> dict[str, Any]:
    """A small valid envelope (a RunCancelRequested) with the given id."""
    return make_event({"type": "run_cancel_requested", "run_id": run, "requested_by": "t"},
                      event_id=event_id, timestamp_ms=1_735_689_600_000, tenant_id=tenant,
                      workspace_id=workspace)


@pytest.fixture
def log(tmp_path: Path) -> EventLog:
    return EventLog(tmp_path / "log")


_HOLDER = """
import sys
from pathlib import Path
from arco_cli.log import EventLog
from tests.conftest import ROOT
with EventLog(Path(sys.argv[1])).writer(timeout=5):
    print("held", flush=True)
    sys.stdin.read()
"""


@contextlib.contextmanager
def writer_lock_held_elsewhere(log_dir: Path) -> Iterator[None]:
    """Hold the log's writer lock from another process for the duration of the block."""
    proc = subprocess.Popen([sys.executable, "-c", _HOLDER, str(log_dir)],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                            cwd=ROOT)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
        yield
    finally:
        assert proc.stdin is not None
        proc.stdin.close()
        proc.wait(timeout=10)
