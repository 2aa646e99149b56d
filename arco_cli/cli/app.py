"""The Typer application: the root callback and the registry of command modules.

Each command lives in its own module under ``arco_cli.cli`` exposing ``register(app)``;
modules keep heavy imports (pyarrow, deltalake) inside their functions so that
``arco --help`` stays fast.
"""

from __future__ import annotations

import importlib
import importlib.util
from pathlib import Path

import typer

HELP = """arco — explain, run and gate data-orchestration runs from an append-only event log.

\b
Global options may stand before or after the command:
  -w/--workspace DIR, --json, --no-color, --lock-timeout SECONDS, -q/--quiet, -v/--verbose,
  --version.

\b
Example:
  arco explain run_01J... --json
"""

#: command modules in help order; each exposes ``register(app: typer.Typer)``
COMMAND_MODULES = (
    "run", "rerun", "explain", "conflicts", "runs", "partitions", "events", "ingest",
    "fold", "verify", "cancel", "init", "quickstart", "schedule", "sensor", "backfill",
    "parity", "execute",
)


def build_app() -> typer.Typer:
    app = typer.Typer(
        name="arco",
        help=HELP,
        add_completion=False,
        no_args_is_help=True,
        rich_markup_mode=None,
        pretty_exceptions_enable=False,
        context_settings={"help_option_names": ["-h", "--help"]},
    )

    @app.callback()
    def root(
        workspace: Path | None = typer.Option(
            None, "-w", "--workspace", help="Workspace folder (else $ARCO_WORKSPACE, else "
            "the first parent folder holding arco.toml)."),
        json: bool = typer.Option(False, "--json", help="Print exactly one JSON envelope."),
        no_color: bool = typer.Option(False, "--no-color", help="Disable colour."),
        lock_timeout: float = typer.Option(
            10.0, "--lock-timeout", help="Seconds to wait for the log's writer lock."),
        quiet: bool = typer.Option(False, "-q", "--quiet", help="Print less."),
        verbose: int = typer.Option(0, "-v", "--verbose", count=True, help="Print more."),
        version: bool = typer.Option(False, "--version", help="Print the version."),
    ) -> None:
        # The values were already taken from argv by split_global_options; these
        # declarations exist so that --help lists them.
        return None

    for name in COMMAND_MODULES:
        module_name = f"arco_cli.cli.{name}"
        if importlib.util.find_spec(module_name) is not None:
            importlib.import_module(module_name).register(app)
    return app
