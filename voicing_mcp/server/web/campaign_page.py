"""The campaign approval page: one human decision on an exact list of calls (issue 16), on the confirm page's server.

Each campaign waiting for approval gets a one-time URL ``http://127.0.0.1:<port>/campaign/<id>`` on the same
loopback server as the single-call confirm page (:class:`~voicing_mcp.server.web.confirm_page.ConfirmPages`,
``sub_pages["campaign"]``), with the same rules: an unguessable id, the URL handed to the human only (URL-mode
elicitation or the browser; never a result, resource or log line), ``Host`` must be ``127.0.0.1:<port>``, a POST
must carry the page's CSRF token and an ``Origin`` of the page itself, and the first decision is the only one (a
later or replayed POST changes nothing: 409). A page lives :data:`PAGE_TTL` (a list takes longer to read than one
call); the campaign itself keeps waiting in the ledger and can be asked about again
(:func:`~voicing_mcp.server.tools.prepare_campaign.ask_campaign_approval`).

It shows the totals, the exclusions with their reasons, the schedule rules (quiet hours in the callee's zone, the
caps, the retries, the estimate) and every accepted row, :data:`PAGE_ROWS` a page: the number formatted, its
country, the callee's local time now, the rendered opening line, and a ticked checkbox. It is a plain HTML form:

- checkboxes ``name="row"``, value the row's 1-based position in the submitted list;
- ``name="choice"`` submit buttons: ``start`` (primary: "Place N calls", N the rows ticked on every page when the
  page was drawn; a nonce'd script keeps N current as boxes change) and ``decline`` ("Don't start");
- a hidden ``csrf`` and a hidden ``page`` (the page of rows the form shows).

**Pagination without JavaScript: the ticks live on the server.** Every POST first saves the ticks of the page it
came from (the rows of that page not in the form are unticked, the others ticked; rows of other pages are kept as
saved), then does what its button says: a page button (``name="goto"``, the page number) redirects to that page
(303), which draws its boxes from the saved ticks; ``start`` approves every row ticked on any page; ``decline``
declines. A tick is saved only with a valid CSRF token, Origin and Host, like a decision.

Once approved, the page turns into the campaign's live dashboard (:mod:`voicing_mcp.server.web.dashboard_page`):
the approving POST answers 303 to it (:attr:`CampaignPages.dashboard_path`), and so does a later load of the page.

The decision is applied by the page's POST itself (:attr:`CampaignPages.on_decision`: the workflow binds it to the
manifest's hash and the ticked rows in the ledger) before the page answers, so the campaign starts whether or not
the tool that asked is still waiting; the tool then reads the outcome from the pending page.
"""

from __future__ import annotations

import hmac
import logging
import secrets
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import parse_qs
from zoneinfo import ZoneInfo

import anyio
from starlette.responses import RedirectResponse

from voicing_mcp.errors import GuardRefusal
from voicing_mcp.guard.campaigns import parse_number_cached
from voicing_mcp.redact import one_line
from voicing_mcp.server.web.confirm_page import ConfirmPages, message_page, read_form, render_response

if TYPE_CHECKING:
    from starlette.requests import Request
    from starlette.responses import Response

logger = logging.getLogger(__name__)

PAGE_ROWS = 200
"""Accepted rows shown on one page of the form."""
EXCLUDED_SHOWN = 200
"""Excluded rows listed with their reasons (all of them are counted by reason)."""
PAGE_TTL = timedelta(hours=1)
"""How long an approval page's link works (the campaign keeps waiting after it; ask again for a new link)."""
MAX_FORM_BYTES = 64 * 1024
"""A page's form carries at most PAGE_ROWS positions: this is many times that."""

State = Literal["pending", "approved", "declined"]
Choice = Literal["start", "decline"]


@dataclass(frozen=True, slots=True)
class RowView:
    """An accepted row as the page shows it."""

    position: int
    phone_e164: str
    """Shown formatted internationally (``+1 701-811-2582``), formatted when its page is drawn."""
    country: str
    time_zones: tuple[str, ...]
    opening_line: str | None


