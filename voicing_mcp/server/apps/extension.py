"""The SDK's ``Apps`` extension with this server's views and the view's tools, and what a client without Apps sees.

:func:`views_extension` goes to ``MCPServer(extensions=[...])``: the server then advertises
``io.modelcontextprotocol/ui`` and serves the two ``ui://`` views and the two app-only tools.

The SDK lists app-only tools and ``ui://`` resources to every client, leaving the filtering to Apps hosts. A
client that did not declare Apps cannot use them: its model would see two extra tools it should not call, two
resources of half a megabyte of HTML, and ``_meta.ui`` it ignores. :func:`plain_client_lists` (a server
middleware) gives such a client the lists it had before the views existed. An Apps client gets the SDK's lists
unchanged (its host hides app-only tools from the model). Tool results are not touched for anyone: the text and
``structuredContent`` are the same with or without Apps.
"""

from __future__ import annotations

import inspect
from typing import Any

from mcp.server.apps import Apps, client_supports_apps
from mcp.server.context import CallNext, HandlerResult, ServerRequestContext

from voicing_mcp.server.apps.tools import (
    CANCEL_ANNOTATIONS,
    CANCEL_TOOL,
    PAUSE_ANNOTATIONS,
    PAUSE_TOOL,
    app_cancel_campaign,
    app_pause_campaign,
)
from voicing_mcp.server.apps.views import CAMPAIGN_VIEW, view_resources

#: the ``_meta`` keys of the Apps extension on a tool (``ui/resourceUri``: the flat key of pre-release hosts)
UI_KEYS = ("ui", "ui/resourceUri")


def views_extension() -> Apps:
    """The views (``ui://`` resources) and the campaign view's app-only tools, as the SDK's Apps extension."""
    apps = Apps()
    for resource in view_resources():
        apps.add_resource(resource)
    for fn, name, hints in (
        (app_pause_campaign, PAUSE_TOOL, PAUSE_ANNOTATIONS),
        (app_cancel_campaign, CANCEL_TOOL, CANCEL_ANNOTATIONS),
    ):
        apps.tool(
            resource_uri=CAMPAIGN_VIEW,
            visibility=["app"],
            name=name,
            title=hints.title,
            description=inspect.cleandoc(fn.__doc__ or ""),
            annotations=hints,
        )(fn)
    return apps


def app_only(tool: dict[str, Any]) -> bool:
    """A tool only a view may call (``_meta.ui.visibility`` is ``["app"]``), in the wire form of ``tools/list``."""
    meta = tool.get("_meta")
    ui = meta.get("ui") if isinstance(meta, dict) else None
    return isinstance(ui, dict) and ui.get("visibility") == ["app"]


def without_ui(tool: dict[str, Any]) -> dict[str, Any]:
    """The tool without the Apps keys of its ``_meta`` (and without ``_meta`` when nothing else is left)."""
    meta = tool.get("_meta")
    if not isinstance(meta, dict) or not any(key in meta for key in UI_KEYS):
        return tool
    rest = {k: v for k, v in meta.items() if k not in UI_KEYS}
    plain = {k: v for k, v in tool.items() if k != "_meta"}
    return {**plain, "_meta": rest} if rest else plain


async def plain_client_lists(ctx: ServerRequestContext[Any, Any], call_next: CallNext) -> HandlerResult:
    """``tools/list`` and ``resources/list`` for a client that did not declare Apps: no app-only tool, no
    ``_meta.ui``, no ``ui://`` resource. Everything else passes unchanged. The SDK hands middleware the result in
    its wire form (a dict of camelCase keys)."""
    result = await call_next(ctx)
    if ctx.method not in ("tools/list", "resources/list") or not isinstance(result, dict):
        return result
    if client_supports_apps(ctx):
        return result
    tools = result.get("tools")
    if ctx.method == "tools/list" and isinstance(tools, list):
        listed: list[dict[str, Any]] = [t for t in tools if isinstance(t, dict)]
        return {**result, "tools": [without_ui(t) for t in listed if not app_only(t)]}
    resources = result.get("resources")
    if ctx.method == "resources/list" and isinstance(resources, list):
        shown: list[dict[str, Any]] = [r for r in resources if isinstance(r, dict)]
        return {**result, "resources": [r for r in shown if not str(r.get("uri", "")).startswith("ui://")]}
    return result
