"""The read tools through a real in-process MCP client session, in both protocol modes,
against the emulator served over loopback HTTP."""

from __future__ import annotations

import json
import socket

import jsonschema
import pytest
from mcp_types import CallToolResult

from server_support import (
    ASSISTANT,
    connect,
    helper,
    seeded_calls,
    session,
    settings_for,
    structured,
    text_of,
)
from voicing_mcp import __version__
from voicing_mcp.config import load_settings
from voicing_mcp.emulator.runner import RunningEmulator
from voicing_mcp.server.app import create_server
from voicing_mcp.server.render.shaping import ROW_FIELDS

READ_TOOLS = {"get_call_details", "list_calls", "bulk_call_details", "reconcile_calls"}


def error_text(result: CallToolResult) -> str:
    assert result.is_error, "expected a tool error"
    return text_of(result)


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
        # these read local state only: the templates (tests/server/test_assistants.py), the campaigns in the ledger
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


# ----- get_call_details ---------------------------------------------------------------------
async def test_get_call_details_returns_every_api_field_and_a_labelled_transcript(
    emu: RunningEmulator, mode: str
) -> None:
    call = next(c for c in seeded_calls(emu) if c["status"] == "completed")
    async with connect(emu, mode) as client:
        result = await client.call_tool("get_call_details", {"call_id": call["call_id"]})
        schema = next(t for t in (await client.list_tools()).tools if t.name == "get_call_details").output_schema
    data = structured(result)
    assert schema is not None
    jsonschema.validate(data, schema)
    for key in ("call_id", "status", "duration", "started_at", "ended_at", "assistant_id", "ended_reason"):
        assert data[key] == call[key]
    assert data["input_variables"] == call["input_variables"]
    assert "success" not in data
    transcript = data["transcript"]
    assert "third-party" in transcript["notice"] and transcript["truncated"] is False
    assert transcript["lines"] and transcript["lines"][0]["role"] == "assistant"
    text = text_of(result)
    assert call["call_id"] in text and "completed" in text and "third-party" in text


async def test_unknown_call_id_is_a_tool_error_that_says_not_found(emu: RunningEmulator, mode: str) -> None:
    async with connect(emu, mode) as client:
        result = await client.call_tool("get_call_details", {"call_id": "no-such-call"})
    text = error_text(result)
    assert "not found" in text and "no-such-call" in text and "404" in text
    assert "Traceback" not in text


async def test_blank_call_id_is_refused_naming_the_field(emu: RunningEmulator, mode: str) -> None:
    async with connect(emu, mode) as client:
        result = await client.call_tool("get_call_details", {"call_id": "   "})
    assert "call_id" in error_text(result)
    assert helper(emu, "GET", "/_emulator/requests")["count"] == 0  # nothing reached the API


# ----- list_calls ---------------------------------------------------------------------------
async def test_list_calls_pages_follow_each_other_with_totals(emu: RunningEmulator, mode: str) -> None:
    async with connect(emu, mode) as client:
        first = structured(await client.call_tool("list_calls", {"limit": 5}))
        second = structured(await client.call_tool("list_calls", {"page": first["next_page"], "limit": 5}))
    assert first["page"] == 1 and first["returned"] == 5 and first["next_page"] == 2 and first["has_next"] is True
    assert second["page"] == 2 and second["next_page"] == 3
    assert first["total"] == 300 and first["total_pages"] == 60
    assert not {c["call_id"] for c in first["calls"]} & {c["call_id"] for c in second["calls"]}
    assert first["transcripts_omitted"] is True and all(
        "transcript" not in c or c["transcript"] is None for c in first["calls"]
    )


