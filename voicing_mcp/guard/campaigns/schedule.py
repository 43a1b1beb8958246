"""When a campaign's accepted rows would be dialled: a pure estimate with an injected ``now``.

:func:`estimate_schedule` simulates the dispatcher's rules on the rows' time zones, without a clock or a ledger:

- **quiet hours** (``VOICING_QUIET_HOURS``) in every zone a row's number may ring in: a row waits until all its
  zones are outside the window (:mod:`~voicing_mcp.guard.quiet_hours`); it is never excluded for it;
- **concurrency**: at most ``max_concurrent`` calls in progress, each assumed to last ``call_seconds``
  (:data:`ASSUMED_CALL_SECONDS`, 2 minutes: a short outbound call, ring time included);
- **the hourly cap** (``VOICING_MAX_CALLS_PER_HOUR``): at most that many dials in any sliding hour, counting
  ``dials_last_hour`` dials of the server already made, taken (pessimistically) as made at ``now``;
- **the per-number cap** (``VOICING_MAX_CALLS_PER_NUMBER``): a row whose number already had ``N`` dials in the
  window waits until the oldest of them leaves it (:func:`per_number_not_before`).

Rows are taken in position order among those allowed at each moment (a row waiting for its zone's morning does
not hold up the others), as the dispatcher does. The estimate covers first attempts only: a retry of ``busy`` /
``no-answer`` comes ``retry_after_minutes`` later and is not in ``estimated_finish``.
"""

from __future__ import annotations

import heapq
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from voicing_mcp.config import CallsPerNumber, QuietHours
from voicing_mcp.guard.quiet_hours import next_window_opening, zones_in_window

ASSUMED_CALL_SECONDS = 120
"""The assumed average length of a call, ring time included, for the estimate (2 minutes)."""
HOUR = timedelta(hours=1)
_HORIZON = timedelta(days=400)
"""An estimate that reaches further than this stops (a cap of 0 calls an hour never finishes)."""


@dataclass(frozen=True, slots=True)
class ScheduleRow:
    """What the estimate needs of an accepted row: its position, its zones, and when it may first be dialled."""

    position: int
    time_zones: tuple[str, ...]
    not_before: datetime | None = None
    """The per-number cap's earliest dial (:func:`per_number_not_before`); None: no earlier dials count."""


@dataclass(frozen=True, slots=True)
class ScheduleEstimate:
    """The estimate. ``earliest_dial`` and ``estimated_finish`` are None when nothing can be dialled (no rows, or
    a rate cap of 0); ``note`` then says why."""

    earliest_dial: datetime | None
    estimated_finish: datetime | None
    waiting_for_quiet_hours: int
    """Rows inside quiet hours in one of their zones at ``now`` (they wait, they are not excluded)."""
    waiting_for_number_cap: int
    """Rows whose number already reached VOICING_MAX_CALLS_PER_NUMBER at ``now``."""
    call_seconds: int
    note: str | None = None


def per_number_not_before(earlier_dials: Sequence[datetime], cap: CallsPerNumber, now: datetime) -> datetime | None:
    """When a number with these earlier dials may be dialled again under ``cap``; None when it may be now.

    Dials older than the window do not count. With ``k`` dials in the window and a cap of ``N``, the
    ``(k - N + 1)``-th oldest must leave the window first.
    """
    recent = sorted(t for t in earlier_dials if t > now - cap.window)
    if len(recent) < cap.calls:
        return None
    return recent[len(recent) - cap.calls] + cap.window


def next_window_closing(zones: tuple[str, ...], window: QuietHours, now: datetime) -> datetime | None:
    """The first instant after ``now`` at which one of the zones enters the quiet window (within 3 days)."""
    candidates: list[datetime] = []
    for zone in zones:
        tz = ZoneInfo(zone)
        local_now = now.astimezone(tz)
        for day in range(0, 3):
            d = (local_now + timedelta(days=day)).date()
            candidate = datetime.combine(d, window.start, tzinfo=tz).astimezone(UTC)
            if candidate > now:
                candidates.append(candidate)
                break
    return min(candidates, default=None)


