"""arco.toml validation: every problem reported with file, key path and a fix (A2, A8)."""

from __future__ import annotations

from pathlib import Path

import pytest

from arco_cli.config import key_path, load_definition
from arco_cli.errors import ArcoError
from tests.conftest import write_workspace

VALID = """
[defaults]
max_attempts = 2
retry_delay_s = 1

[assets."raw.orders"]
run = ["python", "jobs/raw_orders.py"]

[assets."analytics.orders"]
deps = ["raw/orders"]
python = "jobs.orders:build"
delta_table = "warehouse/analytics/orders"
partitioned_by = ["date"]
max_attempts = 5
code_version = "v3"

[schedules.daily_orders]
cron = " 0 2 * * * "
selection = ["analytics.orders", "raw.orders", "analytics.orders"]

[sensors.new_orders]
kind = "poll"
python = "jobs.sensors:new_orders"
selection = ["analytics.orders"]

[parity]
matrix = ["docs/parity/matrix.md"]
"""


def _problems(tmp_path: Path, body: str, *, header: bool = True) -> list[tuple[str, str]]:
    root = write_workspace(tmp_path / "ws", body) if header else tmp_path / "ws"
    if not header:
        root.mkdir(parents=True, exist_ok=True)
        (root / "arco.toml").write_text(body, encoding="utf-8")
    with pytest.raises(ArcoError) as info:
        load_definition(root)
    assert info.value.code == "INVALID_CONFIG"
    assert info.value.exit_code == 2
    items = info.value.items()
    for item in items:
        assert item["details"]["file"] == str(root / "arco.toml")
    return [(item["details"]["keyPath"], item["message"]) for item in items]


def test_valid_definition_resolves_defaults_and_canonical_keys(tmp_path: Path) -> None:
    definition = load_definition(write_workspace(tmp_path / "ws", VALID))
    raw = definition.assets["raw.orders"]
    orders = definition.assets["analytics.orders"]
    assert (definition.tenant_id, definition.workspace_id) == ("local", "default")
    assert raw.run == ("python", "jobs/raw_orders.py") and raw.python is None
    assert raw.max_attempts == 2 and raw.retry_delay_s == 1 and raw.timeout_s == 3600
    assert raw.delta_mode == "overwrite" and raw.heartbeat_timeout_s == 300
    assert orders.deps == ("raw.orders",)
    assert orders.max_attempts == 5 and orders.partitioned_by == ("date",)
    schedule = definition.schedules["daily_orders"]
    assert schedule.cron == "0 2 * * *"
    assert schedule.selection == ("analytics.orders", "raw.orders")
    assert (schedule.timezone, schedule.catchup_window_minutes, schedule.max_catchup_ticks,
            schedule.enabled, schedule.partition_date, schedule.partitioned) == (
        "UTC", 0, 1, True, "previous", True)
    sensor = definition.sensors["new_orders"]
    assert (sensor.min_interval_s, sensor.paused, sensor.run) == (30, False, None)
    assert definition.parity == {"matrix": ["docs/parity/matrix.md"]}


def test_key_path_quotes_keys_that_are_not_bare() -> None:
    assert key_path("assets", "analytics.orders", "deps", 0) == 'assets."analytics.orders".deps[0]'
    assert key_path("schedules", "daily") == "schedules.daily"


def test_unquoted_nested_asset_table_asks_to_quote_the_asset_key(tmp_path: Path) -> None:
    problems = _problems(tmp_path, '[assets.analytics.orders]\nrun = ["true"]\n')
    assert problems == [("assets.analytics",
                         'assets.analytics: [assets.analytics.orders] is read by TOML as nested '
                         "tables, not as the asset key 'analytics.orders'; quote the asset key: "
                         '[assets."analytics.orders"]')]


