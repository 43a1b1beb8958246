"""guard/campaigns/control: pause, cancel and resume-while-approved on a real ledger (SQLite, then PostgreSQL), as
control_campaign and the dashboard page share them: what each changes, what it refuses, and that resume never
approves anything by itself."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from pg_support import LedgerStore
from voicing_mcp.guard.campaigns.control import (
    PAUSED_BY_REQUEST,
    ApprovalNeeded,
    ControlRefused,
    allowed_actions,
    can_resume_now,
    cancel_campaign,
    pause_campaign,
    resume_campaign,
)
from voicing_mcp.guard.ledger import Campaign, DialLedger, NewCampaign, NewCampaignRow

ENV = "production"
NOW = datetime(2026, 5, 4, 16, 0, tzinfo=UTC)
LEASE = timedelta(minutes=5)


async def created(ledger: DialLedger, campaign_id: str, *, approved_until: datetime | None) -> Campaign:
    """A 3-row campaign; approved (running) until ``approved_until`` unless that is None (awaiting approval)."""
    await ledger.create_campaign(
        NewCampaign(
            id=campaign_id,
            environment=ENV,
            assistant_id="a1",
            telephony_provider="twilio",
            manifest_sha256="m" * 64,
            max_concurrent=2,
        ),
        [NewCampaignRow(position=i, phone_e164=f"+1701555{i:04d}", input_variables={}) for i in (1, 2, 3)],
    )
    if approved_until is not None:
        await ledger.approve_campaign(
            campaign_id, manifest_sha256="m" * 64, ticked_positions=[1, 2, 3], expires_at=approved_until
        )
    found = await ledger.get_campaign(campaign_id)
    assert found is not None
    return found


async def test_pause_stops_claims_and_resume_within_the_approval_starts_them_again(ledger_store: LedgerStore) -> None:
    ledger = ledger_store.open(environment=ENV)
    campaign = await created(ledger, "cmp_ctl1", approved_until=NOW + timedelta(hours=24))
    assert campaign.status == "running" and allowed_actions(campaign) == ["pause", "cancel"]
    paused = await pause_campaign(ledger, campaign)
    assert paused.changed and paused.campaign.status == "paused"
    assert paused.campaign.pause_reason == PAUSED_BY_REQUEST
    assert await ledger.claim_next_rows(worker_id="w", lease=LEASE, limit=10) == []  # nothing dialled while paused
    again = await pause_campaign(ledger, paused.campaign)
    assert not again.changed and "already" in again.said
    assert can_resume_now(paused.campaign, NOW)
    resumed = await resume_campaign(ledger, paused.campaign, NOW)
    assert resumed.changed and resumed.campaign.status == "running" and "no new approval" in resumed.said
    assert len(await ledger.claim_next_rows(worker_id="w", lease=LEASE, limit=10)) == 2  # max_concurrent
    twice = await resume_campaign(ledger, resumed.campaign, NOW)
    assert not twice.changed and twice.campaign.status == "running"


async def test_resume_after_the_approval_lapsed_changes_nothing_and_says_a_new_approval_is_needed(
    ledger_store: LedgerStore,
) -> None:
    ledger = ledger_store.open(environment=ENV)
    campaign = await created(ledger, "cmp_ctl2", approved_until=NOW + timedelta(hours=1))
    paused = (await pause_campaign(ledger, campaign, reason="paused on the dashboard")).campaign
    later = NOW + timedelta(hours=2)
    assert not can_resume_now(paused, later)
    with pytest.raises(ApprovalNeeded) as lapsed:
        await resume_campaign(ledger, paused, later)
    assert "lapsed" in lapsed.value.why
    still = await ledger.get_campaign("cmp_ctl2")
    assert still is not None and still.status == "paused" and still.pause_reason == "paused on the dashboard"


async def test_a_campaign_awaiting_approval_is_never_started_by_resume_and_cancel_ends_anything_not_final(
    ledger_store: LedgerStore,
) -> None:
    ledger = ledger_store.open(environment=ENV)
    waiting = await created(ledger, "cmp_ctl3", approved_until=None)
    assert "resume" in allowed_actions(waiting) and "pause" not in allowed_actions(waiting)
    with pytest.raises(ApprovalNeeded) as needed:
        await resume_campaign(ledger, waiting, NOW)
    assert "awaits the human's approval" in needed.value.why
    with pytest.raises(ControlRefused) as refused:
        await pause_campaign(ledger, waiting)
    assert "pause" in str(refused.value) and "cancel" in str(refused.value)
    cancelled = await cancel_campaign(ledger, waiting)
    assert cancelled.changed and cancelled.campaign.status == "cancelled"
    assert await ledger.campaign_row_counts("cmp_ctl3") == {"cancelled": 3}
    assert allowed_actions(cancelled.campaign) == []
    assert not (await cancel_campaign(ledger, cancelled.campaign)).changed
    with pytest.raises(ControlRefused):
        await resume_campaign(ledger, cancelled.campaign, NOW)
    with pytest.raises(ControlRefused):
        await pause_campaign(ledger, cancelled.campaign)


async def test_an_action_on_a_stale_view_of_the_campaign_says_what_it_is_now(ledger_store: LedgerStore) -> None:
    """The dashboard and the tool act on what they read; another replica may have cancelled it meanwhile."""
    ledger = ledger_store.open(environment=ENV)
    stale = await created(ledger, "cmp_ctl4", approved_until=NOW + timedelta(hours=24))
    await cancel_campaign(ledger, stale)
    with pytest.raises(ControlRefused) as refused:
        await pause_campaign(ledger, stale)  # stale says running; the ledger says cancelled
    assert refused.value.campaign.status == "cancelled" and "cancelled" in str(refused.value)
