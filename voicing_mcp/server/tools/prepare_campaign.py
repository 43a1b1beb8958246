"""``prepare_campaign``: many calls, one human approval of an exact list.

Over 450 lines on purpose: the whole tool in one file (arguments, result, the approval page's fields, asking again
and token mode for ``control_campaign``), as every tool is.

The tool is thin; the rules are the guard's:

1. the list (``recipients`` inline, or ``recipients_file``: a CSV inside ``VOICING_CAMPAIGNS_DIR``, any other path
   refused) goes through the planner (:func:`~voicing_mcp.guard.campaigns.plan_campaign`): every row passes the
   single-call guard's checks now, with the server's guard and its ledger's history; the accepted rows' manifest is
   hashed and the schedule estimated;
2. the campaign is created in the ledger (``awaiting_approval``; id ``cmp_`` + 16 hex digits; the server's scope);
3. the human is asked as for a single call without the client's form (:mod:`voicing_mcp.guard.workflow`'s batch
   functions): the approval page (:mod:`voicing_mcp.server.web.campaign_page`) reaches them by URL-mode elicitation,
   else the browser — its URL is in no result, resource or log line. The tool waits up to ``wait_seconds`` for the
   decision, which the page applies to the ledger itself (bound to the manifest hash and the ticked rows, valid 24
   hours), so a later click starts the campaign as well. In token mode (only where a single call allows it) the
   result carries a ``confirmation_token`` bound to the campaign and its manifest instead;
4. the result: status, counts, exclusions with reasons, the schedule estimate, the manifest hash, a sample of
   opening lines, where the human was asked — within the 25,000-character budget at 10,000 rows.

For ``control_campaign``: :func:`ask_campaign_approval` (ask again about a campaign awaiting approval or whose
approval expired) and :func:`start_with_token` / :func:`issue_campaign_token` (token mode).
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any, Literal, cast

from mcp.server.mcpserver import Context, MCPServer
from mcp_types import CallToolResult, ToolAnnotations
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from voicing_mcp.errors import ConfigError, GuardRefusal
from voicing_mcp.guard.campaigns import MAX_RECIPIENTS  # the planner itself on the first call
from voicing_mcp.guard.ledger import Campaign, CampaignConflict, NewCampaign, NewCampaignRow, RowState
from voicing_mcp.guard.tokens import IssuedToken
from voicing_mcp.guard.workflow import (
    MAX_PENDING_BATCH_PAGES,
    AskedVia,
    apply_batch_approval,
    batch_approval,
    batch_mode,
    decline_batch,
    reach_human_for_batch,
    wait_for_batch_decision,
)
from voicing_mcp.messages import campaign_token_refusal, refusal
from voicing_mcp.redact import mask_number, one_line
from voicing_mcp.server.context import ServerContext, server_context
from voicing_mcp.server.render.results import as_tool_result, tool_error

if TYPE_CHECKING:  # the planner and the approval page are imported on the first call, off the cold start
    from voicing_mcp.guard.campaigns import AcceptedRow, CampaignPlan
    from voicing_mcp.server.web.campaign_page import CampaignPages, Choice, PendingCampaign, RowView

logger = logging.getLogger(__name__)

MAX_WAIT_SECONDS = 600
DEFAULT_WAIT_SECONDS = 60
SAMPLE_EXCLUDED = 10
SAMPLE_LINES = 3
TOP_COUNTS = 25
TEXT_CUT = 240
STDIO_NOTE = (
    "Dialling happens in this server's background while it runs: over stdio, dialling continues while this server "
    "runs; it resumes when the client starts the server again."
)

# ----- arguments ---------------------------------------------------------------------------------
AssistantIdArg = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=256),
    Field(description="The assistant that speaks on every call."),
]


class RecipientArg(BaseModel):
    """One row of the list."""

    model_config = ConfigDict(extra="forbid")

    phone_number: str = Field(min_length=1, max_length=64, description="E.164, e.g. +17015550123.")
    input_variables: dict[str, Any] = Field(
        default_factory=dict[str, Any],
        description="This row's values for the prompt's placeholders.",
    )


RecipientsArg = Annotated[
    list[RecipientArg] | None,
    Field(
        min_length=1,
        max_length=MAX_RECIPIENTS,
        description="1-10,000 rows; or recipients_file.",
    ),
]
RecipientsFileArg = Annotated[
    str | None,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=1024),
    Field(
        description="A CSV in VOICING_CAMPAIGNS_DIR (phone_number + one column per variable); other paths are refused."
    ),
]
NameArg = Annotated[
    str | None,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=80),
    Field(description="Shown to the user."),
]
AttemptsArg = Annotated[
    int,
    Field(ge=1, le=3, description="Attempts per number; only busy and no-answer are retried."),
]
RetryArg = Annotated[
    int,
    Field(ge=30, le=10_080, description="Minutes before a retry."),
]
ConcurrentArg = Annotated[int, Field(ge=1, le=10, description="Calls in progress at once.")]
ProviderArg = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=128),
    Field(description='The telephony provider; "default" unless told otherwise.'),
]
WaitArg = Annotated[
    int,
    Field(
        ge=0,
        le=MAX_WAIT_SECONDS,
        description="Seconds to wait for the user's decision (with progress); the campaign waits longer.",
    ),
]


# ----- the result ---------------------------------------------------------------------------------
class ExcludedSample(BaseModel):
    position: int
    phone_number: str
    reason: str
    message: str


class Excluded(BaseModel):
    count: int
    by_reason: dict[str, int]
    sample: list[ExcludedSample]


class OpeningLine(BaseModel):
    position: int
    phone_number: str
    opening_line: str | None


class CampaignPrepared(BaseModel):
    """``prepare_campaign``'s structured result."""

    campaign_id: str
    status: Literal["awaiting_approval", "running", "scheduled", "declined"]
    name: str | None = None
    submitted: int
    accepted: int
    excluded: Excluded
    by_country: dict[str, int]
    by_time_zone: dict[str, int]
    earliest_dial: datetime | None
    estimated_finish: datetime | None
    schedule_note: str | None = None
    manifest_sha256: str
    opening_lines: list[OpeningLine]
    asked_via: AskedVia | None = Field(
        default=None, description="Where the human was asked (browser or url-elicitation); never the page's address."
    )
    confirmation_token: str | None = Field(default=None, description="Token mode only: relay after the user said yes.")
    token_expires_at: datetime | None = None
    warnings: list[str] = Field(default_factory=list[str])
    note: str = STDIO_NOTE
    next: str


