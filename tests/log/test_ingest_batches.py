"""The ingest pipeline's batching, in process: lock per batch, re-check between batches."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Sequence
from pathlib import Path

import pytest

from arco_cli.errors import ArcoError
from arco_cli.log import EventLog
from arco_cli.log.ingest import IncomingEvent, append_events, read_inputs
from tests.log.conftest import cancel_event, writer_lock_held_elsewhere


def _inputs(tmp_path: Path, count: int) -> tuple[Path, list[str]]:
    ids = [f"01J{i:023d}" for i in range(count)]
    path = tmp_path / "in.jsonl"
    path.write_text("".join(json.dumps(cancel_event(i, run=f"run_{i}")) + "\n" for i in ids))
    return path, ids


def test_events_another_writer_commits_between_batches_are_skipped_not_doubled(
        log: EventLog, tmp_path: Path) -> None:
    path, ids = _inputs(tmp_path, 6)
    inputs = read_inputs([str(path)], "local", "default", lambda: b"")
    raced = inputs.events[4]

    def other_writer_appends(first: int, batch: Sequence[IncomingEvent]) -> None:
        if first == 0:
            with log.writer(timeout=1) as w:
                w.append_raw([raced.raw])

    report = append_events(log, inputs, timeout=1, on_batch=other_writer_appends,
                           batch_events=2)
    assert report.appended == 5 and report.duplicates == 1
    logged = list(log.event_ids())
    assert sorted(logged) == ids and len(logged) == 6
    assert logged[2] == raced.event_id


def test_lock_lost_between_batches_reports_what_was_already_appended(
        log: EventLog, tmp_path: Path) -> None:
    path, ids = _inputs(tmp_path, 5)
    inputs = read_inputs([str(path)], "local", "default", lambda: b"")
    with contextlib.ExitStack() as stack:
        def hold_lock_after_first_batch(first: int, batch: Sequence[IncomingEvent]) -> None:
            stack.enter_context(writer_lock_held_elsewhere(log.log_dir))

        with pytest.raises(ArcoError) as err:
            append_events(log, inputs, timeout=0.2, on_batch=hold_lock_after_first_batch,
                          batch_events=2)
    assert err.value.code == "WORKSPACE_LOCKED"
    assert "2 events were appended before this" in err.value.message
    assert list(log.event_ids()) == ids[:2]
    report = append_events(log, inputs, timeout=1)
    assert (report.appended, report.duplicates) == (3, 2)
    assert list(log.event_ids()) == ids
