"""``campaign_status``: one campaign at any moment — what happened, and what happens next.

A campaign (``prepare_campaign``, issue 16) lives in the dial ledger: its record and one row per submitted number.
This tool reads them (read-only): the status, the rows counted by state (every state, zeros included), when the
next dial is due, the last rows that changed, why it paused, until when the human's approval holds, the resource
with every row (``voicing://campaigns/{campaign_id}``) and a one-paragraph summary.

:func:`campaign_in_scope` is the one lookup the campaign tools and resources share: a campaign of this server's
ledger scope (the API its dials go to), or the text that says why not (unknown id with a did-you-mean, or another
environment's campaign).
"""

from __future__ import annotations

import difflib
import inspect
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ResourceError, ResourceNotFoundError, ToolError
from mcp_types import CallToolResult, ToolAnnotations
from pydantic import BaseModel, Field, StringConstraints

from voicing_mcp.errors import GuardRefusal
from voicing_mcp.guard.ledger.base import iso
from voicing_mcp.guard.ledger.campaigns import ACTIVE_STATES, DUE_STATES, ROW_STATES
from voicing_mcp.guard.scope import scope_key
from voicing_mcp.messages import CAMPAIGN_DIALLING_NOTE, campaign_other_scope, campaign_unknown
from voicing_mcp.server.apps.views import CAMPAIGN_VIEW, view_meta
from voicing_mcp.server.context import ServerContext, server_context
from voicing_mcp.server.render.campaign_rows import (
    CAMPAIGN_PREFIX,
    COLUMNS,
    PART_READ,
    campaign_csv_uri,
    campaign_uri,
    rows_csv,
    rows_json,
)
from voicing_mcp.server.render.results import as_tool_result

if TYPE_CHECKING:
    from voicing_mcp.guard.ledger import Campaign, CampaignRow, DialLedger, RowState

#: campaign ids are ``cmp_`` + 16 hex digits; anything longer is not one
MAX_CAMPAIGN_ID = 80
#: rows shown under ``recent``
RECENT_ROWS = 10
#: known ids read for a did-you-mean
GUESS_POOL = 200

CampaignId = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_CAMPAIGN_ID),
    Field(description="The campaign's id (cmp_…), from prepare_campaign or list_campaigns."),
]

#: row states of a row that was dialled (or is being dialled)
ACTED_STATES: frozenset[RowState] = frozenset(
    {"dialling", "in_progress", "completed", "busy", "no_answer", "voicemail", "failed", "unknown"}
)
#: row states with something left to do (dialled, being dialled, or to be dialled)
OPEN_STATES: frozenset[RowState] = frozenset({*DUE_STATES, *ACTIVE_STATES})


# ----- the lookup the campaign tools share ----------------------------------------------------------
def ledger_scope(ledger: DialLedger) -> str | None:
    """The scope this server's ledger counts in (None: every campaign of the ledger is its own)."""
    return scope_key(ledger.environment) if ledger.environment is not None else None


async def campaign_in_scope(ledger: DialLedger, campaign_id: str) -> Campaign | str:
    """The campaign, or the text that says why this server has none by that id."""
    campaign = await ledger.get_campaign(campaign_id)
    scope = ledger_scope(ledger)
    if campaign is None:
        known = [c.id for c in await ledger.list_campaigns(limit=GUESS_POOL)]
        close = difflib.get_close_matches(campaign_id, known, n=3, cutoff=0.6)
        return campaign_unknown(campaign_id, close)
    if scope is not None and campaign.scope != scope:
        return campaign_other_scope(campaign.id, campaign.environment, ledger.environment or "")
    return campaign


async def find_campaign(ledger: DialLedger, campaign_id: str) -> Campaign:
    """:func:`campaign_in_scope` for a tool: the campaign, or a ``ToolError`` saying why not."""
    found = await campaign_in_scope(ledger, campaign_id)
    if isinstance(found, str):
        raise ToolError(found)
    return found


def all_counts(counts: dict[RowState, int]) -> dict[str, int]:
    """Every row state, in the ledger's order, zeros included."""
    return {state: counts.get(state, 0) for state in ROW_STATES}


