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
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import anyio
import httpx
import uvicorn
from mcp import Client
from mcp.client.session import ClientRequestContext
from mcp.server.mcpserver import MCPServer
from mcp_types import CallToolResult, ElicitRequestParams, ElicitResult, TextContent, TextResourceContents
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


def error_text(result: CallToolResult) -> str:
    """The text of a tool error (the result must be one)."""
    assert result.is_error, "expected a tool error"
    return text_of(result)


def structured(result: CallToolResult) -> dict[str, Any]:
    assert not result.is_error, text_of(result)
    assert result.structured_content is not None
    # the JSON text block carries the same data for clients that ignore structuredContent
    json_blocks = [b.text for b in result.content if isinstance(b, TextContent)][1:]
    assert json.loads(json_blocks[0]) == result.structured_content
    return result.structured_content


#: one client for every helper call: ``httpx.request`` builds a new client, and with it an SSL context that
#: loads the CA bundle (80 ms each on 2 cores), per call — most of the property test's time went there
#: idle connections are dropped after 1 s, well before the emulator's uvicorn closes them (its keep-alive is 5 s,
#: httpx's default expiry too): reusing one at the moment the server closed it was a "connection reset" under load
_HTTP = httpx.Client(timeout=10, limits=httpx.Limits(keepalive_expiry=1.0))


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


# ----- the dial: initiate_outbound_call through a fresh server, its own ledger, a client session ----------
PAYMENT = ASSISTANT  # Hi {{name}}, your {{plan_type}} plan payment is pending.
VARS = {"name": "Ann", "plan_type": "Gold"}
NUMBER = "+17018112582"  # North Dakota (not the fictional range: this server is not in local mode)
DIAL_PATH = "/api/v1/campaigns/publish-outbound-call"
MODE = "legacy"  # for tests of the dial path that does not depend on the protocol version
DAY = datetime(2026, 5, 4, 16, 0, tzinfo=UTC)  # 10:00-11:00 across the continental US
NIGHT = datetime(2026, 5, 5, 3, 14, tzinfo=UTC)  # 22:14 in Chicago


class Clock:
    def __init__(self, now: datetime = DAY) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def dials(emu: RunningEmulator) -> int:
    return int(helper(emu, "GET", "/_emulator/dials")["count"])


class Human:
    """An elicitation callback: answers every question the same way and keeps what it was shown."""

    def __init__(self, action: str = "accept", confirm: bool = True) -> None:
        self.action = action
        self.confirm = confirm
        self.questions: list[str] = []

    async def __call__(self, context: ClientRequestContext, params: ElicitRequestParams) -> ElicitResult:
        self.questions.append(params.message)
        if self.action == "accept":
            return ElicitResult(action="accept", content={"confirm": self.confirm})
        return ElicitResult(action=self.action)  # type: ignore[arg-type]


@asynccontextmanager
async def dial_client(
    emu: RunningEmulator,
    tmp_path: Path,
    mode: str,
    *,
    human: Human | None = None,
    clock: Clock | None = None,
    **settings: Any,
) -> AsyncGenerator[Client]:
    """A fresh server pointed at the emulator (as a remote API), its own ledger, and a client session.

    These tests pin the token flow, so they opt in to it (``VOICING_CONFIRMATION=token``; the default outside
    local mode is ``human``, pinned in test_confirm_page.py); pass ``confirmation="human"`` to leave it.
    """
    settings.setdefault("quiet_hours", "off")
    settings.setdefault("confirmation", "token")
    settings.setdefault("ledger", tmp_path / "ledger.sqlite3")
    s = load_settings(base_url=emu.base_url, api_key=emu.api_key, env="development", **settings)
    server = create_server(s, clock=clock or Clock())
    async with Client(server, mode=mode, elicitation_callback=human) as client:
        yield client


async def call(client: Client, **arguments: Any) -> CallToolResult:
    arguments.setdefault("assistant_id", PAYMENT)
    arguments.setdefault("phone_number", NUMBER)
    arguments.setdefault("input_variables", VARS)
    return await client.call_tool("initiate_outbound_call", arguments)


def refusal(result: CallToolResult, rule: str) -> str:
    assert result.is_error, text_of(result)
    text = text_of(result)
    assert f"[{rule}]" in text, text
    assert "Nothing was dialled" in text
    return text


async def ledger_rows(client: Client) -> list[dict[str, Any]]:
    res = await client.read_resource("voicing://ledger/recent")
    content = res.contents[0]
    assert isinstance(content, TextResourceContents)
    rows: list[dict[str, Any]] = json.loads(content.text)["dials"]
    return rows


async def confirm_with_token(client: Client, **arguments: Any) -> CallToolResult:
    first = structured(await call(client, **arguments))
    assert first["status"] == "confirmation_required"
    return await call(client, confirmation_token=first["confirmation_token"], **arguments)
