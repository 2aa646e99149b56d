"""Properties of the log over generated batch splits and crash points."""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from arco_cli.identity import canonical_json
from arco_cli.log import EventLog
from arco_cli.log.segments import segment_path
from tests.log.conftest import cancel_event

EVENTS = [cancel_event(f"01J{i:023d}") for i in range(30)]
LINES = [canonical_json(e).encode() for e in EVENTS]


def _split(sizes: list[int]) -> list[list[int]]:
    batches, start = [], 0
    for size in sizes:
        if start >= len(EVENTS):
            break
        batches.append(list(range(start, min(start + size, len(EVENTS)))))
        start += size
    return batches


@settings(max_examples=20, deadline=None)
@given(sizes=st.lists(st.integers(1, 10), min_size=1, max_size=6),
       segment_max=st.sampled_from([400, 1500, 64 * 1024 * 1024]),
       start=st.integers(0, 32))
def test_any_batch_split_and_segment_size_reads_back_the_same_records(
        sizes: list[int], segment_max: int, start: int) -> None:
    batches = _split(sizes)
    with tempfile.TemporaryDirectory() as tmp:
        log = EventLog(Path(tmp) / "log", segment_max_bytes=segment_max)
        for batch in batches:  # a lock hold per batch, as writers do (decisions A52)
            with log.writer(timeout=1) as w:
                w.append([EVENTS[i] for i in batch])
        count = sum(len(b) for b in batches)
        assert [r.raw for r in log.read()] == LINES[:count]
        assert [(r.offset, r.raw) for r in log.read(start)] == \
            [(i, LINES[i]) for i in range(start, count)]


@settings(max_examples=20, deadline=None)
@given(committed=st.integers(0, 10), torn=st.integers(1, 5), cut=st.floats(0, 1))
def test_a_crash_at_any_byte_of_a_batch_leaves_exactly_the_committed_records(
        committed: int, torn: int, cut: float) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        log = EventLog(Path(tmp) / "log")
        if committed:
            with log.writer(timeout=1) as w:
                w.append(EVENTS[:committed])
        # the batch that was being written when the process died: any prefix of it
        pending = b"".join(line + b"\n" for line in LINES[committed:committed + torn])
        log.log_dir.mkdir(parents=True, exist_ok=True)
        with segment_path(log.log_dir, 0).open("ab") as fh:
            fh.write(pending[:int(len(pending) * cut)])
        assert [r.raw for r in log.read()] == LINES[:committed]
        with log.writer(timeout=1) as w:
            w.append(EVENTS[committed:committed + 1])
        assert [r.raw for r in log.read()] == LINES[:committed + 1]
