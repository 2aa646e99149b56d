"""``arco partitions [ASSET] [--stale] [--now ISO8601]`` (cli.md §4, data-model §8.8)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

from arco_cli.cli.output import arco_command, current_workspace, emit

if TYPE_CHECKING:
    from arco_cli.diagnostics import WorkspaceGraph
    from arco_cli.workspace import Workspace

HELP = """Show partition status with lineage and staleness.

\b
Staleness is computed for --now (default: the current time) from the workspace
definition: never materialized, code version changed, an upstream never materialized or
materialized later, or older than freshness_max_lag_minutes. Configured unpartitioned
assets that were never built are listed too. Exit 2 with UNKNOWN_ASSET for an asset
that is neither configured nor recorded.

\b
Examples:
  arco partitions --stale
  arco partitions analytics.orders --now 2025-01-16T00:00:00Z --json
"""


def workspace_graph(ws: Workspace) -> WorkspaceGraph:
    """{asset: (deps, code_version, freshness lag, partitioned)} from the validated
    definition (``partitions`` validates ``arco.toml`` fully, decisions B3)."""
    from arco_cli.config import load_definition

    definition = load_definition(ws.root)
    return {key: (a.deps, a.code_version, a.freshness_max_lag_minutes, bool(a.partitioned_by))
            for key, a in definition.assets.items()}


def register(app: typer.Typer) -> None:
    @app.command("partitions", help=HELP, short_help="Partition status and staleness.")
    @arco_command("partitions")
    def partitions_command(
        asset: str | None = typer.Argument(None, metavar="[ASSET]",
                                           help="Only this asset (namespace.name)."),
        stale: bool = typer.Option(False, "--stale", help="Only stale partitions."),
        now: str | None = typer.Option(None, "--now", metavar="ISO8601",
                                       help="The instant staleness is judged at."),
    ) -> None:
        from arco_cli.cli.runs import read_state
        from arco_cli.diagnostics import partition_rows
        from arco_cli.errors import ArcoError, UsageError
        from arco_cli.identity import AssetKeyError, canonical_asset_key, now_ms, parse_timestamp_ms
        from arco_cli.render.partitions import render_partitions

        try:
            at_ms = parse_timestamp_ms(now) if now is not None else now_ms()
        except ValueError as exc:
            raise UsageError(f"--now: {exc}; use e.g. 2025-01-16T00:00:00Z") from exc
        key = None
        if asset is not None:
            try:
                key = canonical_asset_key(asset)
            except AssetKeyError as exc:
                raise ArcoError("INVALID_ASSET_KEY", str(exc), {"asset": asset}) from exc
        ws = current_workspace()
        graph = workspace_graph(ws)
        rows = partition_rows(read_state(ws, check_config=False), key, stale, at_ms, graph)
        data = {"partitions": rows}
        emit(data, text=lambda console: render_partitions(data, console))
