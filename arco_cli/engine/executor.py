"""The local executor: runs a planned run's tasks and records every attempt in the log.

Tasks start in dependency order, at most ``max_parallel`` at a time, each only when all
its upstream tasks SUCCEEDED (the fold's cascade records the others as SKIPPED). Every
attempt is a subprocess in its own process group — the ``run`` argv, or the python
worker (decisions A12) — with the environment of cli.md §2 and decisions A13, and its
stdout/stderr/log files under ``.arco/runs/<run_id>/<task_key>/<attempt>.*`` (B5).

Events (decisions A9, A10, A14): ``TaskStarted`` is appended before an attempt starts
(so that a cancellation or a crash of arco leaves a started attempt to report);
``TaskFinished`` — plus the ``retry`` ``TimerRequested`` after a retryable failure — is
appended as one batch when it ends. The writer lock is held per batch only. Ctrl-C or
SIGTERM kills the running process groups and appends ``RunCancelRequested`` followed by
one cancelled ``TaskFinished`` per running attempt, in task-key order.
"""

from __future__ import annotations

import contextlib
import getpass
import heapq
import json
import os
import queue
import signal
import socket
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import IO, TYPE_CHECKING, Any

from arco_cli.engine import process
from arco_cli.engine.outputs import (
    AttemptResult,
    MalformedOutput,
    check_reported_delta,
    failure,
    interpret,
    read_report,
    stderr_tail,
)
from arco_cli.engine.progress import RunProgress
from arco_cli.errors import ArcoError
from arco_cli.events import make_event
from arco_cli.identity import (
    attempt_id,
    canonical_json,
    format_ms,
    now_ms,
    partition_values,
    retry_timer_id,
)
from arco_cli.lineage.partitions import PartitionSpecError, hive_partition, partition_columns

if TYPE_CHECKING:
    import subprocess

    from arco_cli.config import AssetDef, WorkspaceDefinition
    from arco_cli.log.store import EventLog
    from arco_cli.workspace import Workspace

TERMINAL = frozenset({"SUCCEEDED", "FAILED", "SKIPPED", "CANCELLED"})
#: variables of the task contract; inherited values are dropped so that a nested arco
#: never leaks its own run's values into a task
TASK_ENV = ("ARCO_WORKSPACE", "ARCO_RUN_ID", "ARCO_TASK_KEY", "ARCO_ASSET_KEY",
            "ARCO_PARTITION_KEY", "ARCO_ATTEMPT", "ARCO_ATTEMPT_ID", "ARCO_OUTPUT",
            "ARCO_DELTA_TABLE", "ARCO_DELTA_PARTITION", "ARCO_PARTITION_VALUES")
_POLL_S = 0.05


@dataclass(frozen=True)
class ExecutionOutcome:
    run_id: str
    interrupted: bool  # Ctrl-C/SIGTERM: cancel batch appended and folded


@dataclass
class _Task:
    key: str
    asset_key: str | None
    partition_key: str | None
    max_attempts: int
    last_attempt: int
    upstream: list[str] = field(default_factory=list)
    downstream: list[str] = field(default_factory=list)
    unmet: int = 0


@dataclass
class _Attempt:
    task: _Task
    number: int
    attempt_id: str
    folder: Path
    kind: str                      # "run" | "python"
    delta: dict[str, Any] | None
    timeout_s: int
    proc: subprocess.Popen[bytes] | None = None
    cancelled: bool = False

    def path(self, suffix: str) -> Path:
        return self.folder / f"{self.number}.{suffix}"


def worker_id() -> str:
    return f"local:{socket.gethostname()}:{os.getpid()}"


def retry_delay_s(asset: AssetDef | None, failed_attempt: int) -> int:
    """min(retry_delay_s·2^(N−1), retry_max_delay_s) for failed attempt N (decisions A10)."""
    if asset is None:
        return 0
    return int(min(asset.retry_delay_s * 2 ** (failed_attempt - 1), asset.retry_max_delay_s))


def _requested_by() -> str:
    user = os.environ.get("ARCO_USER")
    if user:
        return user
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


