"""list_assistants through a real MCP client session (both protocol modes): the templates' variables and opening
lines, broken templates, an empty folder, strict and lenient templates, local mode's examples, and the budget at
500 templates."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from mcp_types import CallToolResult, TextResourceContents

from server_support import ASSISTANT, CLINIC, connect, session, structured, text_of
from voicing_mcp.config import load_settings
from voicing_mcp.emulator.runner import RunningEmulator
from voicing_mcp.server.app import create_server
from voicing_mcp.server.tools.list_assistants import BUDGET

COURTESY = "019addcc-0000-7000-8000-000000000001"


def result_size(result: CallToolResult) -> int:
    """Every content block plus structuredContent, serialised as JSON (the issue's measure)."""
    blocks = [b.model_dump(mode="json", by_alias=True, exclude_none=True) for b in result.content]
    return len(json.dumps(blocks)) + len(json.dumps(result.structured_content))


def server_with(emu: RunningEmulator, folder: Path, **settings: Any) -> Any:
    return create_server(
        load_settings(base_url=emu.base_url, api_key=emu.api_key, env="development", prompts_dir=folder, **settings)
    )


async def test_each_assistant_has_its_variables_and_its_opening_line_with_placeholders_shown(
    emu: RunningEmulator, mode: str
) -> None:
    async with connect(emu, mode) as client:
        tool = next(t for t in (await client.list_tools()).tools if t.name == "list_assistants")
        result = await client.call_tool("list_assistants", {})
    data = structured(result)
    by_id = {a["assistant_id"]: a for a in data["assistants"]}
    assert list(by_id) == sorted(by_id) and data["total"] == 3 and data["next_offset"] is None
    assert by_id[ASSISTANT]["required_variables"] == ["name", "plan_type"]
    assert by_id[ASSISTANT]["opening_line"] == "Hi {{name}}, your {{plan_type}} plan payment is pending."
    # the human names of the shipped examples' first lines ({# name: … #}), beside their ids
    assert [by_id[i]["display_name"] for i in (ASSISTANT, CLINIC, COURTESY)] == [
        "Payment reminder",
        "Appointment reminder",
        "Service line check",
    ]
    clinic = by_id[CLINIC]
    assert clinic["required_variables"] == ["date", "name"] and clinic["optional_variables"] == ["clinic", "time"]
    assert clinic["opening_line"] == (
        "Hi {{name}}, this is a reminder of your appointment on {{date}} at {{time}}. Your clinic is {{clinic}}."
    )
    assert by_id[COURTESY]["required_variables"] == [] and by_id[COURTESY]["error"] is None
    assert data["strict_templates"] is True and "only the assistants listed here" in data["dialling"]
    hints = tool.annotations
    assert hints is not None and hints.read_only_hint is True and hints.idempotent_hint is True
    assert tool.input_schema.get("required", []) == []  # callable with no arguments
    assert "3 assistant template(s)" in text_of(result)


async def test_the_tool_and_the_assistants_resource_read_the_same_rows(emu: RunningEmulator, mode: str) -> None:
    async with connect(emu, mode) as client:
        data = structured(await client.call_tool("list_assistants", {}))
        contents = (await client.read_resource("voicing://assistants")).contents
    assert isinstance(contents[0], TextResourceContents)
    doc = json.loads(contents[0].text)
    from_tool = {a["assistant_id"]: (a["required_variables"], a["opening_line"]) for a in data["assistants"]}
    from_resource = {a["assistant_id"]: (a["required_variables"], a["opening_line"]) for a in doc["assistants"]}
    assert from_tool == from_resource and len(from_tool) == 3


async def test_a_broken_template_is_listed_with_its_error_next_to_the_good_ones(
    emu: RunningEmulator, mode: str, tmp_path: Path
) -> None:
    (tmp_path / "good.j2").write_text("Hello {{ name }}, {{ amount * 2 }} due", encoding="utf-8")
    (tmp_path / "broken.j2").write_text("line one\nHello {{ name", encoding="utf-8")
    async with session(server_with(emu, tmp_path), mode) as client:
        result = await client.call_tool("list_assistants", {})
    data = structured(result)
    broken, good = data["assistants"]
    assert broken["assistant_id"] == "broken" and "line 2" in broken["error"] and broken["opening_line"] is None
    assert good["assistant_id"] == "good" and good["required_variables"] == ["amount", "name"]
    # an expression that cannot take the placeholder text shows the template's own first line
    assert good["opening_line"] == "Hello {{ name }}, {{ amount * 2 }} due"
    assert data["broken"] == 1 and data["only_examples"] is False
    assert "1 broken" in text_of(result) and "voicing-mcp check" in text_of(result)


async def test_an_empty_folder_says_where_templates_go_and_that_strict_mode_refuses_every_dial(
    emu: RunningEmulator, mode: str, tmp_path: Path
) -> None:
    async with session(server_with(emu, tmp_path), mode) as client:
        strict = structured(await client.call_tool("list_assistants", {}))
    async with session(server_with(emu, tmp_path, strict_templates=False), mode) as client:
        lenient = structured(await client.call_tool("list_assistants", {}))
    assert strict["assistants"] == [] and strict["total"] == 0 and strict["only_examples"] is True
    assert str(tmp_path) in strict["next_step"] and "<assistant_id>.j2" in strict["next_step"]
    assert "every dial is refused" in strict["next_step"] and "VOICING_PROMPTS_DIR" in strict["next_step"]
    assert lenient["strict_templates"] is False and "every dial is refused" not in lenient["next_step"]
    assert "dialled with a warning" in lenient["dialling"]


async def test_local_mode_marks_the_shipped_examples_beside_your_own_templates(mode: str, tmp_path: Path) -> None:
    (tmp_path / "mine.j2").write_text("Hi {{ name }}", encoding="utf-8")
    async with session(create_server(load_settings(prompts_dir=tmp_path)), mode) as client:
        data = structured(await client.call_tool("list_assistants", {}))
    examples = {a["assistant_id"]: a["example"] for a in data["assistants"]}
    assert examples == {"mine": False, ASSISTANT: True, CLINIC: True, COURTESY: True}
    assert data["only_examples"] is False and data["prompts_dir"] == str(tmp_path)


async def test_one_assistant_by_id_and_an_unknown_id_says_what_a_dial_would_do(emu: RunningEmulator, mode: str) -> None:
    async with connect(emu, mode) as client:
        one = structured(await client.call_tool("list_assistants", {"assistant_id": ASSISTANT.upper()}))
        unknown = await client.call_tool("list_assistants", {"assistant_id": "nobody"})
    assert [a["assistant_id"] for a in one["assistants"]] == [ASSISTANT]  # any spelling of the UUID
    assert structured(unknown)["total"] == 0
    assert "'nobody' has no template" in text_of(unknown) and "refused" in text_of(unknown)


async def test_500_templates_come_in_pages_within_the_budget_and_next_offset_gets_every_one(
    emu: RunningEmulator, mode: str, tmp_path: Path
) -> None:
    names = [f"variable_with_a_long_descriptive_name_{i:02d}_{'x' * 20}" for i in range(60)]
    (tmp_path / "assistant-000.j2").write_text(" ".join(f"{{{{ {n} }}}}" for n in names), encoding="utf-8")
    for i in range(1, 495):  # a campaign's assistants: a long opening line, a few variables each
        body = " ".join(f"{{{{ customer_field_{k} }}}}" for k in range(6))
        (tmp_path / f"assistant-{i:03d}.j2").write_text(f"Hello {'very ' * 80}long line {body}", encoding="utf-8")
    for i in range(5):
        (tmp_path / f"broken-{i}.j2").write_text(f"{{{{ {'y' * 5000}", encoding="utf-8")
    seen: list[str] = []
    sizes: list[int] = []
    offset: int | None = 0
    first: list[str] = []
    async with session(server_with(emu, tmp_path), mode) as client:
        while offset is not None:
            result = await client.call_tool("list_assistants", {"offset": offset})
            data = structured(result)
            sizes.append(result_size(result))
            seen += [a["assistant_id"] for a in data["assistants"]]
            first = first or data["assistants"][0]["required_variables"]
            if data["next_offset"] is not None:
                assert f"list_assistants(offset={data['next_offset']})" in text_of(result)
            offset = data["next_offset"]
            assert len(sizes) < 60
    assert len(seen) == 500 and len(set(seen)) == 500
    assert max(sizes) <= BUDGET and len(sizes) > 1
    assert first[:50] == sorted(names)[:50] and first[50] == "… 10 more"  # a row is capped too


async def test_an_offset_past_the_end_returns_no_rows_and_no_next_offset(emu: RunningEmulator, mode: str) -> None:
    async with connect(emu, mode) as client:
        result = await client.call_tool("list_assistants", {"offset": 50})
    data = structured(result)
    assert data["assistants"] == [] and data["next_offset"] is None and data["total"] == 3
    assert "past the end" in text_of(result)


async def test_a_page_is_measured_as_sent_so_escaped_quotes_cannot_push_it_over_the_budget(
    emu: RunningEmulator, mode: str, tmp_path: Path
) -> None:
    # each quote is 2 characters in structuredContent and 4 in the JSON text block: more than the page's estimate
    for i in range(60):
        (tmp_path / f"quoted-{i:02d}.j2").write_text('\\"' * 99 + " {{ name }}", encoding="utf-8")
    async with session(server_with(emu, tmp_path), mode) as client:
        first = await client.call_tool("list_assistants", {})
        data = structured(first)
        rest = structured(await client.call_tool("list_assistants", {"offset": data["next_offset"]}))
    assert result_size(first) <= BUDGET and data["returned"] < 60 and data["next_offset"] == data["returned"]
    assert rest["assistants"][0]["assistant_id"] == f"quoted-{data['returned']:02d}"
