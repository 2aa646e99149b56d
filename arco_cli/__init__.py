"""arco — operator toolkit for data-orchestration runs, backed by an append-only event log.

Task code may raise :class:`Skip` or :class:`TaskFailure` (cli.md §2).
"""

from __future__ import annotations

__version__ = "0.1.0"


class Skip(Exception):
    """Raised by a python task to report that it skipped (outcome ``skipped``)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class TaskFailure(Exception):
    """Raised by a python task to report a structured failure."""

    def __init__(self, message: str, category: str = "USER_CODE",
                 retryable: bool | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.category = category
        self.retryable = retryable


__all__ = ["Skip", "TaskFailure", "__version__"]
