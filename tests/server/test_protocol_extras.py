"""The generic protocol methods added by ``server/protocol_extras.py``: completion, logging level and
resource subscriptions — through a real client session against a server pointed at a real emulator."""

from __future__ import annotations

from pathlib import Path

import pytest
from mcp.shared.exceptions import MCPDeprecationWarning
from mcp_types import PromptReference, ResourceTemplateReference

from server_support import ASSISTANT, CLINIC, connect, seeded_calls, session
from voicing_mcp.config import load_settings
from voicing_mcp.emulator.runner import RunningEmulator
from voicing_mcp.server.app import create_server
from voicing_mcp.server.protocol_extras import ASSISTANT_TEMPLATE, MAX_COMPLETIONS


async def test_the_extras_are_advertised_in_the_handshake_capabilities(emu: RunningEmulator) -> None:
    async with connect(emu, "legacy") as client:
        caps = client.session.server_capabilities
    assert caps is not None
    assert caps.completions is not None
    assert caps.logging is not None
    assert caps.resources is not None and caps.resources.subscribe is True


async def test_assistant_ids_complete_from_the_local_templates(emu: RunningEmulator) -> None:
    ref = ResourceTemplateReference(uri="voicing://assistants/{assistant_id}")
    async with connect(emu, "legacy") as client:
        everything = await client.complete(ref, {"name": "assistant_id", "value": ""})
        narrowed = await client.complete(ref, {"name": "assistant_id", "value": "019addcc-b8"})
        nothing = await client.complete(ref, {"name": "assistant_id", "value": "zzz"})
    assert ASSISTANT in everything.completion.values and CLINIC in everything.completion.values
    assert narrowed.completion.values == [ASSISTANT]
    assert nothing.completion.values == [] and nothing.completion.has_more is False


async def test_call_ids_complete_from_the_newest_calls_the_api_lists(emu: RunningEmulator) -> None:
    newest = seeded_calls(emu, 100)
    prefix = newest[0]["call_id"][:6]
    expected = [c["call_id"] for c in newest if c["call_id"].startswith(prefix)]
    async with connect(emu, "legacy") as client:
        result = await client.complete(
            ResourceTemplateReference(uri="voicing://calls/{call_id}"), {"name": "call_id", "value": prefix}
        )
    assert result.completion.values == expected
    assert newest[0]["call_id"] in result.completion.values


async def test_an_unknown_prompt_or_argument_completes_to_nothing(emu: RunningEmulator) -> None:
    async with connect(emu, "legacy") as client:
        prompt = await client.complete(PromptReference(name="test_prompt_with_arguments"), {"name": "a", "value": "x"})
        other = await client.complete(
            ResourceTemplateReference(uri="voicing://assistants/{assistant_id}"), {"name": "other", "value": ""}
        )
    assert prompt.completion.values == [] and other.completion.values == []


async def test_logging_set_level_and_subscriptions_are_accepted(emu: RunningEmulator) -> None:
    uri = "voicing://calls/some-call"
    async with connect(emu, "legacy") as client:
        # the client SDK marks these handshake-era methods deprecated as of 2026-07-28; servers still serve them
        with pytest.warns(MCPDeprecationWarning):
            assert (await client.set_logging_level("warning")).model_dump(exclude_none=True) == {}
            assert (await client.subscribe_resource(uri)).model_dump(exclude_none=True) == {}
            assert (await client.unsubscribe_resource(uri)).model_dump(exclude_none=True) == {}
        # the connection stays usable afterwards
        assert (await client.list_tools()).tools


async def test_completion_answers_at_most_the_protocols_hundred_values_and_says_there_are_more(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ids = [f"019addcc-0000-7000-8000-{i:012d}" for i in range(MAX_COMPLETIONS + 50)]
    for assistant_id in ids:
        (tmp_path / f"{assistant_id}.j2").write_text("Hi {{ name }}, this is a reminder.\n", encoding="utf-8")
    monkeypatch.setenv("VOICING_PROMPTS_DIR", str(tmp_path))
    ref = ResourceTemplateReference(uri=ASSISTANT_TEMPLATE)
    async with session(create_server(load_settings()), "legacy") as client:
        result = await client.complete(ref, {"name": "assistant_id", "value": "019addcc-0000"})
    assert len(result.completion.values) == MAX_COMPLETIONS and set(result.completion.values) <= set(ids)
    assert result.completion.total == len(ids) and result.completion.has_more is True
