"""``voicing-mcp [--transport stdio|sse|http] [--host H] [--port P]``: run the MCP server.

* ``stdio`` (the default, what desktop clients start): stdout carries only the protocol; every
  log line goes to stderr (the ``cli`` package sets that up before anything else runs).
* ``sse`` and ``http``: served by :mod:`voicing_mcp.server.web.transports` (uvicorn behind the security
  middleware); no start at all on a non-loopback address without ``VOICING_MCP_TOKEN``. ``--http-stateless``
  (or ``VOICING_HTTP_STATELESS=true``) serves streamable HTTP without sessions, for replicas behind a load
  balancer without sticky sessions.
* a shared (``postgresql://``) ledger needs ``VOICING_TOKEN_SECRET``: no start without it.

Settings are loaded first; a bad setting stops the start with one line per problem (ConfigError, exit 2).
"""

from __future__ import annotations

import argparse
import gc
import logging
import sys
from collections.abc import Generator
from contextlib import contextmanager

import anyio

from voicing_mcp.config import load_settings
from voicing_mcp.errors import ConfigError
from voicing_mcp.redact import RedactSecretFilter

STDIO_AT_A_TERMINAL = (
    "voicing-mcp: serving MCP over stdio — an MCP client starts this command and talks to it on stdin/stdout, "
    "so nothing more happens here; Ctrl-C stops. To try it: 'voicing-mcp demo'; to test the settings: "
    "'voicing-mcp check'; for a client's config see README, Client setup"
)


@contextmanager
def start_up_without_gc() -> Generator[None]:
    """Run the block (the MCP SDK's import, the server's construction) with the cyclic garbage collector paused,
    then freeze what is alive (``gc.freeze``) and resume it. The start builds ~140,000 objects that live as long
    as the process (modules, classes, schemas); the collector spent ~130 ms of CPU of a ~1.6 s start traversing
    them again and again, and a full pass at exit. Frozen, no later collection visits them. The price: the few
    cycles the start left as garbage (~4,000 objects, under 1 MB) stay until the process ends. Nothing changes
    if the collector was off already."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.freeze()
            gc.enable()


def run_server(args: argparse.Namespace) -> int:
    """Run the server on the transport named by ``args`` until it is stopped. Returns the exit code."""
    settings = load_settings()  # a bad setting stops the start here, before the MCP SDK is imported (~1.5 s)
    if settings.api_key is not None:  # the key removed from every log line, whoever logs it (the SDK included)
        for handler in logging.getLogger().handlers:
            handler.addFilter(RedactSecretFilter(settings.api_key.get_secret_value()))
    if settings.missing_token_secret is not None:  # replicas on one ledger must verify each other's tokens
        raise ConfigError(settings.missing_token_secret)
    stateless: bool = bool(getattr(args, "http_stateless", False)) or settings.http_stateless
    if getattr(args, "http_stateless", False) and args.transport != "http":
        raise ConfigError("--http-stateless applies to --transport http only (streamable HTTP)")
    if stateless and args.transport == "sse":  # SSE's stream lives in one replica: it cannot be stateless
        raise ConfigError(
            "VOICING_HTTP_STATELESS=true applies to --transport http only (streamable HTTP): an SSE session lives "
            "in the replica that opened it; serve --transport http, or unset VOICING_HTTP_STATELESS"
        )
    transport: str = args.transport
    if transport == "stdio":
        if sys.stdin.isatty():  # started by hand in a terminal, not by a client: say why nothing happens
            print(STDIO_AT_A_TERMINAL, file=sys.stderr, flush=True)
        with start_up_without_gc():
            from voicing_mcp.server.app import create_server  # noqa: PLC0415 (the MCP SDK, after the settings)
            from voicing_mcp.server.stdio import run_stdio  # noqa: PLC0415 (the SDK's stdio transport: stdio only)

            server = create_server(settings)
        anyio.run(run_stdio, server)
        return 0
    if transport not in ("sse", "http"):
        raise ConfigError(f"unknown transport {transport!r}: use stdio, sse or http")

    with start_up_without_gc():
        from voicing_mcp.server.app import create_server  # noqa: PLC0415 (the MCP SDK, after the settings)

        # uvicorn and the security middleware: sse/http only
        from voicing_mcp.server.web.security import policy_for  # noqa: PLC0415 (sse/http only)
        from voicing_mcp.server.web.transports import (  # noqa: PLC0415 (uvicorn)
            HttpTransport,
            build_http_app,
            serve_http,
        )

        host: str = args.host
        port: int = args.port
        policy = policy_for(host, settings.mcp_token)  # refuses non-loopback without a token, before anything binds
        kind: HttpTransport = "sse" if transport == "sse" else "http"
        app = build_http_app(create_server(settings), kind, policy, stateless=stateless)
    interrupted = anyio.run(serve_http, app, host, port, kind, stateless)
    return 130 if interrupted else 0  # Ctrl-C: 128 + SIGINT, as a KeyboardInterrupt would give
