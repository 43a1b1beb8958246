"""campaign_status through a real MCP client session: campaigns created directly in the server's ledger (as
prepare_campaign and the human's approval would), rows moved through the ledger's own claim and outcome calls."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from server_support import structured, text_of
from tests.server.tools.campaigns_support import (
    CID,
    campaign_server,
    dial_rows,
    error_text,
    make_campaign,
)
from voicing_mcp.guard.ledger.campaigns import ROW_STATES
from voicing_mcp.messages import CAMPAIGN_DIALLING_NOTE
from voicing_mcp.server.render.results import RESULT_BUDGET, result_size


async def test_status_counts_every_row_state_and_says_what_happened_and_what_happens_next(
    tmp_path: Path, mode: str
) -> None:
    async with campaign_server(tmp_path, mode) as rig:
        await make_campaign(rig, 12, excluded={11}, unticked={12})
        await dial_rows(rig.ledger, CID, ["completed", "busy", "in_progress", "unknown", "voicemail"])
        result = await rig.client.call_tool("campaign_status", {"campaign_id": CID})
    data = structured(result)
    assert list(data["counts"]) == list(ROW_STATES)  # every state, zeros included
    assert data["counts"] == {
        **dict.fromkeys(ROW_STATES, 0),
        "queued": 5,
        "completed": 1,
        "busy": 1,
        "in_progress": 1,
        "unknown": 1,
        "voicemail": 1,
        "excluded": 1,
        "removed": 1,
    }
    assert data["status"] == "running" and data["total"] == 12 and data["done"] == 6
    assert data["next_dial_at"] == "2026-05-04T16:00:00Z"  # queued rows are due now
    assert data["approval_expires_at"] == "2026-05-05T16:00:00Z"
    assert data["resource"] == f"voicing://campaigns/{CID}" and data["resource_csv"].endswith(".csv")
    assert data["dialling"] == CAMPAIGN_DIALLING_NOTE
    recent = data["recent"]
    assert {r["state"] for r in recent} == {"completed", "busy", "in_progress", "unknown", "voicemail"}
    assert all(r["phone_number"].startswith("+1701555") for r in recent)  # as submitted, like list_calls
    assert {r["call_id"] for r in recent if r["state"] == "completed"} == {"call-0"}
    text = text_of(result)
    assert "6 of 12 rows done" in text and "next dial is due now" in text and CAMPAIGN_DIALLING_NOTE in text
    assert f"voicing://campaigns/{CID}" in text


async def test_a_campaign_awaiting_approval_says_nothing_was_dialled(tmp_path: Path) -> None:
    async with campaign_server(tmp_path) as rig:
        await make_campaign(rig, 3, approve=False, excluded={2})
        data = structured(await rig.client.call_tool("campaign_status", {"campaign_id": CID}))
    assert data["status"] == "awaiting_approval" and data["next_dial_at"] is None and data["recent"] == []
    assert data["counts"]["queued"] == 2 and data["counts"]["excluded"] == 1 and data["done"] == 1
    assert "awaits the human's approval of 2 accepted row(s)" in data["summary"]
    assert "nothing has been dialled" in data["summary"]


async def test_a_paused_campaign_says_why_and_whether_resume_needs_a_new_approval(tmp_path: Path) -> None:
    async with campaign_server(tmp_path) as rig:
        await make_campaign(rig, 4)
        await rig.ledger.set_campaign_status(CID, "paused", reason="3 unknown outcomes in a row")
        fresh = structured(await rig.client.call_tool("campaign_status", {"campaign_id": CID}))
        rig.clock.now += timedelta(hours=25)
        lapsed = structured(await rig.client.call_tool("campaign_status", {"campaign_id": CID}))
    assert fresh["pause_reason"] == "3 unknown outcomes in a row" and fresh["next_dial_at"] is None
    assert "3 unknown outcomes in a row" in fresh["summary"] and "no new approval until" in fresh["summary"]
    assert "asks the human to approve again" in lapsed["summary"]


async def test_the_status_of_a_10000_row_campaign_fits_the_result_budget(tmp_path: Path) -> None:
    async with campaign_server(tmp_path) as rig:
        await make_campaign(rig, 10_000, excluded=set(range(1, 10_001, 7)))
        await dial_rows(rig.ledger, CID, ["completed"] * 2)
        result = await rig.client.call_tool("campaign_status", {"campaign_id": CID})
    data = structured(result)
    assert data["total"] == 10_000 and data["counts"]["excluded"] == 1_429 and data["counts"]["completed"] == 2
    assert len(data["recent"]) == 2  # exclusions made at preparation are not news
    assert result_size(result) <= RESULT_BUDGET


async def test_an_unknown_campaign_id_is_an_error_naming_it_with_a_did_you_mean(tmp_path: Path) -> None:
    async with campaign_server(tmp_path) as rig:
        await make_campaign(rig, 2)
        typo = await rig.client.call_tool("campaign_status", {"campaign_id": "cmp_0123456789abcdeg"})
        other = await rig.client.call_tool("campaign_status", {"campaign_id": "nothing-like-it"})
    text = error_text(typo)
    assert "no campaign 'cmp_0123456789abcdeg'" in text and f"Did you mean '{CID}'" in text
    assert "list_campaigns" in text
    assert "Did you mean" not in error_text(other) and "nothing-like-it" in error_text(other)


async def test_a_campaign_of_another_environment_in_the_same_ledger_is_not_this_servers(tmp_path: Path) -> None:
    async with campaign_server(tmp_path) as rig:
        await make_campaign(rig, 2, environment="production")
        result = await rig.client.call_tool("campaign_status", {"campaign_id": CID})
    text = error_text(result)
    assert "'production'" in text and "not this server's campaign" in text
