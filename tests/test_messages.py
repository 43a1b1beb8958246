"""messages.py: the one place the model's text is written, from the data an exception carries."""

from __future__ import annotations

import pytest

from voicing_mcp.errors import (
    APIStatusError,
    AuthenticationError,
    GuardRefusal,
    NotFoundError,
    RateLimitError,
    status_error_for,
)
from voicing_mcp.messages import describe, refusal

KEY = "sk-live-7f3a9c0d1e2b4a6f8e0c"


def test_a_refusal_carries_its_rule_reason_and_fields_and_its_text_is_written_from_them() -> None:
    exc = refusal("rate-limit", count=31, max_per_hour=30)
    assert isinstance(exc, GuardRefusal)
    assert (exc.rule, exc.reason, exc.fields) == ("rate-limit", "rate-limit", {"count": 31, "max_per_hour": 30})
    assert "31 dials in the last hour" in exc.message and "VOICING_MAX_CALLS_PER_HOUR is 30" in exc.message


def test_a_reason_within_a_rule_is_refused_under_the_rule() -> None:
    exc = refusal("number-no-digits", raw="call me")
    assert exc.rule == "number" and exc.reason == "number-no-digits"
    assert describe(exc).startswith("refused by the dial guard [number]: ")


def test_an_unknown_reason_is_a_programming_error_not_a_silent_message() -> None:
    with pytest.raises(KeyError):
        refusal("no-such-reason")


def test_describe_names_the_rule_once_and_says_nothing_was_dialled() -> None:
    text = describe(refusal("rate-limit", count=31, max_per_hour=30))
    assert text.startswith("refused by the dial guard [rate-limit]: 31 dials") and text.endswith("Nothing was dialled.")
    assert "[rate-limit]: rate limit:" not in text  # the label that repeats the rule is dropped


def test_a_not_found_names_what_was_asked_for() -> None:
    text = describe(NotFoundError("404", status_code=404, detail="Call not found"), subject="call 'abc'")
    assert "call 'abc'" in text and "not found" in text


def test_a_rate_limit_says_when_to_retry_and_quotes_the_api() -> None:
    timed = describe(RateLimitError("429", status_code=429, detail="slow down", retry_after=12))
    untimed = describe(RateLimitError("429", status_code=429, detail=None))
    assert "HTTP 429: slow down" in timed and "retry after 12 s" in timed
    assert "too many requests" in untimed and "wait a little and retry" in untimed


@pytest.mark.parametrize(
    ("status", "advice"),
    [(503, "failed on its side; try again later"), (422, "correct the argument"), (400, "correct the argument")],
)
def test_an_api_error_status_says_whose_side_failed_and_what_to_do(status: int, advice: str) -> None:
    text = describe(status_error_for(status, detail="limit: too big", request_id="req-42"))
    assert f"HTTP {status}: limit: too big" in text and advice in text and "req-42" in text


def test_the_key_never_survives_describe_whatever_the_api_echoed_and_the_text_is_one_line() -> None:
    echoed = APIStatusError("500", status_code=500, detail=f"bad key {KEY}\nsecond line")
    rejected = AuthenticationError("401", status_code=401, detail=f"key {KEY} rejected")
    for exc in (echoed, rejected):
        text = describe(exc, secret=KEY)
        assert KEY not in text and "\n" not in text


def test_an_exception_without_text_still_gets_a_sentence() -> None:
    assert describe(RuntimeError()) == "unexpected RuntimeError"
    assert describe(ValueError("plain words")) == "plain words"


def test_a_rate_limit_of_zero_says_no_number_is_dialled_not_to_wait() -> None:
    text = describe(refusal("rate-limit", count=0, max_per_hour=0))
    assert "VOICING_MAX_CALLS_PER_HOUR is 0, so this server dials no number" in text and "wait" not in text
