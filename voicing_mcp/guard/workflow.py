"""The dial as one workflow: from the model's request to one POST, through the human's confirmation.

:class:`DialWorkflow` owns the whole confirmation state machine. Nothing here knows about MCP: the server
supplies a :class:`HumanChannel` (how to reach the human: the client's form, a link shown by the client, the
browser, progress while waiting) and the confirm page's :class:`PageBoard`, and turns an :class:`Outcome` into
its result. The request goes in whole (:class:`~voicing_mcp.guard.request.DialRequest`); the checks run once
per decision point:

1. :meth:`DialWorkflow.prepare` — before the human is asked: checks 1-4 and the mode in effect
   (:func:`confirmation_mode`: ``allow-list``, ``elicitation`` — the client's form —, ``page`` or ``token``).
   The form itself is asked by the caller (the SDK asks it between protocol rounds) with
   :attr:`Prepared.decision`'s preview, and its answer comes back as a :class:`FormAnswer`;
2. :meth:`DialWorkflow.run` — the confirmation: a token redeemed (checked first) or issued; the form's answer
   read (checked again: time passed while the human read it); the confirm page opened, its URL handed to the
   human only, the click awaited with progress, the approval recorded, taken and spent under
   :func:`approval_key` (an approval given on a replica's page is taken from the shared ledger) and the
   request checked again just before the POST;
3. :meth:`~voicing_mcp.guard.policy.DialGuard.place_call` — the ledger intent, one POST, the outcome.

A batch (:class:`~voicing_mcp.guard.request.BatchRequest`, a campaign) goes through the same steps with one
approval of its manifest; see its docstring. Each of its rows is then dialled by :func:`dial_campaign_row` (the
dispatcher, :mod:`voicing_mcp.guard.campaigns.dispatcher`): the campaign's approval is the confirmation, the same
checks run again at dial time and decide what a refusal makes of the row (:func:`row_after_refusal`).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal, Protocol, TypeVar

import anyio

from voicing_mcp.api.models import OutboundCallRequest, OutboundCallResponse
from voicing_mcp.errors import ConfigError, GuardRefusal
from voicing_mcp.guard.decision import CheckedDial, Preview
from voicing_mcp.guard.ledger import (
    Campaign,
    CampaignConflict,
    Confirmation,
    DialRow,
)
from voicing_mcp.guard.ledger.campaigns import check_approval
from voicing_mcp.guard.policy import DialClient, DialGuard
from voicing_mcp.guard.request import Approval, DialRequest, request_digest
from voicing_mcp.guard.scope import scope_key
from voicing_mcp.guard.tokens import IssuedToken
from voicing_mcp.messages import refusal

logger = logging.getLogger(__name__)

#: how long the workflow waits for a click on the confirm page by default (a longer wait_seconds waits longer);
#: progress notifications keep the client from timing out meanwhile
CONFIRM_WAIT_SECONDS = 45.0
CONFIRM_PROGRESS_SECONDS = 2.0
#: undecided confirm pages at once (each opened a browser tab): more are refused, so a model cannot flood the user
MAX_PENDING_PAGES = 5
#: how long an identical concurrent request waits for the first one to hand the URL to the human
REACH_WAIT_SECONDS = 15.0

AskedVia = Literal["browser", "url-elicitation"]
PageState = Literal["pending", "approved", "declined"]


# ----- what the server supplies ---------------------------------------------------------------------
class PendingPage(Protocol):
    """One request (or batch) waiting on the confirm page for the human's click."""

    digest: str
    expires_at: datetime
    state: PageState
    asked_via: str | None
    decided: anyio.Event
    reached: anyio.Event

    @property
    def nonce(self) -> str: ...


P = TypeVar("P", bound=PendingPage)


class PageBoard(Protocol[P]):
    """The confirm pages of one server (:class:`voicing_mcp.server.web.confirm_page.ConfirmPages`)."""

    def find(self, digest: str) -> P | None: ...
    def just_spent(self, digest: str) -> P | None: ...
    def undecided(self) -> int: ...
    def create(self, req: OutboundCallRequest, preview: Preview, warnings: list[str]) -> P: ...
    def close(self, pending: P) -> None: ...
    def forget(self, pending: P) -> None: ...
    def url(self, pending: P) -> str: ...
    async def start(self) -> str: ...


