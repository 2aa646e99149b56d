"""Where names are defined in a source file (decisions A62), found by one regex scan.

A definition is a line ``^\\s*(modifier\\s+)*KEYWORD\\s+NAME\\b``, the Go receiver form
``func (r *T) Name`` or ``impl ... for NAME``. Its *block* starts at the first of the
contiguous attribute, decorator (with continuation lines) or comment lines above the
keyword line, stopping at a blank line; P103 judges anchors against that block.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_MODIFIERS = (
    r"pub(?:\s*\([^)]*\))?|async|unsafe|export|default|static|extern(?:\s+\"[^\"]*\")?"
    r"|const|abstract|final|public|private|protected|internal|declare|readonly|override"
    r"|virtual|sealed|open|data|inline|local"
)
_KEYWORDS = (r"async\s+def|def|class|fn|struct|enum|trait|mod|const|type|func|function"
             r"|interface|union")
_DEFINITION = re.compile(
    rf"^\s*(?:(?:{_MODIFIERS})\s+)*(?:{_KEYWORDS})\s*\*?\s+(?P<name>[A-Za-z_$][\w$]*)")
_GO_RECEIVER = re.compile(r"^\s*func\s*\([^)]*\)\s*(?P<name>[A-Za-z_]\w*)")
_IMPL = re.compile(rf"^\s*(?:(?:{_MODIFIERS})\s+)*impl\b(?P<rest>.*)")
_IDENT = re.compile(r"[A-Za-z_$][\w$]*")
_COMMENT = re.compile(r"^\s*(?://|#(?!\[)|/\*|\*|--)")
_ATTRIBUTE = re.compile(r"^\s*(?:#!?\[|@)")


@dataclass(frozen=True)
class Definition:
    name: str
    line: int          # 1-based line of the defining keyword
    block_start: int   # first attribute/decorator/comment line above it


def _impl_name(rest: str) -> str | None:
    rest = _strip_generics(rest)
    if re.search(r"\bfor\b", rest):
        rest = re.split(r"\bfor\b", rest, maxsplit=1)[1]
    rest = rest.split("{")[0].split(" where ")[0].strip()
    rest = re.sub(r"^(?:dyn|&|mut|\s)+", "", rest)
    path = re.match(r"[\w:]+", rest)
    if not path:
        return None
    return path.group(0).split("::")[-1] or None


def _strip_generics(text: str) -> str:
    out: list[str] = []
    depth = 0
    for ch in text:
        if ch == "<":
            depth += 1
        elif ch == ">" and depth:
            depth -= 1
        elif depth == 0:
            out.append(ch)
    return "".join(out)


def scan(lines: list[str]) -> dict[str, list[Definition]]:
    """Every definition of the file, by name, in line order."""
    found: dict[str, list[Definition]] = {}
    for index, line in enumerate(lines):
        if not line or line.isspace():
            continue
        name: str | None = None
        m = _DEFINITION.match(line) or _GO_RECEIVER.match(line)
        if m:
            name = m.group("name")
        else:
            impl = _IMPL.match(line)
            if impl:
                name = _impl_name(impl.group("rest"))
        if name:
            number = index + 1
            found.setdefault(name, []).append(
                Definition(name=name, line=number, block_start=block_start(lines, number)))
    return found


def block_start(lines: list[str], keyword_line: int) -> int:
    """First line of the attribute/decorator/comment run directly above ``keyword_line``."""
    start = keyword_line
    i = keyword_line - 2           # 0-based index of the line above
    while i >= 0:
        line = lines[i]
        if not line.strip():
            break
        if _ATTRIBUTE.match(line) or _COMMENT.match(line):
            start = i + 1
            i -= 1
            continue
        # A continuation line of a multi-line decorator/attribute: walk up to its opener
        # when the brackets between it and the opener balance.
        opener = _bracket_opener(lines, i)
        if opener is None:
            break
        start = opener + 1
        i = opener - 1
    return start


def _bracket_opener(lines: list[str], i: int) -> int | None:
    """Index of the decorator/attribute line whose open brackets line ``i`` continues."""
    depth = 0
    j = i
    while j >= 0 and lines[j].strip():
        line = lines[j]
        depth += line.count(")") + line.count("]") + line.count("}")
        depth -= line.count("(") + line.count("[") + line.count("{")
        if j == i and depth <= 0:
            return None        # the line closes no bracket: not a continuation
        if _ATTRIBUTE.match(line):
            return j if depth <= 0 else None
        j -= 1
    return None


def body_identifiers(lines: list[str], definition: Definition) -> dict[str, int]:
    """Identifiers in a definition's body with their first line (for ``Type::Variant``).

    The body is the indented block after a header ending in ``:`` (Python), else the
    brace-delimited block that opens on or after the keyword line.
    """
    first = definition.line - 1
    header = lines[first]
    out: dict[str, int] = {}
    if header.rstrip().endswith(":"):
        indent = len(header) - len(header.lstrip())
        for index in range(first + 1, len(lines)):
            line = lines[index]
            if line.strip() and len(line) - len(line.lstrip()) <= indent:
                break
            for name in _IDENT.findall(line):
                out.setdefault(name, index + 1)
        return out
    depth = 0
    opened = False
    for index in range(first, len(lines)):
        text = lines[index]
        if not opened:
            if "{" not in text:
                if index > first + 3:
                    break          # no body within a few lines: a unit struct or alias
                continue
            text = text.split("{", 1)[1]
            opened = True
            depth = 1
        depth += text.count("{")
        for name in _IDENT.findall(text):
            out.setdefault(name, index + 1)
        depth -= text.count("}")
        if depth <= 0:
            break
    return out
