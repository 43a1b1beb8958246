"""The SSE and streamable-HTTP transports of the server (``voicing-mcp --transport sse|http``).

``sse`` (``GET /sse`` + ``POST /messages/``) and ``http`` (streamable HTTP at ``/mcp``) are served by
uvicorn behind :class:`~voicing_mcp.server.web.security.SecurityMiddleware`: DNS-rebinding protection
always, a bearer token when ``VOICING_MCP_TOKEN`` is set. The URL is printed to stderr once the socket
is bound (``--port 0`` picks a free port and the line says which). Both enter the server's lifespan
once per process (one API client, one local emulator, one chat registry for every connection).
"""

from __future__ import annotations

import asyncio
import logging
import signal
import socket
import sys
from collections.abc import AsyncGenerator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any, Literal

import uvicorn

from voicing_mcp.errors import ConfigError, VoicingError
from voicing_mcp.server.web.security import SecurityMiddleware

if TYPE_CHECKING:
    from types import FrameType

    from mcp.server.mcpserver import MCPServer
    from starlette.types import ASGIApp, Message, Receive, Scope, Send

    from voicing_mcp.server.web.security import HttpPolicy

logger = logging.getLogger(__name__)

HttpTransport = Literal["sse", "http"]
PATHS: dict[str, str] = {"sse": "/sse", "http": "/mcp"}
GRACEFUL_SHUTDOWN_SECONDS = 3


def build_http_app(
    server: MCPServer[Any], transport: HttpTransport, policy: HttpPolicy, *, stateless: bool = False
) -> ASGIApp:
    """The ASGI app of ``server`` on ``transport``, wrapped in the security middleware.

    ``stateless`` (streamable HTTP only): no ``Mcp-Session-Id``, every POST served on its own, so replicas behind
    a load balancer without sticky sessions can each answer any request. The server cannot send a request to the
    client then (2025-11-25 form elicitation, URL elicitation); notifications (progress) still go out.
    2026-07-28 clients are served per request either way (their elicitation rides the retried call).
    """
    security = policy.transport_security()
    if transport == "sse":
        from voicing_mcp.server.stdio import answer_every_message  # noqa: PLC0415 (SSE only)

        answer_every_message(server)  # a POST the SDK cannot read is answered on the event stream too
        inner = SharedLifespan(OneResponse(server.sse_app(transport_security=security, host=policy.bind_host)), server)
    else:
        inner = server.streamable_http_app(transport_security=security, host=policy.bind_host, stateless_http=stateless)
    return SecurityMiddleware(inner, policy)


class SharedLifespan:
    """Enter the server's lifespan once per process for SSE, as streamable HTTP does.

    The SDK's SSE app runs the server's lifespan for every connection: every SSE client would get
    its own API client and, in local mode, its own emulator (a call placed on one connection would
    be unknown on the next). This ASGI wrapper enters the lifespan at application start-up, lets
    each connection reuse its state, and leaves it at shutdown, after the connections have closed.
    """

    def __init__(self, app: ASGIApp, server: MCPServer[Any]) -> None:
        self.app = app
        # MCPServer has no public hook for this; the low-level server's lifespan attribute is public.
        self.lowlevel = server._lowlevel_server  # pyright: ignore[reportPrivateUsage]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "lifespan":
            await self.app(scope, receive, send)
            return
        await receive()  # lifespan.startup
        original = self.lowlevel.lifespan
        started = False
        try:
            async with original(self.lowlevel) as state:

                @asynccontextmanager
                async def reuse(_: object) -> AsyncGenerator[Any]:
                    yield state

                self.lowlevel.lifespan = reuse
                started = True
                await send({"type": "lifespan.startup.complete"})
                await receive()  # lifespan.shutdown
        except VoicingError as exc:
            kind = "shutdown" if started else "startup"
            await send({"type": f"lifespan.{kind}.failed", "message": str(exc)})
            return
        finally:
            self.lowlevel.lifespan = original
        await send({"type": "lifespan.shutdown.complete"})


