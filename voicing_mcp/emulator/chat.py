"""The emulator's chatbot WebSocket: the assistant's rendered opening line, then a deterministic reply per message.

Closes with 4401 (wrong key), 4400 (no ``assistant_id``) or 4404 (unknown assistant); the other query
parameters are the assistant's input variables.
"""

from __future__ import annotations

import json
from typing import Any, cast

from starlette.websockets import WebSocket, WebSocketDisconnect

from voicing_mcp.emulator.state import EmulatorState

CHAT_PATH = "/api/v1/voicing/ws/platform/api/chatbot"

_TEXT_FIELDS = ("message", "text", "content", "response")


def _frame_text(raw: str) -> str:
    """A client frame: JSON ``{"message": ...}`` (or text/content) or plain text."""
    try:
        data: Any = json.loads(raw)
    except (ValueError, RecursionError):  # RecursionError: JSON nested too deep to decode
        return raw.strip()
    if isinstance(data, dict):
        fields = cast(dict[str, Any], data)
        for key in _TEXT_FIELDS:
            value = fields.get(key)
            if isinstance(value, str):
                return value.strip()
        return ""
    return data.strip() if isinstance(data, str) else raw.strip()


def chat_reply(opening: str, message: str, turn: int) -> str:
    """A deterministic answer: the same conversation always gets the same replies."""
    low = message.lower()
    if any(word in low for word in ("bye", "goodbye", "that's all", "thats all")):
        return "Thank you for your time. Goodbye!"
    if low.rstrip("!. ") in ("hi", "hello", "hey"):
        return f"Hello! {opening}"
    if "repeat" in low or "again" in low:
        return f"Of course. {opening}"
    if "?" in message:
        return f"Good question. About \u201c{message}\u201d: I can help with that on this call."
    acks = ("I understand.", "Thank you, noted.", "Got it.", "Okay.")
    return f"{acks[turn % len(acks)]} You said: \u201c{message}\u201d. Is there anything else?"


async def chatbot(websocket: WebSocket) -> None:
    state = cast(EmulatorState, websocket.app.state.emulator)
    await websocket.accept()
    state.requests.append(
        {
            "method": "WS",
            "path": websocket.url.path,
            "query": dict(websocket.query_params),
            "json": None,
            "status": None,
            "fault": None,
        }
    )
    if websocket.headers.get("x-api-key") != state.config.api_key:
        await websocket.close(code=4401, reason="Invalid API token")
        return
    assistant_id = websocket.query_params.get("assistant_id", "").strip()
    if not assistant_id:
        await websocket.close(code=4400, reason="assistant_id is required")
        return
    assistant = state.assistants.get(assistant_id)
    if assistant is None:
        await websocket.close(code=4404, reason=f"Assistant with ID {assistant_id} not found"[:120])
        return
    variables = {k: v for k, v in websocket.query_params.items() if k != "assistant_id"}
    opening = assistant.render(variables)
    await websocket.send_json({"type": "message", "message": opening})
    turn = 0
    try:
        while True:
            received = await websocket.receive()
            if received["type"] == "websocket.disconnect":
                return
            raw = received.get("text")
            if raw is None:
                data = received.get("bytes") or b""
                raw = data.decode("utf-8", errors="replace")
            text = _frame_text(raw)
            if not text:
                await websocket.send_json({"type": "error", "message": 'empty message: send {"message": "<text>"}'})
                continue
            await websocket.send_json({"type": "message", "message": chat_reply(opening, text, turn)})
            turn += 1
    except WebSocketDisconnect:
        return
