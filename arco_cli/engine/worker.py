"""The python-task worker: ``python -m arco_cli.engine.worker --serve`` (or ``SPEC.json``).

Python tasks run here, in a subprocess with its own process group, so that timeouts and
Ctrl-C can stop them like any command (decisions A12). The executor keeps a pool of
``--serve`` workers that run one attempt after another; ``SPEC.json`` runs a single
attempt. For each attempt the worker imports the callable with the workspace root on
``sys.path``, calls it with a :class:`TaskContext`, turns the result into a report
(Arrow data is written to Delta here, where it lives) and writes the report as JSON to
the spec's ``result_path``. A worker that dies before answering is seen by the executor
as a failed exit without a report.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
from pathlib import Path

# Only what every attempt needs is imported up front: a pool worker's start is paid by
# the run's first python task. Report validation (arco_cli.engine.outputs, the event
# schema behind it), tracebacks and logging are imported by the attempts that need them,
# and typing only by the type checker.
TYPE_CHECKING = False
if TYPE_CHECKING:
    import logging
    from typing import Any

_FIELDS = ("run_id", "task_key", "asset_key", "partition_key", "partition_values",
           "attempt", "attempt_id", "workspace")


class TaskContext:
    """The one argument a python task receives (cli.md §2): read-only attributes.

    A slotted class rather than a dataclass, with ``log`` set up on first use: importing
    ``dataclasses`` (with ``inspect``) and ``logging`` would be ~20 ms of every pool
    worker's start, paid by the run's first python task, and most tasks never log.
    """

    __slots__ = (*_FIELDS, "_log_path", "_log")

    run_id: str
    task_key: str
    asset_key: str
    partition_key: str | None
    partition_values: dict[str, Any]
    attempt: int
    attempt_id: str
    workspace: Path

    def __init__(self, *, run_id: str, task_key: str, asset_key: str,
                 partition_key: str | None, partition_values: dict[str, Any], attempt: int,
                 attempt_id: str, workspace: Path, log_path: Path) -> None:
        values = (run_id, task_key, asset_key, partition_key, partition_values, attempt,
                  attempt_id, workspace, log_path, None)
        for name, value in zip(self.__slots__, values, strict=True):
            object.__setattr__(self, name, value)

    @property
    def log(self) -> logging.Logger:
        """A logger writing to the attempt's ``.log`` file (created on the first record)."""
        logger: logging.Logger | None = object.__getattribute__(self, "_log")
        if logger is None:
            logger = _task_logger(object.__getattribute__(self, "_log_path"))
            object.__setattr__(self, "_log", logger)
        return logger

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"cannot assign to field {name!r}: the context is read-only")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"cannot delete field {name!r}: the context is read-only")

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return all(getattr(self, name) == getattr(other, name) for name in _FIELDS)

    __hash__ = None  # type: ignore[assignment]  # partition_values is a dict

    def __getstate__(self) -> dict[str, Any]:
        # pickled (multiprocessing, copy) without its logger, which is set up again on
        # first use wherever it is unpickled
        return {name: object.__getattribute__(self, name) for name in (*_FIELDS, "_log_path")}

    def __setstate__(self, state: dict[str, Any]) -> None:
        for name, value in state.items():
            object.__setattr__(self, name, value)
        object.__setattr__(self, "_log", None)

    def __repr__(self) -> str:
        inner = ", ".join(f"{name}={getattr(self, name)!r}" for name in _FIELDS)
        return f"TaskContext({inner})"


def _error(category: str, message: str, retryable: bool | None = None,
           stack: str | None = None) -> dict[str, Any]:
    error: dict[str, Any] = {"category": category, "message": message or category}
    if retryable is not None:
        error["retryable"] = retryable
    if stack:
        error["stackTrace"] = stack
    return {"error": error}