# ----- the human's pages ---------------------------------------------------------------------------
def campaign_pages_for(state: ServerContext) -> CampaignPages:
    """The server's campaign approval pages (on its confirm page server), whose decisions the workflow applies."""
    from voicing_mcp.server.web.campaign_page import CampaignPages  # noqa: PLC0415 (off the cold start)
    from voicing_mcp.server.web.confirm_flow import pages_for  # noqa: PLC0415 (off the cold start)
    from voicing_mcp.server.web.dashboard_page import dashboard_pages_for  # noqa: PLC0415 (off the cold start)

    found = state.extras.get("campaign_pages")
    if isinstance(found, CampaignPages):
        return found
    board = CampaignPages(pages_for(state))
    guard = state.guard

    async def decide(pending: PendingCampaign, choice: Choice) -> str:
        if choice == "decline":
            return (await decline_batch(guard, pending.campaign_id)).status
        approval = batch_approval(guard, pending.digest, pending.nonce, pending.ticked, now=guard.clock())
        campaign = await apply_batch_approval(guard, pending.campaign_id, approval)
        wake_dispatcher(state)
        return campaign.status

    board.on_decision = decide
    dashboards = dashboard_pages_for(state)
    board.dashboard_path = lambda pending: dashboards.path(dashboards.open(pending.campaign_id))
    state.extras["campaign_pages"] = board
    return board


