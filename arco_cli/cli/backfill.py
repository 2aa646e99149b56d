"""``arco backfill create|run|pause|resume|cancel|retry-failed|show|list`` (cli.md §4;
data-model §7.4; decisions A18, A20, A33–A35, B8)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import typer

from arco_cli.cli.output import arco_command, current_workspace, emit, lock_timeout, warn
from arco_cli.cli.schedule import conflict_errors, failed_run_lines, table
from arco_cli.errors import ArcoError

if TYPE_CHECKING:
    from rich.console import Console

CREATE_HELP = """Record a backfill of SELECTION over a range or list of partitions.

Nothing is executed: 'arco backfill run ID' plans and runs the chunks. Re-creating an
existing --id with the same definition returns it; a different definition is refused.

\b
Examples:
  arco backfill create analytics.orders --partitions 2025-01-01..2025-01-31 --id jan
  arco backfill create analytics.orders --partition 2025-01-03 --partition 2025-01-09
"""

RUN_HELP = """Plan and execute chunks until the backfill is finished, paused or cancelled.

At most --max-concurrent-runs chunks are planned at a time. Re-running resumes: finished
chunks are kept. Ctrl-C pauses the backfill first; continue with 'resume' then 'run'.

\b
Exit status: 0 every run it started SUCCEEDED (or the backfill is not RUNNING), 1 a chunk
run failed, 3 a chunk's run key was held by a different request, 130 interrupted.

\b
Example:
  arco backfill run jan
"""

STATE_HELP = """{verb} a backfill ({allowed}).

--expected-version refuses the change when the backfill's state version differs
(VERSION_CONFLICT, exit 2). {extra}

\b
Example:
  arco backfill {name} jan --expected-version 2
"""

RETRY_HELP = """Create a new backfill over the failed partitions of a FAILED or CANCELLED
backfill. Only partitions that did not succeed are retried; repeating the command
returns the same retry backfill.

\b
Example:
  arco backfill retry-failed jan
"""

SHOW_HELP = """Show one backfill with its chunks and progress.

\b
Example:
  arco backfill show jan --json
"""

LIST_HELP = """List backfills (without chunks), sorted by id.

\b
Example:
  arco backfill list
"""


def _render_row(data: dict[str, Any], console: Console) -> None:
    progress = data["progress"]
    console.print(
        f"backfill {data['backfillId']}: {data['state']} (version {data['stateVersion']}), "
        f"{data['totalPartitions']} partitions in {progress['total']} chunks — "
        f"{progress['planned']} planned, {progress['succeeded']} succeeded, "
        f"{progress['failed']} failed", markup=False)
    console.print(f"  assets: {', '.join(data['assetSelection'])}", markup=False)
    if data.get("parentBackfillId"):
        console.print(f"  retry of: {data['parentBackfillId']}", markup=False)
    chunks = data.get("chunks") or []
    if chunks:
        rows = [[c["chunkId"], c["state"], c.get("runId", "-"),
                 f"{c['partitionKeys'][0]} .. {c['partitionKeys'][-1]}"
                 if len(c["partitionKeys"]) > 1 else c["partitionKeys"][0]] for c in chunks]
        table(console, ["CHUNK", "STATE", "RUN", "PARTITIONS"], rows)
        failed_run_lines(console, [(c["runId"], c["state"]) for c in chunks
                                   if c["state"] == "FAILED" and c.get("runId")])


def _render_list(data: dict[str, Any], console: Console) -> None:
    if not data["backfills"]:
        console.print("no backfills", markup=False)
        return
    rows = [[b["backfillId"], b["state"], str(b["totalPartitions"]),
             f"{b['progress']['succeeded']}/{b['progress']['total']}",
             str(b["progress"]["failed"]), b["createdAt"]] for b in data["backfills"]]
    table(console, ["BACKFILL", "STATE", "PARTITIONS", "SUCCEEDED", "FAILED", "CREATED"], rows)


def _now() -> int:
    from arco_cli.identity import now_ms

    return now_ms()


GROUP_HELP = """Backfills over partition ranges.

\b
Example:
  arco backfill create analytics.orders --partitions 2025-01-01..2025-01-31 --id jan
  arco backfill run jan
