"""``chat_with_assistant`` against hostile input and a hostile chatbot, through real MCP sessions against the
emulator (whose chatbot echoes the message in its reply)."""

from __future__ import annotations

import json

import pytest
from mcp_types import CallToolResult

from server_support import ASSISTANT, connect, structured, text_of
from voicing_mcp.emulator.runner import RunningEmulator
from voicing_mcp.server.reconcile_summary import RESULT_BUDGET


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