def wake_dispatcher(state: ServerContext) -> None:
    """Tell the server's dispatcher that a campaign may have rows to dial now (no-op without one)."""
    dispatcher: Any = getattr(state, "dispatcher", None)
    if dispatcher is not None:
        dispatcher.wake()


async def _ask_on_page(
    ctx: Context[ServerContext, Any], state: ServerContext, fields: dict[str, Any], wait_seconds: int
) -> tuple[str, AskedVia]:
    """Open the approval page, hand it to the human, wait up to ``wait_seconds``: (status, where asked)."""
    from voicing_mcp.server.web.confirm_flow import McpHuman  # noqa: PLC0415 (off the cold start)

    board = campaign_pages_for(state)
    if board.undecided() >= MAX_PENDING_BATCH_PAGES:
        raise refusal("campaign-pages-pending", pages=MAX_PENDING_BATCH_PAGES)
    pending = board.create(**fields)
    try:
        await board.pages.start()
    except (ConfigError, OSError) as exc:
        board.forget(pending)
        raise refusal("page-not-started", error=exc) from None
    human = McpHuman(ctx)
    try:
        via = await reach_human_for_batch(human, board.url(pending), pending)
    finally:
        pending.reached.set()
    if via is None:
        board.forget(pending)
        raise refusal("no-human")
    logger.info("campaign approval asked via %s for %s", via, pending.campaign_id)
    if pending.state == "declined" and pending.outcome is None:  # the human declined the link itself
        pending.outcome = (await decline_batch(state.guard, pending.campaign_id)).status
    if pending.state == "pending" and wait_seconds > 0:
        await wait_for_batch_decision(human, pending, float(wait_seconds), via)
    return (pending.outcome or "awaiting_approval") if pending.state != "pending" else "awaiting_approval", via


def _rules(state: ServerContext, campaign: Campaign | NewCampaign, plan: CampaignPlan | None) -> tuple[str, ...]:
    s = state.settings
    quiet = (
        f"Quiet hours: no call between {s.quiet_hours} in the callee's own time zone; a row inside them waits for "
        "its morning (it is not skipped)."
        if s.quiet_hours is not None
        else "Quiet hours: off (VOICING_QUIET_HOURS=off)."
    )
    concurrent = f"{campaign.max_concurrent} call{'s' if campaign.max_concurrent != 1 else ''}"
    caps = (
        f"At most {concurrent} of this campaign at once, {s.max_calls_per_hour} dials an hour by "
        f"this server, and {s.max_calls_per_number.calls} calls to one number in "
        f"{int(s.max_calls_per_number.window.total_seconds() // 3600)} hours (campaigns and single calls)."
    )
    retries = (
        "No retries: each number is called once."
        if campaign.max_attempts == 1
        else f"Busy and no-answer numbers are retried after {campaign.retry_after_minutes} minutes, up to "
        f"{campaign.max_attempts} attempts; other outcomes are never retried."
    )
    rules = [quiet, caps, retries, "Every row is checked again just before it is dialled (do-not-call, caps, hours)."]
    if plan is not None and plan.schedule.earliest_dial is not None and plan.schedule.estimated_finish is not None:
        rules.append(
            f"Estimate: first call {plan.schedule.earliest_dial:%Y-%m-%d %H:%M} UTC, last about "
            f"{plan.schedule.estimated_finish:%Y-%m-%d %H:%M} UTC."
        )
    return tuple(rules)


def _row_view(row: AcceptedRow) -> RowView:
    from voicing_mcp.server.web.campaign_page import RowView  # noqa: PLC0415 (off the cold start)

    return RowView(row.position, row.phone_number, row.country, row.time_zones, row.opening_line)


