"""``server/schemas.py``: the titles pydantic generates from parameter names are gone from what ``tools/list``
shows (every character is in the model's context), a title written on purpose stays, and validation is
unchanged — through real MCP client sessions."""

from __future__ import annotations

from typing import Annotated, Any

from mcp import Client
from mcp.server.mcpserver import MCPServer
from pydantic import Field

from server_support import connect, error_text
from voicing_mcp.emulator.runner import RunningEmulator
from voicing_mcp.server.schemas import drop_generated_titles


def _titles(schema: Any, path: str = "") -> list[str]:
    found: list[str] = []
    if isinstance(schema, dict):
        for key, value in schema.items():  # pyright: ignore[reportUnknownVariableType]
            if key == "title":
                found.append(f"{path}: {value}")
            found.extend(_titles(value, f"{path}/{key}"))
    elif isinstance(schema, list):
        for i, item in enumerate(schema):  # pyright: ignore[reportUnknownVariableType, reportUnknownArgumentType]
            found.extend(_titles(item, f"{path}/{i}"))
    return found


async def test_no_tool_of_the_server_shows_a_generated_title(emu: RunningEmulator, mode: str) -> None:
    async with connect(emu, mode) as client:
        tools = (await client.list_tools()).tools
    assert len(tools) >= 7
    for tool in tools:
        schema = tool.input_schema
        assert schema.get("title") != f"{tool.name}Arguments", tool.name
        for name, prop in schema.get("properties", {}).items():
            assert prop.get("title") != name.title().replace("_", " "), (tool.name, name)


async def test_a_title_written_on_purpose_stays_and_validation_is_unchanged() -> None:
    server: MCPServer[Any] = MCPServer("t")

    def pick(call_ids: list[str], limit: Annotated[int, Field(le=5, title="How many at most")] = 1) -> str:
        return f"{len(call_ids)} {limit}"

    server.add_tool(pick)
    before = {t.name: t.parameters for t in server._tool_manager.list_tools()}  # pyright: ignore[reportPrivateUsage]
    assert "title" in before["pick"]["properties"]["call_ids"]
    drop_generated_titles(server)
    async with Client(server) as client:
        (tool,) = (await client.list_tools()).tools
        props = tool.input_schema["properties"]
        assert "title" not in props["call_ids"] and "title" not in tool.input_schema
        assert props["limit"]["title"] == "How many at most"
        assert _titles(tool.input_schema) == ["/properties/limit: How many at most"]
        bad = await client.call_tool("pick", {"call_ids": ["a"], "limit": 9})
        assert "limit" in error_text(bad)
