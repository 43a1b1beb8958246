"""The live dashboard of one campaign (issue 17), on the confirm page's loopback server.

Each campaign gets one address ``http://127.0.0.1:<port>/dashboard/<id>`` (``sub_pages["dashboard"]`` of the
server's :class:`~voicing_mcp.server.web.confirm_page.ConfirmPages`), ``<id>`` an unguessable token: the address
is a capability. It reaches the human only — the approval page redirects to it once the human approved, and
``control_campaign(action="open_dashboard")`` hands it over by URL-mode elicitation or the browser — and is never
put in a tool result, a resource or a log line. It lives as long as the server (at most :data:`MAX_DASHBOARDS`,
the least recently used forgotten first: a tab that polls keeps its page).

What it shows is ``campaign_status``'s result (:func:`~voicing_mcp.server.tools.campaign_status.
campaign_status_result`): the progress (``done`` of ``total``), the counts by row state, next dial, why it paused,
until when the approval holds; plus the rows, :data:`PAGE_ROWS` a page (number, state, attempts, next dial time,
call id, outcome), and the outcomes over time as a small inline SVG chart (the rows in an outcome state, by the time
they reached it: its totals are the counts). Rendered by the package's Jinja2 templates (``dashboard.html`` with the
macros of ``dashboard_parts.html``; what they show is built by :mod:`.dashboard_view`), autoescaped, no external
request.

It updates itself without a reload: a small nonce'd script polls ``?format=json`` of the same address every
:data:`POLL_MS` ms and swaps in the parts the server rendered with the same macros (one renderer); without
JavaScript a reload shows the same content. The JSON also carries the status as ``campaign_status`` returns it.

Its buttons are a plain HTML form (``name="action"``: ``pause``, ``resume``, ``cancel``) with the confirm page's
rules: ``Host`` must be ``127.0.0.1:<port>``, a POST needs an ``Origin`` of the page itself and the page's CSRF
token. They move the campaign along the same ledger transitions as ``control_campaign``
(:mod:`voicing_mcp.guard.campaigns.control`), so a pause or a cancel takes effect before the next dial. "Resume" is
offered only while the human's approval is valid; after it lapsed the page says that only a new approval (asked by
the assistant) can resume it, and resumes nothing. Nothing on the page can approve, start or widen a campaign.
"""

from __future__ import annotations

import hmac
import logging
import secrets
import time
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Final, Literal
from urllib.parse import parse_qs

import anyio
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse

from voicing_mcp.errors import GuardRefusal
from voicing_mcp.guard.campaigns.control import (
    ApprovalNeeded,
    Controlled,
    ControlRefused,
    approval_valid,
    can_resume_now,
    cancel_campaign,
    pause_campaign,
    resume_campaign,
)
from voicing_mcp.guard.ledger.campaigns import ACTIVE_STATES, FINAL_STATUSES, ROW_STATES, TRANSITIONS
from voicing_mcp.pages import environment, render_page, security_headers
from voicing_mcp.redact import one_line
from voicing_mcp.server.tools.campaign_status import CampaignStatusResult, campaign_status_result
from voicing_mcp.server.web.confirm_flow import pages_for
from voicing_mcp.server.web.confirm_page import message_page, read_form
from voicing_mcp.server.web.dashboard_view import (
    CHART_H,
    CHART_W,
    GROUPS,
    OUTCOMES,
    STATE_LABELS,
    STATUS_LABELS,
    Chart,
    format_time,
    next_dial,
    outcome_chart,
    row_view,
    what_now,
)

if TYPE_CHECKING:
    from collections.abc import Callable

    from starlette.requests import Request
    from starlette.responses import Response

    from voicing_mcp.guard.ledger import Campaign, DialLedger
    from voicing_mcp.server.context import ServerContext
    from voicing_mcp.server.web.confirm_page import ConfirmPages

logger = logging.getLogger(__name__)

PAGE_ROWS: Final = 50
"""Rows shown on one page of the dashboard's table."""
POLL_MS: Final = 1500
"""How often the page asks for fresh numbers (at least every 2 s, as the issue asks)."""
MAX_DASHBOARDS: Final = 200
"""Dashboard addresses kept at once (one per campaign); the least recently used (opened, shown or polled) is
forgotten first, so opening others never takes away a page a human is watching."""
MAX_FORM_BYTES: Final = 4096
STATUS_MAX_AGE: Final = 10.0
"""Seconds a campaign's ``campaign_status`` result is reused while its record and counts are unchanged (it reads
every row: 0.3 s of CPU at 10,000 rows; the counts alone are one cheap query)."""
STATUS_MIN_AGE: Final = 1.0
"""Seconds a campaign's ``campaign_status`` result is reused even though its counts changed (its record unchanged):
however many tabs poll a running campaign, its rows are read at most once a second, one read at a time."""
#: pause_reason written when the human pauses on the dashboard
PAUSED_ON_DASHBOARD: Final = "paused on the dashboard"