class HumanChannel(Protocol):
    """How the workflow reaches the human; the server implements it over its MCP session."""

    @property
    def can_ask_form(self) -> bool:
        """The client declared form elicitation (the question is asked by the caller, see :meth:`prepare`)."""
        ...

    async def open_url(self, url: str, message: str) -> bool | None:
        """Show ``url`` to the human only (URL-mode elicitation). True: they accepted to open it; False: they
        declined; None: this client or transport cannot (the browser is tried next)."""
        ...

    async def open_browser(self, url: str) -> bool:
        """Open ``url`` in the human's browser; False when none could be opened."""
        ...

    async def progress(self, progress: float, total: float, message: str) -> None:
        """Tell the client how long the workflow has waited for the human so far."""
        ...


@dataclass(frozen=True, slots=True)
class FormAnswer:
    """The human's answer in the client's form: only an explicit, ticked accept dials."""

    accepted: bool
    how: str = "The user declined the call when asked: nothing was dialled."


@dataclass(frozen=True, slots=True)
class Prepared:
    """The first decision point's result: the checked request and the mode in effect (None with a token,
    which is checked when it is redeemed)."""

    decision: CheckedDial | None
    mode: Confirmation


@dataclass(slots=True)
class Outcome:
    """What the workflow did: ``started`` (dialled), ``confirmation_required`` (nothing dialled yet: a token
    to relay, or the human was asked on the page) or ``declined`` (the human said no)."""

    status: Literal["started", "confirmation_required", "declined"]
    decision: CheckedDial
    mode: Confirmation | None = None
    response: OutboundCallResponse | None = None
    ledger_id: int | None = None
    token: IssuedToken | None = None
    asked_via: AskedVia | None = None
    expires_at: datetime | None = None
    how: str | None = None
    warnings: list[str] = field(default_factory=list[str])


# ----- the ledger's approvals --------------------------------------------------------------------
def approval_key(guard: DialGuard, digest: str) -> str:
    """The key an approval is stored under in the ledger: the digest (of a request or a manifest) within the
    server's scope (the API its dials reach), so a server dialling another API on the same ledger never takes
    it (as for the dial rows)."""
    return hashlib.sha256(f"{scope_key(guard.environment)}\x00{digest}".encode()).hexdigest()


def approval_of(guard: DialGuard, pending: PendingPage, *, rows: tuple[int, ...] | None = None) -> Approval:
    """The approval a click on ``pending`` gives."""
    return Approval(approval_key(guard, pending.digest), pending.digest, pending.nonce, pending.expires_at, rows)


async def record_approval(guard: DialGuard, approval: Approval) -> None:
    """Store a human's approval in the ledger before the page says "Approved": any replica can then dial."""
    await guard.ledger.record_approval(approval.key, approval.nonce, expires_at=approval.expires_at)


def confirmation_mode(guard: DialGuard, decision: CheckedDial, *, client_can_elicit: bool) -> Confirmation:
    """How this call is confirmed: allow-list, the client's form, the confirm page (human mode) or a token.

    ``page`` means a human must click the loopback confirm page; the workflow hands its URL to them (URL-mode
    elicitation or the browser) and refuses when neither can.
    """
    if decision.allow_listed:
        return "allow-list"
    if client_can_elicit:
        return "elicitation"
    return "token" if guard.settings.resolved_confirmation == "token" else "page"


