"""guard/campaigns/row_dial.py: what a refusal at dial time makes of a campaign row (a new file; the dispatcher's
themed tests, which dial rows end to end, are in tests/guard/campaigns/test_dispatcher.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from voicing_mcp.config import load_settings
from voicing_mcp.errors import GuardRefusal
from voicing_mcp.guard.campaigns.row_dial import LEDGER_RETRY, UNKNOWN_OPEN, campaign_request, row_after_refusal
from voicing_mcp.guard.ledger import PENDING_STALE, Campaign, CampaignRow, Ledger
from voicing_mcp.guard.policy import DialGuard
from voicing_mcp.guard.templates import TemplateStore
from voicing_mcp.paths import PACKAGE_PROMPTS_DIR

# 03:00 UTC: 23:00 the evening before in New York, inside the default quiet hours 21:00-08:00
NIGHT = datetime(2026, 5, 4, 3, 0, tzinfo=UTC)
NEW_YORK = "+12127365000"


def make_guard(tmp_path: Path, now: datetime = NIGHT) -> DialGuard:
    ledger = Ledger(tmp_path / "ledger.sqlite3", clock=lambda: now)
    return DialGuard(load_settings(api_key="k"), TemplateStore(PACKAGE_PROMPTS_DIR), ledger, clock=lambda: now)


def campaign_row(**changes: Any) -> CampaignRow:
    fields: dict[str, Any] = {
        "campaign_id": "cmp_0123456789abcdef",
        "position": 3,
        "phone_e164": NEW_YORK,
        "phone_masked": "+1212•••5000",
        "input_variables": {"name": "Ann", "plan_type": "Gold"},
        "state": "dialling",
        "exclusion_reason": None,
        "attempts": 0,
        "next_attempt_at": None,
        "call_id": None,
        "dial_id": None,
        "last_outcome": None,
        "worker_id": "w1",
        "lease_until": None,
        "updated_at": NIGHT,
    }
    return CampaignRow(**{**fields, **changes})


async def test_quiet_hours_make_the_row_wait_for_the_callees_morning(tmp_path: Path) -> None:
    guard = make_guard(tmp_path)
    fate = await row_after_refusal(guard, campaign_row(), GuardRefusal("quiet", rule="quiet-hours"), NIGHT)
    assert (fate.result, fate.reason, fate.rule) == ("waiting", "quiet hours", "quiet-hours")
    assert fate.next_attempt_at == datetime(2026, 5, 4, 12, 0, tzinfo=UTC)  # 08:00 in New York (EDT)


@pytest.mark.parametrize(
    ("rule", "reason", "wait"),
    [
        ("dial-in-progress", "another dial in flight", PENDING_STALE),
        ("ledger", "ledger unavailable", LEDGER_RETRY),
    ],
)
async def test_a_passing_obstacle_makes_the_row_wait_and_try_again(
    tmp_path: Path, rule: str, reason: str, wait: timedelta
) -> None:
    fate = await row_after_refusal(make_guard(tmp_path), campaign_row(), GuardRefusal("x", rule=rule), NIGHT)
    assert (fate.result, fate.reason, fate.next_attempt_at) == ("waiting", reason, NIGHT + wait)


async def test_a_number_dialled_minutes_ago_by_another_call_is_excluded_not_called_again_after_the_window(
    tmp_path: Path,
) -> None:
    """Two overlapping campaigns of one list (or a single call meanwhile): the second does not ring the person again
    10 minutes later (a new user saw it, within the per-number cap); it excludes the row, as prepare_campaign does."""
    fate = await row_after_refusal(make_guard(tmp_path), campaign_row(), GuardRefusal("x", rule="duplicate"), NIGHT)
    assert (fate.result, fate.next_attempt_at, fate.rule) == ("excluded", None, "duplicate")
    assert fate.reason is not None and "dialled recently" in fate.reason


async def test_the_per_number_cap_waits_until_the_time_the_refusal_names(tmp_path: Path) -> None:
    frees = NIGHT + timedelta(hours=7)
    refused = GuardRefusal("cap", rule="number-cap", fields={"frees_at": frees})
    fate = await row_after_refusal(make_guard(tmp_path), campaign_row(), refused, NIGHT)
    assert (fate.result, fate.reason, fate.next_attempt_at) == ("waiting", "per-number cap", frees)


async def test_a_problem_of_the_whole_campaign_pauses_it_and_a_rule_about_the_number_excludes_the_row(
    tmp_path: Path,
) -> None:
    guard = make_guard(tmp_path)
    paused = await row_after_refusal(guard, campaign_row(), GuardRefusal("gone", rule="template-missing"), NIGHT)
    listed = await row_after_refusal(guard, campaign_row(), GuardRefusal("listed", rule="do-not-call"), NIGHT)
    unknown = await row_after_refusal(guard, campaign_row(), GuardRefusal("open", rule="outcome-unknown"), NIGHT)
    assert (paused.result, paused.reason) == ("paused", "template-missing: gone")
    assert (listed.result, listed.reason) == ("excluded", "do-not-call")
    assert (unknown.result, unknown.reason) == ("excluded", UNKNOWN_OPEN)


async def test_a_claim_the_ledger_refused_is_not_dialled_and_its_reason_masks_numbers_on_one_line(
    tmp_path: Path,
) -> None:
    text = f"row 3 ({NEW_YORK}) is no longer being dialled:\ncampaign paused " + "x" * 400
    fate = await row_after_refusal(make_guard(tmp_path), campaign_row(), GuardRefusal(text, rule="campaign"), NIGHT)
    assert fate.result == "not_dialled" and fate.reason is not None
    assert NEW_YORK not in fate.reason and "\n" not in fate.reason
    assert len(fate.reason) == 300 and fate.reason.endswith("…")


def test_a_rows_request_is_the_approved_assistant_provider_number_and_variables() -> None:
    approved = Campaign(
        id="cmp_0123456789abcdef",
        scope="s",
        environment="local",
        name=None,
        assistant_id="asst-9",
        telephony_provider="twilio",
        status="running",
        manifest_sha256="0" * 64,
        max_attempts=1,
        retry_after_minutes=120,
        max_concurrent=2,
        created_at=NIGHT,
        updated_at=NIGHT,
        approved_at=NIGHT,
        approval_expires_at=None,
        pause_reason=None,
        settings={},
    )
    req = campaign_request(approved, campaign_row())
    assert (req.assistant_id, req.telephony_provider, req.phone_number) == ("asst-9", "twilio", NEW_YORK)
    assert dict(req.input_variables) == {"name": "Ann", "plan_type": "Gold"} and req.confirmation_token is None