def done_of(counts: dict[str, int]) -> int:
    """Rows with nothing left to do: every state but queued, waiting, dialling and in progress."""
    return sum(n for state, n in counts.items() if state not in OPEN_STATES)


def when(t: datetime | None) -> str | None:
    return iso(t) if t is not None else None


# ----- the result -------------------------------------------------------------------------------------
class RecentRow(BaseModel):
    """A row that changed lately (the newest first)."""

    position: int = Field(description="1-based position in the submitted list.")
    phone_number: str = Field(description="E.164, as it was submitted.")
    state: str
    attempts: int
    call_id: str | None = None
    last_outcome: str | None = None
    exclusion_reason: str | None = None
    changed_at: str


class CampaignStatusResult(BaseModel):
    """Result of ``campaign_status``."""

    campaign_id: str
    name: str | None = None
    assistant_id: str
    status: str = Field(
        description="awaiting_approval, scheduled, running, paused, completed, cancelled, declined or expired."
    )
    total: int = Field(description="Rows of the submitted list (excluded and removed ones too).")
    done: int = Field(description="Rows with nothing left to do (not queued, waiting, dialling or in progress).")
    counts: dict[str, int] = Field(description="Rows in each state, every state named (zeros included).")
    next_dial_at: str | None = Field(
        description="When the next row is due (running or scheduled); null: none due, or nothing dials now."
    )
    recent: list[RecentRow] = Field(description="The last rows that changed, newest first.")
    pause_reason: str | None = None
    approved_at: str | None = None
    approval_expires_at: str | None = Field(
        description="Until then resume needs no new approval; after it, resume asks the human again."
    )
    created_at: str
    max_attempts: int
    max_concurrent: int
    resource: str = Field(description="Every row, paged: read it (each part names the next).")
    resource_csv: str = Field(description="Every row as CSV, whole.")
    dialling: str
    summary: str = Field(description="What happened, and what happens next.")


def recent_rows(rows: list[CampaignRow], campaign: Campaign, limit: int = RECENT_ROWS) -> list[RecentRow]:
    """The rows something happened to, newest first: dialled or being dialled, with an outcome, or excluded at dial
    time (after the approval). Exclusions made at preparation and rows the human unticked are not news."""
    approved = campaign.approved_at

    def acted(r: CampaignRow) -> bool:
        if r.state in ACTED_STATES or r.attempts > 0 or r.last_outcome is not None:
            return True
        return r.state == "excluded" and approved is not None and r.updated_at > approved

    changed = [r for r in rows if acted(r)]
    changed.sort(key=lambda r: (r.updated_at, r.position), reverse=True)
    return [
        RecentRow(
            position=r.position,
            phone_number=r.phone_e164,
            state=r.state,
            attempts=r.attempts,
            call_id=r.call_id,
            last_outcome=r.last_outcome,
            exclusion_reason=r.exclusion_reason,
            changed_at=iso(r.updated_at),
        )
        for r in changed[:limit]
    ]


def _tally(counts: dict[str, int], states: tuple[str, ...]) -> str:
    parts = [f"{counts[s]:,} {s.replace('_', ' ')}" for s in states if counts.get(s)]
    return ", ".join(parts) if parts else "none"


