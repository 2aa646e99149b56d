"""Readers of a stored projection set load only what they look at: the run buckets and
the outcome bucket of the runs they read, never the whole state, and get the same rows
as a fold of the whole log (decisions A41, A52)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from arco_cli.diagnostics import explain_run
from arco_cli.fold import FoldState
from arco_cli.fold.state import LazyMap
from arco_cli.projections import current_state, fold_workspace
from arco_cli.projections.fold_state import StoredFoldState
from tests.fold.conftest import fold_lines, scenario_lines
from tests.projections.conftest import append, make_workspace

LINES = scenario_lines("cancel")
#: every run id with outcome rows, including one that never got a run row
OUTCOME_RUNS = ("run_busy", "run_done", "run_early", "run_ghost", "run_wcancel")


# bucket counts as a big log would get them, in every layout (tests/projections/conftest.py)
pytestmark = pytest.mark.usefixtures("many_buckets")


def _pending_run_buckets(state: FoldState) -> set[int]:
    assert isinstance(state.runs, LazyMap)
    return set(state.runs._pending)


def _reads(state: FoldState) -> dict[str, Any]:
    return {run: (state.outcomes_of(run), state.tasks_of(run), state.edges_of(run))
            for run in OUTCOME_RUNS}


def test_explain_reads_one_run_bucket_and_no_other_outcomes(tmp_path: Path) -> None:
    ws = make_workspace(tmp_path / "ws")
    append(ws, LINES)
    fold_workspace(ws)
    state = current_state(ws)
    assert isinstance(state, StoredFoldState)
    before = _pending_run_buckets(state)
    assert len(before) > 2
    data = explain_run(state, "run_wcancel")
    assert data == explain_run(fold_lines(LINES), "run_wcancel")
    assert len(before - _pending_run_buckets(state)) == 1
    # the outcome table was never read in full
    assert state._outcome_loader is not None


def test_outcomes_of_every_run_match_a_whole_fold_across_incremental_folds(
        tmp_path: Path) -> None:
    ws = make_workspace(tmp_path / "ws")
    for end in (5, 9, 13, len(LINES)):
        append(ws, LINES[len(_log_lines(ws)):end])
        fold_workspace(ws)
        assert _reads(current_state(ws, write=False)) == _reads(fold_lines(LINES[:end]))


def test_a_reader_folds_unwritten_records_into_what_it_reads(tmp_path: Path) -> None:
    ws = make_workspace(tmp_path / "ws")
    append(ws, LINES[:9])
    fold_workspace(ws)
    append(ws, LINES[9:])  # committed, not yet in the projections
    state = current_state(ws, write=False)
    assert state.log_offset == len(LINES)
    assert _reads(state) == _reads(fold_lines(LINES))


def test_a_reader_whose_projection_set_was_removed_recovers_from_the_log(
        tmp_path: Path) -> None:
    ws = make_workspace(tmp_path / "ws")
    append(ws, LINES[:9])
    fold_workspace(ws)
    append(ws, LINES[9:12])
    state = current_state(ws, write=False)  # read from the set at offset 9, lazily
    folder = ws.projections_dir.resolve()
    for end in (15, len(LINES)):  # two more writers: the set is past its grace period
        append(ws, LINES[len(_log_lines(ws)):end])
        fold_workspace(ws)
    assert not folder.exists()
    expected = fold_lines(LINES[:12])
    assert _reads(state) == _reads(expected)
    assert state.rows("runs") == expected.rows("runs")
    assert state.rows("event_outcomes") == expected.rows("event_outcomes")


def _log_lines(ws: Any) -> list[bytes]:
    from arco_cli.log import EventLog

    return [record.raw for record in EventLog(ws.log_dir).read()]


def test_the_first_reader_replaces_a_stored_state_of_an_older_format(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from arco_cli.projections import fold_state, read_manifest
    from arco_cli.projections.store import load_persisted

    ws = make_workspace(tmp_path / "ws")
    append(ws, LINES)
    with monkeypatch.context() as patch:
        patch.setattr(fold_state, "STATE_FORMAT", fold_state.STATE_FORMAT - 1)
        fold_workspace(ws)
    old = ws.projections_dir.resolve()
    doc = read_manifest(old)
    assert doc is not None and load_persisted(old, doc) is None  # unusable now
    assert _reads(current_state(ws)) == _reads(fold_lines(LINES))
    new = ws.projections_dir.resolve()
    assert new != old
    doc = read_manifest(new)
    assert doc is not None and load_persisted(new, doc) is not None


@pytest.mark.parametrize("scenario", ["run_keys", "retries", "dispatch"])
def test_timers_and_accepted_requests_in_key_buckets_survive_incremental_folds(
        tmp_path: Path, scenario: str) -> None:
    from arco_cli.fold import TABLES
    from arco_cli.fold.state import load_everything

    lines = scenario_lines(scenario)
    ws = make_workspace(tmp_path / "ws")
    for end in range(2, len(lines) + 2, 2):  # a conflict must see the stored request
        append(ws, lines[len(_log_lines(ws)):end])
        fold_workspace(ws)
    state = current_state(ws, write=False)
    expected = fold_lines(lines)
    for table in TABLES:
        assert state.rows(table) == expected.rows(table), table
    load_everything(state)
    for name in ("timers", "accepted_requests", "run_key_index", "idempotency_keys"):
        assert dict(dict.items(getattr(state, name))) == getattr(expected, name), name


def test_the_runs_table_of_unread_buckets_comes_from_parquet_and_matches_a_whole_fold(
        tmp_path: Path) -> None:
    ws = make_workspace(tmp_path / "ws")
    append(ws, LINES[:12])
    fold_workspace(ws)
    append(ws, LINES[12:])  # folded in memory by the reader: some buckets change
    state = current_state(ws, write=False)
    assert isinstance(state, StoredFoldState)
    assert state.parquet_runs is None
    expected = fold_lines(LINES)
    assert state.rows("runs") == expected.rows("runs")
    assert state.parquet_runs is not None  # read from Parquet, not from every bucket
    assert _pending_run_buckets(state)
    for run_id in (*OUTCOME_RUNS, "run_missing"):
        assert state.get("runs", (run_id,)) == expected.get("runs", (run_id,))


@pytest.mark.parametrize("at_once", [0, 1000])
def test_conflict_payloads_read_runs_at_once_or_one_by_one_alike(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, at_once: int) -> None:
    from arco_cli.diagnostics import conflict_payloads, conflicts

    monkeypatch.setattr(conflicts, "RUNS_AT_ONCE", at_once)
    lines = scenario_lines("run_keys")
    ws = make_workspace(tmp_path / "ws")
    append(ws, lines)
    fold_workspace(ws)
    expected = conflict_payloads(fold_lines(lines))
    assert expected
    assert conflict_payloads(current_state(ws)) == expected


def test_runs_list_reads_only_the_runs_it_shows_and_lists_them_as_a_whole_fold_would(
        tmp_path: Path) -> None:
    from arco_cli.diagnostics import runs_list

    ws = make_workspace(tmp_path / "ws")
    append(ws, LINES[:12])
    fold_workspace(ws)
    append(ws, LINES[12:])
    expected = fold_lines(LINES)
    for args in ((None, None, None), (None, None, 2), ("CANCELLED", None, None),
                 (None, "no-such-key", None)):
        state = current_state(ws, write=False)
        assert runs_list(state, *args) == runs_list(expected, *args), args
    state = current_state(ws, write=False)
    assert isinstance(state, StoredFoldState)
    before = _pending_run_buckets(state)
    runs_list(state, limit=1)
    assert state.bulk and _pending_run_buckets(state) == before  # no pickled bucket read
    assert _reads(state) == _reads(expected)


def test_a_compact_set_after_a_rebuild_lists_runs_as_a_whole_fold_would(
        tmp_path: Path) -> None:
    from arco_cli.diagnostics import conflict_payloads, runs_list

    ws = make_workspace(tmp_path / "ws")
    append(ws, LINES)
    fold_workspace(ws, rebuild=True)  # one Parquet file per table (decisions A56)
    expected = fold_lines(LINES)
    state = current_state(ws)
    assert runs_list(state, limit=3) == runs_list(expected, limit=3)
    assert _reads(state) == _reads(expected)
    assert conflict_payloads(state) == conflict_payloads(expected)


def test_the_run_key_index_of_unread_key_buckets_comes_from_parquet_and_matches_a_fold(
        tmp_path: Path) -> None:
    lines = scenario_lines("run_keys")
    ws = make_workspace(tmp_path / "ws")
    append(ws, lines[:-1])
    fold_workspace(ws)
    append(ws, lines[-1:])  # a new request, folded in memory by the reader
    state = current_state(ws, write=False)
    assert isinstance(state, StoredFoldState)
    index = state.run_key_index
    assert isinstance(index, LazyMap)
    pending = set(index._pending)
    assert pending
    expected = fold_lines(lines)
    assert state.rows("run_key_index") == expected.rows("run_key_index")
    for run_key in [*dict.keys(expected.run_key_index), "no-such-key"]:
        pk = ("local", "default", run_key)
        assert state.get("run_key_index", pk) == expected.get("run_key_index", pk)
    assert index._pending == pending  # no key bucket loaded for it


@pytest.mark.parametrize("lookups", [1, 40])
def test_few_run_key_lookups_load_their_key_buckets_and_many_read_the_index_once(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, lookups: int) -> None:
    from arco_cli.projections import fold_state

    monkeypatch.setattr(fold_state, "KEY_LOOKUPS_BEFORE_BULK", 1)
    lines = scenario_lines("run_keys")
    ws = make_workspace(tmp_path / "ws")
    append(ws, lines)
    fold_workspace(ws)
    state = current_state(ws, write=False)
    assert isinstance(state, StoredFoldState)
    expected = fold_lines(lines)
    keys = sorted(dict.keys(expected.run_key_index))
    asked = [keys[i % len(keys)] for i in range(lookups)]
    index = state.run_key_index
    assert isinstance(index, LazyMap)
    pending = set(index._pending)
    for run_key in asked:
        pk = ("local", "default", run_key)
        assert state.get("run_key_index", pk) == expected.get("run_key_index", pk)
    loaded = pending - index._pending
    if lookups == 1:
        # explain asks once: its key bucket is loaded, the index is not read from Parquet
        assert len(loaded) == 1 and state.parquet_run_keys is None
    else:
        # conflicts asks for every conflict's key: a few buckets are loaded, then any
        # further unloaded bucket is answered from the index read once from Parquet
        assert len(loaded) <= 1
        asked_buckets = {index._bucket(run_key) for run_key in asked} & pending
        assert len(asked_buckets) == 2  # the scenario's two run keys, apart
        assert state.parquet_run_keys is not None
