from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import run_arco, write_workspace

ENVELOPE_KEYS = ["schemaVersion", "command", "status", "exitCode", "data", "errors"]


def test_version_json_is_an_envelope() -> None:
    res = run_arco("--version", "--json")
    assert res.returncode == 0
    assert list(res.envelope) == ENVELOPE_KEYS
    assert res.envelope["data"] == {"version": "0.1.0"}


def test_unknown_command_is_usage_error_in_json(tmp_path: Path) -> None:
    res = run_arco("no-such-command", "--json", cwd=tmp_path)
    assert res.returncode == 2
    env = res.envelope
    assert list(env) == ENVELOPE_KEYS
    assert env["status"] == "error" and env["command"] == "" and env["data"] is None
    assert env["errors"][0]["code"] == "USAGE_ERROR"


def test_json_with_another_format_is_usage_error(tmp_path: Path) -> None:
    res = run_arco("--json", "parity-check", "--format", "github", cwd=tmp_path)
    assert res.returncode == 2
    assert res.envelope["errors"][0]["code"] == "USAGE_ERROR"


def test_help_is_fast_to_print_and_lists_global_options() -> None:
    res = run_arco("--help")
    assert res.returncode == 0
    assert "--lock-timeout" in res.stdout


def test_internal_error_exits_70_with_a_crash_report(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    import arco_cli.diagnostics
    from arco_cli.cli.main import run

    ws = write_workspace(tmp_path / "ws")

    def broken(*args: object, **kwargs: object) -> object:
        raise RuntimeError("a bug")

    # a bug inside a command (not bad input): only the exit-code mapping is under test
    monkeypatch.setattr(arco_cli.diagnostics, "runs_list", broken)
    code = run(["-w", str(ws), "--json", "runs"])
    out, err = capsys.readouterr()
    env = json.loads(out)
    assert code == 70 and env["exitCode"] == 70 and env["status"] == "error"
    assert env["command"] == "runs" and env["data"] is None
    (item,) = env["errors"]
    assert item["code"] == "INTERNAL_ERROR"
    report = Path(item["details"]["crashReport"])
    assert report.parent == ws / ".arco" / "crash" and "RuntimeError: a bug" in report.read_text()
    assert str(report) in err and err.count("\n") == 1