class _Queues:
    """The rows not yet dialled, grouped by what decides when they may go (zones, per-number wait): few groups,
    each a queue in position order; each zone set's quiet-hours state is cached until it next changes."""

    def __init__(self, rows: Sequence[ScheduleRow], now: datetime, quiet_hours: QuietHours | None) -> None:
        self.quiet_hours = quiet_hours
        self.groups: dict[tuple[tuple[str, ...], datetime], list[int]] = {}
        for r in sorted(rows, key=lambda r: r.position, reverse=True):  # pop() from the end: smallest first
            self.groups.setdefault((r.time_zones, max(r.not_before or now, now)), []).append(r.position)
        self.state: dict[tuple[str, ...], tuple[bool, datetime | None]] = {}  # zones -> (open, until; None: ever)

    def opens_at(self, zones: tuple[str, ...], at: datetime) -> datetime | None:
        """``at`` if the zones are all outside quiet hours then, else when they next are (None: never)."""
        if self.quiet_hours is None:
            return at
        cached = self.state.get(zones)
        if cached is None or (cached[1] is not None and at >= cached[1]):
            if zones_in_window(zones, self.quiet_hours, at):
                cached = (False, next_window_opening(zones, self.quiet_hours, at))
            else:
                cached = (True, next_window_closing(zones, self.quiet_hours, at))
            self.state[zones] = cached
        is_open, until = cached
        return at if is_open else until

    def take(self, t: datetime) -> datetime | None:
        """Take the row with the smallest position that may be dialled at ``t`` and return ``t``; else return
        when one may next be (None: never)."""
        best: tuple[int, tuple[tuple[str, ...], datetime]] | None = None
        wake: datetime | None = None
        for key, queue in self.groups.items():
            if not queue:
                continue
            zones, not_before = key
            opens = not_before if not_before > t else self.opens_at(zones, t)
            if opens != t:
                if opens is not None:
                    wake = opens if wake is None else min(wake, opens)
                continue
            if best is None or queue[-1] < best[0]:
                best = (queue[-1], key)
        if best is None:
            return wake
        self.groups[best[1]].pop()
        return t


def estimate_schedule(
    rows: Sequence[ScheduleRow],
    *,
    now: datetime,
    quiet_hours: QuietHours | None,
    max_concurrent: int,
    max_per_hour: int,
    dials_last_hour: int = 0,
    call_seconds: int = ASSUMED_CALL_SECONDS,
) -> ScheduleEstimate:
    """The earliest dial and the estimated finish of ``rows`` dialled from ``now`` (rules in the module docstring).

    ``max_concurrent`` must be at least 1 (ValueError otherwise).
    """
    if max_concurrent < 1:
        raise ValueError("max_concurrent must be at least 1")
    call = timedelta(seconds=call_seconds)
    waiting_quiet = (
        sum(1 for r in rows if zones_in_window(r.time_zones, quiet_hours, now)) if quiet_hours is not None else 0
    )
    waiting_cap = sum(1 for r in rows if r.not_before is not None and r.not_before > now)

    def estimate(first: datetime | None, finish: datetime | None, note: str | None = None) -> ScheduleEstimate:
        return ScheduleEstimate(first, finish, waiting_quiet, waiting_cap, call_seconds, note)

    if not rows:
        return estimate(None, None, "no accepted rows")
    if max_per_hour < 1:
        return estimate(None, None, "VOICING_MAX_CALLS_PER_HOUR is 0: nothing is dialled")
    queues = _Queues(rows, now, quiet_hours)
    free_at = [now] * max_concurrent  # when each concurrency slot is free again (a heap)
    window: deque[datetime] = deque([now] * min(dials_last_hour, max_per_hour))  # dial times in the sliding hour
    first: datetime | None = None
    t = last = now
    remaining = len(rows)
    while remaining:
        t = max(t, free_at[0])
        while window and window[0] <= t - HOUR:
            window.popleft()
        if len(window) >= max_per_hour:
            t = window[0] + HOUR
            continue
        taken = queues.take(t)
        if taken is None:
            return estimate(first, None, "some rows never leave quiet hours")
        if taken - now > _HORIZON:
            return estimate(first, None, f"the last dial would be more than {_HORIZON.days} days away")
        if taken != t:
            t = taken
            continue
        remaining -= 1
        first = t if first is None else first
        heapq.heapreplace(free_at, t + call)
        window.append(t)
        last = t
    return estimate(first, last + call)
