"""The loopback confirm page: a confirmation only a human can give (human mode, no form elicitation).

Each pending dial gets a one-time URL ``http://127.0.0.1:<port>/confirm/<id>`` with an unguessable id
(``secrets.token_urlsafe``), expiring with the request (5 minutes). The URL goes to the human only:
by URL-mode elicitation (the client shows it to the user, not to the model) or by opening the user's
browser (Python's ``webbrowser``, which honours ``$BROWSER``). It is never put in a tool result, a
resource or a log line, so a model with a shell or fetch tool cannot find it and click it.

The page is rendered from the package's Jinja2 templates (:mod:`voicing_mcp.pages`: ``confirm.html`` on the
shared ``base.html``, autoescaped; jinja2 imported on the first page rendered). It shows the preview
(:func:`~voicing_mcp.server.render.preview.preview_rows`), with control and format characters made visible: the number
formatted the same way everywhere on the page (a warning that masked it, as a log line would, shows it as the table
does), the assistant's human name (``{# name: … #}``, :attr:`ConfirmPages.assistant_name`) beside its id, the expiry
in the serving machine's local time and in UTC (a nonce'd inline script shows it in the browser's zone), and two
buttons: "Call now" (primary) and "Don't call" (secondary). A POST decides once: it must carry the page's CSRF
token, an ``Origin`` of the page itself and a ``Host`` of ``127.0.0.1:<port>`` (a foreign Origin or Host — DNS
rebinding, another site — is refused). The first POST decides; later ones change nothing. After expiry the page
is gone (410).

An approval is bound to the exact normalised request (the digest of
:func:`~voicing_mcp.guard.tokens.canonical_request`) and spent once through the ledger's nonce table
by the tool that dials. It is also stored in the ledger (:attr:`ConfirmPages.on_approved`) before the page says
"Approved", so a replica on the same ledger that gets the model's next call completes the dial (spending the
same nonce: one click, one call, whichever replica dials). The server runs inside the MCP server's event loop
(uvicorn, no signal handlers, no access log), started on first need and stopped with the server.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import os
import secrets
import socket
import sys
from collections.abc import Awaitable, Callable, Generator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import parse_qs

import anyio
import uvicorn
from starlette.applications import Starlette
from starlette.responses import HTMLResponse
from starlette.routing import Route

from voicing_mcp.errors import ConfigError
from voicing_mcp.guard.request import request_digest
from voicing_mcp.guard.tokens import TOKEN_TTL
from voicing_mcp.pages import render_page, security_headers
from voicing_mcp.redact import mask_number, one_line
from voicing_mcp.server.render.preview import preview_rows

if TYPE_CHECKING:
    from starlette.requests import Request
    from starlette.responses import Response

    from voicing_mcp.api.models import OutboundCallRequest
    from voicing_mcp.guard.policy import Preview

logger = logging.getLogger(__name__)

State = Literal["pending", "approved", "declined"]
MAX_FORM_BYTES = 4096
BROWSER_OPEN_SECONDS = 10.0
STARTUP_SECONDS = 10.0
#: an identical request within this long after an approval was taken is refused instead of opening a new page
SPENT_GRACE = timedelta(seconds=30)

#: the program run to open the browser: the URL comes on stdin (never argv of our own process, never a log)
_OPENER = (
    "import sys, webbrowser\n"
    "url = sys.stdin.readline().strip()\n"
    "try:\n"
    "    ok = webbrowser.open(url, new=2)\n"
    "except Exception:\n"
    "    ok = False\n"
    "sys.exit(0 if ok else 3)\n"
)


@dataclass(slots=True)
class PendingDial:
    """One dial waiting for the human's click."""

    id: str
    csrf: str
    digest: str
    preview: Preview
    warnings: list[str]
    expires_at: datetime
    state: State = "pending"
    assistant_name: str | None = None
    """The assistant's human name (the ``{# name: … #}`` line of its template), shown beside its id."""
    asked_via: str | None = None
    """How the URL reached the human (``browser``, ``url-elicitation``); None while it is being sent, or if
    it could not be."""
    closed: bool = False
    """Done with by the tool (approval spent, or the decline reported); the page still says "already decided"."""
    closed_at: datetime | None = None
    decided: anyio.Event = field(default_factory=anyio.Event)
    reached: anyio.Event = field(default_factory=anyio.Event)
    """Set once the URL was handed to the human (or could not be)."""

    @property
    def nonce(self) -> str:
        """What the ledger's nonce table spends when this approval dials."""
        return f"page:{self.id}"


