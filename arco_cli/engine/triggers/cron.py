"""Cron fire times and schedule tick identity (data-model §4.2, §4.3, §7.1).

Pure: every function takes ``now`` as an argument. Fire times are computed on the
*wall clock* of the schedule's IANA zone with croniter, then mapped to UTC with the DST
rules of decisions A29, because croniter's own tz-aware iteration does not implement
"once per gap / once per repeated hour" the way the spec pins it.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from arco_cli.identity import request_fingerprint

_UTC = dt.timezone.utc
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=_UTC)
#: how far wall-clock iteration starts before the window; covers any UTC offset change
_DST_MARGIN = dt.timedelta(hours=3)
DAY_MS = 86_400_000


class CronError(ValueError):
    """An expression or zone that cannot be ticked; the message is the failed-tick error."""


def normalize_cron(expression: str) -> str:
    """The 6-field, seconds-first form of ``expression`` (5 fields get seconds ``0``).

    Macros (``@daily``) are one field and so are refused by the field count (A29).
    """
    from croniter import CroniterError, croniter

    trimmed = expression.strip()
    fields = trimmed.split()
    if len(fields) not in (5, 6):
        raise CronError(f"invalid cron expression (expected 5 or 6 fields): {trimmed}")
    six = " ".join(["0", *fields]) if len(fields) == 5 else " ".join(fields)
    try:
        croniter(six, dt.datetime(2000, 1, 1), second_at_beginning=True, day_or=True)
    except (CroniterError, ValueError, KeyError, TypeError) as exc:
        raise CronError(f"invalid cron expression: {exc}") from None
    return six


def load_zone(name: str) -> ZoneInfo:
    """The IANA zone ``name``; anything else is the failed-tick error of §7.1 item 2."""
    trimmed = name.strip()
    if not trimmed:
        raise CronError(f"invalid timezone: {name}")
    try:
        return ZoneInfo(trimmed)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise CronError(f"invalid timezone: {name}") from None


def _to_ms(moment: dt.datetime) -> int:
    delta = moment - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000


def _from_ms(ms: int) -> dt.datetime:
    return _EPOCH + dt.timedelta(milliseconds=ms)


def _gap_end(zone: ZoneInfo, earlier: dt.datetime, later: dt.datetime) -> dt.datetime:
    """First instant (whole second) in (earlier, later] carrying ``later``'s UTC offset."""
    target = later.astimezone(zone).utcoffset()
    lo, hi = _to_ms(earlier) // 1000, _to_ms(later) // 1000
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if _from_ms(mid * 1000).astimezone(zone).utcoffset() == target:
            hi = mid
        else:
            lo = mid
    return _from_ms(hi * 1000)


def wall_time_to_utc(local: dt.datetime, zone: ZoneInfo) -> dt.datetime:
    """Map a naive wall-clock time of ``zone`` to the UTC instant it fires at (A29).

    A repeated time fires at its first occurrence (``fold=0``); a time inside a
    spring-forward gap fires at the first instant after the gap.
    """
    first = local.replace(tzinfo=zone, fold=0).astimezone(_UTC)
    second = local.replace(tzinfo=zone, fold=1).astimezone(_UTC)
    if first.astimezone(zone).replace(tzinfo=None) == local:
        return first  # exists (fold=0 is the first occurrence when it is repeated)
    # In a gap fold=0 applies the offset from before the change, so it lands after the
    # gap and fold=1 before it; the gap ends between the two.
    return _gap_end(zone, min(first, second), max(first, second))


def fire_times(cron6: str, zone: ZoneInfo, after_ms: int, until_ms: int,
               limit: int) -> list[int]:
    """Fire instants t (epoch ms) with ``after_ms < t <= until_ms``, oldest first, at most
    ``limit`` of them, each instant once."""
    from croniter import CroniterBadDateError, croniter

    if limit <= 0 or until_ms <= after_ms:
        return []
    start_wall = _from_ms(after_ms).astimezone(zone).replace(tzinfo=None) - _DST_MARGIN
    it = croniter(cron6, start_wall, second_at_beginning=True, day_or=True)
    out: list[int] = []
    while len(out) < limit:
        try:
            wall = it.get_next(dt.datetime)
        except CroniterBadDateError:
            break  # no further match (e.g. 30 February)
        ms = _to_ms(wall_time_to_utc(wall, zone))
        if ms > until_ms:
            break  # the wall → UTC mapping is monotonic, so nothing later can be due
        if ms > after_ms and (not out or ms > out[-1]):
            out.append(ms)
    return out


def catchup_start_ms(now_ms: int, last_scheduled_for_ms: int | None,
                     catchup_window_minutes: int) -> int:
    """Exclusive lower bound of due ticks (§7.1 items 3–4 with decisions A30)."""
    window_ms = (catchup_window_minutes or 24 * 60) * 60_000
    floor = now_ms - window_ms
    if last_scheduled_for_ms is None:
        return floor
    return max(last_scheduled_for_ms, floor)


def due_ticks(cron_expression: str, timezone: str, *, now_ms: int,
              last_scheduled_for_ms: int | None, catchup_window_minutes: int,
              max_catchup_ticks: int) -> list[int]:
    """Scheduled instants (epoch ms) due at ``now_ms``; raises :class:`CronError`."""
    cron6 = normalize_cron(cron_expression)
    zone = load_zone(timezone)
    start = catchup_start_ms(now_ms, last_scheduled_for_ms, catchup_window_minutes)
    return fire_times(cron6, zone, start, now_ms, max_catchup_ticks)


def next_fire_ms(cron_expression: str, timezone: str, after_ms: int) -> int | None:
    """The first fire instant strictly after ``after_ms`` (within ~5 years), for listings."""
    cron6 = normalize_cron(cron_expression)
    found = fire_times(cron6, load_zone(timezone), after_ms, after_ms + 5 * 366 * DAY_MS, 1)
    return found[0] if found else None


# ------------------------------------------------------------------ tick identity

def tick_id(schedule_id: str, scheduled_for_ms: int) -> str:
    return f"{schedule_id}:{scheduled_for_ms // 1000}"


def tick_run_key(schedule_id: str, scheduled_for_ms: int) -> str:
    return f"sched:{schedule_id}:{scheduled_for_ms // 1000}"


def manual_tick_id(schedule_id: str, now_ms: int) -> str:
    return f"{schedule_id}:manual:{now_ms // 1000}"


def manual_run_key(schedule_id: str, now_ms: int) -> str:
    return f"sched:{schedule_id}:manual:{now_ms // 1000}"


def tick_partition(scheduled_for_ms: int, timezone: str, partition_date: str) -> str:
    """The ``date`` partition a tick requests (decisions A1): the tick's local date D for
    ``"tick"``, D − 1 day for ``"previous"``."""
    local_day = _from_ms(scheduled_for_ms).astimezone(load_zone(timezone)).date()
    if partition_date == "previous":
        local_day -= dt.timedelta(days=1)
    elif partition_date != "tick":
        raise ValueError(f"partition_date must be 'previous' or 'tick', not {partition_date!r}")
    return f"date=d:{local_day.isoformat()}"


def tick_fingerprint(selection: list[str], partitions: list[str]) -> str:
    """§4.3 for a schedule tick: no include flags, no labels."""
    return request_fingerprint(selection, partitions)
