"""The python-task worker: ``python -m arco_cli.engine.worker SPEC.json``.

Python tasks run here, in a subprocess with its own process group, so that timeouts and
Ctrl-C can stop them like any command (decisions A12). The worker imports the callable
with the workspace root on ``sys.path``, calls it with a :class:`TaskContext`, turns the
result into a report (Arrow data is written to Delta here, where it lives) and writes
the report as JSON to the spec's ``result_path`` before exiting 0. Anything that kills
the worker before that is seen by the executor as a failed exit without a report.
"""

from __future__ import annotations

import importlib
import json
import logging
import os
import sys
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from arco_cli.engine.outputs import MalformedOutput, validate_report
from arco_cli.events.schema import ERROR_CATEGORIES


@dataclass(frozen=True)
class TaskContext:
    """The one argument a python task receives (cli.md §2)."""

    run_id: str
    task_key: str
    asset_key: str
    partition_key: str | None
    partition_values: dict[str, Any]
    attempt: int
    attempt_id: str
    workspace: Path
    log: logging.Logger


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


def _task_logger(log_path: Path) -> logging.Logger:
    logger = logging.getLogger("arco.task")
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    handler = logging.FileHandler(log_path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    logger.addHandler(handler)
    return logger


def _report_of_return(value: Any, spec: dict[str, Any]) -> dict[str, Any]:
    if value is None:
        return {}
    if isinstance(value, dict):
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
    os.chdir(workspace)
    context = TaskContext(
        run_id=spec["run_id"], task_key=spec["task_key"], asset_key=spec["asset_key"],
        partition_key=spec["partition_key"], partition_values=spec["partition_values"],
        attempt=spec["attempt"], attempt_id=spec["attempt_id"], workspace=workspace,
        log=_task_logger(Path(spec["log_path"])))
    try:
        fn = _load_callable(spec["python"])
        value = fn(context)
    except _Configuration as exc:
        return _error("CONFIGURATION", str(exc), False)
    except Skip as exc:
        return {"skip": exc.reason}
    except TaskFailure as exc:
        if exc.category not in ERROR_CATEGORIES:
            return _error("CONFIGURATION",
                          f"TaskFailure category {exc.category!r} is not one of "
                          f"{', '.join(ERROR_CATEGORIES)}", False)
        return _error(exc.category, exc.message, exc.retryable)
    except Exception as exc:  # any other exception is a USER_CODE failure (cli.md §2)
        stack = traceback.format_exc()
        sys.stderr.write(stack)
        return _error("USER_CODE", f"{type(exc).__name__}: {exc}", None, stack)
    return _report_of_return(value, spec)


def main(argv: list[str]) -> int:
    spec = json.loads(Path(argv[1]).read_text(encoding="utf-8"))
    report = run_task(spec)
    result_path = Path(spec["result_path"])
    tmp = result_path.with_suffix(".tmp")
    tmp.write_text(json.dumps(report, sort_keys=True), encoding="utf-8")
    os.replace(tmp, result_path)
    sys.stdout.flush()
    sys.stderr.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