class ConfirmPages:
    """The pending confirmations of one server and the loopback page that decides them."""

    def __init__(
        self,
        *,
        port: int | None,
        clock: Callable[[], datetime],
        host: str = "127.0.0.1",
        assistant_name: Callable[[str], str | None] | None = None,
    ) -> None:
        self.host = host
        #: the human name of an assistant id (e.g. ``lambda i: display_name_of(store, i)``); None: ids only
        self.assistant_name = assistant_name
        self.wanted_port = port or 0
        self.clock = clock
        #: called once a human approves (the ledger stores the approval: any replica can then complete the dial)
        self.on_approved: Callable[[PendingDial], Awaitable[None]] | None = None
        self.port: int | None = None
        self._by_id: dict[str, PendingDial] = {}
        self._server: Any = None
        self._task: asyncio.Task[None] | None = None
        self._sock: Any = None
        self._lock = anyio.Lock()
        #: other page kinds served by this same loopback server, by the first path segment (``/campaign/{id}``:
        #: :mod:`voicing_mcp.server.web.campaign_page`); each handler applies :meth:`refuse_foreign` itself
        self.sub_pages: dict[str, Callable[[Request], Awaitable[Response]]] = {}

    def refuse_foreign(self, request: Request, *, post: bool) -> Response | None:
        """The Host rule for any page of this server (and the Origin rule for a POST): the refusal, or None."""
        if request.headers.get("host") != f"{self.host}:{self.port}":
            return _page(421, "Wrong address", f"This page answers only at {self.origin}. Nothing was changed.")
        if post and request.headers.get("origin") != self.origin:
            return _page(403, "Refused", "That request came from another site. Nothing was changed.")
        return None

    # ----- the pending dials ---------------------------------------------------------------------
    @property
    def origin(self) -> str:
        assert self.port is not None, "the confirm page is not running"
        return f"http://{self.host}:{self.port}"

    def url(self, pending: PendingDial) -> str:
        """The page's address: for the human only (never a result, resource or log line)."""
        return f"{self.origin}/confirm/{pending.id}"

    def _sweep(self) -> None:
        now = self.clock()
        for key in [k for k, p in self._by_id.items() if p.expires_at <= now]:
            del self._by_id[key]

    def find(self, digest: str) -> PendingDial | None:
        """The live (unexpired) confirmation for this exact request, newest first."""
        self._sweep()
        found = [p for p in self._by_id.values() if p.digest == digest and not p.closed]
        return found[-1] if found else None

    def just_spent(self, digest: str) -> PendingDial | None:
        """An approval of this exact request that a request took within the last :data:`SPENT_GRACE`: an
        identical request racing it must not ask the human again about the call that is being placed."""
        self._sweep()
        since = self.clock() - SPENT_GRACE
        found = [
            p
            for p in self._by_id.values()
            if p.digest == digest and p.closed and p.state == "approved" and p.closed_at and p.closed_at >= since
        ]
        return found[-1] if found else None

    def undecided(self) -> int:
        """Live confirmations still waiting for the human."""
        self._sweep()
        return sum(1 for p in self._by_id.values() if p.state == "pending" and not p.closed)

    def create(self, req: OutboundCallRequest, preview: Preview, warnings: list[str]) -> PendingDial:
        self._sweep()
        pending = PendingDial(
            id=secrets.token_urlsafe(32),
            csrf=secrets.token_urlsafe(32),
            digest=request_digest(req),
            preview=preview,
            warnings=list(warnings),
            expires_at=self.clock() + TOKEN_TTL,
            assistant_name=self.assistant_name(req.assistant_id) if self.assistant_name is not None else None,
        )
        self._by_id[pending.id] = pending
        return pending

    def close(self, pending: PendingDial) -> None:
        """The tool is done with it: a new request asks again; its page keeps saying how it was decided."""
        pending.closed = True
        pending.closed_at = self.clock()

    def forget(self, pending: PendingDial) -> None:
        self._by_id.pop(pending.id, None)

    # ----- the server ------------------------------------------------------------------------------
    async def start(self) -> str:
        """Start the page server (once); returns its origin."""
        async with self._lock:
            if self._task is not None:
                return self.origin

            class _Server(uvicorn.Server):
                @contextlib.contextmanager
                def capture_signals(self) -> Generator[None]:
                    yield  # the MCP server keeps its own signal handling

            self._sock = _bind(self.host, self.wanted_port)
            self.port = int(self._sock.getsockname()[1])
            config = uvicorn.Config(self.app(), log_config=None, access_log=False, log_level="warning", lifespan="off")
            server = _Server(config)
            self._server = server
            self._task = asyncio.create_task(server.serve(sockets=[self._sock]), name="voicing-confirm-page")
            with anyio.fail_after(STARTUP_SECONDS):
                while not server.started:
                    if self._task.done():
                        self._task.result()
                        raise RuntimeError("the confirm page stopped during start-up")
                    await anyio.sleep(0.005)
            logger.info("confirm page listening on %s (loopback only)", self.origin)
            return self.origin

    async def aclose(self) -> None:
        for pending in self._by_id.values():
            pending.reached.set()
            pending.decided.set()
        if self._server is not None:
            self._server.should_exit = True
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        if self._sock is not None:
            self._sock.close()
        self._task = self._server = self._sock = None

    # ----- the page --------------------------------------------------------------------------------
    def app(self) -> Any:
        async def page(request: Request) -> Response:
            return self._handle(request, None)

        async def decide(request: Request) -> Response:
            body = await read_form(request, MAX_FORM_BYTES)
            if not isinstance(body, bytes):
                return body
            pending = self._by_id.get(str(request.path_params["id"]))
            undecided = pending is not None and pending.state == "pending"
            response = self._handle(request, body)
            if undecided and pending is not None and pending.state == "approved" and self.on_approved is not None:
                # stored before the human reads "Approved": another replica may get the model's next call
                try:
                    await self.on_approved(pending)
                except Exception as exc:  # this server still completes the dial from its own memory
                    logger.warning("confirm page: the approval could not be stored in the ledger: %s", exc)
            return response

        async def sub_page(request: Request) -> Response:
            handler = self.sub_pages.get(str(request.path_params["kind"]))
            if handler is None:
                return _page(404, "Unknown link", "This link is unknown or expired. Nothing was changed.")
            return await handler(request)

        return Starlette(
            routes=[
                Route("/confirm/{id}", page, methods=["GET"]),
                Route("/confirm/{id}", decide, methods=["POST"]),
                Route("/{kind}/{id}", sub_page, methods=["GET", "POST"]),
            ]
        )

    def _handle(self, request: Request, body: bytes | None) -> Response:
        if request.headers.get("host") != f"{self.host}:{self.port}":
            return _page(
                421,
                "Wrong address",
                f"This page answers only at {self.origin}. Nothing was changed.",
            )
        pending = self._by_id.get(str(request.path_params["id"]))
        if pending is None:
            return _page(404, "Unknown link", "This confirmation link is unknown or expired. Nothing was dialled.")
        if self.clock() >= pending.expires_at:
            self.forget(pending)
            return _page(
                410,
                "Expired",
                "This confirmation expired (links live 5 minutes). Nothing was dialled; ask the assistant "
                "again for a new preview.",
            )
        if body is None:
            return self._render(pending)
        origin = request.headers.get("origin")
        if origin != self.origin:
            return _page(403, "Refused", "That request came from another site. Nothing was changed.")
        form = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
        csrf = (form.get("csrf") or [""])[0]
        if not hmac.compare_digest(csrf.encode(), pending.csrf.encode()):
            return _page(
                403,
                "Refused",
                "That form is not this page's (its check token is missing or wrong). Nothing was changed.",
            )
        if pending.state != "pending":
            return _already(pending)
        choice = (form.get("choice") or [""])[0]
        if choice not in ("call", "decline"):
            return _page(400, "Refused", "Choose “Call now” or “Don't call”. Nothing was changed.")
        pending.state = "approved" if choice == "call" else "declined"
        pending.decided.set()
        logger.info("confirm page: a dial was %s by the human", pending.state)
        if pending.state == "approved":
            return _page(
                200,
                "Approved",
                "Approved. The assistant places this call now (or when it asks again, within 5 minutes). You can "
                "close this tab.",
                "ok",
            )
        return _page(200, "Not called", "Not called. Nothing was dialled. You can close this tab.", "no")

    def _render(self, pending: PendingDial) -> Response:
        if pending.state != "pending":
            return _already(pending)
        p = pending.preview
        number = one_line(p.international)
        # a warning names the number masked (as a log line would) or in E.164: here, for the human who decides, it
        # reads as the table shows it
        masked = mask_number(p.phone_number)
        warnings = [one_line(w).replace(masked, number).replace(p.phone_number, number) for w in pending.warnings]
        expires = pending.expires_at.astimezone(UTC)
        # the one preview renderer: its values are already visible and on one line; the template escapes them
        return _render_page(
            200,
            "confirm.html",
            number=number,
            rows=preview_rows(p),
            assistant_name=pending.assistant_name,
            local_mode=p.local_mode,
            warnings=warnings,
            csrf=pending.csrf,
            expires_local=expires.astimezone().strftime("%H:%M:%S %Z"),  # the serving machine's zone
            expires_utc=expires.strftime("%H:%M:%S UTC"),
            expires_iso=expires.strftime("%Y-%m-%dT%H:%M:%SZ"),
        )


