"""The Apps tests' rig: a local-mode server on its own ledger (as the campaign tools' tests use), opened by a client
that declares MCP Apps (``io.modelcontextprotocol/ui`` with the app MIME type, as Claude or VS Code do) or by one
that declares nothing."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from mcp import Client
from mcp.client import advertise
from mcp.server.apps import APP_MIME_TYPE, EXTENSION_ID

from tests.server.tools.campaigns_support import Clock, Rig
from voicing_mcp.config import load_settings
from voicing_mcp.guard.ledger import Ledger
from voicing_mcp.server import context
from voicing_mcp.server.app import create_server

ENV = "local"


def apps_client_extensions() -> list[Any]:
    """What an Apps host declares: the extension, with the app MIME type among its ``mimeTypes``."""
    return [advertise(EXTENSION_ID, {"mimeTypes": [APP_MIME_TYPE]})]


@asynccontextmanager
async def apps_server(tmp_path: Path, mode: str, *, apps: bool) -> AsyncGenerator[Rig]:
    """A local-mode server on ``tmp_path``'s ledger, its dispatcher held back (the tests dial rows themselves),
    with a client session that declares Apps (``apps``) or nothing, and the same ledger."""
    held_back, context.DISPATCHER_START_DELAY = context.DISPATCHER_START_DELAY, 3600.0
    clock = Clock()
    path = tmp_path / "ledger.sqlite3"
    server = create_server(load_settings(ledger=str(path)), clock=clock)
    ledger = Ledger(path, clock=clock, environment=ENV)
    options: dict[str, Any] = {"extensions": apps_client_extensions()} if apps else {}
    try:
        async with Client(server, mode=mode, **options) as client:
            yield Rig(client, ledger, clock)
    finally:
        context.DISPATCHER_START_DELAY = held_back
        ledger.close()
