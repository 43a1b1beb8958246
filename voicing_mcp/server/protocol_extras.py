"""The generic protocol methods MCPServer does not serve by itself: completion, logging level, subscriptions.

``register_protocol_extras(server, templates)`` (one line in the factory) adds:

* ``completion/complete`` — argument completion for the resource templates:
  ``voicing://assistants/{assistant_id}`` from the local prompt templates, and
  ``voicing://calls/{call_id}`` from the newest calls the API lists (one page of 100; nothing when
  the API is unreachable — completion is a convenience, never an error). Anything else, e.g. a
  prompt this server does not have, completes to an empty list.
* ``logging/setLevel`` — accepted and remembered per connection (handshake-era protocol). The
  server sends no ``notifications/message`` today; :meth:`ProtocolExtras.log_level` is where a
  future sender reads the client's threshold.
* ``resources/subscribe`` / ``resources/unsubscribe`` — accepted and remembered per connection.
  No ``notifications/resources/updated`` are sent yet: call status changes are read with
  ``get_call_details``. (Handshake-era only; the 2026-07-28 protocol uses ``subscriptions/listen``.)

State is per server object and per connection (weakly keyed by the session), never global.
"""

from __future__ import annotations

import logging
import weakref
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from mcp_types import (
    CompleteRequestParams,
    CompleteResult,
    Completion,
    EmptyResult,
    ResourceTemplateReference,
    SetLevelRequestParams,
    SubscribeRequestParams,
    UnsubscribeRequestParams,
)

from voicing_mcp.errors import VoicingError

if TYPE_CHECKING:
    from mcp.server.context import ServerRequestContext
    from mcp.server.mcpserver import MCPServer
    from mcp_types import LoggingLevel

    from voicing_mcp.guard.templates import TemplateStore

logger = logging.getLogger(__name__)

MAX_COMPLETIONS = 100  # the protocol's cap on values per answer
ASSISTANT_TEMPLATE = "voicing://assistants/{assistant_id}"
CALL_TEMPLATE = "voicing://calls/{call_id}"


@dataclass(eq=False)
class ProtocolExtras:
    """Per-server state of the extra methods: each connection's log level and subscriptions."""

    templates: TemplateStore
    _levels: weakref.WeakKeyDictionary[Any, LoggingLevel] = field(default_factory=weakref.WeakKeyDictionary)
    _subscriptions: weakref.WeakKeyDictionary[Any, set[str]] = field(default_factory=weakref.WeakKeyDictionary)

    def log_level(self, session: Any) -> LoggingLevel | None:
        """The level the client on ``session`` asked for with ``logging/setLevel``, if it did."""
        return self._levels.get(session)

    def subscriptions(self, session: Any) -> frozenset[str]:
        """The resource URIs the client on ``session`` subscribed to."""
        return frozenset(self._subscriptions.get(session, set()))

    async def set_level(self, ctx: ServerRequestContext[Any], params: SetLevelRequestParams) -> EmptyResult:
        self._levels[ctx.session] = params.level
        logger.debug("client log level set to %s", params.level)
        return EmptyResult()

    async def subscribe(self, ctx: ServerRequestContext[Any], params: SubscribeRequestParams) -> EmptyResult:
        self._subscriptions.setdefault(ctx.session, set()).add(str(params.uri))
        return EmptyResult()

    async def unsubscribe(self, ctx: ServerRequestContext[Any], params: UnsubscribeRequestParams) -> EmptyResult:
        self._subscriptions.get(ctx.session, set()).discard(str(params.uri))
        return EmptyResult()

    async def complete(self, ctx: ServerRequestContext[Any], params: CompleteRequestParams) -> CompleteResult:
        values: list[str] = []
        if isinstance(params.ref, ResourceTemplateReference):
            prefix = params.argument.value
            if params.ref.uri == ASSISTANT_TEMPLATE and params.argument.name == "assistant_id":
                values = self._assistant_ids(prefix)
            elif params.ref.uri == CALL_TEMPLATE and params.argument.name == "call_id":
                values = await _recent_call_ids(ctx.lifespan_context, prefix)
        return CompleteResult(
            completion=Completion(
                values=values[:MAX_COMPLETIONS], total=len(values), has_more=len(values) > MAX_COMPLETIONS
            )
        )

    def _assistant_ids(self, prefix: str) -> list[str]:
        try:
            templates, _problems = self.templates.scan()
        except VoicingError:
            return []
        return [t.assistant_id for t in templates if t.assistant_id.startswith(prefix)]


async def _recent_call_ids(state: Any, prefix: str) -> list[str]:
    """Ids of the newest calls (one page) starting with ``prefix``; empty if the API cannot be asked."""
    client = getattr(state, "client", None)
    if client is None:
        return []
    try:
        page = await client.list_calls(page=1, limit=100)
    except VoicingError as exc:
        logger.debug("call id completion skipped: %s", exc)
        return []
    return [c.call_id for c in page.calls if c.call_id and c.call_id.startswith(prefix)]


def register_protocol_extras(server: MCPServer[Any], templates: TemplateStore) -> ProtocolExtras:
    """Serve completion, logging/setLevel and resources/(un)subscribe on ``server``; returns their state."""
    extras = ProtocolExtras(templates)
    # No public way: MCPServer.completion() does not pass the request context (the call-id completion needs the
    # API client) and logging/setLevel and resources/(un)subscribe have no MCPServer hook; the low-level server has.
    lowlevel = server._lowlevel_server  # pyright: ignore[reportPrivateUsage]
    lowlevel.add_request_handler("completion/complete", CompleteRequestParams, extras.complete)
    lowlevel.add_request_handler("logging/setLevel", SetLevelRequestParams, extras.set_level)
    lowlevel.add_request_handler("resources/subscribe", SubscribeRequestParams, extras.subscribe)
    lowlevel.add_request_handler("resources/unsubscribe", UnsubscribeRequestParams, extras.unsubscribe)
    return extras
