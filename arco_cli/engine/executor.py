"""The local executor: runs a planned run's tasks and records every attempt in the log.

Tasks start in dependency order, at most ``max_parallel`` at a time, each only when all
its upstream tasks SUCCEEDED (the fold's cascade records the others as SKIPPED). Every
attempt runs in its own process group — the ``run`` argv, or a python pool worker
(decisions A12) — with the environment of cli.md §2 and decisions A13, and writes
``.arco/runs/<run_id>/<task_key>/<attempt>.stdout|stderr|log`` (B5).

One thread schedules: it waits with a selector on the exits of command processes
(pidfds), the answers of pool workers, task deadlines, retry due times and a signal
wake-up pipe, so a finished task is noticed without thread hand-offs. Events (A9, A10,
A14) go through :class:`~arco_cli.engine.appender.EventAppender`, which group-commits
them in order (waiting at most a commit delay for company): ``TaskStarted`` when an
attempt starts, ``TaskFinished`` plus the ``retry`` ``TimerRequested`` in one batch when
it ends. Ctrl-C or SIGTERM kills the running process groups and appends
``RunCancelRequested`` followed by one cancelled ``TaskFinished`` per running attempt, in
task-key order. Everything is durable, and the projections folded, before
:func:`execute_run` returns.
"""

from __future__ import annotations

import contextlib
import heapq
import os
import selectors
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import IO, TYPE_CHECKING, Any

from arco_cli.engine import process
from arco_cli.engine.appender import EventAppender
from arco_cli.engine.batch import user_id
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
from arco_cli.engine.worker_host import PoolWorker
from arco_cli.errors import ArcoError
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
#: how often exits are polled where pidfds are unavailable (non-Linux)
_POLL_S = 0.005


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
    folder_existed: bool = True
    proc: subprocess.Popen[bytes] | None = None
    pidfd: int | None = None
    worker: PoolWorker | None = None
    deadline: float | None = None   # monotonic
    timed_out: bool = False
    report: dict[str, Any] | None = None   # a python worker's answer

    @property
    def pid(self) -> int | None:
        if self.proc is not None:
            return self.proc.pid
        return self.worker.pid if self.worker is not None else None

    def path(self, suffix: str) -> Path:
        return self.folder / f"{self.number}.{suffix}"


def worker_id() -> str:
    return f"local:{socket.gethostname()}:{os.getpid()}"


def retry_delay_s(asset: AssetDef | None, failed_attempt: int) -> int:
    """min(retry_delay_s·2^(N−1), retry_max_delay_s) for failed attempt N (decisions A10)."""
    if asset is None:
        return 0
    return int(min(asset.retry_delay_s * 2 ** (failed_attempt - 1), asset.retry_max_delay_s))


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
    """SIGINT/SIGTERM become a flag plus a byte on a wake-up pipe the scheduling loop
    selects on: a signal never lands in the middle of a log append."""

    def __init__(self) -> None:
        self.signum: int | None = None
        self.wakeup_fd: int | None = None
        self._write_fd: int | None = None
        self._previous: dict[int, Any] = {}
        self._previous_wakeup = -1

    def _handle(self, signum: int, _frame: FrameType | None) -> None:
        self.signum = signum

    def __enter__(self) -> _Interrupt:
        if threading.current_thread() is threading.main_thread():
            self.wakeup_fd, self._write_fd = os.pipe()
            os.set_blocking(self.wakeup_fd, False)
            os.set_blocking(self._write_fd, False)
            self._previous_wakeup = signal.set_wakeup_fd(self._write_fd)
            for signum in (signal.SIGINT, signal.SIGTERM):
                self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def drain(self) -> None:
        if self.wakeup_fd is not None:
            with contextlib.suppress(BlockingIOError):
                while os.read(self.wakeup_fd, 4096):
                    pass

    def __exit__(self, *_exc: object) -> None:
        for signum, previous in self._previous.items():
            signal.signal(signum, previous)
        if self.wakeup_fd is not None and self._write_fd is not None:
            signal.set_wakeup_fd(self._previous_wakeup)
            os.close(self.wakeup_fd)
            os.close(self._write_fd)


