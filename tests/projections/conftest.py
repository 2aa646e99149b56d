"""Projection test helpers: real workspaces with a real event log under tmp_path."""

from __future__ import annotations

from pathlib import Path

import pytest

from arco_cli.log import EventLog
from arco_cli.workspace import Workspace
from tests.conftest import write_workspace


def make_workspace(root: Path) -> Workspace:
    write_workspace(root)
    return Workspace(root=root, tenant_id="local", workspace_id="default")


def append(ws: Workspace, lines: list[bytes]) -> None:
    with EventLog(ws.log_dir).writer(5) as writer:
        writer.append_raw(lines)


@pytest.fixture(params=["coupled", "fewer_parquet_buckets", "packed"])
def many_buckets(monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest) -> None:
    """Bucket counts as a big log would get them, for a small test log."""
    from arco_cli.projections import fold_state

    monkeypatch.setattr(fold_state, "KEYS_PER_RUN_BUCKET", 1)
    monkeypatch.setattr(fold_state, "KEYS_PER_KEY_BUCKET", 1)
    if request.param == "fewer_parquet_buckets":
        # the per-run Parquet files split in fewer buckets than the pickled state, as
        # at 1M events (each Parquet bucket then spans several state buckets)
        monkeypatch.setattr(fold_state, "MAX_RUN_BUCKETS", 2)
    if request.param == "packed":
        # every bucket write goes into a pack file, as a rebuild's does
        from arco_cli.projections import objects

        monkeypatch.setattr(objects, "PACK_MIN_BUCKETS", 1)
