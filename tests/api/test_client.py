"""The API client against the emulator served by uvicorn on 127.0.0.1 (real loopback HTTP).

Faults are added from the client side by a test-only transport that wraps httpx's real one
and adds ``x-emulator-fault`` headers; the public client surface has no fault knob.
"""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from voicing_mcp import __version__
from voicing_mcp.api.client import VoicingClient
from voicing_mcp.api.models import OutboundCallRequest
from voicing_mcp.emulator.runner import RunningEmulator
from voicing_mcp.emulator.state import EmulatorConfig
from voicing_mcp.errors import (
    APIConnectionError,
    AuthenticationError,
    BadRequestError,
    InvalidRequestError,
    NotFoundError,
    OutcomeUnknownError,
    RateLimitError,
    ServerError,
    UnprocessableError,
)

KEY = "emulator-key-not-to-be-leaked-7f3a"
BILLING = "019addcc-b878-7b10-85f1-49f21342f947"  # prompt: Hi {{name}}, your {{plan_type}} plan payment is pending.
COURTESY = "019addcc-0000-7000-8000-000000000001"  # no variables
DIAL_PATH = "/api/v1/campaigns/publish-outbound-call"
DETAILS_PATH = "/api/v1/campaigns/get-call-details"
BULK_PATH = "/api/v1/campaigns/get-call-details/bulk-by-ids"
SEEDED = 300


def _dial_request(number: str = "+17015550100", assistant: str = BILLING) -> OutboundCallRequest:
    variables: dict[str, str | int | float | bool] = {"name": "John Doe", "plan_type": "Premium"}
    return OutboundCallRequest(
        assistant_id=assistant, phone_number=number, input_variables=variables if assistant == BILLING else {}
    )


class RecordingTransport(httpx.AsyncBaseTransport):
    """httpx's real transport, plus: a log of the requests sent and headers added to each (faults)."""

    def __init__(self) -> None:
        self._inner = httpx.AsyncHTTPTransport()
        self.sent: list[httpx.Request] = []
        self.extra_headers: dict[str, str] = {}

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        request.headers.update(self.extra_headers)
        self.sent.append(request)
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self._inner.aclose()


@pytest.fixture(scope="module")
def emu_config() -> EmulatorConfig:
    return EmulatorConfig(api_key=KEY, seed_calls=SEEDED)


@pytest.fixture(scope="module")
def emulator(emu_module: RunningEmulator) -> RunningEmulator:
    """This module's name for its emulator (started by tests/conftest.py from ``emu_config``)."""
    return emu_module


@pytest.fixture(autouse=True)
async def _fresh_emulator(emulator: RunningEmulator) -> None:
    async with httpx.AsyncClient(base_url=emulator.base_url) as helper:
        (await helper.post("/_emulator/reset")).raise_for_status()


@pytest.fixture
def transport() -> RecordingTransport:
    return RecordingTransport()


@pytest.fixture
async def client(emulator: RunningEmulator, transport: RecordingTransport) -> AsyncIterator[VoicingClient]:
    async with VoicingClient(base_url=emulator.base_url, api_key=KEY, transport=transport) as c:
        yield c


async def _helper_get(emulator: RunningEmulator, path: str) -> Any:
    async with httpx.AsyncClient(base_url=emulator.base_url) as helper:
        response = await helper.get(path)
        response.raise_for_status()
        return response.json()


async def _arm(emulator: RunningEmulator, **fault: Any) -> None:
    async with httpx.AsyncClient(base_url=emulator.base_url) as helper:
        (await helper.post("/_emulator/faults", json=fault)).raise_for_status()


async def _logged(emulator: RunningEmulator, method: str, path: str) -> list[dict[str, Any]]:
    log = await _helper_get(emulator, "/_emulator/requests")
    return [r for r in log["requests"] if r["method"] == method and r["path"] == path]


async def _dial_count(emulator: RunningEmulator) -> int:
    return int((await _helper_get(emulator, "/_emulator/dials"))["count"])


# ----------------------------------------------------------------------------- endpoints


async def test_every_request_carries_the_key_json_content_type_and_user_agent(
    client: VoicingClient, transport: RecordingTransport
) -> None:
    await client.list_calls()
    await client.bulk_call_details(["nope"])
    for request in transport.sent:
        assert request.headers["x-api-key"] == KEY
        assert request.headers["content-type"] == "application/json"
        assert request.headers["user-agent"] == f"voicing-mcp/{__version__}"


