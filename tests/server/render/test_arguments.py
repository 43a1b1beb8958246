"""Argument errors as the model reads them, through real in-process MCP client sessions against the emulator
served over loopback HTTP: one line per bad argument (what was expected, what came), unknown arguments named,
no pydantic report; ``list_calls``'s status checked before any request; and the registration wrapper that turns
any tool's product errors into the text the model reads, without the API key."""

from __future__ import annotations

from typing import Any

import pytest
from mcp_types import CallToolResult
from pydantic import BaseModel, ValidationError

from server_support import ASSISTANT, connect, helper, session, settings_for, text_of
from voicing_mcp.config import load_settings
from voicing_mcp.emulator.runner import RunningEmulator
from voicing_mcp.errors import NotFoundError
from voicing_mcp.server.app import create_server
from voicing_mcp.server.render.arguments import MAX_LINES, MAX_SHOWN, argument_problems, shown, unknown_arguments

KEY = "sk-live-Arg9/+k=ey%42"
PYDANTIC_WORDS = ("pydantic", "validation error for", "type=", "input_value", "Input should", "Arguments\n")

#: one bad call per tool, and the one line it must get. A tool registered later needs its row here (checked below).
BAD_CALLS: dict[str, tuple[dict[str, Any], str]] = {
    "list_calls": ({"limit": 500}, "limit: at most 100 (got 500)"),
    "get_call_details": ({}, "call_id: required"),
    "bulk_call_details": ({"call_ids": ["abc", ""]}, "call_ids[1]: must not be empty (got '')"),
    "reconcile_calls": ({"call_ids": ["abc"], "expected_status": 3}, "expected_status: must be a string (got 3)"),
    "chat_with_assistant": ({"assistant_id": ASSISTANT, "message": ""}, "message: must not be empty (got '')"),
    "list_assistants": ({"offset": -1}, "offset: at least 0 (got -1)"),
    "initiate_outbound_call": (
        {"assistant_id": ASSISTANT, "phone_number": "+17015550123", "input_variables": "name=Ann"},
        "input_variables: must be an object (got a string)",
    ),
    "prepare_campaign": (
        {"assistant_id": ASSISTANT, "recipients": [{"phone_number": "+17015550123"}], "max_attempts": 5},
        "max_attempts: at most 3 (got 5)",
    ),
    "campaign_status": ({}, "campaign_id: required"),
    "control_campaign": (
        {"campaign_id": "cmp_0123456789abcdef", "action": "stop"},
        "action: must be 'pause', 'resume', 'cancel', 'start' or 'open_dashboard' (got 'stop')",
    ),
    "list_campaigns": ({"offset": -1}, "offset: at least 0 (got -1)"),
}


def error_text(result: CallToolResult) -> str:
    assert result.is_error, "expected a tool error"
    return text_of(result)


def requests_to_the_api(emu: RunningEmulator) -> list[dict[str, Any]]:
    return [r for r in helper(emu, "GET", "/_emulator/requests")["requests"] if "/api/" in str(r.get("path", ""))]


# ----- through a client session ------------------------------------------------------------------
async def test_a_bad_argument_of_every_tool_gets_one_line_saying_what_was_expected_and_what_came(
    emu: RunningEmulator, mode: str
) -> None:
    async with connect(emu, mode) as client:
        names = {t.name for t in (await client.list_tools()).tools}
        texts = {name: error_text(await client.call_tool(name, args)) for name, (args, _) in BAD_CALLS.items()}
    assert names == set(BAD_CALLS), "every tool has a bad call in BAD_CALLS"
    for name, (_, line) in BAD_CALLS.items():
        assert texts[name] == f"Error executing tool {name}: {line}", texts[name]
        assert "\n" not in texts[name] and not any(w in texts[name] for w in PYDANTIC_WORDS), texts[name]
    assert requests_to_the_api(emu) == []
    assert helper(emu, "GET", "/_emulator/dials")["count"] == 0


async def test_an_argument_no_tool_takes_is_named_for_every_tool_and_nothing_runs(
    emu: RunningEmulator, mode: str
) -> None:
    async with connect(emu, mode) as client:
        tools = (await client.list_tools()).tools
        texts = {t.name: error_text(await client.call_tool(t.name, {"zz_no_such_thing": 1})) for t in tools}
    for name, text in texts.items():
        assert text.startswith(f"Error executing tool {name}: zz_no_such_thing: not an argument of {name}; "), text
    assert requests_to_the_api(emu) == []


