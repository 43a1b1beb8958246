"""The chatbot session over a real WebSocket: against the emulator, and against small loopback
servers that speak the other frame shapes the client must tolerate."""

from __future__ import annotations

import json
import logging
import socket
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import pytest
from pydantic import SecretStr
from websockets.asyncio.server import ServerConnection, serve

from voicing_mcp.api.chat import MAX_QUERY_CHARS, ChatSession, decode_frame, encode_message, ws_url
from voicing_mcp.api.client import VoicingClient
from voicing_mcp.emulator.runner import RunningEmulator
from voicing_mcp.emulator.state import EmulatorConfig
from voicing_mcp.errors import ChatError, InvalidRequestError

KEY = "chat-key-never-shown-91b2"
COURTESY = "019addcc-0000-7000-8000-000000000001"
COURTESY_OPENING = (
    "Hello, this is a courtesy call from Voicing to confirm that our service line is working. No action is needed."
)
BILLING = "019addcc-b878-7b10-85f1-49f21342f947"


@pytest.fixture(scope="module")
def emu_config() -> EmulatorConfig:
    return EmulatorConfig(api_key=KEY, seed_calls=0)


@pytest.fixture(scope="module")
def emulator(emu_module: RunningEmulator) -> RunningEmulator:
    """This module's name for its emulator (started by tests/conftest.py from ``emu_config``)."""
    return emu_module


@pytest.fixture
async def client(emulator: RunningEmulator) -> AsyncIterator[VoicingClient]:
    async with VoicingClient(base_url=emulator.base_url, api_key=KEY) as c:
        yield c


# ----------------------------------------------------------------------------- against the emulator


async def test_a_chat_keeps_the_greeting_and_answers_several_turns(client: VoicingClient) -> None:
    async with client.chat(COURTESY) as session:
        assert session.greeting == COURTESY_OPENING
        first = await session.send("hello")
        second = await session.send("Can you repeat that?")
        third = await session.send("my order number is 12")
        last = await session.send("bye")
    assert first == f"Hello! {COURTESY_OPENING}"
    assert second == f"Of course. {COURTESY_OPENING}"
    assert "my order number is 12" in third
    assert last == "Thank you for your time. Goodbye!"
    assert not session.is_open


async def test_the_same_conversation_gets_the_same_replies(client: VoicingClient) -> None:
    replies: list[list[str]] = []
    for _ in range(2):
        async with client.chat(BILLING) as session:
            replies.append([await session.send(text) for text in ("ok", "what is pending?", "fine")])
    assert replies[0] == replies[1]


async def test_a_wrong_key_closes_with_4401_as_an_authentication_message_without_the_key(
    emulator: RunningEmulator,
) -> None:
    wrong = "wrong-SECRET-chat-key-55"
    async with VoicingClient(base_url=emulator.base_url, api_key=wrong) as bad:
        with pytest.raises(ChatError) as info:
            async with bad.chat(COURTESY):
                pass
    err = info.value
    assert err.close_code == 4401
    assert "API key" in str(err) and "VOICING_API_KEY" in str(err)
    for text in (str(err), repr(err), repr(vars(err))):
        assert wrong not in text


async def test_an_unknown_assistant_closes_with_4404_naming_it(client: VoicingClient) -> None:
    with pytest.raises(ChatError) as info:
        async with client.chat("no-such-assistant"):
            pass
    assert info.value.close_code == 4404
    assert "unknown assistant no-such-assistant" in str(info.value)


async def test_an_empty_message_is_refused_before_sending(client: VoicingClient) -> None:
    async with client.chat(COURTESY) as session:
        with pytest.raises(InvalidRequestError):
            await session.send("   ")
        assert await session.send("hello") == f"Hello! {COURTESY_OPENING}"


async def test_a_closed_session_refuses_to_send(client: VoicingClient) -> None:
    session = client.chat(COURTESY)
    with pytest.raises(ChatError, match="not open"):
        await session.send("hi")
    await session.open()
    await session.aclose()
    await session.aclose()  # idempotent
    with pytest.raises(ChatError, match="closed"):
        await session.send("hi")


