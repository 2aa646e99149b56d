"""Text for ``arco verify``: what was checked, then one line per finding."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console


def render_verify(data: dict[str, Any], console: Console) -> None:
    from rich.text import Text

    checked = data["checked"]
    console.print("Checked " + ", ".join(f"{checked[k]} {name}" for k, name in (
        ("events", "events"), ("tables", "tables"), ("tasks", "tasks"),
        ("partitions", "partitions"), ("deltaCommits", "Delta commits"))) + ".")
    findings = data["findings"]
    if not findings:
        console.print(Text("OK: no findings.", style="green"))
        return
    console.print(Text(f"{len(findings)} finding" + ("" if len(findings) == 1 else "s"),
                       style="bold red"))
    for finding in findings:
        where = " ".join(f"{k} {finding[k]}" for k in ("runId", "taskKey") if k in finding)
        console.print(Text(f"  {finding['code']}", style="red")
                      + Text(f"{' (' + where + ')' if where else ''}: {finding['message']}"))
