"""The campaign view's buttons through real MCP client sessions (both protocol modes): app_pause_campaign and
app_cancel_campaign pause or cancel an approved campaign before its next dial (the ledger's claims say so), refuse
one that awaits the human's approval or has ended, and refuse a client that did not declare Apps."""

from __future__ import annotations

from pathlib import Path

import pytest

from server_support import structured
from tests.server.apps.apps_support import apps_server
from tests.server.tools.campaigns_support import CID, LEASE, dial_rows, error_text, make_campaign
from voicing_mcp.guard.ledger import Ledger

APP_TOOLS = {"app_pause_campaign", "app_cancel_campaign"}


async def claimable(ledger: Ledger, n: int = 10) -> int:
    rows = await ledger.claim_next_rows(worker_id="probe", lease=LEASE, limit=n, campaign_id=CID)
    return len(rows)


async def test_the_views_pause_button_pauses_a_running_campaign_before_its_next_dial(tmp_path: Path, mode: str) -> None:
    async with apps_server(tmp_path, mode, apps=True) as rig:
        await make_campaign(rig, 5)
        await dial_rows(rig.ledger, CID, ["completed"])
        paused = await rig.client.call_tool("app_pause_campaign", {"campaign_id": CID})
        again = await rig.client.call_tool("app_pause_campaign", {"campaign_id": CID})
        claimed_while_paused = await claimable(rig.ledger)
        status = structured(await rig.client.call_tool("campaign_status", {"campaign_id": CID}))
    data = structured(paused)
    assert data["action"] == "pause" and data["changed"] is True
    assert data["previous_status"] == "running" and data["status"] == "paused"
    assert structured(again)["changed"] is False
    assert claimed_while_paused == 0
    assert status["status"] == "paused" and status["pause_reason"]


async def test_the_views_cancel_button_cancels_a_paused_campaign_and_its_open_rows(tmp_path: Path, mode: str) -> None:
    async with apps_server(tmp_path, mode, apps=True) as rig:
        await make_campaign(rig, 5)
        await dial_rows(rig.ledger, CID, ["completed", "busy"])
        await rig.client.call_tool("app_pause_campaign", {"campaign_id": CID})
        cancelled = await rig.client.call_tool("app_cancel_campaign", {"campaign_id": CID})
        claimed = await claimable(rig.ledger)
    data = structured(cancelled)
    assert data["previous_status"] == "paused" and data["status"] == "cancelled"
    assert data["counts"]["cancelled"] == 3 and data["counts"]["completed"] == 1
    assert claimed == 0


@pytest.mark.parametrize("tool", sorted(APP_TOOLS))
async def test_the_views_buttons_refuse_a_campaign_awaiting_approval_and_change_nothing(
    tmp_path: Path, mode: str, tool: str
) -> None:
    async with apps_server(tmp_path, mode, apps=True) as rig:
        await make_campaign(rig, 3, approve=False)
        refused = await rig.client.call_tool(tool, {"campaign_id": CID})
        after = await rig.ledger.get_campaign(CID)
    assert "awaits the human's approval" in error_text(refused)
    assert after is not None and after.status == "awaiting_approval"


async def test_the_views_buttons_refuse_a_finished_campaign(tmp_path: Path, mode: str) -> None:
    async with apps_server(tmp_path, mode, apps=True) as rig:
        await make_campaign(rig, 1)
        await dial_rows(rig.ledger, CID, ["completed"])
        await rig.ledger.set_campaign_status(CID, "completed")
        refused = await rig.client.call_tool("app_cancel_campaign", {"campaign_id": CID})
    assert "is completed" in error_text(refused)


async def test_a_client_without_apps_that_calls_a_views_button_is_told_to_use_control_campaign(
    tmp_path: Path, mode: str
) -> None:
    async with apps_server(tmp_path, mode, apps=False) as rig:
        await make_campaign(rig, 3)
        refused = await rig.client.call_tool("app_cancel_campaign", {"campaign_id": CID})
        after = await rig.ledger.get_campaign(CID)
    assert "control_campaign" in error_text(refused)
    assert after is not None and after.status == "running"
