"""Shell scripts of ``run:`` steps split into simple commands (decisions A63).

A step runs a cited command when the cited tokens are a contiguous run inside one simple
command; matching across commands (``cargo build`` / ``cargo test``) would pass by
accident. ``cd DIR`` before a command changes the directory that command runs in.
"""

from __future__ import annotations

import functools
import posixpath
import shlex
from dataclasses import dataclass

_OPERATORS = {"&&", "||", ";", "|", "&", ";;", "|&"}


@dataclass(frozen=True)
class SimpleCommand:
    tokens: tuple[str, ...]
    cwd: str | None      # directory relative to the step's working directory ("" = same)


def tokenize(text: str) -> list[str]:
    """Shell words with quotes removed; operators are separate tokens."""
    return list(_tokenize(text))


@functools.lru_cache(maxsize=4096)
def _tokenize(text: str) -> tuple[str, ...]:
    # Cached: every row of a matrix tends to cite the same few commands and steps.
    lexer = shlex.shlex(text, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    try:
        return tuple(lexer)
    except ValueError:
        # An unbalanced quote: fall back to whitespace words rather than give up.
        return tuple(text.split())


def join_continuations(script: str) -> list[str]:
    lines: list[str] = []
    buf = ""
    for raw in script.replace("\r\n", "\n").split("\n"):
        if raw.rstrip().endswith("\\"):
            buf += raw.rstrip()[:-1] + " "
            continue
        lines.append(buf + raw)
        buf = ""
    if buf:
        lines.append(buf)
    return lines


@functools.lru_cache(maxsize=1024)
def simple_commands(script: str) -> tuple[SimpleCommand, ...]:
    """Every simple command of a script, with the ``cd`` directory it runs in."""
    out: list[SimpleCommand] = []
    cwd: str | None = ""
    for line in join_continuations(script):
        current: list[str] = []
        for token in [*tokenize(line), ";"]:
            if token in _OPERATORS:
                if current:
                    out.append(SimpleCommand(tuple(current), cwd))
                    if current[0] == "cd":
                        cwd = _cd(cwd, current[1:])
                current = []
            else:
                current.append(token)
    return tuple(out)


def _cd(cwd: str | None, args: list[str]) -> str | None:
    """The directory after ``cd ARGS``; None once it cannot be known statically."""
    if cwd is None or len(args) != 1 or args[0].startswith(("$", "~", "-")):
        return None
    target = args[0]
    if target.startswith("/"):
        return None
    return posixpath.normpath(posixpath.join(cwd, target)) if cwd else posixpath.normpath(target)


def find_run(tokens: tuple[str, ...], needle: list[str]) -> int:
    """Start of ``needle`` as a contiguous run of whole tokens in ``tokens``, or -1."""
    n = len(needle)
    if n == 0:
        return -1
    for i in range(len(tokens) - n + 1):
        if list(tokens[i:i + n]) == needle:
            return i
    return -1
