"""Rules P001-P109 over one matrix file (parity-check.md, decisions A60-A69)."""

from __future__ import annotations

import posixpath
import re
import shlex
from collections.abc import Callable
from dataclasses import dataclass, field

from arco_cli.parity import evidence
from arco_cli.parity.config import ParityConfig
from arco_cli.parity.evidence import Span
from arco_cli.parity.findings import ERROR, WARNING, Finding, RowRef
from arco_cli.parity.markdown import Row, Table, parse_tables
from arco_cli.parity.repo import Repo
from arco_cli.parity.steps import StepMatch, match_steps, step_verdict
from arco_cli.parity.symbols import Definition
from arco_cli.parity.verdict import RUNS, UNDECIDED, CitedTest, Verdict
from arco_cli.parity.workflow import Workflow

CODE, TESTS, CI = "Evidence (Code)", "Evidence (Tests)", "Evidence (CI)"
EVIDENCE = (CODE, TESTS, CI)
REQUIRED = ("Capability", "Status", *EVIDENCE)
KNOWN_STATUSES = ("Implemented", "Partial", "Designed", "Planned", "Exception",
                  "Deferred", "Not planned")
RUNNERS = ("cargo", "pytest", "python -m pytest", "python3 -m pytest", "nox", "tox",
           "go test", "npm test", "npm run test", "pnpm test", "yarn test", "make test")
_TEST_NAME = re.compile(r"(^test_.*)|(.*_test\..*)|(.*\.test\..*)|(.*_spec\..*)")


@dataclass(frozen=True)
class AnchorFix:
    """A stale anchor ``--fix`` may rewrite: the n-th occurrence of `` `old` `` on a line."""

    line: int
    old: str
    occurrence: int
    new: str
    finding: Finding


@dataclass
class Context:
    repo: Repo
    config: ParityConfig
    workflows: dict[str, Workflow]


@dataclass
class MatrixResult:
    findings: list[Finding] = field(default_factory=list)
    rows: list[RowRef] = field(default_factory=list)
    fixes: list[AnchorFix] = field(default_factory=list)


def normalise_status(cell: str) -> str:
    """Status text without formatting: ``**Implemented**``, ``✅ Implemented`` (A67)."""
    text = re.sub(r"[*_`]", "", cell).strip()
    return re.sub(r"^[^\w(]+", "", text).strip()


def status_is(status: str, prefix: str) -> bool:
    return re.match(rf"{re.escape(prefix)}(?!\w)", status, re.IGNORECASE) is not None


def is_test_path(path: str) -> bool:
    segments = [s for s in path.split("/") if s]
    if any(s in ("test", "tests") for s in segments[:-1]) or \
            (segments and segments[-1] in ("test", "tests")):
        return True
    return bool(segments) and _TEST_NAME.match(segments[-1]) is not None


def check_matrix(ctx: Context, rel: str, text: str) -> MatrixResult:
    result = MatrixResult()
    seen: dict[tuple[str, str], int] = {}
    for table in parse_tables(text):
        if "Capability" not in table.header or "Status" not in table.header:
            continue                                   # not a matrix table
        missing = [c for c in REQUIRED if c not in table.header]
        if missing:
            result.findings.append(Finding(
                "P001", ERROR, rel, table.line, table.section, "",
                f"matrix table header lacks {', '.join(f'`{c}`' for c in missing)}; add "
                f"the column{'s' if len(missing) > 1 else ''} (its rows are not checked)",
                table_line=table.line))
            continue
        for row in table.rows:
            _check_row(ctx, rel, table, row, seen, result)
    return result


def _check_row(ctx: Context, rel: str, table: Table, row: Row,
               seen: dict[tuple[str, str], int], result: MatrixResult) -> None:
    cells: dict[str, str] = {}
    for title, cell in zip(table.header, row.cells, strict=False):
        cells.setdefault(title, cell)          # the first of duplicate columns counts
    if not any(c.strip() for c in row.cells):
        return
    capability = cells["Capability"].strip()
    status = normalise_status(cells["Status"])
    implemented = status_is(status, ctx.config.implemented_status)

    def add(rule: str, severity: str, message: str, column: str = "",
            fixable: bool = False) -> Finding:
        finding = Finding(rule, severity, rel, row.line, table.section, capability, message,
                          fixable, column, row.line if implemented else None, table.line)
        result.findings.append(finding)
        return finding

    known = (*KNOWN_STATUSES, ctx.config.implemented_status)
    if not any(status_is(status, k) for k in known):
        add("P108", WARNING,
            f"unknown Status {cells['Status'].strip() or '(empty)'!r}; use one of "
            f"{', '.join(KNOWN_STATUSES)}")
    name = " ".join(capability.split())
    if name:
        key = (table.section, name)
        if key in seen:
            add("P109", WARNING, f"capability {name!r} already appears in this section at "
                f"line {seen[key]}; merge the rows or rename one")
        else:
            seen[key] = row.line
    if not implemented:
        return
    result.rows.append(RowRef(rel, row.line, table.section, capability, table.line))

    # The fixer finds a span again by its text and its rank among equal spans on the
    # row's line, counted in cell order.
    ordinals: dict[str, int] = {}
    span_ordinal: dict[tuple[int, int, int], int] = {}
    for ci, cell in enumerate(row.cells):
        for ii, item in enumerate(evidence.items(cell)):
            for span in evidence.spans(item):
                span_ordinal[(ci, ii, span.start)] = ordinals.get(span.text, 0)
                ordinals[span.text] = ordinals.get(span.text, 0) + 1

    for column in EVIDENCE:
        cell = cells[column]
        if evidence.is_empty(cell):
            add("P002", ERROR, f"`{column}` is empty; cite {_what(column)}, or change "
                "the Status", column)
            continue
        ci = table.header.index(column)
        for ii, item in enumerate(evidence.items(cell)):
            for span in evidence.path_spans(column, item):
                ordinal = span_ordinal.get((ci, ii, span.start), 0)
                _check_path(ctx, span, column, row, ordinal, add, result)

    tests_ok = _check_tests_cell(ctx, cells[TESTS], add)
    matches, ci_ok = _check_ci_cell(ctx, cells[CI], add)
    if not tests_ok or not ci_ok:
        return
    _check_gated(ctx, cells[TESTS], matches, add)