def test_every_problem_is_reported_sorted_by_key_path(tmp_path: Path) -> None:
    body = """
[defaults]
max_attempts = "3"
bogus = 1

[assets."raw.orders"]
run = ["python", "a.py"]
python = "jobs.a:b"
deps = ["raw.missing", "BAD"]
colour = "blue"

[assets."analytics.orders"]
"""
    problems = _problems(tmp_path, body)
    paths = [p for p, _ in problems]
    assert paths == sorted(paths)
    assert paths == [
        'assets."analytics.orders"',
        'assets."raw.orders"',
        'assets."raw.orders".colour',
        'assets."raw.orders".deps[0]',
        'assets."raw.orders".deps[1]',
        "defaults.bogus",
        "defaults.max_attempts",
    ]
    messages = dict(problems)
    assert "neither 'run' nor 'python'" in messages['assets."analytics.orders"']
    assert "both 'run' and 'python'" in messages['assets."raw.orders"']
    assert "unknown key 'colour'" in messages['assets."raw.orders".colour']
    assert messages['assets."raw.orders".deps[0]'].endswith(
        "undefined asset 'raw.missing'; define [assets.\"raw.missing\"] or remove it")
    assert "asset key" in messages['assets."raw.orders".deps[1]']
    assert "expected an integer, got a string" in messages["defaults.max_attempts"]


def test_dependency_cycle_is_named(tmp_path: Path) -> None:
    body = """
[assets."a.x"]
deps = ["a.z"]
run = ["true"]
[assets."a.y"]
deps = ["a.x"]
run = ["true"]
[assets."a.z"]
deps = ["a.y"]
run = ["true"]
"""
    assert _problems(tmp_path, body) == [(
        'assets."a.x".deps',
        'assets."a.x".deps: dependency cycle: a.x -> a.z -> a.y -> a.x; '
        "remove one of these dependencies")]


@pytest.mark.parametrize(("body", "path", "fragment"), [
    ('[schedules.s]\ncron = "61 * * * *"\nselection = ["raw.orders"]\n',
     "schedules.s.cron", "invalid cron expression"),
    ('[schedules.s]\ncron = "@daily"\nselection = ["raw.orders"]\n',
     "schedules.s.cron", "macros"),
    ('[schedules.s]\ncron = "0 0 2 * * * *"\nselection = ["raw.orders"]\n',
     "schedules.s.cron", "got 7"),
    ('[schedules.s]\ncron = "0 2 * * *"\ntimezone = "Mars/Olympus"\nselection = ["raw.orders"]\n',
     "schedules.s.timezone", "unknown time zone"),
    ('[schedules."a:b"]\ncron = "0 2 * * *"\nselection = ["raw.orders"]\n',
     'schedules."a:b"', "must match"),
    ('[schedules.s]\nselection = ["raw.orders"]\n', "schedules.s.cron", "missing required"),
    ('[schedules.s]\ncron = "0 2 * * *"\nselection = ["raw.nope"]\n',
     "schedules.s.selection[0]", "undefined asset"),
    ('[schedules.s]\ncron = "0 2 * * *"\nselection = ["raw.orders"]\nenabled = "yes"\n',
     "schedules.s.enabled", "expected a boolean"),
    ('[schedules.s]\ncron = "0 2 * * *"\nselection = ["raw.orders"]\npartition_date = "x"\n',
     "schedules.s.partition_date", "unknown value"),
    ('[sensors.n]\nkind = "pull"\npython = "m:f"\nselection = ["raw.orders"]\n',
     "sensors.n.kind", "unknown sensor kind"),
    ('[sensors.n]\nkind = "poll"\nselection = ["raw.orders"]\n', "sensors.n", "no evaluator"),
    ('[sensors."x y"]\nkind = "push"\nrun = ["e"]\nselection = ["raw.orders"]\n',
     'sensors."x y"', "must match"),
    ('[workspace2]\n', "workspace2", "unknown table"),
    ('[assets."raw.more"]\nrun = []\n', 'assets."raw.more".run', "must not be empty"),
    ('[assets."raw.more"]\npython = "not a ref"\n', 'assets."raw.more".python',
     "not a callable reference"),
    ('[assets."raw.more"]\nrun = ["x"]\ndelta_mode = "merge"\n', 'assets."raw.more".delta_mode',
     "unknown delta_mode"),
    ('[assets."raw.more"]\nrun = ["x"]\npartitioned_by = ["date"]\ndelta_mode = "append"\n',
     'assets."raw.more".delta_mode', "overwrite exactly their partition"),
    ('[assets."raw.more"]\nrun = ["x"]\nmax_attempts = 0\n', 'assets."raw.more".max_attempts',
     "out of range"),
    ('[assets."raw.more"]\nrun = ["x"]\ntimeout_s = true\n', 'assets."raw.more".timeout_s',
     "expected an integer, got a boolean"),
    ('[assets."Raw.more"]\nrun = ["x"]\n', 'assets."Raw.more"', "asset key"),
    ('[assets."raw/orders"]\nrun = ["x"]\n', 'assets."raw/orders"', "defined twice"),
    ('[sensors.n]\nkind = "poll"\nrun = ["e"]\npython = "m:f"\nselection = ["raw.orders"]\n',
     "sensors.n", "both 'run' and 'python'"),
    ('[sensors.n]\nkind = "poll"\npython = "m:f"\nselection = ["raw.orders"]\n'
     'min_interval_s = -1\n', "sensors.n.min_interval_s", "out of range"),
    ('[workspace]\ntenantt = "x"\n', "workspace.tenantt", "unknown key"),
    ('[defaults]\ntimeout_s = 0\n', "defaults.timeout_s", "out of range"),
])
def test_invalid_definition_is_reported_at_its_key_path(
        tmp_path: Path, body: str, path: str, fragment: str) -> None:
    base = '[assets."raw.orders"]\nrun = ["true"]\n'
    # the [workspace] case replaces the default header, which already has that table
    header = not body.startswith("[workspace]")
    problems = _problems(tmp_path, base + body if header else body + base, header=header)
    assert [p for p, _ in problems] == [path]
    message = problems[0][1]
    assert message.startswith(path + ":") and fragment in message
    assert "; " in message  # the fix hint follows the problem


