"""chat_with_assistant through a real MCP client session (both protocol modes); the ChatSessions bookkeeping
(idle sweep, bound, shutdown) is pinned in test_chat_sessions.py."""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import pytest
from anyio.abc import SocketAttribute, SocketStream
from mcp_types import CallToolResult
from websockets.asyncio.server import ServerConnection, serve

from server_support import ASSISTANT, CLINIC, connect, helper, session, structured, text_of
from voicing_mcp.config import load_settings
from voicing_mcp.emulator.runner import RunningEmulator
from voicing_mcp.server.app import create_server
from voicing_mcp.server.render.results import RESULT_BUDGET
from voicing_mcp.server.tools.chat_with_assistant import MAX_REPLY_CHARS


def websocket_opens(emu: RunningEmulator) -> int:
    return sum(1 for r in helper(emu, "GET", "/_emulator/requests")["requests"] if r["method"] == "WS")


# ----- through MCP --------------------------------------------------------------------------
async def test_a_conversation_continues_over_one_websocket(emu: RunningEmulator, mode: str) -> None:
    async with connect(emu, mode) as client:
        first = structured(await client.call_tool("chat_with_assistant", {"assistant_id": ASSISTANT, "message": "hi"}))
        second_result = await client.call_tool(
            "chat_with_assistant",
            {"assistant_id": ASSISTANT, "message": "Can you repeat that?", "conversation_id": first["conversation_id"]},
        )
    second = structured(second_result)
    assert first["new_conversation"] is True and first["turn"] == 1
    assert first["greeting"] and first["reply"].startswith("Hello!")
    assert second["conversation_id"] == first["conversation_id"] and second["turn"] == 2
    assert second["new_conversation"] is False and second["greeting"] is None
    assert "third-party" in second["notice"]
    assert "third-party" in text_of(second_result) and first["conversation_id"] in text_of(second_result)
    assert websocket_opens(emu) == 1


async def test_each_new_conversation_gets_its_own_id(emu: RunningEmulator, mode: str) -> None:
    async with connect(emu, mode) as client:
        ids = {
            structured(await client.call_tool("chat_with_assistant", {"assistant_id": a, "message": "hello"}))[
                "conversation_id"
            ]
            for a in (ASSISTANT, CLINIC)
        }
    assert len(ids) == 2 and websocket_opens(emu) == 2


async def test_an_unknown_assistant_is_reported_as_not_found(emu: RunningEmulator, mode: str) -> None:
    async with connect(emu, mode) as client:
        result = await client.call_tool("chat_with_assistant", {"assistant_id": "nobody", "message": "hi"})
    assert result.is_error
    assert "'nobody' not found" in text_of(result)


async def test_an_unknown_conversation_id_says_not_found_and_how_to_start_one(emu: RunningEmulator, mode: str) -> None:
    async with connect(emu, mode) as client:
        result = await client.call_tool(
            "chat_with_assistant", {"assistant_id": ASSISTANT, "message": "hi", "conversation_id": "conv-nope"}
        )
    assert result.is_error
    text = text_of(result)
    assert "not found" in text and "omit conversation_id" in text
    assert websocket_opens(emu) == 0


async def test_a_conversation_cannot_be_continued_with_another_assistant(emu: RunningEmulator, mode: str) -> None:
    async with connect(emu, mode) as client:
        first = structured(await client.call_tool("chat_with_assistant", {"assistant_id": ASSISTANT, "message": "hi"}))
        result = await client.call_tool(
            "chat_with_assistant",
            {"assistant_id": CLINIC, "message": "hi", "conversation_id": first["conversation_id"]},
        )
    assert result.is_error and "belongs to assistant" in text_of(result)


async def test_a_long_reply_is_capped_and_flagged(emu: RunningEmulator, mode: str) -> None:
    message = "Is this " + "very " * 790 + "long?"  # the emulator quotes a question back
    async with connect(emu, mode) as client:
        data = structured(
            await client.call_tool("chat_with_assistant", {"assistant_id": ASSISTANT, "message": message})
        )
    assert data["truncated"] is True and len(data["reply"]) == MAX_REPLY_CHARS and data["reply"].endswith("…")


