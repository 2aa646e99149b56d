"""Global options (cli.md §3) and the per-invocation state every command reads.

Global options may stand before or after the command path, so :func:`split_global_options`
pulls them out of argv before Click parses the rest (decisions A21).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from arco_cli.errors import UsageError


@dataclass
class GlobalOptions:
    workspace: Path | None = None
    json: bool = False
    no_color: bool = False
    lock_timeout: float = 10.0
    quiet: bool = False
    verbose: int = 0
    version: bool = False


@dataclass
class Invocation:
    """What the running command has said about itself: its path, its exit status."""

    options: GlobalOptions = field(default_factory=GlobalOptions)
    command: str = ""
    exit_code: int | None = None
    emitted: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


CURRENT = Invocation()


def reset(options: GlobalOptions) -> Invocation:
    global CURRENT
    CURRENT = Invocation(options=options)
    return CURRENT


def split_global_options(argv: list[str]) -> tuple[GlobalOptions, list[str]]:
    """Remove global options from ``argv`` (anywhere before ``--``)."""
    opts = GlobalOptions()
    rest: list[str] = []
    i = 0
    formats: list[str] = []
    while i < len(argv):
        arg = argv[i]
        if arg == "--":
            rest.extend(argv[i:])
            break

        def value(name: str, arg: str = arg) -> str:
            nonlocal i
            if "=" in arg and arg.startswith("--"):
                return arg.split("=", 1)[1]
            if i + 1 >= len(argv):
                raise UsageError(f"option {name} requires a value")
            i += 1
            return argv[i]

        if arg == "--json":
            opts.json = True
        elif arg == "--no-color":
            opts.no_color = True
        elif arg in ("-q", "--quiet"):
            opts.quiet = True
        elif arg in ("-v", "--verbose"):
            opts.verbose += 1
        elif arg == "--version":
            opts.version = True
        elif arg in ("-w", "--workspace") or arg.startswith("--workspace="):
            opts.workspace = Path(value("--workspace"))
        elif arg == "--lock-timeout" or arg.startswith("--lock-timeout="):
            raw = value("--lock-timeout")
            try:
                opts.lock_timeout = float(raw)
            except ValueError:
                raise UsageError(f"--lock-timeout expects seconds, got {raw!r}") from None
            if opts.lock_timeout < 0:
                raise UsageError("--lock-timeout must not be negative")
        else:
            if arg == "--format" and i + 1 < len(argv):
                formats.append(argv[i + 1])
            elif arg.startswith("--format="):
                formats.append(arg.split("=", 1)[1])
            rest.append(arg)
        i += 1
    if "json" in formats:
        if opts.json is False:
            opts.json = True
    elif opts.json and formats:
        raise UsageError("--json cannot be combined with --format " + formats[0])
    return opts, rest


def detect_json(argv: list[str]) -> bool:
    """JSON mode as far as it can be told even when argv is unusable."""
    for i, arg in enumerate(argv):
        if arg == "--":
            return False
        if arg == "--json" or arg == "--format=json":
            return True
        if arg == "--format" and i + 1 < len(argv) and argv[i + 1] == "json":
            return True
    return False
