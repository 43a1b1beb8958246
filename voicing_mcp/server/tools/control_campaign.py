"""``control_campaign``: pause, resume, cancel or start a campaign.

* ``pause`` — ``running``/``scheduled`` → ``paused``: the ledger's ``claim_dial`` refuses a dial of a campaign that
  is not running, so no row is dialled after the pause is written, not even one a dispatcher had claimed already.
* ``cancel`` — any campaign not final → ``cancelled``; its queued and waiting rows become ``cancelled`` in the same
  transaction. Calls already in progress are not hung up; their outcomes are still recorded.
* ``resume`` — ``paused`` → ``running`` with no new approval while ``approval_expires_at`` is in the future (24 h from
  the human's decision); after it (and for a campaign that awaits approval) the human is asked again through
  ``prepare_campaign``'s :func:`ask_campaign_approval` (token mode: a new ``confirmation_token`` to relay to
  ``start`` after the user's yes). The dispatcher is woken.
* ``start`` — token mode only: the ``confirmation_token`` ``prepare_campaign`` returned starts the campaign
  (``prepare_campaign``'s :func:`start_with_token`). The dispatcher is woken.
* ``open_dashboard`` — shows the campaign's live dashboard (:mod:`voicing_mcp.server.web.dashboard_page`) to the
  human as the approval page is shown: URL-mode elicitation, else the browser. The result says where
  (``dashboard``), never the address. Nothing changes (``changed: false``).

Pausing a paused campaign, resuming a running one or cancelling a cancelled one changes nothing and says so
(``changed: false``), as does resuming a campaign that awaits approval and still does after the human was asked
again (a new page or token is not a change of the campaign); an action the status does not allow is a tool error
naming the actions it allows.

Pause, cancel and resume while the approval is valid are :mod:`voicing_mcp.guard.campaigns.control`'s, MCP-free and
shared with the dashboard page; this tool adds asking the human again, token mode and the result's shape.
"""

from __future__ import annotations

import inspect
import logging
from typing import TYPE_CHECKING, Annotated, Any, Literal

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp_types import CallToolResult, ToolAnnotations
from pydantic import BaseModel, Field, StringConstraints

from voicing_mcp.errors import ConfigError
from voicing_mcp.guard.campaigns.control import (
    PAUSED_BY_REQUEST,
    ApprovalNeeded,
    Controlled,
    ControlRefused,
    allowed_actions,
    cancel_campaign,
    pause_campaign,
    resume_campaign,
)
from voicing_mcp.guard.workflow import batch_mode
from voicing_mcp.messages import (
    CAMPAIGN_DIALLING_NOTE,
    campaign_action_refused,
    campaign_dashboard_shown,
    campaign_dashboard_unreachable,
    campaign_start_human_mode,
    campaign_start_needs_token,
    campaign_token_misplaced,
)
from voicing_mcp.server.context import ServerContext, server_context
from voicing_mcp.server.render.results import as_tool_result
from voicing_mcp.server.tools.campaign_status import (
    CampaignId,
    campaign_status_result,
    find_campaign,
    when,
)
from voicing_mcp.server.tools.prepare_campaign import (
    ask_campaign_approval,
    issue_campaign_token,
    start_with_token,
    wake_dispatcher,
)

if TYPE_CHECKING:
    from voicing_mcp.guard.ledger import Campaign
    from voicing_mcp.guard.tokens import IssuedToken

__all__ = ["PAUSED_BY_REQUEST", "allowed_actions", "control", "control_campaign", "register_control_campaign"]

logger = logging.getLogger(__name__)

Action = Literal["pause", "resume", "cancel", "start", "open_dashboard"]
#: seconds to wait for the human when resume asks again (0: the workflow's own wait for a click)
RESUME_WAIT_SECONDS = 0


class ControlCampaignResult(BaseModel):
    """Result of ``control_campaign``."""

    campaign_id: str
    action: str
    changed: bool = Field(
        description="true: the campaign's status changed; false: it was already in the state asked for, or (resume) "
        "it still awaits the human's approval."
    )
    previous_status: str
    status: str = Field(description="The campaign's status now.")
    pause_reason: str | None = None
    approval_expires_at: str | None = None
    counts: dict[str, int] = Field(description="Rows in each state, every state named.")
    next_dial_at: str | None = None
    confirmation_token: str | None = Field(
        default=None, description="Token mode, resume after the approval lapsed: relay it (start) after the user's yes."
    )
    token_expires_at: str | None = None
    dashboard: str | None = Field(
        default=None,
        description="open_dashboard: where the live dashboard was shown (browser or url-elicitation); never its "
        "address.",
    )
    resource: str
    dialling: str
    summary: str = Field(description="What the action did, and what happens next.")


def _said(done: Controlled) -> tuple[bool, str]:
    return done.changed, done.said


async def _resume(
    ctx: Context[ServerContext, Any], state: ServerContext, campaign: Campaign
) -> tuple[bool, str, IssuedToken | None]:
    """Resume ``campaign``: (changed, a sentence for the summary, the new token in token mode)."""
    try:
        done = await resume_campaign(state.ledger, campaign, state.guard.clock())
    except ApprovalNeeded as needed:
        why = needed.why
    else:
        if done.changed:
            wake_dispatcher(state)
        return done.changed, done.said, None
    # a paused campaign whose approval lapsed awaits approval again; nothing dials until the human decides
    outcome = await ask_campaign_approval(ctx, campaign.id, RESUME_WAIT_SECONDS)
    # changed: the status moved (paused → awaiting_approval, or the human decided at once); a campaign that
    # awaited approval and still does is as it was, whatever was handed out meanwhile (a page, a token)
    changed = outcome != campaign.status
    if batch_mode(state.guard) == "token":
        issued = issue_campaign_token(state, await find_campaign(state.ledger, campaign.id))
        return (
            changed,
            f"It needs the user's approval again ({why}): show them campaign_status, and only if they say yes call "
            "control_campaign(action='start') with the confirmation_token below.",
            issued,
        )
    wake_dispatcher(state)
    asked = (
        f"The human was asked to approve it again ({why}); it is {outcome} now. Nothing dials until they approve."
        if outcome == "awaiting_approval"
        else f"The human was asked to approve it again ({why}): it is {outcome} now."
    )
    return changed, asked, None


