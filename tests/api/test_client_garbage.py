"""The API client against a real loopback HTTP server that answers with garbage a proxy or a broken API
might send: every answer becomes an error of the tree with a readable message, never a crash."""

from __future__ import annotations

import http.server
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from mcp import Client

from server_support import ASSISTANT
from voicing_mcp.api.client import VoicingClient
from voicing_mcp.api.models import OutboundCallRequest
from voicing_mcp.config import load_settings
from voicing_mcp.emulator.runner import serve_emulator
from voicing_mcp.emulator.state import EmulatorConfig
from voicing_mcp.errors import APIError, OutcomeUnknownError
from voicing_mcp.server.app import create_server
from voicing_mcp.server.render.results import RESULT_BUDGET, result_size

DEEP_JSON = b'{"call_id": "c-1", "x": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"


@dataclass
class Garbage:
    """What the throwaway server answers: status, content type and body, the same for every request."""

    url: str = ""
    status: int = 200
    content_type: str = "application/json"
    body: bytes = b"{}"
    paths: list[str] = field(default_factory=list[str])


@pytest.fixture
def garbage() -> Iterator[Garbage]:
    answer = Garbage()

    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            pass

        def _answer(self) -> None:
            self.rfile.read(int(self.headers.get("content-length") or 0))
            answer.paths.append(self.path)
            self.send_response(answer.status)
            self.send_header("content-type", answer.content_type)
            self.send_header("content-length", str(len(answer.body)))
            self.end_headers()
            self.wfile.write(answer.body)

        do_GET = do_POST = _answer

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    answer.url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield answer
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


async def test_json_nested_too_deep_to_decode_is_an_api_error_naming_the_request(garbage: Garbage) -> None:
    garbage.body = DEEP_JSON
    async with VoicingClient(base_url=garbage.url, api_key="k") as client:
        with pytest.raises(APIError, match=r"answered get_call_details\(c-1\) with HTTP 200, but the body is not JSON"):
            await client.get_call_details("c-1")
        with pytest.raises(APIError, match="but the body is not JSON"):
            await client.list_calls()
        with pytest.raises(APIError, match="but the body is not JSON"):
            await client.bulk_call_details(["c-1", "c-2"])


async def test_a_dial_answered_with_undecodable_json_is_outcome_unknown_and_sent_once(garbage: Garbage) -> None:
    garbage.body = DEEP_JSON
    request = OutboundCallRequest(assistant_id="a-1", phone_number="+17018112582")
    async with VoicingClient(base_url=garbage.url, api_key="k") as client:
        with pytest.raises(OutcomeUnknownError, match="the answer was not JSON"):
            await client.initiate_outbound_call(request)
    assert garbage.paths == ["/api/v1/campaigns/publish-outbound-call"]


@pytest.mark.parametrize(
    ("body", "why"),
    [
        (b'{"call_id": "' + b"A" * 1_000_000 + b'"}', "a call_id of 1000000 characters"),
        (b'{"call_id": "' + b"A" * 257 + b'"}', "a call_id of 257 characters"),
        (b'{"call_id": true}', "without a call_id"),
        (b'{"data": {"call_id": false}}', "without a call_id"),
    ],
)
async def test_a_dial_answered_with_a_call_id_that_names_no_call_is_outcome_unknown_and_sent_once(
    garbage: Garbage, body: bytes, why: str
) -> None:
    """A megabyte call_id was returned whole to the model (twice, text and structured: 2 MB) and quoted by every
    duplicate refusal, though no tool could look it up; ``true`` became the call id "True"."""
    garbage.body = body
    request = OutboundCallRequest(assistant_id="a-1", phone_number="+17018112582")
    async with VoicingClient(base_url=garbage.url, api_key="k") as client:
        with pytest.raises(OutcomeUnknownError, match=why) as caught:
            await client.initiate_outbound_call(request)
    assert len(str(caught.value)) < 2_000
    assert garbage.paths == ["/api/v1/campaigns/publish-outbound-call"]


async def test_the_longest_call_id_the_tools_take_is_a_started_call(garbage: Garbage) -> None:
    garbage.body = b'{"call_id": "' + b"A" * 256 + b'"}'
    request = OutboundCallRequest(assistant_id="a-1", phone_number="+17018112582")
    async with VoicingClient(base_url=garbage.url, api_key="k") as client:
        assert (await client.initiate_outbound_call(request)).call_id == "A" * 256


async def test_a_megabyte_call_id_reaches_the_model_as_a_short_unknown_outcome_that_blocks_the_number(
    garbage: Garbage, tmp_path: Path
) -> None:
    garbage.body = b'{"call_id": "' + b"A" * 1_000_000 + b'"}'
    settings = load_settings(
        base_url=garbage.url,
        api_key="k",
        env="development",
        quiet_hours="off",
        ledger=tmp_path / "ledger.sqlite3",
        allowed_numbers="+17018112582",
    )
    variables = {"name": "Ann", "plan_type": "Gold"}
    arguments = {"assistant_id": ASSISTANT, "phone_number": "+17018112582", "input_variables": variables}
    async with Client(create_server(settings)) as client:
        first = await client.call_tool("initiate_outbound_call", arguments)
        again = await client.call_tool("initiate_outbound_call", arguments)
    texts = [b.text for r in (first, again) for b in r.content if b.type == "text"]
    assert first.is_error and "outcome unknown" in texts[0] and len(texts[0]) < 3_000
    assert again.is_error and "[outcome-unknown]" in texts[1] and len(texts[1]) < 3_000
    assert garbage.paths.count("/api/v1/campaigns/publish-outbound-call") == 1


