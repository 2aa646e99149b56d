"""What an evidence cell cites: backticked spans, anchors, symbols, CI items.

Grammar (parity-check.md, decisions A65, A66, A69): a cell is ``<br>``-separated items of
free text around backticked spans; a *symbol next to a path* is a parenthesis directly
after a span holding exactly one backticked (possibly qualified) identifier; a CI item is
`` `WORKFLOW` (job `JOB`: `CMD` [+ `CMD`]...) ``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

BR = re.compile(r"<br\s*/?>", re.IGNORECASE)
_SPAN = re.compile(r"(?<!`)(`+)(?!`)(.+?)(?<!`)\1(?!`)")
_SYMBOL_AFTER = re.compile(
    r"\s*\(\s*`([A-Za-z_$][\w$]*(?:(?:::|\.)[A-Za-z_$][\w$]*)*)`\s*\)")
_ANCHOR = re.compile(r"^(?P<path>.*?):(?P<n>\d+)(?:-(?P<m>\d+))?$")
_JOB = re.compile(r"\(\s*job\s+(?:`([^`]+)`|([\w.-]+))\s*:(?P<rest>.*)\)", re.DOTALL)
_GLOB = re.compile(r"[*?\[\]{}]")
_EMPTY = {"", "-", "—", "n/a"}


@dataclass(frozen=True)
class Span:
    text: str              # the span's content, as written
    start: int             # offset of the opening backtick inside its item
    path: str              # text without ":N", ":N-M" and "::..." (A65)
    anchor: tuple[int, int | None] | None
    node: str | None       # what follows "::", e.g. "TestX::test_y"
    symbol: str | None     # backticked identifier in a parenthesis right after the span

    @property
    def pathlike(self) -> bool:
        """Candidate for a path check: no whitespace, no glob characters (A65)."""
        return bool(self.path) and not any(c.isspace() for c in self.text) \
            and not _GLOB.search(self.path)

    @property
    def test_name(self) -> str | None:
        return self.symbol or self.node


@dataclass(frozen=True)
class CiItem:
    text: str
    workflow: Span | None        # first span before the job part
    job: str | None
    commands: tuple[str, ...]    # spans after "job JOB:"


def is_empty(cell: str) -> bool:
    """P002 emptiness: only whitespace, <br>, "-", "—" or "N/A" (A67)."""
    return BR.sub(" ", cell).strip().lower() in _EMPTY


def items(cell: str) -> list[str]:
    return [part for part in BR.split(cell) if part.strip()]


def parse_span(text: str, start: int, symbol: str | None) -> Span:
    body = text.strip()
    node: str | None = None
    if "::" in body:
        body, node = body.split("::", 1)
    anchor: tuple[int, int | None] | None = None
    m = _ANCHOR.match(body)
    if m:
        body = m.group("path")
        anchor = (int(m.group("n")), int(m.group("m")) if m.group("m") else None)
    return Span(text=text, start=start, path=body, anchor=anchor, node=node, symbol=symbol)


def spans(item: str) -> list[Span]:
    out: list[Span] = []
    pos = 0
    while True:
        m = _SPAN.search(item, pos)
        if not m:
            return out
        symbol: str | None = None
        after = _SYMBOL_AFTER.match(item, m.end())
        end = m.end()
        if after:
            symbol = after.group(1)
            end = after.end()
        out.append(parse_span(m.group(2), m.start(), symbol))
        pos = end


def ci_item(item: str) -> CiItem:
    job = _JOB.search(item)
    if job is None:
        found = spans(item)
        return CiItem(text=item, workflow=found[0] if found else None, job=None, commands=())
    before = spans(item[: job.start()])
    commands = tuple(m.group(2).strip() for m in _SPAN.finditer(job.group("rest")))
    return CiItem(text=item, workflow=before[0] if before else None,
                  job=(job.group(1) or job.group(2)).strip(), commands=commands)


def path_spans(column: str, item: str) -> list[Span]:
    """The spans of an item that may be repository paths (A65)."""
    if column == "Evidence (CI)":
        job = _JOB.search(item)
        item = item[: job.start()] if job else item
    return [s for s in spans(item) if s.pathlike]
