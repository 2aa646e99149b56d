"""Attempt folders made ahead on the helper thread: real folders and files."""

from __future__ import annotations

import time
from pathlib import Path

from arco_cli.engine.folders import FolderPreparer


def _made(preparer: FolderPreparer, key: str, timeout: float = 10) -> None:
    """Wait until the helper thread has dealt with ``key``."""
    deadline = time.monotonic() + timeout
    while key in preparer._wanted:
        assert time.monotonic() < deadline
        time.sleep(0.005)


def test_a_requested_attempt_is_claimed_with_its_empty_files(tmp_path: Path) -> None:
    preparer = FolderPreparer(tmp_path)
    preparer.request([("raw.orders", 2)])
    _made(preparer, "raw.orders")
    assert preparer.claim("raw.orders", 2) is True
    assert sorted(p.name for p in (tmp_path / "raw.orders").iterdir()) == [
        "2.stderr", "2.stdout"]
    assert (tmp_path / "raw.orders" / "2.stdout").read_bytes() == b""
    preparer.close()
    assert (tmp_path / "raw.orders" / "2.stdout").exists()   # claimed: kept


def test_an_unrequested_or_other_attempt_is_left_to_the_executor(tmp_path: Path) -> None:
    preparer = FolderPreparer(tmp_path)
    assert preparer.claim("raw.orders", 1) is False
    preparer.request([("raw.orders", 1)])
    _made(preparer, "raw.orders")
    assert preparer.claim("raw.orders", 2) is False
    preparer.close()


def test_an_existing_folder_is_not_prepared(tmp_path: Path) -> None:
    (tmp_path / "raw.orders").mkdir()
    (tmp_path / "raw.orders" / "1.stdout").write_text("from a died execution")
    preparer = FolderPreparer(tmp_path)
    preparer.request([("raw.orders", 2)])
    _made(preparer, "raw.orders")
    assert preparer.claim("raw.orders", 2) is False
    preparer.close()
    assert sorted(p.name for p in (tmp_path / "raw.orders").iterdir()) == ["1.stdout"]


def test_close_removes_what_was_made_for_attempts_that_never_started(tmp_path: Path) -> None:
    preparer = FolderPreparer(tmp_path)
    preparer.request([("raw.a", 1), ("raw.b", 1), ("raw.c", 3)])
    for key in ("raw.a", "raw.b", "raw.c"):
        _made(preparer, key)
    assert preparer.claim("raw.b", 1) is True
    preparer.close()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["raw.b"]


def test_a_claim_while_queued_takes_the_task_back(tmp_path: Path) -> None:
    preparer = FolderPreparer(tmp_path)
    keys = [f"t{i:03d}" for i in range(200)]
    preparer.request((key, 1) for key in keys)
    claimed = {key: preparer.claim(key, 1) for key in reversed(keys)}
    preparer.close()
    # every task is either prepared and claimed, or taken back before its turn and
    # left alone; nothing is left behind either way
    for key, fresh in claimed.items():
        assert (tmp_path / key).exists() is fresh
        if fresh:
            assert (tmp_path / key / "1.stdout").exists()
