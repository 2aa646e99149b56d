"""Whether a CI command runs a cited test: yes, no (P106), or cannot tell (P107)."""

from __future__ import annotations

from dataclasses import dataclass

RUNS = "runs"
SKIPS = "skips"
UNDECIDED = "undecided"


@dataclass(frozen=True)
class Verdict:
    outcome: str
    reason: str        # why it does not run / cannot be decided (for the message)


@dataclass(frozen=True)
class CitedTest:
    path: str          # repo-relative file or directory
    name: str | None   # test identifier as written (symbol or "::" node), if any
    is_dir: bool


def runs() -> Verdict:
    return Verdict(RUNS, "")


def skips(reason: str) -> Verdict:
    return Verdict(SKIPS, reason)


def undecided(reason: str) -> Verdict:
    return Verdict(UNDECIDED, reason)


def under(path: str, folder: str) -> bool:
    """``path`` is ``folder`` or inside it (repo-relative, "" is the root)."""
    return not folder or path == folder or path.startswith(folder.rstrip("/") + "/")
