"""A SIGKILLed ``arco ingest`` never leaves a partial event and never loses an
acknowledged one (architecture invariant; decisions A50, A55)."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

from arco_cli.log import EventLog
from tests.conftest import ROOT, run_arco, write_workspace
from tests.log.conftest import cancel_event

EVENTS = 8000  # eight group-committed batches of 1000
SEED = 20250101


def _input(path: Path) -> list[bytes]:
    lines = [json.dumps(cancel_event(f"01J{i:023d}", run=f"run_{i}")).encode()
             for i in range(EVENTS)]
    path.write_bytes(b"\n".join(lines) + b"\n")
    return lines


def _ingest_killed(ws: Path, source: Path, rng: random.Random,
                   wait_for: int) -> tuple[list[str], int]:
    """Start ``arco -v ingest``, let ``wait_for`` batches be acknowledged (0: none, kill at
    a random instant of the first 0.4 s), then SIGKILL it at a random point; return its
    acknowledgement lines and the number of bytes past the commit point it left."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ARCO_")}
    env["NO_COLOR"] = "1"
    proc = subprocess.Popen([sys.executable, "-m", "arco_cli", "-w", str(ws), "-v", "ingest",
                             str(source)], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    assert proc.stderr is not None
    acks: list[str] = []
    while len(acks) < wait_for:
        line = proc.stderr.readline()
        if not line:
            break
        if line.startswith("ingest: committed"):
            acks.append(line)
    # lands inside the next batch's write/fsync/commit (or anywhere, without a wait)
    time.sleep(rng.uniform(0, 0.03) if wait_for else rng.uniform(0.05, 0.4))
    proc.send_signal(signal.SIGKILL)
    _out, rest = proc.communicate(timeout=30)
    acks.extend(line for line in rest.splitlines() if line.startswith("ingest: committed"))
    log_dir = ws / ".arco" / "log"
    head = EventLog(log_dir).head()
    segment = log_dir / f"{head.segment:012d}.jsonl"
    torn = segment.stat().st_size - head.segment_bytes if segment.exists() else 0
    return acks, torn


def _check_log(log: EventLog, lines: list[bytes], acks: list[str]) -> int:
    records = [r.raw for r in log.read()]
    # no partial or repeated event: the log is exactly a prefix of the input
    assert records == lines[:len(records)]
    for record in records:
        json.loads(record)
    # every acknowledged batch is there
    for ack in acks:
        last_offset = int(ack.split("offsets ")[1].split(" ")[0].split("-")[1])
        last_id = ack.rsplit("last ", 1)[1].rstrip(")\n")
        assert len(records) > last_offset
        assert json.loads(records[last_offset])["event_id"] == last_id
    return len(records)


def test_killed_ingest_leaves_no_partial_event_and_keeps_every_acknowledged_one(
        tmp_path: Path) -> None:
    ws = write_workspace(tmp_path / "ws")
    source = tmp_path / "big.jsonl"
    lines = _input(source)
    log = EventLog(ws / ".arco" / "log")
    rng = random.Random(SEED)
    progress = []
    for wait_for in (0, 1, 2, 1):
        # (whether a kill leaves a torn tail is timing; test_store pins the repair)
        acks, _torn = _ingest_killed(ws, source, rng, wait_for)
        progress.append(_check_log(log, lines, acks))
    assert progress == sorted(progress)  # acknowledged work is never undone
    # a clean re-run completes the log: duplicates are skipped, the torn tail is cut
    res = run_arco("-w", str(ws), "ingest", str(source), "--json")
    assert res.returncode == 0, res.stderr
    assert res.envelope["data"]["appended"] + res.envelope["data"]["duplicates"] == EVENTS
    assert res.envelope["data"]["appended"] == EVENTS - progress[-1]
    assert [r.raw for r in log.read()] == lines
    head = log.head()
    assert (ws / ".arco" / "log" / f"{head.segment:012d}.jsonl").stat().st_size == \
        head.segment_bytes