def _what(column: str) -> str:
    return {CODE: "the code that implements it", TESTS: "the tests that prove it",
            CI: "the workflow job and command that run the tests"}[column]


AddFn = Callable[..., Finding]


def _check_path(ctx: Context, span: Span, column: str, row: Row, ordinal: int,
                add: AddFn, result: MatrixResult) -> None:
    repo = ctx.repo
    path = span.path.rstrip("/") if span.path not in ("/",) else span.path
    for prefix in ctx.config.forbidden_evidence:
        if path == prefix.rstrip("/") or path.startswith(prefix.rstrip("/") + "/"):
            add("P003", ERROR, f"`{span.text}` cites {prefix}, which is not allowed as "
                "evidence; cite the code, test or workflow itself", column)
            break
    if not repo.is_repo_path(path):
        return
    if posixpath.normpath(path).startswith(".."):
        add("P007", ERROR, f"`{path}` points outside the repository; cite a path inside it",
            column)
        return
    if not repo.exists(path):
        add("P007", ERROR, f"`{path}` does not exist; fix the path or remove the item",
            column)
        return                                   # P101-P103 skipped (A61)
    if not repo.is_file(path):
        return
    defs = repo.definitions(path, span.symbol) if span.symbol else []
    if span.symbol and not defs:
        add("P102", ERROR, f"`{span.symbol}` is not defined in `{path}`; name the "
            "function, type or class as it is defined there", column)
    if span.anchor is None:
        return
    n, m = span.anchor
    count = repo.line_count(path)
    if n < 1 or n > count or (m is not None and (m < n or m > count)):
        why = (f"line {n}" if m is None else f"lines {n}-{m}")
        problem = "is not a valid range" if (n < 1 or (m is not None and m < n)) else \
            f"is past the end of the file ({count} lines)"
        hint = f"; `--fix` moves it to line {defs[0].line}" if defs else \
            "; point it at an existing line"
        finding = add("P101", ERROR, f"`{span.text}`: {why} {problem}{hint}", column,
                      fixable=bool(defs))
        if defs:
            _propose_fix(span, defs, n, row, ordinal, finding, result)
        return
    if not defs:
        return
    tolerance = ctx.config.anchor_tolerance
    if any(d.block_start - tolerance <= n <= d.line + tolerance for d in defs):
        return
    nearest = min(defs, key=lambda d: (abs(d.line - n), d.line))
    finding = add("P103", WARNING,
                  f"`{span.text}`: `{span.symbol}` is defined at line {nearest.line}; the "
                  f"anchor is stale (run `arco parity-check --fix`)", column, fixable=True)
    _propose_fix(span, defs, n, row, ordinal, finding, result)


def _propose_fix(span: Span, defs: list[Definition], n: int, row: Row, ordinal: int,
                 finding: Finding, result: MatrixResult) -> None:
    target = min((d.line for d in defs), key=lambda line: (abs(line - n), line))
    delta = target - n
    assert span.anchor is not None
    start, end = span.anchor
    anchor = f":{start}" if end is None else f":{start}-{end}"
    new_anchor = f":{start + delta}" if end is None else f":{start + delta}-{end + delta}"
    head = span.text[: span.text.rindex(anchor)] if anchor in span.text else span.path
    tail = span.text[len(head) + len(anchor):]
    new = head + new_anchor + tail
    result.fixes.append(AnchorFix(row.line, span.text, ordinal, new, finding))


def _check_tests_cell(ctx: Context, cell: str, add: AddFn) -> bool:
    """P005; whether the cell points at a test."""
    if evidence.is_empty(cell):
        return False
    text = evidence.BR.sub(" ", cell)
    for item in evidence.items(cell):
        for span in evidence.spans(item):
            if span.symbol or span.node:
                return True
            if span.pathlike and is_test_path(span.path):
                return True
    if re.search(r"\bpytest\b|\bcargo\s+test\b|--test\b", text):
        return True
    add("P005", ERROR, "`Evidence (Tests)` does not point at a test; cite a test file or "
        "test function, e.g. `tests/test_x.py` (`test_name`)", TESTS)
    return False


