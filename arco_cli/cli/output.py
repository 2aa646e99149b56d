"""How commands report: one call to :func:`emit` with the plain result.

In ``--json`` mode the envelope is printed; otherwise ``text`` renders the same data for
people. Errors are raised as :class:`~arco_cli.errors.ArcoError` and printed by
:mod:`arco_cli.cli.main`, which knows the command path from :func:`arco_command`.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from arco_cli.cli import options
from arco_cli.errors import EXIT_OK
from arco_cli.render.envelope import envelope

if TYPE_CHECKING:
    from rich.console import Console

    from arco_cli.workspace import Workspace

F = TypeVar("F", bound=Callable[..., Any])


def arco_command(path: str) -> Callable[[F], F]:
    """Mark a Typer callback as the command ``path`` (e.g. ``"schedule tick"``)."""

    def decorate(fn: F) -> F:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            options.CURRENT.command = path
            return fn(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorate


def json_mode() -> bool:
    return options.CURRENT.options.json


def stdout_console() -> Console:
    from arco_cli.render.console import make_console

    return make_console(no_color=options.CURRENT.options.no_color)


def stderr_console() -> Console:
    from arco_cli.render.console import make_console

    return make_console(stderr=True, no_color=options.CURRENT.options.no_color)


def emit(
    data: Any,
    *,
    exit_code: int = EXIT_OK,
    errors: list[dict[str, Any]] | None = None,
    text: Callable[[Console], None] | None = None,
) -> None:
    """Print the command's result (envelope or text) and record its exit status."""
    inv = options.CURRENT
    inv.exit_code = exit_code
    inv.emitted = True
    if inv.options.json:
        sys.stdout.write(envelope(inv.command, exit_code, data, errors or []) + "\n")
        sys.stdout.flush()
        return
    if text is not None and not inv.options.quiet:
        text(stdout_console())
    if errors:
        console = stderr_console()
        for item in errors:
            console.print(f"[red]error[/red] [{item['code']}] {item['message']}", markup=True)


def warn(message: str) -> None:
    """A warning on stderr (never on stdout, so ``--json`` stays one document)."""
    if not options.CURRENT.options.quiet:
        stderr_console().print(f"[yellow]warning:[/yellow] {message}")


def current_workspace() -> Workspace:
    from arco_cli.workspace import open_workspace

    return open_workspace(options.CURRENT.options.workspace)


def lock_timeout() -> float:
    return options.CURRENT.options.lock_timeout
