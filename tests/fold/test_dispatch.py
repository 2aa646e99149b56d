"""Dispatch and timer events (data-model §5.8)."""

from __future__ import annotations

import json

from tests.fold.conftest import codes, fold_scenario, only_outcome, task

RUN = "run_disp"
DISPATCH = f"dispatch:{RUN}:raw.a:1"


def test_dispatch_acknowledged_before_its_request_still_dispatches_the_task() -> None:
    state = fold_scenario("dispatch", until_key=f"dispatch_req:{DISPATCH}")
    assert only_outcome(state, f"dispatch_ack:{DISPATCH}")["outcome"] == "applied"
    row = task(state, RUN, "raw.a")
    assert (row["state"], row["attempt"], row["attempt_id"]) == ("DISPATCHED", 1, "att_d1")
    assert json.loads(row["attempt_history"]) == [{"attempt": 1, "attemptId": "att_d1"}]
    assert state.dispatches[DISPATCH]["worker_queue"] == "gpu"


BEFORE_FINISH = "timer_req:timer:cron:daily:1735776000:again"


def test_dispatch_of_a_blocked_task_keeps_the_record_and_flags_it() -> None:
    state = fold_scenario("dispatch", until_key=BEFORE_FINISH)
    row = only_outcome(state, f"dispatch_req:dispatch:{RUN}:raw.b:1")
    assert row["outcome"] == "applied"
    assert codes(row) == ["dispatch_ignored_by_task"]
    assert task(state, RUN, "raw.b")["state"] == "BLOCKED"


def test_start_with_another_attempt_id_than_dispatched_is_a_conflict() -> None:
    state = fold_scenario("dispatch", until_key=BEFORE_FINISH)
    rejected, applied = [r for r in state.rows("event_outcomes")
                         if r["idempotency_key"] == f"started:{RUN}:raw.a:1"]
    assert rejected["reason"] == "attempt_id_conflict"
    assert applied["outcome"] == "applied"
    assert task(state, RUN, "raw.a")["state"] == "RUNNING"


def test_heartbeats_need_the_current_attempt_pair() -> None:
    state = fold_scenario("dispatch")
    assert only_outcome(state, f"heartbeat:{RUN}:raw.a:1:att_d1")["outcome"] == "applied"
    assert only_outcome(state, f"heartbeat:{RUN}:raw.a:1:att_other")["reason"] == \
        "stale_attempt"
    assert only_outcome(state, f"heartbeat:{RUN}:raw.b:1:att_b1")["reason"] == \
        "unstarted_attempt"


def test_dispatch_of_a_consumed_attempt_is_stale_and_drops_the_record() -> None:
    state = fold_scenario("dispatch")
    assert only_outcome(state, f"dispatch_req:{DISPATCH}:again")["reason"] == "stale_attempt"
    assert (RUN, "raw.a", 1) not in state.dispatch_by_attempt


def test_unknown_dispatch_and_unparseable_timer_are_rejected() -> None:
    state = fold_scenario("dispatch")
    assert only_outcome(state, "dispatch_ack:dispatch:unknown")["reason"] == "unknown_dispatch"
    assert only_outcome(state, "timer_ack:not-a-timer")["reason"] == "unknown_timer"


def test_fired_timer_without_a_request_is_parsed_from_its_id() -> None:
    state = fold_scenario("dispatch")
    timer_id = f"timer:heartbeat:{RUN}:raw.a:1:1735690000"
    assert only_outcome(state, f"timer_fired:{timer_id}")["outcome"] == "applied"
    record = state.timers[timer_id]
    assert (record["state"], record["run_id"], record["task_key"], record["attempt"],
            record["fire_at"]) == ("FIRED", RUN, "raw.a", 1, 1_735_690_000_000)


def test_repeated_timer_request_without_changes_is_no_change() -> None:
    state = fold_scenario("dispatch")
    row = only_outcome(state, "timer_req:timer:cron:daily:1735776000:again")
    assert (row["outcome"], row["reason"]) == ("rejected", "no_change")


def test_heartbeat_of_a_finished_or_missing_task_is_rejected() -> None:
    state = fold_scenario("dispatch")
    assert only_outcome(state, f"heartbeat:{RUN}:raw.a:1:att_d1:1735700400000")["reason"] == \
        "terminal_task"
    assert only_outcome(state, f"heartbeat:{RUN}:raw.nope:1:att_x")["reason"] == "unknown_task"