# ----- the tool body ----------------------------------------------------------------------------
async def prepare(
    ctx: Context[ServerContext, Any],
    *,
    assistant_id: str,
    recipients: Sequence[RecipientArg] | None,
    recipients_file: str | None,
    name: str | None,
    max_attempts: int,
    retry_after_minutes: int,
    max_concurrent: int,
    telephony_provider: str,
    wait_seconds: int,
) -> CallToolResult:
    from voicing_mcp.guard.campaigns import (  # noqa: PLC0415 (off the cold start)
        LedgerHistory,
        plan_campaign,
        read_recipients_file,
        recipients_from_list,
    )

    state = server_context(ctx)
    guard = state.guard
    try:
        if (recipients is None) == (recipients_file is None):
            raise refusal("campaign-recipients", given="both were given" if recipients else "neither was given")
        mode = batch_mode(guard)
        if mode == "page" and campaign_pages_for(state).undecided() >= MAX_PENDING_BATCH_PAGES:
            raise refusal("campaign-pages-pending", pages=MAX_PENDING_BATCH_PAGES)
        if recipients is not None:
            # the validated rows' fields as given (model_dump would copy each row's variables deeply first)
            rows = recipients_from_list(
                [{"phone_number": r.phone_number, "input_variables": r.input_variables} for r in recipients]
            )
        else:
            assert recipients_file is not None
            rows = read_recipients_file(recipients_file, state.settings.resolved_campaigns_dir)
        plan = await plan_campaign(
            rows,
            guard=guard,
            history=LedgerHistory(guard.ledger),
            assistant_id=assistant_id,
            telephony_provider=telephony_provider,
            max_concurrent=max_concurrent,
        )
        if not plan.accepted:
            raise refusal(
                "campaign-nothing-to-dial",
                submitted=plan.submitted,
                by_reason=", ".join(f"{k}: {v}" for k, v in plan.by_reason.items()),
                sample=_cut(f"row {plan.excluded[0].position}: {plan.excluded[0].message}"),
            )
        new = NewCampaign(
            id="cmp_" + secrets.token_hex(8),
            environment=guard.environment,
            assistant_id=plan.assistant_id,
            telephony_provider=plan.telephony_provider,
            manifest_sha256=plan.manifest_sha256,
            name=name,
            max_attempts=max_attempts,
            retry_after_minutes=retry_after_minutes,
            max_concurrent=max_concurrent,
            settings=_settings_snapshot(state),
        )
        await guard.ledger.create_campaign(new, _ledger_rows(plan))
        logger.info("campaign %s created: %d accepted, %d excluded", new.id, len(plan.accepted), len(plan.excluded))
        result = _result(plan, new)
        if mode == "token":
            issued = guard.signer.issue_campaign(new.id, plan.manifest_sha256, now=guard.clock())
            result.confirmation_token, result.token_expires_at = issued.token, issued.expires_at
            result.next = (
                "SHOW THE USER this summary (counts, exclusions, schedule) and ask them; only if they say yes, call "
                f'control_campaign(campaign_id="{new.id}", action="start", confirmation_token=...). Never start it '
                "on their behalf."
            )
            return _tool_result(result)
        fields = _page_fields(state, new, plan)
        try:
            status, via = await _ask_on_page(ctx, state, fields, wait_seconds)
        except GuardRefusal:
            await guard.ledger.set_campaign_status(new.id, "cancelled", reason="the user could not be asked")
            raise
    except GuardRefusal as exc:
        raise tool_error(exc) from None
    result.status = cast(Any, status)
    result.asked_via = via
    result.next = _next(new.id, status, via)
    return _tool_result(result)


def _page_fields(state: ServerContext, new: NewCampaign, plan: CampaignPlan) -> dict[str, Any]:
    from voicing_mcp.server.web.campaign_page import EXCLUDED_SHOWN, ExcludedView  # noqa: PLC0415 (off the cold start)

    return {
        "campaign_id": new.id,
        "digest": plan.manifest_sha256,
        "name": new.name,
        "assistant_id": plan.assistant_id,
        "rows": tuple(_row_view(r) for r in plan.accepted),
        "excluded": tuple(
            ExcludedView(e.position, e.phone_number, e.reason, e.message) for e in plan.excluded[:EXCLUDED_SHOWN]
        ),
        "excluded_count": len(plan.excluded),
        "by_reason": dict(plan.by_reason),
        "submitted": plan.submitted,
        "rules": _rules(state, new, plan),
        "local_mode": state.guard.local,
    }


