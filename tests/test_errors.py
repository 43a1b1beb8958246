"""Error mapping: HTTP statuses and transport failures become the classes of errors.py.

These are unit tests of the mapping, so they use ``httpx.MockTransport``; the behaviour against
a real server is in tests/api/test_client.py.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import httpx
import pytest

from voicing_mcp.api.client import VoicingClient
from voicing_mcp.api.models import OutboundCallRequest
from voicing_mcp.errors import (
    APIConnectionError,
    APIError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    InvalidRequestError,
    NotFoundError,
    OutcomeUnknownError,
    RateLimitError,
    ServerError,
    UnprocessableError,
    VoicingError,
    status_error_for,
)
from voicing_mcp.messages import describe

KEY = "sk-test-very-secret-0123456789"
REQ = OutboundCallRequest(assistant_id="a-1", phone_number="+15555550100", input_variables={"name": "Ann"})

Handler = Callable[[httpx.Request], httpx.Response]


def _client(handler: Handler, *, max_retries: int = 0) -> VoicingClient:
    return VoicingClient(
        base_url="https://api.example.test",
        api_key=KEY,
        max_retries=max_retries,
        transport=httpx.MockTransport(handler),
    )


def _answer(
    status: int, body: Any = None, *, headers: dict[str, str] | None = None, text: str | None = None
) -> Handler:
    def handler(request: httpx.Request) -> httpx.Response:
        if text is not None:
            return httpx.Response(status, text=text, headers=headers)
        return httpx.Response(status, json=body, headers=headers)

    return handler


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, BadRequestError),
        (401, AuthenticationError),
        (404, NotFoundError),
        (422, UnprocessableError),
        (429, RateLimitError),
        (500, ServerError),
        (502, ServerError),
        (503, ServerError),
        (418, APIStatusError),
    ],
)
async def test_each_status_class_maps_to_its_error_and_keeps_the_api_detail(
    status: int, cls: type[APIStatusError]
) -> None:
    detail = f"the API's own words for {status}"
    async with _client(_answer(status, {"detail": detail})) as client:
        with pytest.raises(cls) as info:
            await client.list_calls()
    err = info.value
    assert type(err) is cls
    assert err.status_code == status
    assert err.detail == detail
    assert detail in str(err)
    assert err.method == "GET"
    assert err.url is not None and "/api/v1/campaigns/get-call-details" in err.url


async def test_the_request_id_header_is_kept_and_named_in_the_message() -> None:
    handler = _answer(500, {"detail": "Failed to publish outbound call"}, headers={"x-request-id": "req-42"})
    async with _client(handler) as client:
        with pytest.raises(ServerError) as info:
            await client.initiate_outbound_call(REQ)
    assert info.value.request_id == "req-42"
    assert "req-42" in str(info.value)
    assert "Failed to publish outbound call" in str(info.value)


async def test_retry_after_in_seconds_is_parsed_onto_the_rate_limit_error() -> None:
    async with _client(_answer(429, {"detail": "slow down"}, headers={"Retry-After": "7"})) as client:
        with pytest.raises(RateLimitError) as info:
            await client.get_call_details("c-1")
    assert info.value.retry_after == 7.0
    assert info.value.detail == "slow down"


async def test_retry_after_as_an_http_date_is_parsed_to_seconds() -> None:
    when = datetime.now(UTC) + timedelta(seconds=30)
    async with _client(
        _answer(429, {"detail": "later"}, headers={"Retry-After": format_datetime(when, usegmt=True)})
    ) as client:
        with pytest.raises(RateLimitError) as info:
            await client.list_calls()
    assert info.value.retry_after is not None
    assert 25 <= info.value.retry_after <= 31


async def test_a_non_json_error_body_becomes_the_detail_text() -> None:
    async with _client(_answer(502, text="<html>Bad Gateway</html>")) as client:
        with pytest.raises(ServerError) as info:
            await client.list_calls()
    assert info.value.detail == "<html>Bad Gateway</html>"
    assert "Bad Gateway" in str(info.value)


async def test_fastapi_style_validation_errors_are_flattened_into_the_detail() -> None:
    body = {"detail": [{"loc": ["query", "limit"], "msg": "Input should be less than or equal to 100"}]}
    async with _client(_answer(422, body)) as client:
        with pytest.raises(UnprocessableError) as info:
            await client.list_calls()
    assert info.value.detail == "query.limit: Input should be less than or equal to 100"


async def test_a_non_json_success_body_is_a_clear_api_error_not_a_parser_traceback() -> None:
    async with _client(_answer(200, text="<html>maintenance</html>")) as client:
        with pytest.raises(APIError) as info:
            await client.list_calls()
    assert type(info.value) is APIError
    assert "not JSON" in str(info.value)
    assert info.value.__cause__ is None


async def test_a_call_with_an_unreadable_duration_is_read_without_it() -> None:
    """(It was an APIError naming the field; one such record then made a whole list page unreadable.)"""
    async with _client(_answer(200, {"success": True, "call_id": "c-1", "duration": "long"})) as client:
        call = await client.get_call_details("c-1")
    assert call.call_id == "c-1" and call.duration is None


async def test_a_malformed_call_is_a_clear_api_error_naming_the_field() -> None:
    async with _client(_answer(200, {"success": True, "call_id": {"id": "c-1"}})) as client:
        with pytest.raises(APIError) as info:
            await client.get_call_details("c-1")
    assert "call_id" in str(info.value)
    assert "could not be read" in str(info.value)


async def test_success_false_on_a_list_is_an_error_with_the_api_message() -> None:
    async with _client(_answer(200, {"success": False, "message": "filters not supported"})) as client:
        with pytest.raises(APIStatusError) as info:
            await client.list_calls(filters={"campaign": "x"})
    assert "filters not supported" in str(info.value)
    assert info.value.status_code == 200


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (404, {"detail": "Call with ID ghost not found"}),
        (200, {"success": False, "detail": "no such call"}),
        (200, {"success": True, "data": []}),
        (200, {"success": True, "data": None}),
        (200, {}),
        (200, []),
    ],
)
async def test_an_unknown_call_id_is_not_found_however_the_api_says_it(status: int, body: Any) -> None:
    async with _client(_answer(status, body)) as client:
        with pytest.raises(NotFoundError) as info:
            await client.get_call_details("ghost")
    assert str(info.value).startswith("call ghost not found")


async def test_a_details_answer_listing_other_calls_only_is_not_found() -> None:
    body = {"data": [{"call_id": "other-1"}, {"call_id": "other-2"}], "total": 2}
    async with _client(_answer(200, body)) as client:
        with pytest.raises(NotFoundError):
            await client.get_call_details("ghost")


async def test_a_details_answer_wrapped_in_data_is_unwrapped() -> None:
    body = {"success": True, "data": {"call_id": "c-9", "status": "ringing", "agent": "x"}}
    async with _client(_answer(200, body)) as client:
        call = await client.get_call_details("c-9")
    assert call.call_id == "c-9"
    assert call.status == "ringing"
    assert call.extra_fields() == {"agent": "x"}


def _raiser(exc_type: type[httpx.RequestError], calls: list[httpx.Request]) -> Handler:
    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        raise exc_type("boom", request=request)

    return handler


@pytest.mark.parametrize(
    "exc_type", [httpx.ReadTimeout, httpx.WriteTimeout, httpx.ReadError, httpx.RemoteProtocolError]
)
async def test_a_dial_without_an_answer_is_outcome_unknown_and_sent_once(exc_type: type[httpx.RequestError]) -> None:
    calls: list[httpx.Request] = []
    async with _client(_raiser(exc_type, calls), max_retries=2) as client:
        with pytest.raises(OutcomeUnknownError) as info:
            await client.initiate_outbound_call(REQ)
    assert len(calls) == 1
    message = str(info.value)
    assert "may be ringing" in message
    assert "get_call_details" in message and "list_calls" in message
    assert "NOT retried" in message


@pytest.mark.parametrize("exc_type", [httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout])
async def test_a_dial_that_provably_never_left_is_retried_then_fails_as_a_connection_error(
    exc_type: type[httpx.RequestError],
) -> None:
    calls: list[httpx.Request] = []
    async with _client(_raiser(exc_type, calls), max_retries=2) as client:
        with pytest.raises(APIConnectionError) as info:
            await client.initiate_outbound_call(REQ)
    assert len(calls) == 3
    assert not isinstance(info.value, OutcomeUnknownError)
    assert isinstance(info.value, APITimeoutError) == issubclass(exc_type, httpx.TimeoutException)
    assert "3 attempts" in str(info.value)


@pytest.mark.parametrize("status", [429, 500, 503])
async def test_a_dial_that_got_an_error_status_is_never_retried(status: int) -> None:
    calls: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return httpx.Response(status, json={"detail": "nope"}, headers={"Retry-After": "0"})

    async with _client(handler, max_retries=2) as client:
        with pytest.raises(APIStatusError if status == 429 else OutcomeUnknownError) as info:
            await client.initiate_outbound_call(REQ)
    assert len(calls) == 1
    assert getattr(info.value, "status_code", None) == status


@pytest.mark.parametrize(
    ("status", "body", "rejected"),
    [
        (400, {"detail": "Error fetching assistant: boom"}, True),
        (401, {"detail": "Invalid API token"}, True),
        (404, {"detail": "Assistant with ID x not found"}, True),
        (422, {"detail": [{"loc": ["body", "phone_number"], "msg": "field required"}]}, True),
        (429, {"detail": "Too many requests"}, True),
        (500, {"detail": "Failed to publish outbound call"}, True),
        (500, {"detail": "Internal server error"}, False),
        (500, "<html>500 Internal Server Error</html>", False),
        (408, {"detail": "Request Timeout"}, False),
        (499, None, False),
        (503, {"detail": "Service temporarily unavailable"}, False),
        (520, "<html>Web server is returning an unknown error</html>", False),
        (524, "<html>A timeout occurred</html>", False),
        (530, None, False),
        (307, None, False),
    ],
)
async def test_only_a_documented_rejection_of_the_dial_is_a_definite_failure(
    status: int, body: Any, rejected: bool
) -> None:
    calls: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        headers = {"Retry-After": "0", "location": "https://elsewhere.example.test/"}
        if isinstance(body, str):
            return httpx.Response(status, text=body, headers=headers)
        return httpx.Response(status, json=body, headers=headers) if body is not None else httpx.Response(status)

    async with _client(handler, max_retries=2) as client:
        with pytest.raises(APIError) as info:
            await client.initiate_outbound_call(REQ)
    assert len(calls) == 1
    assert isinstance(info.value, OutcomeUnknownError) is not rejected
    assert isinstance(info.value, APIStatusError) is rejected
    if not rejected:
        assert f"HTTP {status}" in str(info.value) and "may be ringing" in str(info.value)
        assert "try again" not in str(info.value).lower()


@pytest.mark.parametrize(
    "body",
    [
        {"status": "success", "message": "Outbound call started successfully"},
        None,
    ],
)
async def test_a_dial_answered_without_a_call_id_is_outcome_unknown(body: Any) -> None:
    handler = _answer(200, text="") if body is None else _answer(200, body)
    async with _client(handler) as client:
        with pytest.raises(OutcomeUnknownError) as info:
            await client.initiate_outbound_call(REQ)
    assert "may be ringing" in str(info.value)


async def test_a_dial_answered_200_with_success_false_is_outcome_unknown() -> None:
    """A 2xx means the API handled the POST; a failure reported inside it is undocumented and may come after
    the call was handed to the dialler, so it is no proof that nothing rings."""
    async with _client(_answer(200, {"success": False, "detail": "provider down"})) as client:
        with pytest.raises(OutcomeUnknownError) as info:
            await client.initiate_outbound_call(REQ)
    assert "provider down" in str(info.value) and info.value.status_code == 200


async def test_the_api_key_never_appears_in_errors_or_reprs() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        assert request.headers["x-api-key"] == KEY
        return httpx.Response(401, json={"detail": "Invalid API token"})

    async with _client(handler) as client:
        assert KEY not in repr(client)
        assert KEY not in repr(vars(client))
        with pytest.raises(AuthenticationError) as info:
            await client.list_calls()
    err = info.value
    for text in (str(err), repr(err), repr(vars(err)), json.dumps(err.body), describe(err)):
        assert KEY not in text
    # the exception carries the data; the advice is written once, by describe()
    assert "VOICING_API_KEY" in describe(err)


async def test_invalid_arguments_are_refused_before_anything_is_sent() -> None:
    calls: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return httpx.Response(200, json={})

    async with _client(handler) as client:
        for bad in (
            client.get_call_details(""),
            client.get_call_details("   "),
            client.list_calls(page=0),
            client.list_calls(limit=0),
            client.list_calls(limit=101),
            client.list_calls(filters={"page": "2"}),
            client.bulk_call_details(["ok", ""]),
            client.initiate_outbound_call(OutboundCallRequest.model_construct(assistant_id="", phone_number="+1")),
        ):
            with pytest.raises(InvalidRequestError):
                await bad
    assert calls == []


def test_status_error_for_builds_a_rate_limit_error_with_its_hint() -> None:
    err = status_error_for(429, detail=None, retry_after=3.0)
    assert isinstance(err, RateLimitError)
    assert err.retry_after == 3.0
    assert str(err) == "HTTP 429: too many requests"
    assert describe(err) == "rate limited by the Voicing API (HTTP 429: too many requests); retry after 3 s"
    assert isinstance(err, VoicingError)