async def test_no_chatbot_listening_is_a_chat_error(client: VoicingClient) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    async with VoicingClient(base_url=f"http://127.0.0.1:{port}", api_key=KEY) as nowhere:
        with pytest.raises(ChatError, match="could not connect to the chatbot"):
            async with nowhere.chat(COURTESY):
                pass


# ----------------------------------------------------------------------------- other frame shapes, real sockets

ServerHandler = Callable[[ServerConnection], Awaitable[None]]


@asynccontextmanager
async def _ws_server(handler: ServerHandler) -> AsyncGenerator[str]:
    async with serve(handler, "127.0.0.1", 0) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        yield f"ws://127.0.0.1:{port}/chat?assistant_id=a"


def _session(url: str, *, reply_timeout: float = 5.0) -> ChatSession:
    return ChatSession(
        url=url, api_key=SecretStr(KEY), assistant_id="a", reply_timeout=reply_timeout, greeting_timeout=0.2
    )


async def test_plain_text_and_nested_json_replies_are_read_and_control_frames_skipped() -> None:
    received: list[str] = []
    keys: list[str | None] = []

    async def handler(ws: ServerConnection) -> None:
        keys.append(ws.request.headers.get("x-api-key") if ws.request else None)
        async for frame in ws:
            assert isinstance(frame, str)
            received.append(frame)
            text = json.loads(frame)["message"]
            if text == "plain":
                await ws.send("plain answer")
            elif text == "nested":
                await ws.send(json.dumps({"type": "typing"}))
                await ws.send(json.dumps({"event": "reply", "data": {"content": "nested answer"}}))
            elif text == "bytes":
                await ws.send(json.dumps({"response": "bytes answer"}).encode())

    async with _ws_server(handler) as url, _session(url) as session:
        assert session.greeting is None  # this server does not greet
        assert await session.send("plain") == "plain answer"
        assert await session.send("nested") == "nested answer"
        assert await session.send("bytes") == "bytes answer"
    assert received == [encode_message("plain"), encode_message("nested"), encode_message("bytes")]
    assert keys == [KEY]


async def test_no_reply_within_the_timeout_is_a_chat_error_and_ends_the_session() -> None:
    async def silent(ws: ServerConnection) -> None:
        async for _ in ws:
            pass

    async with _ws_server(silent) as url, _session(url, reply_timeout=0.3) as session:
        with pytest.raises(ChatError, match=r"no reply from the chatbot within 0\.3 s"):
            await session.send("anyone?")
        assert not session.is_open


async def test_a_server_error_close_mid_conversation_is_a_chat_error_with_its_code() -> None:
    async def failing(ws: ServerConnection) -> None:
        await ws.send(json.dumps({"message": "hi there"}))
        await ws.recv()
        await ws.close(code=1011, reason="model crashed")

    async with _ws_server(failing) as url, _session(url) as session:
        assert session.greeting == "hi there"
        with pytest.raises(ChatError) as info:
            await session.send("hello")
    assert info.value.close_code == 1011
    assert str(info.value) == "the chatbot failed on its side (close code 1011): model crashed"


async def test_an_error_frame_is_a_chat_error_with_the_servers_words() -> None:
    async def erring(ws: ServerConnection) -> None:
        async for _ in ws:
            await ws.send(json.dumps({"type": "error", "message": "assistant is paused"}))

    async with _ws_server(erring) as url, _session(url) as session:
        with pytest.raises(ChatError, match="assistant is paused"):
            await session.send("hello")


async def test_a_huge_error_frame_is_quoted_cut_to_a_readable_length() -> None:
    async def erring(ws: ServerConnection) -> None:
        async for _ in ws:
            await ws.send(json.dumps({"type": "error", "message": "assistant is paused " + "x" * 100_000}))

    async with _ws_server(erring) as url, _session(url) as session:
        with pytest.raises(ChatError) as info:
            await session.send("hello")
    text = str(info.value)
    assert text.startswith("the chatbot reported an error: assistant is paused xxx")
    assert text.endswith("more characters cut)") and len(text) < 1_200