# ----- the workflow ------------------------------------------------------------------------------------
class DialWorkflow:
    """One dial of one server: the guard, and the API lookups its checks use (an uncertain dial's call, the
    status of a recent call)."""

    def __init__(
        self,
        guard: DialGuard,
        *,
        reconcile: Callable[[DialRow], Awaitable[str | None]] | None = None,
        call_status: Callable[[str], Awaitable[str | None]] | None = None,
    ) -> None:
        self.guard = guard
        self._reconcile = reconcile
        self._call_status = call_status

    async def check(self, request: DialRequest) -> CheckedDial:
        """Checks 1-4 of the guard on the whole request."""
        return await self.guard.check(request, reconcile=self._reconcile, call_status=self._call_status)

    async def prepare(self, request: DialRequest, human: HumanChannel) -> Prepared:
        """CheckedDial point 1, before the human is asked: checks 1-4 and the mode (a token is checked when
        redeemed, so nothing is checked for it here)."""
        if request.confirmation_token is not None:
            return Prepared(None, "token")
        decision = await self.check(request)
        return Prepared(decision, confirmation_mode(self.guard, decision, client_can_elicit=human.can_ask_form))

    # ----- tokens ----------------------------------------------------------------------------------------
    def issue_token(self, decision: CheckedDial) -> IssuedToken:
        return self.guard.signer.issue(decision.request, now=self.guard.clock())

    async def redeem_token(self, decision: CheckedDial, token: str) -> None:
        """Verify the token against this exact request and spend its nonce (exactly once)."""
        guard = self.guard
        if guard.settings.resolved_confirmation != "token":
            raise refusal("token-not-accepted")
        verified = guard.signer.verify(token, decision.request, now=guard.clock())
        if not await guard.ledger.spend_nonce(verified.nonce, expires_at=verified.expires_at):
            raise refusal("token-replayed")

    # ----- decision point 2 and the dial -------------------------------------------------------------
    async def run(
        self,
        request: DialRequest,
        human: HumanChannel,
        pages: Callable[[], PageBoard[P]],
        client: DialClient,
        *,
        prepared: Prepared | None = None,
        answer: FormAnswer | None = None,
        wait_seconds: int = 0,
    ) -> Outcome:
        """Confirm the request as the mode says, then dial it once. ``prepared`` is :meth:`prepare`'s result
        when nobody was asked since (its checks still hold); ``answer`` the form's answer in form mode."""
        mode: Confirmation
        if request.confirmation_token is not None:
            decision = await self.check(request)
            await self.redeem_token(decision, request.confirmation_token)
            mode = "token"
        else:
            if prepared is None or prepared.decision is None or prepared.mode == "elicitation":
                prepared = await self.prepare(request, human)  # time passed while the human read the form
            assert prepared.decision is not None
            decision, mode = prepared.decision, prepared.mode
            if mode == "token":
                issued = self.issue_token(decision)
                return Outcome("confirmation_required", decision, mode, token=issued, expires_at=issued.expires_at)
            if mode == "elicitation" and (answer is None or not answer.accepted):
                how = answer.how if answer is not None else "The user was not asked: nothing was dialled."
                return Outcome("declined", decision, mode, how=how)
            if mode == "page":
                waiting = await self.confirm_on_page(decision, human, pages(), wait_seconds)
                if waiting is not None:
                    return waiting
                decision = await self.check(request)  # the re-check just before the POST: the human took time
        response, row_id = await self.guard.place_call(decision, client, confirmation=mode)
        return Outcome("started", decision, mode, response=response, ledger_id=row_id)

    # ----- the confirm page ------------------------------------------------------------------------------
    async def confirm_on_page(
        self, decision: CheckedDial, human: HumanChannel, pages: PageBoard[P], wait_seconds: int
    ) -> Outcome | None:
        """Human mode without the client's form. None when the human approved (and the approval is now spent);
        else ``confirmation_required`` (still waiting) or ``declined``."""
        guard = self.guard
        digest = request_digest(decision.request)
        pending = pages.find(digest)
        if pending is None and pages.just_spent(digest) is None:
            if await guard.ledger.take_approval(approval_key(guard, digest)) is not None:
                # approved on the confirm page of another server on this ledger (a replica): spent now, dial here
                logger.info("confirmation: approved through another server for %s", decision.phone.masked)
                return None
            pending = pages.find(digest)  # an identical request may have opened the page during that await
        if pending is None and pages.just_spent(digest) is not None:
            raise refusal("approval-taken-by-twin")
        if pending is None:
            pending = await self._open_page(decision, human, pages)
        else:
            with anyio.move_on_after(REACH_WAIT_SECONDS):
                await pending.reached.wait()
            if pending.reached.is_set() and pending.asked_via is None:
                raise refusal("no-human")
        via = _asked_via(pending.asked_via)
        if pending.state == "pending":
            await wait_for_decision(
                human,
                pending,
                max(float(wait_seconds), CONFIRM_WAIT_SECONDS),
                "confirm in the browser" if via == "browser" else "confirm on the confirm page",
            )
        if pending.state == "declined":
            # kept until it expires: the same request asked again within the 5 minutes is declined again, so a
            # model cannot nag the human with new pages
            until = pending.expires_at.strftime("%H:%M:%S UTC")
            how = (
                f'The user chose "Don\'t call" on the confirm page: nothing was dialled. The same request is '
                f"declined until {until}."
            )
            return Outcome("declined", decision, "page", how=how, asked_via=via)
        if pending.state == "approved":
            pages.close(pending)
            if not await guard.ledger.spend_nonce(pending.nonce, expires_at=pending.expires_at):
                raise refusal("approval-spent")
            return None
        return Outcome("confirmation_required", decision, "page", asked_via=via, expires_at=pending.expires_at)

    async def _open_page(self, decision: CheckedDial, human: HumanChannel, pages: PageBoard[P]) -> P:
        if pages.undecided() >= MAX_PENDING_PAGES:
            raise refusal("confirmation-pending", pages=MAX_PENDING_PAGES)
        # registered before the first await: a concurrent identical request finds it instead of opening a tab
        pending = pages.create(decision.request, decision.preview, decision.warnings)
        try:
            await pages.start()
        except (ConfigError, OSError) as exc:
            pages.forget(pending)
            raise refusal("page-not-started", error=exc) from None
        try:
            pending.asked_via = await reach_the_human(
                human,
                pages.url(pending),
                pending,
                "Confirm or decline this phone call on the confirm page (it shows who will be called).",
            )
        finally:
            pending.reached.set()  # a concurrent identical request waits for this
        if pending.asked_via is None:
            pages.forget(pending)
            raise refusal("no-human")
        logger.info("confirmation asked via %s for %s", pending.asked_via, decision.phone.masked)
        return pending