async def test_a_dial_starts_one_call_with_exactly_the_documented_body(
    client: VoicingClient, emulator: RunningEmulator
) -> None:
    started = await client.initiate_outbound_call(_dial_request())
    assert started.status == "success"
    assert started.message == "Outbound call started successfully"
    dials = await _helper_get(emulator, "/_emulator/dials")
    assert dials == {"count": 1, "calls": [started.call_id]}
    [logged] = await _logged(emulator, "POST", DIAL_PATH)
    assert logged["json"] == {
        "assistant_id": BILLING,
        "phone_number": "+17015550100",
        "input_variables": {"name": "John Doe", "plan_type": "Premium"},
        "telephony_provider": "default",
    }


async def test_call_details_keep_every_field_the_api_sends(client: VoicingClient) -> None:
    started = await client.initiate_outbound_call(_dial_request())
    call = await client.get_call_details(started.call_id)
    assert call.call_id == started.call_id
    assert call.status in {"queued", "initiated", "ringing", "in-progress", "completed"}
    extras = call.extra_fields()
    assert extras["assistant_id"] == BILLING
    assert extras["phone_number"] == "+17015550100"
    assert extras["input_variables"] == {"name": "John Doe", "plan_type": "Premium"}
    assert extras["success"] is True
    assert "transcript" in extras and "created_at" in extras
    assert call.model_dump()["assistant_id"] == BILLING  # extras survive serialisation for the tool layer


async def test_an_unknown_call_id_is_not_found_with_the_api_detail_kept(client: VoicingClient) -> None:
    with pytest.raises(NotFoundError) as info:
        await client.get_call_details("no-such-call")
    assert str(info.value).startswith("call no-such-call not found")
    assert info.value.status_code == 404
    assert info.value.detail == "Call with ID no-such-call not found"


async def test_a_wrong_key_is_an_authentication_error_that_never_shows_the_key(emulator: RunningEmulator) -> None:
    wrong = "wrong-key-SECRET-do-not-print-123"
    async with VoicingClient(base_url=emulator.base_url, api_key=wrong) as bad:
        for call in (bad.list_calls(), bad.get_call_details("x"), bad.initiate_outbound_call(_dial_request())):
            with pytest.raises(AuthenticationError) as info:
                await call
            err = info.value
            assert err.status_code == 401
            assert err.detail == "Invalid API token"
            for text in (str(err), repr(err), repr(err.body), repr(vars(err)), repr(bad)):
                assert wrong not in text
                assert KEY not in text
    assert await _dial_count(emulator) == 0


async def test_an_unknown_assistant_is_a_404_naming_it(client: VoicingClient, emulator: RunningEmulator) -> None:
    with pytest.raises(NotFoundError) as info:
        await client.initiate_outbound_call(_dial_request(assistant="00000000-dead-beef-0000-000000000000"))
    assert info.value.detail == "Assistant with ID 00000000-dead-beef-0000-000000000000 not found"
    assert await _dial_count(emulator) == 0


async def test_an_unconfigured_telephony_provider_is_a_400_with_the_api_text(client: VoicingClient) -> None:
    req = OutboundCallRequest(assistant_id=COURTESY, phone_number="+17015550100", telephony_provider="twilio")
    with pytest.raises(BadRequestError) as info:
        await client.initiate_outbound_call(req)
    assert info.value.detail == "Telephony provider 'twilio' is not configured for this organization"
    assert "twilio" in str(info.value)


@pytest.mark.parametrize(
    ("fault", "cls", "detail"),
    [
        ("400-assistant", BadRequestError, f"Error fetching assistant: lookup of assistant {BILLING} failed"),
        ("404-user", NotFoundError, f"User ID not found for assistant with ID {BILLING}"),
        ("404-org", NotFoundError, f"Organization ID not found for assistant with ID {BILLING}"),
        ("500", ServerError, "Failed to publish outbound call"),
    ],
)
async def test_the_documented_dial_errors_keep_their_detail_and_are_sent_once(
    client: VoicingClient,
    transport: RecordingTransport,
    emulator: RunningEmulator,
    fault: str,
    cls: type[Exception],
    detail: str,
) -> None:
    transport.extra_headers["x-emulator-fault"] = fault
    with pytest.raises(cls) as info:
        await client.initiate_outbound_call(_dial_request())
    assert getattr(info.value, "detail", None) == detail
    assert detail in str(info.value)
    assert len(await _logged(emulator, "POST", DIAL_PATH)) == 1