Action = Literal["pause", "resume", "cancel"]
ACTIONS: Final[tuple[Action, ...]] = ("pause", "resume", "cancel")

#: what the page says after an action (``?did=``): fixed texts only, never a value from the request
DID: Final[dict[str, str]] = {
    "paused": "Paused: no row is dialled from now on (a call already ringing goes on).",
    "resumed": "Resumed: dialling continues within the rules you approved.",
    "cancelled": "Cancelled: its queued and waiting rows will never be dialled.",
    "unchanged": "Nothing changed: the campaign was already in that state.",
}
#: the statuses a ``?did=`` sentence is still true of: the address keeps it, and a reload after the campaign moved on
#: must not say "paused" of a campaign that dials again, or "will be placed" of a cancelled one
DID_WHILE: Final[dict[str, frozenset[str]]] = {
    "approved": frozenset({"running", "scheduled"}),
    "paused": frozenset({"paused"}),
    "resumed": frozenset({"running", "scheduled"}),
    "cancelled": frozenset({"cancelled"}),
}


@dataclass(slots=True)
class Dashboard:
    """The dashboard address of one campaign."""

    id: str
    csrf: str
    campaign_id: str
    opened_at: datetime


class DashboardPages:
    """The campaign dashboards of one server, served by its :class:`ConfirmPages` loopback server."""

    def __init__(
        self,
        pages: ConfirmPages,
        ledger: DialLedger,
        *,
        local_mode: bool,
        wake: Callable[[], None] | None = None,
    ) -> None:
        self.pages = pages
        self.ledger = ledger
        self.local_mode = local_mode
        #: tells the server's dispatcher a resumed campaign has rows to dial (no-op without one)
        self.wake = wake
        self._by_id: dict[str, Dashboard] = {}
        self._by_campaign: dict[str, Dashboard] = {}
        self._charts: dict[str, tuple[tuple[int, ...], Chart]] = {}
        self._statuses: dict[str, tuple[tuple[Any, ...], float, CampaignStatusResult]] = {}
        self._reading: dict[str, anyio.Lock] = {}
        pages.sub_pages["dashboard"] = self.handle

    # ----- the addresses --------------------------------------------------------------------------
    def open(self, campaign_id: str) -> Dashboard:
        """The dashboard of ``campaign_id`` (created on first need; the same address afterwards)."""
        found = self._by_campaign.get(campaign_id)
        if found is not None:
            self._used(found)
            return found
        while len(self._by_id) >= MAX_DASHBOARDS:  # in order of last use: the first is the least recently used
            self._forget(next(iter(self._by_id.values())))
        board = Dashboard(
            id=secrets.token_urlsafe(32),
            csrf=secrets.token_urlsafe(32),
            campaign_id=campaign_id,
            opened_at=self.pages.clock(),
        )
        self._by_id[board.id] = board
        self._by_campaign[campaign_id] = board
        return board

    def _used(self, board: Dashboard) -> None:
        """``board`` is the most recently used now (``_by_id`` is kept in order of last use)."""
        self._by_id[board.id] = self._by_id.pop(board.id)

    def _forget(self, board: Dashboard) -> None:
        self._by_id.pop(board.id, None)
        self._by_campaign.pop(board.campaign_id, None)
        self._charts.pop(board.campaign_id, None)
        self._statuses.pop(board.campaign_id, None)
        self._reading.pop(board.campaign_id, None)

    def path(self, board: Dashboard) -> str:
        """The page's path on this server (for a redirect of this server's own pages)."""
        return f"/dashboard/{board.id}"

    def url(self, board: Dashboard) -> str:
        """The page's address: for the human only (never a result, resource or log line)."""
        return f"{self.pages.origin}{self.path(board)}"

    # ----- the page ---------------------------------------------------------------------------------
    async def handle(self, request: Request) -> Response:
        post = request.method == "POST"
        body = await read_form(request, MAX_FORM_BYTES) if post else b""
        if not isinstance(body, bytes):
            return body
        refused = self.pages.refuse_foreign(request, post=post)
        if refused is not None:
            return refused
        board = self._by_id.get(str(request.path_params["id"]))
        if board is None:
            return message_page(
                404,
                "Unknown link",
                "This dashboard link is unknown (a link lasts while the server runs): ask the assistant to open "
                "the campaign's dashboard again. Nothing was changed.",
            )
        self._used(board)  # its tab polls it: forgotten last
        try:
            campaign = await self.ledger.get_campaign(board.campaign_id)
            if campaign is None:
                self._forget(board)
                return message_page(404, "Unknown campaign", "This campaign is not in the ledger any more.")
            if post:
                return await self._act(board, campaign, body)
            query = request.query_params
            page = _page_number(query.get("page"))
            if query.get("format") == "json":
                return await self._json(board, campaign, page)
            return await self._render(board, campaign, page, query.get("did"))
        except GuardRefusal as exc:  # the ledger cannot be read or written: its text names it (passwords masked)
            logger.warning("dashboard: the ledger failed (%s)", exc.rule)
            return message_page(503, "Ledger unavailable", f"{one_line(str(exc))}. Reload to try again.")

    async def _act(self, board: Dashboard, campaign: Campaign, body: bytes) -> Response:
        form = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
        csrf = (form.get("csrf") or [""])[0]
        if not hmac.compare_digest(csrf.encode(), board.csrf.encode()):
            return message_page(
                403,
                "Refused",
                "That form is not this page's (its check token is missing or wrong). Nothing was changed.",
            )
        action = (form.get("action") or [""])[0]
        page = _page_number((form.get("page") or ["1"])[0])
        if action not in ACTIONS:
            return message_page(400, "Refused", "Choose Pause, Resume or Cancel. Nothing was changed.")
        now = self.pages.clock()
        try:
            match action:
                case "pause":
                    done = await pause_campaign(self.ledger, campaign, reason=PAUSED_ON_DASHBOARD)
                case "cancel":
                    done = await cancel_campaign(self.ledger, campaign)
                case _:
                    done = await resume_campaign(self.ledger, campaign, now)
        except ControlRefused as refused:
            status = STATUS_LABELS.get(refused.campaign.status, refused.campaign.status).lower()
            return message_page(
                409,
                "Not possible",
                f"This campaign is {status}: it cannot be {_past(action)} now. Nothing was changed.",
            )
        except ApprovalNeeded as needed:
            return message_page(
                409,
                "Not resumed",
                f"This campaign cannot be resumed from this page: {one_line(needed.why)}. Only a new approval of its "
                "list can resume it: ask the assistant to resume it, and you will be asked to approve it again. "
                "Nothing was changed.",
            )
        if action == "resume" and done.changed and self.wake is not None:
            self.wake()
        logger.info("dashboard: campaign %s %s by the human on its page", campaign.id, _did(action, done))
        return RedirectResponse(f"{self.path(board)}?did={_did(action, done)}&page={page}", status_code=303)

    async def _render(self, board: Dashboard, campaign: Campaign, page: int, did: str | None) -> Response:
        view = await self._view(board, campaign, page)
        if did in DID_WHILE and campaign.status not in DID_WHILE[did]:
            did = None  # the address kept it; the campaign moved on since
        flash = DID.get(did or "")
        if did == "approved":
            n = sum(v for state, v in view["status"].counts.items() if state not in ("excluded", "removed"))
            flash = (
                f"Approved: {n:,} call{'s' if n != 1 else ''} will be placed, within the rules shown on the approval "
                "page. This page follows them as they happen."
            )
        html, nonce = render_page("dashboard.html", flash=flash, v=view)
        return HTMLResponse(html, headers=_headers(nonce))

    async def _json(self, board: Dashboard, campaign: Campaign, page: int) -> Response:
        view = await self._view(board, campaign, page)
        status: CampaignStatusResult = view["status"]
        parts = environment().get_template("dashboard_parts.html").module
        html = {name: str(getattr(parts, name)(view)) for name in ("summary", "counts", "chart", "rows")}
        payload = {
            "campaign": status.model_dump(mode="json"),
            "page": view["page"],
            "pages": view["pages"],
            "controls": view["controls"],
            "live": view["live"],
            "html": html,
        }
        return JSONResponse(payload, headers=_headers(None))

    # ----- what the page shows --------------------------------------------------------------------
    async def _view(self, board: Dashboard, campaign: Campaign, page: int) -> dict[str, Any]:
        now = self.pages.clock()
        # one read of the whole campaign at a time: tabs polling together share it
        async with self._reading.setdefault(campaign.id, anyio.Lock()):
            status = await self._status(campaign, now)
            chart = await self._chart(campaign, status)
        pages = max(1, -(-status.total // PAGE_ROWS))
        page = min(page, pages)
        rows = await self.ledger.campaign_rows(campaign.id, offset=(page - 1) * PAGE_ROWS, limit=PAGE_ROWS)
        counts = status.counts
        live = campaign.status not in FINAL_STATUSES or any(counts.get(s, 0) for s in ACTIVE_STATES)
        pct = 100 if status.done >= status.total else status.done * 100 // max(status.total, 1)
        expires = campaign.approval_expires_at
        lapsed = campaign.status == "paused" and not approval_valid(campaign, now)
        return {
            "status": status,
            "title": one_line(campaign.name) if campaign.name else f"Campaign {campaign.id}",
            "campaign_id": campaign.id,
            "local_mode": self.local_mode,
            "state": campaign.status,
            "state_label": STATUS_LABELS.get(campaign.status, campaign.status),
            "what_now": what_now(campaign, status, now),
            "pause_reason": one_line(campaign.pause_reason) if campaign.pause_reason else None,
            "lapsed": f"The approval lapsed at {format_time(expires, now)}" if lapsed and expires is not None else None,
            "done": status.done,
            "total": status.total,
            "pct": pct,
            "next_dial": next_dial(status, now),
            "approval_until": format_time(expires, now) if expires is not None else None,
            "groups": [(name, [(s, STATE_LABELS[s], counts.get(s, 0)) for s in states]) for name, states in GROUPS],
            "chart": chart,
            "chart_w": CHART_W,
            "chart_h": CHART_H,
            "rows": [row_view(r, campaign, now) for r in rows],
            "page": page,
            "pages": pages,
            "first": (page - 1) * PAGE_ROWS + 1,
            "last": (page - 1) * PAGE_ROWS + len(rows),
            "controls": {
                "pause": "paused" in TRANSITIONS[campaign.status],
                "resume": can_resume_now(campaign, now),
                "cancel": "cancelled" in TRANSITIONS[campaign.status],
            },
            "live": live,
            "csrf": board.csrf,
            "poll_ms": POLL_MS,
        }

    async def _status(self, campaign: Campaign, now: datetime) -> CampaignStatusResult:
        """``campaign_status``'s result, read again when the campaign's record changed, when its counts changed
        and the last read is :data:`STATUS_MIN_AGE` seconds old, or after :data:`STATUS_MAX_AGE` seconds (what
        depends on the time alone: the next dial)."""
        counts = await self.ledger.campaign_row_counts(campaign.id)
        record = (campaign.status, campaign.updated_at, campaign.pause_reason, campaign.approval_expires_at)
        key = (record, tuple(counts.get(s, 0) for s in ROW_STATES))
        cached = self._statuses.get(campaign.id)
        if cached is not None:
            age = time.monotonic() - cached[1]
            if (cached[0] == key and age < STATUS_MAX_AGE) or (cached[0][0] == record and age < STATUS_MIN_AGE):
                return cached[2]
        status = await campaign_status_result(self.ledger, campaign, now)
        self._statuses[campaign.id] = (key, time.monotonic(), status)
        return status

    async def _chart(self, campaign: Campaign, status: CampaignStatusResult) -> Chart:
        """The chart of ``campaign``'s outcomes, read again only when its counts changed."""
        key = tuple(status.counts.get(s, 0) for s in ROW_STATES)
        cached = self._charts.get(campaign.id)
        if cached is not None and cached[0] == key:
            return cached[1]
        n = sum(status.counts.get(s, 0) for s in OUTCOMES)
        rows = await self.ledger.campaign_rows(campaign.id, limit=max(n, 1), states=OUTCOMES) if n else []
        chart = outcome_chart(rows, campaign.approved_at)
        self._charts[campaign.id] = (key, chart)
        return chart


def _did(action: str, done: Controlled) -> str:
    if not done.changed:
        return "unchanged"
    return {"pause": "paused", "resume": "resumed", "cancel": "cancelled"}[action]


def _past(action: str) -> str:
    return {"pause": "paused", "resume": "resumed", "cancel": "cancelled"}.get(action, action)


def _page_number(value: str | None) -> int:
    """A page number from the request (1 when it is not ASCII digits; the view clamps it to the last page)."""
    if value is None or not (value.isascii() and value.isdigit()) or len(value) > 6:
        return 1
    return max(int(value), 1)


def _headers(nonce: str | None) -> dict[str, str]:
    """The pages' security headers; the page's own script may fetch its own JSON (``connect-src 'self'``)."""
    headers = security_headers(nonce or secrets.token_urlsafe(16))
    headers["Content-Security-Policy"] += "; connect-src 'self'"
    return headers


# ----- the server's dashboards ------------------------------------------------------------------------
def dashboard_pages_for(state: ServerContext) -> DashboardPages:
    """The server's campaign dashboards (on its confirm page server), created on first need."""
    found = state.extras.get("dashboard_pages")
    if isinstance(found, DashboardPages):
        return found

    def wake() -> None:
        dispatcher = state.dispatcher
        if dispatcher is not None:
            dispatcher.wake()

    board = DashboardPages(pages_for(state), state.ledger, local_mode=state.guard.local, wake=wake)
    state.extras["dashboard_pages"] = board
    return board
