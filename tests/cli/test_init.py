"""``arco init``: a commented, valid arco.toml; --example; never overwrite without --force."""

from __future__ import annotations

from pathlib import Path

from arco_cli.config import load_definition
from tests.conftest import run_arco


def test_init_writes_a_commented_valid_arco_toml(tmp_path: Path) -> None:
    result = run_arco("init", str(tmp_path / "ws"), "--json")
    assert result.returncode == 0, result.stderr
    data = result.envelope["data"]
    assert data == {"workspace": str(tmp_path / "ws"), "files": ["arco.toml"]}
    text = (tmp_path / "ws" / "arco.toml").read_text("utf-8")
    assert text.startswith("#") and "[defaults]" in text
    definition = load_definition(tmp_path / "ws")
    assert definition.assets == {} and definition.tenant_id == "local"


def test_init_refuses_an_existing_arco_toml_unless_forced(tmp_path: Path) -> None:
    (tmp_path / "arco.toml").write_text("# mine\n", encoding="utf-8")
    refused = run_arco("init", str(tmp_path), "--json")
    assert refused.returncode == 2
    assert refused.envelope["errors"][0]["code"] == "USAGE_ERROR"
    assert "--force" in refused.envelope["errors"][0]["message"]
    assert (tmp_path / "arco.toml").read_text("utf-8") == "# mine\n"
    forced = run_arco("init", str(tmp_path), "--force", "--json")
    assert forced.returncode == 0
    assert (tmp_path / "arco.toml").read_text("utf-8") != "# mine\n"


def test_init_example_adds_a_runnable_example_workspace(tmp_path: Path) -> None:
    result = run_arco("init", str(tmp_path / "ex"), "--example", "--json")
    assert result.returncode == 0, result.stderr
    files = result.envelope["data"]["files"]
    assert {"arco.toml", "data/revenue_rules.json", "jobs/shop.py"} <= set(files)
    definition = load_definition(tmp_path / "ex")
    assert sorted(definition.assets) == ["analytics.orders", "analytics.revenue",
                                         "raw.customers", "raw.orders", "reports.daily_revenue"]
    assert definition.assets["reports.daily_revenue"].deps == ("analytics.revenue",)
    assert all(a.delta_table for a in definition.assets.values())