async def reach_the_human(human: HumanChannel, url: str, pending: PendingPage, message: str) -> AskedVia | None:
    """Give a page's URL to the human (a call's confirm page or a batch's approval page): URL-mode elicitation,
    else the browser; None when neither can. Declining the link marks the page declined; the caller decides what
    that means in the ledger."""
    opened = await human.open_url(url, message)
    if opened is not None:
        if not opened:
            pending.state = "declined"
            pending.decided.set()
        return "url-elicitation"
    if await human.open_browser(url):
        return "browser"
    return None


async def wait_for_decision(human: HumanChannel, pending: PendingPage, limit: float, waiting_to: str) -> None:
    """Wait up to ``limit`` seconds for the human's decision on a page, reporting progress in whole seconds
    ("waiting for you to <waiting_to>: 12 of 45 s")."""
    start = anyio.current_time()
    total = round(limit)
    while pending.state == "pending" and not pending.decided.is_set():
        elapsed = anyio.current_time() - start
        remaining = limit - elapsed
        if remaining <= 0:
            return
        waited = min(int(elapsed), total)
        await human.progress(waited, total, f"waiting for you to {waiting_to}: {waited} of {total} s")
        with anyio.move_on_after(min(CONFIRM_PROGRESS_SECONDS, remaining)):
            await pending.decided.wait()


def _asked_via(value: str | None) -> AskedVia | None:
    return "browser" if value == "browser" else "url-elicitation" if value == "url-elicitation" else None


# ----- a batch (a campaign): one approval of an exact list ------------------------------------------
#: how long a human's approval of a campaign lets its rows be dialled, from the decision (CAMPAIGNS.md)
BATCH_APPROVAL_VALID = timedelta(hours=24)
#: undecided campaign approval pages at once (each opened a browser tab)
MAX_PENDING_BATCH_PAGES = 3

BatchMode = Literal["page", "token"]


def batch_mode(guard: DialGuard) -> BatchMode:
    """How a batch is approved: on the approval page (human mode), or by a token the model relays (token mode,
    only where a single call allows it). Never the allow-list (a list is always shown to the human) and never the
    client's form (it cannot show thousands of rows with a checkbox each)."""
    return "token" if guard.settings.resolved_confirmation == "token" else "page"


