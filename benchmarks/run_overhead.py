"""Per-task orchestration overhead of arco's local executor, side by side with Dagster.

Usage::

    .venv/bin/python benchmarks/run_overhead.py [--tasks 200] [--repeat 5]

The DAG: ``--tasks`` no-op tasks in layers of 10, every task after the first layer
depending on two tasks of the layer before. Each tool runs it twice — all tasks as
python callables that return at once, then all as commands (``true``) — serially (arco
``max_parallel=1``; Dagster's in-process executor is serial too).

Per-task overhead = (run wall time − task time) / tasks. Task time is what the tasks
themselves cost: ≈ 0 for the python no-ops; for commands, the cost of starting and
reaping ``true`` — inside Dagster's ops it is measured by the ops themselves, for arco by
spawning ``true`` the same way (own session, output to a file) just before the run.

arco's wall time covers ``execute_run``: the python pool workers, process groups,
attempt files, every event appended durably, and the final fold of the projections.
Dagster's covers ``execute_in_process()`` on an ephemeral instance. Dagster is installed
only in its own virtualenv (``--dagster-venv``, default ``/tmp/dagster-venv``), created
on first use — never an arco dependency. Scratch data goes under ``/tmp``. The best of
``--repeat`` runs of each is reported (the machine is shared; the best run is the one
least disturbed by other load), medians are printed alongside.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any

LAYER = 10


def dag(n: int) -> dict[str, list[str]]:
    """task name → upstream names."""
    names = [f"t{i:03d}" for i in range(n)]
    deps: dict[str, list[str]] = {}
    for i, name in enumerate(names):
        layer, j = divmod(i, LAYER)
        if layer == 0:
            deps[name] = []
            continue
        base = (layer - 1) * LAYER
        ups = {base + j, base + (j + 1) % LAYER}
        deps[name] = sorted(names[u] for u in ups if u < n)
    return deps


# --------------------------------------------------------------------------- arco

def _arco_workspace(root: Path, deps: dict[str, list[str]], kind: str) -> None:
    lines = ['[workspace]\ntenant = "bench"\nname = "overhead"\n',
             "[defaults]\nmax_attempts = 1\nretry_delay_s = 0\n"]
    for name, ups in deps.items():
        lines.append(f'[assets."bench.{name}"]')
        if ups:
            lines.append("deps = " + json.dumps([f"bench.{u}" for u in ups]))
        if kind == "python":
            lines.append('python = "jobs.noop:run"')
        else:
            lines.append('run = ["true"]')
        lines.append("")
    root.mkdir(parents=True)
    (root / "arco.toml").write_text("\n".join(lines), encoding="utf-8")
    (root / "jobs").mkdir()
    (root / "jobs" / "__init__.py").write_text("")
    (root / "jobs" / "noop.py").write_text("def run(context):\n    return None\n")


def command_task_time(n: int, scratch: Path) -> float:
    """Seconds to start and reap ``true`` n times the way arco starts a command."""
    out = scratch / "true.out"
    started = time.perf_counter()
    for _ in range(n):
        with out.open("wb") as fh:
            subprocess.run(["true"], stdout=fh, stderr=fh, stdin=subprocess.DEVNULL,
                           start_new_session=True, check=True)
    return time.perf_counter() - started


def run_arco(deps: dict[str, list[str]], kind: str, scratch: Path) -> tuple[float, float]:
    """(wall seconds, task seconds) of one ``execute_run`` over the DAG."""
    from arco_cli.config import load_definition
    from arco_cli.engine.executor import execute_run
    from arco_cli.engine.planner import plan_run
    from arco_cli.events import make_event
    from arco_cli.identity import new_run_id, now_ms
    from arco_cli.log.store import EventLog
    from arco_cli.workspace import open_workspace

    root = Path(tempfile.mkdtemp(prefix=f"arco-{kind}-", dir=scratch)) / "ws"
    _arco_workspace(root, deps, kind)
    ws = open_workspace(root)
    definition = load_definition(root)
    plan = plan_run(definition, [f"bench.{name}" for name in deps])
    run_id = new_run_id()
    log = EventLog(ws.log_dir)
    log.check_scope(ws.tenant_id, ws.workspace_id)
    payloads: list[dict[str, Any]] = [
        {"type": "run_triggered", "run_id": run_id, "plan_id": f"plan:{run_id}",
         "trigger": {"type": "manual", "user_id": "bench"}, "root_assets": list(plan.root_assets)},
        {"type": "plan_created", "run_id": run_id, "plan_id": f"plan:{run_id}",
         "tasks": [t.payload() for t in plan.tasks]},
    ]
    with log.writer(10) as writer:
        ts = now_ms()
        writer.append([make_event(p, event_id=writer.new_event_id(ts), timestamp_ms=ts,
                                  tenant_id=ws.tenant_id, workspace_id=ws.workspace_id)
                       for p in payloads])
    # the fastest of three baselines: the least task time, so the most overhead for arco
    task = (min(command_task_time(len(deps), scratch) for _ in range(3))
            if kind == "command" else 0.0)
    started = time.perf_counter()
    execute_run(ws, definition, run_id, max_parallel=1, lock_timeout=10, progress=False)
    wall = time.perf_counter() - started
    from arco_cli.projections import current_state

    states = {r["state"] for r in current_state(ws, write=False).tasks_of(run_id)}
    if states != {"SUCCEEDED"}:
        raise SystemExit(f"arco {kind} run did not succeed: {states}")
    return wall, task


# --------------------------------------------------------------------------- dagster

DAGSTER_SCRIPT = '''
import json, subprocess, sys, time
from dagster import DagsterInstance, In, Nothing, job, op

deps = json.loads(sys.argv[1])
kind = sys.argv[2]
task_time = [0.0]

def make_op(name, n_ups):
    ins = {f"u{i}": In(Nothing) for i in range(n_ups)}
    @op(name=name, ins=ins)
    def _op():
        started = time.perf_counter()
        if kind == "command":
            subprocess.run(["true"], check=True)
        task_time[0] += time.perf_counter() - started
    return _op

ops = {name: make_op(name, len(ups)) for name, ups in deps.items()}

@job
def bench():
    outs = {}
    for name, ups in deps.items():
        outs[name] = ops[name](**{f"u{i}": outs[u] for i, u in enumerate(ups)})

with DagsterInstance.ephemeral() as instance:
    started = time.perf_counter()
    result = bench.execute_in_process(instance=instance)
    wall = time.perf_counter() - started
assert result.success
print(json.dumps({"wall": wall, "task": task_time[0]}))
'''


def ensure_dagster(venv: Path) -> Path:
    python = venv / "bin" / "python"
    if not python.exists():
        print(f"creating {venv} with dagster (one time)...", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", "dagster"], check=True)
    return python


def run_dagster(python: Path, deps: dict[str, list[str]], kind: str,
                scratch: Path) -> tuple[float, float]:
    """(wall seconds, task seconds) of one ``execute_in_process``."""
    script = scratch / "dagster_bench.py"
    script.write_text(textwrap.dedent(DAGSTER_SCRIPT), encoding="utf-8")
    home = Path(tempfile.mkdtemp(prefix="dagster-home-", dir=scratch))
    proc = subprocess.run([str(python), str(script), json.dumps(deps), kind],
                          capture_output=True, text=True, cwd=scratch,
                          env={"DAGSTER_HOME": str(home), "PATH": "/usr/bin:/bin"})
    if proc.returncode != 0:
        raise SystemExit(f"dagster run failed:\n{proc.stderr[-3000:]}")
    doc = json.loads(proc.stdout.strip().splitlines()[-1])
    return float(doc["wall"]), float(doc["task"])


# --------------------------------------------------------------------------- main

def create_latency_us(scratch: Path, n: int = 60) -> float:
    """Median µs to create a folder and a file in it on the scratch disk. Every attempt
    creates three inodes (its folder, stdout and stderr, decisions B5): ~20 µs each on
    a quiet disk, but many times that while other processes load the disk, which then
    dominates arco's per-task time (Dagster's in-memory instance creates none)."""
    probe = Path(tempfile.mkdtemp(prefix="probe-", dir=scratch))
    times = []
    for i in range(n):
        started = time.perf_counter()
        (probe / str(i)).mkdir()
        (probe / str(i) / "f").touch()
        times.append((time.perf_counter() - started) / 2 * 1e6)
    shutil.rmtree(probe)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--dagster-venv", type=Path, default=Path("/tmp/dagster-venv"))
    parser.add_argument("--skip-dagster", action="store_true")
    args = parser.parse_args()

    deps = dag(args.tasks)
    load_before = os.getloadavg()[0]
    scratch = Path(tempfile.mkdtemp(prefix="arco-bench-", dir="/tmp"))
    python = None if args.skip_dagster else ensure_dagster(args.dagster_venv)
    create_before = create_latency_us(scratch)
    rows = []
    try:
        for kind in ("python", "command"):
            arco: list[float] = []
            dagster: list[float] = []
            for _ in range(args.repeat):  # interleaved, so both see the same load
                wall, task = run_arco(deps, kind, scratch)
                arco.append((wall - task) / args.tasks * 1000)
                if python is not None:
                    wall, task = run_dagster(python, deps, kind, scratch)
                    dagster.append((wall - task) / args.tasks * 1000)
            row: dict[str, Any] = {"kind": kind, "tasks": args.tasks,
                                   "arcoPerTaskMs": round(min(arco), 2),
                                   "arcoMedianMs": round(statistics.median(arco), 2)}
            if dagster:
                row.update({"dagsterPerTaskMs": round(min(dagster), 2),
                            "dagsterMedianMs": round(statistics.median(dagster), 2),
                            "ratio": round(min(dagster) / min(arco), 2),
                            "medianRatio": round(statistics.median(dagster)
                                                 / statistics.median(arco), 2)})
            rows.append(row)
            print(json.dumps(row), flush=True)
        create_after = create_latency_us(scratch)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    print(f"load average (1 min): {load_before:.2f} before, {os.getloadavg()[0]:.2f} after; "
          f"creating an inode: {create_before:.0f} µs before, "
          f"{create_after:.0f} µs after (median)")
    print(f"{'tasks':>8} {'arco ms/task':>13} {'dagster ms/task':>16} {'ratio':>6} "
          f"{'median ratio':>13}")
    for row in rows:
        print(f"{row['kind']:>8} {row['arcoPerTaskMs']:>13} "
              f"{row.get('dagsterPerTaskMs', '-'):>16} {row.get('ratio', '-'):>6} "
              f"{row.get('medianRatio', '-'):>13}")


if __name__ == "__main__":
    main()
