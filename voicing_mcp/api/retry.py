"""The retry rules of the API client, in one place, as small pure functions.

- Reads (call details, list, bulk) are retried at most ``max_retries`` times on connection
  errors and timeouts, and on HTTP 408, 429 and 5xx.
- The dial POST (``publish-outbound-call``) is retried only when the request provably never
  left this machine: ``httpx.ConnectError``, ``httpx.ConnectTimeout``, ``httpx.PoolTimeout``.
  Any other failure without an answer (read/write timeout, reset, protocol error) means the
  server may have dialled: the outcome is unknown and the POST is never resent. An HTTP
  error status on a dial is final too: the API has no idempotency key.
- What an error answer to the dial *means* (:func:`dial_rejected`): only a refusal the API documents
  (a standard 4xx other than 408, or the vendor's documented 500 body ``Failed to publish outbound
  call``) proves that no call was placed. Every other status (other 5xx, 408, 499 and other
  non-standard codes, a 3xx, a 2xx without a call_id) may come from a gateway that already passed the
  POST on: the outcome is unknown.
- Waits grow exponentially with jitter; a ``Retry-After`` header (seconds or an HTTP date)
  wins, capped at :data:`MAX_RETRY_AFTER` seconds.
"""

from __future__ import annotations

import enum
import math
import random
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, Literal

RequestKind = Literal["read", "dial"]

#: HTTP statuses after which a read is retried (plus every 5xx).
RETRYABLE_STATUSES: frozenset[int] = frozenset({408, 429})
#: the longest wait honoured from a ``Retry-After`` header, in seconds.
MAX_RETRY_AFTER = 60.0
#: first backoff step in seconds; doubles per retry, capped at :data:`MAX_BACKOFF`.
BACKOFF_BASE = 0.25
MAX_BACKOFF = 8.0

#: the standard 4xx statuses (RFC 9110, 6585, 7725, 8470): the server refused the request without acting on
#: it. 408 is not one: the server (or a gateway) gave up reading, and a gateway may already have passed the
#: request on. Non-standard 4xx (nginx's 499 "client closed", 444, AWS's 460…) are no proof either.
DIAL_REJECTION_STATUSES: frozenset[int] = frozenset(
    {
        400,
        401,
        402,
        403,
        404,
        405,
        406,
        407,
        409,
        410,
        411,
        412,
        413,
        414,
        415,
        416,
        417,
        421,
        422,
        423,
        424,
        425,
        426,
        428,
        429,
        431,
        451,
    }
)
#: the ``detail`` texts of a 500 answer to the dial that the vendor documents as failing before the call
#: is placed. Only "Failed to publish outbound call" has a documented text (the publish step hands the
#: call to the dialler: when it fails nothing rings). The other documented 500 causes (token verification,
#: assistant fetch, database save) have no documented text, so their answers cannot be recognised.
DIAL_FAILURE_DETAILS: frozenset[str] = frozenset({"Failed to publish outbound call"})


class Decision(enum.Enum):
    """What to do after one failed attempt."""

    RETRY = "retry"
    """send the request again after :func:`backoff_delay`"""
    GIVE_UP = "give_up"
    """raise the mapped error (status error, connection error)"""
    OUTCOME_UNKNOWN = "outcome_unknown"
    """a dial may have reached the server: raise ``OutcomeUnknownError``, never resend"""


def request_never_left(error: BaseException) -> bool:
    """True when the transport error proves that no byte of the request reached the server."""
    import httpx  # noqa: PLC0415 (httpx ~30-40 ms with pygments/rich: on the first API request, not at start)

    never_left: tuple[type[Exception], ...] = (
        httpx.ConnectError,
        httpx.ConnectTimeout,
        httpx.PoolTimeout,
        httpx.UnsupportedProtocol,  # raised by the connection pool before it opens a connection
    )
    return isinstance(error, never_left)


def dial_rejected(status_code: int, body: Any) -> bool:
    """True when an error answer to the dial POST proves that the call was NOT placed.

    ``body`` is the decoded JSON body (None when it was not JSON). Only a standard 4xx other than 408, or a
    500 whose body is exactly the vendor's documented ``{"detail": "Failed to publish outbound call"}``.
    Everything else (any other 5xx, 408, 499, a 500 with an HTML page or another text, 3xx, 2xx) may have
    been answered by a gateway after it passed the POST on, so the call may be ringing.
    """
    if status_code in DIAL_REJECTION_STATUSES:
        return True
    if status_code == 500 and isinstance(body, dict):
        detail: Any = body.get("detail")  # pyright: ignore[reportUnknownMemberType]
        return isinstance(detail, str) and detail.strip() in DIAL_FAILURE_DETAILS
    return False


def is_retryable_status(status_code: int) -> bool:
    return status_code in RETRYABLE_STATUSES or 500 <= status_code <= 599


def decide(
    kind: RequestKind,
    *,
    retries_done: int,
    max_retries: int,
    status_code: int | None = None,
    error: BaseException | None = None,
) -> Decision:
    """Decide after a failed attempt: either an HTTP error ``status_code`` or a transport ``error``.

    ``retries_done`` counts the retries already made (0 after the first attempt).
    """
    budget_left = retries_done < max_retries
    if error is not None:
        if kind == "dial" and not request_never_left(error):
            return Decision.OUTCOME_UNKNOWN
        return Decision.RETRY if budget_left else Decision.GIVE_UP
    if status_code is None:
        raise ValueError("decide() needs a status_code or an error")
    if kind == "dial":
        return Decision.GIVE_UP
    return Decision.RETRY if budget_left and is_retryable_status(status_code) else Decision.GIVE_UP


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """``Retry-After`` as seconds to wait: a number of seconds or an HTTP date. None if absent or unreadable."""
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    try:
        seconds = float(text)
    except ValueError:
        pass
    else:
        if not math.isfinite(seconds) or seconds < 0:  # NaN, infinite or negative
            return None
        return seconds
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    current = now if now is not None else datetime.now(UTC)
    return max(0.0, (when - current).total_seconds())


def backoff_delay(retries_done: int, *, retry_after: float | None, rng: random.Random) -> float:
    """Seconds to wait before retry number ``retries_done + 1``.

    ``Retry-After`` wins (capped at :data:`MAX_RETRY_AFTER`); otherwise exponential backoff with
    "equal jitter": half the step fixed, half random, so concurrent clients spread out.
    """
    if retry_after is not None:
        return min(max(retry_after, 0.0), MAX_RETRY_AFTER)
    step = min(BACKOFF_BASE * (2**retries_done), MAX_BACKOFF)
    return step / 2 + rng.uniform(0, step / 2)
