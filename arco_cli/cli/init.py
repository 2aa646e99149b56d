"""``arco init [DIR] [--example] [--force]``: write a commented ``arco.toml`` (cli.md §4,
decisions B10, C9)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from arco_cli.cli.output import arco_command, emit
from arco_cli.errors import UsageError

HELP = """Create a workspace: a commented arco.toml in DIR (default: the current folder).

\b
--example adds the runnable example workspace: python jobs that write Delta tables, one
flaky task that is retried and one failing task whose downstream task is skipped.
An existing arco.toml is never overwritten unless --force is given.

\b
Examples:
  arco init
  arco init ./my-workspace --example && arco -w ./my-workspace run raw.orders
"""

TEMPLATE = """\
# arco workspace definition. Every key is optional unless marked required; unknown keys
# are errors. See docs/running.md for the full reference.

[workspace]
tenant = "local"            # tenant_id written on every event
name = "default"            # workspace_id written on every event

[defaults]                  # per-asset settings, overridable in each [assets."..."] table
max_attempts = 3            # per task, including the first attempt
retry_delay_s = 0           # first retry delay; doubles each retry, capped below
retry_max_delay_s = 900
timeout_s = 3600            # a task running longer is killed (category TIMEOUT)
heartbeat_timeout_s = 300
freshness_max_lag_minutes = 1440

# An asset (key namespace.name, quoted) runs a command or a python callable:
#
# [assets."raw.orders"]
# run = ["python", "jobs/raw_orders.py"]      # argv, cwd = workspace root (or `python`)
#
# [assets."analytics.orders"]
# deps = ["raw.orders"]
# python = "jobs.orders:build"                # returns a pyarrow.Table ...
# delta_table = "warehouse/analytics/orders"  # ... written to this Delta table
# partitioned_by = ["date"]                   # run with -p 2025-01-15
# code_version = "v1"
#
# [schedules.daily_orders]
# cron = "0 2 * * *"                          # 5 fields, or 6 with seconds first
# timezone = "UTC"
# selection = ["analytics.orders"]
# partition_date = "previous"                 # date-partitioned selections: yesterday
#
# [sensors.new_orders]
# kind = "poll"                               # or "push"
# python = "jobs.sensors:new_orders"
# selection = ["analytics.orders"]
"""


def example_root() -> Path:
    """The embedded example workspace shipped as package data."""
    return Path(__file__).resolve().parent.parent / "examples" / "quickstart"


def example_files() -> list[Path]:
    """Files of the example, relative to its root, sorted (caches excluded)."""
    root = example_root()
    return sorted(p.relative_to(root) for p in root.rglob("*")
                  if p.is_file() and "__pycache__" not in p.parts)


def write_workspace(target: Path, *, example: bool, force: bool) -> dict[str, Any]:
    """Write arco.toml (and the example) into ``target``; ``{"workspace", "files"}``."""
    target = target.expanduser().resolve()
    config = target / "arco.toml"
    if config.exists() and not force:
        raise UsageError(f"{config} already exists; pass --force to overwrite it",
                         {"path": str(config)})
    if target.exists() and not target.is_dir():
        raise UsageError(f"{target} is not a folder", {"path": str(target)})
    target.mkdir(parents=True, exist_ok=True)
    written: list[str] = []
    if example:
        root = example_root()
        for rel in example_files():
            dest = target / rel
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_bytes((root / rel).read_bytes())
            written.append(rel.as_posix())
    else:
        config.write_text(TEMPLATE, encoding="utf-8")
        written.append("arco.toml")
    return {"workspace": str(target), "files": sorted(written)}


def register(app: typer.Typer) -> None:
    @app.command("init", help=HELP, short_help="Create a workspace (arco.toml).")
    @arco_command("init")
    def init_command(
        directory: Path = typer.Argument(Path("."), metavar="[DIR]",
                                         help="Workspace folder (default: current)."),
        example: bool = typer.Option(False, "--example",
                                     help="Add the runnable example workspace."),
        force: bool = typer.Option(False, "--force", help="Overwrite an existing arco.toml."),
    ) -> None:
        data = write_workspace(directory, example=example, force=force)

        def text(console: Any) -> None:
            console.print(f"created workspace {data['workspace']}", markup=False)
            for name in data["files"]:
                console.print(f"  {name}", markup=False)

        emit(data, text=text)
