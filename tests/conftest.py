"""Shared test helpers: run the real ``arco`` CLI in a subprocess, make workspaces."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures"


@dataclass
class CliResult:
    returncode: int
    stdout: str
    stderr: str

    @property
    def envelope(self) -> dict[str, Any]:
        doc: dict[str, Any] = json.loads(self.stdout)
        return doc


def run_arco(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None,
             input: str | None = None, timeout: float = 120) -> CliResult:
    """Run ``python -m arco_cli ARGS`` as a real subprocess."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("ARCO_")}
    full_env["NO_COLOR"] = "1"
    full_env.update(env or {})
    proc = subprocess.run(
        [sys.executable, "-m", "arco_cli", *args],
        cwd=cwd, env=full_env, input=input, capture_output=True, text=True, timeout=timeout,
    )
    return CliResult(proc.returncode, proc.stdout, proc.stderr)


def write_workspace(root: Path, body: str = "", tenant: str = "local",
                    name: str = "default") -> Path:
    """A minimal workspace: ``arco.toml`` with a [workspace] table plus ``body``."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "arco.toml").write_text(
        f'[workspace]\ntenant = "{tenant}"\nname = "{name}"\n\n{body}', encoding="utf-8")
    return root


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    return write_workspace(tmp_path / "ws")
