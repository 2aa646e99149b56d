"""Workspace discovery and layout (cli.md §1).

A workspace is a folder holding ``arco.toml``; state lives in ``.arco/`` beside it.
Only the ``[workspace]`` table is read here (the scope every event carries), so that the
read commands keep working when the rest of ``arco.toml`` is invalid (decisions B3);
the full definition is validated by :mod:`arco_cli.config`.
"""

from __future__ import annotations

import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from arco_cli.errors import ArcoError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

CONFIG_NAME = "arco.toml"
_POSITION_RE = re.compile(r"at line (\d+), column (\d+)")


@dataclass(frozen=True)
class Workspace:
    root: Path
    tenant_id: str
    workspace_id: str

    @property
    def config_path(self) -> Path:
        return self.root / CONFIG_NAME

    @property
    def arco_dir(self) -> Path:
        return self.root / ".arco"

    @property
    def log_dir(self) -> Path:
        return self.arco_dir / "log"

    @property
    def projections_dir(self) -> Path:
        return self.arco_dir / "projections"

    @property
    def runs_dir(self) -> Path:
        return self.arco_dir / "runs"

    @property
    def crash_dir(self) -> Path:
        return self.arco_dir / "crash"


def load_toml(path: Path) -> dict[str, Any]:
    """Parse a TOML file; syntax errors become INVALID_CONFIG with line and column."""
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except OSError as exc:
        raise ArcoError("INVALID_CONFIG", f"{path}: cannot read: {exc.strerror}",
                        {"file": str(path), "keyPath": ""}) from exc
    except tomllib.TOMLDecodeError as exc:
        line = getattr(exc, "lineno", None)
        column = getattr(exc, "colno", None)
        if line is None:
            # Python < 3.14 has no lineno/colno; the message carries the position.
            match = _POSITION_RE.search(str(exc))
            if match:
                line, column = int(match.group(1)), int(match.group(2))
        details: dict[str, Any] = {"file": str(path)}
        if line is not None:
            details["line"] = line
            details["column"] = column
        raise ArcoError("INVALID_CONFIG", f"{path}: invalid TOML: {exc}; fix the syntax",
                        details) from exc


def read_scope(config_path: Path) -> tuple[str, str]:
    """(tenant_id, workspace_id) from the ``[workspace]`` table, defaults local/default."""
    doc = load_toml(config_path)
    table = doc.get("workspace", {})
    if not isinstance(table, dict):
        raise ArcoError("INVALID_CONFIG",
                        f"{config_path}: [workspace] must be a table; write it as [workspace]",
                        {"file": str(config_path), "keyPath": "workspace"})
    scope = []
    for key, default in (("tenant", "local"), ("name", "default")):
        value = table.get(key, default)
        if not isinstance(value, str) or not value:
            raise ArcoError(
                "INVALID_CONFIG",
                f"{config_path}: workspace.{key} must be a non-empty string",
                {"file": str(config_path), "keyPath": f"workspace.{key}"})
        scope.append(value)
    return scope[0], scope[1]


def find_root(explicit: Path | None = None, cwd: Path | None = None) -> Path:
    """``-w DIR``, else ``$ARCO_WORKSPACE``, else the first parent holding ``arco.toml``."""
    if explicit is None and os.environ.get("ARCO_WORKSPACE"):
        explicit = Path(os.environ["ARCO_WORKSPACE"])
    if explicit is not None:
        root = explicit.expanduser().resolve()
        if not (root / CONFIG_NAME).is_file():
            raise ArcoError("WORKSPACE_NOT_FOUND",
                            f"no {CONFIG_NAME} in {root}; run 'arco init {root}' to create one",
                            {"path": str(root)})
        return root
    start = (cwd or Path.cwd()).resolve()
    for folder in (start, *start.parents):
        if (folder / CONFIG_NAME).is_file():
            return folder
    raise ArcoError(
        "WORKSPACE_NOT_FOUND",
        f"no {CONFIG_NAME} found in {start} or any parent folder; pass -w DIR or run "
        "'arco init'",
        {"path": str(start)})


def open_workspace(explicit: Path | None = None) -> Workspace:
    root = find_root(explicit)
    tenant_id, workspace_id = read_scope(root / CONFIG_NAME)
    return Workspace(root=root, tenant_id=tenant_id, workspace_id=workspace_id)
