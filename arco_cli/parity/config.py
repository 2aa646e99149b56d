"""Gate configuration: ``[tool.arco.parity]`` in the repo's ``pyproject.toml`` or
``[parity]`` in its ``arco.toml`` (pyproject wins, decisions A57), then discovery of
matrices and workflows (A58, A59). Unknown keys and wrong types are INVALID_CONFIG.
"""

from __future__ import annotations

import glob
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from arco_cli.errors import ArcoError

DEFAULT_MATRIX_GLOBS = ("docs/parity/*matrix*.md", "docs/*parity*matrix*.md")
DEFAULT_WORKFLOW_GLOBS = (".github/workflows/*.yml", ".github/workflows/*.yaml")
DEFAULT_FORBIDDEN = ("docs/plans/",)


@dataclass
class ParityConfig:
    matrix: list[str] | None = None
    workflows: list[str] | None = None
    forbidden_evidence: list[str] = field(default_factory=lambda: list(DEFAULT_FORBIDDEN))
    implemented_status: str = "Implemented"
    anchor_tolerance: int = 3
    test_runners: list[str] = field(default_factory=list)
    source: str | None = None          # the file the table came from


_LIST_KEYS = ("matrix", "workflows", "forbidden_evidence", "test_runners")


def load_config(repo: Path) -> ParityConfig:
    from arco_cli.workspace import load_toml

    table: Any = None
    source: Path | None = None
    key_prefix = ""
    pyproject = repo / "pyproject.toml"
    if pyproject.is_file():
        doc = load_toml(pyproject)
        tool = doc.get("tool")
        arco = tool.get("arco") if isinstance(tool, dict) else None
        if isinstance(arco, dict) and "parity" in arco:
            table, source, key_prefix = arco["parity"], pyproject, "tool.arco.parity"
    arco_toml = repo / "arco.toml"
    if table is None and arco_toml.is_file():
        doc = load_toml(arco_toml)
        if "parity" in doc:
            table, source, key_prefix = doc["parity"], arco_toml, "parity"
    config = ParityConfig()
    if table is None or source is None:
        return config
    config.source = source.name

    def bad(key: str, why: str) -> ArcoError:
        path = f"{key_prefix}.{key}" if key else key_prefix
        return ArcoError("INVALID_CONFIG", f"{source.name}: {path} {why}",
                         {"file": str(source), "keyPath": path})

    if not isinstance(table, dict):
        raise bad("", "must be a table")
    known = {*_LIST_KEYS, "implemented_status", "anchor_tolerance"}
    problems = [bad(key, f"is not a known key; use one of {', '.join(sorted(known))}")
                for key in sorted(table) if key not in known]
    for key in _LIST_KEYS:
        if key in table:
            value = table[key]
            if isinstance(value, str):
                value = [value]
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                problems.append(bad(key, "must be a list of strings"))
            else:
                setattr(config, key, list(value))
    if "implemented_status" in table:
        value = table["implemented_status"]
        if not isinstance(value, str) or not value.strip():
            problems.append(bad("implemented_status", "must be a non-empty string"))
        else:
            config.implemented_status = value.strip()
    if "anchor_tolerance" in table:
        value = table["anchor_tolerance"]
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            problems.append(bad("anchor_tolerance", "must be a non-negative integer"))
        else:
            config.anchor_tolerance = value
    if problems:
        raise ArcoError("INVALID_CONFIG", problems[0].message, problems[0].details,
                        problems=problems)
    return config


def _unreadable(message: str, path: str) -> ArcoError:
    return ArcoError("INPUT_UNREADABLE", message, {"file": path})


def resolve_inputs(repo: Path, patterns: list[str], cwd: Path, *, from_cli: bool,
                   what: str) -> list[Path]:
    """Files named by paths or globs; a named file that is missing is exit 2.

    Command-line paths are relative to the current directory (falling back to the repo),
    configured ones to the repo.
    """
    out: list[Path] = []
    for pattern in patterns:
        bases = [cwd, repo] if from_cli else [repo]
        if any(c in pattern for c in "*?["):
            hits: list[str] = []
            for base in bases:
                hits = sorted(glob.glob(str(base / pattern), recursive=True))
                if hits:
                    break
            out.extend(Path(h) for h in hits if Path(h).is_file())
            continue
        candidates = [Path(pattern)] if Path(pattern).is_absolute() else \
            [base / pattern for base in bases]
        found = next((c for c in candidates if c.is_file()), None)
        if found is None:
            raise _unreadable(f"{what} {pattern} not found (looked in "
                              f"{', '.join(str(c) for c in candidates)})", pattern)
        out.append(found)
    unique: dict[Path, None] = {}
    for path in out:
        unique.setdefault(path.resolve(), None)
    return list(unique)


def discover(repo: Path, globs: tuple[str, ...], *, skip_templates: bool) -> list[Path]:
    found: set[Path] = set()
    for pattern in globs:
        for hit in glob.glob(str(repo / pattern)):
            path = Path(hit)
            if skip_templates and "template" in path.name.lower():
                continue
            if path.is_file():
                found.add(path.resolve())
    return sorted(found)