async def test_list_calls_sends_status_assistant_and_free_form_filters(emu: RunningEmulator, mode: str) -> None:
    async with connect(emu, mode) as client:
        result = await client.call_tool(
            "list_calls",
            {"status": "completed", "assistant_id": ASSISTANT, "filters": {"campaign": "spring", "urgent": True}},
        )
    data = structured(result)
    assert data["calls"] and all(c["status"] == "completed" and c["assistant_id"] == ASSISTANT for c in data["calls"])
    assert data["filters"] == {"status": "completed", "assistant_id": ASSISTANT, "campaign": "spring", "urgent": "true"}
    query = helper(emu, "GET", "/_emulator/requests")["requests"][-1]["query"]
    assert query["campaign"] == "spring" and query["urgent"] == "true" and query["status"] == "completed"


@pytest.mark.parametrize(
    ("arguments", "field"),
    [({"limit": 101}, "limit"), ({"limit": 0}, "limit"), ({"page": 0}, "page"), ({"max_records": 0}, "max_records")],
)
async def test_list_calls_out_of_range_arguments_are_refused_naming_the_field(
    emu: RunningEmulator, mode: str, arguments: dict[str, int], field: str
) -> None:
    async with connect(emu, mode) as client:
        result = await client.call_tool("list_calls", arguments)
    assert field in error_text(result)


async def test_list_calls_refuses_a_filter_that_shadows_an_argument(emu: RunningEmulator, mode: str) -> None:
    async with connect(emu, mode) as client:
        result = await client.call_tool("list_calls", {"filters": {"limit": 500}})
    assert "filters.limit" in error_text(result)


async def test_list_calls_all_pages_counts_every_call_and_shows_the_rows_that_fit(
    emu: RunningEmulator, mode: str
) -> None:
    async with connect(emu, mode) as client:
        data = structured(await client.call_tool("list_calls", {"all_pages": True}))
    assert data["counted"] == 300 and sum(data["by_status"].values()) == 300 and data["pages_fetched"] == 3
    assert data["max_records_reached"] is False
    assert 0 < data["returned"] < 300 and data["truncated"] is True  # the rest would not fit one result
    assert data["next"] == {"page": 1, "limit": 100, "offset": data["returned"], "all_pages": False}


async def test_list_calls_all_pages_stops_at_max_records_and_says_where_to_go_on(
    emu: RunningEmulator, mode: str
) -> None:
    async with connect(emu, mode) as client:
        data = structured(await client.call_tool("list_calls", {"all_pages": True, "max_records": 30}))
        text = text_of(await client.call_tool("list_calls", {"all_pages": True, "max_records": 30}))
    assert data["returned"] == 30 and data["counted"] == 30 and data["max_records_reached"] is True
    assert data["pages_fetched"] == 1 and data["truncated"] is False
    assert data["next"] == {"page": 1, "limit": 100, "offset": 30, "all_pages": False} and data["next_page"] == 1
    assert "stopped at max_records" in text and "offset=30" in text


async def test_list_calls_rows_are_compact_unless_fields_ask_for_more(emu: RunningEmulator, mode: str) -> None:
    async with connect(emu, mode) as client:
        compact = structured(await client.call_tool("list_calls", {"limit": 5}))
        more = structured(await client.call_tool("list_calls", {"limit": 5, "fields": ["input_variables"]}))
        every = structured(await client.call_tool("list_calls", {"limit": 5, "fields": ["all"]}))
    allowed = set(ROW_FIELDS)
    assert all(set(c) <= allowed and {"call_id", "status", "phone_number"} <= set(c) for c in compact["calls"])
    assert all(set(c) <= allowed | {"input_variables"} and "input_variables" in c for c in more["calls"])
    assert all({"created_at", "telephony_provider", "input_variables"} <= set(c) for c in every["calls"])
    assert every["fields"] == ["all"] and "input_variables" in more["fields"]


async def test_list_calls_offset_continues_inside_a_page(emu: RunningEmulator, mode: str) -> None:
    async with connect(emu, mode) as client:
        whole = structured(await client.call_tool("list_calls", {"limit": 10}))
        rest = structured(await client.call_tool("list_calls", {"limit": 10, "offset": 4}))
    assert [c["call_id"] for c in rest["calls"]] == [c["call_id"] for c in whole["calls"]][4:]
    assert rest["next"] == {"page": 2, "limit": 10, "offset": 0}