class _Execution:
    def __init__(self, ws: Workspace, definition: WorkspaceDefinition, run_id: str,
                 log: EventLog, tasks: dict[str, _Task], ready: list[str], *,
                 max_parallel: int, lock_timeout: float, progress: RunProgress,
                 clock: Callable[[], int]) -> None:
        self.ws = ws
        self.definition = definition
        self.run_id = run_id
        self.tasks = tasks
        self.ready = ready              # heap of task keys: deterministic start order
        heapq.heapify(self.ready)
        self.retries: list[tuple[float, str]] = []   # (monotonic due time, task key)
        self.running: dict[str, _Attempt] = {}
        self.max_parallel = max(1, max_parallel)
        self.progress = progress
        self.worker_id = worker_id()
        self.appender = EventAppender(ws, log, lock_timeout, clock)
        self.selector = selectors.DefaultSelector()
        self.polled: list[_Attempt] = []        # command attempts without a pidfd
        self.idle_workers: list[PoolWorker] = []
        self.run_dir = ws.runs_dir / run_id
        #: what every task process inherits: this process's environment minus TASK_ENV
        self.base_env = {k: v for k, v in os.environ.items() if k not in TASK_ENV}
        self._worker_env: dict[str, str] | None = None

    # ------------------------------------------------------------------ events

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

    # ------------------------------------------------------------------ starting

    def _start(self, key: str) -> None:
        task = self.tasks[key]
        number = task.last_attempt + 1
        task.last_attempt = number
        att_id = attempt_id(self.run_id, key, number)
        started = {"type": "task_started", "run_id": self.run_id, "task_key": key,
                   "attempt": number, "attempt_id": att_id, "worker_id": self.worker_id}
        asset = self.definition.assets.get(task.asset_key or "")
        folder = self.run_dir / key
        try:
            folder.mkdir(parents=True)
            fresh = True
        except FileExistsError:
            fresh = False
        att = _Attempt(task, number, att_id, folder, "run", None,
                       asset.timeout_s if asset else 0, folder_existed=not fresh)
        self.running[key] = att
        problem = self._launch(att, asset)
        self.appender.submit(lambda _ts: [started], wake=False)
        if problem is not None:
            self._finish(att, problem)
            return
        if att.timeout_s > 0:
            att.deadline = time.monotonic() + att.timeout_s
        if self.progress.enabled:
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
        task_env = {
            "ARCO_WORKSPACE": str(self.ws.root), "ARCO_RUN_ID": self.run_id,
            "ARCO_TASK_KEY": task.key, "ARCO_ASSET_KEY": asset.key,
            "ARCO_PARTITION_KEY": task.partition_key or "", "ARCO_ATTEMPT": str(att.number),
            "ARCO_ATTEMPT_ID": att.attempt_id, "ARCO_DELTA_PARTITION": hive or "",
            "ARCO_PARTITION_VALUES": canonical_json(values),
        }
        if att.delta is not None:
            task_env["ARCO_DELTA_TABLE"] = att.delta["table_path"]
        if asset.python is not None:
            att.kind = "python"
            # a python task reports by what it returns: ARCO_OUTPUT is for commands
            return self._launch_python(att, asset, values, task_env)
        task_env["ARCO_OUTPUT"] = str(att.path("output.json"))
        if att.folder_existed:
            # a report left by an execution that died is not this attempt's
            att.path("output.json").unlink(missing_ok=True)
        argv = list(asset.run or ())
        if not argv:
            return failure("CONFIGURATION", f"asset {asset.key} has an empty run = []", False)
        try:
            att.proc = process.launch(argv, cwd=self.ws.root, env={**self.base_env, **task_env},
                                      stdout_path=att.path("stdout"),
                                      stderr_path=att.path("stderr"))
        except OSError as exc:
            return failure("CONFIGURATION",
                           f"cannot start {argv[0]!r}: "
                           f"{exc.strerror or exc}", False)
        try:
            att.pidfd = os.pidfd_open(att.proc.pid)
        except (AttributeError, OSError):   # not Linux ≥ 5.3: poll instead
            self.polled.append(att)
        else:
            self.selector.register(att.pidfd, selectors.EVENT_READ, att)
        return None

    def _launch_python(self, att: _Attempt, asset: AssetDef, values: dict[str, Any],
                       task_env: dict[str, str]) -> AttemptResult | None:
        spec = {
            "python": asset.python, "workspace": str(self.ws.root), "run_id": self.run_id,
            "task_key": att.task.key, "asset_key": asset.key,
            "partition_key": att.task.partition_key or None, "partition_values": values,
            "attempt": att.number, "attempt_id": att.attempt_id,
            # the pool's environment is base_env: only the task's variables travel
            "env": task_env,
            "log_path": str(att.path("log")),
            "stdout_path": str(att.path("stdout")), "stderr_path": str(att.path("stderr")),
            "delta": att.delta,
        }
        while self.idle_workers:
            worker = self.idle_workers.pop()
            if worker.send(spec):
                break
            self._drop_worker(worker)
        else:
            worker = self._new_worker()
            if not worker.send(spec):
                self._drop_worker(worker)
                return failure("INFRASTRUCTURE", "the python worker could not be started")
        att.worker = worker
        # workers stay registered; the key's data says whose answer is awaited (changing
        # only the data costs no system call)
        self.selector.modify(worker, selectors.EVENT_READ, att)
        return None

    def _drop_worker(self, worker: PoolWorker) -> None:
        self.selector.unregister(worker)
        worker.close()

    def _new_worker(self) -> PoolWorker:
        if self._worker_env is None:
            env = dict(self.base_env)
            # the worker imports arco_cli from wherever this process imported it
            package_root = str(Path(__file__).resolve().parents[2])
            env["PYTHONPATH"] = os.pathsep.join(
                p for p in (package_root, env.get("PYTHONPATH", "")) if p)
            self._worker_env = env
        worker = PoolWorker(cwd=self.ws.root, env=self._worker_env,
                            stderr_path=self.ws.runs_dir / self.run_id / "worker.stderr")
        self.selector.register(worker, selectors.EVENT_READ, worker)
        return worker

    # ------------------------------------------------------------------ ending

    def _ended(self, att: _Attempt) -> tuple[bool, int]:
        """Whether the attempt ended (and its exit status); reaps and deregisters it."""
        if att.proc is not None:
            status = att.proc.poll()
            if status is None:
                return False, 0
            if att.pidfd is not None:
                self.selector.unregister(att.pidfd)
                os.close(att.pidfd)
            else:
                self.polled.remove(att)
            process.kill_group(att.proc.pid)  # leftovers of a finished command
            return True, status
        worker = att.worker
        assert worker is not None
        answers, gone = worker.receive()
        if not answers and not gone:
            return False, 0
        if answers:
            att.report = answers[0].get("report")
        if answers and not gone and not att.timed_out:
            self.selector.modify(worker, selectors.EVENT_READ, worker)
            self.idle_workers.append(worker)
            return True, int(answers[0]["status"])
        # killed (timeout, crash, os._exit in task code): reap it; a new one replaces it
        status = int(answers[0]["status"]) if answers else worker.exit_status()
        self._drop_worker(worker)
        return True, status

    def _result_of(self, att: _Attempt, status: int) -> AttemptResult:
        if att.timed_out:
            return failure("TIMEOUT", f"timed out after {att.timeout_s} s")
        if att.kind == "python":
            # the worker's answer: already checked there (Delta writes, returned dicts)
            return interpret(status, att.report, lambda: stderr_tail(att.path("stderr")))
        try:
            report = read_report(att.path("output.json"))
        except MalformedOutput as exc:
            return failure("CONFIGURATION", f"ARCO_OUTPUT {att.path('output.json')}: {exc}",
                           False)
        result = interpret(status, report, lambda: stderr_tail(att.path("stderr")))
        if result.outcome == "succeeded" and result.output:
            output = dict(result.output)
            problem = check_reported_delta(output, att.delta, self.ws.root)
            if problem is not None:
                return failure("CONFIGURATION", problem, False)
            return AttemptResult("succeeded", output=output)
        return result

    def _finish(self, att: _Attempt, result: AttemptResult) -> None:
        task = att.task
        del self.running[task.key]
        finished = self._finished_payload(att, result)
        retry = (result.outcome == "failed" and result.retryable
                 and att.number < task.max_attempts)
        asset = self.definition.assets.get(task.asset_key or "")
        delay = retry_delay_s(asset, att.number) if retry else 0

        def batch(ts: int) -> list[dict[str, Any]]:
            if not retry:
                return [finished]
            # A10: the failed attempt's number; fire_at = this TaskFinished's timestamp
            fire_ms = ts + delay * 1000
            return [finished, {
                "type": "timer_requested",
                "timer_id": retry_timer_id(self.run_id, task.key, att.number, fire_ms // 1000),
                "timer_type": "retry", "run_id": self.run_id, "task_key": task.key,
                "attempt": att.number, "fire_at": format_ms(fire_ms)}]

        self.appender.submit(batch, wake=False)
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
        """Execute until nothing can start; True when interrupted. Every event is
        durable when this returns."""
        if interrupt.wakeup_fd is not None:
            self.selector.register(interrupt.wakeup_fd, selectors.EVENT_READ, None)
        try:
            interrupted = self._loop(interrupt)
            for worker in self.idle_workers:
                worker.shutdown()   # they exit while the events are flushed and folded
            self.appender.flush()
            return interrupted
        except BaseException:
            self._kill_running()
            raise
        finally:
            self.appender.close()
            self.selector.close()

    def reap_workers(self) -> None:
        """Make sure every pool worker left has exited (see :meth:`run`)."""
        for worker in self.idle_workers:
            worker.close()
        self.idle_workers.clear()

    def _timeout(self, now: float) -> float | None:
        """How long the selector may wait: until the next deadline or retry."""
        due = [att.deadline for att in self.running.values()
               if att.deadline is not None and not att.timed_out]
        if self.retries:
            due.append(self.retries[0][0])
        wait = max(0.0, min(due) - now) if due else None
        if self.polled:
            wait = _POLL_S if wait is None else min(wait, _POLL_S)
        return wait

    def _loop(self, interrupt: _Interrupt) -> bool:
        while True:
            if self.appender.error is not None:
                raise self.appender.error
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
            for att in list(self.running.values()):
                if att.deadline is not None and att.deadline <= now and not att.timed_out:
                    att.timed_out = True
                    if att.pid is not None:
                        process.kill_group(att.pid)
            candidates = [key.data for key, _ in self.selector.select(self._timeout(now))]
            candidates += list(self.polled)
            for att in candidates:
                if att is None:
                    interrupt.drain()
                    continue
                if isinstance(att, PoolWorker):  # an idle worker died: forget it
                    self.idle_workers.remove(att)
                    self._drop_worker(att)
                    continue
                ended, status = self._ended(att)
                if ended:
                    self._finish(att, self._result_of(att, status))

    def _kill_running(self) -> None:
        """Kill every running attempt's process group and reap it."""
        for att in self.running.values():
            if att.pid is not None:
                process.kill_group(att.pid)
        for att in self.running.values():
            if att.proc is not None:
                att.proc.wait()
                if att.pidfd is not None:
                    os.close(att.pidfd)
            elif att.worker is not None:
                att.worker.exit_status()
                att.worker.close()

    def _cancel(self, signum: int) -> None:
        """The A14 batch: RunCancelRequested, then one cancelled TaskFinished per running
        attempt in task-key order (an attempt whose end raced the signal is recorded as
        cancelled too: it was stopped before arco recorded how it ended)."""
        self._kill_running()
        reason = f"interrupted by {signal.Signals(signum).name}"
        payloads: list[dict[str, Any]] = [{
            "type": "run_cancel_requested", "run_id": self.run_id,
            "requested_by": user_id(), "reason": reason}]
        cancelled = {"category": "CANCELLED", "message": f"cancelled: {reason}",
                     "retryable": False}
        for key in sorted(self.running):
            payloads.append(self._finished_payload(
                self.running[key], AttemptResult("cancelled", error=cancelled)))
        self.appender.submit(lambda _ts: payloads)


def _plan_tasks(state: Any, run_id: str
                ) -> tuple[dict[str, _Task], list[str], dict[str, int], int]:
    """Tasks of the run still to execute: (tasks, ready keys, {key: retry_not_before ms}
    of ready tasks waiting for a recorded retry time, number already done). A run that
    is terminal or being cancelled has nothing left to execute."""
    rows = state.tasks_of(run_id)
    run = state.get("runs", (run_id,))
    if run is not None and (run["state"] in TERMINAL or run["cancel_requested"]):
        return {}, [], {}, len(rows)
    states = {row["task_key"]: row["state"] for row in rows}
    tasks: dict[str, _Task] = {}
    waits: dict[str, int] = {}
    for row in rows:
        if row["state"] in TERMINAL:
            continue
        tasks[row["task_key"]] = _Task(
            key=row["task_key"], asset_key=row.get("asset_key"),
            partition_key=row.get("partition_key") or None,
            max_attempts=int(row.get("max_attempts") or 1),
            last_attempt=int(row.get("attempt") or 0))
        if row["state"] == "RETRY_WAIT" and row.get("retry_not_before") is not None:
            waits[row["task_key"]] = int(row["retry_not_before"])
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
    return tasks, ready, waits, len(rows) - len(tasks)


def execute_run(ws: Workspace, definition: WorkspaceDefinition, run_id: str, *,
                max_parallel: int, lock_timeout: float, progress: bool,
                clock: Callable[[], int] = now_ms) -> ExecutionOutcome:
    """Run every non-terminal task of ``run_id`` whose upstreams succeed; fold at the end.

    The run's ``RunTriggered`` and ``PlanCreated`` must already be in the log. ``clock``
    gives the events' timestamps (epoch ms): the wall clock, or for a command given
    ``--now`` that instant plus the time elapsed since (decisions A31).
    """
    from arco_cli.log.store import EventLog
    from arco_cli.projections import current_state, fold_workspace

    with _run_lock(ws.runs_dir / run_id, run_id):
        state = current_state(ws, write=False)
        tasks, ready, waits, done = _plan_tasks(state, run_id)
        bar = RunProgress(run_id, len(tasks) + done, progress)
        bar.finished(done)
        # a task left in RETRY_WAIT by an earlier execution keeps its recorded retry time
        now_wall, now_mono = clock(), time.monotonic()
        delayed = [(now_mono + (waits[key] - now_wall) / 1000, key) for key in ready
                   if waits.get(key, 0) > now_wall]
        ready = [key for key in ready if waits.get(key, 0) <= now_wall]
        execution = _Execution(ws, definition, run_id, EventLog(ws.log_dir), tasks, ready,
                               max_parallel=max_parallel, lock_timeout=lock_timeout,
                               progress=bar, clock=clock)
        for due in delayed:
            heapq.heappush(execution.retries, due)
        try:
            try:
                with _Interrupt() as interrupt:
                    interrupted = execution.run(interrupt)
            finally:
                bar.stop()
            fold_workspace(ws)
        finally:
            execution.reap_workers()
    return ExecutionOutcome(run_id=run_id, interrupted=interrupted)
