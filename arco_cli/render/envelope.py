"""The JSON envelope of cli.md §3, the one document ``--json`` prints."""

from __future__ import annotations

import json
from typing import Any

from arco_cli.errors import EXIT_CONFLICT, EXIT_FAILED, EXIT_OK

SCHEMA_VERSION = 1


def status_for(exit_code: int) -> str:
    if exit_code == EXIT_OK:
        return "ok"
    if exit_code == EXIT_FAILED:
        return "failed"
    if exit_code == EXIT_CONFLICT:
        return "conflict"
    return "error"


def envelope(command: str, exit_code: int, data: Any, errors: list[dict[str, Any]]) -> str:
    doc = {
        "schemaVersion": SCHEMA_VERSION,
        "command": command,
        "status": status_for(exit_code),
        "exitCode": exit_code,
        "data": data,
        "errors": errors,
    }
    # Deterministic bytes: key order as written above, data keys as produced.
    return json.dumps(doc, ensure_ascii=False, separators=(",", ":"))
