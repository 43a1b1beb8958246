"""How the dial workflow reaches the human over MCP: the server's side of :mod:`voicing_mcp.guard.workflow`.

:class:`McpHuman` is the workflow's :class:`~voicing_mcp.guard.workflow.HumanChannel` for one tool call: the
client's form (declared or not), URL-mode elicitation (the page's link shown to the user, never to the model),
the user's browser, and progress notifications while the workflow waits. :func:`pages_for` gives the server's
loopback confirm pages (:mod:`voicing_mcp.server.web.confirm_page`), whose approvals the workflow records in the
ledger. Every rule of the confirmation (when to ask, what an approval binds, spending it once) is the workflow's.
"""

from __future__ import annotations

import logging
import secrets
from typing import Any

from mcp.server.mcpserver import Context

from voicing_mcp.guard.workflow import approval_of, record_approval
from voicing_mcp.server.context import ServerContext
from voicing_mcp.server.web.confirm_page import ConfirmPages, PendingDial, open_in_browser

logger = logging.getLogger(__name__)


def pages_for(state: ServerContext) -> ConfirmPages:
    """The server's confirm pages (created on first need, stopped with the server); an approval given on them
    is recorded in the ledger by the workflow's rule."""
    pages = state.confirm_pages
    if pages is None:
        guard = state.guard
        pages = ConfirmPages(port=state.settings.confirm_port, clock=guard.clock)

        async def store(pending: PendingDial) -> None:
            await record_approval(guard, approval_of(guard, pending))

        pages.on_approved = store
        state.confirm_pages = pages
        state.exit_stack.push_async_callback(pages.aclose)
    return pages


def client_can_elicit(ctx: Context[ServerContext, Any]) -> bool:
    """True when the client declared form elicitation (a bare ``elicitation: {}`` counts)."""
    caps = ctx.client_capabilities
    elicitation = caps.elicitation if caps is not None else None
    return elicitation is not None and (elicitation.form is not None or elicitation.url is None)


def client_can_open_url(ctx: Context[ServerContext, Any]) -> bool:
    """True when the client declared URL-mode elicitation (it shows the link to the user, not to the model)."""
    caps = ctx.client_capabilities
    elicitation = caps.elicitation if caps is not None else None
    return elicitation is not None and elicitation.url is not None


class McpHuman:
    """The human behind one tool call's MCP client (a :class:`~voicing_mcp.guard.workflow.HumanChannel`)."""

    def __init__(self, ctx: Context[ServerContext, Any]) -> None:
        self._ctx = ctx

    @property
    def can_ask_form(self) -> bool:
        return client_can_elicit(self._ctx)

    async def open_url(self, url: str, message: str) -> bool | None:
        if not client_can_open_url(self._ctx):
            return None
        try:
            answer = await self._ctx.elicit_url(message, url, secrets.token_hex(8))  # the id is not the page's
        except Exception as exc:  # no back-channel on this transport, or the client failed: try the browser
            logger.info("URL elicitation unavailable (%s); opening the browser", type(exc).__name__)
            return None
        return answer.action == "accept"

    async def open_browser(self, url: str) -> bool:
        return await open_in_browser(url)

    async def progress(self, progress: float, total: float, message: str) -> None:
        await self._ctx.report_progress(progress, total, message)
