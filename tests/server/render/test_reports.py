"""The reconcile report read in parts (``voicing://reports/{id}`` and its ``?offset=N`` parts) through real MCP
client sessions, in both protocol modes, against an emulator with 10,000 historical calls over loopback HTTP:
following ``next`` sees every row exactly once, in request order, and every part is within the result budget;
the CSV stays one whole read."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import pytest
from mcp import Client
from mcp.shared.exceptions import MCPError
from mcp_types import ReadResourceResult, TextResourceContents

from server_support import connect, helper, structured
from voicing_mcp.emulator.runner import RunningEmulator
from voicing_mcp.emulator.state import EmulatorConfig
from voicing_mcp.server.render.reports import COLUMNS, ReportStore, Row, report_json
from voicing_mcp.server.render.results import RESULT_BUDGET

HISTORY = 10_000


@pytest.fixture(scope="module")
def emu_config() -> EmulatorConfig:
    return EmulatorConfig(seed_calls=HISTORY, speed=0.0)


def wire_size(read: ReadResourceResult) -> int:
    """Characters of the read's answer as it travels (the contents as compact JSON)."""
    data = read.model_dump(mode="json", by_alias=True, exclude_none=True)
    return len(json.dumps(data["contents"], ensure_ascii=False, separators=(",", ":")))


async def parts_of(client: Client, uri: str) -> list[dict[str, Any]]:
    """Every part of a report, following ``next`` from ``uri``; each part checked against the budget."""
    parts: list[dict[str, Any]] = []
    next_uri: str | None = uri
    while next_uri is not None:
        read = await client.read_resource(next_uri)
        [content] = read.contents
        assert isinstance(content, TextResourceContents) and content.mime_type == "application/json"
        assert wire_size(read) <= RESULT_BUDGET, f"{next_uri}: {wire_size(read)} characters"
        part = json.loads(content.text)
        parts.append(part)
        next_uri = part["next"]
        assert len(parts) <= 1_000, "next never ends"
    return parts


async def test_following_next_through_a_report_of_10000_ids_sees_every_row_once_each_part_within_budget(
    emu: RunningEmulator, mode: str
) -> None:
    ids = [c.call_id for c in emu.state.order][:HISTORY]
    async with connect(emu, mode) as client:
        data = structured(await client.call_tool("reconcile_calls", {"call_ids": ids}))
        parts = await parts_of(client, data["report"])
        whole_csv = await client.read_resource(data["report_csv"])
    rows = [row for part in parts for row in part["rows"]]
    assert [r[0] for r in rows] == ids  # every id exactly once, in request order
    assert len(parts) > 10  # 10,000 rows (about 730,000 characters) do not fit one read
    first, *rest = parts
    assert first["found"] == data["found"] == HISTORY and first["by_status"] == data["by_status"]
    assert all("by_status" not in p for p in rest)  # the counts once, on the first part
    offset = 0
    for part in parts:  # every part says where it is, how many there are, and where the next one is
        assert part["rows_total"] == HISTORY and part["offset"] == offset and part["returned"] == len(part["rows"])
        assert part["columns"] == list(COLUMNS) and part["csv"] == data["report_csv"]
        offset += part["returned"]
        assert part["next"] == (f"{data['report']}?offset={offset}" if offset < HISTORY else None)
    # the CSV is still the whole report in one read, for download-style use
    [content] = whole_csv.contents
    assert isinstance(content, TextResourceContents) and content.mime_type == "text/csv"
    table = list(csv.DictReader(io.StringIO(content.text)))
    assert [t["call_id"] for t in table] == ids and len(content.text) > 10 * RESULT_BUDGET


async def test_parts_of_escape_heavy_rows_stay_within_the_budget(emu: RunningEmulator) -> None:
    """Hostile API text: 300 calls whose status and ended reason are long runs of quotes, backslashes and
    invisible characters (each one several characters once escaped)."""
    ids = [
        helper(
            emu,
            "POST",
            "/_emulator/calls",
            {"call_id": f"esc-{i}", "status": '"\\' * 100, "ended_reason": '\u202e\x00"\\' * 1_000},
        )["call_id"]
        for i in range(300)
    ]
    async with connect(emu, "legacy") as client:
        data = structured(await client.call_tool("reconcile_calls", {"call_ids": ids}))
        parts = await parts_of(client, data["report"])
    assert [r[0] for part in parts for r in part["rows"]] == ids


async def test_an_offset_past_the_end_says_where_the_first_part_is_and_a_bad_one_is_an_error(
    emu: RunningEmulator,
) -> None:
    ids = [c.call_id for c in emu.state.order][:10]
    async with connect(emu, "legacy") as client:
        data = structured(await client.call_tool("reconcile_calls", {"call_ids": ids}))
        past = json.loads((await client.read_resource(f"{data['report']}?offset=50")).contents[0].text)  # type: ignore[union-attr]
        with pytest.raises(MCPError) as caught:
            await client.read_resource(f"{data['report']}?offset=-1")
    assert past["rows"] == [] and past["next"] is None and past["rows_total"] == 10
    assert f"past the last row (10): read {data['report']} for the first part" in past["note"]
    assert "'-1' is not a row number" in caught.value.error.message


def test_a_part_holds_at_least_one_row_and_splits_where_the_budget_says() -> None:
    report = ReportStore().add([Row(f"call-{i:04d}", True, "completed", "x" * 200) for i in range(1_000)])
    small = json.loads(report_json(report, 0, budget=2_000))
    assert 1 <= small["returned"] < 10 and small["next"] == f"{report.uri}?offset={small['returned']}"
    assert len(json.dumps(report_json(report, 0, budget=2_000), ensure_ascii=False)) <= 2_000
    tiny = json.loads(report_json(report, 5, budget=10))  # a budget no row fits: still one row, never stuck
    assert tiny["returned"] == 1 and tiny["next"] == f"{report.uri}?offset=6"
