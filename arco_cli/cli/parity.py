"""``arco parity-check``: the pre-merge gate over parity matrices (parity-check.md)."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import typer

from arco_cli.cli.output import arco_command, emit, json_mode
from arco_cli.errors import EXIT_FAILED, EXIT_OK, ArcoError, UsageError

HELP = """Check a parity matrix: every Implemented row must cite code, tests and the CI job
that runs them, and the citations must be true.

\b
Rules P001-P109 (see docs/parity-check.md). Exit 0: no errors; 1: errors found (or
warnings under --strict); 2: a matrix or workflow is missing or unreadable.

\b
Example:
  arco parity-check --strict --format github
  arco parity-check --matrix docs/parity-matrix.md --fix
"""

FORMATS = ("text", "json", "github", "junit")


def register(app: typer.Typer) -> None:
    @app.command("parity-check", help=HELP)
    @arco_command("parity-check")
    def parity_check(
        repo: Path | None = typer.Option(
            None, "--repo", metavar="DIR",
            help="Repository to check (default: the git top level, else the current "
            "directory)."),
        matrix: list[str] | None = typer.Option(
            None, "--matrix", metavar="PATH", help="Matrix file or glob (repeatable; default from "
            "[tool.arco.parity], else docs/parity/*matrix*.md and docs/*parity*matrix*.md)."),
        workflow: list[str] | None = typer.Option(
            None, "--workflow", metavar="PATH", help="Workflow file or glob (repeatable; default "
            ".github/workflows/*.yml and *.yaml)."),
        strict: bool = typer.Option(False, "--strict", help="Warnings become errors."),
        fix: bool = typer.Option(False, "--fix", help="Rewrite stale line anchors in "
                                 "place (only their numbers change)."),
        output_format: str = typer.Option(
            "text", "--format", metavar="FORMAT", help="Output: text, json, github or junit."),
        projections: bool = typer.Option(
            False, "--projections", help="Also verify the workspace's projections "
            "(as `arco verify`)."),
    ) -> None:
        fmt = "json" if json_mode() else output_format
        if fmt not in FORMATS:
            raise UsageError(f"--format must be one of {', '.join(FORMATS)}, got {fmt!r}")
        from arco_cli.parity.check import Options, run_check

        verify: tuple[dict[str, Any], bool] | None = None
        if projections:
            verify = _verify_projections()
        report = run_check(Options(repo=repo, matrices=tuple(matrix or ()),
                                   workflows=tuple(workflow or ()), strict=strict, fix=fix),
                           Path.cwd())
        if verify is not None:
            report.verify, report.verify_failed = verify
        exit_code = EXIT_FAILED if report.failed else EXIT_OK
        if fmt == "json":
            emit(report.as_json(), exit_code=exit_code)
            return
        from arco_cli.parity import reporters

        if fmt == "github":
            body = reporters.render_github(report)
            summary = os.environ.get("GITHUB_STEP_SUMMARY")
            if summary:
                try:
                    with open(summary, "a", encoding="utf-8") as fh:
                        fh.write(reporters.render_markdown(report))
                except OSError as exc:
                    raise ArcoError("INPUT_UNREADABLE", f"cannot append to "
                                    f"$GITHUB_STEP_SUMMARY ({summary}): {exc.strerror}",
                                    {"file": summary}) from exc
        elif fmt == "junit":
            body = reporters.render_junit(report)
        else:
            body = reporters.render_text(report)
        sys.stdout.write(body)
        sys.stdout.flush()
        emit(None, exit_code=exit_code)


def _verify_projections() -> tuple[dict[str, Any], bool]:
    """Run the workspace verify exactly as ``arco verify`` does (decisions A70).

    Imported by name so that a build without ``arco verify`` gives NOT_AVAILABLE
    instead of an import error.
    """
    import importlib
    import importlib.util

    from arco_cli.cli.output import current_workspace

    needed = ("arco_cli.diagnostics.verify", "arco_cli.cli.runs")
    if any(importlib.util.find_spec(name) is None for name in needed):
        raise ArcoError("NOT_AVAILABLE", "--projections needs `arco verify`, which is not "
                        "available in this build; run parity-check without --projections")
    verify_workspace = getattr(importlib.import_module(needed[0]), "verify_workspace", None)
    read_state = getattr(importlib.import_module(needed[1]), "read_state", None)
    if verify_workspace is None or read_state is None:
        raise ArcoError("NOT_AVAILABLE", "--projections: this build's `arco verify` has no "
                        "verify_workspace(); run parity-check without --projections")
    ws = current_workspace()
    data: dict[str, Any] = verify_workspace(ws, lambda: read_state(ws))
    return data, bool(data.get("findings"))