async def test_a_misspelt_argument_gets_a_did_you_mean_instead_of_being_dropped(emu: RunningEmulator) -> None:
    async with connect(emu, "legacy") as client:
        misspelt = error_text(await client.call_tool("list_calls", {"statuss": "busy"}))
        singular = error_text(await client.call_tool("bulk_call_details", {"call_id": ["abc"]}))
    assert misspelt == "Error executing tool list_calls: statuss: not an argument of list_calls; did you mean status?"
    assert singular.endswith("call_id: not an argument of bulk_call_details; did you mean call_ids?")
    assert requests_to_the_api(emu) == []  # a dropped `statuss` would have listed every call


async def test_several_bad_arguments_get_a_line_each(emu: RunningEmulator) -> None:
    async with connect(emu, "legacy") as client:
        text = error_text(
            await client.call_tool("initiate_outbound_call", {"assistant_id": ASSISTANT, "wait_seconds": "soon"})
        )
    assert text.splitlines() == [
        "Error executing tool initiate_outbound_call: arguments to correct (nothing was run):",
        "phone_number: required",
        "wait_seconds: must be a whole number (got a string)",
    ]
    assert helper(emu, "GET", "/_emulator/dials")["count"] == 0


async def test_a_value_of_a_union_is_one_line_naming_every_kind_it_may_be(emu: RunningEmulator) -> None:
    async with connect(emu, "legacy") as client:
        text = error_text(await client.call_tool("list_calls", {"filters": {"campaign": {"name": "spring"}}}))
    assert text == (
        "Error executing tool list_calls: filters['campaign']: must be a string, a number or true or false "
        "(got an object)"
    )


async def test_long_values_are_shown_by_their_length_and_ten_thousand_bad_ids_by_a_count(
    emu: RunningEmulator,
) -> None:
    async with connect(emu, "legacy") as client:
        long_id = error_text(await client.call_tool("get_call_details", {"call_id": "x" * 5_000}))
        many = error_text(await client.call_tool("bulk_call_details", {"call_ids": [""] * 10_000}))
    assert long_id == "Error executing tool get_call_details: call_id: at most 256 characters (got 5,000 characters)"
    lines = many.splitlines()
    assert len(lines) == 1 + MAX_LINES and lines[-1] == "… and 9,991 more like these", lines[-3:]
    assert len(many) < 1_000


async def test_list_calls_refuses_a_misspelt_status_with_a_did_you_mean_before_any_request(
    emu: RunningEmulator, mode: str
) -> None:
    async with connect(emu, mode) as client:
        bussy = error_text(await client.call_tool("list_calls", {"status": "bussy"}))
        in_filters = error_text(await client.call_tool("list_calls", {"filters": {"status": "complete"}}))
    assert bussy.startswith(
        "Error executing tool list_calls: status: 'bussy' is not a call status the Voicing API reports; "
        "did you mean 'busy'? use one of: queued,"
    ), bussy
    assert "filters.status: 'complete' is not a call status" in in_filters and "'completed'" in in_filters
    assert requests_to_the_api(emu) == []  # not the API's HTTP 422: nothing was sent


async def test_list_calls_sends_a_known_status_as_the_api_spells_it(emu: RunningEmulator) -> None:
    async with connect(emu, "legacy") as client:
        result = await client.call_tool("list_calls", {"status": "No Answer"})
    assert not result.is_error, text_of(result)
    sent = requests_to_the_api(emu)
    assert len(sent) == 1 and sent[0]["query"]["status"] == "no-answer", sent


async def test_the_api_key_sent_back_as_an_argument_name_or_key_never_reaches_the_model(
    emu: RunningEmulator,
) -> None:
    server = create_server(settings_for(emu, api_key=KEY))
    async with session(server, "legacy") as client:
        as_name = error_text(await client.call_tool("list_calls", {KEY: 1}))
        as_key = error_text(await client.call_tool("list_calls", {"filters": {KEY: {"x": 1}}}))
    for text in (as_name, as_key):
        assert KEY not in text and "Arg9" not in text, text


#: a key longer than MAX_SHOWN: a line that cuts a value at MAX_SHOWN characters must remove the key first, or the
#: cut key (its first 39 characters) is no longer found and reaches the model
LONG_KEY = "sk-live-" + "Lk7" * 15 + "ZZ"


async def test_a_key_longer_than_a_shown_value_is_not_shown_cut_in_an_argument_error(emu: RunningEmulator) -> None:
    assert len(LONG_KEY) > MAX_SHOWN
    server = create_server(settings_for(emu, api_key=LONG_KEY))
    async with session(server, "legacy") as client:
        texts = [
            error_text(await client.call_tool("list_calls", {LONG_KEY: 1})),
            error_text(await client.call_tool("list_calls", {"filters": {LONG_KEY: {"x": 1}}})),
            error_text(await client.call_tool("initiate_outbound_call", {LONG_KEY: 1})),
        ]
    for text in texts:
        assert "Lk7Lk7" not in text and "[redacted]" in text, text


