"""Projection sets on disk: Parquet content, manifest, atomic swap, incremental folds
(data-model §9, invariants 4-5, decisions A41, A43, A51, A52, A56)."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest

from arco_cli.errors import ArcoError
from arco_cli.fold import TABLES
from arco_cli.identity import canonical_json, secret_check
from arco_cli.projections import current_state, fold_workspace, read_manifest, read_rows
from arco_cli.projections.schemas import PRIMARY_KEYS, arrow_schema
from tests.fold.conftest import fold_lines, scenario_lines
from tests.projections.conftest import append, make_workspace

LINES = scenario_lines("retries")


def _content(folder: Path) -> dict[str, object]:
    doc = read_manifest(folder)
    assert doc is not None
    return {"watermark": doc["watermark"],
            "tables": {t: (v["row_count"], v["content_sha256"]) for t, v in doc["tables"].items()}}


def _independent_hash(rows: list[dict[str, object]]) -> str:
    total = 0
    for row in rows:
        line = json.dumps(list(row.values()), sort_keys=True, separators=(",", ":"),
                          ensure_ascii=False) + "\n"
        total += int.from_bytes(hashlib.sha256(line.encode("utf-8")).digest(), "big")
    return f"{total % 2**256:064x}"


def test_fold_writes_every_table_as_parquet_with_a_canonical_manifest(tmp_path: Path) -> None:
    import pyarrow.dataset as ds

    ws = make_workspace(tmp_path / "ws")
    append(ws, LINES)
    data = fold_workspace(ws)
    assert data["eventsFolded"] == len(LINES)
    assert data["outcomes"] == {"applied": 20, "duplicate": 1, "rejected": 5}
    link = ws.projections_dir
    assert link.is_symlink()
    folder = link.resolve()
    raw = (folder / "manifest.json").read_bytes()
    doc = json.loads(raw)
    assert raw == (canonical_json(doc) + "\n").encode()
    assert (doc["schema_version"], doc["tenant_id"], doc["workspace_id"]) == (1, "local",
                                                                               "default")
    assert doc["watermark"] == {"event_id": json.loads(LINES[-1])["event_id"],
                                "log_offset": len(LINES)}
    assert doc["tenant_secret_check"] == secret_check("local", "default")
    assert sorted(doc["tables"]) == sorted(TABLES)
    expected = fold_lines(LINES)
    for table in TABLES:
        entry = doc["tables"][table]
        dataset = ds.dataset([str(folder / f) for f in entry["files"]], format="parquet")
        assert dataset.schema.remove_metadata() == arrow_schema(table)
        rows = read_rows(folder, table)
        assert rows == expected.rows(table), table
        assert entry["row_count"] == len(rows)
        assert entry["content_sha256"] == _independent_hash(rows), table
    assert doc["tables"]["run_key_index"]["content_sha256"] == "0" * 64


def test_rows_of_every_part_are_sorted_by_primary_key(tmp_path: Path) -> None:
    import pyarrow.parquet as pq

    ws = make_workspace(tmp_path / "ws")
    lines = list(reversed(scenario_lines("cancel")))
    append(ws, lines[:9])
    fold_workspace(ws)
    append(ws, lines[9:])
    for rebuild in (False, True):
        fold_workspace(ws, rebuild=rebuild)
        folder = ws.projections_dir.resolve()
        doc = read_manifest(folder)
        assert doc is not None
        for table in ("tasks", "event_outcomes", "dep_satisfaction", "idempotency_keys"):
            files = doc["tables"][table]["files"]
            assert files == [f"{table}.parquet"] if rebuild else all(
                f.startswith(f"{table}/") for f in files)
            for name in files:
                rows = pq.read_table(folder / name).to_pylist()
                keys = [tuple(r[c] for c in PRIMARY_KEYS[table]) for r in rows]
                assert keys == sorted(keys)


def test_incremental_folds_equal_a_rebuild(tmp_path: Path) -> None:
    ws = make_workspace(tmp_path / "ws")
    counts = []
    for start, end in ((0, 5), (5, 6), (6, 19), (19, len(LINES))):
        append(ws, LINES[start:end])
        counts.append(fold_workspace(ws)["eventsFolded"])
    assert counts == [5, 1, 13, len(LINES) - 19]
    incremental = _content(ws.projections_dir.resolve())
    doc = read_manifest(ws.projections_dir.resolve())
    assert doc is not None and 1 < len(doc["tables"]["event_outcomes"]["files"]) < 4
    rebuilt = fold_workspace(ws, rebuild=True)
    assert rebuilt["eventsFolded"] == len(LINES)
    assert _content(ws.projections_dir.resolve()) == incremental
    doc = read_manifest(ws.projections_dir.resolve())
    assert doc is not None and doc["tables"]["event_outcomes"]["files"] == [
        "event_outcomes.parquet"]


def test_fold_without_new_events_folds_nothing(tmp_path: Path) -> None:
    ws = make_workspace(tmp_path / "ws")
    append(ws, LINES)
    fold_workspace(ws)
    target = os.readlink(ws.projections_dir)
    again = fold_workspace(ws)
    assert (again["eventsFolded"], again["outcomes"]) == (
        0, {"applied": 0, "duplicate": 0, "rejected": 0})
    assert os.readlink(ws.projections_dir) == target


def test_new_event_below_the_watermark_forces_a_rebuild(tmp_path: Path) -> None:
    ws = make_workspace(tmp_path / "ws")
    append(ws, LINES[10:])
    fold_workspace(ws)
    append(ws, LINES[:10])  # older ids appended later (e.g. an ingest)
    data = fold_workspace(ws)
    assert data["eventsFolded"] == len(LINES)
    assert read_rows(ws.projections_dir.resolve(), "tasks") == fold_lines(LINES).rows("tasks")


def test_changed_tenant_secret_forces_a_rebuild(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    ws = make_workspace(tmp_path / "ws")
    append(ws, scenario_lines("backfills"))
    fold_workspace(ws)
    before = read_rows(ws.projections_dir.resolve(), "run_key_index")
    monkeypatch.setenv("ARCO_TENANT_SECRET_B64", "aHVzaC1odXNoLTQy")  # hush-hush-42
    data = fold_workspace(ws)
    assert data["eventsFolded"] == len(scenario_lines("backfills"))
    after = read_rows(ws.projections_dir.resolve(), "run_key_index")
    assert [r["run_id"] for r in after] != [r["run_id"] for r in before]
    state_file = ws.projections_dir.resolve() / "_state" / "fold.pickle"
    assert b"hush-hush-42" not in state_file.read_bytes()


def test_invalid_tenant_secret_is_a_configuration_error(tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    ws = make_workspace(tmp_path / "ws")
    monkeypatch.setenv("ARCO_TENANT_SECRET_B64", "not base64!")
    with pytest.raises(ArcoError) as caught:
        fold_workspace(ws)
    assert caught.value.code == "INVALID_CONFIG"


def test_swap_keeps_the_replaced_set_for_readers_that_resolved_it(tmp_path: Path) -> None:
    ws = make_workspace(tmp_path / "ws")
    append(ws, LINES[:4])
    fold_workspace(ws)
    first = ws.projections_dir.resolve()
    append(ws, LINES[4:8])
    fold_workspace(ws)
    second = ws.projections_dir.resolve()
    assert second != first and read_manifest(first) is not None  # old set still whole
    append(ws, LINES[8:])
    fold_workspace(ws)
    assert not first.exists()
    third = ws.projections_dir.resolve()
    assert sorted(p.name for p in (ws.arco_dir / "projections.d").iterdir()) == sorted(
        [second.name, third.name, "_objects"])
    # the state objects left are exactly those the two kept sets refer to
    from arco_cli.projections.objects import referenced_generations

    kept = (referenced_generations(second) or set()) | (referenced_generations(third) or set())
    assert third.name in kept
    assert {p.name for p in (ws.arco_dir / "projections.d" / "_objects").iterdir()} == kept


def test_readers_fold_in_memory_while_another_process_writes(tmp_path: Path) -> None:
    from filelock import FileLock

    ws = make_workspace(tmp_path / "ws")
    append(ws, LINES[:5])
    fold_workspace(ws)
    target = os.readlink(ws.projections_dir)
    append(ws, LINES[5:])
    lock = FileLock(str(ws.arco_dir / "projections.lock"))
    with lock:
        state = current_state(ws)
        assert state.log_offset == len(LINES)
        assert os.readlink(ws.projections_dir) == target  # nothing written meanwhile
        with pytest.raises(ArcoError) as caught:
            fold_workspace(ws, lock_timeout=0.05)
        assert caught.value.code == "WORKSPACE_LOCKED"
    current_state(ws)
    assert os.readlink(ws.projections_dir) != target


def test_current_state_without_write_leaves_the_disk_alone(tmp_path: Path) -> None:
    ws = make_workspace(tmp_path / "ws")
    append(ws, LINES)
    state = current_state(ws, write=False)
    assert state.watermark_event_id == json.loads(LINES[-1])["event_id"]
    assert not ws.projections_dir.exists()


def test_unreadable_stored_state_only_means_a_rebuild(tmp_path: Path) -> None:
    ws = make_workspace(tmp_path / "ws")
    append(ws, LINES[:6])
    fold_workspace(ws)
    (ws.projections_dir.resolve() / "_state" / "fold.pickle").write_bytes(b"garbage")
    append(ws, LINES[6:])
    assert fold_workspace(ws)["eventsFolded"] == len(LINES)


def test_state_reloaded_from_disk_reads_earlier_outcomes_on_demand(tmp_path: Path) -> None:
    ws = make_workspace(tmp_path / "ws")
    append(ws, LINES[:12])
    fold_workspace(ws)
    append(ws, LINES[12:])
    fold_workspace(ws)
    state = current_state(ws, write=False)
    expected = fold_lines(LINES)
    assert state.rows("event_outcomes") == expected.rows("event_outcomes")
    assert state.outcomes_of("run_retry") == expected.outcomes_of("run_retry")
    for table in TABLES:
        assert state.rows(table) == expected.rows(table), table


@pytest.mark.parametrize("many_buckets", ["coupled"], indirect=True)
@pytest.mark.usefixtures("many_buckets")
def test_incremental_folds_rewrite_only_the_buckets_of_touched_runs(tmp_path: Path) -> None:
    ws = make_workspace(tmp_path / "ws")
    lines = scenario_lines("cancel")
    append(ws, lines[:9])
    fold_workspace(ws)
    append(ws, lines[9:12])
    fold_workspace(ws)
    first = ws.projections_dir.resolve()
    append(ws, lines[12:])  # touches run_done and run_wcancel only
    fold_workspace(ws)
    second = ws.projections_dir.resolve()
    doc = read_manifest(second)
    assert doc is not None
    files = doc["tables"]["tasks"]["files"]
    assert all(f.startswith(("tasks/bucket-", "tasks/delta-")) for f in files)
    unchanged = [f for f in files if (first / f).exists()
                 and os.path.samefile(first / f, second / f)]
    assert 0 < len(unchanged) < len(files)
    assert read_rows(second, "tasks") == fold_lines(lines).rows("tasks")
    # state buckets: the untouched ones still name older objects (no copy, no link),
    # the touched ones are new objects of this set's generation
    from arco_cli.projections.store import load_persisted

    persisted = load_persisted(second, doc)
    assert persisted is not None
    generations = [g for by_bucket in persisted.objects.values() for g in by_bucket.values()]
    rewritten = generations.count(second.name)
    assert 0 < rewritten < len(generations)
    assert not (second / "_state" / "runs").exists()


def test_task_change_by_an_event_without_run_id_reaches_the_parquet_parts(
        tmp_path: Path) -> None:
    from arco_cli.events import make_event

    ws = make_workspace(tmp_path / "ws")
    retries = LINES[:4]  # trigger, plan, start and retryable failure of raw.a
    timer_id = "timer:retry:run_retry:raw.a:1:1735690000"

    def event(n: int, data: dict[str, object]) -> bytes:
        envelope = make_event(data, event_id=f"01JGFJZ{n:019d}", timestamp_ms=1735690000000,
                              tenant_id="local", workspace_id="default")
        return canonical_json(envelope).encode()

    append(ws, retries)
    fold_workspace(ws)
    append(ws, [event(1, {"type": "timer_enqueued", "timer_id": timer_id,
                          "cloud_task_id": "t_1"})])
    fold_workspace(ws)
    late = event(2, {"type": "timer_requested", "timer_id": timer_id, "timer_type": "retry",
                     "fire_at": "2025-01-01T02:00:00Z"})
    append(ws, [late])
    fold_workspace(ws)
    rows = read_rows(ws.projections_dir.resolve(), "tasks")
    raw_a = next(r for r in rows if r["task_key"] == "raw.a")
    assert raw_a["retry_not_before"] == 1735696800000
    assert rows == current_state(ws, write=False).rows("tasks")


def test_repeated_event_id_in_the_log_is_corrupt_naming_both_offsets(tmp_path: Path) -> None:
    ws = make_workspace(tmp_path / "ws")
    append(ws, LINES)
    fold_workspace(ws)
    append(ws, [LINES[3]])
    with pytest.raises(ArcoError) as caught:
        fold_workspace(ws)
    assert caught.value.code == "CORRUPT_LOG"
    assert caught.value.details == {"offsets": [3, len(LINES)]}


def test_log_of_a_few_ascending_runs_folds_by_merging_them_without_sorting(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from arco_cli.projections import update

    def refuse(*_args: object) -> None:
        raise AssertionError("the log should have been merged, not sorted in memory")

    ws = make_workspace(tmp_path / "ws")
    append(ws, LINES[10:])
    append(ws, LINES[:10])
    monkeypatch.setattr(update, "fold_records", refuse)
    data = fold_workspace(ws)
    assert data["eventsFolded"] == len(LINES)
    assert read_rows(ws.projections_dir.resolve(), "tasks") == fold_lines(LINES).rows("tasks")


def test_log_in_no_useful_order_is_sorted_in_memory(tmp_path: Path) -> None:
    ws = make_workspace(tmp_path / "ws")
    backwards = list(reversed(LINES))  # one ascending run per record
    append(ws, backwards)
    assert fold_workspace(ws)["eventsFolded"] == len(LINES)
    state = current_state(ws, write=False)
    assert state.rows("event_outcomes") == fold_lines(backwards).rows("event_outcomes")


@pytest.mark.usefixtures("many_buckets")
def test_incremental_fold_reads_only_the_state_buckets_its_events_need(tmp_path: Path) -> None:
    from arco_cli.fold.state import LazyMap, load_everything
    from arco_cli.projections import fold_log

    ws = make_workspace(tmp_path / "ws")
    lines = scenario_lines("cancel")
    append(ws, lines[:-2])
    fold_workspace(ws)
    append(ws, lines[-2:])  # start and cancel of one task of run_wcancel
    folded = fold_log(ws)
    assert not folded.rebuilt and folded.events_folded == 2
    tasks = folded.state.tasks
    assert isinstance(tasks, LazyMap)
    loaded = len(dict.keys(tasks))
    load_everything(folded.state)
    assert 0 < loaded < len(dict.keys(tasks))
    assert folded.state.rows("tasks") == fold_lines(lines).rows("tasks")


def test_fold_after_a_rebuild_continues_the_compact_file_as_the_first_part(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from arco_cli.projections import parts

    monkeypatch.setattr(parts, "MERGE_SIZE_RATIO", 0)  # no merge of the small new part
    ws = make_workspace(tmp_path / "ws")
    append(ws, LINES[:15])
    fold_workspace(ws, rebuild=True)
    compact = ws.projections_dir.resolve()
    append(ws, LINES[15:])
    fold_workspace(ws)
    folder = ws.projections_dir.resolve()
    doc = read_manifest(folder)
    assert doc is not None
    assert doc["tables"]["event_outcomes"]["files"] == [
        "event_outcomes/part-000000.parquet", "event_outcomes/part-000001.parquet"]
    assert os.path.samefile(compact / "event_outcomes.parquet",
                            folder / "event_outcomes/part-000000.parquet")
    assert all(f.startswith("tasks/bucket-") for f in doc["tables"]["tasks"]["files"])
    assert read_rows(folder, "event_outcomes") == fold_lines(LINES).rows("event_outcomes")
    assert _content(folder) == _content_of_rebuild(ws)


def _content_of_rebuild(ws: object) -> dict[str, object]:
    fold_workspace(ws, rebuild=True)  # type: ignore[arg-type]
    return _content(ws.projections_dir.resolve())  # type: ignore[attr-defined]


@pytest.mark.usefixtures("many_buckets")
def test_gate_finds_keys_of_every_stored_key_bucket(tmp_path: Path) -> None:
    from arco_cli.events import make_event

    def timer(n: int, event_number: int) -> bytes:
        data = {"type": "timer_requested", "timer_id": f"timer:cron:s{n}:1735776000",
                "timer_type": "cron", "fire_at": "2025-01-02T00:00:00Z"}
        return canonical_json(make_event(
            data, event_id=f"01JGFK{event_number:020d}", timestamp_ms=1735690000000,
            tenant_id="local", workspace_id="default")).encode()

    ws = make_workspace(tmp_path / "ws")
    append(ws, [timer(n, n) for n in range(3000)])  # keys spread over every bucket
    fold_workspace(ws)
    again = fold_workspace_after(ws, [timer(n, 5000 + n) for n in range(0, 3000, 7)])
    assert again == {"applied": 0, "duplicate": len(range(0, 3000, 7)), "rejected": 0}


def fold_workspace_after(ws: object, lines: list[bytes]) -> dict[str, int]:
    append(ws, lines)  # type: ignore[arg-type]
    outcomes: dict[str, int] = fold_workspace(ws)["outcomes"]  # type: ignore[arg-type]
    return outcomes


def test_buckets_are_re_chosen_when_the_log_outgrows_them(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from arco_cli.projections import fold_state
    from arco_cli.projections.store import load_persisted

    monkeypatch.setattr(fold_state, "KEYS_PER_RUN_BUCKET", 2)
    monkeypatch.setattr(fold_state, "KEYS_PER_KEY_BUCKET", 2)
    ws = make_workspace(tmp_path / "ws")

    def layout() -> fold_state.Layout:
        folder = ws.projections_dir.resolve()
        doc = read_manifest(folder)
        assert doc is not None
        persisted = load_persisted(folder, doc)
        assert persisted is not None
        return persisted.layout

    append(ws, LINES[:4])
    fold_workspace(ws)
    small = layout()
    append(ws, LINES[4:])
    fold_workspace(ws)
    assert layout().key_buckets >= 4 * small.key_buckets
    assert _content(ws.projections_dir.resolve()) == _content_of_rebuild(ws)


@pytest.mark.parametrize("scenario", ["run_keys", "duplicates", "lineage", "backfills"])
def test_key_hashed_tables_folded_event_by_event_equal_a_rebuild(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, scenario: str) -> None:
    from arco_cli.projections import key_parts

    # one row per bucket wanted: run keys and partitions spread over several parts
    monkeypatch.setattr(key_parts, "ROWS_PER_KEY_PART", 1)
    ws = make_workspace(tmp_path / "ws")
    lines = scenario_lines(scenario)
    fold_workspace(ws)  # a set of the empty log first: no watermark to compare with
    append(ws, lines[:2])
    fold_workspace(ws)
    linked = 0
    for line in lines[2:]:
        before = ws.projections_dir.resolve()
        append(ws, [line])
        fold_workspace(ws)
        after = ws.projections_dir.resolve()
        doc = read_manifest(after)
        assert doc is not None
        for table in key_parts.KEY_BUCKETED:
            files = doc["tables"][table]["files"]
            assert all(f.startswith(f"{table}/bucket-") for f in files)
            linked += sum((before / f).exists() and os.path.samefile(before / f, after / f)
                          for f in files)
    folder = ws.projections_dir.resolve()
    incremental = _content(folder)
    rows = {table: read_rows(folder, table) for table in key_parts.KEY_BUCKETED}
    assert linked > 0
    assert incremental == _content_of_rebuild(ws)
    rebuilt = ws.projections_dir.resolve()
    assert rows == {table: read_rows(rebuilt, table) for table in key_parts.KEY_BUCKETED}
    expected = fold_lines(lines)
    assert rows == {table: expected.rows(table) for table in key_parts.KEY_BUCKETED}


@pytest.mark.parametrize("merge_min_runs", [0, 64])  # merged parts, or written afresh
@pytest.mark.parametrize("scenario", ["cancel", "retries", "skip_cascade", "dispatch"])
def test_per_run_parts_merged_event_by_event_stay_sorted_and_equal_a_rebuild(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, scenario: str,
        merge_min_runs: int) -> None:
    import pyarrow.parquet as pq

    from arco_cli.projections import per_run

    monkeypatch.setattr(per_run, "MERGE_MIN_RUNS", merge_min_runs)
    ws = make_workspace(tmp_path / "ws")
    lines = scenario_lines(scenario)
    for line in lines:
        append(ws, [line])
        fold_workspace(ws)
        folder = ws.projections_dir.resolve()
        doc = read_manifest(folder)
        assert doc is not None
        for table in ("runs", "tasks", "dep_satisfaction"):
            for name in doc["tables"][table]["files"]:
                assert name.startswith((f"{table}/bucket-", f"{table}/delta-"))
                rows = pq.read_table(folder / name).to_pylist()
                keys = [tuple(r[c] for c in PRIMARY_KEYS[table]) for r in rows]
                assert keys == sorted(keys), (table, name)
    folder = ws.projections_dir.resolve()
    incremental = _content(folder)
    expected = fold_lines(lines)
    for table in ("runs", "tasks", "dep_satisfaction"):
        assert read_rows(folder, table) == expected.rows(table), table
    assert incremental == _content_of_rebuild(ws)


def test_append_only_parts_stay_few_and_sorted_however_many_folds_added_one(
        tmp_path: Path) -> None:
    import pyarrow.parquet as pq

    from arco_cli.projections.schemas import PRIMARY_KEYS

    ws = make_workspace(tmp_path / "ws")
    for line in LINES:  # one fold per event: one new part each time
        append(ws, [line])
        fold_workspace(ws)
    folder = ws.projections_dir.resolve()
    doc = read_manifest(folder)
    assert doc is not None
    for table in ("event_outcomes", "idempotency_keys"):
        files = doc["tables"][table]["files"]
        sizes = [pq.ParquetFile(folder / name).metadata.num_rows for name in files]
        # sizes fall geometrically: at most log2(rows) + 1 parts
        assert len(files) <= sum(sizes).bit_length() < len(LINES)
        assert all(a > 2 * b for a, b in zip(sizes, sizes[1:], strict=False)), sizes
        assert sorted(p.name for p in (folder / table).iterdir()) == \
            sorted(name.split("/")[1] for name in files)  # merged parts are gone
        for name in files:
            keys = [tuple(r[c] for c in PRIMARY_KEYS[table])
                    for r in pq.read_table(folder / name).to_pylist()]
            assert keys == sorted(keys)
    assert _content(folder) == _content_of_rebuild(ws)


@pytest.mark.parametrize("max_slices", [0, 2000])
def test_merging_two_sorted_parts_gives_the_sorted_union_by_slices_or_by_a_sort(
        monkeypatch: pytest.MonkeyPatch, max_slices: int) -> None:
    import pyarrow as pa

    from arco_cli.projections import parts

    monkeypatch.setattr(parts, "MAX_MERGE_SLICES", max_slices)
    evens = pa.table({"k": [f"k{i:03d}" for i in range(0, 40, 2)], "v": list(range(20))})
    odds = pa.table({"k": [f"k{i:03d}" for i in range(1, 12, 2)], "v": list(range(6))})
    later = pa.table({"k": ["z1", "z2"], "v": [7, 8]})
    for first, second in ((evens, odds), (odds, evens), (evens, later), (later, evens)):
        merged = parts.merge_sorted(first, second, ("k",))
        expected = sorted(zip(*(t.to_pylist() for t in pa.concat_tables(
            [first, second]).columns), strict=True))
        assert list(zip(*(c.to_pylist() for c in merged.columns), strict=True)) == expected


@pytest.mark.usefixtures("many_buckets")
@pytest.mark.parametrize("scenario", ["cancel", "retries", "run_keys"])
def test_incremental_folds_with_many_state_buckets_equal_a_rebuild(
        tmp_path: Path, scenario: str) -> None:
    # with fewer Parquet buckets than state buckets, a Parquet bucket spans runs whose
    # state was never loaded: their stored rows must survive the rewrite of the bucket
    ws = make_workspace(tmp_path / "ws")
    lines = scenario_lines(scenario)
    for start in range(0, len(lines), 3):
        append(ws, lines[start:start + 3])
        fold_workspace(ws)
        folder = ws.projections_dir.resolve()
        assert read_rows(folder, "tasks") == fold_lines(lines[:start + 3]).rows("tasks")
    assert _content(ws.projections_dir.resolve()) == _content_of_rebuild(ws)


@pytest.mark.usefixtures("many_buckets")
@pytest.mark.parametrize("slice_rows", [100_000, 2])
@pytest.mark.parametrize("scenario", ["cancel", "retries", "lineage", "run_keys"])
def test_the_fold_after_a_rebuild_splits_the_compact_tables_into_buckets(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, scenario: str,
        slice_rows: int) -> None:
    import pyarrow.parquet as pq

    from arco_cli.projections import key_parts, store
    from arco_cli.projections.schemas import PRIMARY_KEYS

    monkeypatch.setattr(key_parts, "ROWS_PER_KEY_PART", 1)  # key-hashed tables in parts too
    # the rebuild writes its compact files a slice of rows at a time
    monkeypatch.setattr(store, "TRANSPOSE_ROWS", slice_rows)
    ws = make_workspace(tmp_path / "ws")
    lines = scenario_lines(scenario)
    half = len(lines) // 2
    append(ws, lines[:half])
    fold_workspace(ws, rebuild=True)
    append(ws, lines[half:])  # new runs and changes to runs of the compact file
    fold_workspace(ws)
    folder = ws.projections_dir.resolve()
    doc = read_manifest(folder)
    assert doc is not None
    for table in ("runs", "tasks", "dep_satisfaction", "run_key_index",
                  "run_key_conflicts", "partition_status"):
        files = doc["tables"][table]["files"]
        assert all(f.startswith(f"{table}/bucket-") for f in files)
        assert files or table in ("runs", "tasks", "dep_satisfaction")
        for name in files:
            keys = [tuple(r[c] for c in PRIMARY_KEYS[table])
                    for r in pq.read_table(folder / name).to_pylist()]
            assert keys == sorted(keys)
        assert read_rows(folder, table) == fold_lines(lines).rows(table)
    assert _content(folder) == _content_of_rebuild(ws)


@pytest.mark.parametrize("settle_runs", [1, 4096])
@pytest.mark.parametrize("scenario", ["cancel", "skip_cascade", "lineage", "duplicates"])
def test_new_runs_wait_in_delta_parts_until_settled_and_every_set_equals_a_rebuild(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, scenario: str,
        settle_runs: int) -> None:
    import pyarrow.parquet as pq

    from arco_cli.projections import per_run
    from arco_cli.projections.schemas import PRIMARY_KEYS

    monkeypatch.setattr(per_run, "SETTLE_RUNS", settle_runs)
    # bucket counts stay as first chosen (a re-bucketing would rewrite every part)
    ws = make_workspace(tmp_path / "ws")
    lines = scenario_lines(scenario)
    append(ws, lines[:3])
    fold_workspace(ws)
    had_deltas: list[bool] = []
    for start in range(3, len(lines), 2):
        append(ws, lines[start:start + 2])
        fold_workspace(ws)
        folder = ws.projections_dir.resolve()
        doc = read_manifest(folder)
        assert doc is not None
        expected = fold_lines(lines[:start + 2])
        for table in ("runs", "tasks", "dep_satisfaction"):
            files = doc["tables"][table]["files"]
            for name in files:
                keys = [tuple(r[c] for c in PRIMARY_KEYS[table])
                        for r in pq.read_table(folder / name).to_pylist()]
                assert keys == sorted(keys)
            # each row in exactly one part, and the parts' union is the table
            assert read_rows(folder, table) == expected.rows(table)
        had_deltas.append(any("/delta-" in f for t in ("runs", "tasks", "dep_satisfaction")
                              for f in doc["tables"][t]["files"]))
        # a stored state read back in bulk (Parquet) mode answers from delta parts as
        # from buckets
        state = current_state(ws)
        assert state.rows("runs") == expected.rows("runs")
        for run_id in sorted(r["run_id"] for r in expected.rows("runs")):
            assert state.tasks_of(run_id) == expected.tasks_of(run_id)
            assert state.edges_of(run_id) == expected.edges_of(run_id)
    assert any(had_deltas)
    settled = any(a and not b for a, b in zip(had_deltas, had_deltas[1:], strict=False))
    assert settled == (settle_runs < 4096)
    assert _content(ws.projections_dir.resolve()) == _content_of_rebuild(ws)


def test_a_state_that_cannot_tell_new_runs_rewrites_the_per_run_tables_whole(
        tmp_path: Path) -> None:
    from arco_cli.projections.store import write_projection_set
    from arco_cli.projections.update import fold_log

    ws = make_workspace(tmp_path / "ws")
    lines = scenario_lines("skip_cascade")
    append(ws, lines[:4])
    fold_workspace(ws)
    append(ws, lines[4:9])
    fold_workspace(ws)  # runs now wait in a delta part
    doc = read_manifest(ws.projections_dir.resolve())
    assert doc is not None and any("/delta-" in f for f in doc["tables"]["runs"]["files"])
    append(ws, lines[9:])
    folded = fold_log(ws)
    # as after a recovery from the log: the loaded run buckets are unknown
    del folded.state.__dict__["stored_runs"]
    folder = write_projection_set(ws.projections_dir, folded.state, folded.previous,
                                  folded.previous_folder)
    doc = read_manifest(folder)
    assert doc is not None and not any("/delta-" in f for f in doc["tables"]["runs"]["files"])
    assert _content(folder) == _content_of_rebuild(ws)