def _load_callable(target: str) -> Any:
    """Import ``module:function``; a target that does not exist is a configuration
    error (not retryable), while an exception raised by the module is user code."""
    module_name, _, attr = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and module_name.startswith(exc.name):
            raise _Configuration(
                f"python = {target!r}: module {module_name!r} not found under the workspace "
                "root") from None
        raise
    fn = getattr(module, attr, None)
    if not callable(fn):
        raise _Configuration(f"python = {target!r}: {module_name} has no callable {attr!r}")
    return fn


class _Configuration(Exception):
    pass


def _close_task_logger() -> None:
    if "logging" not in sys.modules:
        return   # no attempt of this worker has logged
    import logging

    logger = logging.getLogger("arco.task")
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
        handler.close()


def _task_logger(log_path: Path) -> logging.Logger:
    """The context's logger; its file is created on the first record (a pool worker
    reuses the logger for the next attempt)."""
    import logging

    _close_task_logger()
    logger = logging.getLogger("arco.task")
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    handler = logging.FileHandler(log_path, encoding="utf-8", delay=True)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    logger.addHandler(handler)
    return logger


def _report_of_return(value: Any, spec: dict[str, Any]) -> dict[str, Any]:
    if value is None:
        return {}
    if isinstance(value, dict):
        from arco_cli.engine.outputs import MalformedOutput, validate_report

        try:
            report = validate_report(value)
        except MalformedOutput as exc:
            return _error("CONFIGURATION", f"the returned dict is not a valid report: {exc}",
                          False)
        return _check_reported_delta(report, spec)
    kind = type(value)
    if kind.__module__.startswith("pyarrow") and kind.__name__ in ("Table",
                                                                   "RecordBatchReader"):
        return _write_delta(value, spec)
    return _error("CONFIGURATION",
                  f"the task returned a {kind.__name__}; return None, a dict report, or a "
                  "pyarrow Table/RecordBatchReader (with delta_table set)", False)


def _write_delta(value: Any, spec: dict[str, Any]) -> dict[str, Any]:
    delta = spec.get("delta")
    if not delta:
        return _error("CONFIGURATION",
                      f"the task returned Arrow data but asset {spec['asset_key']} has no "
                      "delta_table; set delta_table in arco.toml", False)
    from arco_cli.lineage.delta import DeltaOutputError, write_task_output

    try:
        return write_task_output(
            value, table_path=Path(delta["table_path"]), table_config=delta["table_config"],
            delta_mode=delta["mode"], partitioned_by=delta["partitioned_by"],
            partition_key=spec["partition_key"], run_id=spec["run_id"],
            task_key=spec["task_key"], attempt=spec["attempt"])
    except DeltaOutputError as exc:
        return _error(exc.category, exc.message, exc.retryable)


def _check_reported_delta(report: dict[str, Any], spec: dict[str, Any]) -> dict[str, Any]:
    from arco_cli.engine.outputs import check_reported_delta

    problem = check_reported_delta(report, spec.get("delta"), Path(spec["workspace"]))
    return _error("CONFIGURATION", problem, False) if problem else report


def run_task(spec: dict[str, Any]) -> dict[str, Any]:
    """Call the task and return its report (never raises for task problems)."""
    from arco_cli import Skip, TaskFailure

    workspace = Path(spec["workspace"])
    sys.path.insert(0, str(workspace))
    if os.getcwd() != str(workspace):  # a pool worker already starts there
        os.chdir(workspace)
    context = TaskContext(
        run_id=spec["run_id"], task_key=spec["task_key"], asset_key=spec["asset_key"],
        partition_key=spec["partition_key"], partition_values=spec["partition_values"],
        attempt=spec["attempt"], attempt_id=spec["attempt_id"], workspace=workspace,
        log_path=Path(spec["log_path"]))
    try:
        fn = _load_callable(spec["python"])
        value = fn(context)
    except _Configuration as exc:
        return _error("CONFIGURATION", str(exc), False)
    except Skip as exc:
        return {"skip": exc.reason}
    except TaskFailure as exc:
        from arco_cli.events.schema import ERROR_CATEGORIES

        if exc.category not in ERROR_CATEGORIES:
            return _error("CONFIGURATION",
                          f"TaskFailure category {exc.category!r} is not one of "
                          f"{', '.join(ERROR_CATEGORIES)}", False)
        return _error(exc.category, exc.message, exc.retryable)
    except SystemExit as exc:  # sys.exit() in a task means what it means in a command
        if exc.code in (0, None):
            return _report_of_return(None, spec)
        return _error("USER_CODE", f"the task called sys.exit({exc.code!r})")
    except Exception as exc:  # any other exception is a USER_CODE failure (cli.md §2)
        import traceback

        stack = traceback.format_exc()
        sys.stderr.write(stack)
        return _error("USER_CODE", f"{type(exc).__name__}: {exc}", None, stack)
    return _report_of_return(value, spec)