async def test_a_limit_over_100_is_refused_before_sending_and_bad_filters_get_the_api_422(
    client: VoicingClient, transport: RecordingTransport
) -> None:
    with pytest.raises(InvalidRequestError):
        await client.list_calls(limit=101)
    assert transport.sent == []
    with pytest.raises(UnprocessableError) as info:
        await client.list_calls(filters={"status": "exploded"})
    assert info.value.status_code == 422
    assert info.value.detail is not None and info.value.detail.startswith("status must be one of")


async def test_the_list_is_paginated_with_metadata(client: VoicingClient) -> None:
    first = await client.list_calls(page=1, limit=20)
    assert (first.page, first.limit, first.total, first.total_pages, first.has_next) == (1, 20, SEEDED, 15, True)
    assert len(first.calls) == 20
    last = await client.list_calls(page=15, limit=20)
    assert last.has_next is False
    assert len(last.calls) == 20
    assert not {c.call_id for c in first.calls} & {c.call_id for c in last.calls}
    assert first.extra_fields() == {"success": True}


async def test_list_filters_are_passed_through(client: VoicingClient, emulator: RunningEmulator) -> None:
    page = await client.list_calls(limit=100, filters={"assistant_id": COURTESY})
    assert page.calls
    assert all(c.extra_fields()["assistant_id"] == COURTESY for c in page.calls)
    [logged] = await _logged(emulator, "GET", DETAILS_PATH)
    assert logged["query"] == {"page": "1", "limit": "100", "assistant_id": COURTESY}


async def test_iter_calls_walks_every_page_once(client: VoicingClient, emulator: RunningEmulator) -> None:
    seen = [call.call_id async for call in client.iter_calls(limit=100)]
    assert len(seen) == SEEDED
    assert len(set(seen)) == SEEDED
    pages = [r["query"]["page"] for r in await _logged(emulator, "GET", DETAILS_PATH)]
    assert pages == ["1", "2", "3"]


async def test_iter_calls_stops_on_a_short_last_page(client: VoicingClient, emulator: RunningEmulator) -> None:
    seen = [call.call_id async for call in client.iter_calls(limit=70)]
    assert len(seen) == SEEDED
    assert len(await _logged(emulator, "GET", DETAILS_PATH)) == 5  # 70+70+70+70+20


async def test_iter_pages_starts_at_the_given_page_and_stops_after_the_last(
    client: VoicingClient, emulator: RunningEmulator
) -> None:
    pages = [page async for page in client.iter_pages(start=2, limit=100)]
    assert [p.page for p in pages] == [2, 3]
    assert sum(len(p.calls) for p in pages) == SEEDED - 100
    assert [r["query"]["page"] for r in await _logged(emulator, "GET", DETAILS_PATH)] == ["2", "3"]


async def test_iter_pages_reads_at_most_max_pages(client: VoicingClient, emulator: RunningEmulator) -> None:
    pages = [page async for page in client.iter_pages(limit=50, max_pages=2)]
    assert [len(p.calls) for p in pages] == [50, 50]
    assert pages[-1].has_next is True
    assert len(await _logged(emulator, "GET", DETAILS_PATH)) == 2


async def test_iter_pages_asks_for_a_page_only_when_the_caller_takes_it(
    client: VoicingClient, emulator: RunningEmulator
) -> None:
    async for page in client.iter_pages(limit=10):
        assert page.has_next is True
        break
    assert len(await _logged(emulator, "GET", DETAILS_PATH)) == 1


class PageIgnoringTransport(RecordingTransport):
    """An API that ignores ``page``: every list request is sent to the emulator as page 1."""

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if "page" in request.url.params:
            request.url = request.url.copy_set_param("page", "1")
        return await super().handle_async_request(request)


