"""Fold benchmark: full rebuild throughput, incremental fold time, peak memory.

    .venv/bin/python benchmarks/fold.py --events 10000 100000 [--keep]
    .venv/bin/python benchmarks/fold.py --read --events 10000 100000 [--keep]
    .venv/bin/python benchmarks/fold.py --compare-incremental 10000 1000000 [--repeat 7]

For each size a workspace is generated under /tmp (``/tmp/arco-bench-fold-{n}``) with a
realistic log written through the real log writer: runs with four tasks (a diamond),
retryable failures that succeed on retry (with retry timers), permanent failures that
skip downstream tasks, reruns, run-keyed requests with occasional conflicting
fingerprints, and re-delivered duplicates. Each measurement runs in a fresh subprocess so
that its peak RSS is its own.

``--read`` times the read path instead (in ``/tmp/arco-bench-read-{n}``): the wall time
of ``arco explain RUN --json``, ``arco runs --limit 20 --json`` and ``arco conflicts
--json`` through the real CLI in a subprocess, on up-to-date projections and with 100
new events that the reader folds in memory first.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z
TASKS: tuple[tuple[str, list[str]], ...] = (
    ("raw.a", []), ("raw.b", ["raw.a"]), ("raw.c", ["raw.a"]), ("raw.d", ["raw.b", "raw.c"]))


class LogBuilder:
    """Envelopes with monotonically increasing ULIDs, one millisecond apart."""

    def __init__(self) -> None:
        from arco_cli.identity import UlidGenerator

        self.ids = UlidGenerator()
        self.clock = T0
        self.lines: list[bytes] = []

    def add(self, data: dict[str, Any], key: str | None = None) -> dict[str, Any]:
        from arco_cli.events import make_event
        from arco_cli.identity import canonical_json

        self.clock += 1
        event = make_event(data, event_id=self.ids.new(self.clock), timestamp_ms=self.clock,
                           tenant_id="local", workspace_id="default", idempotency_key=key)
        self.lines.append(canonical_json(event, checked=False).encode())
        return event


def _run(log: LogBuilder, rng: random.Random, n: int, parent: str | None = None) -> str:
    from arco_cli.identity import run_id_from_run_key

    labels = {"arco.parent_run_id": parent, "arco.rerun.kind": "FROM_FAILURE"} \
        if parent else {}
    run_key = f"bench:{n}" if rng.random() < 0.5 or parent else None
    if run_key is not None:
        run_id = run_id_from_run_key("local", "default", run_key)
        fingerprint = f"{n:064x}"
        source = {"type": "manual", "user_id": "bench", "request_id": f"req_{n}"}
        log.add({"type": "run_requested", "run_key": run_key, "request_fingerprint": fingerprint,
                 "asset_selection": ["raw.d"], "trigger_source_ref": source, "labels": labels})
        if rng.random() < 0.04:  # a conflicting request for the same key
            log.add({"type": "run_requested", "run_key": run_key,
                     "request_fingerprint": f"{n + 1:064x}", "asset_selection": ["raw.a"],
                     "trigger_source_ref": source})
    else:
        run_id = "run_" + log.ids.new(T0)
    log.add({"type": "run_triggered", "run_id": run_id, "plan_id": f"plan:{run_id}",
             "trigger": {"type": "manual", "user_id": "bench"}, "root_assets": ["raw.d"],
             "run_key": run_key, "labels": labels})
    log.add({"type": "plan_created", "run_id": run_id, "plan_id": f"plan:{run_id}",
             "tasks": [{"key": k, "depends_on": d, "asset_key": k, "max_attempts": 3,
                        "heartbeat_timeout_sec": 300, "requires_visible_output": False,
                        "partition_key": f"date=d:2026-01-{1 + n % 28:02d}"}
                       for k, d in TASKS]})
    failed: set[str] = set()
    for key, deps in TASKS:
        if any(d in failed for d in deps):
            failed.add(key)  # skipped by the cascade
            continue
        attempt = 1
        roll = rng.random()
        base = {"run_id": run_id, "task_key": key, "worker_id": "w1"}
        if roll < 0.10:  # retryable failure, then success
            log.add({"type": "task_started", **base, "attempt": 1, "attempt_id": f"a{n}{key}1"})
            log.add({"type": "task_finished", **base, "attempt": 1, "attempt_id": f"a{n}{key}1",
                     "outcome": "failed", "error_message": "transient",
                     "error": {"category": "INFRASTRUCTURE", "message": "transient",
                               "retryable": True}})
            log.add({"type": "timer_requested", "timer_id": f"timer:retry:{run_id}:{key}:1:0",
                     "timer_type": "retry", "run_id": run_id, "task_key": key, "attempt": 1,
                     "fire_at": "2026-01-01T00:10:00.000Z"})
            attempt = 2
        log.add({"type": "task_started", **base, "attempt": attempt,
                 "attempt_id": f"a{n}{key}{attempt}"})
        outcome = "failed" if roll > 0.97 else "succeeded"
        extra: dict[str, Any] = {"asset_key": key,
                                 "partition_key": f"date=d:2026-01-{1 + n % 28:02d}"}
        if outcome == "failed":
            failed.add(key)
            extra.update(error_message="bad data",
                         error={"category": "DATA_QUALITY", "message": "bad data"})
        else:
            extra.update(output={"deltaTable": f"warehouse/{key}", "deltaVersion": n})
        finish = log.add({"type": "task_finished", **base, "attempt": attempt,
                          "attempt_id": f"a{n}{key}{attempt}", "outcome": outcome, **extra})
        if rng.random() < 0.01:  # a re-delivered completion
            log.add(finish["data"])
    return run_id


def generate(folder: Path, events: int, seed: int = 7) -> list[str]:
    from arco_cli.log import EventLog

    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    (folder / "arco.toml").write_text('[workspace]\ntenant = "local"\nname = "default"\n')
    rng = random.Random(seed)
    log = LogBuilder()
    n = 0
    runs: list[str] = []
    with EventLog(folder / ".arco" / "log").writer(30) as writer:
        while n < events:
            parent = runs[-1] if runs and rng.random() < 0.05 else None
            runs.append(_run(log, rng, len(runs), parent))
            if len(log.lines) >= 20_000 or n + len(log.lines) >= events:
                batch = log.lines[:events - n]
                writer.append_raw(batch)
                n += len(batch)
                log.lines = []
    return runs


def append_new_events(folder: Path, count: int = 100) -> None:
    """Append ``count`` new events (fresh runs) above every id in the log."""
    from arco_cli.identity import UlidGenerator
    from arco_cli.log import EventLog

    log_dir = folder / ".arco" / "log"
    log = LogBuilder()
    # new ids above every id in the log, as arco's writer mints them
    log.ids = UlidGenerator(EventLog(log_dir).head().max_ulid)
    log.clock = T0 + 10**9
    rng = random.Random(99)
    base = EventLog(log_dir).record_count() * 1000  # fresh run numbers per call
    while len(log.lines) < count:
        _run(log, rng, base + len(log.lines))
    with EventLog(log_dir).writer(30) as writer:
        writer.append_raw(log.lines[:count])


def measure(folder: Path, mode: str) -> dict[str, Any]:
    """Runs in a child process: one rebuild, or one incremental fold of 100 new events."""
    from arco_cli.projections import fold_workspace
    from arco_cli.workspace import Workspace

    ws = Workspace(folder, "local", "default")
    if mode == "incremental":
        append_new_events(folder)
    import pyarrow.parquet  # noqa: F401 - import time is not fold time
    started = time.perf_counter()
    cpu = time.process_time()
    data = fold_workspace(ws, rebuild=mode == "rebuild")
    elapsed = time.perf_counter() - started
    cpu = time.process_time() - cpu
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"mode": mode, "events": data["eventsFolded"], "seconds": round(elapsed, 3),
            "cpu_seconds": round(cpu, 3), "peak_rss_mib": round(peak_kib / 1024, 1)}


def _child(folder: Path, mode: str) -> dict[str, Any]:
    out = subprocess.run([sys.executable, __file__, "--measure", mode, str(folder)],
                         check=True, capture_output=True, text=True)
    result: dict[str, Any] = json.loads(out.stdout)
    return result


def _cli_seconds(folder: Path, *args: str, repeat: int = 3) -> float:
    """Best wall time of ``arco ARGS`` run as a real subprocess in ``folder``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ARCO_")}
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "arco_cli", *args], cwd=folder, env=env,
                       check=True, capture_output=True)
        best = min(best, time.perf_counter() - started)
    return round(best, 3)


