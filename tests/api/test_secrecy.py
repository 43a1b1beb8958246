"""The API key never leaves the client (api/secrecy.py): a key a header cannot carry is refused without being
quoted, answers are cleaned of the key in every string, and errors leaving the client carry no trace of it."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import pytest
from pydantic import SecretStr

from voicing_mcp.api.client import VoicingClient
from voicing_mcp.api.secrecy import checked_key, scrub_error, without_key
from voicing_mcp.errors import APIError, BadRequestError, InvalidRequestError
from voicing_mcp.redact import REDACTED

KEY = "sk-live/Ab+9xYz=0123"


def test_the_client_refuses_a_key_an_http_header_cannot_carry_without_quoting_it() -> None:
    with pytest.raises(InvalidRequestError) as info:
        VoicingClient(base_url="http://127.0.0.1:1", api_key="key-\n-0123")
    assert "key-" not in str(info.value) and "0123" not in str(info.value)


@pytest.mark.parametrize("key", ["with space-0123", "tab\t0123", "bell\x070123", "nbsp\u00a00123", "zwsp-0123\u2028"])
def test_a_key_with_a_space_or_control_character_is_refused_and_not_shown(key: str) -> None:
    with pytest.raises(InvalidRequestError) as info:
        checked_key(key)
    assert "0123" not in str(info.value)
    assert "not shown" in str(info.value)


def test_a_plain_key_comes_back_as_a_secret_whether_given_as_text_or_as_a_secret() -> None:
    from_text = checked_key(KEY)
    assert isinstance(from_text, SecretStr)
    assert from_text.get_secret_value() == KEY
    assert KEY not in repr(from_text)
    given = SecretStr(KEY)
    assert checked_key(given) is given


def test_an_answer_without_the_key_is_returned_as_it_came() -> None:
    body = {"call_id": "c-1", "transcript": [{"text": "hello"}], "cost": 1.5}
    assert without_key(body, KEY) is body
    assert without_key(None, KEY) is None


def test_the_key_is_removed_from_every_string_of_an_answer_in_every_spelling_and_the_rest_is_kept() -> None:
    body: dict[str, Any] = {
        "call_id": "c-1",
        "echo": {"headers": {"x-api-key": KEY}},
        "notes": [f"url=?key={quote(KEY, safe='')}", "plain text"],
        "cost": 2,
    }
    cleaned = without_key(body, KEY)
    assert cleaned == {
        "call_id": "c-1",
        "echo": {"headers": {"x-api-key": REDACTED}},
        "notes": [f"url=?key={REDACTED}", "plain text"],
        "cost": 2,
    }
    assert body["echo"]["headers"]["x-api-key"] == KEY  # the caller's value is not changed in place


def test_an_answer_nested_too_deep_to_check_for_the_key_is_refused_whole() -> None:
    body: Any = KEY
    for _ in range(100_000):
        body = [body]
    with pytest.raises(APIError, match="nested too deep to be checked for the API key"):
        without_key(body, KEY)


def test_an_error_leaving_the_client_has_the_key_removed_from_message_detail_body_and_url() -> None:
    exc = BadRequestError(
        f"HTTP 400: bad key {KEY}",
        status_code=400,
        detail=f"key {KEY} is not valid",
        body={"echo": [KEY, "kept"]},
        url=f"https://api.example/x?k={quote(KEY, safe='')}",
    )
    scrub_error(exc, KEY)
    assert exc.message == f"HTTP 400: bad key {REDACTED}"
    assert exc.args == (exc.message,)
    assert str(exc) == exc.message
    assert exc.detail == f"key {REDACTED} is not valid"
    assert exc.body == {"echo": [REDACTED, "kept"]}
    assert exc.url == f"https://api.example/x?k={REDACTED}"


def test_an_error_body_too_deep_to_clean_is_dropped_rather_than_kept_with_the_key() -> None:
    body: Any = KEY
    for _ in range(100_000):
        body = [body]
    exc = BadRequestError("HTTP 400", status_code=400, body=body)
    scrub_error(exc, KEY)
    assert exc.body is None
