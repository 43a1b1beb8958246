"""control_campaign through a real MCP client session, against the server's own ledger: a pause or a cancel is
seen by the ledger's claim (nothing more is handed to a dialler), resume continues while the approval holds and,
after it lapsed, does not run the campaign without the human."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from server_support import structured, text_of
from tests.server.tools.campaigns_support import (
    CID,
    ENV,
    LEASE,
    campaign_server,
    dial_rows,
    error_text,
    make_campaign,
)
from voicing_mcp.api.models import OutboundCallRequest
from voicing_mcp.errors import GuardRefusal
from voicing_mcp.guard.ledger import CampaignDial, Ledger


async def claimable(ledger: Ledger, n: int = 10) -> int:
    """Rows a dispatcher's claim gets now (each claimed row becomes dialling)."""
    rows = await ledger.claim_next_rows(worker_id="probe", lease=LEASE, limit=n, campaign_id=CID)
    return len(rows)


async def test_pause_stops_the_claims_before_the_next_dial_and_resume_continues_without_a_new_approval(
    tmp_path: Path, mode: str
) -> None:
    async with campaign_server(tmp_path, mode) as rig:
        await make_campaign(rig, 6)
        await dial_rows(rig.ledger, CID, ["completed"])
        paused = await rig.client.call_tool("control_campaign", {"campaign_id": CID, "action": "pause"})
        while_paused = await claimable(rig.ledger)
        rig.clock.now += timedelta(hours=3)
        resumed = await rig.client.call_tool("control_campaign", {"campaign_id": CID, "action": "resume"})
        after = await claimable(rig.ledger, 1)
    p = structured(paused)
    assert p["changed"] is True and p["previous_status"] == "running" and p["status"] == "paused"
    assert p["pause_reason"] == "paused with control_campaign" and p["counts"]["completed"] == 1
    assert while_paused == 0  # the dispatcher's claim hands out no row of a paused campaign
    r = structured(resumed)
    assert r["changed"] is True and r["status"] == "running" and r["pause_reason"] is None
    assert "no new approval" in text_of(resumed) and "2026-05-05T16:00:00Z" in text_of(resumed)
    assert after == 1


async def test_pausing_a_paused_campaign_changes_nothing_and_says_so(tmp_path: Path) -> None:
    async with campaign_server(tmp_path) as rig:
        await make_campaign(rig, 2)
        await rig.client.call_tool("control_campaign", {"campaign_id": CID, "action": "pause"})
        again = structured(await rig.client.call_tool("control_campaign", {"campaign_id": CID, "action": "pause"}))
    assert again["changed"] is False and again["status"] == "paused" and "paused already" in again["summary"]


async def test_cancel_ends_the_campaign_and_its_queued_rows_are_never_dialled(tmp_path: Path) -> None:
    async with campaign_server(tmp_path) as rig:
        await make_campaign(rig, 5)
        await dial_rows(rig.ledger, CID, ["in_progress"])
        result = await rig.client.call_tool("control_campaign", {"campaign_id": CID, "action": "cancel"})
        left = await claimable(rig.ledger)
        resume = await rig.client.call_tool("control_campaign", {"campaign_id": CID, "action": "resume"})
    data = structured(result)
    assert data["status"] == "cancelled" and data["counts"]["cancelled"] == 4 and data["counts"]["in_progress"] == 1
    assert "calls already in progress were not hung up" in data["summary"]
    assert left == 0
    text = error_text(resume)
    assert f"campaign {CID} is cancelled: resume is not possible" in text and "prepare_campaign" in text


async def test_cancelling_a_completed_campaign_is_refused_naming_its_status(tmp_path: Path) -> None:
    async with campaign_server(tmp_path) as rig:
        await make_campaign(rig, 1)
        await dial_rows(rig.ledger, CID, ["completed"])
        finished = await rig.ledger.finish_campaign_if_done(CID)
        result = await rig.client.call_tool("control_campaign", {"campaign_id": CID, "action": "cancel"})
    assert finished is not None and finished.status == "completed"
    assert "is completed: cancel is not possible (a completed campaign never changes)" in error_text(result)


async def test_pause_of_a_campaign_awaiting_approval_is_refused_and_names_what_it_allows(tmp_path: Path) -> None:
    async with campaign_server(tmp_path) as rig:
        await make_campaign(rig, 2, approve=False)
        result = await rig.client.call_tool("control_campaign", {"campaign_id": CID, "action": "pause"})
    text = error_text(result)
    assert "awaiting_approval: pause is not possible" in text and "resume, cancel" in text


async def test_resume_after_the_approval_lapsed_asks_the_human_again_and_dials_nothing_meanwhile(
    tmp_path: Path,
) -> None:
    async with campaign_server(tmp_path, confirmation="human") as rig:
        await make_campaign(rig, 3)
        await rig.client.call_tool("control_campaign", {"campaign_id": CID, "action": "pause"})
        rig.clock.now += timedelta(hours=24, minutes=1)
        result = await rig.client.call_tool("control_campaign", {"campaign_id": CID, "action": "resume"})
        status = structured(await rig.client.call_tool("campaign_status", {"campaign_id": CID}))
        left = await claimable(rig.ledger)
    # this client has no elicitation and no browser can open here: the human cannot be reached, and it says so
    assert "no way to reach a human" in error_text(result)
    assert status["status"] == "awaiting_approval" and left == 0


