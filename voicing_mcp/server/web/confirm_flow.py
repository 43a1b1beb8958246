"""Human mode without form elicitation: the human confirms a dial on the loopback confirm page.

:func:`confirm_on_page` opens (or finds) the page for the exact request, hands its URL to the human only (URL-mode
elicitation, else their browser), waits a while for the click with progress notifications, and spends an approval
once through the ledger. An approval given on the page of another server that shares the ledger (a replica) is
taken from the ledger instead of asking again. The page itself is :mod:`voicing_mcp.server.web.confirm_page`.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from typing import Any, cast

import anyio
from mcp.server.mcpserver import Context

from voicing_mcp.errors import ConfigError, GuardRefusal
from voicing_mcp.guard.policy import Decision, DialGuard
from voicing_mcp.guard.scope import ledger_environment, scope_key
from voicing_mcp.server.context import ServerContext, server_context
from voicing_mcp.server.render.preview import AskedVia, DialResult, declined
from voicing_mcp.server.web.confirm_page import ConfirmPages, PendingDial, open_in_browser, request_digest

logger = logging.getLogger(__name__)

#: how long the tool waits for a click on the confirm page by default (a longer wait_seconds waits longer);
#: progress notifications keep the client from timing out meanwhile
CONFIRM_WAIT_SECONDS = 45.0
CONFIRM_PROGRESS_SECONDS = 2.0
#: undecided confirm pages at once (each opened a browser tab): more are refused, so a model cannot flood the user
MAX_PENDING_PAGES = 5
#: how long an identical concurrent request waits for the first one to hand the URL to the human
REACH_WAIT_SECONDS = 15.0


def approval_key(guard: DialGuard, digest: str) -> str:
    """The key an approval is stored under in the ledger: the request's digest within the server's scope (the API
    its dials reach), so a server dialling another API on the same ledger never takes it (as for the dial rows)."""
    scope = scope_key(guard.ledger.environment or ledger_environment(guard.settings, local=guard.local))
    return hashlib.sha256(f"{scope}\x00{digest}".encode()).hexdigest()


def pages_for(state: ServerContext, guard: DialGuard) -> ConfirmPages:
    """The server's confirm pages (created on first need, stopped with the server)."""
    pages = state.confirm_pages
    if pages is None:
        pages = ConfirmPages(port=state.settings.confirm_port, clock=guard.clock)
        ledger = guard.ledger

        async def store(pending: PendingDial) -> None:
            await ledger.record_approval(
                approval_key(guard, pending.digest), pending.nonce, expires_at=pending.expires_at
            )

        pages.on_approved = store
        state.confirm_pages = pages
        state.exit_stack.push_async_callback(pages.aclose)
    return pages


def client_can_open_url(ctx: Context[ServerContext, Any]) -> bool:
    """True when the client declared URL-mode elicitation (it shows the link to the user, not to the model)."""
    caps = ctx.client_capabilities
    elicitation = caps.elicitation if caps is not None else None
    return elicitation is not None and elicitation.url is not None


NO_HUMAN = (
    "confirmation: no way to reach a human here — this MCP client cannot ask the user (no form or URL "
    "elicitation) and no browser could be opened on this machine for the confirm page. Options: use a client "
    "with elicitation; run the server where a browser can open (or set $BROWSER to a command that opens URLs for "
    "the user); put the operator's test phones in VOICING_ALLOWED_NUMBERS; or set VOICING_CONFIRMATION=token "
    "(the model then relays a token and could confirm a call by itself)"
)


