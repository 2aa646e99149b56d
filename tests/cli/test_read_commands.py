"""The read commands end to end: real subprocesses over a workspace whose log holds the
diagnostics scenario (``fixtures/scenarios/diagnostics.jsonl``)."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import FIXTURES, CliResult, run_arco, write_workspace

ENVELOPE_KEYS = ["schemaVersion", "command", "status", "exitCode", "data", "errors"]
SCENARIO = FIXTURES / "scenarios" / "diagnostics.jsonl"
NIGHTLY = "run_7drmbfb47rujhiqff3f6gthbhm"

ASSETS = """
[assets."raw.orders"]
run = ["python", "-c", "pass"]

[assets."analytics.orders"]
deps = ["raw.orders"]
run = ["python", "-c", "pass"]
code_version = "v2"

[assets."analytics.report"]
deps = ["analytics.orders"]
run = ["python", "-c", "pass"]

[assets."analytics.summary"]
deps = ["analytics.report"]
run = ["python", "-c", "pass"]
freshness_max_lag_minutes = 30

[assets."load.a"]
run = ["python", "-c", "pass"]

[assets."load.b"]
deps = ["load.a"]
run = ["python", "-c", "pass"]
"""


def _make_workspace(root: Path, body: str = ASSETS) -> Path:
    from arco_cli.log import EventLog

    write_workspace(root, body)
    log = EventLog(root / ".arco" / "log")
    log.check_scope("local", "default")
    with log.writer(5) as writer:
        writer.append_raw(SCENARIO.read_bytes().splitlines())
    return root


@pytest.fixture(scope="module")
def ws(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = _make_workspace(tmp_path_factory.mktemp("read") / "ws")
    attempt_dir = root / ".arco" / "runs" / NIGHTLY / "raw.orders"
    attempt_dir.mkdir(parents=True)
    (attempt_dir / "1.stderr").write_text("ConnectionError\n", encoding="utf-8")
    return root


def arco(ws: Path, *args: str) -> CliResult:
    return run_arco("-w", str(ws), *args)


def _log_digest(ws: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted((ws / ".arco" / "log").rglob("*")):
        if path.is_file():
            digest.update(path.name.encode() + path.read_bytes())
    return digest.hexdigest()


def _ok(res: CliResult, command: str) -> dict[str, Any]:
    assert res.returncode == 0, res.stderr
    env = res.envelope
    assert list(env) == ENVELOPE_KEYS
    assert (env["command"], env["status"], env["exitCode"], env["errors"]) == \
        (command, "ok", 0, [])
    data: dict[str, Any] = env["data"]
    return data


def test_explain_json_by_run_key_has_the_whole_story(ws: Path) -> None:
    before = _log_digest(ws)
    data = _ok(arco(ws, "explain", "nightly", "--json"), "explain")
    assert data["runId"] == NIGHTLY and data["state"] == "FAILED"
    assert list(data)[-5:] == ["trigger", "requestFingerprint", "conflicts", "rerunChain",
                               "ignoredEvents"]
    tasks = {t["taskKey"]: t for t in data["tasks"]}
    attempts = tasks["raw.orders"]["retryAttribution"]["attempts"]
    assert attempts[0]["logs"] == {"stderr": f".arco/runs/{NIGHTLY}/raw.orders/1.stderr"}
    assert "logs" not in attempts[1]
    assert tasks["analytics.summary"]["skipAttribution"]["rootCauseTaskKey"] == \
        "analytics.orders"
    assert data["conflicts"][0]["differences"]["selection"]["added"] == ["analytics.report"]
    assert [e["reason"] for e in data["ignoredEvents"]] == ["duplicate_key", "stale_attempt"]
    assert _log_digest(ws) == before


def test_explain_json_and_text_are_byte_identical_across_invocations(ws: Path) -> None:
    first, second = arco(ws, "--json", "explain", NIGHTLY), arco(ws, "explain", NIGHTLY,
                                                                  "--json")
    assert first.stdout == second.stdout
    text1, text2 = arco(ws, "explain", "nightly"), arco(ws, "explain", "nightly")
    assert text1.stdout == text2.stdout and text1.returncode == 0
    assert "analytics.summary: Skipped because upstream task analytics.report was " \
        "skipped; root cause: task analytics.orders." in text1.stdout
    assert "raw.orders: Retried 1 time: attempt 1 failed (USER_CODE: ConnectionError: " \
        "source database unavailable); attempt 2 succeeded." in text1.stdout
    assert f"stderr: .arco/runs/{NIGHTLY}/raw.orders/1.stderr" in text1.stdout


def test_explain_task_filter_and_its_errors(ws: Path) -> None:
    data = _ok(arco(ws, "explain", "nightly", "--task", "raw.orders", "--json"), "explain")
    assert [t["taskKey"] for t in data["tasks"]] == ["raw.orders"]
    assert [e["eventType"] for e in data["ignoredEvents"]] == ["TaskStarted", "TaskFinished"]
    for args, code in ((["explain", "nightly", "--task", "nope.task"], "UNKNOWN_TASK"),
                       (["explain", "no-such-run"], "UNKNOWN_RUN")):
        res = arco(ws, *args, "--json")
        assert res.returncode == 2
        env = res.envelope
        assert (env["status"], env["data"], env["errors"][0]["code"]) == ("error", None, code)


def test_runs_lists_newest_first_and_filters(ws: Path) -> None:
    data = _ok(arco(ws, "runs", "--json"), "runs")
    assert [r["state"] for r in data["runs"]] == ["SUCCEEDED", "CANCELLED", "SUCCEEDED",
                                                   "FAILED"]
    failed = _ok(arco(ws, "runs", "--state", "Failed", "--limit", "1", "--json"), "runs")
    assert [r["runId"] for r in failed["runs"]] == [NIGHTLY]
    bad = arco(ws, "runs", "--state", "DONE", "--json")
    assert bad.returncode == 2 and bad.envelope["errors"][0]["code"] == "USAGE_ERROR"


def test_conflicts_fail_on_any_exits_1_with_the_conflicts(ws: Path) -> None:
    res = arco(ws, "conflicts", "--fail-on-any", "--json")
    assert res.returncode == 1
    env = res.envelope
    assert (env["status"], env["errors"]) == ("failed", [])
    assert [c["runKey"] for c in env["data"]["conflicts"]] == ["nightly"]
    none = _ok(arco(ws, "conflicts", "--run-key", "other", "--fail-on-any", "--json"),
               "conflicts")
    assert none == {"conflicts": []}


def test_partitions_staleness_at_a_given_instant_and_unknown_asset(ws: Path) -> None:
    data = _ok(arco(ws, "partitions", "--stale", "--now", "2025-01-15T03:00:00Z", "--json"),
               "partitions")
    stale = {r["assetKey"]: r.get("staleReason") for r in data["partitions"]}
    assert stale == {"analytics.summary": "FRESHNESS_POLICY", "load.a": "NEVER_MATERIALIZED",
                     "load.b": "NEVER_MATERIALIZED"}
    res = arco(ws, "partitions", "missing.asset", "--json")
    assert res.returncode == 2 and res.envelope["errors"][0]["code"] == "UNKNOWN_ASSET"
    res = arco(ws, "partitions", "--now", "yesterday", "--json")
    assert res.returncode == 2 and res.envelope["errors"][0]["code"] == "USAGE_ERROR"


def test_verify_passes_then_reports_a_tampered_projection(tmp_path: Path) -> None:
    root = _make_workspace(tmp_path / "ws")
    data = _ok(run_arco("-w", str(root), "verify", "--json"), "verify")
    assert data["findings"] == []
    assert data["checked"] == {"events": 31, "tables": 15, "tasks": 4, "partitions": 4,
                               "deltaCommits": 0}
    manifest = (root / ".arco" / "projections" / "manifest.json").resolve()
    doc = json.loads(manifest.read_text(encoding="utf-8"))
    doc["tables"]["runs"]["content_sha256"] = "0" * 64
    manifest.write_text(json.dumps(doc), encoding="utf-8")
    res = run_arco("-w", str(root), "verify", "--json")
    assert res.returncode == 1
    env = res.envelope
    assert env["status"] == "failed" and env["errors"] == []
    assert [f["code"] for f in env["data"]["findings"]] == ["PROJECTION_MISMATCH"]
    assert "table runs" in env["data"]["findings"][0]["message"]


def test_read_commands_survive_a_broken_config_but_partitions_does_not(tmp_path: Path) -> None:
    root = _make_workspace(tmp_path / "ws", ASSETS + "\n[assets.\"x.y\"]\nbogus = 1\n")
    res = run_arco("-w", str(root), "runs", "--json")
    assert res.returncode == 0 and "warning" in res.stderr
    assert len(res.envelope["data"]["runs"]) == 4
    res = run_arco("-w", str(root), "partitions", "--json")
    assert res.returncode == 2 and res.envelope["errors"][0]["code"] == "INVALID_CONFIG"


def test_workspace_not_found_is_exit_2(tmp_path: Path) -> None:
    res = run_arco("explain", "nightly", "--json", cwd=tmp_path)
    assert res.returncode == 2
    assert res.envelope["errors"][0]["code"] == "WORKSPACE_NOT_FOUND"


@pytest.mark.parametrize("command", ["runs", "explain", "conflicts", "partitions", "verify"])
def test_help_says_what_the_command_does_with_an_example(command: str) -> None:
    res = run_arco(command, "--help")
    assert res.returncode == 0
    assert "Example" in res.stdout and f"arco {command}" in res.stdout


def test_copied_log_gives_identical_json_and_reading_never_writes_the_log(
        ws: Path, tmp_path: Path) -> None:
    before = _log_digest(ws)
    copy = tmp_path / "copy"
    shutil.copytree(ws / ".arco" / "log", copy / ".arco" / "log")
    shutil.copy(ws / "arco.toml", copy / "arco.toml")
    for args in (["runs"], ["partitions", "--now", "2025-01-15T03:00:00Z"]):
        assert arco(ws, *args, "--json").stdout == arco(copy, *args, "--json").stdout
    assert _log_digest(ws) == before


def _append(root: Path, records: list[bytes]) -> None:
    from arco_cli.log import EventLog

    with EventLog(root / ".arco" / "log").writer(5) as writer:
        writer.append_raw(records)


def _delta_run_events() -> list[bytes]:
    from arco_cli.events import make_event
    from arco_cli.identity import attempt_id, canonical_json, parse_timestamp_ms

    run = "run_01JJ0000000000000000000000"
    at = parse_timestamp_ms("2025-01-20T00:00:00.000Z")
    attempt = {"run_id": run, "task_key": "raw.orders", "attempt": 1,
               "attempt_id": attempt_id(run, "raw.orders", 1), "worker_id": "local:h:1"}
    payloads = [
        {"type": "run_triggered", "run_id": run, "plan_id": f"plan:{run}",
         "trigger": {"type": "manual", "user_id": "dave"}, "root_assets": ["raw.orders"]},
        {"type": "plan_created", "run_id": run, "plan_id": f"plan:{run}",
         "tasks": [{"key": "raw.orders", "depends_on": [], "asset_key": "raw.orders"}]},
        {"type": "task_started", **attempt},
        {"type": "task_finished", **attempt, "outcome": "succeeded", "asset_key": "raw.orders",
         "output": {"deltaTable": "warehouse/raw_orders", "deltaVersion": 0}},
    ]
    return [canonical_json(make_event(p, event_id=f"01JJ00000000000000000000{i:02d}",
                                      timestamp_ms=at + i, tenant_id="local",
                                      workspace_id="default")).encode()
            for i, p in enumerate(payloads)]


def test_verify_reports_a_recorded_delta_version_without_a_table(tmp_path: Path) -> None:
    root = _make_workspace(tmp_path / "ws")
    _append(root, _delta_run_events())
    res = run_arco("-w", str(root), "verify", "--json")
    assert res.returncode == 1, res.stderr
    data = res.envelope["data"]
    assert data["checked"]["deltaCommits"] == 1
    assert [(f["code"], f["taskKey"]) for f in data["findings"]] == [
        ("DELTA_TABLE_MISSING", "raw.orders")]


def test_verify_reports_a_repeated_event_id_and_stops_there(tmp_path: Path) -> None:
    root = _make_workspace(tmp_path / "ws")
    _append(root, [SCENARIO.read_bytes().splitlines()[0]])
    res = run_arco("-w", str(root), "verify", "--json")
    assert res.returncode == 1
    data = res.envelope["data"]
    assert [f["code"] for f in data["findings"]] == ["LOG_CORRUPT"]
    assert "log offsets 0 and 31" in data["findings"][0]["message"]
    assert data["checked"]["events"] == 32 and data["checked"]["tables"] == 0


def test_read_commands_refuse_a_changed_workspace_scope(tmp_path: Path) -> None:
    root = _make_workspace(tmp_path / "ws")
    config = root / "arco.toml"
    config.write_text(config.read_text().replace('name = "default"', 'name = "renamed"'))
    log_bytes = {p.name: p.read_bytes() for p in (root / ".arco" / "log").iterdir()}
    for command in (["runs"], ["explain", "nightly"], ["conflicts"], ["verify"]):
        res = run_arco("-w", str(root), *command, "--json")
        assert res.returncode == 2, (command, res.stdout)
        assert res.envelope["errors"][0]["code"] == "SCOPE_MISMATCH"
    assert {p.name: p.read_bytes() for p in (root / ".arco" / "log").iterdir()} == log_bytes
