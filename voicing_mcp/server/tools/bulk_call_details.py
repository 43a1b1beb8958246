"""``bulk_call_details``: many calls looked up at once, counts by status over every id. It cannot dial.

Two layers: :func:`fetch_bulk` (the API client in, a :class:`~voicing_mcp.server.render.paging.BulkLookup` out:
ids de-duplicated, looked up in API-sized chunks, request order kept; testable without MCP) and the tool
:func:`bulk_call_details`, which reports progress per chunk and returns the rows that fit from ``offset``. The
server removes the API key from every tool error and writes the argument errors
(:class:`~voicing_mcp.server.app.VoicingServer`).
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from typing import TYPE_CHECKING, Annotated, Any

from mcp.server.mcpserver import Context, MCPServer
from mcp_types import CallToolResult
from pydantic import Field

from voicing_mcp.errors import VoicingError
from voicing_mcp.server.context import ServerContext, server_context
from voicing_mcp.server.render.paging import BulkLookup, bulk_result
from voicing_mcp.server.render.results import tool_error
from voicing_mcp.server.render.shaping import BulkCallDetailsResult, row_fields
from voicing_mcp.server.tools.call_args import CallId, Fields, ProgressFn, read_only

if TYPE_CHECKING:
    from voicing_mcp.api.client import VoicingClient

TITLE = "Bulk call details"
MAX_BULK_IDS = 10_000


async def fetch_bulk(
    client: VoicingClient, call_ids: Sequence[str], *, on_progress: ProgressFn | None = None
) -> BulkLookup:
    """``bulk_call_details`` without MCP: de-duplicate, look up in API-sized chunks, keep request order."""
    unique = list(dict.fromkeys(call_ids))
    result = await client.bulk_call_details(unique, on_progress=on_progress)
    missing = set(result.missing)
    found = {c.call_id: c for c in result.calls}
    return BulkLookup(ids=unique, found={i: found[i] for i in unique if i not in missing}, requested=len(call_ids))


async def bulk_call_details(
    call_ids: Annotated[
        list[CallId],
        Field(
            min_length=1,
            max_length=MAX_BULK_IDS,
            description="1 to 10,000 call ids; duplicates are removed (the result says how many).",
        ),
    ],
    ctx: Context[ServerContext, Any],
    offset: Annotated[int, Field(ge=0, le=MAX_BULK_IDS, description="First distinct id to show (from `next`).")] = 0,
    fields: Fields = [],  # noqa: B006 (pydantic copies defaults; the schema shows [])
) -> Annotated[CallToolResult, BulkCallDetailsResult]:
    """Look up many calls at once (concurrent API requests, progress per chunk): counts by status over every
    id, then rows in request order (unknown ids under `missing`); `next` continues when truncated. Read-only.
    For outcomes over many ids, use reconcile_calls."""
    state = server_context(ctx)

    async def progress(done: int, total: int) -> None:
        await ctx.report_progress(done, total, f"{done} of {total} call ids looked up")

    try:
        lookup = await fetch_bulk(state.client, call_ids, on_progress=progress)
    except VoicingError as exc:
        raise tool_error(exc, subject="a call in the request") from None
    return bulk_result(lookup, row_fields(fields), offset)


def register_bulk_call_details(server: MCPServer[ServerContext]) -> None:
    """Add ``bulk_call_details`` to ``server``."""
    # the docstring without its indentation: every character of the tool list is in the model's context
    server.add_tool(
        bulk_call_details,
        title=TITLE,
        description=inspect.cleandoc(bulk_call_details.__doc__ or ""),
        annotations=read_only(TITLE),
    )
