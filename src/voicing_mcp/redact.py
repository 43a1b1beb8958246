"""Masking for logs: phone numbers are never logged in full, secrets never at all."""

from __future__ import annotations

import re

_DIGITS = re.compile(r"\d")


def mask_number(number: str) -> str:
    """``+17018112582`` → ``+1 701 ••• ••82``: country code and area kept, the rest hidden but the last two."""
    raw = "".join(ch for ch in number if ch.isdigit())
    if not raw:
        return "•••"
    if number.strip().startswith("+") and len(raw) >= 8:
        cc_len = 1 if raw[0] in "17" else 2
        cc, rest = raw[:cc_len], raw[cc_len:]
        head, tail = rest[:3], rest[-2:]
        hidden = len(rest) - len(head) - len(tail)
        masked = "•" * hidden
        return f"+{cc} {head} {masked[:3]} {masked[3:]}{tail}".replace("  ", " ")
    return "•" * max(len(raw) - 2, 1) + raw[-2:]