def test_schedule_selecting_non_date_partitions_is_refused(tmp_path: Path) -> None:
    body = """
[assets."raw.events"]
run = ["true"]
partitioned_by = ["region"]
[schedules.hourly]
cron = "0 * * * *"
selection = ["raw.events"]
"""
    [(path, message)] = _problems(tmp_path, body)
    assert path == "schedules.hourly.selection"
    assert "only request date partitions" in message


def test_six_field_cron_is_seconds_first(tmp_path: Path) -> None:
    body = '[assets."raw.a"]\nrun = ["true"]\n[schedules.s]\ncron = "30 0 2 * * *"\n' \
           'selection = ["raw.a"]\n'
    definition = load_definition(write_workspace(tmp_path / "ws", body))
    assert definition.schedules["s"].cron == "30 0 2 * * *"
    # seconds-last reading would make "2" the minute and "*" the seconds: both valid, so
    # the seconds-first reading is pinned by an out-of-range seconds value instead
    bad = '[assets."raw.a"]\nrun = ["true"]\n[schedules.s]\ncron = "0 2 * * * 75"\n' \
          'selection = ["raw.a"]\n'
    assert [p for p, _ in _problems(tmp_path / "b", bad)] == ["schedules.s.cron"]


def test_toml_syntax_error_names_line_and_column(tmp_path: Path) -> None:
    root = write_workspace(tmp_path / "ws", '[assets."raw.a"]\nrun = ["true" "x"]\n')
    with pytest.raises(ArcoError) as info:
        load_definition(root)
    details = info.value.items()[0]["details"]
    assert info.value.code == "INVALID_CONFIG"
    assert details["file"] == str(root / "arco.toml")
    assert (details["line"], details["column"]) == (6, 15)
