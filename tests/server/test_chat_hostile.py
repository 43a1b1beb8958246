"""``chat_with_assistant`` against hostile input and a hostile chatbot, through real MCP sessions against the
emulator (whose chatbot echoes the message in its reply)."""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import pytest
from anyio.abc import SocketAttribute, SocketStream
from mcp_types import CallToolResult
from websockets.asyncio.server import ServerConnection, serve

from server_support import ASSISTANT, connect, structured, text_of
from voicing_mcp.emulator.runner import RunningEmulator
from voicing_mcp.server.render.results import RESULT_BUDGET

KEY = "vk_live_9f3Qz7TzLq2WbXh4Rm8Pn1Ca"


def sent_size(result: CallToolResult) -> int:
    """Characters of the result as sent: content blocks plus structuredContent, serialised as JSON."""
    return len(json.dumps(result.model_dump(mode="json", by_alias=True, exclude_none=True), ensure_ascii=False))


@pytest.mark.parametrize(
    "message", ["\x00" * 3_990, '"\\' * 1_995, "\u202e" * 3_990], ids=["nul", "quotes-backslashes", "bidi"]
)
async def test_an_escape_heavy_reply_stays_within_the_result_budget(emu: RunningEmulator, message: str) -> None:
    """A reply of 4,000 NUL characters is 32,000 characters made visible in the text, 28,000 in the JSON block
    and 24,000 in structuredContent: the reply is cut further until the result fits."""
    async with connect(emu, "legacy") as client:
        result = await client.call_tool(
            "chat_with_assistant",
            {"assistant_id": ASSISTANT, "message": message, "input_variables": {"name": "Ana", "plan_type": "Gold"}},
        )
    data = structured(result)
    assert sent_size(result) <= RESULT_BUDGET
    assert data["truncated"] is True and data["reply"].endswith("…")
    assert f"(cut to {len(data['reply'])} characters)" in text_of(result)


@asynccontextmanager
async def fake_chatbot(emu: RunningEmulator, handler: Any) -> AsyncGenerator[RunningEmulator]:
    """A chatbot WebSocket server on loopback (``handler(connection)``), as an API with the key :data:`KEY`."""
    async with serve(handler, "127.0.0.1", 0) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        yield RunningEmulator(f"http://127.0.0.1:{port}", "127.0.0.1", port, KEY, emu.state)


@asynccontextmanager
async def refusing_chatbot(emu: RunningEmulator, status: int, body: bytes) -> AsyncGenerator[RunningEmulator]:
    """A loopback server that answers the WebSocket handshake with plain HTTP ``status`` and a JSON ``body``."""

    async def handle(stream: SocketStream) -> None:
        data = b""
        while b"\r\n\r\n" not in data:
            data += await stream.receive()
        head = f"HTTP/1.1 {status} Refused\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n"
        await stream.send(head.encode() + b"Connection: close\r\n\r\n" + body)
        await stream.aclose()

    listener = await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=0)
    port = listener.extra(SocketAttribute.local_port)
    async with anyio.create_task_group() as tg:
        tg.start_soon(listener.serve, handle)
        yield RunningEmulator(f"http://127.0.0.1:{port}", "127.0.0.1", port, KEY, emu.state)
        tg.cancel_scope.cancel()


async def test_an_error_frame_cut_to_length_never_shows_part_of_the_api_key(emu: RunningEmulator) -> None:
    """The chatbot echoes the key where the 1,000-character cut of its error text falls: cut first and redacted
    after, the key's first characters were shown (the whole key no longer matched)."""
    key = KEY

    async def erring(ws: ServerConnection) -> None:
        async for _ in ws:
            await ws.send(json.dumps({"type": "error", "error": "x" * (1_000 - 8) + key}))

    async with fake_chatbot(emu, erring) as fake, connect(fake, "legacy") as client:
        result = await client.call_tool("chat_with_assistant", {"assistant_id": ASSISTANT, "message": "hi"})
    assert result.is_error
    assert key[:8] not in text_of(result)


async def test_a_refused_handshake_with_a_huge_detail_is_a_short_error_without_the_key(emu: RunningEmulator) -> None:
    key = KEY
    body = json.dumps({"detail": "\x00" * 100_000 + key}).encode()
    async with refusing_chatbot(emu, 403, body) as fake, connect(fake, "legacy") as client:
        result = await client.call_tool("chat_with_assistant", {"assistant_id": ASSISTANT, "message": "hi"})
    text = text_of(result)
    assert result.is_error and "HTTP 403" in text
    assert sent_size(result) <= RESULT_BUDGET and key[:8] not in text
    body = json.dumps({"detail": "x" * 992 + key}).encode()
    async with refusing_chatbot(emu, 403, body) as fake, connect(fake, "legacy") as client:
        result = await client.call_tool("chat_with_assistant", {"assistant_id": ASSISTANT, "message": "hi"})
    assert result.is_error and key[:8] not in text_of(result)
