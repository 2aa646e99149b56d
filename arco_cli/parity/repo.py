"""The checked repository: which paths exist, file lines and definitions (each cited file
is read once), Cargo packages and workspaces, pytest configuration.
"""

from __future__ import annotations

import configparser
import glob
import os
import posixpath
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from arco_cli.parity import symbols
from arco_cli.parity.markdown import split_lines

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib


@dataclass(frozen=True)
class CargoManifest:
    dir: str                             # repo-relative directory ("" = root)
    package: str | None                  # [package] name
    members: tuple[str, ...] | None      # [workspace] member dirs (globs expanded)
    default_members: tuple[str, ...] | None


class Repo:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.top_level = frozenset(os.listdir(root))
        self._lines: dict[str, list[str] | None] = {}
        self._defs: dict[str, dict[str, list[symbols.Definition]]] = {}
        self._exists: dict[str, bool] = {}
        self._manifests: dict[str, CargoManifest | None] = {}
        self._pytest_ini: dict[str, dict[str, Any] | None] = {}
        self._member_names: dict[str, frozenset[str]] = {}

    # -- paths and files -------------------------------------------------------------
    def is_repo_path(self, rel: str) -> bool:
        """A span names a repo path when its first segment is a top-level entry (P007)."""
        first = rel.split("/", 1)[0]
        return bool(first) and first in self.top_level

    def exists(self, rel: str) -> bool:
        hit = self._exists.get(rel)
        if hit is None:
            hit = (self.root / rel).exists()
            self._exists[rel] = hit
        return hit

    def is_file(self, rel: str) -> bool:
        return self.exists(rel) and (self.root / rel).is_file()

    def lines(self, rel: str) -> list[str] | None:
        if rel not in self._lines:
            try:
                text = (self.root / rel).read_bytes().decode("utf-8", errors="replace")
            except OSError:
                self._lines[rel] = None
            else:
                lines = split_lines(text)
                if lines and lines[-1] == "":
                    lines.pop()          # a final newline does not start another line
                self._lines[rel] = lines
        return self._lines[rel]

    def line_count(self, rel: str) -> int:
        lines = self.lines(rel)
        return len(lines) if lines is not None else 0

    def definitions(self, rel: str, symbol: str) -> list[symbols.Definition]:
        """Definitions of ``symbol`` (qualified: the last part, or ``Type::member`` where
        ``member`` is an identifier in ``Type``'s body, decisions A62)."""
        lines = self.lines(rel)
        if lines is None:
            return []
        defs = self._defs.get(rel)
        if defs is None:
            defs = symbols.scan(lines)
            self._defs[rel] = defs
        parts = [p for p in symbol.replace("::", ".").split(".") if p]
        if not parts:
            return []
        found = list(defs.get(parts[-1], []))
        if not found and len(parts) >= 2:
            for owner in defs.get(parts[-2], []):
                line = symbols.body_identifiers(lines, owner).get(parts[-1])
                if line is not None:
                    found.append(symbols.Definition(
                        name=parts[-1], line=line,
                        block_start=symbols.block_start(lines, line)))
        return sorted(found, key=lambda d: d.line)

    # -- cargo --------------------------------------------------------------------------
    def manifest(self, rel_dir: str) -> CargoManifest | None:
        if rel_dir in self._manifests:
            return self._manifests[rel_dir]
        path = self.root / rel_dir / "Cargo.toml"
        result: CargoManifest | None = None
        if path.is_file():
            try:
                doc = tomllib.loads(path.read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
                doc = {}
            package = doc.get("package")
            name = package.get("name") if isinstance(package, dict) else None
            ws = doc.get("workspace")
            members = defaults = None
            if isinstance(ws, dict):
                excluded = {self._norm(rel_dir, e) for e in ws.get("exclude", []) or []}
                members = tuple(m for m in self._expand(rel_dir, ws.get("members", []) or [])
                                if m not in excluded)
                if "default-members" in ws:
                    defaults = tuple(self._expand(rel_dir, ws.get("default-members") or []))
            result = CargoManifest(dir=rel_dir, package=name if isinstance(name, str) else None,
                                   members=members, default_members=defaults)
        self._manifests[rel_dir] = result
        return result

    @staticmethod
    def _norm(base: str, rel: str) -> str:
        joined = posixpath.normpath(posixpath.join(base, rel)) if base else \
            posixpath.normpath(rel)
        return "" if joined == "." else joined

    def _expand(self, base: str, patterns: list[Any]) -> list[str]:
        out: list[str] = []
        for pattern in patterns:
            if not isinstance(pattern, str):
                continue
            full = self._norm(base, pattern)
            if any(c in full for c in "*?["):
                for hit in sorted(glob.glob(str(self.root / full))):
                    if (Path(hit) / "Cargo.toml").is_file():
                        out.append(Path(hit).relative_to(self.root).as_posix())
            else:
                out.append(full)
        return out

    def nearest_manifest(self, rel_dir: str, *, package_only: bool = False
                         ) -> CargoManifest | None:
        """The first Cargo.toml at or above ``rel_dir`` (with a [package] if asked)."""
        current = rel_dir
        while True:
            found = self.manifest(current)
            if found is not None and (found.package is not None or not package_only):
                return found
            if not current:
                return None
            current = posixpath.dirname(current)

    def workspace_root(self, rel_dir: str) -> CargoManifest | None:
        current = rel_dir
        while True:
            found = self.manifest(current)
            if found is not None and found.members is not None:
                return found
            if not current:
                return None
            current = posixpath.dirname(current)

    def member_packages(self, manifest: CargoManifest, *, defaults: bool) -> frozenset[str]:
        """Package names of a workspace's members (or its default-members)."""
        key = f"{manifest.dir}\0{defaults}"
        names = self._member_names.get(key)
        if names is None:
            dirs = manifest.default_members if defaults and \
                manifest.default_members is not None else manifest.members or ()
            names = frozenset(n for n in (self.package_name(d) for d in dirs) if n)
            self._member_names[key] = names
        return names

    def package_name(self, rel_dir: str) -> str | None:
        found = self.manifest(rel_dir)
        return found.package if found else None

    # -- pytest -------------------------------------------------------------------------
    def pytest_config(self, rel_dir: str) -> tuple[str, dict[str, Any]] | None:
        """(rootdir, ini options) of the first pytest config at or above ``rel_dir``."""
        current = rel_dir
        while True:
            cfg = self._pytest_ini_at(current)
            if cfg is not None:
                return current, cfg
            if not current:
                return None
            current = posixpath.dirname(current)

    def _pytest_ini_at(self, rel_dir: str) -> dict[str, Any] | None:
        if rel_dir in self._pytest_ini:
            return self._pytest_ini[rel_dir]
        base = self.root / rel_dir
        found: dict[str, Any] | None = None
        for name, section in (("pytest.ini", "pytest"), ("pyproject.toml", None),
                              ("tox.ini", "pytest"), ("setup.cfg", "tool:pytest")):
            path = base / name
            if not path.is_file():
                continue
            if section is None:
                try:
                    doc = tomllib.loads(path.read_text(encoding="utf-8"))
                except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
                    continue
                ini = doc.get("tool", {}).get("pytest", {}).get("ini_options")
                if isinstance(ini, dict):
                    found = {k: _as_list(v) if k in _LIST_KEYS else v for k, v in ini.items()}
                    break
                continue
            parser = configparser.ConfigParser(interpolation=None)
            try:
                parser.read(path, encoding="utf-8")
            except (configparser.Error, UnicodeDecodeError):
                continue
            if parser.has_section(section) or name == "pytest.ini":
                items = dict(parser.items(section)) if parser.has_section(section) else {}
                found = {k: _as_list(v) if k in _LIST_KEYS else v for k, v in items.items()}
                break
        self._pytest_ini[rel_dir] = found
        return found


_LIST_KEYS = {"testpaths", "python_files", "addopts"}


def _as_list(value: Any) -> list[str]:
    if isinstance(value, list):
        return [str(v) for v in value]
    import shlex

    return shlex.split(str(value))
