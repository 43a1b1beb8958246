"""The campaign view's two buttons, as app-only tools: ``app_pause_campaign`` and ``app_cancel_campaign``.

They are ``control_campaign``'s pause and cancel (:func:`~voicing_mcp.server.tools.control_campaign.control`: the
same ledger transitions, the same "takes effect before the next dial"), narrowed to what a button on a view may
do: act on an approved campaign only (running, scheduled or paused). A campaign that awaits the human's approval is
refused — the human declines it on its approval page; a view never approves, starts, resumes or widens one.
Pausing a paused campaign or cancelling a cancelled one changes nothing and says so, as ``control_campaign`` does.

``visibility: ["app"]``: an Apps host offers them to the view, not to the model. A client that did not declare
Apps does not see them listed (:func:`~voicing_mcp.server.apps.extension.plain_client_lists`), and a call from
one is refused with the tool the model should use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, Literal

from mcp.server.apps import client_supports_apps
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError
from mcp_types import CallToolResult, ToolAnnotations

from voicing_mcp.server.context import ServerContext, server_context
from voicing_mcp.server.render.results import as_tool_result
from voicing_mcp.server.tools.campaign_status import CampaignId, find_campaign
from voicing_mcp.server.tools.control_campaign import ControlCampaignResult, control

if TYPE_CHECKING:
    from voicing_mcp.guard.ledger import CampaignStatus

#: the statuses of an approved campaign a view's button may act on
APPROVED: frozenset[CampaignStatus] = frozenset({"running", "scheduled", "paused"})
PAUSE_TOOL = "app_pause_campaign"
CANCEL_TOOL = "app_cancel_campaign"

ViewAction = Literal["pause", "cancel"]
_TARGET: dict[ViewAction, CampaignStatus] = {"pause": "paused", "cancel": "cancelled"}
_TOOL: dict[ViewAction, str] = {"pause": PAUSE_TOOL, "cancel": CANCEL_TOOL}


def not_from_a_view(tool: str) -> str:
    return (
        f"{tool} is a button of the campaign view (MCP Apps) and this client did not declare Apps: use "
        "control_campaign (action 'pause' or 'cancel') instead"
    )


def not_approved(campaign_id: str, status: str, action: ViewAction) -> str:
    if status == "awaiting_approval":
        return (
            f"campaign {campaign_id} awaits the human's approval: the view does not {action} it (nothing has been "
            "dialled; the human approves or declines it on its approval page)"
        )
    return f"campaign {campaign_id} is {status}: the view can {action} only a running, scheduled or paused campaign"


async def act_from_view(ctx: Context[ServerContext, Any], campaign_id: str, action: ViewAction) -> CallToolResult:
    """Pause or cancel ``campaign_id`` for the view: an approved campaign only, through ``control``."""
    if not client_supports_apps(ctx):
        raise ToolError(not_from_a_view(_TOOL[action]))
    campaign = await find_campaign(server_context(ctx).ledger, campaign_id)
    if campaign.status not in APPROVED and campaign.status != _TARGET[action]:
        raise ToolError(not_approved(campaign.id, campaign.status, action))
    result = await control(ctx, campaign.id, action, None)
    return as_tool_result(result, result.summary)


async def app_pause_campaign(
    campaign_id: CampaignId, ctx: Context[ServerContext, Any]
) -> Annotated[CallToolResult, ControlCampaignResult]:
    """The campaign view's Pause button: pause a running or scheduled campaign before its next dial."""
    return await act_from_view(ctx, campaign_id, "pause")


async def app_cancel_campaign(
    campaign_id: CampaignId, ctx: Context[ServerContext, Any]
) -> Annotated[CallToolResult, ControlCampaignResult]:
    """The campaign view's Cancel button: cancel a running, scheduled or paused campaign; its rows not dialled
    yet are never dialled."""
    return await act_from_view(ctx, campaign_id, "cancel")


PAUSE_ANNOTATIONS = ToolAnnotations(
    title="Pause (campaign view)",
    read_only_hint=False,
    destructive_hint=False,
    idempotent_hint=True,
    open_world_hint=False,
)
CANCEL_ANNOTATIONS = ToolAnnotations(
    title="Cancel (campaign view)",
    read_only_hint=False,
    destructive_hint=True,
    idempotent_hint=True,
    open_world_hint=False,
)
