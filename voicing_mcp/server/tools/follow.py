"""After a dial: following a started call, and looking up the call an uncertain dial may have placed."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import anyio
from mcp.server.mcpserver import Context

from voicing_mcp.errors import VoicingError
from voicing_mcp.guard.ledger import DialRow
from voicing_mcp.redact import one_line
from voicing_mcp.server.context import ServerContext
from voicing_mcp.server.render.preview import FollowedCall

if TYPE_CHECKING:
    from voicing_mcp.api.client import VoicingClient

logger = logging.getLogger(__name__)

POLL_SECONDS = 1.0
TERMINAL_STATUSES = frozenset({"completed", "busy", "no-answer", "voicemail", "failed", "canceled", "cancelled"})
RECONCILE_PAGES = 3


async def follow_call(
    ctx: Context[ServerContext, Any], client: VoicingClient, call_id: str, wait_seconds: int
) -> FollowedCall:
    """Poll the call until it ends or ``wait_seconds`` pass, reporting progress. Never raises for the call."""
    start = anyio.current_time()
    deadline = start + wait_seconds
    status: str | None = None
    while True:
        elapsed = anyio.current_time() - start
        try:
            details = await client.get_call_details(call_id)
        except VoicingError as exc:
            return FollowedCall(
                status=status,
                ended=False,
                waited_seconds=round(elapsed, 1),
                note=f"stopped following: {exc}. The call was started; check it with get_call_details.",
            )
        status = details.status
        shown = f"call {one_line(call_id)}: {one_line(str(status))}"  # the client shows it: the API's text, one line
        await ctx.report_progress(min(elapsed, wait_seconds), wait_seconds, shown)
        if status is not None and status.lower() in TERMINAL_STATUSES:
            return FollowedCall(
                status=status,
                ended=True,
                duration=details.duration,
                ended_at=details.ended_at,
                waited_seconds=round(elapsed, 1),
            )
        remaining = deadline - anyio.current_time()
        if remaining <= 0:
            return FollowedCall(
                status=status,
                ended=False,
                waited_seconds=round(elapsed, 1),
                note="still going; follow it with get_call_details",
            )
        await anyio.sleep(min(POLL_SECONDS, remaining))


async def current_status(client: VoicingClient, call_id: str) -> str | None:
    try:
        return (await client.get_call_details(call_id)).status
    except VoicingError:
        return None


async def find_uncertain_call(client: VoicingClient, row: DialRow) -> str | None:
    """Look for the call an uncertain dial may have placed: same number and assistant, created after the intent.

    Only a positive match lifts the block; not finding it (or the list lacking the fields) keeps it.
    """
    since = datetime.fromisoformat(row.created_at.replace("Z", "+00:00")) - timedelta(minutes=1)
    try:
        for page in range(1, RECONCILE_PAGES + 1):
            listing = await client.list_calls(page=page, limit=100)
            for call in listing.calls:
                extra = call.extra_fields()
                if extra.get("phone_number") != row.phone_e164 or extra.get("assistant_id") != row.assistant_id:
                    continue
                created = _parse_time(extra.get("created_at") or call.started_at)
                if created is not None and created >= since:
                    return call.call_id
            if not listing.has_next:
                break
    except VoicingError as exc:
        logger.info("could not check the uncertain dial (ledger #%d): %s", row.id, exc)
    return None


def _parse_time(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        t = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return t if t.tzinfo is not None else t.replace(tzinfo=UTC)