# ----- bulk_call_details --------------------------------------------------------------------
async def test_bulk_keeps_request_order_reports_missing_and_removes_duplicates(emu: RunningEmulator, mode: str) -> None:
    ids = [c["call_id"] for c in seeded_calls(emu, 30)]
    asked = [*ids[:10], "missing-1", ids[3], *ids[10:30], "missing-2", ids[0]]
    async with connect(emu, mode) as client:
        data = structured(await client.call_tool("bulk_call_details", {"call_ids": asked}))
    assert [c["call_id"] for c in data["calls"]] == ids
    assert data["missing"] == ["missing-1", "missing-2"] and data["missing_count"] == 2
    assert (data["requested"], data["unique"], data["duplicates_removed"], data["found"]) == (34, 32, 2, 30)
    assert data["covered"] == 32 and data["truncated"] is False and data["next"] is None
    assert sum(data["by_status"].values()) == 30


async def test_bulk_of_250_ids_reports_progress_per_chunk(emu: RunningEmulator, mode: str) -> None:
    ids = [c["call_id"] for c in seeded_calls(emu, 100)]
    ids += [f"unknown-{i}" for i in range(150)]
    seen: list[tuple[float, float | None, str | None]] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        seen.append((progress, total, message))

    async with connect(emu, mode) as client:
        result = await client.call_tool("bulk_call_details", {"call_ids": ids}, progress_callback=on_progress)
    data = structured(result)
    assert data["found"] == 100 and data["missing_count"] == 150
    assert len(seen) == 3  # one per API request of at most 100 ids
    assert [p[1] for p in seen] == [250, 250, 250]
    assert [p[0] for p in seen] == sorted(p[0] for p in seen) and seen[-1][0] == 250
    assert all(p[2] and "of 250" in p[2] for p in seen)


@pytest.mark.parametrize("count", [0, 10_001])
async def test_bulk_with_no_ids_or_too_many_is_refused_naming_the_field(
    emu: RunningEmulator, mode: str, count: int
) -> None:
    async with connect(emu, mode) as client:
        result = await client.call_tool("bulk_call_details", {"call_ids": [f"id-{i}" for i in range(count)]})
    assert "call_ids" in error_text(result)


async def test_bulk_refuses_an_empty_id_naming_it(emu: RunningEmulator, mode: str) -> None:
    async with connect(emu, mode) as client:
        result = await client.call_tool("bulk_call_details", {"call_ids": ["abc", ""]})
    assert "call_ids[1]: must not be empty" in error_text(result)


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


async def test_an_api_server_error_keeps_the_status_and_the_api_detail(emu: RunningEmulator, mode: str) -> None:
    helper(
        emu, "POST", "/_emulator/faults", {"fault": "500", "path": "/api/v1/campaigns/get-call-details", "times": 10}
    )
    async with connect(emu, mode) as client:
        result = await client.call_tool("list_calls", {})
    text = error_text(result)
    assert "HTTP 500" in text and "try again later" in text
    served = [r for r in helper(emu, "GET", "/_emulator/requests")["requests"] if r.get("fault") == "500"]
    assert served  # the fault really came from the API over HTTP


async def test_an_unreachable_api_is_a_clear_error(mode: str) -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    settings = load_settings(base_url=f"http://127.0.0.1:{port}", api_key="k", env="development")
    async with session(create_server(settings), mode) as client:
        result = await client.call_tool("get_call_details", {"call_id": "x"})
    assert "could not reach the Voicing API" in error_text(result)


async def test_list_calls_offset_past_a_short_last_page_ends_without_a_loop(emu: RunningEmulator, mode: str) -> None:
    async with connect(emu, mode) as client:
        last = structured(await client.call_tool("list_calls", {"page": 3, "limit": 100, "offset": 99}))
        past = structured(await client.call_tool("list_calls", {"page": 4, "limit": 100, "offset": 50}))
    assert last["returned"] == 1 and last["next"] is None  # 300 calls: the page's last call, nothing after it
    assert past["returned"] == 0 and past["next"] is None