class OneResponse:
    """Let an HTTP request start one response only.

    The SDK's SSE endpoint returns an empty ``Response()`` after the event stream ends; when the
    stream ends because the server shuts down, Starlette then starts a second response on the same
    request and uvicorn logs a traceback for it (at every Ctrl-C with a client connected). The
    second start, and anything after it, is dropped here, and the event stream is ended properly.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False
        finished = False
        dropping = False

        async def send_once(message: Message) -> None:
            nonlocal started, finished, dropping
            if dropping:
                return
            if message["type"] == "http.response.start":
                if started:
                    dropping = True
                    if not finished:  # end the first response (the event stream) cleanly instead
                        finished = True
                        await send({"type": "http.response.body", "body": b"", "more_body": False})
                    return
                started = True
            elif message["type"] == "http.response.body" and not message.get("more_body", False):
                finished = True
            await send(message)

        await self.app(scope, receive, send_once)


def display_url(host: str, port: int, transport: HttpTransport) -> str:
    """The URL a client uses (a wildcard bind is shown as 127.0.0.1, IPv6 in brackets)."""
    shown = "127.0.0.1" if host.strip("[]") in ("", "0.0.0.0", "::") else host.strip("[]")
    if ":" in shown:
        shown = f"[{shown}]"
    return f"http://{shown}:{port}{PATHS[transport]}"


def bind(host: str, port: int) -> socket.socket:
    """Bind and listen on ``host:port`` (0 = any free port); a busy or foreign address is a ConfigError."""
    family = socket.AF_INET6 if ":" in host.strip("[]") else socket.AF_INET
    try:
        sock = socket.create_server((host.strip("[]"), port), family=family, backlog=512)
    except OSError as exc:
        hint = " (another process uses it: pick another --port)" if port and exc.errno in (48, 98, 10048) else ""
        raise ConfigError(f"cannot listen on {host}:{port}: {exc.strerror or exc}{hint}") from None
    sock.setblocking(False)
    return sock


_CANCELLED_TEXT = f"{asyncio.CancelledError.__module__}.{asyncio.CancelledError.__qualname__}"
"""The last line of a traceback's text when a task was cancelled."""


class _ForcedExitCancel(logging.Filter):
    """Drops uvicorn's report of the lifespan cancelled by a second Ctrl-C. A second SIGINT is uvicorn's force
    exit: it skips the lifespan's shutdown, and the app's lifespan (the server's own cleanup runs in it) is then
    cancelled as the event loop ends; uvicorn logged that expected cancel as an ERROR with a traceback. Any other
    record, and every record before a second Ctrl-C, passes."""

    def __init__(self, server: uvicorn.Server) -> None:
        super().__init__()
        self._server = server

    def filter(self, record: logging.LogRecord) -> bool:
        if not self._server.force_exit:
            return True
        if record.exc_info is not None and isinstance(record.exc_info[1], asyncio.CancelledError):
            return False
        # Starlette reports it as 'lifespan.shutdown.failed' with the traceback's text as the message
        return not record.getMessage().rstrip().endswith(_CANCELLED_TEXT)


async def serve_http(app: ASGIApp, host: str, port: int, transport: HttpTransport, stateless: bool = False) -> bool:
    """Serve ``app`` with uvicorn (logs to stderr only) and announce the URL once bound. True when it stopped
    for a Ctrl-C (SIGINT): uvicorn shuts down gracefully and raises the signal again, but whether that reaches
    the caller as a KeyboardInterrupt depends on where asyncio's own SIGINT handler cancels the main task (a
    cancel that lands in a cleanup is absorbed, under load), so the caller decides the exit status from this."""
    sock = bind(host, port)
    bound = int(sock.getsockname()[1])
    url = display_url(host, bound, transport)

    class _Server(uvicorn.Server):
        interrupted = False

        def handle_exit(self, sig: int, frame: FrameType | None) -> None:
            self.interrupted = self.interrupted or sig == signal.SIGINT
            super().handle_exit(sig, frame)

        async def startup(self, sockets: list[socket.socket] | None = None) -> None:
            await super().startup(sockets)
            if self.started:
                kind = "SSE" if transport == "sse" else ("stateless " if stateless else "") + "streamable HTTP"
                print(f"voicing-mcp: serving MCP over {kind} at {url}", file=sys.stderr, flush=True)

    config = uvicorn.Config(
        app,
        log_config=None,  # uvicorn's default config sends access logs to stdout; ours go to stderr
        access_log=logger.isEnabledFor(logging.DEBUG),
        log_level=logging.getLogger().getEffectiveLevel(),
        lifespan="on",
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
    )
    server = _Server(config)
    logging.getLogger("uvicorn.error").addFilter(_ForcedExitCancel(server))
    try:
        await server.serve(sockets=[sock])
    finally:
        sock.close()
    if not server.started:
        raise ConfigError(f"the server could not start on {host}:{bound} (see the messages above)")
    return server.interrupted
