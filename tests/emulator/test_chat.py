"""The emulator's chatbot WebSocket (emulator/chat.py) over a real loopback connection, with the raw websockets
client: the opening line, a deterministic reply per message, the frames it reads, the close codes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from voicing_mcp.emulator.chat import CHAT_PATH, chat_reply
from voicing_mcp.emulator.runner import RunningEmulator
from voicing_mcp.emulator.state import EmulatorConfig

KEY = "ws-test-key"
GUIDE_ASSISTANT = "019addcc-b878-7b10-85f1-49f21342f947"
PLAIN_ASSISTANT = "019addcc-0000-7000-8000-000000000001"
CHAT = "/api/v1/voicing/ws/platform/api/chatbot"


@pytest.fixture(scope="module")
def emu_config() -> EmulatorConfig:
    return EmulatorConfig(api_key=KEY, speed=0.0, seed_calls=0)


def ws_url(emu: RunningEmulator, query: str) -> str:
    return emu.base_url.replace("http://", "ws://") + CHAT + query


def open_chat(emu: RunningEmulator, query: str, key: str | None = KEY) -> ClientConnection:
    headers = {} if key is None else {"x-api-key": key}
    return connect(ws_url(emu, query), additional_headers=headers, open_timeout=10)


def frame(ws: ClientConnection) -> dict[str, Any]:
    return json.loads(ws.recv(timeout=10))


def conversation(emu: RunningEmulator, messages: list[str]) -> list[dict[str, Any]]:
    with open_chat(emu, f"?assistant_id={GUIDE_ASSISTANT}&name=Ada&plan_type=Gold") as ws:
        frames = [frame(ws)]
        for message in messages:
            ws.send(json.dumps({"message": message}))
            frames.append(frame(ws))
    return frames


def test_the_chat_opens_with_the_assistants_prompt_rendered_from_the_query(emu: RunningEmulator) -> None:
    with open_chat(emu, f"?assistant_id={GUIDE_ASSISTANT}&name=Ada&plan_type=Gold") as ws:
        assert frame(ws) == {"type": "message", "message": "Hi Ada, your Gold plan payment is pending."}


def test_a_missing_variable_is_shown_as_its_placeholder_in_the_opening(emu: RunningEmulator) -> None:
    with open_chat(emu, f"?assistant_id={GUIDE_ASSISTANT}&name=Ada") as ws:
        assert frame(ws)["message"] == "Hi Ada, your {{ plan_type }} plan payment is pending."


def test_the_chat_answers_every_turn_of_a_conversation(emu: RunningEmulator) -> None:
    messages = ["Hello", "Why is it pending?", "I will pay tomorrow", "Can you repeat that?", "Okay, bye"]
    frames = conversation(emu, messages)
    assert [f["type"] for f in frames] == ["message"] * 6
    replies = [f["message"] for f in frames[1:]]
    assert replies[0] == "Hello! Hi Ada, your Gold plan payment is pending."
    assert "Why is it pending?" in replies[1]
    assert "I will pay tomorrow" in replies[2]
    assert replies[3] == "Of course. Hi Ada, your Gold plan payment is pending."
    assert replies[4] == "Thank you for your time. Goodbye!"


def test_the_same_conversation_gets_the_same_replies(emu: RunningEmulator) -> None:
    messages = ["one", "two", "three", "four"]
    first, second = conversation(emu, messages), conversation(emu, messages)
    assert first == second
    assert len({f["message"] for f in first[1:]}) == 4


def test_plain_text_and_other_text_fields_are_accepted(emu: RunningEmulator) -> None:
    with open_chat(emu, f"?assistant_id={PLAIN_ASSISTANT}") as ws:
        opening = frame(ws)["message"]
        assert opening.startswith("Hello, this is a courtesy call from Voicing")
        ws.send("plain words")
        assert "plain words" in frame(ws)["message"]
        ws.send(json.dumps({"text": "from text"}))
        assert "from text" in frame(ws)["message"]
        ws.send(json.dumps({"content": "from content"}).encode("utf-8"))
        assert "from content" in frame(ws)["message"]


def test_an_empty_message_gets_an_error_frame_and_the_chat_goes_on(emu: RunningEmulator) -> None:
    with open_chat(emu, f"?assistant_id={PLAIN_ASSISTANT}") as ws:
        frame(ws)
        ws.send(json.dumps({"message": "  "}))
        error = frame(ws)
        assert error["type"] == "error"
        assert "empty message" in error["message"]
        ws.send(json.dumps({"message": "still there?"}))
        assert frame(ws)["type"] == "message"


@pytest.mark.parametrize(
    ("query", "key", "code", "reason"),
    [
        (f"?assistant_id={GUIDE_ASSISTANT}", "wrong", 4401, "Invalid API token"),
        (f"?assistant_id={GUIDE_ASSISTANT}", None, 4401, "Invalid API token"),
        ("", KEY, 4400, "assistant_id is required"),
        ("?assistant_id=", KEY, 4400, "assistant_id is required"),
        ("?assistant_id=nobody", KEY, 4404, "Assistant with ID nobody not found"),
    ],
)
def test_a_refused_chat_is_closed_with_a_code_and_reason(
    emu: RunningEmulator, query: str, key: str | None, code: int, reason: str
) -> None:
    with open_chat(emu, query, key=key) as ws:
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv(timeout=10)
    assert closed.value.rcvd is not None
    assert (closed.value.rcvd.code, closed.value.rcvd.reason) == (code, reason)


def test_chats_appear_in_the_request_log_without_the_key(emu: RunningEmulator) -> None:
    conversation(emu, ["hi"])
    with httpx.Client(base_url=emu.base_url) as client:
        raw = client.get("/_emulator/requests")
    last = raw.json()["requests"][-1]
    assert (last["method"], last["path"], last["query"]["assistant_id"]) == ("WS", CHAT, GUIDE_ASSISTANT)
    assert KEY not in raw.text


def test_a_frame_nested_too_deep_to_decode_is_answered_as_plain_text_and_the_chat_goes_on(emu: RunningEmulator) -> None:
    deep = "[" * 100_000 + "]" * 100_000
    with open_chat(emu, f"?assistant_id={GUIDE_ASSISTANT}&name=Ada&plan_type=Gold") as ws:
        frame(ws)  # the greeting
        ws.send(deep)
        assert frame(ws)["type"] == "message"
        ws.send(json.dumps({"message": "still there?"}))
        assert "still there?" in frame(ws)["message"]


def test_the_chat_is_served_where_the_vendor_guide_says() -> None:
    guide = Path(__file__).resolve().parents[2] / "docs" / "voicing-api.md"
    assert CHAT == CHAT_PATH
    assert f"WS {CHAT_PATH}" in guide.read_text(encoding="utf-8")


def test_a_json_string_a_json_number_and_invalid_utf8_bytes_are_read_as_text(emu: RunningEmulator) -> None:
    with open_chat(emu, f"?assistant_id={PLAIN_ASSISTANT}") as ws:
        frame(ws)
        ws.send(json.dumps("  quoted words  "))
        assert "\u201cquoted words\u201d" in frame(ws)["message"]
        ws.send("42")
        assert "\u201c42\u201d" in frame(ws)["message"]
        ws.send(b"caf\xe9 ok")
        assert "\u201ccaf\ufffd ok\u201d" in frame(ws)["message"]


def test_a_json_object_without_a_text_field_gets_an_error_frame(emu: RunningEmulator) -> None:
    with open_chat(emu, f"?assistant_id={PLAIN_ASSISTANT}") as ws:
        frame(ws)
        ws.send(json.dumps({"message": 5, "other": "ignored"}))
        assert frame(ws) == {"type": "error", "message": 'empty message: send {"message": "<text>"}'}


def test_plain_statements_are_acknowledged_in_turn_and_the_reply_quotes_the_message() -> None:
    replies = [chat_reply("Hi.", "noted", turn) for turn in range(5)]
    assert [r.split(" You said")[0] for r in replies] == [
        "I understand.",
        "Thank you, noted.",
        "Got it.",
        "Okay.",
        "I understand.",
    ]
    assert replies[0] == "I understand. You said: \u201cnoted\u201d. Is there anything else?"


def test_goodbye_wins_over_a_question_and_a_greeting_repeats_the_opening() -> None:
    assert chat_reply("Hi.", "Can I say goodbye?", 0) == "Thank you for your time. Goodbye!"
    assert chat_reply("Hi Ann.", "Hey!", 3) == "Hello! Hi Ann."
    assert chat_reply("Hi Ann.", "say it AGAIN", 1) == "Of course. Hi Ann."
    assert chat_reply("Hi Ann.", "When?", 2).startswith("Good question. About \u201cWhen?\u201d")
