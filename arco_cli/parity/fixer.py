"""``--fix``: rewrite only the numbers of stale anchors, byte for byte otherwise (A61).

The file is split at ``\\n`` only and joined back the same way, so line endings,
trailing whitespace and every other byte stay as they were; a second run finds fresh
anchors and changes nothing.
"""

from __future__ import annotations

import re
from pathlib import Path

from arco_cli.errors import ArcoError
from arco_cli.parity.findings import Fix
from arco_cli.parity.rules import AnchorFix


def apply_fixes(path: Path, rel: str, text: str, fixes: list[AnchorFix]) -> list[Fix]:
    """Rewrite ``fixes`` in ``text`` and save it to ``path``; the rewrites made."""
    if not fixes:
        return []
    lines = text.split("\n")
    made: list[Fix] = []
    by_line: dict[int, list[AnchorFix]] = {}
    for fix in fixes:
        by_line.setdefault(fix.line, []).append(fix)
    for number, line_fixes in sorted(by_line.items()):
        line = lines[number - 1]
        edits: list[tuple[int, int, str, AnchorFix]] = []
        for fix in line_fixes:
            spots = [m.span(1) for m in
                     re.finditer(r"`+ ?(" + re.escape(fix.old) + r") ?`+", line)]
            if fix.occurrence < len(spots):
                start, end = spots[fix.occurrence]
                edits.append((start, end, fix.new, fix))
        for start, end, new, fix in sorted(edits, key=lambda e: e[0], reverse=True):
            line = line[:start] + new + line[end:]
            made.append(Fix(rel, number, fix.old, fix.new))
        lines[number - 1] = line
    try:
        path.write_bytes("\n".join(lines).encode("utf-8"))
    except OSError as exc:
        raise ArcoError("INPUT_UNREADABLE", f"{rel}: cannot write the fixed matrix: "
                        f"{exc.strerror}", {"file": rel}) from exc
    return sorted(made, key=lambda f: (f.file, f.line, f.old))
