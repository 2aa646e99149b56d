"""``arco verify``: integrity of the log, the projections, lineage and Delta commits."""

from __future__ import annotations

import typer

from arco_cli.cli.output import arco_command, current_workspace, emit
from arco_cli.errors import EXIT_FAILED, EXIT_OK

HELP = """Check integrity: the log is well-formed, the projections on disk equal a fresh
replay of the log, task and partition lineage agree byte for byte, and every recorded
Delta version exists in its table and was committed by the recorded run.

\b
Exit 0 when everything agrees, 1 with the findings otherwise. Finding codes:
LOG_CORRUPT, PROJECTION_MISMATCH, LINEAGE_MISMATCH, DELTA_TABLE_MISSING,
DELTA_VERSION_MISSING, DELTA_COMMIT_NOT_BY_RUN, DELTA_COMMIT_METADATA_MISSING.

\b
Examples:
  arco verify
  arco verify --json | jq '.data.findings'
"""


def register(app: typer.Typer) -> None:
    @app.command("verify", help=HELP, short_help="Check log, projections, lineage, Delta.")
    @arco_command("verify")
    def verify_command() -> None:
        from arco_cli.cli.runs import read_state
        from arco_cli.diagnostics.verify import verify_workspace
        from arco_cli.render.verify import render_verify

        ws = current_workspace()
        data = verify_workspace(ws, lambda: read_state(ws))
        exit_code = EXIT_FAILED if data["findings"] else EXIT_OK
        emit(data, exit_code=exit_code, text=lambda console: render_verify(data, console))
