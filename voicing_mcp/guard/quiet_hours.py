"""Quiet hours and the callee's local time, in every time zone a number may ring in.

:meth:`~voicing_mcp.guard.policy.DialGuard.check_quiet_hours` refuses (or, in local mode, warns about) a
call inside ``VOICING_QUIET_HOURS`` in any of the number's zones; the preview shows the local time there.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from voicing_mcp.config import QuietHours


def zones_in_window(zones: tuple[str, ...], window: QuietHours, now: datetime) -> list[tuple[str, datetime]]:
    inside: list[tuple[str, datetime]] = []
    for zone in zones:
        local = now.astimezone(ZoneInfo(zone))
        if window.contains(local.time().replace(tzinfo=None)):
            inside.append((zone, local))
    return inside


def next_window_opening(zones: tuple[str, ...], window: QuietHours, now: datetime) -> datetime | None:
    """The first instant after ``now`` at which every zone is outside the quiet window (within 3 days)."""
    candidates: list[datetime] = []
    for zone in zones:
        tz = ZoneInfo(zone)
        local_now = now.astimezone(tz)
        for day in range(-1, 3):
            d = (local_now + timedelta(days=day)).date()
            candidates.extend(c for c in _clock_passes(d, window.end, tz) if c > now)
    for candidate in sorted(candidates):
        if not zones_in_window(zones, window, candidate):
            return candidate
    return None


def _clock_passes(day: date, wall: time, tz: ZoneInfo) -> list[datetime]:
    """The instants at which the clock in ``tz`` reaches ``wall`` on ``day``.

    Usually one; two in the hour a fall-back repeats (the window may close, reopen and close again); in a
    spring-forward gap, where ``wall`` never shows, the instant the clock jumps past it.
    """
    naive = datetime.combine(day, wall)
    instants = sorted({naive.replace(tzinfo=tz, fold=fold).astimezone(UTC) for fold in (0, 1)})
    if instants[0].astimezone(tz).replace(tzinfo=None) == naive:
        return instants
    # in the gap: fold 0 reads ``wall`` with the offset before the jump, fold 1 with the offset after; the jump
    # lies between the two (transitions fall on whole seconds)
    low, high = (int(instant.timestamp()) for instant in instants)
    after = instants[1].astimezone(tz).utcoffset()
    while high - low > 1:
        middle = (low + high) // 2
        if datetime.fromtimestamp(middle, UTC).astimezone(tz).utcoffset() == after:
            high = middle
        else:
            low = middle
    return [datetime.fromtimestamp(high, UTC)]


def format_delta(delta: timedelta) -> str:
    minutes = max(int(delta.total_seconds() + 59) // 60, 1)
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min" if hours else f"{minutes} min"


def describe_local_time(zones: tuple[str, ...], now: datetime, *, round_minutes: int = 1) -> str:
    """``Mon 09:05 (America/Chicago)``, or a range ``Mon 08:05–11:05 across 5 time zones``.

    ``round_minutes`` > 1 rounds down and says "about": the text then stays the same for that many
    minutes (the elicitation question must not change while the human reads it).
    """
    step = timedelta(minutes=max(round_minutes, 1))
    if step > timedelta(minutes=1):
        epoch = datetime(2000, 1, 1, tzinfo=UTC)
        now = epoch + ((now - epoch) // step) * step
    about = "about " if step > timedelta(minutes=1) else ""
    locals_ = sorted(now.astimezone(ZoneInfo(z)).replace(tzinfo=None) for z in zones)
    if len(zones) == 1:
        return f"{about}{locals_[0]:%a %H:%M} ({zones[0]})"
    low, high = locals_[0], locals_[-1]
    high_text = f"{high:%H:%M}" if high.date() == low.date() else f"{high:%a %H:%M}"
    return f"{about}{low:%a %H:%M}–{high_text} across {len(zones)} time zones"
