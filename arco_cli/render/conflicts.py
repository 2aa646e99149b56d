"""Text for run-key conflicts: which earlier request holds the key and what differs in
the refused one, field by field."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from arco_cli.render.runs import print_line

if TYPE_CHECKING:
    from rich.console import Console


def source_text(source: dict[str, Any] | None) -> str:
    """A ``SourceRef`` in words (``schedule daily tick daily:1736...``)."""
    if not source:
        return "an unknown source"
    kind = source.get("type")
    if kind == "schedule":
        return f"schedule {source.get('schedule_id')} tick {source.get('tick_id')}"
    if kind == "sensor":
        return f"sensor {source.get('sensor_id')} evaluation {source.get('eval_id')}"
    if kind == "backfill":
        return f"backfill {source.get('backfill_id')} chunk {source.get('chunk_id')}"
    if kind == "manual":
        return f"manual request {source.get('request_id')} by {source.get('user_id')}"
    return f"a {kind} source"


def _value(value: Any) -> str:
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _set_change(name: str, change: dict[str, Any]) -> str:
    parts = []
    if change.get("added"):
        parts.append("adds " + ", ".join(change["added"]))
    if change.get("removed"):
        parts.append("removes " + ", ".join(change["removed"]))
    return f"{name} " + " and ".join(parts) if parts else f"{name} differs"


def _label_change(change: dict[str, Any]) -> str:
    parts = [f"adds {k}={v}" for k, v in sorted(change.get("added", {}).items())]
    parts += [f"removes {k}={v}" for k, v in sorted(change.get("removed", {}).items())]
    parts += [f"changes {k} from {_value(v.get('existing'))} to {_value(v.get('requested'))}"
              for k, v in sorted(change.get("changed", {}).items())]
    return "labels " + ", ".join(parts) if parts else "labels differ"


_PAIR_NAMES = {
    "includeUpstream": "include-upstream", "includeDownstream": "include-downstream",
    "parentRunId": "parent run", "rerunKind": "rerun kind",
    "codeVersion": "code version (informational)",
}


def differences_text(differences: dict[str, Any] | None) -> str:
    """Every difference of §8.7 in words; an empty object means the fingerprints differ
    on inputs the events do not carry."""
    if differences is None:
        return "the differences were not recorded"
    if not differences:
        return ("the carried fields are equal, so the fingerprints differ on inputs not "
                "carried on the events (another producer's fingerprint algorithm)")
    parts = []
    for key in ("selection", "partitions"):
        if key in differences:
            parts.append(_set_change(key, differences[key]))
    for key in ("includeUpstream", "includeDownstream", "parentRunId", "rerunKind"):
        if key in differences:
            pair = differences[key]
            parts.append(f"{_PAIR_NAMES[key]} {_value(pair.get('existing'))} -> "
                         f"{_value(pair.get('requested'))}")
    if "labels" in differences:
        parts.append(_label_change(differences["labels"]))
    if "codeVersion" in differences:
        pair = differences["codeVersion"]
        parts.append(f"{_PAIR_NAMES['codeVersion']} {_value(pair.get('existing'))} -> "
                     f"{_value(pair.get('requested'))}")
    return "; ".join(parts)


def conflict_sentence(conflict: dict[str, Any]) -> str:
    held = (f"Run key '{conflict['runKey']}' is held by the request from "
            f"{source_text(conflict.get('existingSource'))}")
    if "existingCreatedAt" in conflict:
        held += f" at {conflict['existingCreatedAt']}"
    held += f" (run {conflict['existingRunId']})"
    seen = conflict.get("occurrences", 1)
    times = f", seen {seen} times" if seen != 1 else ""
    return (f"{held}; request {conflict['requestedEventId']} from "
            f"{source_text(conflict.get('requestedSource'))} at {conflict['detectedAt']}"
            f"{times} was refused: {differences_text(conflict.get('differences'))}.")


def render_conflicts(data: dict[str, Any], console: Console) -> None:
    from rich.text import Text

    conflicts = data["conflicts"]
    if not conflicts:
        print_line(console, "No run-key conflicts.")
        return
    print_line(console, Text(f"{len(conflicts)} run-key conflict"
                       + ("" if len(conflicts) == 1 else "s"), style="bold"))
    for conflict in conflicts:
        print_line(console, Text("  " + conflict_sentence(conflict)))
        print_line(console, Text(f"    fingerprints: existing {conflict['existingFingerprint']}, "
                           f"requested {conflict['requestedFingerprint']}"))
