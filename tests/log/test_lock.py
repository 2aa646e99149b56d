from __future__ import annotations

import time

import pytest

from arco_cli.errors import ArcoError
from arco_cli.log import EventLog
from tests.log.conftest import cancel_event, writer_lock_held_elsewhere

ULID_A = "01JAAAAAAAAAAAAAAAAAAAAAAA"


def test_second_writer_gives_up_after_the_timeout_naming_the_lock(log: EventLog) -> None:
    with log.writer(timeout=1) as w:
        w.append([cancel_event(ULID_A)])
    with writer_lock_held_elsewhere(log.log_dir):
        started = time.monotonic()
        with pytest.raises(ArcoError) as err, log.writer(timeout=0.3):
            pass
        waited = time.monotonic() - started
    assert err.value.code == "WORKSPACE_LOCKED" and err.value.exit_code == 2
    assert err.value.details == {"lockPath": str(log.lock_path), "timeoutSeconds": 0.3}
    assert str(log.lock_path) in err.value.message and "0.3 s" in err.value.message
    assert 0.25 <= waited < 3


def test_readers_never_wait_for_the_writer_lock(log: EventLog) -> None:
    with log.writer(timeout=1) as w:
        w.append([cancel_event(ULID_A)])
    with writer_lock_held_elsewhere(log.log_dir):
        started = time.monotonic()
        assert [r.offset for r in log.read()] == [0]
        assert list(log.event_ids()) == [ULID_A]
        assert time.monotonic() - started < 2  # the holder keeps the lock far longer


def test_lock_is_free_again_after_the_holder_exits(log: EventLog) -> None:
    with writer_lock_held_elsewhere(log.log_dir):
        pass
    with log.writer(timeout=0) as w:
        w.append([cancel_event(ULID_A)])
    assert log.record_count() == 1
