"""Helpers shared by the server tests: a real emulator on loopback, settings pointing at it,
and in-process MCP client sessions in both protocol modes.

The MCP ``Client`` is opened inside each test body (``async with session(...)``), not in a
fixture, so the server's lifespan is entered and left by the same task.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import AsyncGenerator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import httpx
import uvicorn
from mcp import Client
from mcp.server.mcpserver import MCPServer
from mcp_types import CallToolResult, TextContent
from starlette.applications import Starlette
from starlette.routing import Route

from voicing_mcp.config import Settings, load_settings
from voicing_mcp.emulator.runner import RunningEmulator, bind_socket
from voicing_mcp.server.app import create_server
from voicing_mcp.server.context import ServerContext

#: ``Client(mode=...)`` values: the 2025-11-25 initialize handshake, and the 2026-07-28 per-request envelope.
MODES = {"2025-11-25": "legacy", "2026-07-28": "2026-07-28"}

ASSISTANT = "019addcc-b878-7b10-85f1-49f21342f947"  # "Hi {{name}}, your {{plan_type}} plan payment is pending."
CLINIC = "019addcc-0000-7000-8000-000000000002"


def settings_for(emu: RunningEmulator, *, api_key: str | None = None) -> Settings:
    """Settings that point the server at a running emulator as if it were a remote API."""
    return load_settings(base_url=emu.base_url, api_key=api_key or emu.api_key, env="development")


@asynccontextmanager
async def session(server: MCPServer[ServerContext], mode: str, **kwargs: Any) -> AsyncGenerator[Client]:
    async with Client(server, mode=mode, **kwargs) as client:
        yield client


@asynccontextmanager
async def connect(emu: RunningEmulator, mode: str, **server_options: Any) -> AsyncGenerator[Client]:
    """A client session with a fresh server pointed at ``emu``."""
    server = create_server(settings_for(emu), **server_options)
    async with session(server, mode) as client:
        yield client


def text_of(result: CallToolResult) -> str:
    blocks = [b.text for b in result.content if isinstance(b, TextContent)]
    assert blocks, "a tool result always carries a text block"
    return blocks[0]


def structured(result: CallToolResult) -> dict[str, Any]:
    assert not result.is_error, text_of(result)
    assert result.structured_content is not None
    # the JSON text block carries the same data for clients that ignore structuredContent
    json_blocks = [b.text for b in result.content if isinstance(b, TextContent)][1:]
    assert json.loads(json_blocks[0]) == result.structured_content
    return result.structured_content


#: one client for every helper call: ``httpx.request`` builds a new client, and with it an SSL context that
#: loads the CA bundle (80 ms each on 2 cores), per call — most of the property test's time went there
_HTTP = httpx.Client(timeout=10)


def helper(emu: RunningEmulator, method: str, path: str, body: Any = None) -> Any:
    """Call one of the emulator's loopback test helpers (``/_emulator/...``)."""
    response = _HTTP.request(method, f"{emu.base_url}{path}", json=body)
    response.raise_for_status()
    return response.json()


def seeded_calls(emu: RunningEmulator, n: int = 100) -> list[dict[str, Any]]:
    """Some of the emulator's historical calls, straight from its HTTP API."""
    response = httpx.get(
        f"{emu.base_url}/api/v1/campaigns/get-call-details",
        params={"page": 1, "limit": n},
        headers={"x-api-key": emu.api_key},
        timeout=10,
    )
    response.raise_for_status()
    data: list[dict[str, Any]] = response.json()["data"]
    return data


def ledger_cli(ledger: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``python -m voicing_mcp.guard.ledger ...`` as the README tells a human to run it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("VOICING_")} | {"VOICING_LEDGER": str(ledger)}
    return subprocess.run(
        [sys.executable, "-m", "voicing_mcp.guard.ledger", *args],
        env=env,
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=60,
        check=False,
    )


@asynccontextmanager
async def loopback_proxy(emu: RunningEmulator, forward: Any, *, api_key: str) -> AsyncGenerator[RunningEmulator]:
    """Serve ``forward(request) -> Response`` for every path on a free loopback port (uvicorn, real HTTP), as an
    API in front of ``emu``: the value is an emulator handle whose base URL is the proxy and whose key is
    ``api_key`` (the proxy decides what it forwards)."""

    app = Starlette(routes=[Route("/{path:path}", forward, methods=["GET", "POST"])])
    sock = bind_socket("127.0.0.1", 0)
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    async with anyio.create_task_group() as tg:
        tg.start_soon(server.serve, [sock])
        while not server.started:
            await anyio.sleep(0.01)
        try:
            yield RunningEmulator(f"http://127.0.0.1:{port}", "127.0.0.1", port, api_key, emu.state)
        finally:
            server.should_exit = True