async def confirm_on_page(
    ctx: Context[ServerContext, Any], guard: DialGuard, decision: Decision, wait_seconds: int
) -> DialResult | None:
    """Human mode without form elicitation. None when the human approved (and the approval is now spent);
    else the result to return: ``confirmation_required`` (still waiting) or ``declined``."""
    state = server_context(ctx)
    pages = pages_for(state, guard)
    digest = request_digest(decision.request)
    pending = pages.find(digest)
    if pending is None and pages.just_spent(digest) is None:
        if await guard.ledger.take_approval(approval_key(guard, digest)) is not None:
            # approved on the confirm page of another server on this ledger (a replica): spent now, dial here
            logger.info("confirmation: approved through another server for %s", decision.phone.masked)
            return None
        pending = pages.find(digest)  # an identical request may have opened the page during that await
    if pending is None and pages.just_spent(request_digest(decision.request)) is not None:
        raise GuardRefusal(
            "confirmation: this exact request was approved on the confirm page moments ago, and that approval was "
            "taken by an identical request sent at the same time (one click confirms one call); its result says "
            "how the call went (voicing://ledger/recent lists it). Nothing more was dialled and the user was not "
            "asked again",
            rule="confirmation-used",
        )
    if pending is None:
        if pages.undecided() >= MAX_PENDING_PAGES:
            raise GuardRefusal(
                f"confirmation: {MAX_PENDING_PAGES} confirm pages are already waiting for the user; let them "
                "answer those (or let them expire, 5 minutes) before asking about another call",
                rule="confirmation-pending",
            )
        # registered before the first await: a concurrent identical request finds it instead of opening a tab
        pending = pages.create(decision.request, decision.preview, decision.warnings)
        try:
            await pages.start()
        except (ConfigError, OSError) as exc:
            pages.forget(pending)
            raise GuardRefusal(
                f"confirmation: the confirm page could not start: {exc}. Until then a human can confirm only "
                "through a client with elicitation (or put test phones in VOICING_ALLOWED_NUMBERS)",
                rule="confirmation-unavailable",
            ) from None
        try:
            pending.asked_via = await reach_the_human(ctx, pages, pending)
        finally:
            pending.reached.set()  # a concurrent identical request waits for this
        if pending.asked_via is None:
            pages.forget(pending)
            raise GuardRefusal(NO_HUMAN, rule="confirmation-unavailable")
        logger.info("confirmation asked via %s for %s", pending.asked_via, decision.phone.masked)
    else:
        with anyio.move_on_after(REACH_WAIT_SECONDS):
            await pending.reached.wait()
        if pending.reached.is_set() and pending.asked_via is None:
            raise GuardRefusal(NO_HUMAN, rule="confirmation-unavailable")
    if pending.state == "pending":
        await wait_for_click(ctx, pending, max(float(wait_seconds), CONFIRM_WAIT_SECONDS))
    via = cast(AskedVia | None, pending.asked_via)
    if pending.state == "declined":
        # kept until it expires: the same request asked again within the 5 minutes is declined again, so a
        # model cannot nag the human with new pages
        until = pending.expires_at.strftime("%H:%M:%S UTC")
        return declined(
            decision,
            f'The user chose "Don\'t call" on the confirm page: nothing was dialled. The same request is '
            f"declined until {until}.",
            asked_via=via,
        )
    if pending.state == "approved":
        pages.close(pending)
        if not await guard.ledger.spend_nonce(pending.nonce, expires_at=pending.expires_at):
            raise GuardRefusal(
                "confirmation: this approval has already placed its call (one click confirms one call); call "
                "initiate_outbound_call again for a new confirmation",
                rule="confirmation-used",
            )
        return None
    where = {"browser": "in their browser", "url-elicitation": "through the link your client showed them"}.get(
        via or "", "(the link is on its way to them)"
    )
    return DialResult(
        status="confirmation_required",
        asked_via=via,
        expires_at=pending.expires_at.isoformat().replace("+00:00", "Z"),
        preview=decision.preview,
        warnings=decision.warnings,
        next_step=f"The user was asked to confirm this call on a confirm page {where}; nothing has been dialled. "
        'Tell them; once they have clicked "Call now", call initiate_outbound_call again with the same '
        "arguments (within 5 minutes). Only the user can confirm it.",
    )


async def reach_the_human(
    ctx: Context[ServerContext, Any], pages: ConfirmPages, pending: PendingDial
) -> AskedVia | None:
    """Give the page's URL to the human: URL-mode elicitation, else the browser. None when neither can."""
    url = pages.url(pending)
    if client_can_open_url(ctx):
        elicitation_id = secrets.token_hex(8)  # not the page's id
        try:
            answer = await ctx.elicit_url(
                "Confirm or decline this phone call on the confirm page (it shows who will be called).",
                url,
                elicitation_id,
            )
        except Exception as exc:  # no back-channel on this transport, or the client failed: try the browser
            logger.info("URL elicitation unavailable (%s); opening the browser", type(exc).__name__)
        else:
            if answer.action != "accept":
                pending.state = "declined"
                pending.decided.set()
            return "url-elicitation"
    if await open_in_browser(url):
        return "browser"
    return None


async def wait_for_click(ctx: Context[ServerContext, Any], pending: PendingDial, limit: float) -> None:
    """Wait for the human's decision up to ``limit`` seconds, reporting progress meanwhile."""
    start = anyio.current_time()
    while pending.state == "pending" and not pending.decided.is_set():
        elapsed = anyio.current_time() - start
        remaining = limit - elapsed
        if remaining <= 0:
            return
        await ctx.report_progress(elapsed, limit, "waiting for the user to confirm the call on the confirm page")
        with anyio.move_on_after(min(CONFIRM_PROGRESS_SECONDS, remaining)):
            await pending.decided.wait()
