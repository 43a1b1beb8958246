"""The retry decision and the backoff, as pure functions (voicing_mcp.api.retry)."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from voicing_mcp.api.retry import (
    MAX_BACKOFF,
    MAX_RETRY_AFTER,
    Decision,
    backoff_delay,
    decide,
    dial_rejected,
    parse_retry_after,
    request_never_left,
)

_REQ = httpx.Request("POST", "https://api.example.test/x")
NEVER_LEFT = [
    httpx.ConnectError("x", request=_REQ),
    httpx.ConnectTimeout("x"),
    httpx.PoolTimeout("x"),
    httpx.UnsupportedProtocol("x"),
]
MAY_HAVE_LEFT = [
    httpx.ReadTimeout("x"),
    httpx.WriteTimeout("x"),
    httpx.ReadError("x"),
    httpx.WriteError("x"),
    httpx.RemoteProtocolError("x"),
    httpx.DecodingError("x"),
]


@pytest.mark.parametrize("error", NEVER_LEFT, ids=lambda e: type(e).__name__)
def test_a_dial_that_never_left_is_retried_while_budget_remains(error: Exception) -> None:
    assert request_never_left(error)
    assert decide("dial", retries_done=0, max_retries=2, error=error) is Decision.RETRY
    assert decide("dial", retries_done=1, max_retries=2, error=error) is Decision.RETRY
    assert decide("dial", retries_done=2, max_retries=2, error=error) is Decision.GIVE_UP


@pytest.mark.parametrize("error", MAY_HAVE_LEFT, ids=lambda e: type(e).__name__)
def test_a_dial_that_may_have_left_is_outcome_unknown_even_with_budget(error: Exception) -> None:
    assert not request_never_left(error)
    assert decide("dial", retries_done=0, max_retries=5, error=error) is Decision.OUTCOME_UNKNOWN


@pytest.mark.parametrize("status", [400, 401, 404, 408, 422, 429, 500, 502, 503, 504])
def test_a_dial_with_any_error_status_is_never_retried(status: int) -> None:
    assert decide("dial", retries_done=0, max_retries=2, status_code=status) is Decision.GIVE_UP


@pytest.mark.parametrize("error", NEVER_LEFT + MAY_HAVE_LEFT, ids=lambda e: type(e).__name__)
def test_a_read_is_retried_on_any_transport_error_until_the_budget_is_spent(error: Exception) -> None:
    assert decide("read", retries_done=0, max_retries=2, error=error) is Decision.RETRY
    assert decide("read", retries_done=2, max_retries=2, error=error) is Decision.GIVE_UP


@pytest.mark.parametrize(
    ("status", "retried"),
    [(408, True), (429, True), (500, True), (503, True), (599, True), (400, False), (401, False), (422, False)],
)
def test_a_read_is_retried_only_on_408_429_and_5xx(status: int, retried: bool) -> None:
    expected = Decision.RETRY if retried else Decision.GIVE_UP
    assert decide("read", retries_done=0, max_retries=2, status_code=status) is expected
    assert decide("read", retries_done=2, max_retries=2, status_code=status) is Decision.GIVE_UP


def test_no_retries_at_all_when_max_retries_is_zero() -> None:
    assert decide("read", retries_done=0, max_retries=0, status_code=503) is Decision.GIVE_UP
    assert decide("dial", retries_done=0, max_retries=0, error=NEVER_LEFT[0]) is Decision.GIVE_UP


def test_retry_after_reads_seconds_and_http_dates() -> None:
    now = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
    assert parse_retry_after("1", now=now) == 1.0
    assert parse_retry_after(" 2.5 ", now=now) == 2.5
    assert parse_retry_after("Thu, 01 Jan 2026 12:00:30 GMT", now=now) == 30.0
    assert parse_retry_after("Thu, 01 Jan 2026 11:00:00 GMT", now=now) == 0.0  # in the past: now
    for unreadable in (None, "", "soon", "-3", "nan", "inf", "1e400"):
        assert parse_retry_after(unreadable, now=now) is None


def test_retry_after_wins_over_backoff_and_is_capped_at_sixty_seconds() -> None:
    rng = random.Random(1)
    assert backoff_delay(0, retry_after=1.0, rng=rng) == 1.0
    assert backoff_delay(3, retry_after=0.0, rng=rng) == 0.0
    assert backoff_delay(0, retry_after=3600.0, rng=rng) == MAX_RETRY_AFTER


@given(retries_done=st.integers(min_value=0, max_value=40), seed=st.integers())
def test_backoff_grows_exponentially_with_jitter_and_stays_bounded(retries_done: int, seed: int) -> None:
    delay = backoff_delay(retries_done, retry_after=None, rng=random.Random(seed))
    step = min(0.25 * 2**retries_done, MAX_BACKOFF)
    assert step / 2 <= delay <= step


def test_backoff_jitter_spreads_concurrent_clients() -> None:
    delays = {backoff_delay(1, retry_after=None, rng=random.Random(seed)) for seed in range(20)}
    assert len(delays) > 1


@pytest.mark.parametrize(
    ("status", "body", "rejected"),
    [
        (400, None, True),
        (401, {"detail": "Invalid API token"}, True),
        (404, None, True),
        (422, None, True),
        (429, None, True),
        (500, {"detail": "Failed to publish outbound call"}, True),
        (500, {"detail": " Failed to publish outbound call "}, True),
        (500, {"detail": "failed to publish outbound call, then the database save failed"}, False),
        (500, {"detail": "Internal server error"}, False),
        (500, {"message": "Failed to publish outbound call"}, False),
        (500, None, False),
        (502, None, False),
        (503, {"detail": "Failed to publish outbound call"}, False),
        (504, None, False),
        (520, None, False),
        (524, None, False),
        (530, None, False),
        (408, None, False),
        (499, None, False),
        (460, None, False),
        (307, None, False),
        (200, {"success": False}, False),
    ],
)
def test_only_a_documented_rejection_proves_a_dial_placed_no_call(status: int, body: object, rejected: bool) -> None:
    assert dial_rejected(status, body) is rejected
