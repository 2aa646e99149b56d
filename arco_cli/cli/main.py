"""Entry point: global options, envelope on every outcome, exit-code mapping, crash reports.

This is the one place where domain errors become exit statuses (cli.md §3).
"""

from __future__ import annotations

import datetime as dt
import os
import sys
import tempfile
import traceback
from pathlib import Path

from arco_cli import __version__
from arco_cli.cli import options
from arco_cli.errors import (
    EXIT_ERROR,
    EXIT_INTERNAL,
    EXIT_INTERRUPTED,
    EXIT_OK,
    ArcoError,
)
from arco_cli.render.envelope import envelope


def _print_error(command: str, exit_code: int, errors: list[dict[str, object]],
                 data: object = None, json_mode: bool = False) -> None:
    if json_mode:
        sys.stdout.write(envelope(command, exit_code, data, errors) + "\n")
        sys.stdout.flush()
        return
    for item in errors:
        sys.stderr.write(f"error [{item['code']}]: {item['message']}\n")


def _crash_report(exc: BaseException) -> Path:
    """Write the traceback under .arco/crash/ (or $TMPDIR without a workspace)."""
    folder: Path
    try:
        from arco_cli.workspace import find_root

        folder = find_root(options.CURRENT.options.workspace) / ".arco" / "crash"
    except Exception:  # noqa: BLE001 - no workspace: fall back to the temp folder
        folder = Path(tempfile.gettempdir()) / "arco-crash"
    folder.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
    path = folder / f"crash-{stamp}-{os.getpid()}.txt"
    path.write_text(
        f"arco {__version__}\nargv: {sys.argv!r}\n\n"
        + "".join(traceback.format_exception(type(exc), exc, exc.__traceback__)),
        encoding="utf-8",
    )
    return path


def run(argv: list[str]) -> int:
    json_guess = options.detect_json(argv)
    try:
        opts, rest = options.split_global_options(argv)
    except ArcoError as exc:
        _print_error("", exc.exit_code, exc.items(), json_mode=json_guess)
        return exc.exit_code
    inv = options.reset(opts)
    if opts.version and not any(a in ("-h", "--help") for a in rest):
        if opts.json:
            sys.stdout.write(envelope("", EXIT_OK, {"version": __version__}, []) + "\n")
        else:
            sys.stdout.write(f"arco {__version__}\n")
        return EXIT_OK

    if not rest:
        if opts.json:
            _print_error("", EXIT_ERROR, [{"code": "USAGE_ERROR",
                                           "message": "no command given; see 'arco --help'"}],
                         json_mode=True)
            return EXIT_ERROR
        rest = ["--help"]

    import typer
    import typer.main

    from arco_cli.cli.app import build_app
    from arco_cli.identity import TenantSecretError

    try:
        command = typer.main.get_command(build_app())
        result = command.main(args=rest, prog_name="arco", standalone_mode=False)
        if isinstance(result, int) and inv.exit_code is None:
            return result
        return inv.exit_code if inv.exit_code is not None else EXIT_OK
    except typer.Exit as exc:
        return int(exc.exit_code)
    except typer.Abort:
        _print_error(inv.command, EXIT_INTERRUPTED,
                     [{"code": "INTERRUPTED", "message": "interrupted"}], json_mode=opts.json)
        return EXIT_INTERRUPTED
    except typer.TyperException as exc:
        # Typer's (vendored Click) usage errors: unknown option, missing argument...
        message = exc.format_message() if hasattr(exc, "format_message") else str(exc)
        if not opts.json:
            ctx = getattr(exc, "ctx", None)
            if ctx is not None:
                sys.stderr.write(ctx.get_usage() + "\n")
        _print_error(inv.command if inv.command else "", EXIT_ERROR,
                     [{"code": "USAGE_ERROR", "message": message}], json_mode=opts.json)
        return EXIT_ERROR
    except ArcoError as exc:
        _print_error(inv.command, exc.exit_code, exc.items(), data=exc.data,
                     json_mode=opts.json)
        return exc.exit_code
    except TenantSecretError as exc:
        _print_error(inv.command, EXIT_ERROR,
                     [{"code": "INVALID_CONFIG", "message": str(exc)}], json_mode=opts.json)
        return EXIT_ERROR
    except KeyboardInterrupt:
        _print_error(inv.command, EXIT_INTERRUPTED,
                     [{"code": "INTERRUPTED", "message": "interrupted"}], json_mode=opts.json)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        return EXIT_OK
    except Exception as exc:  # noqa: BLE001 - a bug: report it, never a traceback dump
        path = _crash_report(exc)
        sys.stderr.write(f"arco: internal error ({type(exc).__name__}); crash report: {path}\n")
        if opts.json:
            sys.stdout.write(envelope(inv.command, EXIT_INTERNAL, None, [{
                "code": "INTERNAL_ERROR", "message": f"internal error: {exc}",
                "details": {"crashReport": str(path)}}]) + "\n")
        return EXIT_INTERNAL


def main() -> None:
    sys.exit(run(sys.argv[1:]))
