"""What a CI command runs: shell splitting (A63), cargo and pytest selection (A64)."""

from __future__ import annotations

import pytest

from arco_cli.parity.cargo import cargo_verdict
from arco_cli.parity.pytest_selection import pytest_verdict
from arco_cli.parity.repo import Repo
from arco_cli.parity.shell import simple_commands, tokenize
from arco_cli.parity.verdict import RUNS, SKIPS, UNDECIDED, CitedTest
from tests.parity.conftest import PARITY_REPO

REPO = Repo(PARITY_REPO)
FLOW_GATES = CitedTest("crates/flow/tests/gates.rs", "parity_slow_backfill", False)
FLOW_UNIT = CitedTest("crates/flow/src/lib.rs", "tests::unit_reserve", False)
CORE_KEYS = CitedTest("crates/core/tests/keys.rs", "keys_are_canonical", False)
API = "python/tests/test_api.py"


def test_steps_split_at_operators_and_newlines_after_joining_continuations() -> None:
    script = "cd crates/flow && cargo test \\\n  -p arco-flow | tee log; echo 'a && b'\n"
    commands = simple_commands(script)
    assert [c.tokens for c in commands] == [
        ("cd", "crates/flow"), ("cargo", "test", "-p", "arco-flow"), ("tee", "log"),
        ("echo", "a && b")]
    assert [c.cwd for c in commands] == ["", "crates/flow", "crates/flow", "crates/flow"]
    assert tokenize('pytest -k "a and b"') == ["pytest", "-k", "a and b"]


def test_cd_to_an_unknown_directory_makes_the_directory_unknown() -> None:
    assert simple_commands("cd $DIR\npytest")[1].cwd is None


@pytest.mark.parametrize(("args", "cwd", "test", "outcome"), [
    (["-p", "arco-flow"], "", FLOW_GATES, RUNS),
    (["--package=arco-core"], "", FLOW_GATES, SKIPS),
    (["-parco-flow", "--", "--skip", "slow"], "", FLOW_GATES, SKIPS),
    (["-p", "arco-flow", "--", "--skip", "fast"], "", FLOW_GATES, RUNS),
    (["-p", "arco-flow", "--", "retry"], "", FLOW_GATES, SKIPS),
    (["-p", "arco-flow", "backfill"], "", FLOW_GATES, RUNS),
    (["-p", "arco-flow", "--", "gates::parity"], "", FLOW_GATES, UNDECIDED),
    (["-p", "arco-flow", "--", "--exact", "parity_slow_backfill"], "", FLOW_GATES, RUNS),
    (["--workspace"], "crates", CORE_KEYS, RUNS),
    (["--workspace", "--exclude", "arco-core"], "", CORE_KEYS, SKIPS),
    ([], "", CORE_KEYS, SKIPS),                 # default-members = crates/flow
    ([], "crates/core", CORE_KEYS, RUNS),       # the package at the working directory
    ([], "crates/core/src", CORE_KEYS, RUNS),   # cargo walks up to the nearest manifest
    (["--lib"], "crates/flow", FLOW_UNIT, RUNS),
    (["--lib"], "crates/flow", FLOW_GATES, SKIPS),
    (["--test", "gates"], "crates/flow", FLOW_GATES, RUNS),
    (["--test", "other", "--test", "gates"], "crates/flow", FLOW_GATES, RUNS),
    (["--test", "gates"], "crates/flow", FLOW_UNIT, SKIPS),
    (["--all-targets"], "crates/flow", FLOW_UNIT, RUNS),
    (["--doc"], "crates/flow", FLOW_UNIT, UNDECIDED),
    (["--manifest-path", "crates/core/Cargo.toml"], "", CORE_KEYS, RUNS),
    (["-p", "arco-flow", "--", "unit_reserve"], "", FLOW_UNIT, RUNS),
])
def test_cargo_selection(args: list[str], cwd: str, test: CitedTest, outcome: str) -> None:
    assert cargo_verdict(REPO, args, cwd, test).outcome == outcome


def test_cargo_filter_without_a_cited_function_cannot_be_decided() -> None:
    file_only = CitedTest("crates/flow/tests/gates.rs", None, False)
    assert cargo_verdict(REPO, ["-p", "arco-flow", "retry"], "", file_only).outcome \
        == UNDECIDED
    assert cargo_verdict(REPO, ["-p", "arco-flow"], "", file_only).outcome == RUNS


@pytest.mark.parametrize(("args", "cwd", "name", "outcome"), [
    ([], "python", "test_canonical_json", RUNS),               # testpaths = ["tests"]
    ([], "", "test_canonical_json", RUNS),                      # working dir = repo root
    (["tests"], "python", "test_canonical_json", RUNS),
    (["tests/test_api.py"], "python", None, RUNS),
    (["python/tests"], "", "test_canonical_json", RUNS),
    (["tests"], "", "test_canonical_json", SKIPS),              # relative to the working dir
    (["src"], "python", "test_canonical_json", SKIPS),
    (["--ignore", "tests"], "python", "test_canonical_json", SKIPS),
    (["--ignore=tests/other.py"], "python", "test_canonical_json", RUNS),
    (["--deselect", "tests/test_api.py::x"], "python", "test_canonical_json", UNDECIDED),
    (["-m", "smoke"], "python", "test_canonical_json", UNDECIDED),
    (["-k", "canonical and not slow"], "python", "test_canonical_json", RUNS),
    (["-k", "canonical and not slow"], "python", "test_slow_canonical", SKIPS),
    (["-k", "TESTSTORE"], "python", "TestStore::test_key", RUNS),
    (["-k", "test_api"], "python", "test_slow_canonical", RUNS),     # file stem
    (["-k", "(json or key) and not slow"], "python", "TestStore::test_key", RUNS),
    (["-k", "canon*"], "python", "test_canonical_json", UNDECIDED),
    (["-k", "canonical"], "python", None, UNDECIDED),
    (["tests/test_api.py::TestStore"], "python", "TestStore::test_key", RUNS),
    (["tests/test_api.py::TestStore::test_key"], "python", "test_key", RUNS),
    (["tests/test_api.py::test_canonical_json"], "python", "test_slow_canonical", SKIPS),
    (["tests/test_api.py::TestStore"], "python", "test_key", UNDECIDED),
    (["-c", "other.ini"], "python", "test_canonical_json", UNDECIDED),
    (["-p", "no:cacheprovider", "-n", "2", "-x", "tests"], "python", "test_key", RUNS),
    (["-n2", "-kslow", "tests"], "python", "test_canonical_json", SKIPS),
])
def test_pytest_selection(args: list[str], cwd: str, name: str | None, outcome: str) -> None:
    assert pytest_verdict(REPO, args, cwd, CitedTest(API, name, False)).outcome == outcome


def test_pytest_collects_only_python_files_from_directories() -> None:
    helper = CitedTest("python/tests/check_helpers.py", "test_helper", False)
    assert pytest_verdict(REPO, [], "python", helper).outcome == SKIPS
    assert pytest_verdict(REPO, ["tests/check_helpers.py"], "python", helper).outcome == RUNS


def test_pytest_with_a_cited_directory_under_the_selected_path() -> None:
    folder = CitedTest("python/tests", None, True)
    assert pytest_verdict(REPO, [], "python", folder).outcome == RUNS
    assert pytest_verdict(REPO, ["tests/test_api.py"], "python", folder).outcome == UNDECIDED