def _ledger_rows(plan: CampaignPlan) -> list[NewCampaignRow]:
    rows = [
        # the values keep their JSON types (the manifest hashes them so); the ledger stores them as JSON
        NewCampaignRow(r.position, r.phone_number, cast("Mapping[str, str]", dict(r.input_variables)))
        for r in plan.accepted
    ]
    rows += [
        NewCampaignRow(e.position, one_line(e.phone_number)[:64], exclusion_reason=e.reason) for e in plan.excluded
    ]
    return sorted(rows, key=lambda r: r.position)


def _settings_snapshot(state: ServerContext) -> dict[str, Any]:
    s = state.settings
    return {
        "quiet_hours": str(s.quiet_hours) if s.quiet_hours is not None else "off",
        "max_calls_per_hour": s.max_calls_per_hour,
        "max_calls_per_number": str(s.max_calls_per_number),
        "confirmation": s.resolved_confirmation,
    }


def _cut(text: str, limit: int = TEXT_CUT) -> str:
    text = one_line(text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _top(counts: Mapping[str, int]) -> dict[str, int]:
    items = list(counts.items())
    top = dict(items[:TOP_COUNTS])
    rest = sum(v for _, v in items[TOP_COUNTS:])
    if rest:
        top[f"other ({len(items) - TOP_COUNTS})"] = rest
    return top


def _result(plan: CampaignPlan, new: NewCampaign) -> CampaignPrepared:
    return CampaignPrepared(
        campaign_id=new.id,
        status="awaiting_approval",
        name=new.name,
        submitted=plan.submitted,
        accepted=len(plan.accepted),
        excluded=Excluded(
            count=len(plan.excluded),
            by_reason=_top(plan.by_reason),
            sample=[
                ExcludedSample(
                    position=e.position, phone_number=_cut(e.phone_number, 64), reason=e.reason, message=_cut(e.message)
                )
                for e in plan.excluded[:SAMPLE_EXCLUDED]
            ],
        ),
        by_country=_top(plan.by_country),
        by_time_zone=_top(plan.by_time_zone),
        earliest_dial=plan.schedule.earliest_dial,
        estimated_finish=plan.schedule.estimated_finish,
        schedule_note=plan.schedule.note,
        manifest_sha256=plan.manifest_sha256,
        opening_lines=[
            OpeningLine(
                position=r.position,
                phone_number=r.phone_number,
                opening_line=_cut(r.opening_line) if r.opening_line is not None else None,
            )
            for r in plan.accepted[:SAMPLE_LINES]
        ],
        warnings=[_cut(w) for w in plan.warnings],
        next="",
    )


def _next(campaign_id: str, status: str, via: AskedVia | None) -> str:
    where = "in their browser" if via == "browser" else "through a link your client showed them"
    if status == "declined":
        return "The user declined: nothing will be dialled. Ask them what to change before preparing another list."
    if status in ("running", "scheduled"):
        return f'The user approved it. Follow it with campaign_status(campaign_id="{campaign_id}").'
    return (
        f"The user was asked to review the list {where} and has not decided yet. Tell them; then check "
        f'campaign_status(campaign_id="{campaign_id}") — the campaign starts as soon as they approve.'
    )


def _summary(r: CampaignPrepared) -> str:
    reasons = ", ".join(f"{k}: {v}" for k, v in r.excluded.by_reason.items())
    excluded = f"{r.excluded.count} excluded ({reasons})" if r.excluded.count else "none excluded"
    return (
        f"Campaign {r.campaign_id}: {r.accepted} of {r.submitted} rows can be dialled, {excluded}. Status: "
        f"{r.status}. {r.next} {r.note}"
    )


def _tool_result(result: CampaignPrepared) -> CallToolResult:
    return as_tool_result(result, _summary(result))


# ----- for control_campaign --------------------------------------------------------------------------
async def ask_campaign_approval(ctx: Context[ServerContext, Any], campaign_id: str, wait_seconds: int) -> str:
    """Ask the human again about a campaign that awaits approval, or that was paused because its approval expired
    (it then awaits approval again): the approval page of its remaining queued rows, handed to the human as
    :func:`prepare` does. Returns the status after ``wait_seconds`` (``awaiting_approval``, ``running``,
    ``declined``…). In token mode nothing is opened: :func:`issue_campaign_token` gives a new token.
    Raises GuardRefusal (unknown campaign, another status, no way to reach the human)."""
    state = server_context(ctx)
    guard = state.guard
    campaign = await guard.ledger.get_campaign(campaign_id)
    if campaign is None:
        raise refusal("campaign-unknown", campaign_id=campaign_id)
    expired = campaign.approval_expires_at is not None and campaign.approval_expires_at <= guard.clock()
    if campaign.status == "paused" and expired:
        try:
            campaign = await guard.ledger.set_campaign_status(campaign_id, "awaiting_approval")
        except CampaignConflict:  # it changed meanwhile (cancelled, another replica asked): say what it is now
            campaign = await guard.ledger.get_campaign(campaign_id) or campaign
    if campaign.status != "awaiting_approval":
        raise refusal("campaign-not-awaiting", campaign_id=campaign_id, status=campaign.status)
    if batch_mode(guard) == "token":
        return campaign.status
    existing = campaign_pages_for(state).find(campaign_id)
    if existing is not None:  # its page is still open: do not open a second tab
        return "awaiting_approval"
    status, _ = await _ask_on_page(ctx, state, await _fields_from_ledger(state, campaign), wait_seconds)
    return status


async def _fields_from_ledger(state: ServerContext, campaign: Campaign) -> dict[str, Any]:
    from voicing_mcp.guard.campaigns import parse_number_cached  # noqa: PLC0415 (off the cold start)
    from voicing_mcp.server.web.campaign_page import EXCLUDED_SHOWN, ExcludedView, RowView  # noqa: PLC0415 (off the cold start)

    guard = state.guard
    ledger = guard.ledger
    rows: list[RowView] = []
    offset = 0
    try:
        template = guard.template_of(campaign.assistant_id)  # once for all the rows
        readable = True
    except GuardRefusal:
        template, readable = None, False
    while True:
        page = await ledger.campaign_rows(campaign.id, offset=offset, limit=1000, states=APPROVABLE)
        for row in page:
            number = parse_number_cached(row.phone_e164, default_region=None)
            try:
                line = (
                    guard.check_template_of(template, campaign.assistant_id, row.input_variables, [])
                    if readable
                    else None
                )
            except GuardRefusal:
                line = None  # the template changed since: the row is checked again before it is dialled
            rows.append(RowView(row.position, number.e164, number.country, number.time_zones, line))
        if len(page) < 1000:
            break
        offset += 1000
    excluded = await ledger.campaign_rows(campaign.id, limit=EXCLUDED_SHOWN, states=("excluded",))
    counts = await ledger.campaign_row_counts(campaign.id)
    by_reason: dict[str, int] = {}
    for e in await ledger.campaign_rows(campaign.id, limit=MAX_RECIPIENTS, states=("excluded",)):
        key = e.exclusion_reason or "excluded"
        by_reason[key] = by_reason.get(key, 0) + 1
    return {
        "campaign_id": campaign.id,
        "digest": campaign.manifest_sha256,
        "name": campaign.name,
        "assistant_id": campaign.assistant_id,
        "rows": tuple(rows),
        "excluded": tuple(
            ExcludedView(e.position, mask_number(e.phone_e164), e.exclusion_reason or "excluded", "") for e in excluded
        ),
        "excluded_count": counts.get("excluded", 0),
        "by_reason": by_reason,
        "submitted": sum(counts.values()),
        "rules": _rules(state, campaign, None),
        "local_mode": guard.local,
    }


#: the rows an approval covers: accepted and not yet dialled (after a lapsed approval, also the rows a rule made
#: wait: they are shown again and may be unticked, or they would be dialled on no valid approval)
APPROVABLE: tuple[RowState, ...] = ("queued", "waiting")


def issue_campaign_token(state: ServerContext, campaign: Campaign) -> IssuedToken:
    """Token mode: a token that starts ``campaign`` (its manifest) once, valid 15 minutes."""
    if batch_mode(state.guard) != "token":
        raise refusal("campaign-token-not-accepted")
    return state.guard.signer.issue_campaign(campaign.id, campaign.manifest_sha256, now=state.guard.clock())


async def start_with_token(state: ServerContext, campaign_id: str, token: str) -> None:
    """Token mode: start ``campaign_id`` with every accepted (queued) row, if ``token`` was issued for it and its
    manifest, is unexpired and unspent. Raises GuardRefusal otherwise (nothing changes)."""
    guard = state.guard
    if batch_mode(guard) != "token":
        raise refusal("campaign-token-not-accepted")
    campaign = await guard.ledger.get_campaign(campaign_id)
    if campaign is None:
        raise refusal("campaign-unknown", campaign_id=campaign_id)
    try:
        verified = guard.signer.verify_campaign(token, campaign.id, campaign.manifest_sha256, now=guard.clock())
    except GuardRefusal as exc:
        raise campaign_token_refusal(exc) from None
    if campaign.status != "awaiting_approval":
        raise refusal("campaign-not-awaiting", campaign_id=campaign_id, status=campaign.status)
    positions: list[int] = []
    offset = 0
    while True:
        page = await guard.ledger.campaign_rows(campaign.id, offset=offset, limit=1000, states=APPROVABLE)
        positions += [r.position for r in page]
        if len(page) < 1000:
            break
        offset += 1000
    approval = batch_approval(
        guard, campaign.manifest_sha256, f"campaign-token:{verified.nonce}", positions, now=guard.clock()
    )
    await apply_batch_approval(guard, campaign.id, approval)
    wake_dispatcher(state)


# ----- registration ------------------------------------------------------------------------------
TOOL_DESCRIPTION = """Prepare a calling campaign from `recipients` (1-10,000 rows) or `recipients_file` (a CSV in \
VOICING_CAMPAIGNS_DIR). Every row passes the dial guard now; the result gives accepted rows, exclusions with reasons, \
the schedule under quiet hours and caps, and a manifest_sha256. NOTHING IS DIALLED until the user approves the exact \
list on an approval page this server opens for them (they may untick rows). In token mode the result carries a \
confirmation_token: show the user the summary, and only if they say yes call control_campaign(action="start") with \
it. REAL PHONES RING (except in local mode). Follow it with campaign_status."""


# a module function (no closure): every server registers the same object, its schemas built once a process
async def prepare_campaign(
    assistant_id: AssistantIdArg,
    ctx: Context[ServerContext, Any],
    recipients: RecipientsArg = None,
    recipients_file: RecipientsFileArg = None,
    name: NameArg = None,
    max_attempts: AttemptsArg = 1,
    retry_after_minutes: RetryArg = 120,
    max_concurrent: ConcurrentArg = 2,
    telephony_provider: ProviderArg = "default",
    wait_seconds: WaitArg = DEFAULT_WAIT_SECONDS,
) -> Annotated[CallToolResult, CampaignPrepared]:
    return await prepare(
        ctx,
        assistant_id=assistant_id,
        recipients=recipients,
        recipients_file=recipients_file,
        name=name,
        max_attempts=max_attempts,
        retry_after_minutes=retry_after_minutes,
        max_concurrent=max_concurrent,
        telephony_provider=telephony_provider,
        wait_seconds=wait_seconds,
    )


def register_prepare_campaign(server: MCPServer[ServerContext]) -> None:
    """Add ``prepare_campaign`` to ``server``."""
    server.add_tool(
        prepare_campaign,
        title="Prepare a calling campaign",
        description=TOOL_DESCRIPTION,
        annotations=ToolAnnotations(
            title="Prepare a calling campaign",
            read_only_hint=False,
            destructive_hint=True,
            idempotent_hint=False,
            open_world_hint=True,
        ),
    )
