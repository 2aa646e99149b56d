"""Typed domain errors: each carries a stable error code and the exit code it maps to.

Lower layers raise these; only ``cli/`` turns them into an exit status and the JSON
envelope (see ``arco_cli.cli.main``). Codes are the registry of decisions.md A19.
"""

from __future__ import annotations

from typing import Any

# Exit codes of cli.md §3.
EXIT_OK = 0
EXIT_FAILED = 1
EXIT_ERROR = 2
EXIT_CONFLICT = 3
EXIT_INTERNAL = 70
EXIT_INTERRUPTED = 130

#: Every error code arco emits, with the exit code it implies.
ERROR_CODES: dict[str, int] = {
    # usage and workspace
    "USAGE_ERROR": EXIT_ERROR,
    "WORKSPACE_NOT_FOUND": EXIT_ERROR,
    "INVALID_CONFIG": EXIT_ERROR,
    "SCOPE_MISMATCH": EXIT_ERROR,
    "WORKSPACE_LOCKED": EXIT_ERROR,
    "CORRUPT_LOG": EXIT_ERROR,
    # input
    "INVALID_EVENT": EXIT_ERROR,
    "FOREIGN_SCOPE": EXIT_ERROR,
    "INPUT_UNREADABLE": EXIT_ERROR,
    # unknown objects
    "UNKNOWN_RUN": EXIT_ERROR,
    "UNKNOWN_ASSET": EXIT_ERROR,
    "UNKNOWN_TASK": EXIT_ERROR,
    "UNKNOWN_SCHEDULE": EXIT_ERROR,
    "UNKNOWN_SENSOR": EXIT_ERROR,
    "UNKNOWN_BACKFILL": EXIT_ERROR,
    # invalid request values
    "INVALID_ASSET_KEY": EXIT_ERROR,
    "INVALID_PARTITION_KEY": EXIT_ERROR,
    "PARTITION_REQUIRED": EXIT_ERROR,
    "PARTITION_MISMATCH": EXIT_ERROR,
    "INVALID_RUN_KEY": EXIT_ERROR,
    "RESERVED_LABEL": EXIT_ERROR,
    # state and lifecycle
    "RERUN_NOT_ALLOWED": EXIT_ERROR,
    "INVALID_TRANSITION": EXIT_ERROR,
    "VERSION_CONFLICT": EXIT_ERROR,
    "BACKFILL_EXISTS": EXIT_ERROR,
    "NOTHING_TO_RETRY": EXIT_ERROR,
    "RUN_NOT_FINISHED": EXIT_FAILED,
    # other
    "RUN_KEY_CONFLICT": EXIT_CONFLICT,
    "NOT_AVAILABLE": EXIT_ERROR,
    "INTERRUPTED": EXIT_INTERRUPTED,
    "INTERNAL_ERROR": EXIT_INTERNAL,
}


class ArcoError(Exception):
    """A failure the user can act on: a code, a one-sentence message, optional details.

    ``problems`` holds further error items when one command found several problems
    (for instance every invalid event of an ingest, or every config error).
    """

    def __init__(
        self,
        code: str,
        message: str,
        details: dict[str, Any] | None = None,
        *,
        problems: list[ArcoError] | None = None,
        data: Any = None,
    ) -> None:
        if code not in ERROR_CODES:
            raise ValueError(f"unregistered error code {code!r}")
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = details
        self.problems = problems or []
        #: result to put in the envelope's ``data`` (exit 3 puts the existing run here)
        self.data = data

    @property
    def exit_code(self) -> int:
        return ERROR_CODES[self.code]

    def items(self) -> list[dict[str, Any]]:
        """The envelope ``errors`` items for this error (several when it bundles problems)."""
        errors = self.problems or [self]
        out: list[dict[str, Any]] = []
        for err in errors:
            item: dict[str, Any] = {"code": err.code, "message": err.message}
            if err.details is not None:
                item["details"] = err.details
            out.append(item)
        return out


class UsageError(ArcoError):
    def __init__(self, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__("USAGE_ERROR", message, details)