async def test_a_blank_message_is_refused_naming_the_field(emu: RunningEmulator, mode: str) -> None:
    async with connect(emu, mode) as client:
        empty = await client.call_tool("chat_with_assistant", {"assistant_id": ASSISTANT, "message": ""})
        blank = await client.call_tool("chat_with_assistant", {"assistant_id": ASSISTANT, "message": "   "})
    assert empty.is_error and "message" in text_of(empty)
    assert blank.is_error and "message" in text_of(blank)
    assert websocket_opens(emu) == 0


async def test_too_many_open_conversations_is_a_clear_error(emu: RunningEmulator, mode: str) -> None:
    async with connect(emu, mode, max_chats=2) as client:
        for _ in range(2):
            structured(await client.call_tool("chat_with_assistant", {"assistant_id": ASSISTANT, "message": "hi"}))
        result = await client.call_tool("chat_with_assistant", {"assistant_id": ASSISTANT, "message": "hi"})
    assert result.is_error and "too many open chat conversations (2 at most)" in text_of(result)
    assert websocket_opens(emu) == 2


# ----- input_variables ----------------------------------------------------------------------
BILLING_VALUES = {"name": "Ada", "plan_type": "Gold"}


def chat_queries(emu: RunningEmulator) -> list[dict[str, str]]:
    return [r["query"] for r in helper(emu, "GET", "/_emulator/requests")["requests"] if r["method"] == "WS"]


async def test_input_variables_fill_the_greeting_end_to_end(emu: RunningEmulator, mode: str) -> None:
    args = {"assistant_id": ASSISTANT, "message": "hi", "input_variables": {**BILLING_VALUES, "plan_type": 7}}
    async with connect(emu, mode) as client:
        result = await client.call_tool("chat_with_assistant", args)
    data = structured(result)
    assert data["greeting"] == "Hi Ada, your 7 plan payment is pending."  # rendered by the emulator's chatbot
    assert data["opening_line"] == data["greeting"] and data["warnings"] == []  # the dial preview's line agrees
    assert chat_queries(emu) == [{"assistant_id": ASSISTANT, "name": "Ada", "plan_type": "7"}]
    assert "Opening line of the local template" in text_of(result)


async def test_a_missing_required_variable_is_named_and_nothing_is_sent(emu: RunningEmulator, mode: str) -> None:
    async with connect(emu, mode) as client:
        missing = await client.call_tool(
            "chat_with_assistant", {"assistant_id": ASSISTANT, "message": "hi", "input_variables": {"name": "Ada"}}
        )
        empty = await client.call_tool(
            "chat_with_assistant", {"assistant_id": CLINIC, "message": "hi", "input_variables": {}}
        )
    assert missing.is_error and "'plan_type'" in text_of(missing) and "Nothing was sent" in text_of(missing)
    assert "[template-variables]" in text_of(missing) and "dial" not in text_of(missing).split("[")[0]
    assert empty.is_error and "'date', 'name'" in text_of(empty)
    assert websocket_opens(emu) == 0


async def test_values_a_dial_would_refuse_are_refused_before_anything_is_sent(emu: RunningEmulator, mode: str) -> None:
    async with connect(emu, mode) as client:
        nested = await client.call_tool(
            "chat_with_assistant",
            {"assistant_id": ASSISTANT, "message": "hi", "input_variables": {**BILLING_VALUES, "name": {"a": 1}}},
        )
        escape = await client.call_tool(
            "chat_with_assistant",
            {"assistant_id": ASSISTANT, "message": "hi", "input_variables": {**BILLING_VALUES, "name": "A\x1b[2Jda"}},
        )
        too_long = await client.call_tool(
            "chat_with_assistant",
            {
                "assistant_id": ASSISTANT,
                "message": "hi",
                "input_variables": {"name": "a" * 2000, "plan_type": "b" * 2000, "note": "c" * 2000},
            },
        )
    assert nested.is_error and "values must be strings, numbers or booleans" in text_of(nested)
    assert escape.is_error and "[control-characters]" in text_of(escape)
    assert too_long.is_error and "at most 6000" in text_of(too_long) and "chatbot's URL" in text_of(too_long)
    assert websocket_opens(emu) == 0


