"""Unit tests of the one error mapping (``tool_error``): what the model reads for each API failure.

The API answers come from ``httpx.MockTransport`` here — only to produce exact status codes,
headers and bodies; the same paths run against the real emulator in tests/server/test_tools.py.
"""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from voicing_mcp.api.client import VoicingClient
from voicing_mcp.errors import ChatError, ConfigError, GuardRefusal, VoicingError, status_error_for
from voicing_mcp.server.tools import fetch_call, tool_error

KEY = "sk-test-4f1c9e0b7a"


async def mapped(handler: Callable[[httpx.Request], httpx.Response], call_id: str = "c-1") -> str:
    """Fetch one call through a client whose transport answers with ``handler``; return the model's text."""
    async with VoicingClient(
        base_url="https://api.example.test", api_key=KEY, max_retries=0, transport=httpx.MockTransport(handler)
    ) as client:
        with pytest.raises(VoicingError) as caught:
            await fetch_call(client, call_id)
    return str(tool_error(caught.value, secret=KEY, subject=f"call {call_id!r}"))


async def test_a_rejected_key_says_so_and_never_shows_the_key_even_if_the_api_echoes_it() -> None:
    text = await mapped(lambda r: httpx.Response(401, json={"detail": f"Invalid API token {r.headers['x-api-key']}"}))
    assert "rejected the API key" in text and "HTTP 401" in text and "VOICING_API_KEY" in text
    assert KEY not in text and "[redacted]" in text


async def test_a_missing_call_says_not_found_with_the_api_detail() -> None:
    text = await mapped(lambda r: httpx.Response(404, json={"detail": "Call with ID c-1 not found"}))
    assert text.startswith("call 'c-1' not found (HTTP 404: Call with ID c-1 not found)")


async def test_rate_limiting_says_when_to_retry() -> None:
    text = await mapped(
        lambda r: httpx.Response(429, json={"detail": "Too many requests"}, headers={"Retry-After": "7"})
    )
    assert "HTTP 429: Too many requests" in text and "retry after 7 s" in text


async def test_a_rejected_value_keeps_status_and_detail() -> None:
    text = await mapped(lambda r: httpx.Response(422, json={"detail": "limit must be at most 100"}))
    assert "HTTP 422: limit must be at most 100" in text and "correct the argument" in text


async def test_a_server_failure_keeps_status_detail_and_request_id() -> None:
    text = await mapped(
        lambda r: httpx.Response(503, json={"detail": "Service unavailable"}, headers={"x-request-id": "req-42"})
    )
    assert "HTTP 503: Service unavailable" in text and "try again later" in text and "req-42" in text


async def test_a_timeout_says_the_api_did_not_answer_in_time() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    text = await mapped(handler)
    assert "did not answer" in text and "in time" in text and "try again" in text


async def test_a_non_json_error_body_still_gives_the_status() -> None:
    text = await mapped(lambda r: httpx.Response(502, text="<html>Bad gateway</html>"))
    assert "HTTP 502" in text and "Traceback" not in text


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (ChatError("unknown assistant a-1 (close code 4404)", close_code=4404), "assistant 'a-1' not found"),
        (ChatError("the chatbot rejected the API key (close code 4401)", close_code=4401), "rejected the API key"),
        (ChatError("no reply from the chatbot within 30 s"), "omit conversation_id to start a new one"),
        (GuardRefusal("quiet hours in the callee's time zone", rule="quiet_hours"), "quiet hours"),
        (ConfigError(f"VOICING_API_KEY: {KEY} is malformed"), "VOICING_API_KEY: [redacted] is malformed"),
    ],
)
def test_other_errors_keep_their_own_words_without_the_key(error: VoicingError, expected: str) -> None:
    text = str(tool_error(error, secret=KEY, subject="assistant 'a-1'"))
    assert expected in text and KEY not in text


def test_a_missing_assistant_points_to_the_assistants_resource() -> None:
    error = status_error_for(404, detail="Assistant with ID a-9 not found")
    text = str(tool_error(error, subject="assistant 'a-9'"))
    assert text.startswith("assistant 'a-9' not found (HTTP 404: Assistant with ID a-9 not found)")
    assert "voicing://assistants" in text
