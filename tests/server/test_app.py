"""``server/app.py``: the server the clients meet, through real in-process MCP client sessions (both protocol
modes) against the emulator over loopback HTTP: every tool registered with its description, output schema and
annotations, the server's name, version and instructions, and the registration wrapper that turns any tool's
product errors into the text the model reads without the API key."""

from __future__ import annotations

import json

from server_support import (
    ASSISTANT,
    connect,
    error_text,
    session,
    settings_for,
)
from voicing_mcp import __version__
from voicing_mcp.emulator.runner import RunningEmulator
from voicing_mcp.server.app import create_server

READ_TOOLS = {"get_call_details", "list_calls", "bulk_call_details", "reconcile_calls"}


# ----- listing ------------------------------------------------------------------------------
async def test_tools_have_descriptions_output_schemas_and_annotations(emu: RunningEmulator, mode: str) -> None:
    async with connect(emu, mode) as client:
        tools = {t.name: t for t in (await client.list_tools()).tools}
    assert set(tools) >= {*READ_TOOLS, "chat_with_assistant", "initiate_outbound_call"}  # dial: test_dial*.py
    dial = tools["initiate_outbound_call"].annotations
    assert dial is not None and dial.destructive_hint is True and dial.read_only_hint is False
    for tool in tools.values():
        assert tool.description and tool.title
        assert tool.output_schema is not None and tool.output_schema["type"] == "object"
        # these read local state only: the templates, the campaigns in the ledger
        local = tool.name in {"list_assistants", "campaign_status", "list_campaigns"}
        assert tool.annotations is not None and tool.annotations.open_world_hint is not local
    for name in READ_TOOLS:
        hints = tools[name].annotations
        assert hints is not None and hints.read_only_hint is True and hints.idempotent_hint is True
        assert hints.destructive_hint is False
    chat = tools["chat_with_assistant"].annotations
    assert chat is not None and chat.read_only_hint is False and chat.idempotent_hint is False


async def test_argument_schemas_carry_bounds_and_descriptions(emu: RunningEmulator, mode: str) -> None:
    async with connect(emu, mode) as client:
        tools = {t.name: t for t in (await client.list_tools()).tools}
    props = tools["list_calls"].input_schema["properties"]
    assert props["limit"]["minimum"] == 1 and props["limit"]["maximum"] == 100 and props["limit"]["default"] == 20
    assert props["page"]["minimum"] == 1 and props["page"]["default"] == 1
    assert all(p.get("description") for p in props.values())
    ids = tools["bulk_call_details"].input_schema["properties"]["call_ids"]
    assert ids["minItems"] == 1 and ids["maxItems"] == 10_000 and ids["items"]["minLength"] == 1
    assert tools["get_call_details"].input_schema["required"] == ["call_id"]


async def test_the_tool_list_is_lean_and_its_descriptions_carry_no_docstring_indentation(
    emu: RunningEmulator, mode: str
) -> None:
    """Every character of names, descriptions and input schemas sits in the model's context on every turn."""
    async with connect(emu, mode) as client:
        tools = (await client.list_tools()).tools
    for tool in tools:
        assert tool.description is not None
        assert not any(line.startswith(" ") for line in tool.description.splitlines()), tool.name
    size = sum(len(t.name) + len(t.description or "") + len(json.dumps(t.input_schema)) for t in tools)
    assert size <= 14_000  # 8,902 before the campaign tools: prepare ~2,700; status, control, list ~2,000


async def test_server_identifies_itself_with_name_version_and_instructions(emu: RunningEmulator) -> None:
    async with connect(emu, "legacy") as client:
        info = client.server_info
        instructions = client.instructions
    assert info is not None and info.name == "voicing-mcp" and info.version == __version__
    assert instructions is not None and "chat_with_assistant" in instructions and "confirmation" in instructions


async def test_the_instructions_name_every_tool_and_resource_the_server_offers(emu: RunningEmulator) -> None:
    async with connect(emu, "legacy") as client:
        instructions = client.instructions or ""
        tools = [t.name for t in (await client.list_tools()).tools]
        resources = [r.uri for r in (await client.list_resources()).resources]
        templates = [t.uri_template for t in (await client.list_resource_templates()).resource_templates]
    assert "initiate_outbound_call" in tools
    for name in [*tools, *map(str, resources), *templates]:
        assert name in instructions, f"the server instructions do not mention {name}"
    assert "when this server offers it" not in instructions  # the dial tool is always offered


# ----- every tool's errors through the registration wrapper ---------------------------------
# ----- API errors ---------------------------------------------------------------------------
async def test_a_rejected_api_key_is_named_without_echoing_it(emu: RunningEmulator, mode: str) -> None:
    key = "sk-live-wrong-key-0123456789"
    server = create_server(settings_for(emu, api_key=key))
    async with session(server, mode) as client:
        results = [
            await client.call_tool("get_call_details", {"call_id": "x"}),
            await client.call_tool("list_calls", {}),
            await client.call_tool("bulk_call_details", {"call_ids": ["x"]}),
            await client.call_tool("chat_with_assistant", {"assistant_id": ASSISTANT, "message": "hi"}),
        ]
    for result in results:
        text = error_text(result)
        assert "key" in text and "VOICING_API_KEY" in text
        assert key not in text and key not in str(result.structured_content)