async def test_extra_variables_and_a_missing_template_are_warnings_not_refusals(
    emu: RunningEmulator, mode: str, tmp_path: Path
) -> None:
    async with connect(emu, mode) as client:
        extra = structured(
            await client.call_tool(
                "chat_with_assistant",
                {"assistant_id": ASSISTANT, "message": "hi", "input_variables": {**BILLING_VALUES, "pin": "1"}},
            )
        )
    settings = load_settings(base_url=emu.base_url, api_key=emu.api_key, env="development", prompts_dir=tmp_path)
    async with session(create_server(settings), mode) as client:
        unchecked = await client.call_tool(
            "chat_with_assistant", {"assistant_id": ASSISTANT, "message": "hi", "input_variables": BILLING_VALUES}
        )
    assert any("pin" in w and "not used by the template" in w for w in extra["warnings"])
    data = structured(unchecked)  # strict templates refuse a dial, not a chat: no phone rings
    assert data["greeting"] == "Hi Ada, your Gold plan payment is pending." and data["opening_line"] is None
    assert any("were not checked" in w and "no local template" in w for w in data["warnings"])
    assert "Warning: input_variables were not checked" in text_of(unchecked)


async def test_a_greeting_that_differs_from_the_local_opening_line_is_a_warning(
    emu: RunningEmulator, mode: str, tmp_path: Path
) -> None:
    # the local file says something else than the assistant the chatbot runs (or computes with a value)
    (tmp_path / f"{ASSISTANT}.j2").write_text("Hello {{ name }}, about your {{ plan_type }} plan.\n", encoding="utf-8")
    settings = load_settings(base_url=emu.base_url, api_key=emu.api_key, env="development", prompts_dir=tmp_path)
    async with session(create_server(settings), mode) as client:
        result = await client.call_tool(
            "chat_with_assistant", {"assistant_id": ASSISTANT, "message": "hi", "input_variables": BILLING_VALUES}
        )
    data = structured(result)
    assert data["greeting"] == "Hi Ada, your Gold plan payment is pending."
    assert data["opening_line"] == "Hello Ada, about your Gold plan."
    assert any("greeting differs from opening_line" in w for w in data["warnings"])
    assert "Warning: the chatbot's greeting differs" in text_of(result)


async def test_without_input_variables_the_greeting_keeps_its_placeholders_and_a_warning_names_them(
    emu: RunningEmulator, mode: str
) -> None:
    async with connect(emu, mode) as client:
        data = structured(await client.call_tool("chat_with_assistant", {"assistant_id": ASSISTANT, "message": "hi"}))
    assert "{{" in (data["greeting"] or "") and data["opening_line"] is None
    assert any("name, plan_type" in w for w in data["warnings"])


async def test_a_conversation_continues_with_the_same_variables_but_refuses_others(
    emu: RunningEmulator, mode: str
) -> None:
    start = {"assistant_id": ASSISTANT, "message": "hi", "input_variables": BILLING_VALUES}
    async with connect(emu, mode) as client:
        first = structured(await client.call_tool("chat_with_assistant", start))
        same = await client.call_tool(
            "chat_with_assistant", {**start, "message": "again?", "conversation_id": first["conversation_id"]}
        )
        other = await client.call_tool(
            "chat_with_assistant",
            {**start, "input_variables": {"name": "Bo"}, "conversation_id": first["conversation_id"]},
        )
        after = await client.call_tool(
            "chat_with_assistant",
            {"assistant_id": ASSISTANT, "message": "still there?", "conversation_id": first["conversation_id"]},
        )
    assert structured(same)["turn"] == 2 and structured(same)["greeting"] is None
    assert other.is_error and "started with ['name', 'plan_type']" in text_of(other)
    assert "omit input_variables to continue it" in text_of(other)
    assert structured(after)["turn"] == 3  # the refusal left the conversation open
    assert websocket_opens(emu) == 1


