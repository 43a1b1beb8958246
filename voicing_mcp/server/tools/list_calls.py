"""``list_calls``: calls newest first, a row each, with counts by status. It cannot dial.

Two layers: :func:`fetch_call_list` (the API client in, a :class:`~voicing_mcp.server.render.shaping.CallListResult`
out; testable without MCP) and the tool :func:`list_calls`, which checks what the schema cannot (the filters,
and the status against the API's documented values with a did-you-mean, before any request), names the page in
an error's text and returns the rows that fit. The server removes the API key from every tool error and writes
the argument errors (:class:`~voicing_mcp.server.app.VoicingServer`).
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Annotated, Any

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp_types import CallToolResult
from pydantic import Field, StringConstraints

from voicing_mcp.errors import VoicingError
from voicing_mcp.server.context import ServerContext, server_context
from voicing_mcp.server.render.paging import list_result
from voicing_mcp.server.render.results import tool_error
from voicing_mcp.server.render.shaping import Call, CallListResult, cap_value, count_statuses, row_fields, shape_call
from voicing_mcp.server.tools.call_args import Fields, FilterValue, check_status, read_only

if TYPE_CHECKING:
    from voicing_mcp.api.client import VoicingClient
    from voicing_mcp.api.models import CallPage

TITLE = "List calls"
MAX_LIST_RECORDS = 10_000
DEFAULT_MAX_RECORDS = 1_000
ALL_PAGES_PAGE_SIZE = 100
MAX_FILTERS = 20
MAX_FILTER_KEY = 64
MAX_FILTER_VALUE = 256
_FORBIDDEN_FILTER_KEYS = frozenset({"page", "limit", "call_id", "offset"})


def build_filters(
    *, status: str | None, assistant_id: str | None, filters: Mapping[str, FilterValue] | None
) -> dict[str, str]:
    """The query filters sent to the API. Raises ValueError naming a bad key."""
    out: dict[str, str] = {}
    if len(filters or {}) > MAX_FILTERS:
        raise ValueError(f"filters: at most {MAX_FILTERS} filters, not {len(filters or {})}")
    for key, value in (filters or {}).items():
        k = key.strip()
        if not k or len(k) > MAX_FILTER_KEY:
            raise ValueError(f"filters: keys must be 1-{MAX_FILTER_KEY} characters")
        if k in _FORBIDDEN_FILTER_KEYS:
            raise ValueError(
                f"filters.{k}: use the {k!r} argument instead"
                if k != "call_id"
                else "filters.call_id: use get_call_details or bulk_call_details for ids"
            )
        text = str(value).lower() if isinstance(value, bool) else str(value)
        if len(text) > MAX_FILTER_VALUE:
            raise ValueError(f"filters.{k}: at most {MAX_FILTER_VALUE} characters, not {len(text)}")
        out[k] = text
    if status is not None:
        out["status"] = status
    if assistant_id is not None:
        out["assistant_id"] = assistant_id
    return out


def _page_meta(page: CallPage) -> dict[str, Any]:
    return {k: cap_value(v) for k, v in page.extra_fields().items() if k not in {"success", "data"}}


def _has_next(page: CallPage, size: int) -> bool:
    if not page.calls:
        return False
    if page.has_next is not None:
        return page.has_next
    return page.page < page.total_pages if page.total_pages is not None else len(page.calls) >= size


async def fetch_call_list(
    client: VoicingClient,
    *,
    page: int = 1,
    limit: int = 20,
    filters: Mapping[str, str] | None = None,
    all_pages: bool = False,
    max_records: int = DEFAULT_MAX_RECORDS,
    offset: int = 0,
) -> tuple[CallListResult, bool]:
    """``list_calls`` without MCP: every call of one page from ``offset`` on, or of every page from ``page`` on
    up to ``max_records`` calls; and whether calls follow the last one read. The tool shows the rows that fit."""
    query = dict(filters or {})
    size = ALL_PAGES_PAGE_SIZE if all_pages else limit
    offset = min(offset, size - 1)
    max_pages = math.ceil((max_records + offset) / size) + 1  # a bound even if the API sends short pages
    calls: list[Call] = []
    current, fetched, reached = page, 0, False
    last: CallPage | None = None
    while True:
        last = await client.list_calls(page=current, limit=size, filters=query or None)
        fetched += 1
        fresh = last.calls[offset:] if current == page else last.calls
        room = max_records - len(calls) if all_pages else len(fresh)
        calls.extend(shape_call(c, with_transcript=False) for c in fresh[:room])
        has_next = _has_next(last, size)
        if not all_pages:
            more = has_next
            break
        if len(fresh) > room:  # max_records reached inside this page
            reached, more = True, True
            break
        if not has_next:
            more = False
            break
        if len(calls) >= max_records or fetched >= max_pages:
            reached, more = True, True
            break
        current += 1
    result = CallListResult(
        calls=calls,
        returned=len(calls),
        page=page,
        limit=size,
        offset=offset,
        total=last.total,
        total_pages=last.total_pages,
        has_next=_has_next(last, size),
        all_pages=all_pages,
        pages_fetched=fetched,
        counted=len(calls),
        by_status=count_statuses(c.status for c in calls),
        max_records_reached=reached,
        truncated=False,
        filters=query,
        fields=[],
        api_metadata=_page_meta(last),
    )
    return result, more


async def list_calls(
    ctx: Context[ServerContext, Any],
    page: Annotated[int, Field(ge=1, le=1_000_000, description="Page to read, starting at 1.")] = 1,
    limit: Annotated[int, Field(ge=1, le=100, description="Calls per page, 1-100.")] = 20,
    status: Annotated[
        str | None,
        StringConstraints(strip_whitespace=True, min_length=1, max_length=64),
        Field(description="Only calls with this status (e.g. completed, failed, no-answer, in-progress)."),
    ] = None,
    assistant_id: Annotated[
        str | None,
        StringConstraints(strip_whitespace=True, min_length=1, max_length=256),
        Field(description="Only calls placed by this assistant."),
    ] = None,
    filters: Annotated[
        dict[str, FilterValue] | None,
        Field(description="Other filters the API accepts (e.g. a date range or campaign), sent as query parameters."),
    ] = None,
    all_pages: Annotated[
        bool, Field(description="Read every page from `page` on (100 per request) up to max_records, to count.")
    ] = False,
    max_records: Annotated[
        int, Field(ge=1, le=MAX_LIST_RECORDS, description="With all_pages: stop reading after this many calls.")
    ] = DEFAULT_MAX_RECORDS,
    offset: Annotated[int, Field(ge=0, le=99, description="Calls of the page to skip (from `next`).")] = 0,
    fields: Fields = [],  # noqa: B006 (pydantic copies defaults; the schema shows [])
) -> Annotated[CallToolResult, CallListResult]:
    """List calls, newest first, a row each, with counts by status; `next` continues when truncated. all_pages
    counts every page up to max_records. Read-only. No transcripts: get_call_details has them."""
    state = server_context(ctx)
    try:
        query = build_filters(status=status, assistant_id=assistant_id, filters=filters)
    except ValueError as exc:
        raise ToolError(str(exc)) from None
    if "status" in query:  # checked here, not answered by the API's HTTP 422: with a did-you-mean
        query["status"] = check_status(query["status"], where="status" if status is not None else "filters.status")
    try:
        listing, more = await fetch_call_list(
            state.client,
            page=page,
            limit=limit,
            filters=query,
            all_pages=all_pages,
            max_records=max_records,
            offset=offset,
        )
    except VoicingError as exc:
        raise tool_error(exc, subject=f"page {page}") from None
    return list_result(listing, row_fields(fields), more_after=more)


def register_list_calls(server: MCPServer[ServerContext]) -> None:
    """Add ``list_calls`` to ``server``."""
    # the docstring without its indentation: every character of the tool list is in the model's context
    server.add_tool(
        list_calls, title=TITLE, description=inspect.cleandoc(list_calls.__doc__ or ""), annotations=read_only(TITLE)
    )