def _middle_run(folder: Path) -> str:
    """A run id from the middle of an existing workspace's log."""
    from arco_cli.log import EventLog

    log = EventLog(folder / ".arco" / "log")
    for record in log.read(log.record_count() // 2):
        event = json.loads(record.raw)
        if event["event_type"] == "RunTriggered":
            return str(event["data"]["run_id"])
    raise SystemExit(f"no run in the second half of {folder}")


def read_timings(events: int, keep: bool, reuse: bool) -> dict[str, Any]:
    """Wall times of the read commands on a generated workspace of ``events`` events
    (``reuse``: the one a previous ``--read --keep`` left, without a rebuild)."""
    folder = Path(f"/tmp/arco-bench-read-{events}")
    if not (reuse and (folder / ".arco" / "log").is_dir()):
        generate(folder, events)
        _child(folder, "rebuild")
    _child(folder, "incremental")
    incremental = _child(folder, "incremental")
    run_id = _middle_run(folder)
    reads = {
        "explain_s": ("explain", run_id, "--json"),
        "runs_limit_20_s": ("runs", "--limit", "20", "--json"),
        "conflicts_s": ("conflicts", "--json"),
    }
    out: dict[str, Any] = {"events": events, "incremental_100_s": incremental["seconds"]}
    for name, args in reads.items():
        out[name] = _cli_seconds(folder, *args)
    # a reader folding 100 committed but unfolded events in memory (then writing them)
    append_new_events(folder)
    out["explain_after_100_new_s"] = _cli_seconds(folder, "explain", run_id, "--json",
                                                  repeat=1)
    out["version_s"] = _cli_seconds(folder, "--version")
    if not keep:
        shutil.rmtree(folder)
    return out


def compare_incremental(small: int, large: int, repeat: int) -> dict[str, Any]:
    """Incremental folds of 100 new events on two kept workspaces, in turn (so that the
    load of a shared machine falls on both alike): best and median of each, and ratios.
    The workspaces ``/tmp/arco-bench-fold-{n}`` are generated and rebuilt when missing."""
    folders = []
    for events in (small, large):
        folder = Path(f"/tmp/arco-bench-fold-{events}")
        if not (folder / ".arco" / "projections").exists():
            generate(folder, events)
            _child(folder, "rebuild")
            _child(folder, "incremental")  # the split of the compact files
        folders.append(folder)
    times: list[list[float]] = [[], []]
    for _ in range(repeat):
        for i, folder in enumerate(folders):
            times[i].append(_child(folder, "incremental")["seconds"])
    best = [min(t) for t in times]
    median = [statistics.median(t) for t in times]
    return {"events": [small, large], "repeat": repeat, "best_s": best, "median_s": median,
            "ratio_best": round(best[1] / best[0], 2),
            "ratio_median": round(median[1] / median[0], 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--keep", action="store_true", help="keep the generated workspaces")
    parser.add_argument("--read", action="store_true",
                        help="time the read commands instead of the fold")
    parser.add_argument("--reuse", action="store_true",
                        help="with --read: reuse a workspace kept by an earlier --read --keep")
    parser.add_argument("--compare-incremental", nargs=2, type=int, metavar=("SMALL", "LARGE"),
                        help="alternate incremental folds on two kept workspaces of these "
                             "sizes (generated under /tmp when missing) and compare them")
    parser.add_argument("--repeat", type=int, default=7,
                        help="with --compare-incremental: folds of each")
    parser.add_argument("--measure", nargs=2, metavar=("MODE", "DIR"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.compare_incremental:
        small, large = args.compare_incremental
        print(json.dumps(compare_incremental(small, large, args.repeat)))
        return
    if args.measure:
        print(json.dumps(measure(Path(args.measure[1]), args.measure[0])))
        return
    if args.read:
        for events in args.events:
            print(json.dumps(read_timings(events, args.keep, args.reuse)), flush=True)
        return
    for events in args.events:
        folder = Path(f"/tmp/arco-bench-fold-{events}")
        started = time.perf_counter()
        generate(folder, events)
        generated = time.perf_counter() - started
        rebuild = _child(folder, "rebuild")
        # the first fold after a rebuild converts the compact form into parts
        first = _child(folder, "incremental")
        incremental = _child(folder, "incremental")
        print(json.dumps({
            "events": events, "generate_s": round(generated, 1),
            "rebuild_s": rebuild["seconds"], "rebuild_cpu_s": rebuild["cpu_seconds"],
            "rebuild_events_per_s": round(rebuild["events"] / rebuild["seconds"]),
            "rebuild_events_per_cpu_s": round(rebuild["events"] / rebuild["cpu_seconds"]),
            "rebuild_peak_rss_mib": rebuild["peak_rss_mib"],
            "first_incremental_100_s": first["seconds"],
            "incremental_100_s": incremental["seconds"],
            "incremental_100_cpu_s": incremental["cpu_seconds"],
            "incremental_peak_rss_mib": incremental["peak_rss_mib"],
        }))
        if not args.keep:
            shutil.rmtree(folder)


if __name__ == "__main__":
    main()
