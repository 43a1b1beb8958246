"""Resources through a real in-process MCP client session, both protocol modes, and local mode."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from mcp.server.mcpserver.exceptions import ResourceError
from mcp.shared.exceptions import MCPError
from mcp_types import INTERNAL_ERROR, INVALID_PARAMS, TextResourceContents

from server_support import ASSISTANT, CLINIC, connect, helper, seeded_calls, session, structured
from voicing_mcp.config import load_settings
from voicing_mcp.emulator.runner import RunningEmulator
from voicing_mcp.runtime import LOCAL_BANNER
from voicing_mcp.server.app import create_server
from voicing_mcp.server.resources import recent_dials_document


def only_json(contents: list[Any]) -> Any:
    assert len(contents) == 1
    item = contents[0]
    assert isinstance(item, TextResourceContents) and item.mime_type == "application/json"
    return json.loads(item.text)


async def test_resources_and_templates_are_listed_with_descriptions(emu: RunningEmulator, mode: str) -> None:
    async with connect(emu, mode) as client:
        resources = (await client.list_resources()).resources
        templates = (await client.list_resource_templates()).resource_templates
    assert "voicing://assistants" in {str(r.uri) for r in resources}
    assert {t.uri_template for t in templates} >= {"voicing://assistants/{assistant_id}", "voicing://calls/{call_id}"}
    assert all(r.description for r in resources) and all(t.description for t in templates)


async def test_assistants_lists_each_template_with_its_variables(emu: RunningEmulator, mode: str) -> None:
    async with connect(emu, mode) as client:
        doc = only_json((await client.read_resource("voicing://assistants")).contents)
    by_id = {a["assistant_id"]: a for a in doc["assistants"]}
    assert doc["count"] == 3 and doc["problems"] == []
    assert by_id[ASSISTANT]["required_variables"] == ["name", "plan_type"]
    assert by_id[CLINIC]["required_variables"] == ["date", "name"]
    assert by_id[CLINIC]["optional_variables"] == ["clinic", "time"]
    assert by_id[CLINIC]["uri"] == f"voicing://assistants/{CLINIC}"
    assert by_id[CLINIC]["display_name"] == "Appointment reminder"


async def test_one_assistant_gives_its_template_text(emu: RunningEmulator, mode: str) -> None:
    async with connect(emu, mode) as client:
        doc = only_json((await client.read_resource(f"voicing://assistants/{ASSISTANT}")).contents)
    assert doc["template"].startswith("{# name: Payment reminder #}\nHi {{name}}, your {{plan_type}} plan payment")
    assert doc["display_name"] == "Payment reminder"
    assert doc["required_variables"] == ["name", "plan_type"] and doc["optional_variables"] == []


async def test_an_assistant_without_a_template_is_a_not_found_error(emu: RunningEmulator, mode: str) -> None:
    async with connect(emu, mode) as client:
        with pytest.raises(MCPError) as caught:
            await client.read_resource("voicing://assistants/nobody")
    assert caught.value.error.code == INVALID_PARAMS
    assert "'nobody' has no local template" in caught.value.error.message


async def test_a_broken_template_is_reported_with_its_file_and_line(
    emu: RunningEmulator, mode: str, tmp_path: Path
) -> None:
    (tmp_path / "good.j2").write_text("Hello {{ name }}", encoding="utf-8")
    (tmp_path / "broken.j2").write_text("line one\nHello {{ name", encoding="utf-8")
    settings = load_settings(base_url=emu.base_url, api_key=emu.api_key, env="development", prompts_dir=tmp_path)
    async with session(create_server(settings), mode) as client:
        doc = only_json((await client.read_resource("voicing://assistants")).contents)
        with pytest.raises(MCPError) as caught:
            await client.read_resource("voicing://assistants/broken")
    assert [a["assistant_id"] for a in doc["assistants"]] == ["good"]
    assert doc["problems"][0]["file"] == "broken.j2" and doc["problems"][0]["line"] == 2
    assert caught.value.error.code == INTERNAL_ERROR and "broken.j2" in caught.value.error.message


async def test_a_call_resource_gives_the_call_details(emu: RunningEmulator, mode: str) -> None:
    call = seeded_calls(emu, 5)[0]
    async with connect(emu, mode) as client:
        doc = only_json((await client.read_resource(f"voicing://calls/{call['call_id']}")).contents)
        tool = structured(await client.call_tool("get_call_details", {"call_id": call["call_id"]}))
    assert doc == tool


async def test_an_unknown_call_resource_is_a_not_found_error(emu: RunningEmulator, mode: str) -> None:
    async with connect(emu, mode) as client:
        with pytest.raises(MCPError) as caught:
            await client.read_resource("voicing://calls/no-such-call")
    assert caught.value.error.code == INVALID_PARAMS
    assert "'no-such-call' not found" in caught.value.error.message


async def test_an_oversized_call_id_in_a_resource_is_refused_before_the_api_is_asked(
    emu: RunningEmulator, mode: str
) -> None:
    helper(emu, "POST", "/_emulator/reset")
    async with connect(emu, mode) as client:
        with pytest.raises(MCPError) as caught:
            await client.read_resource("voicing://calls/" + "x" * 5000)
    assert caught.value.error.code == INVALID_PARAMS
    assert "5000 characters is not valid" in caught.value.error.message
    assert len(caught.value.error.message) < 300
    logged = helper(emu, "GET", "/_emulator/requests")["requests"]
    assert not [r for r in logged if "x" * 300 in str(r.get("query"))]


async def test_local_mode_runs_the_emulator_in_process_and_says_no_phone_will_ring(
    mode: str, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = load_settings()
    assert settings.is_local
    async with session(create_server(settings), mode) as client:
        page = structured(await client.call_tool("list_calls", {"limit": 1}))
    assert page["total"] == 300  # the emulator's seeded history
    err = capsys.readouterr().err
    assert LOCAL_BANNER in err and "http://127.0.0.1:" in err


async def test_the_ledger_resource_says_the_ledger_cannot_be_created_instead_of_showing_no_dials(
    tmp_path: Path,
) -> None:
    """A ledger under a file refuses every dial with [ledger]; the resource must not read as 'no dials yet'
    (found by a hostile review)."""
    (tmp_path / "afile").write_text("not a folder", encoding="utf-8")
    path = tmp_path / "afile" / "sub" / "ledger.sqlite3"
    with pytest.raises(ResourceError, match=r"cannot be created: .*afile is a file, not a folder"):
        await recent_dials_document(path)
    # a ledger that simply does not exist yet is an empty list, as before
    empty = json.loads(await recent_dials_document(tmp_path / "fresh" / "ledger.sqlite3"))
    assert empty["count"] == 0 and empty["dials"] == []


async def test_the_api_key_sent_back_in_a_resource_uri_is_not_quoted_in_the_error(emu: RunningEmulator) -> None:
    key = "sk-live-" + "Rs4" * 15 + "ZZ"
    server = create_server(load_settings(base_url=emu.base_url, api_key=key, env="development"))
    texts: list[str] = []
    async with session(server, "legacy") as client:
        for uri in (f"voicing://calls/{key}", f"voicing://assistants/{key}", f"voicing://reports/{key}"):
            with pytest.raises(MCPError) as caught:
                await client.read_resource(uri)
            texts.append(str(caught.value))
    for text in texts:
        assert "Rs4Rs4" not in text, text
