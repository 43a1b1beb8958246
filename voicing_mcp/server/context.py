"""The per-server object the lifespan builds and every tool and resource reads.

One :class:`ServerContext` exists per running server (per lifespan), never a module global.
Tools reach it with :func:`server_context` (``ctx.request_context.lifespan_context``).
"""

from __future__ import annotations

from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import anyio

from voicing_mcp.server.render.reports import ReportStore

if TYPE_CHECKING:
    from anyio.abc import TaskGroup
    from mcp.server.mcpserver import Context

    from voicing_mcp.api.client import VoicingClient
    from voicing_mcp.config import Settings
    from voicing_mcp.emulator.runner import RunningEmulator
    from voicing_mcp.guard.campaigns.dispatcher import CampaignDispatcher
    from voicing_mcp.guard.ledger import DialLedger
    from voicing_mcp.guard.policy import DialGuard
    from voicing_mcp.guard.templates import TemplateStore
    from voicing_mcp.runtime import LocalEmulator
    from voicing_mcp.server.tools.chat_sessions import ChatSessions
    from voicing_mcp.server.web.confirm_page import ConfirmPages


#: seconds after the server starts before its campaign dispatcher does
DISPATCHER_START_DELAY = 0.5


@dataclass(slots=True)
class ServerContext:
    """Everything one server instance owns while it runs.

    ``exit_stack`` closes in reverse order at shutdown: register further per-server
    resources on it (``ctx.exit_stack.push_async_callback(...)``). ``guard`` and ``ledger``
    are built by the lifespan (:func:`voicing_mcp.runtime.open_guard`); the ledger's file is
    created on the first dial.
    """

    settings: Settings
    client: VoicingClient
    templates: TemplateStore
    chats: ChatSessions
    exit_stack: AsyncExitStack
    guard: DialGuard
    """The dial guard of this server: every ``initiate_outbound_call`` passes it."""
    ledger: DialLedger
    """The dial guard's audit ledger (``guard.ledger``)."""
    local_emulator: LocalEmulator | None = None
    """Local mode's built-in emulator, started on the client's first request (else None)."""
    confirm_pages: ConfirmPages | None = None
    """Human mode's loopback confirm pages; None until a dial first needs one."""
    extras: dict[str, Any] = field(default_factory=dict[str, Any])
    reports: ReportStore = field(default_factory=ReportStore)
    """``reconcile_calls``'s reports, read as ``voicing://reports/{report_id}``: the newest few, bounded in rows."""
    dispatcher: CampaignDispatcher | None = None
    """The campaign dispatcher dialling approved campaigns' rows in the background; None until it started
    (:meth:`start_dispatcher`, shortly after the server). Tools call ``wake()`` on it after an approval or a
    resume (nothing to do while it is None: its first tick finds the campaign)."""

    async def start_dispatcher(self, task_group: TaskGroup) -> None:
        """Start this server's campaign dispatcher in ``task_group`` (the lifespan's), after a short delay: its
        import stays off the cold start and its ticks off the client's first requests. It resumes the running
        campaigns of this server's scope (those left by a restart included); stopped by the lifespan."""
        await anyio.sleep(DISPATCHER_START_DELAY)
        from voicing_mcp.guard.campaigns.dispatcher import (  # noqa: PLC0415 (off the cold start)
            CampaignDispatcher,
            worker_name,
        )

        self.dispatcher = CampaignDispatcher(self.guard, self.client, worker_id=worker_name())
        self.dispatcher.start(task_group)

    async def stop_dispatcher(self) -> None:
        """Stop the dispatcher (a POST in flight is recorded as interrupted, never resent)."""
        if self.dispatcher is not None:
            with anyio.CancelScope(shield=True):
                await self.dispatcher.aclose()

    @property
    def is_local(self) -> bool:
        """Local mode (the built-in emulator answers): :attr:`Settings.is_local <voicing_mcp.config.Settings.is_local>`
        decides it, for the server as for the guard and ``check``."""
        return self.settings.is_local

    @property
    def base_url(self) -> str:
        """The API's base URL (local mode: a placeholder until the emulator has started)."""
        return self.client.base_url

    @property
    def emulator(self) -> RunningEmulator | None:
        """The in-process emulator in local mode once it runs (``.base_url``, ``.state``), else None."""
        return self.local_emulator.running if self.local_emulator is not None else None

    @property
    def secret(self) -> str | None:
        """The API key, to remove from any text the model reads (None without a key)."""
        key = self.settings.api_key
        return key.get_secret_value() if key is not None else None


def server_context(ctx: Context[ServerContext, Any]) -> ServerContext:
    """The running server's context, from a tool's or resource's ``Context``."""
    return ctx.request_context.lifespan_context