def run_and_report(spec: dict[str, Any]) -> int:
    """Run the task and write its report to ``result_path``; the exit status.

    The executor reads the report only after the attempt ended, so no atomic rename is
    needed (and a torn report from a killed worker is malformed, never half-trusted).
    """
    report = run_task(spec)
    Path(spec["result_path"]).write_text(json.dumps(report, sort_keys=True), encoding="utf-8")
    return 0


# --------------------------------------------------------------------------- pool worker

def _redirect(fd: int, path: str, flags: int) -> None:
    target = os.open(path, flags, 0o644)
    os.dup2(target, fd)
    os.close(target)


def serve() -> int:
    """A pool worker (decisions A12 allow a pre-forked pool): read one JSON spec per line
    from the executor, run it with the attempt's files as stdout/stderr and the
    attempt's environment, answer ``{"status": 0, "report": {...}}`` on one line. The
    protocol uses private copies of the original stdin/stdout, so task code can neither
    read nor corrupt it. The worker is its own process group: a timeout or cancellation
    kills it (and anything its task spawned) and the executor starts a fresh one."""
    proto_in = os.fdopen(os.dup(0), "rb")
    proto_out = os.dup(1)
    own_stderr = os.dup(2)  # .arco/runs/<run_id>/worker.stderr, between attempts
    _redirect(0, os.devnull, os.O_RDONLY)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    base_env = dict(os.environ)
    # os.environ's encoded entries (a plain dict in CPython): comparing them with a copy
    # is one C-level dict comparison per attempt instead of decoding every variable
    raw_env = getattr(os.environ, "_data", None)
    base_raw = dict(raw_env) if isinstance(raw_env, dict) else None
    base_cwd = os.getcwd()
    base_path = list(sys.path)
    for line in proto_in:
        spec = json.loads(line)
        _redirect(1, spec["stdout_path"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
        _redirect(2, spec["stderr_path"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
        os.environ.update(spec["env"])  # the task's ARCO_* variables over the pool's env
        answer: dict[str, Any] = {"status": 70}
        try:
            answer = {"status": 0, "report": run_task(spec)}
        except BaseException:  # never leave the executor without an answer
            import traceback

            traceback.print_exc()
        sys.stdout.flush()
        sys.stderr.flush()
        # answer before tidying up: the executor records the attempt meanwhile
        data = (json.dumps(answer, sort_keys=True) + "\n").encode()
        while data:
            data = data[os.write(proto_out, data):]
        # whatever prints between attempts must not land in the last attempt's files
        os.dup2(devnull, 1)
        os.dup2(own_stderr, 2)
        _close_task_logger()
        for key in spec["env"]:
            os.environ.pop(key, None)
        changed = raw_env != base_raw if base_raw is not None else os.environ != base_env
        if changed:  # the task changed the environment itself
            os.environ.clear()
            os.environ.update(base_env)
        sys.path[:] = base_path
        if os.getcwd() != base_cwd:
            os.chdir(base_cwd)
    return 0


def main(argv: list[str]) -> int:
    if argv[1:] == ["--serve"]:
        return serve()
    spec = json.loads(Path(argv[1]).read_text(encoding="utf-8"))
    return run_and_report(spec)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
