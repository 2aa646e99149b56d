"""What ``pytest ARGS`` runs (parity-check.md P106, decisions A64).

Paths are relative to the working directory; without paths pytest collects
``testpaths`` (relative to its rootdir) or the working directory, minus ``--ignore``,
and collects only files matching ``python_files``. ``::`` node ids and decidable ``-k``
expressions (identifiers with and/or/not/parentheses, matched case-insensitively as
substrings of the function, class and file stem) are honoured; ``-m`` and ``--deselect``
make the answer undecidable.
"""

from __future__ import annotations

import fnmatch
import posixpath
import re

from arco_cli.parity.repo import Repo
from arco_cli.parity.verdict import CitedTest, Verdict, runs, skips, undecided, under

_VALUE_OPTIONS = {
    "-k", "-m", "--ignore", "--ignore-glob", "--deselect", "-p", "-c", "--rootdir", "-o",
    "--override-ini", "--maxfail", "--tb", "-n", "--numprocesses", "--dist", "--cov",
    "--cov-report", "--cov-config", "--cov-fail-under", "--junitxml", "--junit-xml",
    "--durations", "--durations-min", "--timeout", "-W", "--pythonwarnings", "--basetemp",
    "--confcutdir", "--log-level", "--log-cli-level", "--log-file", "--log-format",
    "--import-mode", "--capture", "--color", "--code-highlight", "--show-capture",
    "--hypothesis-seed", "--hypothesis-profile", "-r", "--lf-no-failures",
    "--last-failed-no-failures", "--randomly-seed", "--reruns", "--html",
}
_K_TOKEN = re.compile(r"\s*(\(|\)|[A-Za-z_][\w]*)")


def pytest_verdict(repo: Repo, args: list[str], cwd: str, test: CitedTest) -> Verdict:
    """Does ``pytest`` with ``args``, run in ``cwd``, run ``test``?"""
    located = repo.pytest_config(cwd)
    rootdir, ini = located if located is not None else (cwd, {})
    addopts = ini.get("addopts") or []
    full = [*(addopts if isinstance(addopts, list) else []), *args]
    paths: list[str] = []
    ignores: list[str] = []
    ignore_globs: list[str] = []
    keywords: list[str] = []
    i = 0
    while i < len(full):
        arg = full[i]
        name, eq, inline = arg.partition("=")
        if not arg.startswith("-") or arg == "-":
            paths.append(arg)
            i += 1
            continue
        value: str | None = None
        if name in _VALUE_OPTIONS:
            if eq and name.startswith("--"):
                value = inline
            elif len(arg) > 2 and not arg.startswith("--"):
                value = arg[2:]          # "-kfoo"
                name = arg[:2]
            elif i + 1 < len(full):
                value = full[i + 1]
                i += 1
        elif len(arg) > 2 and not arg.startswith("--") and arg[:2] in _VALUE_OPTIONS:
            name, value = arg[:2], arg[2:]
        if name == "-m":
            return undecided(f"`-m {value}` selects by marker")
        if name == "--deselect":
            return undecided(f"`--deselect {value}` may drop the test")
        if name in ("-c", "--rootdir", "-o", "--override-ini"):
            return undecided(f"`{name}` changes collection in a way the gate does not model")
        if name == "--ignore" and value is not None:
            ignores.append(_join(cwd, value))
        elif name == "--ignore-glob" and value is not None:
            ignore_globs.append(value)
        elif name == "-k" and value is not None:
            keywords.append(value)
        elif name == "--pyargs":
            return undecided("`--pyargs` names packages, not paths")
        i += 1

    for folder in ignores:
        if under(test.path, folder):
            return skips(f"`--ignore {folder}` excludes {test.path}")
    for pattern in ignore_globs:
        if fnmatch.fnmatch(test.path, pattern) or fnmatch.fnmatch(
                posixpath.join(repo.root.as_posix(), test.path), pattern):
            return skips(f"`--ignore-glob {pattern}` excludes {test.path}")

    verdict = _paths(repo, paths, cwd, rootdir, ini, test)
    if verdict.outcome != "runs":
        return verdict
    for expression in keywords:
        k = _keyword(expression, test)
        if k.outcome != "runs":
            return k
    return runs()


