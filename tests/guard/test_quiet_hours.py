"""Quiet hours in the callee's zones (guard/quiet_hours.py): windows that wrap midnight, ``off``, zones that change
offset (DST) and numbers that ring in several zones. Real ``zoneinfo`` data, instants given explicitly."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

from voicing_mcp.config import QuietHours, parse_quiet_hours
from voicing_mcp.guard.quiet_hours import describe_local_time, format_delta, next_window_opening, zones_in_window

NIGHT = QuietHours(time(21, 0), time(8, 0))  # the default shape: wraps midnight
NEW_YORK = "America/New_York"
LOS_ANGELES = "America/Los_Angeles"
CHICAGO = "America/Chicago"


def test_a_window_across_midnight_holds_the_late_evening_and_the_early_morning_but_not_the_day() -> None:
    inside = [time(21, 0), time(23, 59), time(0, 0), time(7, 59)]
    outside = [time(8, 0), time(12, 0), time(20, 59)]
    assert [NIGHT.contains(t) for t in inside] == [True] * len(inside)
    assert [NIGHT.contains(t) for t in outside] == [False] * len(outside)


def test_a_window_within_one_day_holds_its_start_but_not_its_end() -> None:
    lunch = QuietHours(time(12, 0), time(13, 0))
    assert lunch.contains(time(12, 0))
    assert lunch.contains(time(12, 59))
    assert not lunch.contains(time(13, 0))
    assert not lunch.contains(time(11, 59))


def test_off_means_no_window_and_an_empty_window_holds_no_minute() -> None:
    for spelling in ("off", "OFF", " none ", "false", "0"):
        assert parse_quiet_hours(spelling) is None, spelling
    assert str(parse_quiet_hours(" ")) == "21:00-08:00"  # empty is the default window, never off
    empty = QuietHours(time(9, 0), time(9, 0))
    now = datetime(2026, 5, 4, 14, 0, tzinfo=UTC)  # 09:00 in Chicago
    assert zones_in_window((CHICAGO,), empty, now) == []


def test_the_zone_inside_the_window_is_named_with_its_local_time() -> None:
    now = datetime(2026, 5, 5, 3, 14, tzinfo=UTC)  # 22:14 CDT, 20:14 PDT
    inside = zones_in_window((CHICAGO, LOS_ANGELES), NIGHT, now)
    assert [(zone, local.strftime("%a %H:%M")) for zone, local in inside] == [(CHICAGO, "Mon 22:14")]
    assert zones_in_window((LOS_ANGELES,), NIGHT, now) == []


def test_a_number_with_several_zones_is_quiet_when_any_of_them_is() -> None:
    evening_in_new_york = datetime(2026, 5, 5, 1, 30, tzinfo=UTC)  # 21:30 EDT, 18:30 PDT
    assert [zone for zone, _ in zones_in_window((NEW_YORK, LOS_ANGELES), NIGHT, evening_in_new_york)] == [NEW_YORK]
    midnight_in_new_york = datetime(2026, 5, 5, 4, 30, tzinfo=UTC)  # 00:30 EDT, 21:30 PDT
    assert [zone for zone, _ in zones_in_window((NEW_YORK, LOS_ANGELES), NIGHT, midnight_in_new_york)] == [
        NEW_YORK,
        LOS_ANGELES,
    ]


def test_the_window_opens_for_a_number_with_several_zones_when_the_last_zone_leaves_it() -> None:
    now = datetime(2026, 5, 5, 4, 30, tzinfo=UTC)  # 00:30 EDT, 21:30 PDT
    # 08:00 EDT (12:00 UTC) is 05:00 in Los Angeles, still quiet; 08:00 PDT is 15:00 UTC
    assert next_window_opening((NEW_YORK, LOS_ANGELES), NIGHT, now) == datetime(2026, 5, 5, 15, 0, tzinfo=UTC)
    assert next_window_opening((NEW_YORK,), NIGHT, now) == datetime(2026, 5, 5, 12, 0, tzinfo=UTC)


def test_the_window_opens_at_local_eight_on_the_night_clocks_spring_forward() -> None:
    # New York, 8 March 2026: 02:00 EST becomes 03:00 EDT; midnight is still EST (UTC-5), 08:00 is EDT (UTC-4)
    midnight = datetime(2026, 3, 8, 5, 0, tzinfo=UTC)
    assert [zone for zone, _ in zones_in_window((NEW_YORK,), NIGHT, midnight)] == [NEW_YORK]
    assert next_window_opening((NEW_YORK,), NIGHT, midnight) == datetime(2026, 3, 8, 12, 0, tzinfo=UTC)


def test_the_window_opens_at_local_eight_on_the_night_clocks_fall_back() -> None:
    # New York, 1 November 2026: 02:00 EDT becomes 01:00 EST; midnight is EDT (UTC-4), 08:00 is EST (UTC-5)
    midnight = datetime(2026, 11, 1, 4, 0, tzinfo=UTC)
    assert next_window_opening((NEW_YORK,), NIGHT, midnight) == datetime(2026, 11, 1, 13, 0, tzinfo=UTC)
    # the repeated hour 01:00-02:00 is inside the window both times it happens
    first_one_am, second_one_am = datetime(2026, 11, 1, 5, 30, tzinfo=UTC), datetime(2026, 11, 1, 6, 30, tzinfo=UTC)
    for instant in (first_one_am, second_one_am):
        ((zone, local),) = zones_in_window((NEW_YORK,), NIGHT, instant)
        assert (zone, local.strftime("%H:%M")) == (NEW_YORK, "01:30")


def test_a_window_ending_in_the_spring_forward_gap_opens_at_an_instant_outside_it() -> None:
    # 02:30 does not exist in New York on 8 March 2026: 01:59 EST (06:59 UTC) is followed by 03:00 EDT (07:00 UTC)
    window = QuietHours(time(21, 0), time(2, 30))
    opening = next_window_opening((NEW_YORK,), window, datetime(2026, 3, 8, 5, 0, tzinfo=UTC))
    assert opening is not None and zones_in_window((NEW_YORK,), window, opening) == []
    assert zones_in_window((NEW_YORK,), window, datetime(2026, 3, 8, 6, 59, tzinfo=UTC)) != []  # 01:59 EST, quiet
    assert datetime(2026, 3, 8, 7, 0, tzinfo=UTC) <= opening <= datetime(2026, 3, 8, 7, 30, tzinfo=UTC)


def test_a_window_ending_in_the_spring_forward_gap_opens_the_moment_the_clock_jumps_past_its_end() -> None:
    window = QuietHours(time(21, 0), time(2, 30))
    opening = next_window_opening((NEW_YORK,), window, datetime(2026, 3, 8, 5, 0, tzinfo=UTC))
    assert opening == datetime(2026, 3, 8, 7, 0, tzinfo=UTC)


def test_a_window_ending_in_the_repeated_fall_back_hour_opens_at_each_pass_of_its_end() -> None:
    # 1 November 2026 in New York: 01:00-02:00 EDT (05:00-06:00 UTC) is followed by 01:00-02:00 EST (06:00-07:00 UTC)
    window = QuietHours(time(21, 0), time(1, 30))
    first_pass = next_window_opening((NEW_YORK,), window, datetime(2026, 11, 1, 5, 0, tzinfo=UTC))
    assert first_pass == datetime(2026, 11, 1, 5, 30, tzinfo=UTC)  # 01:30 EDT
    # 01:10 EST, quiet again as the clock repeats the hour: the window opens at 01:30 EST, not the next night
    assert zones_in_window((NEW_YORK,), window, datetime(2026, 11, 1, 6, 10, tzinfo=UTC)) != []
    second_pass = next_window_opening((NEW_YORK,), window, datetime(2026, 11, 1, 6, 10, tzinfo=UTC))
    assert second_pass == datetime(2026, 11, 1, 6, 30, tzinfo=UTC)


def test_a_window_ending_outside_any_transition_opens_at_its_end_on_the_wall_clock() -> None:
    window = QuietHours(time(21, 0), time(8, 0))
    opening = next_window_opening((NEW_YORK,), window, datetime(2026, 6, 10, 3, 0, tzinfo=UTC))  # 23:00 EDT
    assert opening == datetime(2026, 6, 10, 12, 0, tzinfo=UTC)  # 08:00 EDT


def test_the_window_never_opens_when_the_zones_are_never_outside_it_together() -> None:
    # quiet all day but the minute 07:59: New York's 07:59 is 04:59 in Los Angeles and the reverse is 10:59
    almost_always = QuietHours(time(8, 0), time(7, 59))
    now = datetime(2026, 5, 5, 12, 0, tzinfo=UTC)
    assert next_window_opening((NEW_YORK,), almost_always, now) is not None
    assert next_window_opening((NEW_YORK, LOS_ANGELES), almost_always, now) is None


def test_a_wait_is_rounded_up_to_the_minute_and_written_in_hours_and_minutes() -> None:
    assert format_delta(timedelta(seconds=61)) == "2 min"
    assert format_delta(timedelta(0)) == "1 min"
    assert format_delta(timedelta(hours=1)) == "1 h 0 min"
    assert format_delta(timedelta(hours=10, minutes=59, seconds=30)) == "11 h 0 min"


def test_the_local_time_is_shown_across_a_dst_offset_difference_between_zones() -> None:
    # 9 March 2026: New York is already on EDT, Phoenix never changes (UTC-7)
    now = datetime(2026, 3, 9, 13, 0, tzinfo=UTC)
    assert describe_local_time((NEW_YORK,), now) == "Mon 09:00 (America/New_York)"
    assert describe_local_time((NEW_YORK, "America/Phoenix"), now) == "Mon 06:00–09:00 across 2 time zones"


def test_a_rounded_local_time_says_about_and_stays_the_same_for_the_whole_step() -> None:
    start = datetime(2026, 5, 4, 16, 0, tzinfo=UTC)  # 11:00 in Chicago
    texts = {describe_local_time((CHICAGO,), start + timedelta(minutes=m), round_minutes=15) for m in range(15)}
    assert texts == {"about Mon 11:00 (America/Chicago)"}
    assert describe_local_time((CHICAGO,), start + timedelta(minutes=15), round_minutes=15) == (
        "about Mon 11:15 (America/Chicago)"
    )
    assert (
        describe_local_time((CHICAGO,), start + timedelta(minutes=7), round_minutes=1) == "Mon 11:07 (America/Chicago)"
    )
