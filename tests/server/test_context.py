"""``server/context.py``: what a tool reads from the running server (``server_context``) — the settings, the API
client, the guard and its ledger, the report store — through a real MCP client session; the API key is there
to remove from text, and local mode's emulator only once it runs."""

from __future__ import annotations

from typing import Any

from mcp import Client
from mcp.server.mcpserver import Context

from server_support import settings_for
from voicing_mcp.emulator.runner import RunningEmulator
from voicing_mcp.server.app import create_server
from voicing_mcp.server.context import ServerContext, server_context


async def test_a_tool_reads_the_running_servers_context(emu: RunningEmulator, mode: str) -> None:
    server = create_server(settings_for(emu))

    def peek(ctx: Context[ServerContext, Any]) -> dict[str, Any]:
        state = server_context(ctx)
        return {
            "base_url": state.base_url,
            "secret_is_key": state.secret == emu.api_key,
            "ledger_is_guards": state.ledger is state.guard.ledger,
            "local": state.is_local,
            "emulator": state.emulator is not None,
            "pages": state.confirm_pages is not None,
        }

    server.add_tool(peek)
    async with Client(server, mode=mode) as client:
        seen = (await client.call_tool("peek", {})).structured_content
    assert seen is not None
    assert seen["base_url"] == emu.base_url
    assert seen["secret_is_key"] is True and seen["ledger_is_guards"] is True
    assert seen["local"] is False and seen["emulator"] is False and seen["pages"] is False
