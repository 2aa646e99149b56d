"""Text for ``arco partitions``: one aligned row per partition with its staleness."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from arco_cli.render.runs import print_line, print_table

if TYPE_CHECKING:
    from rich.console import Console

_REASON_SENTENCES = {
    "NEVER_MATERIALIZED": "never materialized",
    "CODE_CHANGED": "the asset's code version changed since the last materialization",
    "UPSTREAM_NEVER_MATERIALIZED": "an upstream asset was never materialized",
    "UPSTREAM_CHANGED": "an upstream asset was materialized after this one",
    "FRESHNESS_POLICY": "older than the freshness policy allows",
}


def stale_sentence(row: dict[str, Any]) -> str:
    if not row["isStale"]:
        return "fresh"
    text = _REASON_SENTENCES.get(row["staleReason"], row["staleReason"])
    if "staleSince" in row:
        text += f" (stale since {row['staleSince']})"
    return f"{row['staleReason']}: {text}"


def render_partitions(data: dict[str, Any], console: Console) -> None:
    from rich.table import Table
    from rich.text import Text

    rows = data["partitions"]
    if not rows:
        print_line(console, "No partitions match.")
        return
    table = Table(box=None, pad_edge=False, show_edge=False, header_style="bold")
    for column in ("ASSET", "PARTITION", "MATERIALIZED", "BY RUN", "LAST ATTEMPT", "DELTA",
                   "STALENESS"):
        table.add_column(column, no_wrap=column != "STALENESS")
    for row in rows:
        attempt = "-"
        if "lastAttemptOutcome" in row:
            attempt = f"{row['lastAttemptOutcome']} {row.get('lastAttemptAt', '')}".strip()
        delta = f"{row['deltaTable']}@v{row.get('deltaVersion', '?')}" if "deltaTable" in row \
            else "-"
        staleness = Text(stale_sentence(row), style="yellow" if row["isStale"] else "green")
        table.add_row(row["assetKey"], row["partitionKey"] or "(unpartitioned)",
                      row.get("lastMaterializationAt", "-"),
                      row.get("lastMaterializationRunId", "-"), attempt, delta, staleness)
    print_table(console, table)