async def test_a_template_with_hundreds_of_placeholders_keeps_the_refusal_and_the_warnings_short(
    emu: RunningEmulator, mode: str, tmp_path: Path
) -> None:
    names = [f"a_rather_long_placeholder_name_number_{i:03d}_{'z' * 20}" for i in range(400)]
    (tmp_path / "wide.j2").write_text(" ".join(f"{{{{ {n} }}}}" for n in names), encoding="utf-8")
    # this server's copy of ASSISTANT's template: every one of its 400 placeholders optional
    (tmp_path / f"{ASSISTANT}.j2").write_text(" ".join(f"{{{{ {n} | default('') }}}}" for n in names), "utf-8")
    settings = load_settings(base_url=emu.base_url, api_key=emu.api_key, env="development", prompts_dir=tmp_path)
    async with session(create_server(settings), mode) as client:
        refusal = await client.call_tool(
            "chat_with_assistant", {"assistant_id": "wide", "message": "hi", "input_variables": {}}
        )
        loose = structured(
            await client.call_tool(
                "chat_with_assistant", {"assistant_id": ASSISTANT, "message": "hi", "input_variables": {"pin": "1"}}
            )
        )
    assert refusal.is_error and names[0] in text_of(refusal) and len(text_of(refusal)) < 2_300
    assert "Nothing was sent" in text_of(refusal) and websocket_opens(emu) == 1
    warning = loose["warnings"][0]  # "pin is not used (its placeholders: all 400 names)", cut to the cap
    assert all(len(w) <= 600 for w in loose["warnings"])
    assert "pin" in warning and names[0] in warning and len(warning) == 600 and warning.endswith("…")


@pytest.fixture
async def silent_chatbot() -> AsyncIterator[str]:
    """A real WebSocket server that greets and then never answers: the base URL to reach it."""

    async def handler(ws: ServerConnection) -> None:
        await ws.send('{"type": "message", "message": "Hello, I am slow."}')
        async for _ in ws:
            pass  # read and never reply

    async with serve(handler, "127.0.0.1", 0) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        yield f"http://127.0.0.1:{port}"


async def test_a_reply_that_never_comes_is_a_clear_error_and_closes_the_conversation(
    silent_chatbot: str, mode: str
) -> None:
    settings = load_settings(base_url=silent_chatbot, api_key="k", env="development")
    server = create_server(settings, chat_reply_timeout=0.3)
    async with session(server, mode) as client:
        result = await client.call_tool("chat_with_assistant", {"assistant_id": ASSISTANT, "message": "hello?"})
        assert result.is_error
        text = text_of(result)
        assert "no reply from the chatbot" in text and "start a new one" in text


# ----- the server's conversations at shutdown ----------------------------------------------------
async def test_server_shutdown_closes_the_conversations_it_opened(mode: str) -> None:
    closed = anyio.Event()

    async def handler(ws: ServerConnection) -> None:
        await ws.send('{"type": "message", "message": "Hello."}')
        async for frame in ws:
            await ws.send(f'{{"type": "message", "message": "echo {len(frame)}"}}')
        closed.set()  # the client closed the WebSocket

    async with serve(handler, "127.0.0.1", 0) as chatbot:
        port = next(iter(chatbot.sockets)).getsockname()[1]
        settings = load_settings(base_url=f"http://127.0.0.1:{port}", api_key="k", env="development")
        async with session(create_server(settings), mode) as client:
            data = structured(
                await client.call_tool("chat_with_assistant", {"assistant_id": ASSISTANT, "message": "hi"})
            )
            assert data["reply"].startswith("echo ") and not closed.is_set()
        with anyio.fail_after(10):
            await closed.wait()


# ----------------------------------------------------------------------------------------------------
# ``chat_with_assistant`` against hostile input and a hostile chatbot, through real MCP sessions against the
# emulator (whose chatbot echoes the message in its reply).


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
