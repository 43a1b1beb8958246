"""list_campaigns through a real MCP client session: this server's campaigns, newest first, paged within the
result budget; another environment's campaigns in the same ledger are not listed."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from server_support import structured, text_of
from tests.server.tools.campaigns_support import campaign_server, dial_rows, make_campaign
from voicing_mcp.server.render.results import RESULT_BUDGET, result_size


async def test_campaigns_are_listed_newest_first_with_status_and_counts(tmp_path: Path, mode: str) -> None:
    async with campaign_server(tmp_path, mode) as rig:
        await make_campaign(rig, 3, campaign_id="cmp_old", excluded={3})
        await dial_rows(rig.ledger, "cmp_old", ["completed"])
        rig.clock.now += timedelta(minutes=5)
        await make_campaign(rig, 2, campaign_id="cmp_new", approve=False)
        await make_campaign(rig, 2, campaign_id="cmp_elsewhere", environment="production")
        result = await rig.client.call_tool("list_campaigns", {})
        running = structured(await rig.client.call_tool("list_campaigns", {"status": "running"}))
    data = structured(result)
    assert [c["campaign_id"] for c in data["campaigns"]] == ["cmp_new", "cmp_old"]
    old = data["campaigns"][1]
    assert old["status"] == "running" and old["total"] == 3 and old["done"] == 2
    assert old["counts"] == {"queued": 1, "completed": 1, "excluded": 1}
    assert old["resource"] == "voicing://campaigns/cmp_old"
    assert data["campaigns"][0]["status"] == "awaiting_approval" and data["next_offset"] is None
    assert [c["campaign_id"] for c in running["campaigns"]] == ["cmp_old"]
    assert "Campaigns 1-2, newest first" in text_of(result)


async def test_many_campaigns_come_in_pages_within_the_budget(tmp_path: Path) -> None:
    async with campaign_server(tmp_path) as rig:
        for i in range(30):
            rig.clock.now += timedelta(seconds=1)
            await make_campaign(rig, 1, campaign_id=f"cmp_{i:02d}", approve=i % 2 == 0)
        first = await rig.client.call_tool("list_campaigns", {})
        data = structured(first)
        second = structured(await rig.client.call_tool("list_campaigns", {"offset": data["next_offset"]}))
    assert result_size(first) <= RESULT_BUDGET
    seen = [c["campaign_id"] for c in data["campaigns"] + second["campaigns"]]
    assert seen == [f"cmp_{i:02d}" for i in range(29, -1, -1)]  # every campaign once, newest first
    assert second["next_offset"] is None
    assert f"list_campaigns(offset={data['next_offset']})" in text_of(first)


async def test_no_campaign_yet_says_how_to_make_one(tmp_path: Path) -> None:
    async with campaign_server(tmp_path) as rig:
        result = await rig.client.call_tool("list_campaigns", {})
    assert structured(result)["campaigns"] == []
    assert "No campaign in this server's ledger" in text_of(result) and "prepare_campaign" in text_of(result)
