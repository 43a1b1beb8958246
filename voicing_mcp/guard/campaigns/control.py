"""The human's controls of a running campaign, MCP-free: pause, cancel, and resume while the approval is valid.

Used by ``control_campaign`` (the tool) and the dashboard page (:mod:`voicing_mcp.server.web.dashboard_page`), so
both move a campaign along the same ledger transitions with the same words:

* :func:`pause_campaign` — ``running``/``scheduled`` → ``paused``: the ledger's ``claim_dial`` refuses a dial of a
  campaign that is not running, so no row is dialled after the pause is written, not even one a dispatcher had
  claimed already.
* :func:`cancel_campaign` — any campaign not final → ``cancelled``; its queued and waiting rows become ``cancelled``
  in the same transaction. Calls already in progress are not hung up.
* :func:`resume_campaign` — ``paused`` → ``running`` with no new approval while ``approval_expires_at`` is in the
  future. Without a valid approval it raises :class:`ApprovalNeeded` and changes nothing: only the tool may then ask
  the human again (``prepare_campaign``'s ``ask_campaign_approval``); nothing here can approve, start or widen a
  campaign.

Pausing a paused campaign, resuming a running one or cancelling a cancelled one changes nothing and says so
(``changed=False``); an action the status does not allow raises :class:`ControlRefused`, whose text names the actions
the status allows. The caller wakes its dispatcher after a resume.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from voicing_mcp.guard.ledger.base import iso
from voicing_mcp.guard.ledger.campaigns import FINAL_STATUSES, TRANSITIONS, CampaignConflict
from voicing_mcp.messages import campaign_action_refused

if TYPE_CHECKING:
    from datetime import datetime

    from voicing_mcp.guard.ledger import Campaign, CampaignStatus, DialLedger

#: the pause_reason written by ``control_campaign``'s pause
PAUSED_BY_REQUEST = "paused with control_campaign"

ControlAction = Literal["pause", "resume", "cancel"]


class ControlRefused(Exception):
    """The campaign's status does not allow the action; ``str()`` says so and names the actions it allows."""

    def __init__(self, campaign: Campaign, action: str) -> None:
        super().__init__(campaign_action_refused(campaign.id, campaign.status, action, allowed_actions(campaign)))
        self.campaign = campaign
        self.action = action


class ApprovalNeeded(Exception):
    """Resume needs the human's approval again (it lapsed, or the campaign awaits it): nothing was changed."""

    def __init__(self, campaign: Campaign, why: str) -> None:
        super().__init__(why)
        self.campaign = campaign
        self.why = why


@dataclass(frozen=True, slots=True)
class Controlled:
    """What an action did: ``changed`` (False: it was in that state already), a sentence, the campaign now."""

    changed: bool
    said: str
    campaign: Campaign


def allowed_actions(campaign: Campaign) -> list[str]:
    """The actions the campaign's status allows now (for an error's "what you can do")."""
    status = campaign.status
    if status in FINAL_STATUSES:
        return []
    actions: list[str] = []
    if "paused" in TRANSITIONS[status]:
        actions.append("pause")
    if status in ("paused", "awaiting_approval"):
        actions.append("resume")
    actions.append("cancel")
    if status == "awaiting_approval":
        actions.append("start (token mode, with the token)")
    return actions


def approval_valid(campaign: Campaign, now: datetime) -> bool:
    """True while the human's approval lets the campaign's rows be dialled (resume needs no new approval)."""
    expires = campaign.approval_expires_at
    return expires is not None and expires > now


def can_resume_now(campaign: Campaign, now: datetime) -> bool:
    """True when :func:`resume_campaign` would resume it without asking anyone (paused, approval valid)."""
    return campaign.status == "paused" and approval_valid(campaign, now)


async def _set(
    ledger: DialLedger, campaign: Campaign, status: CampaignStatus, action: str, reason: str | None = None
) -> Campaign:
    try:
        return await ledger.set_campaign_status(campaign.id, status, reason=reason)
    except CampaignConflict:  # it changed meanwhile (another replica, the dispatcher): say what it is now
        now = await ledger.get_campaign(campaign.id)
        raise ControlRefused(now or campaign, action) from None


async def pause_campaign(ledger: DialLedger, campaign: Campaign, *, reason: str = PAUSED_BY_REQUEST) -> Controlled:
    """Pause ``campaign`` (``reason`` becomes its pause_reason): no row is dialled after this returns."""
    if campaign.status == "paused":
        return Controlled(False, "It was paused already.", campaign)
    if "paused" not in TRANSITIONS[campaign.status]:
        raise ControlRefused(campaign, "pause")
    after = await _set(ledger, campaign, "paused", "pause", reason)
    return Controlled(True, "Paused: no row is dialled from now on (a dial already placed goes on).", after)


async def cancel_campaign(ledger: DialLedger, campaign: Campaign) -> Controlled:
    """Cancel ``campaign``: its queued and waiting rows will never be dialled."""
    if campaign.status == "cancelled":
        return Controlled(False, "It was cancelled already.", campaign)
    if "cancelled" not in TRANSITIONS[campaign.status]:
        raise ControlRefused(campaign, "cancel")
    after = await _set(ledger, campaign, "cancelled", "cancel")
    return Controlled(True, "Cancelled: its queued and waiting rows will never be dialled.", after)


async def resume_campaign(ledger: DialLedger, campaign: Campaign, now: datetime) -> Controlled:
    """Resume a paused ``campaign`` while its approval is valid (the caller wakes its dispatcher).

    Raises :class:`ApprovalNeeded` (nothing changed) when only a new approval can resume it, and
    :class:`ControlRefused` when its status does not allow resume."""
    expires = campaign.approval_expires_at
    if campaign.status in ("running", "scheduled"):
        return Controlled(False, f"It was {campaign.status} already.", campaign)
    if can_resume_now(campaign, now) and expires is not None:
        after = await _set(ledger, campaign, "running", "resume")
        said = f"Resumed with no new approval: the human's approval holds until {iso(expires)}."
        return Controlled(True, said, after)
    if campaign.status not in ("paused", "awaiting_approval"):
        raise ControlRefused(campaign, "resume")
    why = (
        "it awaits the human's approval"
        if campaign.status == "awaiting_approval"
        else f"its approval lapsed at {iso(expires)}"
        if expires is not None
        else "it has no valid approval"
    )
    raise ApprovalNeeded(campaign, why)