def _bind(host: str, port: int) -> socket.socket:
    """Listen on ``host:port`` (0: a free port). A busy port is a ConfigError naming VOICING_CONFIRM_PORT."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise ConfigError(
            f"the confirm page cannot listen on {host}:{port} ({exc.strerror or exc}): free that port or change "
            "VOICING_CONFIRM_PORT (unset: a free port)"
        ) from None
    sock.listen(64)
    sock.setblocking(False)
    return sock


def _already(pending: PendingDial) -> Response:
    what = "approved (call now)" if pending.state == "approved" else "declined (not called)"
    return _page(409, "Already decided", f"This call was already decided: {what}. Nothing was changed.")


async def read_form(request: Request, limit: int) -> bytes | Response:
    """A POST's body, read up to ``limit`` bytes: the bytes, or the 413 page that answers a larger one (shared by the
    confirm, approval and dashboard pages)."""
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            return message_page(413, "Too large", "That request was too large. Nothing was changed.")
    return body


def message_page(status: int, title: str, message: str, kind: str = "") -> Response:
    """A page of this server that says one thing (``kind``: a banner class of base.html, or none)."""
    return _page(status, title, message, kind)


def render_response(status: int, template: str, **context: Any) -> Response:
    """A page of this server rendered from a template of :mod:`voicing_mcp.pages`, with its security headers."""
    return _render_page(status, template, **context)


def _page(status: int, title: str, message: str, kind: str = "") -> Response:
    """A page that says one thing (``kind``: a banner class of base.html, or none)."""
    return _render_page(status, "message.html", title=title, message=message, kind=kind)


def _render_page(status: int, template: str, **context: Any) -> Response:
    html, nonce = render_page(template, **context)
    return HTMLResponse(html, status_code=status, headers=security_headers(nonce))


async def open_in_browser(url: str) -> bool:
    """Open ``url`` in the user's browser with Python's ``webbrowser`` (honours ``$BROWSER``).

    Run in a child process that reads the URL on stdin and has no stdout/stderr of ours: a browser
    command must not write into the MCP stdio stream, and its messages (which may quote the URL) must
    not reach a log. Console browsers are not used (no terminal of ours). The browser gets none of the
    ``VOICING_*`` settings: the API key and the MCP token are not a browser's (nor a ``$BROWSER`` wrapper's,
    a crash reporter's or anything it starts). True when a browser took it.
    """
    env = {k: v for k, v in os.environ.items() if k != "TERM" and not k.upper().startswith("VOICING_")}
    try:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            _OPENER,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
            env=env,
            start_new_session=True,
        )
    except OSError as exc:
        logger.warning("could not start the browser opener: %s", exc)
        return False
    assert proc.stdin is not None
    proc.stdin.write(url.encode() + b"\n")
    with contextlib.suppress(OSError):
        await proc.stdin.drain()
    proc.stdin.close()
    try:
        code = await asyncio.wait_for(proc.wait(), BROWSER_OPEN_SECONDS)
    except TimeoutError:
        return True  # a browser command that keeps running (it waits for its window) has the page open
    return code == 0