async def test_resume_after_the_approval_lapsed_in_token_mode_gives_a_token_that_start_spends(
    tmp_path: Path,
) -> None:
    async with campaign_server(tmp_path, confirmation="token") as rig:
        await make_campaign(rig, 3)
        await rig.client.call_tool("control_campaign", {"campaign_id": CID, "action": "pause"})
        rig.clock.now += timedelta(hours=25)
        resumed = structured(await rig.client.call_tool("control_campaign", {"campaign_id": CID, "action": "resume"}))
        before = await claimable(rig.ledger)
        args = {"campaign_id": CID, "action": "start", "confirmation_token": resumed["confirmation_token"]}
        started = structured(await rig.client.call_tool("control_campaign", args))
        replayed = await rig.client.call_tool("control_campaign", args)
        after = await claimable(rig.ledger)
    assert resumed["status"] == "awaiting_approval" and resumed["confirmation_token"] and before == 0
    assert "only if they say yes" in resumed["summary"]
    assert started["status"] == "running" and started["approval_expires_at"] == "2026-05-06T17:00:00Z"
    assert replayed.is_error and after == 2  # max_concurrent (2) of its 3 rows at once


async def test_start_a_misplaced_token_and_open_dashboard_without_a_way_to_the_human_are_clear_errors(
    tmp_path: Path,
) -> None:
    async with campaign_server(tmp_path, confirmation="human") as rig:
        await make_campaign(rig, 2, approve=False)
        start = await rig.client.call_tool(
            "control_campaign", {"campaign_id": CID, "action": "start", "confirmation_token": "t"}
        )
        dashboard = await rig.client.call_tool("control_campaign", {"campaign_id": CID, "action": "open_dashboard"})
        token = await rig.client.call_tool(
            "control_campaign", {"campaign_id": CID, "action": "pause", "confirmation_token": "t"}
        )
        status = structured(await rig.client.call_tool("campaign_status", {"campaign_id": CID}))
    assert "for token mode" in error_text(start) and "approval page" in error_text(start)
    # no elicitation and no browser here (the test environment has none): said, and no address given
    assert "no way to show campaign" in error_text(dashboard) and "/dashboard/" not in error_text(dashboard)
    assert "confirmation_token is only for action 'start'" in error_text(token)
    assert status["status"] == "awaiting_approval"


async def test_start_in_token_mode_without_the_token_asks_for_it(tmp_path: Path) -> None:
    async with campaign_server(tmp_path, confirmation="token") as rig:
        await make_campaign(rig, 2, approve=False)
        result = await rig.client.call_tool("control_campaign", {"campaign_id": CID, "action": "start"})
    assert "needs the confirmation_token prepare_campaign returned" in error_text(result)


async def test_an_unknown_action_or_campaign_is_refused_before_anything_changes(tmp_path: Path) -> None:
    async with campaign_server(tmp_path) as rig:
        await make_campaign(rig, 2)
        action = await rig.client.call_tool("control_campaign", {"campaign_id": CID, "action": "stop"})
        unknown = await rig.client.call_tool("control_campaign", {"campaign_id": "cmp_nope", "action": "pause"})
        status = structured(await rig.client.call_tool("campaign_status", {"campaign_id": CID}))
    assert "action" in error_text(action) and "pause" in error_text(action)
    assert "no campaign 'cmp_nope'" in error_text(unknown)
    assert status["status"] == "running"


async def test_a_pause_refuses_the_dial_of_a_row_a_dispatcher_had_already_claimed(tmp_path: Path) -> None:
    async with campaign_server(tmp_path) as rig:
        await make_campaign(rig, 2)
        [row] = await rig.ledger.claim_next_rows(worker_id="w", lease=LEASE, limit=1, campaign_id=CID)
        await rig.client.call_tool("control_campaign", {"campaign_id": CID, "action": "pause"})
        request = OutboundCallRequest(
            assistant_id="019addcc-b878-7b10-85f1-49f21342f947", phone_number=row.phone_e164, input_variables={}
        )
        with pytest.raises(GuardRefusal) as refused:
            await rig.ledger.claim_dial(
                request,
                confirmation="campaign",
                environment=ENV,
                max_per_hour=100,
                campaign=CampaignDial(CID, row.position),
            )
        dials = await rig.ledger.recent(10)
    assert refused.value.rule == "campaign" and dials == []  # no intent written: nothing can be POSTed


async def test_resuming_a_campaign_that_awaits_approval_changes_nothing_and_says_so_with_a_fresh_token(
    tmp_path: Path,
) -> None:
    async with campaign_server(tmp_path, confirmation="token") as rig:
        await make_campaign(rig, 2, approve=False)
        resumed = structured(await rig.client.call_tool("control_campaign", {"campaign_id": CID, "action": "resume"}))
        left = await claimable(rig.ledger)
    assert resumed["changed"] is False and resumed["previous_status"] == resumed["status"] == "awaiting_approval"
    assert resumed["confirmation_token"] and "only if they say yes" in resumed["summary"]
    assert left == 0