def summary_of(campaign: Campaign, counts: dict[str, int], next_dial_at: datetime | None, now: datetime) -> str:
    """One paragraph: what happened, and what happens next."""
    total, done = sum(counts.values()), done_of(counts)
    cid = campaign.id
    outcomes = _tally(counts, ("completed", "voicemail", "busy", "no_answer", "failed", "unknown"))
    skipped = _tally(counts, ("excluded", "removed", "cancelled"))
    open_rows = _tally(counts, ("in_progress", "dialling", "queued", "waiting"))
    happened = f"{done:,} of {total:,} rows done — outcomes: {outcomes}; not dialled: {skipped}; open: {open_rows}."
    due = "now" if next_dial_at is not None and next_dial_at <= now else when(next_dial_at)
    expires = campaign.approval_expires_at
    match campaign.status:
        case "awaiting_approval":
            queued = counts["queued"]
            return (
                f"Campaign {cid} awaits the human's approval of {queued:,} accepted row(s) ({counts['excluded']:,} "
                "excluded); nothing has been dialled. Next: the human approves or declines the list where they were "
                "asked; call campaign_status again afterwards. Never approve on their behalf."
            )
        case "scheduled" | "running":
            nxt = (
                f"The next dial is due {due}"
                if next_dial_at is not None
                else "No row is due: it completes when the calls in progress end"
            )
            valid = f" The approval holds until {when(expires)}." if expires is not None else ""
            return (
                f"Campaign {cid} is {campaign.status}: {happened} {nxt}; {CAMPAIGN_DIALLING_NOTE}.{valid} "
                "control_campaign(action='pause' or 'cancel') stops it before the next dial."
            )
        case "paused":
            why = campaign.pause_reason or "paused"
            if expires is not None and expires > now:
                again = f"resume continues it with no new approval until {when(expires)}"
            else:
                again = "the approval has lapsed, so resume asks the human to approve again"
            return (
                f"Campaign {cid} is paused ({why}): {happened} Nothing more is dialled until "
                f"control_campaign(action='resume'); {again}. cancel ends it."
            )
        case "completed":
            return (
                f"Campaign {cid} is completed: {happened} Nothing more will be dialled. Next: reconcile_calls on "
                "the call ids in its rows (the resource lists them) for every call's final status."
            )
        case "cancelled":
            return (
                f"Campaign {cid} was cancelled: {happened} Nothing more will be dialled (calls already in progress "
                "were not hung up). The rows' call ids go to reconcile_calls."
            )
        case "declined":
            return (
                f"Campaign {cid} was declined by the human: nothing was dialled and nothing will be. A changed list "
                "is a new campaign (prepare_campaign)."
            )
        case "expired":
            return (
                f"Campaign {cid} expired: its approval lapsed before it was dialled ({happened}). Nothing more will "
                "be dialled; prepare_campaign asks the human for a new one."
            )
    return f"Campaign {cid} is {campaign.status}: {happened}"  # pragma: no cover - every status is matched above


async def campaign_status_result(ledger: DialLedger, campaign: Campaign, now: datetime) -> CampaignStatusResult:
    """``campaign_status`` without MCP, for a campaign of this ledger."""
    counts = all_counts(await ledger.campaign_row_counts(campaign.id))
    total = sum(counts.values())
    rows = await ledger.campaign_rows(campaign.id, limit=max(total, 1))
    next_due = await ledger.campaign_next_due(campaign.id) if campaign.status in ("running", "scheduled") else None
    return CampaignStatusResult(
        campaign_id=campaign.id,
        name=campaign.name,
        assistant_id=campaign.assistant_id,
        status=campaign.status,
        total=total,
        done=done_of(counts),
        counts=counts,
        next_dial_at=when(max(next_due, now)) if next_due is not None else None,
        recent=recent_rows(rows, campaign),
        pause_reason=campaign.pause_reason,
        approved_at=when(campaign.approved_at),
        approval_expires_at=when(campaign.approval_expires_at),
        created_at=iso(campaign.created_at),
        max_attempts=campaign.max_attempts,
        max_concurrent=campaign.max_concurrent,
        resource=campaign_uri(campaign.id),
        resource_csv=campaign_csv_uri(campaign.id),
        dialling=CAMPAIGN_DIALLING_NOTE,
        summary=summary_of(campaign, counts, next_due, now),
    )


def status_text(result: CampaignStatusResult) -> str:
    """The short readable summary; the rows are in the resource."""
    return f"{result.summary}\nEvery row: {result.resource} (CSV: {result.resource_csv})."


# ----- the tool -----------------------------------------------------------------------------------------
async def campaign_status(
    campaign_id: CampaignId, ctx: Context[ServerContext, Any]
) -> Annotated[CallToolResult, CampaignStatusResult]:
    """One campaign now: status, rows counted by state, when the next dial is due, the last rows that changed,
    why it paused, until when its approval holds, and what happens next. Every row: the resource it names.
    Read-only."""
    state = server_context(ctx)
    campaign = await find_campaign(state.ledger, campaign_id)
    result = await campaign_status_result(state.ledger, campaign, state.guard.clock())
    return as_tool_result(result, status_text(result))


