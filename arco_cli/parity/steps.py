"""Matching cited CI commands against ``run:`` steps (P105) and deciding what a matched
step runs (P106/P107)."""

from __future__ import annotations

import posixpath
from dataclasses import dataclass

from arco_cli.parity.cargo import cargo_verdict
from arco_cli.parity.pytest_selection import pytest_verdict
from arco_cli.parity.repo import Repo
from arco_cli.parity.shell import SimpleCommand, find_run, simple_commands, tokenize
from arco_cli.parity.verdict import CitedTest, Verdict, skips, undecided
from arco_cli.parity.workflow import Job, Step


@dataclass(frozen=True)
class StepMatch:
    job: Job
    step: Step
    command: SimpleCommand     # the simple command holding the cited tokens
    start: int                 # where the cited run starts in it
    length: int

    @property
    def label(self) -> str:
        name = self.step.name or f"#{self.step.index + 1}"
        return f"job `{self.job.id}` step {name!r}"


def match_steps(job: Job, cited: str) -> list[StepMatch]:
    """Every simple command of the job's ``run:`` steps holding ``cited`` (A63)."""
    needle = tokenize(cited)
    out: list[StepMatch] = []
    for step in job.steps:
        for command in simple_commands(step.run):
            start = find_run(command.tokens, needle)
            if start >= 0:
                out.append(StepMatch(job, step, command, start, len(needle)))
    return out


def _runner(tokens: tuple[str, ...]) -> tuple[str, list[str]] | None:
    """("cargo" | "pytest", arguments) of the test runner in a simple command."""
    for i, token in enumerate(tokens):
        base = posixpath.basename(token)
        if base == "cargo":
            j = i + 1
            if j < len(tokens) and tokens[j].startswith("+"):
                j += 1                       # cargo +nightly test
            if j < len(tokens) and tokens[j] == "test":
                return "cargo", list(tokens[j + 1:])
            return None
        if base in ("pytest", "py.test"):
            return "pytest", list(tokens[i + 1:])
        if base.startswith("python") and tokens[i + 1:i + 3] == ("-m", "pytest"):
            return "pytest", list(tokens[i + 3:])
    return None


def step_verdict(repo: Repo, match: StepMatch, test: CitedTest) -> Verdict:
    """Does the matched step run ``test``? Decided from the step's full command."""
    tokens = match.command.tokens
    cited = tokens[match.start:match.start + match.length]
    if any("${{" in t for t in cited):
        return undecided(f"{match.label} uses a `${{{{ }}}}` expression in the command")
    runner = _runner(tokens)
    if runner is None:
        return undecided(f"{match.label} runs `{' '.join(tokens)}`, which is neither "
                         "`cargo test` nor `pytest`")
    if any("${{" in t for t in tokens):
        return undecided(f"{match.label} builds its arguments from a `${{{{ }}}}` expression")
    wd = match.step.working_directory or ""
    if "${{" in wd or wd.startswith("/"):
        return undecided(f"{match.label} runs in {wd!r}, which the gate cannot resolve")
    if match.command.cwd is None:
        return undecided(f"{match.label} changes directory in a way the gate cannot follow")
    cwd = posixpath.normpath(posixpath.join(wd, match.command.cwd)) if wd or \
        match.command.cwd else ""
    cwd = "" if cwd == "." else cwd
    kind, args = runner
    suffix = posixpath.splitext(test.path)[1]
    if kind == "cargo":
        if not test.is_dir and suffix != ".rs":
            return skips(f"{match.label} runs `cargo test`, which does not run {test.path}")
        return cargo_verdict(repo, args, cwd, test)
    if not test.is_dir and suffix != ".py":
        return skips(f"{match.label} runs pytest, which does not run {test.path}")
    return pytest_verdict(repo, args, cwd, test)
