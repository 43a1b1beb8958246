"""The parsers of the settings' values (quiet hours, the per-number cap, a region, a secret's strength, a loopback
URL), each a plain function that raises ``ValueError`` with the words a person reads (:mod:`.loading` names the
variable in front of them)."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from datetime import time, timedelta
from typing import Any
from urllib.parse import urlsplit

#: the shortest VOICING_TOKEN_SECRET accepted, and the fewest different characters in it (``aaaa…`` or a
#: repeated word is no secret); ``python -c "import secrets; print(secrets.token_urlsafe(32))"`` makes a good one
MIN_SECRET_CHARS = 32
MIN_SECRET_DISTINCT = 12
MAKE_A_SECRET = 'make one with: python -c "import secrets; print(secrets.token_urlsafe(32))"'


def secret_problem(secret: str) -> str | None:
    """Why ``secret`` is too weak for VOICING_TOKEN_SECRET, or None. Never quotes the value (it is a secret)."""
    if len(secret) < MIN_SECRET_CHARS:
        return f"is {len(secret)} characters long; it needs at least {MIN_SECRET_CHARS} random ones ({MAKE_A_SECRET})"
    if len(set(secret)) < MIN_SECRET_DISTINCT:
        return (
            f"has only {len(set(secret))} different characters: it looks like a repeated pattern, not a random "
            f"secret ({MAKE_A_SECRET}; the value is not shown here)"
        )
    return None


_HHMM = re.compile(r"^(\d{1,2}):(\d{2})$")


@dataclass(frozen=True, slots=True)
class QuietHours:
    """A daily window (callee's local time) in which no call is placed. May wrap midnight."""

    start: time
    end: time

    def contains(self, t: time) -> bool:
        if self.start == self.end:
            return False
        if self.start < self.end:
            return self.start <= t < self.end
        return t >= self.start or t < self.end

    def __str__(self) -> str:
        return f"{self.start:%H:%M}-{self.end:%H:%M}"


#: ``VOICING_QUIET_HOURS`` unset or empty: no dialling 21:00-08:00 in the callee's local time (US rules: 8:00-21:00)
DEFAULT_QUIET_HOURS = QuietHours(time(21, 0), time(8, 0))


def _parse_hhmm(text: str, which: str) -> time:
    m = _HHMM.match(text.strip())
    if not m:
        raise ValueError(f"{which} {text.strip()!r} is not a time in HH:MM form")
    hour, minute = int(m.group(1)), int(m.group(2))
    if hour > 23:
        raise ValueError(f"{which} {text.strip()!r}: hour {hour} is out of range 00-23")
    if minute > 59:
        raise ValueError(f"{which} {text.strip()!r}: minute {minute} is out of range 00-59")
    return time(hour, minute)


def parse_quiet_hours(value: str) -> QuietHours | None:
    """``"21:00-08:00"`` → QuietHours; ``"off"`` → None; empty → the default window (a client's ``env`` left with
    ``""`` must not switch a safety rule off: only a word that says so does)."""
    text = value.strip()
    if not text:
        return DEFAULT_QUIET_HOURS
    if text.lower() in {"off", "none", "false", "0"}:
        return None
    parts = text.split("-")
    if len(parts) != 2:
        raise ValueError(f"{text!r} is not a window of the form HH:MM-HH:MM (or 'off')")
    return QuietHours(_parse_hhmm(parts[0], "start"), _parse_hhmm(parts[1], "end"))


_PER_NUMBER = re.compile(r"^(\d{1,4})\s*/\s*(\d{1,4})\s*h$", re.IGNORECASE)
MAX_PER_NUMBER_HOURS = 720


@dataclass(frozen=True, slots=True)
class CallsPerNumber:
    """At most ``calls`` dials to one number in any ``window`` (``VOICING_MAX_CALLS_PER_NUMBER``, ``N/<hours>h``)."""

    calls: int
    window: timedelta

    def __str__(self) -> str:
        return f"{self.calls}/{int(self.window.total_seconds() // 3600)}h"


def parse_calls_per_number(value: str) -> CallsPerNumber:
    """``"3/24h"`` → at most 3 dials to one number in any 24 hours. N is 1-9999, hours 1-720."""
    text = value.strip()
    m = _PER_NUMBER.match(text)
    if not m:
        raise ValueError(f"{text!r} is not of the form N/<hours>h, e.g. 3/24h (at most 3 calls to a number a day)")
    calls, hours = int(m.group(1)), int(m.group(2))
    if calls < 1:
        raise ValueError(f"{text!r}: the number of calls must be at least 1")
    if not 1 <= hours <= MAX_PER_NUMBER_HOURS:
        raise ValueError(f"{text!r}: the window must be 1-{MAX_PER_NUMBER_HOURS} hours")
    return CallsPerNumber(calls, timedelta(hours=hours))


def split_csv(value: Any) -> Any:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


def is_loopback_url(url: str) -> bool:
    """True when ``url``'s host is this machine (127.0.0.0/8, ::1 or localhost)."""
    try:
        host = (urlsplit(url).hostname or "").rstrip(".").lower()
    except ValueError:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def parse_region(value: str) -> str:
    import phonenumbers  # noqa: PLC0415 (heavy: its region metadata; only when a region setting is given)

    code = value.strip().upper()
    if code not in phonenumbers.SUPPORTED_REGIONS:
        raise ValueError(f"{value.strip()!r} is not an ISO 3166 country code phonenumbers knows (e.g. US, IN, GB)")
    return code