async def test_a_reply_nested_too_deep_to_decode_is_read_as_plain_text() -> None:
    deep = "[" * 100_000 + "]" * 100_000

    async def nesting(ws: ServerConnection) -> None:
        async for _ in ws:
            await ws.send(deep)

    async with _ws_server(nesting) as url, _session(url) as session:
        assert await session.send("hello") == deep
        assert session.is_open


# ----------------------------------------------------------------------------- framing, pure


@pytest.mark.parametrize(
    ("frame", "text"),
    [
        ("just text", "just text"),
        (b"bytes text", "bytes text"),
        ('{"message": "m"}', "m"),
        ('{"text": "t"}', "t"),
        ('{"content": "c"}', "c"),
        ('{"response": "r"}', "r"),
        ('{"data": {"message": "dm"}}', "dm"),
        ('{"data": "ds"}', "ds"),
        ('{"message": {"text": "deep"}}', "deep"),
        ('"a json string"', "a json string"),
        ("42", "42"),
        ('{"type": "typing"}', None),
        ("   ", None),
    ],
)
def test_reply_frames_are_decoded_from_every_tolerated_shape(frame: str | bytes, text: str | None) -> None:
    assert decode_frame(frame) == text


def test_error_frames_raise_chat_errors() -> None:
    with pytest.raises(ChatError, match="quota"):
        decode_frame('{"error": "quota"}')
    with pytest.raises(ChatError, match="no details"):
        decode_frame('{"type": "error"}')


def test_the_sent_frame_is_a_json_message() -> None:
    assert json.loads(encode_message("héllo")) == {"message": "héllo"}


def test_the_websocket_url_follows_the_base_url_scheme_and_prefix() -> None:
    assert ws_url("https://api.voicing.ai", "a b") == (
        "wss://api.voicing.ai/api/v1/voicing/ws/platform/api/chatbot?assistant_id=a+b"
    )
    assert ws_url("http://127.0.0.1:8787/proxy/", "x") == (
        "ws://127.0.0.1:8787/proxy/api/v1/voicing/ws/platform/api/chatbot?assistant_id=x"
    )
    with pytest.raises(InvalidRequestError):
        ws_url("ftp://example.test", "x")


def test_input_variables_follow_assistant_id_in_the_query_as_the_text_a_template_prints() -> None:
    url = ws_url("https://api.voicing.ai", "a", {"name": "Ada Lovelace", "due": 12.5, "vip": True})
    assert url.endswith("?assistant_id=a&name=Ada+Lovelace&due=12.5&vip=True")


def test_a_variable_named_assistant_id_or_a_query_over_the_cap_is_refused_before_connecting() -> None:
    with pytest.raises(InvalidRequestError, match="'assistant_id' cannot be sent"):
        ws_url("https://api.voicing.ai", "a", {"assistant_id": "b"})
    with pytest.raises(InvalidRequestError, match=rf"at most {MAX_QUERY_CHARS}.*'long', 7000 characters"):
        ws_url("https://api.voicing.ai", "a", {"short": "x", "long": "y" * 7000})


async def test_input_variables_fill_the_emulators_greeting_and_stay_out_of_the_handshake_log(
    client: VoicingClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG, logger="websockets.client"):
        values = {"name": "Zelda Quist & Zoë=1+1?#", "plan_type": "Gold"}  # the URL's own characters survive
        async with client.chat(BILLING, input_variables=values) as session:
            assert session.greeting == "Hi Zelda Quist & Zoë=1+1?#, your Gold plan payment is pending."
    messages = [r.getMessage() for r in caplog.records]
    handshake = [m for m in messages if m.startswith("> GET")]
    assert handshake and "[input variables not logged]" in handshake[0]
    # websockets logs frames at DEBUG (the greeting holds the values by design); the URL is not among them
    assert not [m for m in messages if "Zelda" in m and not m.startswith("< TEXT")]