def _paths(repo: Repo, paths: list[str], cwd: str, rootdir: str, ini: dict[str, object],
           test: CitedTest) -> Verdict:
    if not paths:
        testpaths = ini.get("testpaths") or []
        if isinstance(testpaths, list) and testpaths and cwd == rootdir:
            paths = [_join(rootdir, p) for p in testpaths]
        else:
            paths = [cwd]
        how = f"testpaths {' '.join(paths)}" if paths != [cwd] else \
            f"the working directory {cwd or '.'}"
    else:
        paths = [p if "::" in p else _join(cwd, p) for p in paths]
        how = " ".join(paths)
    node_ids: list[tuple[str, list[str]]] = []
    folders: list[str] = []
    for p in paths:
        if "::" in p:
            file, _, rest = p.partition("::")
            node_ids.append((_join(cwd, file), [n for n in rest.split("::") if n]))
        else:
            folders.append(p)
    for folder in folders:
        if test.path == folder:
            return runs()                      # an explicit file is always collected
        if under(test.path, folder):
            if not test.is_dir and not _collected(ini, test.path):
                return skips(f"{posixpath.basename(test.path)} does not match "
                             f"python_files {' '.join(_python_files(ini))}")
            return runs()
        if test.is_dir and under(folder, test.path):
            return undecided(f"only part of {test.path} is selected ({folder})")
    for node_file, node in node_ids:
        if node_file == test.path:
            return _node(node, test)
    return skips(f"it collects {how}, which does not include {test.path}")


def _node(node: list[str], test: CitedTest) -> Verdict:
    if not node:
        return runs()
    if test.name is None:
        return undecided(f"only {'::'.join(node)} of the file is selected")
    cited = [p for p in re.split(r"::|\.", test.name) if p]
    if cited[: len(node)] == node or node == cited:
        return runs()
    if len(cited) == 1 and node[-1] == cited[0]:
        return runs()
    if len(cited) == 1 and len(node) == 1 and node[0][:1].isupper():
        return undecided(f"{test.name} may be a method of {node[0]}")
    return skips(f"the node id {'::'.join(node)} does not select {test.name}")


def _python_files(ini: dict[str, object]) -> list[str]:
    configured = ini.get("python_files")
    if isinstance(configured, list) and configured:
        return [str(p) for p in configured]
    return ["test_*.py", "*_test.py"]


def _collected(ini: dict[str, object], path: str) -> bool:
    name = posixpath.basename(path)
    return any(fnmatch.fnmatch(name, pattern) for pattern in _python_files(ini))


def _keyword(expression: str, test: CitedTest) -> Verdict:
    """Evaluate a ``-k`` expression when it is decidable (decisions A64)."""
    tokens: list[str] = []
    pos = 0
    text = expression.strip()
    while pos < len(text):
        m = _K_TOKEN.match(text, pos)
        if not m:
            return undecided(f"`-k {expression}` is not a plain keyword expression")
        tokens.append(m.group(1))
        pos = m.end()
        while pos < len(text) and text[pos].isspace():
            pos += 1
    if test.name is None:
        return undecided(f"`-k {expression}` filters tests and no test function is cited")
    parts = [p for p in re.split(r"::|\.", test.name) if p]
    stem = posixpath.basename(test.path).rsplit(".", 1)[0]
    haystack = [p.lower() for p in (*parts, stem)]
    parser = _KParser(tokens, haystack)
    try:
        result = parser.parse()
    except ValueError:
        return undecided(f"`-k {expression}` cannot be parsed")
    if result:
        return runs()
    return skips(f"`-k {expression}` does not select {test.name}")


class _KParser:
    """or → and → not → atom, as pytest's -k grammar."""

    def __init__(self, tokens: list[str], haystack: list[str]) -> None:
        self.tokens = tokens
        self.pos = 0
        self.haystack = haystack

    def parse(self) -> bool:
        value = self._or()
        if self.pos != len(self.tokens):
            raise ValueError("trailing tokens")
        return value

    def _peek(self) -> str | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def _or(self) -> bool:
        value = self._and()
        while self._peek() == "or":
            self.pos += 1
            right = self._and()
            value = value or right
        return value

    def _and(self) -> bool:
        value = self._not()
        while self._peek() == "and":
            self.pos += 1
            right = self._not()
            value = value and right
        return value

    def _not(self) -> bool:
        if self._peek() == "not":
            self.pos += 1
            return not self._not()
        return self._atom()

    def _atom(self) -> bool:
        token = self._peek()
        if token is None:
            raise ValueError("unexpected end")
        self.pos += 1
        if token == "(":
            value = self._or()
            if self._peek() != ")":
                raise ValueError("missing )")
            self.pos += 1
            return value
        if token in (")", "and", "or", "not"):
            raise ValueError(f"unexpected {token}")
        needle = token.lower()
        return any(needle in hay for hay in self.haystack)


def _join(cwd: str, rel: str) -> str:
    joined = posixpath.normpath(posixpath.join(cwd, rel)) if cwd else posixpath.normpath(rel)
    return "" if joined == "." else joined
