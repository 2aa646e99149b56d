"""GitHub Actions workflows as the gate needs them: jobs, their ``run:`` steps and the
working directory each step runs in (decisions A69).

YAML 1.1 reads the ``on:`` key as ``True``; only ``jobs`` and ``defaults`` are read here,
so the trigger block never matters.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from arco_cli.errors import ArcoError


@dataclass(frozen=True)
class Step:
    index: int                     # 0-based position among the job's steps
    name: str
    run: str
    working_directory: str | None  # resolved: step, job defaults, workflow defaults


@dataclass(frozen=True)
class Job:
    id: str
    name: str | None
    steps: tuple[Step, ...]
    uses: str | None               # a reusable-workflow call has no steps of its own


@dataclass(frozen=True)
class Workflow:
    path: str                      # repo-relative
    jobs: dict[str, Job]

    def find_job(self, ref: str) -> Job | None:
        """The job whose id is ``ref``, else the one whose ``name:`` is ``ref``."""
        if ref in self.jobs:
            return self.jobs[ref]
        for job in self.jobs.values():
            if job.name == ref:
                return job
        return None


def _working_directory(table: Any) -> str | None:
    if isinstance(table, dict):
        run = table.get("run")
        if isinstance(run, dict):
            wd = run.get("working-directory")
            if wd is not None:
                return str(wd)
    return None


def _unreadable(path: Path, rel: str, why: str, line: int | None = None) -> ArcoError:
    details: dict[str, Any] = {"file": rel}
    if line is not None:
        details["line"] = line
    where = f"{rel}:{line}" if line is not None else rel
    return ArcoError("INPUT_UNREADABLE", f"workflow {where}: {why}", details)


def load_workflow(path: Path, rel: str) -> Workflow:
    """Parse one workflow file; unreadable or malformed → INPUT_UNREADABLE (exit 2)."""
    import yaml

    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise _unreadable(path, rel, f"cannot read: {exc.strerror}") from exc
    except UnicodeDecodeError as exc:
        raise _unreadable(path, rel, "not UTF-8 text") from exc
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        problem = getattr(exc, "problem", None) or str(exc)
        raise _unreadable(path, rel, f"invalid YAML: {problem}", line) from exc
    if not isinstance(doc, dict):
        raise _unreadable(path, rel, "not a mapping; a workflow needs a 'jobs:' table")
    jobs_doc = doc.get("jobs", {})
    if not isinstance(jobs_doc, dict):
        raise _unreadable(path, rel, "'jobs' must be a mapping of job ids")
    workflow_wd = _working_directory(doc.get("defaults"))
    jobs: dict[str, Job] = {}
    for job_id, body in jobs_doc.items():
        if not isinstance(body, dict):
            raise _unreadable(path, rel, f"job {job_id!r} must be a mapping")
        job_wd = _working_directory(body.get("defaults")) or workflow_wd
        steps: list[Step] = []
        raw_steps = body.get("steps") or []
        if not isinstance(raw_steps, list):
            raise _unreadable(path, rel, f"jobs.{job_id}.steps must be a list")
        for index, step in enumerate(raw_steps):
            if not isinstance(step, dict) or "run" not in step:
                continue
            wd = step.get("working-directory")
            steps.append(Step(
                index=index,
                name=str(step.get("name") or ""),
                run=str(step.get("run") or ""),
                working_directory=str(wd) if wd is not None else job_wd,
            ))
        name = body.get("name")
        uses = body.get("uses")
        jobs[str(job_id)] = Job(id=str(job_id), name=str(name) if name is not None else None,
                                steps=tuple(steps), uses=str(uses) if uses else None)
    return Workflow(path=rel, jobs=jobs)
