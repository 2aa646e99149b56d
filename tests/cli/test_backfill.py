"""``arco backfill …`` end to end: chunking, concurrency, lifecycle, retry-failed, resume."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.triggers.workspaces import PY, arco_json, events, make_workspace


def fail_partition(ws: Path, day: str) -> Path:
    marker = ws / f"fail-date=d_{day}"
    marker.write_text("", encoding="utf-8")
    return marker


def test_run_plans_chunks_within_the_concurrency_bound_and_succeeds(tmp_path: Path) -> None:
    ws = make_workspace(tmp_path / "ws")
    created = arco_json(ws, "backfill", "create", "raw.events", "--partitions",
                        "2025-01-01..2025-01-05", "--chunk-size", "2",
                        "--max-concurrent-runs", "2", "--id", "jan", expect=0)
    assert created["data"] == {"backfillId": "jan", "totalPartitions": 5, "chunks": 3,
                               "created": True}
    (bf_created,) = events(ws, "BackfillCreated")
    # the compact selector with canonical bounds (decisions A33, C5)
    assert bf_created["data"]["partition_selector"] == {
        "type": "range", "start": "date=d:2025-01-01", "end": "date=d:2025-01-05"}
    assert events(ws, "BackfillChunkPlanned") == []   # create executes nothing

    env = arco_json(ws, "backfill", "run", "jan", expect=0)
    data = env["data"]
    assert data["state"] == "SUCCEEDED"
    assert data["status"] == "finished"
    assert data["progress"] == {"total": 3, "planned": 3, "succeeded": 3, "failed": 0}
    assert [c["partitionKeys"] for c in data["chunks"]] == [
        ["date=d:2025-01-01", "date=d:2025-01-02"], ["date=d:2025-01-03", "date=d:2025-01-04"],
        ["date=d:2025-01-05"]]
    assert [c["runKey"] for c in data["chunks"]] == [
        "backfill:jan:chunk:0", "backfill:jan:chunk:1", "backfill:jan:chunk:2"]
    # at most two chunks are planned before their runs are created and executed
    kinds = [e["event_type"] for e in events(ws)
             if e["event_type"] in ("BackfillChunkPlanned", "RunTriggered")]
    assert kinds == ["BackfillChunkPlanned", "BackfillChunkPlanned", "RunTriggered",
                     "RunTriggered", "BackfillChunkPlanned", "RunTriggered"]
    (done,) = events(ws, "BackfillStateChanged")
    assert done["data"] == {"type": "backfill_state_changed", "backfill_id": "jan",
                            "from_state": "RUNNING", "to_state": "SUCCEEDED",
                            "state_version": 2, "changed_by": "controller"}
    assert arco_json(ws, "backfill", "list", expect=0)["data"]["backfills"][0][
        "state"] == "SUCCEEDED"


def test_retry_failed_targets_only_the_failed_partitions_and_is_idempotent(
        tmp_path: Path) -> None:
    ws = make_workspace(tmp_path / "ws")
    marker = fail_partition(ws, "2025-01-03")
    arco_json(ws, "backfill", "create", "raw.events", "--partitions",
              "2025-01-01..2025-01-04", "--chunk-size", "2", "--id", "jan", expect=0)
    env = arco_json(ws, "backfill", "run", "jan", expect=1)
    assert env["data"]["state"] == "FAILED"
    assert [c["state"] for c in env["data"]["chunks"]] == ["SUCCEEDED", "FAILED"]

    retry = arco_json(ws, "backfill", "retry-failed", "jan", expect=0)["data"]
    assert retry["partitionSelector"] == {"type": "explicit",
                                          "partition_keys": ["date=d:2025-01-03"]}
    assert retry["parentBackfillId"] == "jan"
    assert retry["created"] is True
    again = arco_json(ws, "backfill", "retry-failed", "jan", expect=0)["data"]
    assert (again["backfillId"], again["created"]) == (retry["backfillId"], False)
    assert len(events(ws, "BackfillCreated")) == 2
    (retry_event,) = [e for e in events(ws, "BackfillCreated")
                      if e["data"].get("parent_backfill_id")]
    assert retry_event["idempotency_key"] == (
        f"backfill_retry:jan:{retry_event['data']['client_request_id']}")

    marker.unlink()
    done = arco_json(ws, "backfill", "run", retry["backfillId"], expect=0)["data"]
    assert (done["state"], done["totalPartitions"]) == ("SUCCEEDED", 1)


def test_pause_resume_cancel_follow_the_transition_table(tmp_path: Path) -> None:
    ws = make_workspace(tmp_path / "ws")
    arco_json(ws, "backfill", "create", "raw.events", "--partition", "2025-01-02",
              "--partition", "date=d:2025-01-01", "--id", "bf", expect=0)
    paused = arco_json(ws, "backfill", "pause", "bf", expect=0)["data"]
    assert (paused["state"], paused["stateVersion"]) == ("PAUSED", 2)
    assert paused["partitionSelector"]["partition_keys"] == [
        "date=d:2025-01-01", "date=d:2025-01-02"]
    stale = arco_json(ws, "backfill", "resume", "bf", "--expected-version", "1", expect=2)
    assert stale["errors"][0] == {
        "code": "VERSION_CONFLICT", "message": "Version conflict: expected 1, found 2",
        "details": {"backfillId": "bf", "expected": 1, "actual": 2}}
    not_running = arco_json(ws, "backfill", "run", "bf", expect=0)["data"]
    assert (not_running["status"], not_running["chunks"]) == ("not_running", [])
    resumed = arco_json(ws, "backfill", "resume", "bf", "--expected-version", "2",
                        expect=0)["data"]
    assert (resumed["state"], resumed["stateVersion"]) == ("RUNNING", 3)
    cancelled = arco_json(ws, "backfill", "cancel", "bf", expect=0)["data"]
    assert cancelled["state"] == "CANCELLED"
    assert arco_json(ws, "backfill", "resume", "bf", expect=2)["errors"][0][
        "code"] == "INVALID_TRANSITION"
    changes = [e["data"]["to_state"] for e in events(ws, "BackfillStateChanged")]
    assert changes == ["PAUSED", "RUNNING", "CANCELLED"]   # refusals appended nothing


def test_create_is_idempotent_per_id_and_validates_partitioning(tmp_path: Path) -> None:
    ws = make_workspace(tmp_path / "ws")
    args = ["backfill", "create", "raw.events", "--partitions", "2025-01-01..2025-01-03",
            "--id", "bf"]
    arco_json(ws, *args, expect=0)
    assert arco_json(ws, *args, expect=0)["data"]["created"] is False
    assert arco_json(ws, *args, "--chunk-size", "1", expect=2)["errors"][0][
        "code"] == "BACKFILL_EXISTS"
    assert arco_json(ws, "backfill", "create", "raw.orders", "--partitions",
                     "2025-01-01..2025-01-03", expect=2)["errors"][0][
        "code"] == "PARTITION_MISMATCH"
    assert arco_json(ws, "backfill", "create", "raw.events", "--partitions",
                     "2025-01-03..2025-01-01", expect=2)["errors"][0][
        "code"] == "INVALID_PARTITION_KEY"
    assert arco_json(ws, "backfill", "show", "nope", expect=2)["errors"][0][
        "code"] == "UNKNOWN_BACKFILL"
    assert len(events(ws, "BackfillCreated")) == 1


def test_interrupted_run_pauses_and_resume_then_run_finishes_the_rest(tmp_path: Path) -> None:
    ws = make_workspace(tmp_path / "ws")
    (ws / "int-date=d_2025-01-02").write_text("", encoding="utf-8")
    arco_json(ws, "backfill", "create", "raw.events", "--partitions",
              "2025-01-01..2025-01-03", "--chunk-size", "1", "--max-concurrent-runs", "1",
              "--id", "bf", expect=0)
    env = arco_json(ws, "backfill", "run", "bf", expect=130)
    assert env["errors"][0]["code"] == "INTERRUPTED"
    assert env["data"]["state"] == "PAUSED"
    assert [c["state"] for c in env["data"]["chunks"]] == ["SUCCEEDED", "FAILED"]
    pause = events(ws, "BackfillStateChanged")[-1]["data"]
    assert (pause["to_state"], pause["changed_by"]) == ("PAUSED", "interrupt")

    arco_json(ws, "backfill", "resume", "bf", expect=0)
    rest = arco_json(ws, "backfill", "run", "bf", expect=1)["data"]
    assert [c["state"] for c in rest["chunks"]] == ["SUCCEEDED", "FAILED", "SUCCEEDED"]
    assert rest["state"] == "FAILED"
    retry = arco_json(ws, "backfill", "retry-failed", "bf", expect=0)["data"]
    assert retry["partitionSelector"]["partition_keys"] == ["date=d:2025-01-02"]


#: records its start and end (monotonic ns) in spans/<partition>, holding 0.4 s in between
SPAN_JOB = (
    f'[{PY}, "-c", "import os, pathlib, time; '
    "p = pathlib.Path('spans'); p.mkdir(exist_ok=True); start = time.monotonic_ns(); "
    "time.sleep(0.4); "
    "(p / os.environ['ARCO_PARTITION_KEY'].replace(':', '_')).write_text("
    "f'{start} {time.monotonic_ns()}')\"]"
)


def test_chunk_runs_execute_side_by_side_up_to_the_concurrency_limit(tmp_path: Path) -> None:
    ws = make_workspace(tmp_path / "ws", f"""
