"""``arco ingest``: append events produced elsewhere (cli.md §4, decisions A20, A55)."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import typer

from arco_cli.cli import options
from arco_cli.cli.output import arco_command, current_workspace, emit, lock_timeout, warn

if TYPE_CHECKING:
    from rich.console import Console

    from arco_cli.log.ingest import IncomingEvent, IngestReport

HELP = """Append events produced elsewhere to the workspace's event log, then fold.

\b
PATH is a JSON Lines file (one envelope per line, blank lines skipped), '-' for stdin,
or an arco-flow ledger folder (every *.json below it at {YYYY-MM-DD}/{event_id}.json).
Every event of every input is validated first; one invalid or foreign event refuses the
whole command and nothing is appended. Events already in the log are skipped and counted.
JSON Lines are appended in file order, ledger folders in event_id order.

\b
Examples:
  arco ingest events.jsonl
  cat events.jsonl | arco ingest - --json
  arco ingest ledger/orchestration --dry-run
"""


def _watermark(event_id: str | None, log_offset: int) -> dict[str, Any]:
    return {"eventId": event_id, "logOffset": log_offset}


def _data(report: IngestReport, watermark: dict[str, Any]) -> dict[str, Any]:
    return {
        "appended": report.appended,
        "duplicates": report.duplicates,
        "duplicatesDiffering": report.duplicates_differing,
        "unknownTypes": dict(sorted(report.unknown_types.items())),
        "watermark": watermark,
    }


def render_ingest(data: dict[str, Any], dry_run: bool, console: Console) -> None:
    verb = "Would append" if dry_run else "Appended"
    noun = "event" if data["appended"] == 1 else "events"
    console.print(f"{verb} {data['appended']} {noun}; skipped {data['duplicates']} "
                  "already in the log.")
    if data["duplicatesDiffering"]:
        console.print(f"{len(data['duplicatesDiffering'])} skipped events differ from the "
                      "logged record with the same id: "
                      + ", ".join(data["duplicatesDiffering"]))
    for tag, count in data["unknownTypes"].items():
        console.print(f"Unknown event type {tag!r}: {count} (appended; the fold records "
                      "them as unknown_event_type).")
    mark = data["watermark"]
    console.print(f"Watermark: {mark['eventId'] or '(empty log)'} at log offset "
                  f"{mark['logOffset']}.")


class _BatchFeedback:
    """After each durable batch: an acknowledgement line (``-v``) and/or a progress bar
    (interactive stderr, more than one batch, never with ``--json``)."""

    def __init__(self, total: int, acknowledge: bool, show_bar: bool) -> None:
        self._acknowledge = acknowledge
        self._bar: Any = None
        self._task: Any = None
        if show_bar:
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

            self._bar = Progress(TextColumn("[bold]ingest"), BarColumn(), MofNCompleteColumn(),
                                 console=Console(stderr=True), transient=True)
            self._task = self._bar.add_task("ingest", total=total)
            self._bar.start()

    def __call__(self, first: int, batch: Sequence[IncomingEvent]) -> None:
        if self._acknowledge:
            # One flushed line per durable batch: what an operator (or the crash test)
            # may rely on having been committed.
            sys.stderr.write(f"ingest: committed offsets {first}-{first + len(batch) - 1} "
                             f"({len(batch)} events, last {batch[-1].event_id})\n")
            sys.stderr.flush()
        if self._bar is not None:
            self._bar.advance(self._task, len(batch))

    def stop(self) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None


def register(app: typer.Typer) -> None:
    @app.command("ingest", help=HELP, short_help="Append events produced elsewhere.")
    @arco_command("ingest")
    def ingest_command(
        paths: list[str] = typer.Argument(..., metavar="PATH",
                                          help="JSON Lines file, '-' (stdin) or folder."),
        dry_run: bool = typer.Option(False, "--dry-run",
                                     help="Validate and report; append nothing."),
    ) -> None:
        from arco_cli.errors import ArcoError
        from arco_cli.log import EventLog
        from arco_cli.log.ingest import BATCH_EVENTS, append_events, plan_dry_run, read_inputs

        ws = current_workspace()
        log = EventLog(ws.log_dir)
        log.check_scope(ws.tenant_id, ws.workspace_id)
        inputs = read_inputs(paths, ws.tenant_id, ws.workspace_id,
                             lambda: sys.stdin.buffer.read())
        if inputs.problems:
            count = len(inputs.problems)
            raise ArcoError(inputs.problems[0].code,
                            f"{count} invalid input event{'s' if count != 1 else ''}; "
                            "nothing was appended", problems=inputs.problems)
        if dry_run:
            # A fold to the end of the log reaches exactly the log's head.
            report = plan_dry_run(log, inputs)
            head = log.head()
            watermark = _watermark(head.max_event_id, head.records)
        else:
            opts = options.CURRENT.options
            feedback = _BatchFeedback(
                len(inputs.events), acknowledge=opts.verbose > 0,
                show_bar=(sys.stderr.isatty() and not opts.json and not opts.quiet
                          and len(inputs.events) > BATCH_EVENTS))
            try:
                report = append_events(log, inputs, timeout=lock_timeout(), on_batch=feedback)
            finally:
                feedback.stop()
            from arco_cli.projections import fold_workspace

            folded = fold_workspace(ws, lock_timeout=lock_timeout())
            watermark = folded["watermark"]
        if report.non_canonical_ids:
            ids = report.non_canonical_ids
            warn(f"{len(ids)} ingested event id{'s are' if len(ids) != 1 else ' is'} not "
                 f"a canonical upper-case ULID (first: {ids[0]}); the fold orders events by "
                 "id, so their fold order can differ from the order they happened in")
        data = _data(report, watermark)
        emit(data, text=lambda console: render_ingest(data, dry_run, console))
