"""Developer sessions: tests, lint (ruff), typecheck (mypy --strict), bench."""

from __future__ import annotations

import nox

nox.options.sessions = ["lint", "typecheck", "tests"]


@nox.session
def tests(session: nox.Session) -> None:
    session.install("-e", ".[dev]")
    session.run("python", "-m", "pytest", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    session.install("ruff>=0.4")
    session.run("ruff", "check", "arco_cli", "tests", "benchmarks", "noxfile.py")


@nox.session
def typecheck(session: nox.Session) -> None:
    session.install("-e", ".[dev]")
    session.run("mypy", "--strict", "arco_cli")


@nox.session
def bench(session: nox.Session) -> None:
    session.install("-e", ".[dev]")
    for script in ("fold.py", "run_overhead.py", "parity.py"):
        session.run("python", f"benchmarks/{script}", *session.posargs)
