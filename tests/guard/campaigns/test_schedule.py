"""The schedule estimate: quiet hours in each callee's zone, concurrency, the hourly and per-number caps."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from voicing_mcp.config import CallsPerNumber, QuietHours, parse_quiet_hours
from voicing_mcp.guard.campaigns import ScheduleRow, estimate_schedule, per_number_not_before

QUIET = parse_quiet_hours("21:00-08:00")
NEW_YORK = ("America/New_York",)
KOLKATA = ("Asia/Kolkata",)
# 03:00 UTC on 5 May 2026: 23:00 in New York (quiet), 08:30 in Kolkata (open)
NY_NIGHT = datetime(2026, 5, 5, 3, 0, tzinfo=UTC)
# 17:00 UTC: 13:00 in New York (open), 22:30 in Kolkata (quiet)
KOLKATA_NIGHT = datetime(2026, 5, 5, 17, 0, tzinfo=UTC)


def rows(zones: tuple[str, ...], count: int, start: int = 1) -> list[ScheduleRow]:
    return [ScheduleRow(start + i, zones) for i in range(count)]


def estimate(
    schedule_rows: list[ScheduleRow],
    now: datetime,
    *,
    quiet: QuietHours | None = QUIET,
    concurrent: int = 2,
    per_hour: int = 1000,
    **kwargs: int,
) -> tuple[datetime | None, datetime | None]:
    e = estimate_schedule(
        schedule_rows, now=now, quiet_hours=quiet, max_concurrent=concurrent, max_per_hour=per_hour, **kwargs
    )
    return e.earliest_dial, e.estimated_finish


def test_rows_in_a_zone_inside_quiet_hours_wait_while_another_zones_rows_go_first() -> None:
    schedule_rows = rows(NEW_YORK, 2) + rows(KOLKATA, 2, start=3)
    e = estimate_schedule(schedule_rows, now=NY_NIGHT, quiet_hours=QUIET, max_concurrent=1, max_per_hour=100)
    assert e.earliest_dial == NY_NIGHT  # Kolkata at once, though its rows come later in the list
    assert e.waiting_for_quiet_hours == 2
    # New York opens at 08:00 EDT = 12:00 UTC; its two rows one after the other, 2 minutes each
    assert e.estimated_finish == datetime(2026, 5, 5, 12, 4, tzinfo=UTC)


def test_the_other_way_round_kolkata_waits_for_its_morning() -> None:
    schedule_rows = rows(KOLKATA, 1) + rows(NEW_YORK, 3, start=2)
    first, finish = estimate(schedule_rows, KOLKATA_NIGHT, concurrent=1)
    assert first == KOLKATA_NIGHT
    assert finish == datetime(2026, 5, 6, 2, 32, tzinfo=UTC)  # 08:00 IST = 02:30 UTC, + 2 min


def test_every_zone_in_quiet_hours_moves_the_earliest_dial_to_the_first_opening() -> None:
    first, finish = estimate(rows(NEW_YORK, 1), NY_NIGHT)
    assert (first, finish) == (datetime(2026, 5, 5, 12, 0, tzinfo=UTC), datetime(2026, 5, 5, 12, 2, tzinfo=UTC))


def test_a_number_that_may_ring_in_several_zones_waits_until_all_are_open() -> None:
    # 12:30 UTC: 08:30 in New York, 05:30 in Los Angeles
    now = datetime(2026, 5, 5, 12, 30, tzinfo=UTC)
    first, _ = estimate([ScheduleRow(1, ("America/Los_Angeles", "America/New_York"))], now)
    assert first == datetime(2026, 5, 5, 15, 0, tzinfo=UTC)  # 08:00 in Los Angeles


def test_concurrency_runs_calls_side_by_side() -> None:
    now = datetime(2026, 5, 5, 15, 0, tzinfo=UTC)
    assert estimate(rows(NEW_YORK, 10), now, concurrent=1)[1] == now + timedelta(minutes=20)
    assert estimate(rows(NEW_YORK, 10), now, concurrent=5)[1] == now + timedelta(minutes=4)
    assert estimate(rows(NEW_YORK, 10), now, concurrent=5, call_seconds=60)[1] == now + timedelta(minutes=2)


def test_the_hourly_cap_spreads_dials_over_hours_and_counts_the_servers_earlier_dials() -> None:
    now = datetime(2026, 5, 5, 13, 0, tzinfo=UTC)  # 09:00 in New York
    assert estimate(rows(NEW_YORK, 5), now, concurrent=10, per_hour=2)[1] == now + timedelta(hours=2, minutes=2)
    assert estimate(rows(NEW_YORK, 2), now, per_hour=2, dials_last_hour=1)[1] == now + timedelta(hours=1, minutes=2)


def test_the_hourly_cap_pushes_late_rows_into_the_night_and_they_wait_for_the_morning() -> None:
    now = datetime(2026, 5, 5, 0, 30, tzinfo=UTC)  # 20:30 in New York: one dial before 21:00, then the night
    first, finish = estimate(rows(NEW_YORK, 2), now, per_hour=1)
    assert first == now
    assert finish == datetime(2026, 5, 5, 12, 2, tzinfo=UTC)


def test_the_per_number_cap_delays_a_number_until_its_oldest_dial_leaves_the_window() -> None:
    cap = CallsPerNumber(3, timedelta(hours=24))
    now = datetime(2026, 5, 5, 15, 0, tzinfo=UTC)
    earlier = [now - timedelta(hours=h) for h in (30, 20, 10, 1)]  # 3 inside the 24 h window
    assert per_number_not_before(earlier, cap, now) == now + timedelta(hours=4)
    assert per_number_not_before(earlier[:3], cap, now) is None
    e = estimate_schedule(
        [ScheduleRow(1, NEW_YORK, now + timedelta(hours=4)), ScheduleRow(2, NEW_YORK)],
        now=now,
        quiet_hours=None,
        max_concurrent=2,
        max_per_hour=100,
    )
    assert (e.earliest_dial, e.estimated_finish, e.waiting_for_number_cap) == (
        now,
        now + timedelta(hours=4, minutes=2),
        1,
    )


def test_nothing_to_dial_or_a_cap_of_zero_gives_no_times_and_says_why() -> None:
    now = datetime(2026, 5, 5, 15, 0, tzinfo=UTC)
    empty = estimate_schedule([], now=now, quiet_hours=QUIET, max_concurrent=2, max_per_hour=30)
    assert (empty.earliest_dial, empty.estimated_finish, empty.note) == (None, None, "no accepted rows")
    zero = estimate_schedule(rows(NEW_YORK, 1), now=now, quiet_hours=QUIET, max_concurrent=2, max_per_hour=0)
    assert zero.estimated_finish is None and zero.note == "VOICING_MAX_CALLS_PER_HOUR is 0: nothing is dialled"
    with pytest.raises(ValueError, match="max_concurrent"):
        estimate_schedule(rows(NEW_YORK, 1), now=now, quiet_hours=QUIET, max_concurrent=0, max_per_hour=30)


def test_ten_thousand_rows_across_zones_are_estimated_in_position_order_without_gaps() -> None:
    now = datetime(2026, 5, 5, 15, 0, tzinfo=UTC)  # 11:00 New York, 20:30 Kolkata: 30 minutes left there
    schedule_rows = [ScheduleRow(i + 1, NEW_YORK if i % 2 else KOLKATA) for i in range(10_000)]
    first, finish = estimate(schedule_rows, now, concurrent=10, per_hour=100_000)
    assert first == now
    assert finish is not None and finish > now + timedelta(hours=10)  # Kolkata's rows after its night
