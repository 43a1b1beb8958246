"""A campaign row's dial: the same guard as a single call, re-checked at dial time, the campaign's approval as the
confirmation (:func:`dial_campaign_row`), and what a refusal does to the row (:func:`row_after_refusal`).

The dispatcher (:mod:`voicing_mcp.guard.campaigns.dispatcher`) claims rows; this module decides each claimed row's
fate; the ledger's claim is the only way to a dial, so a row is never dialled twice.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from voicing_mcp.errors import DialFailedError, GuardRefusal, OutcomeUnknownError
from voicing_mcp.guard import phone as ph
from voicing_mcp.guard.ledger import (
    PENDING_STALE,
    Campaign,
    CampaignDial,
    CampaignRow,
)
from voicing_mcp.guard.policy import DialClient, DialGuard
from voicing_mcp.guard.quiet_hours import next_window_opening
from voicing_mcp.guard.request import DialRequest
from voicing_mcp.redact import mask_numbers_in

logger = logging.getLogger(__name__)


# ----- a campaign row's dial ------------------------------------------------------------------------
#: refusals about the whole campaign, not the row (as the planner's CAMPAIGN_WIDE_RULES): the campaign pauses
CAMPAIGN_WIDE_RULES = frozenset({"assistant", "provider", "template", "template-missing", "do-not-call-file"})
#: refusals that only a change of the template since the approval can cause at dial time (a row's variables are
#: the approved ones, and a row missing a placeholder was excluded when the list was prepared): the template is
#: the campaign's, so the campaign pauses until it is fixed, instead of every row being excluded in turn
TEMPLATE_CHANGED = frozenset({"template-variables-missing"})
#: a row whose number has an open unknown outcome is excluded with this reason (never dialled by the campaign)
UNKNOWN_OPEN = "unknown outcome open"
#: how long a row waits when the ledger could not be used (it is tried again then)
LEDGER_RETRY = timedelta(minutes=1)

RowResult = Literal["in_progress", "waiting", "excluded", "failed", "unknown", "paused", "not_dialled"]


@dataclass(frozen=True, slots=True)
class RowDial:
    """What one attempt at a campaign row came to.

    - ``in_progress``: the call started (``call_id``);
    - ``waiting``: a rule delays it (quiet hours in the callee's zone, the hourly rate cap, the per-number cap, a
      recent dial of the number) until ``next_attempt_at``;
    - ``excluded``: a rule refuses the number now (do-not-call added after approval, the number, the template,
      the country, an open unknown outcome): never dialled; ``reason`` says why;
    - ``failed``: the API refused the dial (no call was placed);
    - ``unknown``: the POST's outcome is uncertain (the call may have been placed): never redialled;
    - ``paused``: a problem of the whole campaign (``reason``): the campaign pauses, the row is dialled later;
    - ``not_dialled``: the ledger refused the claim because the row or its campaign changed meanwhile (paused,
      cancelled, the row's lease ran out): nothing was sent.
    """

    result: RowResult
    reason: str | None = None
    call_id: str | None = None
    next_attempt_at: datetime | None = None
    rule: str | None = None


def campaign_request(campaign: Campaign, row: CampaignRow) -> DialRequest:
    """The dial request of a campaign row: the approved assistant, provider, number and variables."""
    return DialRequest.of(campaign.assistant_id, row.phone_e164, row.input_variables, campaign.telephony_provider)


async def dial_campaign_row(guard: DialGuard, client: DialClient, campaign: Campaign, row: CampaignRow) -> RowDial:
    """Dial one claimed row of an approved campaign through the same guard as a single call.

    Checks 1-3 run again now (:meth:`DialGuard.check`: the number, do-not-call, countries, the template, quiet
    hours in the callee's zone), then :meth:`DialGuard.place_call` with the campaign's approval as the
    confirmation: the ledger's claim checks the ledger's rules (check 4: an open unknown outcome — not looked up in
    the API: the row is excluded —, the hourly rate cap, the per-number cap, a recent dial, a dial in flight) and
    that the row is still claimed and its campaign running (a pause or a cancel takes effect before the POST) in
    one transaction with the intent, POSTs once and records the outcome (the row ``in_progress`` with it).
    """
    now = guard.clock()
    try:
        decision = await guard.check(campaign_request(campaign, row), ledger_rules=False)
        response, _ = await guard.place_call(
            decision,
            client,
            confirmation="campaign",
            campaign=CampaignDial(campaign.id, row.position),
        )
    except GuardRefusal as exc:
        return await row_after_refusal(guard, row, exc, now)
    except DialFailedError as exc:
        return RowDial("failed", reason=_short(exc.message))
    except OutcomeUnknownError:
        return RowDial("unknown", reason="outcome unknown")
    return RowDial("in_progress", call_id=response.call_id)


async def row_after_refusal(guard: DialGuard, row: CampaignRow, exc: GuardRefusal, now: datetime) -> RowDial:
    """What a refusal at dial time makes of a campaign row (CAMPAIGNS.md, "Pinned decisions")."""
    rule = exc.rule
    if rule == "quiet-hours":
        window = guard.settings.quiet_hours
        number = ph.parse_number(row.phone_e164, default_region=guard.settings.default_region)
        opens = next_window_opening(number.time_zones, window, now) if window is not None else None
        return RowDial("waiting", reason="quiet hours", next_attempt_at=opens or now + timedelta(hours=1), rule=rule)
    if rule == "rate-limit":
        return RowDial("waiting", reason="rate limit", next_attempt_at=await guard.rate_frees_at(now), rule=rule)
    if rule == "number-cap":
        frees = exc.fields.get("frees_at")
        if not isinstance(frees, datetime):
            frees = await guard.number_cap_frees_at(row.phone_e164, now)
        return RowDial("waiting", reason="per-number cap", next_attempt_at=frees, rule=rule)
    if rule == "duplicate":
        # the person was called with this assistant minutes ago (another campaign, a single call): a campaign does
        # not call them again 10 minutes later, as prepare_campaign excludes a recently dialled number up front
        return RowDial("excluded", reason="duplicate: dialled recently by another call", rule=rule)
    if rule == "dial-in-progress":
        return RowDial("waiting", reason="another dial in flight", next_attempt_at=now + PENDING_STALE, rule=rule)
    if rule == "ledger":
        return RowDial("waiting", reason="ledger unavailable", next_attempt_at=now + LEDGER_RETRY, rule=rule)
    if rule == "campaign":
        return RowDial("not_dialled", reason=_short(exc.message), rule=rule)
    if rule == "outcome-unknown":
        return RowDial("excluded", reason=UNKNOWN_OPEN, rule=rule)
    if rule in CAMPAIGN_WIDE_RULES or exc.reason in TEMPLATE_CHANGED:
        return RowDial("paused", reason=_short(f"{rule}: {exc.message}"), rule=rule)
    return RowDial("excluded", reason=rule, rule=rule)


def _short(text: str, limit: int = 300) -> str:
    line = " ".join(mask_numbers_in(text).split())
    return line if len(line) <= limit else line[: limit - 1] + "…"
