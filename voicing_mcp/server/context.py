"""The per-server object the lifespan builds and every tool and resource reads.

One :class:`ServerContext` exists per running server (per lifespan), never a module global.
Tools reach it with :func:`server_context` (``ctx.request_context.lifespan_context``).
"""

from __future__ import annotations

from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mcp.server.mcpserver import Context

    from voicing_mcp.api.client import VoicingClient
    from voicing_mcp.config import Settings
    from voicing_mcp.emulator.runner import RunningEmulator
    from voicing_mcp.guard.ledger import DialLedger
    from voicing_mcp.guard.policy import DialGuard
    from voicing_mcp.guard.templates import TemplateStore
    from voicing_mcp.server.chat_sessions import ChatSessions
    from voicing_mcp.server.confirm_page import ConfirmPages


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
    base_url: str
    exit_stack: AsyncExitStack
    guard: DialGuard
    """The dial guard of this server: every ``initiate_outbound_call`` passes it."""
    ledger: DialLedger
    """The dial guard's audit ledger (``guard.ledger``)."""
    is_local: bool = False
    emulator: RunningEmulator | None = None
    """The in-process emulator handle in local mode (``.base_url``, ``.state``), else None."""
    confirm_pages: ConfirmPages | None = None
    """Human mode's loopback confirm pages; None until a dial first needs one."""
    extras: dict[str, Any] = field(default_factory=dict[str, Any])

    @property
    def secret(self) -> str | None:
        """The API key, to remove from any text the model reads (None without a key)."""
        key = self.settings.api_key
        return key.get_secret_value() if key is not None else None


def server_context(ctx: Context[ServerContext, Any]) -> ServerContext:
    """The running server's context, from a tool's or resource's ``Context``."""
    return ctx.request_context.lifespan_context
