from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from arco_cli.diagnostics.attribution import skip_attribution
from arco_cli.diagnostics.verify import lineage_findings
from tests.diagnostics.conftest import FakeState, edge_row, partition_row, task_row

REF = '{"runId":"r","taskKey":"a.one","attempt":2}'


def _state(task_ref: str | None, partition_ref: str | None) -> FakeState:
    state = FakeState()
    state.add("tasks", task_row("r", "a.one", state="SUCCEEDED", attempt=2,
                                execution_lineage_ref=task_ref))
    state.add("partition_status", partition_row("a.one", "", materialized_at=
                                                "2025-01-01T00:00:00.000Z", run_id="r",
                                                execution_lineage_ref=partition_ref))
    return state


def test_agreeing_lineage_has_no_findings_and_counts_what_it_checked() -> None:
    assert lineage_findings(_state(REF, REF)) == (1, 1, [])


def test_a_partition_ref_that_differs_by_one_byte_is_a_lineage_mismatch() -> None:
    spaced = REF.replace(",", ", ")
    tasks, partitions, findings = lineage_findings(_state(REF, spaced))
    assert (tasks, partitions) == (1, 1)
    assert [(f["code"], f["runId"], f["taskKey"]) for f in findings] == [
        ("LINEAGE_MISMATCH", "r", "a.one")]


def test_a_task_ref_naming_another_attempt_is_a_lineage_mismatch() -> None:
    other = '{"runId":"r","taskKey":"a.one","attempt":1}'
    _t, _p, findings = lineage_findings(_state(other, None))
    assert [f["code"] for f in findings] == ["LINEAGE_MISMATCH"]
    assert "attempt 2" in findings[0]["message"]


def test_a_partition_naming_a_missing_task_or_garbage_is_reported() -> None:
    ghost = '{"runId":"gone","taskKey":"x.y","attempt":1}'
    _t, _p, findings = lineage_findings(_state(REF, ghost))
    assert findings[0]["runId"] == "gone" and "does not exist" in findings[0]["message"]
    _t, _p, findings = lineage_findings(_state(REF, "not json"))
    assert "unreadable" in findings[0]["message"] and "runId" not in findings[0]


EDGE = st.tuples(st.sampled_from(["a.up", "b.up", "c.up"]),
                 st.sampled_from(["FAILED", "SKIPPED", "CANCELLED", "SUCCESS"]),
                 st.sampled_from([None, "2025-01-01T00:00:00.000Z", "2025-01-01T00:00:01.000Z"]),
                 st.sampled_from(["01A", "01B"]))


@given(st.lists(EDGE, min_size=1, max_size=6, unique_by=lambda e: e[0]), st.randoms())
def test_skip_attribution_does_not_depend_on_edge_order(edges: list[tuple[str, str, str | None,
                                                                          str]],
                                                        rnd: object) -> None:
    rows = [edge_row("r", up, "d.down", res, at, row_version=rv) for up, res, at, rv in edges]
    task = task_row("r", "d.down", state="SKIPPED")
    shuffled = list(rows)
    rnd.shuffle(shuffled)  # type: ignore[attr-defined]
    assert skip_attribution(task, rows) == skip_attribution(task, shuffled)