def register_campaign_status(server: MCPServer[ServerContext]) -> None:
    """Add ``campaign_status`` to ``server``."""
    title = "Campaign status"
    server.add_tool(
        campaign_status,
        title=title,
        description=inspect.cleandoc(campaign_status.__doc__ or ""),
        annotations=ToolAnnotations(
            title=title, read_only_hint=True, destructive_hint=False, idempotent_hint=True, open_world_hint=False
        ),
        meta=view_meta(CAMPAIGN_VIEW),  # MCP Apps: the campaign view renders its result
    )
    register_campaign_resources(server)


# ----- the resources: every row -------------------------------------------------------------------------
def _part_offset(offset: str | None) -> int:
    """The row a part starts at, from the ``offset`` of its URI (none: the first part)."""
    if offset is None or offset == "":
        return 0
    if not (offset.isascii() and offset.isdigit()) or len(offset) > 9:
        shown = offset if len(offset) <= 20 and offset.isascii() and offset.isprintable() else "given"
        raise ResourceError(
            f"offset {shown!r} is not a row number: follow the next URI a part gives, or read the campaign's URI "
            "without ?offset for the first part"
        )
    return int(offset)


async def _resource_campaign(state: ServerContext, campaign_id: str) -> Campaign:
    if not campaign_id or len(campaign_id) > MAX_CAMPAIGN_ID:
        raise ResourceNotFoundError(
            f"a campaign id has 1-{MAX_CAMPAIGN_ID} characters; list_campaigns shows the campaigns there are"
        )
    try:
        found = await campaign_in_scope(state.ledger, campaign_id)
    except GuardRefusal as exc:  # the ledger cannot be read: its text names it (a URL's password masked)
        raise ResourceError(str(exc)) from None
    if isinstance(found, str):
        raise ResourceNotFoundError(found)
    return found


def register_campaign_resources(server: MCPServer[ServerContext]) -> None:
    """Add ``voicing://campaigns/{campaign_id}.csv`` and ``voicing://campaigns/{campaign_id}{?offset}`` (CSV first:
    the SDK tries templates in order, and the JSON template would also match a name ending in ``.csv``)."""

    @server.resource(
        f"{CAMPAIGN_PREFIX}{{campaign_id}}.csv",
        name="campaign_rows_csv",
        title="Campaign rows (CSV)",
        description="Every row of a campaign as CSV, whole: " + ", ".join(COLUMNS) + ".",
        mime_type="text/csv",
    )
    async def campaign_as_csv(campaign_id: str, ctx: Context[ServerContext, Any]) -> str:
        state = server_context(ctx)
        campaign = await _resource_campaign(state, campaign_id)
        total = sum((await state.ledger.campaign_row_counts(campaign.id)).values())
        return rows_csv(await state.ledger.campaign_rows(campaign.id, limit=max(total, 1)))

    @server.resource(
        f"{CAMPAIGN_PREFIX}{{campaign_id}}{{?offset}}",
        name="campaign_rows",
        title="Campaign rows",
        description="Every row of a campaign (position, number, state, attempts, call_id, last outcome, next "
        "attempt, exclusion reason) as JSON in parts within the result budget: the first part has the status and "
        "counts; each part has rows_total and next, the URI of the next part (?offset=N; null on the last). The "
        "whole list as one read: the .csv.",
        mime_type="application/json",
    )
    async def campaign_as_json(campaign_id: str, ctx: Context[ServerContext, Any], offset: str | None = None) -> str:
        state = server_context(ctx)
        start = _part_offset(offset)
        campaign = await _resource_campaign(state, campaign_id)
        counts = all_counts(await state.ledger.campaign_row_counts(campaign.id))
        rows = await state.ledger.campaign_rows(campaign.id, offset=start, limit=PART_READ)
        return rows_json(campaign, rows, offset=start, rows_total=sum(counts.values()), counts=counts)