async def _open_dashboard(
    ctx: Context[ServerContext, Any], state: ServerContext, campaign: Campaign
) -> tuple[str, str]:
    """Show the campaign's dashboard to the human as its approval page was (URL-mode elicitation, else the browser):
    (a sentence for the summary, where it was shown). Its address stays out of the result and the log."""
    from voicing_mcp.server.web.confirm_flow import McpHuman  # noqa: PLC0415 (off the cold start)
    from voicing_mcp.server.web.dashboard_page import dashboard_pages_for  # noqa: PLC0415 (off the cold start)

    dashboards = dashboard_pages_for(state)
    try:
        await dashboards.pages.start()
    except (ConfigError, OSError) as exc:
        raise ToolError(campaign_dashboard_unreachable(campaign.id, exc)) from None
    url = dashboards.url(dashboards.open(campaign.id))
    human = McpHuman(ctx)
    name = f" {campaign.name!r}" if campaign.name else ""
    opened = await human.open_url(url, f"Watch the campaign{name} live, and pause or cancel it, on its dashboard.")
    if opened is not None:
        via, accepted = "url-elicitation", opened
    elif await human.open_browser(url):
        via, accepted = "browser", True
    else:
        raise ToolError(campaign_dashboard_unreachable(campaign.id))
    logger.info("campaign dashboard shown via %s for %s", via, campaign.id)
    return campaign_dashboard_shown(via, accepted), via


async def control(
    ctx: Context[ServerContext, Any], campaign_id: str, action: Action, confirmation_token: str | None
) -> ControlCampaignResult:
    """``control_campaign`` without the result's shaping."""
    state = server_context(ctx)
    if confirmation_token is not None and action != "start":
        raise ToolError(campaign_token_misplaced(action))
    campaign = await find_campaign(state.ledger, campaign_id)
    before = campaign.status
    changed = True
    issued: IssuedToken | None = None
    shown_via: str | None = None
    try:
        match action:
            case "open_dashboard":
                changed = False
                said, shown_via = await _open_dashboard(ctx, state, campaign)
            case "pause":
                changed, said = _said(await pause_campaign(state.ledger, campaign))
            case "cancel":
                changed, said = _said(await cancel_campaign(state.ledger, campaign))
            case "resume":
                changed, said, issued = await _resume(ctx, state, campaign)
            case "start":
                if batch_mode(state.guard) != "token":
                    raise ToolError(campaign_start_human_mode())
                if not confirmation_token:
                    raise ToolError(campaign_start_needs_token())
                if before != "awaiting_approval":
                    raise ToolError(campaign_action_refused(campaign.id, before, action, allowed_actions(campaign)))
                await start_with_token(state, campaign.id, confirmation_token)  # wakes the dispatcher
                said = "Started with the token."
    except ControlRefused as refused:
        raise ToolError(str(refused)) from None
    after = await find_campaign(state.ledger, campaign.id)
    status = await campaign_status_result(state.ledger, after, state.guard.clock())
    return ControlCampaignResult(
        campaign_id=after.id,
        action=action,
        changed=changed,
        previous_status=before,
        status=after.status,
        pause_reason=after.pause_reason,
        approval_expires_at=status.approval_expires_at,
        counts=status.counts,
        next_dial_at=status.next_dial_at,
        confirmation_token=issued.token if issued is not None else None,
        token_expires_at=when(issued.expires_at) if issued is not None else None,
        dashboard=shown_via,
        resource=status.resource,
        dialling=CAMPAIGN_DIALLING_NOTE,
        summary=f"{said} {status.summary}",
    )


async def control_campaign(
    campaign_id: CampaignId,
    action: Annotated[
        Action,
        Field(
            description="pause, cancel, resume (asks the human again once the approval lapsed); start: token mode, "
            "with confirmation_token; open_dashboard: shows the campaign's live dashboard to the user (browser or "
            "their client; its address is never returned)."
        ),
    ],
    ctx: Context[ServerContext, Any],
    confirmation_token: Annotated[
        str | None,
        StringConstraints(strip_whitespace=True, min_length=1, max_length=4_096),
        Field(description="Token mode, action start only: the token prepare_campaign returned."),
    ] = None,
) -> Annotated[CallToolResult, ControlCampaignResult]:
    """Pause, resume or cancel a campaign; pause and cancel take effect before the next dial. Resume needs no new
    approval within 24 hours of the human's; after that it asks the human again. Returns the new status."""
    result = await control(ctx, campaign_id, action, confirmation_token)
    return as_tool_result(result, result.summary)


def register_control_campaign(server: MCPServer[ServerContext]) -> None:
    """Add ``control_campaign`` to ``server``."""
    title = "Control a campaign"
    server.add_tool(
        control_campaign,
        title=title,
        description=inspect.cleandoc(control_campaign.__doc__ or ""),
        annotations=ToolAnnotations(
            title=title, read_only_hint=False, destructive_hint=True, idempotent_hint=False, open_world_hint=True
        ),
    )
