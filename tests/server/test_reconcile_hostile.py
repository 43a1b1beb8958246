"""``reconcile_calls`` against hostile input and a hostile API, through real MCP sessions against the emulator:
escape-heavy ids and API texts must not take a result over the budget."""

from __future__ import annotations

import json

from mcp_types import CallToolResult

from server_support import connect, helper, structured
from voicing_mcp.emulator.runner import RunningEmulator
from voicing_mcp.server.render.reports import COLUMNS
from voicing_mcp.server.render.results import RESULT_BUDGET


def sent_size(result: CallToolResult) -> int:
    """Characters of the result as sent: content blocks plus structuredContent, serialised as JSON."""
    return len(json.dumps(result.model_dump(mode="json", by_alias=True, exclude_none=True), ensure_ascii=False))


async def test_escape_heavy_statuses_and_reasons_from_the_api_stay_within_the_budget(emu: RunningEmulator) -> None:
    """60 distinct 64-character statuses of NUL characters and ended reasons of bidi overrides: each is 8
    characters in the summary (<U+0000>), 6 in structuredContent and 7 in the JSON text block."""
    ids = [
        helper(
            emu,
            "POST",
            "/_emulator/calls",
            {
                "call_id": f"odd-{i}",
                "status": "\x00" * 62 + chr(0x4E00 + i),
                "ended_reason": "\u202e" * 62 + chr(0x4E00 + i),
                "ended_at": "2026-01-01T00:00:00Z",
            },
        )["call_id"]
        for i in range(60)
    ]
    async with connect(emu, "legacy") as client:
        result = await client.call_tool("reconcile_calls", {"call_ids": ids, "expected_status": "completed"})
    data = structured(result)
    assert sent_size(result) <= RESULT_BUDGET
    assert sum(data["by_status"].values()) == sum(data["by_ended_reason"].values()) == 60
    assert data["mismatches"]["count"] == 60


async def test_absurd_durations_from_the_api_are_shown_as_none_not_a_crash(emu: RunningEmulator) -> None:
    """Two finite durations of 1e308 seconds overflowed the sum of durations: the tool failed with an unexpected
    error. A duration over 10^9 seconds (31 years) is no call's: the row shows none."""
    ids = [
        helper(
            emu,
            "POST",
            "/_emulator/calls",
            {"call_id": f"long-{i}", "status": "completed", "ended_at": "2026-01-01T00:00:00Z", "duration": d},
        )["call_id"]
        for i, d in enumerate([1e308, 1e308, 42.0])
    ]
    async with connect(emu, "legacy") as client:
        result = await client.call_tool("reconcile_calls", {"call_ids": ids})
        data = structured(result)
        doc = json.loads((await client.read_resource(data["report"])).contents[0].text)  # type: ignore[union-attr]
    assert data["found"] == 3
    assert data["duration_seconds"] == {"total": 42.0, "p50": 42.0, "p90": 42.0, "max": 42.0}
    assert [row[3] for row in doc["rows"]] == [None, None, 42.0]


async def test_an_api_status_is_compared_as_an_expectation_is_read(emu: RunningEmulator) -> None:
    """An expectation is read without case, with '_' or ' ' for '-', and either cancelled spelling; the API's own
    status was only lower-cased: 'NO_ANSWER' mismatched the expected 'no-answer' and, without an end time, counted
    as a call still open instead of one to call back."""
    statuses = {"a": "NO_ANSWER", "b": "No Answer", "c": "cancelled", "d": "In_Progress"}
    for call_id, status in statuses.items():
        helper(emu, "POST", "/_emulator/calls", {"call_id": call_id, "status": status})
    expected = {"a": "no-answer", "b": "no-answer", "c": "canceled", "d": "in-progress"}
    async with connect(emu, "legacy") as client:
        result = await client.call_tool("reconcile_calls", {"call_ids": list(statuses), "expected": expected})
        data = structured(result)
        doc = json.loads((await client.read_resource(data["report"])).contents[0].text)  # type: ignore[union-attr]
    assert data["expected_checked"] == 4 and data["mismatches"]["count"] == 0
    assert data["call_back"] == {"count": 3, "sample": ["a", "b", "c"]}
    assert data["still_open"] == {"count": 1, "sample": ["d"]}
    assert data["by_status"] == {"NO_ANSWER": 1, "No Answer": 1, "cancelled": 1, "In_Progress": 1}  # API text kept
    assert [row[COLUMNS.index("mismatch")] for row in doc["rows"]] == [False] * 4