def _runner_in(tokens: list[str], extra: list[str]) -> bool:
    words = [r.split() for r in (*RUNNERS, *extra)]
    return any(
        tokens[i:i + len(w)] == w or (len(w) == 1 and i < len(tokens)
                                      and tokens[i].rsplit("/", 1)[-1] == w[0])
        for w in words for i in range(len(tokens)))


def _check_ci_cell(ctx: Context, cell: str, add: AddFn
                   ) -> tuple[list[StepMatch], bool]:
    """P004, P006, P104, P105; the matched steps and whether every command matched."""
    from arco_cli.parity.shell import simple_commands

    matches: list[StepMatch] = []
    ok = True
    if evidence.is_empty(cell):
        return matches, False
    any_item = False
    for item in evidence.items(cell):
        parsed = evidence.ci_item(item)
        if parsed.workflow is None and parsed.job is None:
            continue                                     # free text
        any_item = True
        workflow = ctx.workflows.get(parsed.workflow.path) if parsed.workflow else None
        if workflow is None:
            ok = False
            named = f"`{parsed.workflow.path}`" if parsed.workflow else "nothing"
            add("P004", ERROR, f"`Evidence (CI)` names {named}, which is not a workflow "
                f"of the repo; cite one of {', '.join(sorted(ctx.workflows)) or '(none)'}",
                CI)
        if parsed.job is None or not parsed.commands:
            ok = False
            add("P006", ERROR, f"`Evidence (CI)` item {item.strip()!r} holds no job "
                "command; write it as `WORKFLOW` (job `JOB`: `COMMAND`)", CI)
            continue
        if not any(_runner_in(list(c.tokens), ctx.config.test_runners)
                   for cmd in parsed.commands for c in simple_commands(cmd)):
            ok = False
            add("P006", ERROR, f"no test runner in {' + '.join(f'`{c}`' for c in parsed.commands)};"
                f" cite the command that runs the tests ({', '.join(RUNNERS)})", CI)
        if workflow is None:
            continue
        job = workflow.find_job(parsed.job)
        if job is None:
            ok = False
            add("P104", ERROR, f"job `{parsed.job}` does not exist in {workflow.path}; "
                f"jobs are {', '.join(sorted(workflow.jobs)) or '(none)'}", CI)
            continue
        if job.uses is not None:
            ok = False
            add("P107", WARNING, f"cannot verify that CI runs this test: job `{job.id}` "
                f"calls the reusable workflow {job.uses}", CI)
            continue
        for command in parsed.commands:
            found = match_steps(job, command)
            if not found:
                ok = False
                add("P105", ERROR, f"no `run:` step of job `{job.id}` in {workflow.path} "
                    f"runs `{command}`; cite the command as the step runs it", CI)
            matches.extend(found)
    if not any_item:
        ok = False
        add("P004", ERROR, "`Evidence (CI)` names no workflow file; cite "
            "`.github/workflows/FILE.yml` (job `JOB`: `COMMAND`)", CI)
    return matches, ok and bool(matches)


def _cited_tests(ctx: Context, cell: str) -> list[CitedTest]:
    out: list[CitedTest] = []
    for item in evidence.items(cell):
        for span in evidence.path_spans(TESTS, item):
            path = span.path.rstrip("/")
            if ctx.repo.is_repo_path(path) and ctx.repo.exists(path):
                test = CitedTest(path, span.test_name, not ctx.repo.is_file(path))
                if test not in out:
                    out.append(test)
    return out


def _check_gated(ctx: Context, cell: str, matches: list[StepMatch], add: AddFn) -> None:
    tests = _cited_tests(ctx, cell)
    if not tests:
        if any(ctx.repo.is_repo_path(span.path.rstrip("/"))
               for item in evidence.items(cell) for span in evidence.path_spans(TESTS, item)):
            return                                  # a missing test file is already P007
        add("P107", WARNING, "cannot verify that CI runs this test: `Evidence (Tests)` "
            "cites no test file; cite the file (and function) of the test", TESTS)
        return
    for test in tests:
        label = f"`{test.path}`" + (f" (`{test.name}`)" if test.name else "")
        verdicts: list[tuple[StepMatch, Verdict]] = [
            (m, step_verdict(ctx.repo, m, test)) for m in matches]
        if any(v.outcome == RUNS for _, v in verdicts):
            continue
        undecided = [(m, v) for m, v in verdicts if v.outcome == UNDECIDED]
        if undecided:
            m, v = undecided[0]
            add("P107", WARNING, f"cannot verify that CI runs {label}: {v.reason}; run the "
                "tests with a direct `cargo test`/`pytest` step", TESTS)
            continue
        # Explain with the step whose command is closest to the cited one.
        m, v = min(verdicts, key=lambda mv: len(mv[0].command.tokens) - mv[0].length)
        add("P106", ERROR, f"CI does not run {label}: {m.label} runs "
            f"`{shlex.join(m.command.tokens)}`, but {v.reason}; add the test to the "
            "command or cite the step that runs it", TESTS)