def batch_approval(
    guard: DialGuard, manifest_sha256: str, nonce: str, rows: Collection[int], *, now: datetime
) -> Approval:
    """The approval a human's decision on a batch gives: bound to the manifest's hash and the ticked positions,
    valid :data:`BATCH_APPROVAL_VALID` from now, spent once through ``nonce``."""
    return Approval(
        approval_key(guard, manifest_sha256), manifest_sha256, nonce, now + BATCH_APPROVAL_VALID, tuple(sorted(rows))
    )


async def apply_batch_approval(
    guard: DialGuard, campaign_id: str, approval: Approval, *, status: Literal["running", "scheduled"] = "running"
) -> Campaign:
    """Spend the approval's nonce (one decision, whichever replica or tab gives it), then bind it in the ledger
    (:meth:`~voicing_mcp.guard.ledger.DialLedger.approve_campaign`: the campaign must await approval with this
    manifest; the unticked rows become ``removed``). A refusal (GuardRefusal) changes nothing; the nonce is spent
    only for a campaign that awaited this approval, and a spent one is refused saying what the campaign is now."""
    if approval.rows is None or not approval.rows:
        raise refusal("campaign-approval-refused", campaign_id=campaign_id, why="no row was ticked")
    try:  # a campaign this approval cannot decide is refused before the nonce is spent: it stays usable
        check_approval(await guard.ledger.get_campaign(campaign_id), campaign_id, approval.digest)
    except CampaignConflict as exc:
        raise _batch_refusal(campaign_id, await guard.ledger.get_campaign(campaign_id), exc) from None
    if not await guard.ledger.spend_nonce(approval.nonce, expires_at=approval.expires_at):
        raise _batch_refusal(campaign_id, await guard.ledger.get_campaign(campaign_id))
    try:  # decided meanwhile (another tab, replica or token): the ledger's own check, in its transaction
        return await guard.ledger.approve_campaign(
            campaign_id,
            manifest_sha256=approval.digest,
            ticked_positions=approval.rows,
            expires_at=approval.expires_at,
            status=status,
        )
    except CampaignConflict as exc:
        raise _batch_refusal(campaign_id, await guard.ledger.get_campaign(campaign_id), exc) from None


def _batch_refusal(campaign_id: str, now: Campaign | None, conflict: CampaignConflict | None = None) -> GuardRefusal:
    """A refused decision (a conflict, or no conflict: a spent approval), saying what the campaign is ``now``."""
    if now is not None and now.status != "awaiting_approval" and (conflict is None or conflict.reason == "decided"):
        return refusal("campaign-decided", campaign_id=campaign_id, status=now.status)
    if conflict is None:  # spent by an earlier attempt that did not apply (the ledger failed in between)
        return refusal("campaign-token-replayed", campaign_id=campaign_id)
    return refusal("campaign-approval-refused", campaign_id=campaign_id, why=str(conflict))


async def decline_batch(guard: DialGuard, campaign_id: str) -> Campaign:
    """The human's "Don't start": the campaign is ``declined`` and none of its rows is ever dialled."""
    try:
        return await guard.ledger.set_campaign_status(campaign_id, "declined", reason="declined by the user")
    except CampaignConflict as exc:
        raise _batch_refusal(campaign_id, await guard.ledger.get_campaign(campaign_id), exc) from None


async def reach_human_for_batch(human: HumanChannel, url: str, pending: PendingPage) -> AskedVia | None:
    """Give a batch's approval page to the human as a single call's page is given (:func:`reach_the_human`)."""
    return await reach_the_human(
        human, url, pending, "Review the list of calls and start or decline the campaign on its approval page."
    )


async def wait_for_batch_decision(human: HumanChannel, pending: PendingPage, limit: float, via: AskedVia) -> None:
    """Wait up to ``limit`` seconds for the human's decision on a batch's page (:func:`wait_for_decision`)."""
    where = "in the browser" if via == "browser" else "on the approval page"
    await wait_for_decision(human, pending, limit, f"review the campaign {where}")
