from __future__ import annotations

import json
from pathlib import Path

import pytest

from arco_cli.errors import ArcoError
from arco_cli.identity import canonical_json
from arco_cli.log import EventLog
from arco_cli.log.segments import list_segments, segment_path
from tests.log.conftest import cancel_event

ULID_A = "01JAAAAAAAAAAAAAAAAAAAAAAA"
ULID_B = "01JBBBBBBBBBBBBBBBBBBBBBBB"


def test_appended_batches_read_back_in_order_with_offsets(log: EventLog) -> None:
    first = [cancel_event(f"01J00000000000000000000{i:03d}") for i in range(3)]
    second = [cancel_event("01J00000000000000000000100")]
    with log.writer(timeout=1) as w:
        assert w.append(first) == 0
        assert w.append(second) == 3
    records = list(log.read())
    assert [r.offset for r in records] == [0, 1, 2, 3]
    assert [r.raw for r in records] == [canonical_json(e).encode() for e in first + second]
    assert log.record_count() == 4
    assert [r.offset for r in log.read(2)] == [2, 3]
    assert list(log.read(4)) == []


def test_raw_records_are_stored_verbatim(log: EventLog) -> None:
    raw = b'{ "event_id" : "evt-1",  "data": {"z": 1, "a": 2} }'
    with log.writer(timeout=1) as w:
        w.append_raw([raw])
    assert [r.raw for r in log.read()] == [raw]
    assert list(log.event_ids()) == ["evt-1"]


def test_raw_record_without_an_event_id_is_refused(log: EventLog) -> None:
    with log.writer(timeout=1) as w, pytest.raises(ArcoError):
        w.append_raw([b"not json"])
    assert log.record_count() == 0


def test_raw_record_with_a_newline_is_refused(log: EventLog) -> None:
    with log.writer(timeout=1) as w, pytest.raises(ValueError):
        w.append_raw([b'{"event_id":"a",\n"x":1}'])
    assert log.record_count() == 0


def test_empty_or_missing_log_reads_nothing(tmp_path: Path) -> None:
    log = EventLog(tmp_path / "nowhere")
    assert log.record_count() == 0
    assert list(log.read()) == []
    assert not (tmp_path / "nowhere").exists()


def test_readers_see_only_committed_bytes(log: EventLog) -> None:
    with log.writer(timeout=1) as w:
        w.append([cancel_event(ULID_A)])
    # A batch whose bytes reached the segment but whose commit never happened.
    with segment_path(log.log_dir, 0).open("ab") as fh:
        fh.write(canonical_json(cancel_event(ULID_B)).encode() + b"\n")
    assert [json.loads(r.raw)["event_id"] for r in log.read()] == [ULID_A]
    assert log.record_count() == 1


@pytest.mark.parametrize("tail", [
    pytest.param(b'{"event_id":"01JBBBBBBBBBBBBBB', id="truncated-mid-record"),
    pytest.param(b"\x00" * 4096, id="nul-filled-block"),
    pytest.param(b'{"event_id":"x"}\n{"event_id":"y"', id="partial-batch"),
])
def test_torn_tail_is_ignored_then_cut_by_the_next_writer(log: EventLog, tail: bytes) -> None:
    with log.writer(timeout=1) as w:
        w.append([cancel_event(ULID_A)])
    segment = segment_path(log.log_dir, 0)
    committed = segment.read_bytes()
    with segment.open("ab") as fh:
        fh.write(tail)
    assert [r.raw for r in log.read()] == [committed.rstrip(b"\n")]
    with log.writer(timeout=1) as w:
        assert w.repaired_bytes == len(tail)
        assert segment.read_bytes() == committed
        w.append([cancel_event(ULID_B)])
    assert [json.loads(r.raw)["event_id"] for r in log.read()] == [ULID_A, ULID_B]


def test_torn_first_batch_before_any_commit_is_cut(log: EventLog) -> None:
    log.log_dir.mkdir(parents=True)
    segment_path(log.log_dir, 0).write_bytes(b'{"event_id":"a"}\n{"ev')
    assert list(log.read()) == []
    with log.writer(timeout=1) as w:
        assert w.repaired_bytes == 21
        w.append([cancel_event(ULID_A)])
    assert [json.loads(r.raw)["event_id"] for r in log.read()] == [ULID_A]


@pytest.mark.parametrize("damage", ["nul", "empty-line", "short-segment", "garbage"])
def test_damage_before_the_commit_point_is_corrupt_log(log: EventLog, damage: str) -> None:
    with log.writer(timeout=1) as w:
        w.append([cancel_event(ULID_A), cancel_event(ULID_B)])
    segment = segment_path(log.log_dir, 0)
    data = bytearray(segment.read_bytes())
    if damage == "nul":
        data[5:9] = b"\x00\x00\x00\x00"
    elif damage == "empty-line":
        data[0:1] = b"\n"
    elif damage == "short-segment":
        data = data[:-10]
    else:
        line = data.index(b"\n")
        data[:line] = b"x" * line
    segment.write_bytes(bytes(data))
    with pytest.raises(ArcoError) as err:
        list(log.event_ids())
    assert err.value.code == "CORRUPT_LOG"
    if damage == "short-segment":  # the writer refuses to extend a log missing bytes
        with pytest.raises(ArcoError) as err, log.writer(timeout=1):
            pass
        assert err.value.code == "CORRUPT_LOG"


