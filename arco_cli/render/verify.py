"""Text for ``arco verify``: what was checked, then one line per finding."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from arco_cli.render.runs import print_line

if TYPE_CHECKING:
    from rich.console import Console


def render_verify(data: dict[str, Any], console: Console) -> None:
    from rich.text import Text

    checked = data["checked"]
    print_line(console, "Checked " + ", ".join(f"{checked[k]} {name}" for k, name in (
        ("events", "events"), ("tables", "tables"), ("tasks", "tasks"),
        ("partitions", "partitions"), ("deltaCommits", "Delta commits"))) + ".")
    findings = data["findings"]
    if not findings:
        print_line(console, Text("OK: no findings.", style="green"))
        return
    print_line(console, Text(f"{len(findings)} finding" + ("" if len(findings) == 1 else "s"),
                       style="bold red"))
    for finding in findings:
        where = " ".join(f"{k} {finding[k]}" for k in ("runId", "taskKey") if k in finding)
        print_line(console, Text(f"  {finding['code']}", style="red")
                      + Text(f"{' (' + where + ')' if where else ''}: {finding['message']}"))