[assets."raw.spans"]
run = {SPAN_JOB}
partitioned_by = ["date"]
""")
    arco_json(ws, "backfill", "create", "raw.spans", "--partitions", "2025-01-01..2025-01-02",
              "--chunk-size", "1", "--max-concurrent-runs", "2", "--id", "par", expect=0)
    assert arco_json(ws, "backfill", "run", "par", expect=0)["data"]["state"] == "SUCCEEDED"
    spans = sorted(tuple(map(int, f.read_text().split())) for f in (ws / "spans").iterdir())
    assert len(spans) == 2
    (first_start, first_end), (second_start, _) = spans
    assert second_start < first_end  # the two chunk runs overlapped


#: runs while hold.flag exists (at most 20 s); `started` tells the test it is running
HOLD_JOB = (
    f'[{PY}, "-c", "import os, pathlib, time; pathlib.Path(\'started\').touch(); t = time.time(); '
    "[time.sleep(0.05) for _ in iter(lambda: os.path.exists('hold.flag') "
    "and time.time() - t < 20, False)]\"]"
)


def test_ctrl_c_pauses_the_backfill_before_its_chunk_runs_are_cancelled(tmp_path: Path) -> None:
    ws = make_workspace(tmp_path / "ws", f"""
[assets."raw.held"]
run = {HOLD_JOB}
partitioned_by = ["date"]
""")
    (ws / "hold.flag").write_text("", encoding="utf-8")
    arco_json(ws, "backfill", "create", "raw.held", "--partition", "2025-01-01",
              "--id", "held", expect=0)
    env = {k: v for k, v in os.environ.items() if not k.startswith("ARCO_")}
    proc = subprocess.Popen([sys.executable, "-m", "arco_cli", "-w", str(ws), "--json",
                             "backfill", "run", "held"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)
    deadline = time.monotonic() + 30
    while not (ws / "started").exists():
        assert time.monotonic() < deadline and proc.poll() is None, proc.communicate()
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 130, out
    assert json.loads(out)["data"]["state"] == "PAUSED"
    kinds = [e["event_type"] for e in events(ws)]
    assert kinds.index("BackfillStateChanged") < kinds.index("RunCancelRequested")
    (cancelled,) = [e for e in events(ws, "TaskFinished")]
    assert cancelled["data"]["outcome"] == "cancelled"