def test_corrupt_record_error_names_its_offset(log: EventLog) -> None:
    with log.writer(timeout=1) as w:
        w.append([cancel_event(ULID_A)])
        w.append_raw([b'{"event_id":"evt-1"}'])
    segment = segment_path(log.log_dir, 0)
    damaged = segment.read_bytes().replace(b'{"event_id":"evt-1"}', b"not json, 20 bytes!")
    segment.write_bytes(damaged)
    with pytest.raises(ArcoError) as err:
        list(log.event_ids())
    assert err.value.code == "CORRUPT_LOG"
    assert err.value.details == {"offsets": [1]}
    assert "offset 1" in err.value.message


def test_segments_roll_over_and_offsets_continue_across_them(tmp_path: Path) -> None:
    log = EventLog(tmp_path / "log", segment_max_bytes=2000)
    events = [cancel_event(f"01J0000000000000000000{i:04d}") for i in range(40)]
    with log.writer(timeout=1) as w:
        for i in range(0, 40, 4):
            w.append(events[i:i + 4])
    firsts = list_segments(log.log_dir)
    assert len(firsts) > 3 and firsts[0] == 0
    assert all(segment_path(log.log_dir, f).stat().st_size <= 2000 for f in firsts)
    assert [json.loads(r.raw)["event_id"] for r in log.read()] == [e["event_id"] for e in events]
    assert [r.offset for r in log.read(firsts[2] + 1)] == list(range(firsts[2] + 1, 40))


def test_reading_from_a_recorded_position_skips_the_scan_and_reads_the_same_records(
        tmp_path: Path) -> None:
    log = EventLog(tmp_path / "log", segment_max_bytes=2000)
    events = [cancel_event(f"01J0000000000000000000{i:04d}") for i in range(40)]
    positions = {}
    with log.writer(timeout=1) as w:
        for i in range(0, 40, 4):
            positions[i] = log.head().position()  # where the batch about to go will begin
            w.append(events[i:i + 4])
    head = log.head()
    for start, position in positions.items():
        seeked = [(first, lines) for first, lines in log.read_batches(start, head, position)]
        scanned = list(log.read_batches(start, head))
        assert [r for _, lines in seeked for r in lines] == \
            [r for _, lines in scanned for r in lines]
        assert seeked[0][0] == start


def test_a_position_that_is_not_a_record_boundary_falls_back_to_scanning(
        log: EventLog) -> None:
    events = [cancel_event(f"01J00000000000000000000{i:03d}") for i in range(3)]
    with log.writer(timeout=1) as w:
        w.append(events)
    head = log.head()
    wrong = (head.segment, 5)  # inside the first record
    assert [r for _, lines in log.read_batches(1, head, wrong) for r in lines] == \
        [canonical_json(e).encode() for e in events[1:]]


def test_uncommitted_new_segment_is_ignored_then_removed(tmp_path: Path) -> None:
    log = EventLog(tmp_path / "log", segment_max_bytes=100)
    with log.writer(timeout=1) as w:
        w.append([cancel_event(ULID_A)])
    orphan = segment_path(log.log_dir, 1)
    orphan.write_bytes(b'{"event_id":"half')
    assert log.record_count() == 1 and len(list(log.read())) == 1
    with log.writer(timeout=1):
        pass
    assert not orphan.exists()


def test_new_event_ids_are_above_the_greatest_ulid_compared_upper_cased(log: EventLog) -> None:
    lower = "7zzzzzzzzzzzzzzzzzzzzzzzz0"  # the greatest ULID in the log, lower-case (A49)
    with log.writer(timeout=1) as w:
        w.append_raw([b'{"event_id":"%s"}' % lower.encode(), b'{"event_id":"evt-zzz"}'])
    assert log.head().max_ulid == lower.upper()
    assert log.head().max_event_id == "evt-zzz"  # plain string order, the fold's order
    with log.writer(timeout=1) as w:
        minted = [w.new_event_id(at_ms=0) for _ in range(3)]
    assert minted == sorted(minted) and len(set(minted)) == 3
    assert all(m > lower.upper() for m in minted)


def test_new_event_ids_follow_the_clock_and_stay_monotonic(log: EventLog) -> None:
    with log.writer(timeout=1) as w:
        first = w.new_event_id(at_ms=2_000_000_000_000)
        w.append([cancel_event(first)])
    with log.writer(timeout=1) as w:
        later = w.new_event_id(at_ms=1_000_000_000_000)  # clock went backwards
    assert later > first


def test_event_ids_fall_back_to_parsing_when_nested_keys_are_present(log: EventLog) -> None:
    nested = b'{"data":{"event_id":"inner","type":"x"},"event_id":"outer"}'
    escaped = b'{"event_id":"a\\"b"}'
    with log.writer(timeout=1) as w:
        w.append_raw([nested, escaped, b'{"event_id":"plain"}'])
    assert list(log.event_ids()) == ["outer", 'a"b', "plain"]


def test_scope_is_recorded_on_creation_and_a_different_scope_is_refused(
        log: EventLog, tmp_path: Path) -> None:
    log.check_scope("local", "default")
    assert not log.log_dir.exists()  # nothing recorded until the log is created
    with log.writer(timeout=1) as w:
        w.append([cancel_event(ULID_A)])
    again = EventLog(log.log_dir)
    again.check_scope("local", "default")
    with pytest.raises(ArcoError) as err:
        again.check_scope("acme", "default")
    assert err.value.code == "SCOPE_MISMATCH"
    assert "'local'" in err.value.message and "'acme'" in err.value.message
    assert err.value.details is not None
    assert err.value.details["logScope"] == {"tenant": "local", "workspace": "default"}