@contextlib.contextmanager
def _run_lock(folder: Path, run_id: str) -> Iterator[None]:
    """Hold ``.arco/runs/<run_id>/executor.lock`` while executing (decisions B1): another
    process can tell a live executor from a dead one, and two executors never run the
    same run."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "executor.lock"
    try:
        import fcntl
    except ImportError:  # pragma: no cover - non-POSIX: liveness is not decidable there
        yield
        return
    fh: IO[str] = path.open("a+", encoding="utf-8")
    try:
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.seek(0)
            holder = fh.read().strip() or "another process"
            raise ArcoError("WORKSPACE_LOCKED",
                            f"run {run_id} is being executed by {holder}; wait for it or "
                            "cancel it") from None
        fh.seek(0)
        fh.truncate()
        fh.write(worker_id() + "\n")
        fh.flush()
        yield
    finally:
        fh.close()


class _Interrupt:
    """SIGINT/SIGTERM become a flag the scheduling loop polls: a signal never lands in
    the middle of a log append."""

    def __init__(self) -> None:
        self.signum: int | None = None
        self._previous: dict[int, Any] = {}

    def _handle(self, signum: int, _frame: FrameType | None) -> None:
        self.signum = signum

    def __enter__(self) -> _Interrupt:
        if threading.current_thread() is threading.main_thread():
            for signum in (signal.SIGINT, signal.SIGTERM):
                self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *_exc: object) -> None:
        for signum, previous in self._previous.items():
            signal.signal(signum, previous)


class _Execution:
    def __init__(self, ws: Workspace, definition: WorkspaceDefinition, run_id: str,
                 log: EventLog, tasks: dict[str, _Task], ready: list[str], *,
                 max_parallel: int, lock_timeout: float, progress: RunProgress) -> None:
        self.ws = ws
        self.definition = definition
        self.run_id = run_id
        self.log = log
        self.tasks = tasks
        self.ready = ready              # heap of task keys: deterministic start order
        heapq.heapify(self.ready)
        self.retries: list[tuple[float, str]] = []   # (monotonic due time, task key)
        self.running: dict[str, _Attempt] = {}
        self.done: queue.Queue[tuple[_Attempt, AttemptResult]] = queue.Queue()
        self.max_parallel = max(1, max_parallel)
        self.lock_timeout = lock_timeout
        self.progress = progress
        self.worker_id = worker_id()
        self.threads: list[threading.Thread] = []

    # ------------------------------------------------------------------ events

    def _append(self, payloads: list[dict[str, Any]], at_ms: int | None = None) -> int:
        """Append one batch; all its events share one timestamp, returned."""
        ts = now_ms() if at_ms is None else at_ms
        with self.log.writer(self.lock_timeout) as writer:
            envelopes = [
                make_event(p, event_id=writer.new_event_id(ts), timestamp_ms=ts,
                           tenant_id=self.ws.tenant_id, workspace_id=self.ws.workspace_id)
                for p in payloads]
            writer.append(envelopes)
        return ts

    def _finished_payload(self, att: _Attempt, result: AttemptResult) -> dict[str, Any]:
        task = att.task
        asset = self.definition.assets.get(task.asset_key or "")
        return {
            "type": "task_finished", "run_id": self.run_id, "task_key": task.key,
            "attempt": att.number, "attempt_id": att.attempt_id, "worker_id": self.worker_id,
            "outcome": result.outcome, "error_message": result.error_message,
            "error": result.error, "output": result.output, "asset_key": task.asset_key,
            "partition_key": task.partition_key or None,
            "code_version": asset.code_version if asset else None,
        }

    # ------------------------------------------------------------------ attempts

    def _start(self, key: str) -> None:
        task = self.tasks[key]
        number = task.last_attempt + 1
        task.last_attempt = number
        att_id = attempt_id(self.run_id, key, number)
        self._append([{"type": "task_started", "run_id": self.run_id, "task_key": key,
                       "attempt": number, "attempt_id": att_id,
                       "worker_id": self.worker_id}])
        asset = self.definition.assets.get(task.asset_key or "")
        folder = self.ws.runs_dir / self.run_id / key
        folder.mkdir(parents=True, exist_ok=True)
        att = _Attempt(task, number, att_id, folder, "run", None,
                       asset.timeout_s if asset else 0)
        self.running[key] = att
        problem = self._launch(att, asset)
        if problem is not None:
            self.done.put((att, problem))
            return
        thread = threading.Thread(target=self._watch, args=(att,), daemon=True,
                                  name=f"arco-attempt-{key}-{number}")
        self.threads.append(thread)
        thread.start()
        self.progress.note(f"running {', '.join(sorted(self.running))}")

    def _launch(self, att: _Attempt, asset: AssetDef | None) -> AttemptResult | None:
        task = att.task
        if asset is None:
            return failure("CONFIGURATION",
                           f"task {task.key} has no asset defined in arco.toml "
                           f"(asset key {task.asset_key!r})", False)
        try:
            columns = partition_columns(task.partition_key, asset.partitioned_by)
        except PartitionSpecError as exc:
            return failure("CONFIGURATION", str(exc), False)
        hive = hive_partition(columns)
        if asset.delta_table:
            table_path = Path(asset.delta_table)
            if not table_path.is_absolute():
                table_path = self.ws.root / table_path
            att.delta = {"table_path": str(table_path), "table_config": asset.delta_table,
                         "mode": asset.delta_mode, "partitioned_by": list(asset.partitioned_by),
                         "hive_partition": hive}
        values = partition_values(task.partition_key or "")
        env = {k: v for k, v in os.environ.items() if k not in TASK_ENV}
        env.update({
            "ARCO_WORKSPACE": str(self.ws.root), "ARCO_RUN_ID": self.run_id,
            "ARCO_TASK_KEY": task.key, "ARCO_ASSET_KEY": asset.key,
            "ARCO_PARTITION_KEY": task.partition_key or "", "ARCO_ATTEMPT": str(att.number),
            "ARCO_ATTEMPT_ID": att.attempt_id, "ARCO_OUTPUT": str(att.path("output.json")),
            "ARCO_DELTA_PARTITION": hive or "",
            "ARCO_PARTITION_VALUES": canonical_json(values),
        })
        if att.delta is not None:
            env["ARCO_DELTA_TABLE"] = att.delta["table_path"]
        att.path("output.json").unlink(missing_ok=True)
        if asset.python is not None:
            att.kind = "python"
            argv = self._worker_argv(att, asset, values, env)
        else:
            argv = list(asset.run or ())
        try:
            att.proc = process.launch(argv, cwd=self.ws.root, env=env,
                                      stdout_path=att.path("stdout"),
                                      stderr_path=att.path("stderr"))
        except OSError as exc:
            return failure("CONFIGURATION",
                           f"cannot start {argv[0] if argv else '(empty run)'!r}: "
                           f"{exc.strerror or exc}", False)
        return None

    def _worker_argv(self, att: _Attempt, asset: AssetDef, values: dict[str, Any],
                     env: dict[str, str]) -> list[str]:
        spec = {
            "python": asset.python, "workspace": str(self.ws.root), "run_id": self.run_id,
            "task_key": att.task.key, "asset_key": asset.key,
            "partition_key": att.task.partition_key or None, "partition_values": values,
            "attempt": att.number, "attempt_id": att.attempt_id,
            "log_path": str(att.path("log")), "result_path": str(att.path("output.json")),
            "delta": att.delta,
        }
        spec_path = att.path("spec.json")
        spec_path.write_text(json.dumps(spec, sort_keys=True), encoding="utf-8")
        # the worker imports arco_cli from wherever this process imported it
        package_root = str(Path(__file__).resolve().parents[2])
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (package_root, env.get("PYTHONPATH", "")) if p)
        return [sys.executable, "-m", "arco_cli.engine.worker", str(spec_path)]

    def _watch(self, att: _Attempt) -> None:
        """Runs in a thread per attempt: wait, enforce the timeout, interpret."""
        assert att.proc is not None
        timeout = att.timeout_s if att.timeout_s > 0 else None
        status = process.wait(att.proc, timeout)
        process.kill_group(att.proc.pid)  # the timed-out task, or leftovers of a finished one
        if status is None:
            att.proc.wait()
            result = failure("TIMEOUT", f"timed out after {att.timeout_s} s")
        else:
            result = self._result_of(att, status)
        self.done.put((att, result))

    def _result_of(self, att: _Attempt, status: int) -> AttemptResult:
        try:
            report = read_report(att.path("output.json"))
        except MalformedOutput as exc:
            return failure("CONFIGURATION", f"ARCO_OUTPUT {att.path('output.json')}: {exc}",
                           False)
        result = interpret(status, report, stderr_tail(att.path("stderr")))
        if att.kind == "run" and result.outcome == "succeeded" and result.output:
            output = dict(result.output)
            problem = check_reported_delta(output, att.delta, self.ws.root)
            if problem is not None:
                return failure("CONFIGURATION", problem, False)
            return AttemptResult("succeeded", output=output)
        return result

    def _finish(self, att: _Attempt, result: AttemptResult) -> None:
        task = att.task
        del self.running[task.key]
        payloads = [self._finished_payload(att, result)]
        retry = (result.outcome == "failed" and result.retryable
                 and att.number < task.max_attempts)
        asset = self.definition.assets.get(task.asset_key or "")
        delay = retry_delay_s(asset, att.number) if retry else 0
        ts = now_ms()
        if retry:
            fire_ms = ts + delay * 1000
            payloads.append({
                "type": "timer_requested",
                "timer_id": retry_timer_id(self.run_id, task.key, att.number, fire_ms // 1000),
                "timer_type": "retry", "run_id": self.run_id, "task_key": task.key,
                "attempt": att.number, "fire_at": format_ms(fire_ms)})
        self._append(payloads, ts)
        if retry:
            heapq.heappush(self.retries, (time.monotonic() + delay, task.key))
            return
        self.progress.finished()
        if result.outcome == "succeeded":
            for down in task.downstream:
                dependent = self.tasks.get(down)
                if dependent is not None:
                    dependent.unmet -= 1
                    if dependent.unmet == 0:
                        heapq.heappush(self.ready, down)

    # ------------------------------------------------------------------ loop

    def run(self, interrupt: _Interrupt) -> bool:
        """Execute until nothing can start; True when interrupted."""
        try:
            while True:
                if interrupt.signum is not None:
                    self._cancel(interrupt.signum)
                    return True
                now = time.monotonic()
                while self.retries and self.retries[0][0] <= now:
                    heapq.heappush(self.ready, heapq.heappop(self.retries)[1])
                while self.ready and len(self.running) < self.max_parallel:
                    self._start(heapq.heappop(self.ready))
                if not self.running and not self.ready and not self.retries:
                    return False
                wait = _POLL_S
                if self.retries and not self.running:
                    wait = min(wait, max(0.0, self.retries[0][0] - now))
                try:
                    att, result = self.done.get(timeout=wait)
                except queue.Empty:
                    continue
                self._finish(att, result)
        except BaseException:
            self._kill_running()
            raise

    def _kill_running(self) -> None:
        for att in self.running.values():
            att.cancelled = True
            if att.proc is not None:
                process.kill_group(att.proc.pid)
        for thread in self.threads:
            thread.join(timeout=5)

    def _cancel(self, signum: int) -> None:
        """The A14 batch: RunCancelRequested, then one cancelled TaskFinished per running
        attempt in task-key order (results that raced the signal are dropped: those
        attempts were stopped before arco recorded how they ended)."""
        self._kill_running()
        name = signal.Signals(signum).name
        reason = f"interrupted by {name}"
        payloads: list[dict[str, Any]] = [{
            "type": "run_cancel_requested", "run_id": self.run_id,
            "requested_by": _requested_by(), "reason": reason}]
        cancelled = {"category": "CANCELLED", "message": f"cancelled: {reason}",
                     "retryable": False}
        for key in sorted(self.running):
            payloads.append(self._finished_payload(
                self.running[key], AttemptResult("cancelled", error=cancelled)))
        self._append(payloads)


def _plan_tasks(state: Any, run_id: str) -> tuple[dict[str, _Task], list[str], int]:
    """Tasks of the run from the fold state; which are ready; how many are done."""
    rows = state.tasks_of(run_id)
    states = {row["task_key"]: row["state"] for row in rows}
    tasks: dict[str, _Task] = {}
    for row in rows:
        if row["state"] in TERMINAL:
            continue
        tasks[row["task_key"]] = _Task(
            key=row["task_key"], asset_key=row.get("asset_key"),
            partition_key=row.get("partition_key") or None,
            max_attempts=int(row.get("max_attempts") or 1),
            last_attempt=int(row.get("attempt") or 0))
    for edge in state.edges_of(run_id):
        up, down = edge["upstream_task_key"], edge["downstream_task_key"]
        if down not in tasks:
            continue
        tasks[down].upstream.append(up)
        if up in tasks:
            tasks[up].downstream.append(down)
        if states.get(up) != "SUCCEEDED":
            tasks[down].unmet += 1
    ready = sorted(key for key, task in tasks.items() if task.unmet == 0)
    return tasks, ready, len(rows) - len(tasks)


def execute_run(ws: Workspace, definition: WorkspaceDefinition, run_id: str, *,
                max_parallel: int, lock_timeout: float, progress: bool) -> ExecutionOutcome:
    """Run every non-terminal task of ``run_id`` whose upstreams succeed; fold at the end.

    The run's ``RunTriggered`` and ``PlanCreated`` must already be in the log.
    """
    from arco_cli.log.store import EventLog
    from arco_cli.projections import current_state, fold_workspace

    with _run_lock(ws.runs_dir / run_id, run_id):
        state = current_state(ws, write=False)
        tasks, ready, done = _plan_tasks(state, run_id)
        bar = RunProgress(run_id, len(tasks) + done, progress)
        bar.finished(done)
        execution = _Execution(ws, definition, run_id, EventLog(ws.log_dir), tasks, ready,
                               max_parallel=max_parallel, lock_timeout=lock_timeout,
                               progress=bar)
        try:
            with _Interrupt() as interrupt:
                interrupted = execution.run(interrupt)
        finally:
            bar.stop()
        fold_workspace(ws)
    return ExecutionOutcome(run_id=run_id, interrupted=interrupted)
