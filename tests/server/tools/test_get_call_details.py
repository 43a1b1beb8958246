"""``get_call_details`` through a real in-process MCP client session, in both protocol modes, against the emulator
served over loopback HTTP."""

from __future__ import annotations

import socket

import jsonschema

from server_support import (
    connect,
    error_text,
    helper,
    seeded_calls,
    session,
    structured,
    text_of,
)
from voicing_mcp.config import load_settings
from voicing_mcp.emulator.runner import RunningEmulator
from voicing_mcp.server.app import create_server


# ----- get_call_details ---------------------------------------------------------------------
async def test_get_call_details_returns_every_api_field_and_a_labelled_transcript(
    emu: RunningEmulator, mode: str
) -> None:
    call = next(c for c in seeded_calls(emu) if c["status"] == "completed")
    async with connect(emu, mode) as client:
        result = await client.call_tool("get_call_details", {"call_id": call["call_id"]})
        schema = next(t for t in (await client.list_tools()).tools if t.name == "get_call_details").output_schema
    data = structured(result)
    assert schema is not None
    jsonschema.validate(data, schema)
    for key in ("call_id", "status", "duration", "started_at", "ended_at", "assistant_id", "ended_reason"):
        assert data[key] == call[key]
    assert data["input_variables"] == call["input_variables"]
    assert "success" not in data
    transcript = data["transcript"]
    assert "third-party" in transcript["notice"] and transcript["truncated"] is False
    assert transcript["lines"] and transcript["lines"][0]["role"] == "assistant"
    text = text_of(result)
    assert call["call_id"] in text and "completed" in text and "third-party" in text


async def test_unknown_call_id_is_a_tool_error_that_says_not_found(emu: RunningEmulator, mode: str) -> None:
    async with connect(emu, mode) as client:
        result = await client.call_tool("get_call_details", {"call_id": "no-such-call"})
    text = error_text(result)
    assert "not found" in text and "no-such-call" in text and "404" in text
    assert "Traceback" not in text


async def test_blank_call_id_is_refused_naming_the_field(emu: RunningEmulator, mode: str) -> None:
    async with connect(emu, mode) as client:
        result = await client.call_tool("get_call_details", {"call_id": "   "})
    assert "call_id" in error_text(result)
    assert helper(emu, "GET", "/_emulator/requests")["count"] == 0  # nothing reached the API


async def test_an_unreachable_api_is_a_clear_error(mode: str) -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    settings = load_settings(base_url=f"http://127.0.0.1:{port}", api_key="k", env="development")
    async with session(create_server(settings), mode) as client:
        result = await client.call_tool("get_call_details", {"call_id": "x"})
    assert "could not reach the Voicing API" in error_text(result)
