"""What an attempt reported: ``ARCO_OUTPUT`` parsing and the outcome rules of decisions A11.

The exit status decides first: non-zero is a failure (a valid reported ``error`` is
used, ``skip`` ignored); exit 0 with ``error`` fails, with ``skip`` skips, else succeeds
with the reported materialization. A malformed report fails the attempt with
``CONFIGURATION`` (not retryable): a task that cannot report is a wiring bug, and
retrying it would only repeat the same broken report.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from arco_cli.events.schema import ERROR_CATEGORIES, TASK_ERROR, TASK_OUTPUT
from arco_cli.identity import loads_strict

#: materialization fields a task may report (data-model §2.4 TaskOutput, reporting subset)
OUTPUT_FIELDS = ("materializationId", "rowCount", "byteSize", "outputPath", "deltaTable",
                 "deltaVersion", "deltaPartition")
_ERROR_FIELDS = ("category", "message", "retryable", "stackTrace")
STDERR_TAIL_LINES = 20
MESSAGE_LIMIT = 4000


class MalformedOutput(ValueError):
    """``ARCO_OUTPUT`` (or a returned dict) that is not a valid report."""


@dataclass(frozen=True)
class AttemptResult:
    """The worker-reported part of a ``TaskFinished``."""

    outcome: str                           # succeeded | failed | skipped | cancelled
    error: dict[str, Any] | None = None    # TaskError with explicit ``retryable``
    output: dict[str, Any] | None = None   # TaskOutput (materialization)
    skip_reason: str | None = None

    @property
    def error_message(self) -> str | None:
        if self.error is not None:
            return str(self.error["message"])
        return self.skip_reason

    @property
    def retryable(self) -> bool:
        return bool(self.error is not None and self.error["retryable"])


def failure(category: str, message: str, retryable: bool | None = None,
            stack_trace: str | None = None) -> AttemptResult:
    error: dict[str, Any] = {
        "category": category,
        "message": message[-MESSAGE_LIMIT:] if message else f"{category} failure",
        "retryable": ERROR_CATEGORIES[category] if retryable is None else retryable,
    }
    if stack_trace:
        error["stackTrace"] = stack_trace[-MESSAGE_LIMIT:]
    return AttemptResult("failed", error=error)


def validate_report(report: Any) -> dict[str, Any]:
    """Check a report object; raise :class:`MalformedOutput` naming the first problem."""
    if not isinstance(report, dict):
        raise MalformedOutput(f"must be a JSON object, got {type(report).__name__}")
    unknown = sorted(set(report) - {*OUTPUT_FIELDS, "error", "skip"})
    if unknown:
        raise MalformedOutput(
            f"unknown key {unknown[0]!r}; allowed: {', '.join((*OUTPUT_FIELDS, 'error', 'skip'))}")
    errs: list[str] = []
    TASK_OUTPUT({k: v for k, v in report.items() if k in OUTPUT_FIELDS}, "$", errs)
    if "error" in report:
        error = report["error"]
        TASK_ERROR(error, "$.error", errs)
        if isinstance(error, dict):
            extra = sorted(set(error) - set(_ERROR_FIELDS))
            if extra:
                errs.append(f"$.error has unknown key {extra[0]!r}")
    if "skip" in report and not isinstance(report["skip"], str):
        errs.append("$.skip must be a string (the skip reason)")
    if "deltaVersion" in report and isinstance(report["deltaVersion"], int) \
            and report["deltaVersion"] < 0:
        errs.append("$.deltaVersion must not be negative")
    if errs:
        raise MalformedOutput(errs[0])
    return report


def read_report(path: Path) -> dict[str, Any] | None:
    """The report a task wrote to ``ARCO_OUTPUT``; None when it wrote nothing."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    if not raw.strip():
        return None
    try:
        value = loads_strict(raw)
    except ValueError as exc:
        raise MalformedOutput(f"invalid JSON ({exc})") from None
    return validate_report(value)


def stderr_tail(path: Path) -> str:
    """The last 20 lines of a stderr file, at most 4000 characters (decisions A9)."""
    try:
        with path.open("rb") as fh:
            fh.seek(0, 2)
            size = fh.tell()
            fh.seek(max(0, size - 64 * 1024))
            data = fh.read()
    except FileNotFoundError:
        return ""
    # lines end at "\n" (or "\r\n") only: str.splitlines would also cut at form feeds,
    # U+2028 and the like, and the join would turn those into newlines in the message
    lines = data.decode("utf-8", errors="replace").rstrip().replace("\r\n", "\n").split("\n")
    return "\n".join(lines[-STDERR_TAIL_LINES:])[-MESSAGE_LIMIT:]


def _reported_error(error: dict[str, Any]) -> AttemptResult:
    retryable = error.get("retryable")
    return failure(str(error["category"]), str(error["message"]),
                   retryable if isinstance(retryable, bool) else None,
                   error.get("stackTrace"))


def interpret(exit_status: int, report: dict[str, Any] | None,
              stderr: Callable[[], str]) -> AttemptResult:
    """Outcome of a finished process (``exit_status`` < 0: killed by that signal);
    ``stderr`` gives the tail of its stderr, read only when it becomes the message."""
    if exit_status != 0:
        if report is not None and "error" in report:
            return _reported_error(report["error"])
        tail = stderr()
        if tail:
            return failure("USER_CODE", tail)
        if exit_status < 0:
            return failure("USER_CODE", f"killed by signal {-exit_status}")
        return failure("USER_CODE", f"exited with status {exit_status}")
    if report is None:
        return AttemptResult("succeeded")
    if "error" in report:
        return _reported_error(report["error"])
    if "skip" in report:
        return AttemptResult("skipped", skip_reason=str(report["skip"]) or "skipped")
    output = {k: report[k] for k in OUTPUT_FIELDS if k in report}
    return AttemptResult("succeeded", output=output or None)


def check_reported_delta(report: dict[str, Any], delta: dict[str, Any] | None,
                         workspace: Path) -> str | None:
    """Check (and complete) a reported Delta materialization (decisions A13).

    ``delta`` is the asset's Delta configuration (``table_path``, ``table_config``,
    ``hive_partition``) or None. A reported version must exist in the configured table;
    a version without a table takes the configured one. Returns the problem, or None.
    """
    if "deltaVersion" not in report and "deltaTable" not in report:
        return None
    configured = delta["table_config"] if delta else None
    reported = report.get("deltaTable")
    if reported is not None and configured is not None and reported != configured:
        return (f"the task reported deltaTable {reported!r} but the asset's delta_table is "
                f"{configured!r}")
    table = reported if reported is not None else configured
    if table is None:
        return ("the task reported a deltaVersion without deltaTable and the asset has no "
                "delta_table")
    report["deltaTable"] = table
    if "deltaVersion" not in report:
        return None
    from arco_cli.lineage.delta import version_exists

    path = Path(delta["table_path"]) if delta and table == configured else workspace / table
    version = int(report["deltaVersion"])
    if not version_exists(path, version):
        return f"the task reported version {version} of Delta table {table}, which does not exist"
    if delta and delta.get("hive_partition") and "deltaPartition" not in report:
        report["deltaPartition"] = delta["hive_partition"]
    return None
