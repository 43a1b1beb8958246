"""The README's "tools" section documents the live server: every tool, argument and resource."""

from __future__ import annotations

import re
from pathlib import Path

from mcp import Client

from voicing_mcp.config import load_settings
from voicing_mcp.server.app import create_server

README = Path(__file__).resolve().parents[2] / "README.md"


def tools_section() -> str:
    text = README.read_text(encoding="utf-8")
    match = re.search(r"<!-- section: tools \(owner: server\) -->(.*?)<!-- /section: tools -->", text, re.S)
    assert match, "README.md has no tools section"
    return match.group(1)


async def test_the_readme_names_every_tool_argument_and_resource_the_server_offers() -> None:
    section = tools_section()
    async with Client(create_server(load_settings()), mode="legacy") as client:
        tools = (await client.list_tools()).tools
        resources = (await client.list_resources()).resources
        templates = (await client.list_resource_templates()).resource_templates
    for tool in tools:
        assert f"`{tool.name}`" in section, tool.name
        for argument in tool.input_schema.get("properties", {}):
            assert f"`{argument}`" in section, f"{tool.name}.{argument}"
    ours = [str(r.uri) for r in resources if str(r.uri).startswith("voicing://assistants")]
    ours += [t.uri_template for t in templates if not t.uri_template.startswith("voicing://ledger")]
    assert ours and all(f"`{uri}`" in section for uri in ours)