@dataclass(frozen=True, slots=True)
class ExcludedView:
    position: int
    number: str
    reason: str
    message: str


@dataclass(slots=True)
class PendingCampaign:
    """One campaign waiting on its approval page for the human's decision."""

    id: str
    csrf: str
    campaign_id: str
    digest: str
    """The campaign's ``manifest_sha256``: what the approval is bound to."""
    name: str | None
    assistant_id: str
    rows: tuple[RowView, ...]
    excluded: tuple[ExcludedView, ...]
    excluded_count: int
    by_reason: Mapping[str, int]
    submitted: int
    rules: tuple[str, ...]
    """The schedule rules and estimate, one sentence each."""
    expires_at: datetime
    local_mode: bool = False
    ticked: set[int] = field(default_factory=set[int])
    state: State = "pending"
    deciding: bool = False
    attempts: int = 0
    """Decisions tried on this page that could not be applied (the next one spends a nonce of its own)."""
    asked_via: str | None = None
    outcome: str | None = None
    """The campaign's status after the decision (``running``, ``scheduled``, ``declined``)."""
    decided: anyio.Event = field(default_factory=anyio.Event)
    reached: anyio.Event = field(default_factory=anyio.Event)

    @property
    def nonce(self) -> str:
        """What the ledger's nonce table spends when this page's decision is applied: one per attempt, since an
        attempt that failed (the ledger unavailable) may have spent its nonce with nothing applied. A second
        decision is still refused: by this page's state, and by the ledger's one-decision check."""
        return f"campaign-page:{self.id}" if not self.attempts else f"campaign-page:{self.id}:{self.attempts}"

    @property
    def pages(self) -> int:
        return max(1, -(-len(self.rows) // PAGE_ROWS))

    def rows_of(self, page: int) -> Sequence[RowView]:
        return self.rows[(page - 1) * PAGE_ROWS : page * PAGE_ROWS]


class CampaignPages:
    """The campaign approval pages of one server, served by its :class:`ConfirmPages` loopback server."""

    def __init__(self, pages: ConfirmPages) -> None:
        self.pages = pages
        #: applies a decision (``start`` with the ticked rows, or ``decline``) in the ledger before the page says
        #: so; returns the campaign's new status; a GuardRefusal's text is shown and nothing changes
        self.on_decision: Callable[[PendingCampaign, Choice], Awaitable[str]] | None = None
        #: the path of the campaign's dashboard on this server: once approved, the approval page turns into it
        #: (a 303 after the decision, and on a later load of the page); None: the page says "Approved" itself
        self.dashboard_path: Callable[[PendingCampaign], str] | None = None
        self._by_id: dict[str, PendingCampaign] = {}
        pages.sub_pages["campaign"] = self.handle

    def url(self, pending: PendingCampaign) -> str:
        """The page's address: for the human only (never a result, resource or log line)."""
        return f"{self.pages.origin}/campaign/{pending.id}"

    def _sweep(self) -> None:
        now = self.pages.clock()
        for key in [k for k, p in self._by_id.items() if p.expires_at <= now]:
            del self._by_id[key]

    def undecided(self) -> int:
        self._sweep()
        return sum(1 for p in self._by_id.values() if p.state == "pending")

    def find(self, campaign_id: str) -> PendingCampaign | None:
        """The live page of this campaign, if one is waiting."""
        self._sweep()
        found = [p for p in self._by_id.values() if p.campaign_id == campaign_id and p.state == "pending"]
        return found[-1] if found else None

    def create(self, **fields: Any) -> PendingCampaign:
        self._sweep()
        rows: tuple[RowView, ...] = fields["rows"]
        pending = PendingCampaign(
            id=secrets.token_urlsafe(32),
            csrf=secrets.token_urlsafe(32),
            expires_at=self.pages.clock() + PAGE_TTL,
            ticked={r.position for r in rows},
            **fields,
        )
        self._by_id[pending.id] = pending
        return pending

    def forget(self, pending: PendingCampaign) -> None:
        self._by_id.pop(pending.id, None)

    # ----- the page ------------------------------------------------------------------------------------
    async def handle(self, request: Request) -> Response:
        post = request.method == "POST"
        body = await read_form(request, MAX_FORM_BYTES) if post else b""
        if not isinstance(body, bytes):
            return body
        refused = self.pages.refuse_foreign(request, post=False)
        if refused is not None:
            return refused
        pending = self._by_id.get(str(request.path_params["id"]))
        if pending is None:
            return message_page(404, "Unknown link", "This approval link is unknown or expired. Nothing was dialled.")
        if self.pages.clock() >= pending.expires_at:
            self.forget(pending)
            return message_page(
                410,
                "Expired",
                "This approval page expired (links live 1 hour). Nothing was dialled; the campaign still waits for "
                "approval — ask the assistant to ask you again.",
            )
        if not post:
            return self._render(pending, _page_number(request.query_params.get("page"), pending.pages))
        refused = self.pages.refuse_foreign(request, post=True)
        if refused is not None:
            return refused
        form = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
        csrf = (form.get("csrf") or [""])[0]
        if not hmac.compare_digest(csrf.encode(), pending.csrf.encode()):
            return message_page(
                403,
                "Refused",
                "That form is not this page's (its check token is missing or wrong). Nothing was changed.",
            )
        if pending.state != "pending" or pending.deciding:
            return _already(pending)
        page = _page_number((form.get("page") or ["1"])[0], pending.pages)
        _save_ticks(pending, page, form.get("row") or [])
        choice = (form.get("choice") or [""])[0]
        if choice not in ("start", "decline"):
            goto = _page_number((form.get("goto") or [str(page)])[0], pending.pages)
            return RedirectResponse(f"/campaign/{pending.id}?page={goto}", status_code=303)
        if choice == "start" and not pending.ticked:
            return message_page(
                400,
                "Nothing ticked",
                "No row is ticked: tick the calls to place, or choose “Don't start”. Nothing was changed.",
            )
        return await self._decide(pending, "start" if choice == "start" else "decline")

    async def _decide(self, pending: PendingCampaign, choice: Choice) -> Response:
        pending.deciding = True  # a second POST while the ledger is written is "already decided"
        try:
            if self.on_decision is not None:
                pending.outcome = await self.on_decision(pending, choice)
        except GuardRefusal as exc:
            pending.attempts += 1
            logger.warning("campaign page: the decision could not be applied (%s)", exc.rule)
            if exc.rule == "ledger":
                return _not_recorded(pending, LEDGER_TROUBLE.get(str(exc.fields.get("cause")), LEDGER_TROUBLE[""]))
            title = "Already decided" if exc.reason == "campaign-decided" else "Not started"
            return message_page(409, title, f"{one_line(str(exc))}. Nothing was changed.")
        except Exception:  # the page's request is a top level: the human gets an answer, never a bare 500
            pending.attempts += 1
            logger.exception("campaign page: the decision could not be recorded")
            return _not_recorded(pending, LEDGER_TROUBLE[""])
        finally:
            pending.deciding = False
        pending.state = "approved" if choice == "start" else "declined"
        pending.decided.set()
        logger.info("campaign page: a campaign was %s by the human", pending.state)
        if pending.state == "approved" and self.dashboard_path is not None:
            return RedirectResponse(f"{self.dashboard_path(pending)}?did=approved", status_code=303)
        if pending.state == "approved":
            n = len(pending.ticked)
            return message_page(
                200,
                "Started",
                f"Approved: {n} call{'s' if n != 1 else ''} will be placed, within the rules shown. You can close this "
                "tab; the assistant can tell you how the campaign goes.",
                "ok",
            )
        return message_page(200, "Not started", "Not started. Nothing will be dialled. You can close this tab.", "no")

    def _render(self, pending: PendingCampaign, page: int) -> Response:
        if pending.state == "approved" and self.dashboard_path is not None:
            return RedirectResponse(self.dashboard_path(pending), status_code=303)
        if pending.state != "pending":
            return _already(pending)
        now = self.pages.clock()
        shown = pending.rows_of(page)
        on_page = {r.position for r in shown}
        return render_response(
            200,
            "campaign.html",
            campaign_name=one_line(pending.name) if pending.name else None,
            assistant_id=one_line(pending.assistant_id),
            local_mode=pending.local_mode,
            submitted=pending.submitted,
            accepted=len(pending.rows),
            excluded_count=pending.excluded_count,
            by_reason=[(one_line(k), v) for k, v in pending.by_reason.items()],
            excluded=[
                (e.position, one_line(e.number), one_line(e.reason), one_line(e.message)) for e in pending.excluded
            ],
            excluded_more=pending.excluded_count - len(pending.excluded),
            rules=[one_line(r) for r in pending.rules],
            rows=[
                (
                    r.position,
                    one_line(international(r.phone_e164)),
                    one_line(r.country),
                    _local_time(r.time_zones, now),
                    one_line(r.opening_line) if r.opening_line is not None else "—",
                    r.position in pending.ticked,
                )
                for r in shown
            ],
            ticked=len(pending.ticked),
            ticked_elsewhere=len(pending.ticked - on_page),
            page=page,
            pages=pending.pages,
            first=(page - 1) * PAGE_ROWS + 1,
            last=(page - 1) * PAGE_ROWS + len(shown),
            csrf=pending.csrf,
            expires_utc=pending.expires_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        )


def _save_ticks(pending: PendingCampaign, page: int, values: list[str]) -> None:
    """The ticks of ``page`` as the form sent them; the other pages' ticks are kept as saved."""
    on_page = {r.position for r in pending.rows_of(page)}
    ticked = {int(v) for v in values if _is_number(v)} & on_page
    pending.ticked = (pending.ticked - on_page) | ticked


def _page_number(value: str | None, pages: int) -> int:
    if value is None or not _is_number(value):
        return 1
    return min(max(int(value), 1), pages)


def _is_number(value: str) -> bool:
    """ASCII digits only: ``str.isdigit`` also takes ``²`` (which ``int`` refuses: a 500) and other scripts' digits."""
    return value.isascii() and value.isdigit() and len(value) <= 6


def international(e164: str) -> str:
    """The number as people read it; the E.164 text if it does not parse (it did when the row was accepted)."""
    try:
        return parse_number_cached(e164, default_region=None).international
    except GuardRefusal:
        return e164


def _local_time(zones: tuple[str, ...], now: datetime) -> str:
    """The callee's local time now (the first zone of the number; ``+n zones`` when it may ring in more)."""
    zone = next(iter(zones), None)
    if zone is None:
        return "—"
    local = now.astimezone(ZoneInfo(zone)).strftime("%a %H:%M")
    more = f", +{len(zones) - 1} zones" if len(zones) > 1 else ""
    return f"{local} ({zone}{more})"


#: why a decision could not be recorded, by the ledger refusal's ``cause`` (its details go to the log, not the page)
LEDGER_TROUBLE = {
    "file-locked": "the server's call ledger is busy (another process holds it locked)",
    "database-locked": "the server's call ledger is busy (its database is locked)",
    "": "the server could not write it to its call ledger",
}


def _not_recorded(pending: PendingCampaign, why: str) -> Response:
    """The decision was not applied for a reason that is not the campaign's: it still waits, the page still works."""
    until = pending.expires_at.astimezone(UTC).strftime("%H:%M UTC")
    return message_page(
        503,
        "Not recorded",
        f"Your decision was not recorded: {why}. Nothing was started or declined: the campaign still waits for your "
        f"decision. Go back and try again in a moment (this page works until {until}).",
    )


def _already(pending: PendingCampaign) -> Response:
    what = "started" if pending.state == "approved" else "declined" if pending.state == "declined" else "being decided"
    return message_page(409, "Already decided", f"This campaign was already {what}. Nothing was changed.")
