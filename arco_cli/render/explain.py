"""Text for ``arco explain``: the run, its tasks, and the cause of every non-success in
one sentence (retries, skips, cancellations, conflicts, ignored events)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from arco_cli.render.conflicts import conflict_sentence, source_text
from arco_cli.render.runs import counts_text, print_line, print_table, state_text

if TYPE_CHECKING:
    from rich.console import Console

_MAX_MESSAGE = 160


def short_message(message: str | None) -> str:
    """The last non-empty line of an error (stderr tails end with the exception), cut to
    a length that keeps the sentence on one line; ``--json`` keeps the full text."""
    if not message:
        return "no message"
    lines = [line.strip() for line in message.splitlines() if line.strip()]
    text = lines[-1] if lines else message.strip()
    return text if len(text) <= _MAX_MESSAGE else text[: _MAX_MESSAGE - 1] + "…"


def _attempt_phrase(entry: dict[str, Any]) -> str:
    outcome = str(entry.get("outcome", "unfinished")).lower()
    if outcome in ("succeeded", "unfinished"):
        return f"attempt {entry['attempt']} {outcome}"
    cause = short_message(entry.get("errorMessage"))
    if "errorCategory" in entry:
        cause = f"{entry['errorCategory']}: {cause}"
    return f"attempt {entry['attempt']} {outcome} ({cause})"


def _has_history(data: dict[str, Any], task_key: str) -> bool:
    """Whether the Attempts section lists the task (it then shows its logs itself)."""
    return any(t["taskKey"] == task_key and "retryAttribution" in t for t in data["tasks"])


def trigger_text(trigger: dict[str, Any] | None) -> str:
    if not trigger:
        return "unknown"
    kind = trigger.get("type")
    if kind == "cron":
        return f"schedule {trigger.get('schedule_id')}"
    if kind == "manual":
        return f"manual, by {trigger.get('user_id')}"
    if kind == "sensor":
        return f"sensor {trigger.get('sensor_id')} (cursor {trigger.get('cursor')})"
    if kind == "materialization":
        return f"materialization {trigger.get('upstream_materialization_id')}"
    if kind == "webhook":
        return f"webhook {trigger.get('webhook_id')}"
    return str(kind)


def task_cause(task: dict[str, Any]) -> str | None:
    """One sentence saying why a task did not simply succeed, or None when it did."""
    for key in ("skipAttribution", "cancelAttribution"):
        if key in task:
            return str(task[key]["message"])
    retry = task.get("retryAttribution")
    state = task["state"]
    if retry is not None:
        n = retry["retries"]
        observed = [e for e in retry["attempts"] if e.get("attempt", 0) < task["attempt"]]
        history = ", ".join(_attempt_phrase(e) for e in observed) or "earlier attempts " \
            "were not observed"
        sentence = f"Retried {n} time{'s' if n != 1 else ''}: {history}"
        last = [e for e in retry["attempts"] if e.get("attempt") == task["attempt"]]
        if state == "FAILED":
            tail = _attempt_phrase(last[-1]) if last else f"attempt {task['attempt']} failed"
            return f"{sentence}; {tail}, no attempts left."
        if state == "PENDING" and "retryNotBefore" in task:
            tail = _attempt_phrase(last[-1]) if last else f"attempt {task['attempt']} failed"
            return f"{sentence}; {tail}; next attempt not before {task['retryNotBefore']}."
        if last:
            return f"{sentence}; {_attempt_phrase(last[-1])}."
        return f"{sentence}."
    if state == "FAILED":
        return f"Failed on attempt {task['attempt']}: {short_message(task.get('errorMessage'))}."
    if state == "PENDING" and "retryNotBefore" in task:
        return (f"Attempt {task['attempt']} failed ({short_message(task.get('errorMessage'))}); "
                f"next attempt not before {task['retryNotBefore']}.")
    if task.get("outputVisibilityState") in ("PENDING", "FAILED"):
        detail = f": {task['publishError']}" if "publishError" in task else ""
        return f"Output visibility is {task['outputVisibilityState']}{detail}."
    return None


def _keys(tasks: list[dict[str, Any]]) -> str:
    keys = [t["taskKey"] for t in tasks]
    return ", ".join(keys[:5]) + (f" and {len(keys) - 5} more" if len(keys) > 5 else "")


def run_cause(data: dict[str, Any]) -> str | None:
    """One sentence on why the run is not (yet) a success, or None when it is. Counts
    come from ``taskCounts`` so that ``--task`` (which filters ``tasks``) keeps it true."""
    state, tasks, counts = data["state"], data["tasks"], data.get("taskCounts", {})
    failed = [t for t in tasks if t["state"] == "FAILED"]
    n_failed = counts.get("failed", len(failed))
    skipped = counts.get("skipped", sum(1 for t in tasks if t["state"] == "SKIPPED"))
    tail = f"; {skipped} downstream task{'s' if skipped != 1 else ''} skipped" if skipped else ""
    if state == "FAILED":
        if failed and len(failed) == n_failed:
            return f"Failed because task{'s' if n_failed != 1 else ''} {_keys(failed)} " \
                f"failed{tail}."
        if n_failed:
            return f"Failed because {n_failed} task{'s' if n_failed != 1 else ''} " \
                f"failed{tail}."
        invisible = [t for t in tasks if t.get("outputVisibilityState") == "FAILED"]
        if invisible:
            return f"Failed because the output of {_keys(invisible)} did not become visible."
        return "Failed because a task's output did not become visible."
    if state == "CANCELLED":
        return "Cancelled before all tasks succeeded."
    if state == "CANCELLING":
        running = [t for t in tasks if t["state"] == "RUNNING"]
        return ("Cancel requested; waiting for " + _keys(running) + " to report."
                if running else "Cancel requested; waiting for running tasks to report.")
    if state == "PENDING":
        return "Triggered; no tasks planned yet."
    if state == "RUNNING":
        waiting = [t for t in tasks if "retryNotBefore" in t]
        if waiting:
            return f"Running; {_keys(waiting)} waiting to retry."
    return None


def _field(console: Console, name: str, value: str) -> None:
    from rich.text import Text

    print_line(console, Text(f"  {name:<12}") + Text(value))


def render_explain(data: dict[str, Any], console: Console) -> None:
    from rich.table import Table
    from rich.text import Text

    print_line(console, Text("Run ", style="bold") + Text(data["runId"], style="bold") + Text("  ")
                  + state_text(data["state"]))
    cause = run_cause(data)
    if cause:
        _field(console, "cause", cause)
    _field(console, "plan", data["planId"])
    _field(console, "trigger", trigger_text(data.get("trigger")))
    if "runKey" in data:
        fingerprint = data.get("requestFingerprint")
        _field(console, "run key", data["runKey"]
               + (f" (fingerprint {fingerprint})" if fingerprint else ""))
    times = f"created {data['createdAt']}"
    if "startedAt" in data:
        times += f", started {data['startedAt']}"
    if "completedAt" in data:
        times += f", completed {data['completedAt']}"
    _field(console, "times", times)
    if "parentRunId" in data:
        reason = f" ({data['rerunKind']}: {data['rerunReason']})" if "rerunKind" in data else ""
        _field(console, "rerun of", data["parentRunId"] + reason)
    if len(data["rerunChain"]) > 1:
        _field(console, "rerun chain", " -> ".join(i["runId"] for i in data["rerunChain"]))
    if "rootRunId" in data:
        _field(console, "root run", data["rootRunId"])
    if data["labels"]:
        _field(console, "labels", ", ".join(f"{k}={v}" for k, v in sorted(data["labels"].items())))

    console.print()
    print_line(console, Text("Tasks", style="bold") + Text(f" ({counts_text(data['taskCounts'])})"))
    table = Table(box=None, pad_edge=False, show_edge=False, header_style="bold")
    for column in ("TASK", "STATE", "ATTEMPT", "STARTED", "COMPLETED", "PARTITION", "DELTA"):
        table.add_column(column, no_wrap=True)
    for task in data["tasks"]:
        delta = "-"
        if "deltaTable" in task:
            delta = f"{task['deltaTable']}@v{task.get('deltaVersion', '?')}"
        table.add_row(task["taskKey"], state_text(task["state"]), str(task["attempt"]),
                      task.get("startedAt", "-"), task.get("completedAt", "-"),
                      task.get("partitionKey", "-"), delta)
    print_table(console, table)

    causes = [(t["taskKey"], task_cause(t)) for t in data["tasks"]]
    causes = [(k, c) for k, c in causes if c]
    if causes:
        console.print()
        print_line(console, Text("Causes", style="bold"))
        logs = {t["taskKey"]: t.get("logs", {}) for t in data["tasks"]}
        for key, cause in causes:
            print_line(console, Text(f"  {key}: ", style="bold") + Text(str(cause)))
            if "stderr" in logs.get(key, {}) and not _has_history(data, key):
                print_line(console, Text(f"    stderr: {logs[key]['stderr']}"))

    histories = [t for t in data["tasks"] if "retryAttribution" in t]
    if histories:
        console.print()
        print_line(console, Text("Attempts", style="bold"))
        for task in histories:
            print_line(console, Text(f"  {task['taskKey']}"))
            for entry in task["retryAttribution"]["attempts"]:
                line = (f"    #{entry['attempt']} {entry.get('outcome', 'UNFINISHED'):<10} "
                        f"{entry.get('startedAt', '-')} -> {entry.get('completedAt', '-')}")
                if "errorMessage" in entry:
                    line += f"  {entry.get('errorCategory', 'ERROR')}: " \
                        f"{short_message(entry['errorMessage'])}"
                print_line(console, Text(line))
                for kind, path in sorted(entry.get("logs", {}).items()):
                    print_line(console, Text(f"       {kind}: {path}"))

    console.print()
    if data["conflicts"]:
        print_line(console, Text(f"Conflicts ({len(data['conflicts'])})", style="bold"))
        for conflict in data["conflicts"]:
            print_line(console, Text("  " + conflict_sentence(conflict)))
    else:
        print_line(console, Text("Conflicts: none"))

    ignored = data["ignoredEvents"]
    if ignored:
        console.print()
        print_line(console, Text(f"Ignored events ({len(ignored)})", style="bold"))
        for event in ignored:
            reason = event.get("reason", event["outcome"])
            line = f"  {event['eventId']} {event['eventType']}: {event['outcome']} ({reason})"
            if "detail" in event:
                line += f" - {event['detail']}"
            print_line(console, Text(line))
            for diag in event.get("diagnostics", []):
                print_line(console, Text(f"      {diag.get('code')}: {diag.get('message', '')}"))


__all__ = ["render_explain", "run_cause", "short_message", "source_text", "task_cause",
           "trigger_text"]
