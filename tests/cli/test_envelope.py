from __future__ import annotations

from pathlib import Path

from tests.conftest import run_arco

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