async def test_a_refusal_raised_before_the_dial_tool_body_does_not_quote_the_key(emu: RunningEmulator) -> None:
    """The dial's first checks run in its resolver, before the tool body and its registration wrapper: a
    refusal that quotes the phone number (the key, sent as one) still reaches the model without it."""
    server = create_server(settings_for(emu, api_key=LONG_KEY))
    async with session(server, "legacy") as client:
        as_number = error_text(
            await client.call_tool("initiate_outbound_call", {"assistant_id": ASSISTANT, "phone_number": LONG_KEY})
        )
        as_assistant = error_text(
            await client.call_tool("initiate_outbound_call", {"assistant_id": LONG_KEY, "phone_number": "+17018112582"})
        )
    for text in (as_number, as_assistant):
        assert "refused by the dial guard" in text and "Lk7Lk7" not in text, text
    assert helper(emu, "GET", "/_emulator/dials")["count"] == 0


# ----- the wrapper every tool is registered through ----------------------------------------------
async def test_a_tool_added_later_has_its_product_errors_written_for_the_model_without_the_key() -> None:
    """A tool registered after create_server (as the campaign tools will be) passes the same wrapper: a
    VoicingError becomes describe's sentence (not the SDK's bare 'Error executing tool'), a ToolError that
    quotes the key loses it, and a crash stays a crash."""
    server = create_server(load_settings(env="local", api_key=KEY))

    async def campaign_lookup(campaign_id: str) -> str:
        """Look up a campaign (test tool)."""
        if campaign_id == "missing":
            raise NotFoundError("HTTP 404", status_code=404, detail=f"no campaign {campaign_id} for key {KEY}")
        if campaign_id == "crash":
            raise RuntimeError("internal state")
        return "found"

    server.add_tool(campaign_lookup)
    async with session(server, "legacy") as client:
        missing = error_text(await client.call_tool("campaign_lookup", {"campaign_id": "missing"}))
        crash = error_text(await client.call_tool("campaign_lookup", {"campaign_id": "crash"}))
        typo = error_text(await client.call_tool("campaign_lookup", {"campaign": "x"}))
        found = await client.call_tool("campaign_lookup", {"campaign_id": "c1"})
    assert missing.startswith("Error executing tool campaign_lookup: the requested item not found (HTTP 404: ")
    assert KEY not in missing and "Arg9" not in missing, missing
    assert crash == "Error executing tool campaign_lookup"
    assert typo.endswith("campaign: not an argument of campaign_lookup; did you mean campaign_id?")
    assert text_of(found) == "found"


# ----- the words, without MCP --------------------------------------------------------------------
class _Sample(BaseModel):
    limit: int = 20
    name: str
    tags: list[str] = []


def _problems(data: dict[str, Any]) -> list[str]:
    with pytest.raises(ValidationError) as info:
        _Sample.model_validate(data)
    return argument_problems(info.value, data)


def test_a_type_error_names_the_kind_that_came_never_the_string_itself() -> None:
    assert _problems({"name": "x", "limit": "ten"}) == ["limit: must be a whole number (got a string)"]
    assert _problems({"name": None}) == ["name: must be a string (got null)"]
    assert _problems({"name": "x", "tags": ["ok", 7]}) == ["tags[1]: must be a string (got 7)"]


def test_shown_values_are_cut_made_visible_and_huge_integers_counted() -> None:
    assert shown("a" * 100) == repr("a" * (MAX_SHOWN - 1) + "…")
    assert shown("line\nbreak\u202e") not in {"'line\nbreak\u202e'"} and "\n" not in shown("line\nbreak")
    assert shown(10**5_000) == "an integer of about 5,001 digits"  # str() of it would raise
    assert (shown(True), shown(None), shown({"a": 1}), shown([1, 2])) == ("true", "null", "an object", "a list of 2")


def test_unknown_names_get_the_name_they_most_likely_meant_or_the_list() -> None:
    known = ["page", "limit", "status"]
    assert unknown_arguments(["limit", "limt"], known, tool="t") == ["limt: not an argument of t; did you mean limit?"]
    assert unknown_arguments(["zzz"], known, tool="t") == [
        "zzz: not an argument of t; its arguments are: page, limit, status"
    ]
    assert unknown_arguments(["page"], known, tool="t") == []


def test_a_thousand_unknown_names_are_named_up_to_the_cap_and_counted() -> None:
    lines = unknown_arguments([f"x{i}" for i in range(1_000)], ["page"], tool="t")
    assert len(lines) == MAX_LINES and lines[-1] == "… and 991 more like these"