async def test_a_list_that_ignores_page_ends_the_walk_at_the_first_repeated_page(emulator: RunningEmulator) -> None:
    async with VoicingClient(base_url=emulator.base_url, api_key=KEY, transport=PageIgnoringTransport()) as api:
        pages = [page async for page in api.iter_pages(limit=100)]
        calls = [c.call_id async for c in api.iter_calls(limit=100)]
    assert len(pages) == 1
    assert len(calls) == len(set(calls)) == 100
    assert len(await _logged(emulator, "GET", DETAILS_PATH)) == 4  # two walks: a page, then its repeat


# ----------------------------------------------------------------------------- retry rules


async def test_a_read_that_meets_a_503_with_retry_after_succeeds_on_retry(
    client: VoicingClient, emulator: RunningEmulator
) -> None:
    started = await client.initiate_outbound_call(_dial_request())
    await _arm(emulator, fault="503", path=DETAILS_PATH, times=1, retry_after=1)
    call = await client.get_call_details(started.call_id)
    assert call.call_id == started.call_id
    attempts = await _logged(emulator, "GET", DETAILS_PATH)
    assert [(r["status"], r["fault"]) for r in attempts] == [(503, "503"), (200, None)]


async def test_a_read_whose_connection_is_reset_is_retried(client: VoicingClient, emulator: RunningEmulator) -> None:
    await _arm(emulator, fault="reset", path=DETAILS_PATH, times=2)
    page = await client.list_calls(limit=5)
    assert len(page.calls) == 5
    assert [r["fault"] for r in await _logged(emulator, "GET", DETAILS_PATH)] == ["reset", "reset", None]


async def test_a_read_gives_up_after_two_retries_with_the_last_error(
    client: VoicingClient, emulator: RunningEmulator
) -> None:
    await _arm(emulator, fault="429", path=DETAILS_PATH, times=5, retry_after=0)
    with pytest.raises(RateLimitError) as info:
        await client.list_calls()
    assert info.value.retry_after == 0
    assert len(await _logged(emulator, "GET", DETAILS_PATH)) == 3


async def test_a_dial_dropped_after_accept_is_outcome_unknown_and_dialled_exactly_once(
    client: VoicingClient, transport: RecordingTransport, emulator: RunningEmulator
) -> None:
    transport.extra_headers["x-emulator-fault"] = "drop-after-accept"
    with pytest.raises(OutcomeUnknownError) as info:
        await client.initiate_outbound_call(_dial_request())
    message = str(info.value)
    assert "may be ringing" in message and "NOT retried" in message
    assert "get_call_details" in message and "list_calls" in message
    assert await _dial_count(emulator) == 1
    assert len(await _logged(emulator, "POST", DIAL_PATH)) == 1
    assert len(transport.sent) == 1


async def test_a_dial_whose_connection_is_reset_is_outcome_unknown_and_not_resent(
    client: VoicingClient, transport: RecordingTransport, emulator: RunningEmulator
) -> None:
    transport.extra_headers["x-emulator-fault"] = "reset"
    with pytest.raises(OutcomeUnknownError):
        await client.initiate_outbound_call(_dial_request())
    assert len(await _logged(emulator, "POST", DIAL_PATH)) == 1
    assert len(transport.sent) == 1


async def test_a_dial_meeting_a_503_is_not_retried_and_its_outcome_is_unknown(
    client: VoicingClient, emulator: RunningEmulator
) -> None:
    await _arm(emulator, fault="503", path=DIAL_PATH, times=1, retry_after=0)
    with pytest.raises(OutcomeUnknownError):
        await client.initiate_outbound_call(_dial_request())
    assert len(await _logged(emulator, "POST", DIAL_PATH)) == 1
    assert await _dial_count(emulator) == 0


async def test_a_dial_to_a_closed_port_is_retried_and_fails_as_a_connection_error_with_no_dial(
    emulator: RunningEmulator,
) -> None:
    with socket.socket() as probe:  # a port that was free a moment ago and has no listener
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    transport = RecordingTransport()
    async with VoicingClient(base_url=f"http://127.0.0.1:{closed_port}", api_key=KEY, transport=transport) as client:
        with pytest.raises(APIConnectionError) as info:
            await client.initiate_outbound_call(_dial_request())
    assert not isinstance(info.value, OutcomeUnknownError)
    assert "3 attempts" in str(info.value)
    assert len(transport.sent) == 3
    assert KEY not in str(info.value)
    assert await _dial_count(emulator) == 0
