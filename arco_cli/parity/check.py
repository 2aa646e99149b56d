"""One gate run: configuration, inputs, rules over every matrix, ``--fix``, ``--strict``."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass, replace
from pathlib import Path

from arco_cli.errors import ArcoError
from arco_cli.parity.config import (
    DEFAULT_MATRIX_GLOBS,
    DEFAULT_WORKFLOW_GLOBS,
    discover,
    load_config,
    resolve_inputs,
)
from arco_cli.parity.findings import ERROR, WARNING, Finding, Fix, Report
from arco_cli.parity.repo import Repo
from arco_cli.parity.rules import Context, check_matrix
from arco_cli.parity.workflow import Workflow, load_workflow


@dataclass(frozen=True)
class Options:
    repo: Path | None = None
    matrices: tuple[str, ...] = ()
    workflows: tuple[str, ...] = ()
    strict: bool = False
    fix: bool = False


def repo_root(explicit: Path | None, cwd: Path) -> Path:
    """``--repo``, else the git top level, else the current directory (A70)."""
    if explicit is not None:
        root = (cwd / explicit).resolve()
        if not root.is_dir():
            raise ArcoError("INPUT_UNREADABLE", f"--repo {explicit}: not a directory",
                            {"file": str(explicit)})
        return root
    try:
        out = subprocess.run(["git", "rev-parse", "--show-toplevel"], cwd=cwd,
                             capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.SubprocessError):
        return cwd.resolve()
    top = out.stdout.strip()
    return Path(top).resolve() if out.returncode == 0 and top else cwd.resolve()


def _rel(root: Path, path: Path) -> str:
    try:
        return path.resolve().relative_to(root).as_posix()
    except ValueError:
        return path.as_posix()


def run_check(options: Options, cwd: Path) -> Report:
    root = repo_root(options.repo, cwd)
    config = load_config(root)

    if options.matrices:
        matrices = resolve_inputs(root, list(options.matrices), cwd, from_cli=True,
                                  what="matrix")
    elif config.matrix is not None:
        matrices = resolve_inputs(root, config.matrix, cwd, from_cli=False, what="matrix")
    else:
        matrices = discover(root, DEFAULT_MATRIX_GLOBS, skip_templates=True)
    if not matrices:
        raise ArcoError("INPUT_UNREADABLE",
                        f"no parity matrix found in {root} (looked for "
                        f"{', '.join(DEFAULT_MATRIX_GLOBS)}); pass --matrix PATH or set "
                        "matrix in [tool.arco.parity]", {"file": str(root)})
    if options.workflows:
        workflow_paths = resolve_inputs(root, list(options.workflows), cwd, from_cli=True,
                                        what="workflow")
    elif config.workflows is not None:
        workflow_paths = resolve_inputs(root, config.workflows, cwd, from_cli=False,
                                        what="workflow")
    else:
        workflow_paths = discover(root, DEFAULT_WORKFLOW_GLOBS, skip_templates=False)
    workflows: dict[str, Workflow] = {}
    for path in workflow_paths:
        rel = _rel(root, path)
        workflows[rel] = load_workflow(path, rel)

    ctx = Context(repo=Repo(root), config=config, workflows=workflows)
    findings: list[Finding] = []
    rows = []
    fixed: list[Fix] | None = [] if options.fix else None
    names: list[str] = []
    for path in matrices:
        rel = _rel(root, path)
        names.append(rel)
        try:
            raw = path.read_bytes()
            text = raw.decode("utf-8")
        except OSError as exc:
            raise ArcoError("INPUT_UNREADABLE", f"matrix {rel}: cannot read: {exc.strerror}",
                            {"file": rel}) from exc
        except UnicodeDecodeError as exc:
            raise ArcoError("INPUT_UNREADABLE", f"matrix {rel}: not UTF-8 text "
                            f"(byte {exc.start})", {"file": rel}) from exc
        result = check_matrix(ctx, rel, text)
        matrix_findings = result.findings
        if fixed is not None and result.fixes:
            from arco_cli.parity.fixer import apply_fixes

            made = apply_fixes(path, rel, text, result.fixes)
            fixed.extend(made)
            done = {id(f.finding) for f in result.fixes
                    if any(m.line == f.line and m.old == f.old for m in made)}
            matrix_findings = [f for f in matrix_findings if id(f) not in done]
        findings.extend(matrix_findings)
        rows.extend(result.rows)
    if options.strict:
        findings = [replace(f, severity=ERROR) if f.severity == WARNING else f
                    for f in findings]
    findings.sort(key=Finding.sort_key)
    return Report(findings=findings, rows=rows, matrices=sorted(names), fixed=fixed)
