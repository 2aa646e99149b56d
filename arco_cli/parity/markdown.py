"""Matrix tables out of a Markdown file, with exact line numbers (decisions A67).

Only what the gate needs of GFM: ``##`` sections, pipe tables (header, delimiter row,
body rows until a blank line or another block), ``\\|`` escapes, and pipes inside code
spans, which stay in their cell so that a cited shell pipeline is not cut in two.
Fenced code blocks are skipped: tables shown there are examples, not claims.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_DELIMITER_CELL = re.compile(r"^\s*:?-+:?\s*$")
_FENCE = re.compile(r"^\s{0,3}(`{3,}|~{3,})")
_HEADING = re.compile(r"^\s{0,3}(#{1,6})(?:\s+(.*?))?\s*#*\s*$")


@dataclass(frozen=True)
class Row:
    line: int                 # 1-based line number in the file
    cells: tuple[str, ...]    # one per header column (GFM: missing cells are empty)


@dataclass(frozen=True)
class Table:
    line: int                 # line of the header row
    section: str              # nearest preceding "##" heading, "" before any
    header: tuple[str, ...]
    rows: tuple[Row, ...]

    def column(self, name: str) -> int | None:
        for i, title in enumerate(self.header):
            if title == name:
                return i
        return None


def split_lines(text: str) -> list[str]:
    """Lines as the fixer counts them: split at "\\n" only, "\\r" dropped."""
    return [line[:-1] if line.endswith("\r") else line for line in text.split("\n")]


def split_cells(line: str) -> list[str]:
    """Cells of a table line; ``\\|`` is a literal pipe, pipes in code spans don't split."""
    s = line.strip()
    cells: list[str] = []
    buf: list[str] = []
    i = 0
    n = len(s)
    if s.startswith("|"):
        i = 1
    while i < n:
        ch = s[i]
        if ch == "\\" and i + 1 < n and s[i + 1] == "|":
            buf.append("|")
            i += 2
            continue
        if ch == "`":
            run = i
            while run < n and s[run] == "`":
                run += 1
            ticks = s[i:run]
            close = _find_closing_ticks(s, run, len(ticks))
            if close < 0:
                buf.append(ticks)
                i = run
                continue
            buf.append(s[i:close + len(ticks)].replace("\\|", "|"))
            i = close + len(ticks)
            continue
        if ch == "|":
            cells.append("".join(buf))
            buf = []
            i += 1
            continue
        buf.append(ch)
        i += 1
    rest = "".join(buf)
    # A trailing pipe closes the last cell; text after the last pipe is one more cell.
    if rest.strip() or not s.endswith("|") or s == "|":
        cells.append(rest)
    return [c.strip() for c in cells]


def _find_closing_ticks(s: str, start: int, count: int) -> int:
    i = start
    n = len(s)
    while i < n:
        if s[i] == "`":
            run = i
            while run < n and s[run] == "`":
                run += 1
            if run - i == count:
                return i
            i = run
        else:
            i += 1
    return -1


def _is_delimiter(line: str) -> bool:
    if "-" not in line:
        return False
    cells = split_cells(line)
    return bool(cells) and all(_DELIMITER_CELL.match(c) for c in cells)


def _ends_table(line: str) -> bool:
    stripped = line.strip()
    return (not stripped or bool(_HEADING.match(line)) or bool(_FENCE.match(line))
            or stripped.startswith(">"))


def parse_tables(text: str) -> list[Table]:
    """Every pipe table of the document, in order."""
    # A byte-order mark would hide a heading on line 1; line numbers are unaffected.
    lines = split_lines(text.removeprefix("\ufeff"))
    tables: list[Table] = []
    section = ""
    fence: str | None = None
    i = 0
    while i < len(lines):
        line = lines[i]
        fence_match = _FENCE.match(line)
        if fence is not None:
            if fence_match and fence_match.group(1)[0] == fence[0] and \
                    len(fence_match.group(1)) >= len(fence):
                fence = None
            i += 1
            continue
        if fence_match:
            fence = fence_match.group(1)
            i += 1
            continue
        heading = _HEADING.match(line)
        if heading:
            if len(heading.group(1)) == 2:
                section = (heading.group(2) or "").strip()
            i += 1
            continue
        if "|" in line and i + 1 < len(lines) and _is_delimiter(lines[i + 1]):
            header = tuple(split_cells(line))
            if len(split_cells(lines[i + 1])) == len(header):
                rows: list[Row] = []
                j = i + 2
                while j < len(lines) and not _ends_table(lines[j]):
                    cells = split_cells(lines[j])
                    cells = (cells + [""] * len(header))[: len(header)]
                    rows.append(Row(line=j + 1, cells=tuple(cells)))
                    j += 1
                tables.append(Table(line=i + 1, section=section, header=header,
                                    rows=tuple(rows)))
                i = j
                continue
        i += 1
    return tables