async def test_the_model_reads_what_went_wrong_when_the_api_sends_undecodable_json(garbage: Garbage) -> None:
    garbage.body = DEEP_JSON
    server = create_server(load_settings(base_url=garbage.url, api_key="k", env="development"))
    async with Client(server) as client:
        result = await client.call_tool("get_call_details", {"call_id": "c-1"})
    assert result.is_error
    text = result.content[0].text if result.content[0].type == "text" else ""
    assert "HTTP 200, but the body is not JSON" in text


async def test_a_megabyte_error_detail_reaches_the_model_cut_to_a_readable_length(garbage: Garbage) -> None:
    garbage.status, garbage.body = 400, b'{"detail": "call_id is malformed: ' + b"x" * 2_000_000 + b'"}'
    server = create_server(load_settings(base_url=garbage.url, api_key="k", env="development"))
    async with Client(server) as client:
        result = await client.call_tool("get_call_details", {"call_id": "c-1"})
    assert result.is_error
    text = result.content[0].text if result.content[0].type == "text" else ""
    assert "HTTP 400: call_id is malformed: xxx" in text
    assert "more characters cut" in text and len(text) < 2_000


async def test_huge_strings_in_a_call_reach_the_model_capped_as_the_readme_says(garbage: Garbage) -> None:
    huge = "y" * 100_000
    garbage.body = (
        f'{{"call_id": "c-1", "status": "{huge}", "started_at": "{huge}", "ended_at": "{huge}", "note": "{huge}"}}'
    ).encode()
    server = create_server(load_settings(base_url=garbage.url, api_key="k", env="development"))
    async with Client(server) as client:
        result = await client.call_tool("get_call_details", {"call_id": "c-1"})
    assert not result.is_error and result.structured_content is not None
    call = result.structured_content
    assert call["call_id"] == "c-1"
    for name in ("status", "started_at", "ended_at"):
        assert len(call[name]) <= 4_000 and call[name].endswith("…")
    # four strings of 4,000 characters, each twice, do not fit the result budget: the extra field is left out
    # and named, the three the result declares are cut further and named too
    assert call["omitted_fields"] == ["note"] and call["cut_fields"] == ["ended_at", "started_at", "status"]
    assert result_size(result) <= RESULT_BUDGET
    text = result.content[0].text if result.content[0].type == "text" else ""
    assert len(text) < 20_000


async def test_a_call_refused_with_success_false_in_a_200_answer_is_not_reported_as_a_404(garbage: Garbage) -> None:
    garbage.body = b'{"success": false, "detail": "no call with that id"}'
    server = create_server(load_settings(base_url=garbage.url, api_key="k", env="development"))
    async with Client(server) as client:
        result = await client.call_tool("get_call_details", {"call_id": "c-1"})
    assert result.is_error
    text = result.content[0].text if result.content[0].type == "text" else ""
    assert "call 'c-1' not found (HTTP 200: no call with that id)" in text
    assert "404" not in text


async def test_a_transcript_line_with_an_absurd_time_offset_keeps_its_text_without_the_offset(
    garbage: Garbage,
) -> None:
    garbage.body = (
        b'{"call_id": "c-1", "status": "completed", "transcript": ['
        b'{"role": "assistant", "text": "hello", "t": 1' + b"0" * 400 + b"}, "
        b'{"role": "user", "text": "hi", "t": -1e999}, {"role": "assistant", "text": "bye", "t": 2.5}]}'
    )
    server = create_server(load_settings(base_url=garbage.url, api_key="k", env="development"))
    async with Client(server) as client:
        result = await client.call_tool("get_call_details", {"call_id": "c-1"})
    assert not result.is_error and result.structured_content is not None
    lines = result.structured_content["transcript"]["lines"]
    assert [(line["text"], line["t"]) for line in lines] == [("hello", None), ("hi", None), ("bye", 2.5)]


async def test_a_server_whose_key_came_with_a_trailing_line_break_works_and_never_logs_the_key(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async with serve_emulator(EmulatorConfig(api_key="key-with-newline-0123")) as emu:
        settings = load_settings(base_url=emu.base_url, api_key="key-with-newline-0123\n", env="development")
        async with Client(create_server(settings)) as client:
            result = await client.call_tool("list_calls", {"limit": 1})
    assert not result.is_error
    assert "key-with-newline-0123" not in caplog.text


async def test_a_chat_that_cannot_connect_does_not_tell_the_model_to_omit_a_conversation_id_it_never_sent() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = create_server(load_settings(base_url=f"http://127.0.0.1:{port}", api_key="k", env="development"))
    async with Client(server) as client:
        result = await client.call_tool("chat_with_assistant", {"assistant_id": "a-1", "message": "hi"})
    assert result.is_error
    text = result.content[0].text if result.content[0].type == "text" else ""
    assert "could not connect to the chatbot" in text and "No conversation was opened" in text
    assert "omit conversation_id" not in text