"""


def register(app: typer.Typer) -> None:
    group = typer.Typer(name="backfill", help=GROUP_HELP,
                        no_args_is_help=True)
    app.add_typer(group, name="backfill")

    @group.command("create", help=CREATE_HELP, short_help="Record a backfill.")
    @arco_command("backfill create")
    def create_command(
        selection: list[str] = typer.Argument(..., metavar="SELECTION...",
                                              help="Asset keys to backfill."),
        partitions: str | None = typer.Option(None, "--partitions", metavar="FROM..TO",
                                              help="Inclusive date range."),
        partition: list[str] = typer.Option([], "--partition", metavar="KEY",
                                            help="Explicit partition key (repeatable)."),
        chunk_size: int = typer.Option(10, "--chunk-size", min=0, metavar="N",
                                       help="Partitions per chunk run."),
        max_concurrent_runs: int = typer.Option(2, "--max-concurrent-runs", min=0,
                                                metavar="N",
                                                help="Chunks planned at a time."),
        backfill_id: str | None = typer.Option(None, "--id", metavar="ID",
                                               help="Backfill id (default bf_ + ULID)."),
    ) -> None:
        from arco_cli.config import load_definition
        from arco_cli.engine.triggers.backfill_plan import explicit_selector, parse_range_arg
        from arco_cli.engine.triggers.backfills import create_backfill

        if (partitions is None) == (not partition):
            raise ArcoError("USAGE_ERROR",
                            "give either --partitions FROM..TO or --partition KEY (repeatable)")
        selector = (parse_range_arg(partitions) if partitions is not None
                    else explicit_selector(partition))
        ws = current_workspace()
        definition = load_definition(ws.root)
        result = create_backfill(ws, definition, selection, selector, chunk_size=chunk_size,
                                 max_concurrent_runs=max_concurrent_runs,
                                 backfill_id=backfill_id, now_ms=_now(),
                                 lock_timeout=lock_timeout())
        data = result.shape()
        verb = "created" if result.created else "already exists:"
        emit(data, text=lambda console: console.print(
            f"backfill {verb} {data['backfillId']} — {data['totalPartitions']} partitions in "
            f"{data['chunks']} chunks; start it with 'arco backfill run {data['backfillId']}'",
            markup=False))

    @group.command("run", help=RUN_HELP, short_help="Plan and execute chunks.")
    @arco_command("backfill run")
    def run_command(
        backfill_id: str = typer.Argument(..., metavar="ID"),
    ) -> None:
        from arco_cli.config import load_definition
        from arco_cli.engine.triggers.backfills import run_backfill, run_exit_code, show_backfill

        ws = current_workspace()
        definition = load_definition(ws.root)
        result = run_backfill(ws, definition, backfill_id, now_ms=_now(),
                              lock_timeout=lock_timeout())
        for skip in result.bridge_skips:
            warn(f"run key {skip['runKey']} was not started: {skip['reason']}")
        data = show_backfill(ws, backfill_id)
        data["status"] = result.status
        data["executedRuns"] = result.executed
        code = run_exit_code(ws, result)
        errors: list[dict[str, Any]] = []
        if code == 130:
            errors = [{"code": "INTERRUPTED",
                       "message": f"interrupted; backfill {backfill_id} was paused and the "
                                  "chunk run in progress recorded as cancelled"}]
        elif code == 3:
            errors = conflict_errors(result.conflicts)
        emit(data, exit_code=code, errors=errors,
             text=lambda console: _render_row(data, console))

    def state_command(name: str, target: str, verb: str, allowed: str, extra: str) -> None:
        @group.command(name, help=STATE_HELP.format(verb=verb, allowed=allowed, extra=extra,
                                                    name=name),
                       short_help=f"{verb} a backfill.")
        @arco_command(f"backfill {name}")
        def command(
            backfill_id: str = typer.Argument(..., metavar="ID"),
            expected_version: int | None = typer.Option(
                None, "--expected-version", metavar="N",
                help="Refuse unless the backfill's state version is N."),
        ) -> None:
            from arco_cli.engine.batch import user_id
            from arco_cli.engine.triggers.backfills import change_state

            ws = current_workspace()
            data = change_state(ws, backfill_id, target, expected_version=expected_version,
                                changed_by=user_id(), now_ms=_now(),
                                lock_timeout=lock_timeout())
            emit(data, text=lambda console: _render_row(data, console))

    state_command("pause", "PAUSED", "Pause", "RUNNING → PAUSED",
                  "Chunk runs in flight finish; no new chunk is planned.")
    state_command("resume", "RUNNING", "Resume", "PAUSED → RUNNING",
                  "Then 'arco backfill run ID' continues.")
    state_command("cancel", "CANCELLED", "Cancel",
                  "PENDING, RUNNING or PAUSED → CANCELLED",
                  "Cancel stops planning only: chunk runs in flight finish.")

    @group.command("retry-failed", help=RETRY_HELP, short_help="Retry failed partitions.")
    @arco_command("backfill retry-failed")
    def retry_command(
        backfill_id: str = typer.Argument(..., metavar="ID"),
        new_id: str | None = typer.Option(None, "--id", metavar="NEW_ID",
                                          help="Id of the retry backfill."),
    ) -> None:
        from arco_cli.engine.triggers.backfills import retry_failed

        ws = current_workspace()
        data, created = retry_failed(ws, backfill_id, new_id=new_id, now_ms=_now(),
                                     lock_timeout=lock_timeout())
        data["created"] = created
        emit(data, text=lambda console: _render_row(data, console))

    @group.command("show", help=SHOW_HELP, short_help="Show a backfill.")
    @arco_command("backfill show")
    def show_command(backfill_id: str = typer.Argument(..., metavar="ID")) -> None:
        from arco_cli.engine.triggers.backfills import show_backfill

        data = show_backfill(current_workspace(), backfill_id)
        emit(data, text=lambda console: _render_row(data, console))

    @group.command("list", help=LIST_HELP, short_help="List backfills.")
    @arco_command("backfill list")
    def list_command() -> None:
        from arco_cli.engine.triggers.backfills import list_backfills

        data = {"backfills": list_backfills(current_workspace())}
        emit(data, text=lambda console: _render_list(data, console))
