"""What ``cargo test ARGS`` runs (parity-check.md P106, decisions A64).

Packages: ``-p``/``--package``; ``--workspace`` minus ``--exclude``; otherwise the
package at the working directory, or a virtual manifest's ``default-members`` / members.
Targets: ``--lib`` (files under ``src/``), ``--test NAME`` (``tests/NAME.rs``, a union when
repeated), ``--tests``/``--all-targets``/none (both); other target flags are undecidable.
Filters before or after ``--`` keep tests whose name contains them; ``--skip`` drops them.
"""

from __future__ import annotations

import posixpath

from arco_cli.parity.repo import Repo
from arco_cli.parity.verdict import CitedTest, Verdict, runs, skips, undecided, under

# cargo options that take a value (so the value is not read as a test-name filter)
_VALUE_OPTIONS = {
    "-p", "--package", "--exclude", "--test", "-F", "--features", "--target", "-j",
    "--jobs", "--profile", "--target-dir", "--manifest-path", "--color", "--message-format",
    "-Z", "--config", "--bin", "--example", "--bench", "--timings", "--lockfile-path",
}
_OTHER_TARGETS = {"--bins", "--bin", "--doc", "--examples", "--example", "--benches",
                  "--bench"}
# libtest options after "--" that take a value
_LIBTEST_VALUES = {"--skip", "--test-threads", "--format", "--color", "-Z", "--logfile",
                   "--report-time", "--shuffle-seed"}


def cargo_verdict(repo: Repo, args: list[str], cwd: str, test: CitedTest) -> Verdict:
    """Does ``cargo test`` with ``args`` (after ``test``), run in ``cwd``, run ``test``?"""
    packages: list[str] = []
    excludes: set[str] = set()
    workspace = False
    lib = tests_all = all_targets = False
    test_names: list[str] = []
    filters: list[str] = []
    skip_patterns: list[str] = []
    exact = False
    manifest_dir: str | None = None
    i = 0
    after_dashes = False
    while i < len(args):
        arg = args[i]
        if after_dashes:
            if arg == "--skip" and i + 1 < len(args):
                skip_patterns.append(args[i + 1])
                i += 2
                continue
            if arg.startswith("--skip="):
                skip_patterns.append(arg.split("=", 1)[1])
            elif arg == "--exact":
                exact = True
            elif arg in _LIBTEST_VALUES:
                i += 1
            elif not arg.startswith("-"):
                filters.append(arg)
            i += 1
            continue
        if arg == "--":
            after_dashes = True
            i += 1
            continue
        name, eq, inline = arg.partition("=")
        if arg.startswith("-p") and len(arg) > 2 and not arg.startswith("--"):
            name, eq, inline = "-p", "=", arg[2:]
        value: str | None = None
        if name in _VALUE_OPTIONS:
            if eq:
                value = inline
            elif i + 1 < len(args):
                value = args[i + 1]
                i += 1
        if name in ("-p", "--package") and value is not None:
            packages.append(value)
        elif name == "--exclude" and value is not None:
            excludes.add(value)
        elif name in ("--workspace", "--all"):
            workspace = True
        elif name == "--lib":
            lib = True
        elif name == "--tests":
            tests_all = True
        elif name == "--all-targets":
            all_targets = True
        elif name == "--test" and value is not None:
            test_names.append(value)
        elif name == "--manifest-path" and value is not None:
            manifest_dir = posixpath.dirname(_join(cwd, value))
        elif name in _OTHER_TARGETS:
            return undecided(f"`{name}` selects targets the gate does not model")
        elif not arg.startswith("-"):
            filters.append(arg)
        i += 1

    # -- which package holds the test, and which target ---------------------------------
    owner = repo.nearest_manifest(posixpath.dirname(test.path) if not test.is_dir
                                  else test.path, package_only=True)
    if owner is None or owner.package is None:
        return undecided(f"no Cargo.toml with a [package] above {test.path}")
    rel = test.path[len(owner.dir) + 1:] if owner.dir else test.path
    target: str | None = None
    if rel.startswith("src/") or rel == "src":
        target = "lib"
    elif rel.startswith("tests/") or rel == "tests":
        rest = rel[len("tests/"):]
        target = "test:" + rest.split("/", 1)[0].removesuffix(".rs")
    if target is None or (test.is_dir and rel.rstrip("/") == "tests"):
        return undecided(f"{test.path} is not under src/ or tests/ of package "
                         f"{owner.package}")

    # -- packages selected ----------------------------------------------------------------
    base = manifest_dir if manifest_dir is not None else cwd
    if packages:
        selected = set(packages)
        why = "-p " + " -p ".join(packages)
    elif workspace:
        root = repo.workspace_root(base)
        if root is None or root.members is None:
            return undecided(f"--workspace but no [workspace] manifest at or above "
                             f"{base or '.'}")
        names = set(repo.member_packages(root, defaults=False))
        if root.package:
            names.add(root.package)
        selected = names - excludes
        why = "--workspace" + "".join(f" --exclude {x}" for x in sorted(excludes))
    else:
        here = repo.nearest_manifest(base)
        if here is None:
            return undecided(f"no Cargo.toml at or above {base or '.'}")
        if here.members is not None and (here.package is None or
                                         here.default_members is not None):
            selected = set(repo.member_packages(here, defaults=True))
            why = f"the workspace members of {here.dir or '.'}/Cargo.toml"
        else:
            selected = {here.package} if here.package else set()
            why = f"the package at {here.dir or '.'}"
    if owner.package not in selected:
        return skips(f"it selects {why}, which does not include package {owner.package}")

    # -- targets selected -----------------------------------------------------------------
    if not (lib or tests_all or all_targets or test_names) or tests_all or all_targets:
        pass
    elif target == "lib" and not lib:
        return skips("it does not build the library target (`--lib`)")
    elif target.startswith("test:") and target[5:] not in test_names:
        flags = " ".join(["--lib"] * lib + [f"--test {n}" for n in test_names])
        return skips(f"`{flags}` does not include `--test {target[5:]}`")

    # -- name filters -------------------------------------------------------------------
    return _filters(test, filters, skip_patterns, exact)


def _filters(test: CitedTest, filters: list[str], skip_patterns: list[str],
             exact: bool) -> Verdict:
    name = test.name
    if name is None:
        if filters:
            return undecided("a test-name filter is given but no test function is cited")
        return runs()
    qualified = "::" in name
    for pattern in skip_patterns:
        hit = (name == pattern) if exact else (pattern in name)
        if hit:
            return skips(f"`--skip {pattern}` drops {name}")
        if "::" in pattern and not qualified:
            return undecided(f"`--skip {pattern}` is a path filter and {name} is unqualified")
    if not filters:
        return runs()
    for pattern in filters:
        if (name == pattern) if exact else (pattern in name):
            return runs()
    if any("::" in p for p in filters) and not qualified:
        return undecided(f"the filter {' '.join(filters)} is a path filter and {name} "
                         "is unqualified")
    return skips(f"the filter `{' '.join(filters)}` does not match {name}")


def _join(cwd: str, rel: str) -> str:
    joined = posixpath.normpath(posixpath.join(cwd, rel)) if cwd else posixpath.normpath(rel)
    return "" if joined == "." else joined


__all__ = ["cargo_verdict", "under"]
