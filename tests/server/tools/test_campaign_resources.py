"""voicing://campaigns/{campaign_id}{?offset} and .csv through a real MCP client session: every row of a
10,000-row campaign read exactly once by following next, each part within the result budget; the CSV whole."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from mcp import MCPError

from tests.server.tools.campaigns_support import CID, campaign_server, dial_rows, make_campaign, number, read_text
from voicing_mcp.server.render.campaign_rows import COLUMNS
from voicing_mcp.server.render.results import RESULT_BUDGET


async def test_following_next_reads_every_row_of_10000_once_within_the_budget(tmp_path: Path) -> None:
    async with campaign_server(tmp_path) as rig:
        await make_campaign(rig, 10_000, excluded={5})
        await dial_rows(rig.ledger, CID, ["completed", "busy"])
        parts: list[dict[str, object]] = []
        uri: str | None = f"voicing://campaigns/{CID}"
        while uri is not None:
            text = await read_text(rig.client, uri)
            assert len(json.dumps(text, ensure_ascii=False)) <= RESULT_BUDGET
            part = json.loads(text)
            parts.append(part)
            uri = part["next"]  # type: ignore[assignment]
    rows = [row for part in parts for row in part["rows"]]  # type: ignore[attr-defined]
    assert [r[0] for r in rows] == list(range(1, 10_001))
    assert parts[0]["columns"] == list(COLUMNS) and parts[0]["rows_total"] == 10_000
    assert parts[0]["counts"]["completed"] == 1 and "counts" not in parts[1]  # type: ignore[index]
    by_position = {r[0]: r for r in rows}
    assert by_position[1][:6] == [1, number(1), "completed", 0, "call-0", "completed"]
    assert by_position[5][2] == "excluded" and by_position[5][7] == "do-not-call"
    assert len(parts) > 10


async def test_the_csv_has_every_row_and_neutralises_formula_cells(tmp_path: Path) -> None:
    async with campaign_server(tmp_path) as rig:
        await make_campaign(rig, 4, excluded={2}, reason='=HYPERLINK("http://x")')
        text = await read_text(rig.client, f"voicing://campaigns/{CID}.csv")
    table = list(csv.reader(io.StringIO(text)))
    assert table[0] == list(COLUMNS) and len(table) == 5
    assert table[2][2] == "excluded" and table[2][7] == '\'=HYPERLINK("http://x")'
    assert table[1][1] == "'" + number(1)  # '+' first: kept as text by a spreadsheet


async def test_an_unknown_campaign_or_a_bad_offset_is_an_error_that_says_what_to_read(tmp_path: Path) -> None:
    async with campaign_server(tmp_path) as rig:
        await make_campaign(rig, 2)
        with pytest.raises(MCPError) as unknown:
            await read_text(rig.client, "voicing://campaigns/cmp_nope")
        with pytest.raises(MCPError) as offset:
            await read_text(rig.client, f"voicing://campaigns/{CID}?offset=abc")
        past = json.loads(await read_text(rig.client, f"voicing://campaigns/{CID}?offset=9"))
    assert "no campaign 'cmp_nope'" in str(unknown.value) and "list_campaigns" in str(unknown.value)
    assert "not a row number" in str(offset.value)
    assert past["rows"] == [] and past["next"] is None and "past the last row" in past["note"]
