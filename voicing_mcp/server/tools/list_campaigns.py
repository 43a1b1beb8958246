"""``list_campaigns``: the campaigns of this server's ledger scope, newest first, each with its status and counts.

A page holds as many campaigns as fit the result budget (at most :data:`PAGE`); ``next_offset`` says where the
next page starts. Counts name only the row states that have rows (``campaign_status`` names every state).
"""

from __future__ import annotations

import inspect
from typing import TYPE_CHECKING, Annotated, Any

from mcp.server.mcpserver import Context, MCPServer
from mcp_types import CallToolResult, ToolAnnotations
from pydantic import BaseModel, Field

from voicing_mcp.guard.ledger.campaigns import CampaignStatus
from voicing_mcp.messages import CAMPAIGN_DIALLING_NOTE
from voicing_mcp.server.context import ServerContext, server_context
from voicing_mcp.server.render.campaign_rows import campaign_uri
from voicing_mcp.server.render.results import RESULT_BUDGET, as_tool_result, result_size
from voicing_mcp.server.tools.campaign_status import done_of, when

if TYPE_CHECKING:
    from voicing_mcp.guard.ledger import DialLedger

#: campaigns read for one page (fewer if they do not fit the budget)
PAGE = 25


class CampaignEntry(BaseModel):
    """One campaign in ``list_campaigns``."""

    campaign_id: str
    name: str | None = None
    status: str
    assistant_id: str
    created_at: str
    total: int
    done: int
    counts: dict[str, int] = Field(description="Rows by state (only states with rows).")
    pause_reason: str | None = None
    approval_expires_at: str | None = None
    resource: str


class ListCampaignsResult(BaseModel):
    """Result of ``list_campaigns``."""

    campaigns: list[CampaignEntry]
    offset: int
    returned: int
    next_offset: int | None = Field(description="Call list_campaigns(offset=next_offset) for more; null: done.")
    status: str | None = Field(description="The status filter, if one was given.")
    dialling: str
    next_step: str


async def campaign_entries(
    ledger: DialLedger, *, offset: int, limit: int, status: CampaignStatus | None
) -> tuple[list[CampaignEntry], bool]:
    """Up to ``limit`` campaigns from ``offset``, newest first, and whether more follow."""
    found = await ledger.list_campaigns(
        statuses=[status] if status is not None else None, limit=limit + 1, offset=offset
    )
    entries: list[CampaignEntry] = []
    for c in found[:limit]:
        counts = {k: int(v) for k, v in (await ledger.campaign_row_counts(c.id)).items() if v}
        entries.append(
            CampaignEntry(
                campaign_id=c.id,
                name=c.name,
                status=c.status,
                assistant_id=c.assistant_id,
                created_at=when(c.created_at) or "",
                total=sum(counts.values()),
                done=done_of(counts),
                counts=counts,
                pause_reason=c.pause_reason,
                approval_expires_at=when(c.approval_expires_at),
                resource=campaign_uri(c.id),
            )
        )
    return entries, len(found) > limit


def _text(r: ListCampaignsResult) -> str:
    if not r.campaigns:
        which = f" {r.status}" if r.status else ""
        where = f" from offset {r.offset}" if r.offset else ""
        return f"No{which} campaign in this server's ledger{where}. {r.next_step}"
    lines = [f"Campaigns {r.offset + 1}-{r.offset + r.returned}, newest first (status and counts in the JSON below)."]
    if r.next_offset is not None:
        lines.append(f"More: call list_campaigns(offset={r.next_offset}).")
    lines.append(r.next_step)
    return "\n".join(lines)


def fitted(result: ListCampaignsResult) -> CallToolResult:
    """The tool result within the budget: campaigns that do not fit go to the next page."""
    while True:
        tool_result = as_tool_result(result, _text(result))
        if result_size(tool_result) <= RESULT_BUDGET or len(result.campaigns) <= 1:
            return tool_result
        page = result.campaigns[:-1]
        result = result.model_copy(
            update={"campaigns": page, "returned": len(page), "next_offset": result.offset + len(page)}
        )


async def list_campaigns(
    ctx: Context[ServerContext, Any],
    offset: Annotated[int, Field(ge=0, le=1_000_000, description="Skip this many (from next_offset).")] = 0,
    status: Annotated[CampaignStatus | None, Field(description="Only campaigns with this status.")] = None,
) -> Annotated[CallToolResult, ListCampaignsResult]:
    """The campaigns of this server, newest first: status, rows done of total, counts by row state, why one
    paused. campaign_status gives one campaign in full. Read-only."""
    state = server_context(ctx)
    entries, has_more = await campaign_entries(state.ledger, offset=offset, limit=PAGE, status=status)
    result = ListCampaignsResult(
        campaigns=entries,
        offset=offset,
        returned=len(entries),
        next_offset=offset + len(entries) if has_more else None,
        status=status,
        dialling=CAMPAIGN_DIALLING_NOTE,
        next_step="campaign_status(campaign_id) says what happened and what happens next; prepare_campaign starts "
        "a new campaign (the human approves its list).",
    )
    return fitted(result)


def register_list_campaigns(server: MCPServer[ServerContext]) -> None:
    """Add ``list_campaigns`` to ``server``."""
    title = "List campaigns"
    server.add_tool(
        list_campaigns,
        title=title,
        description=inspect.cleandoc(list_campaigns.__doc__ or ""),
        annotations=ToolAnnotations(
            title=title, read_only_hint=True, destructive_hint=False, idempotent_hint=True, open_world_hint=False
        ),
    )
