"""initiate_outbound_call end to end: real MCP client sessions (both protocol modes) against the emulator
served over loopback HTTP. Every refusal is checked against the emulator's own dial counter."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import sys
from collections.abc import AsyncGenerator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from mcp import Client
from mcp.client.session import ClientRequestContext
from mcp_types import CallToolResult, ElicitRequestParams, ElicitResult, TextResourceContents
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response

from guard_support import check
from server_support import (
    CLINIC,
    DAY,
    DIAL_PATH,
    MODE,
    NIGHT,
    NUMBER,
    PAYMENT,
    VARS,
    Clock,
    Human,
    call,
    confirm_with_token,
    dial_client,
    dials,
    helper,
    ledger_cli,
    ledger_rows,
    loopback_proxy,
    refusal,
    structured,
    text_of,
)
from tests.server.test_stdio import RawSession, clean_env
from voicing_mcp.api.client import VoicingClient
from voicing_mcp.api.models import OutboundCallRequest, OutboundCallResponse
from voicing_mcp.config import PACKAGE_PROMPTS_DIR, load_settings
from voicing_mcp.emulator.runner import RunningEmulator
from voicing_mcp.guard.ledger import Ledger
from voicing_mcp.guard.policy import DialGuard
from voicing_mcp.guard.request import DialRequest
from voicing_mcp.guard.templates import TemplateStore
from voicing_mcp.server.app import create_server
from voicing_mcp.server.resources import recent_dials_document
from voicing_mcp.server.tools.initiate_outbound_call import ConfirmCall


# ----- the tool's shape --------------------------------------------------------------------------
async def test_the_tool_is_destructive_open_world_not_idempotent_and_tells_the_model_to_ask(
    emu: RunningEmulator, tmp_path: Path, mode: str
) -> None:
    async with dial_client(emu, tmp_path, mode) as client:
        tool = next(t for t in (await client.list_tools()).tools if t.name == "initiate_outbound_call")
    assert tool.annotations is not None
    assert tool.annotations.destructive_hint is True and tool.annotations.open_world_hint is True
    assert tool.annotations.idempotent_hint is False and tool.annotations.read_only_hint is False
    assert tool.description is not None and "SHOW THE PREVIEW TO THE USER" in tool.description
    props = tool.input_schema["properties"]
    assert set(props) == {
        "assistant_id",
        "phone_number",
        "input_variables",
        "telephony_provider",
        "confirmation_token",
        "wait_seconds",
    }
    assert "confirmation" not in props  # filled by the resolver, never by the model
    assert props["input_variables"]["default"] == {} and props["telephony_provider"]["default"] == "default"
    assert props["wait_seconds"]["maximum"] == 120
    assert tool.output_schema is not None and "status" in tool.output_schema["properties"]


# ----- confirmation by elicitation --------------------------------------------------------------
async def test_an_accepted_elicitation_dials_once_with_the_documented_body(
    emu: RunningEmulator, tmp_path: Path, mode: str
) -> None:
    human = Human("accept")
    async with dial_client(emu, tmp_path, mode, human=human) as client:
        result = structured(await call(client, phone_number="+1 (701) 811-2582"))
        rows = await ledger_rows(client)
    assert result["status"] == "started" and result["confirmed_by"] == "elicitation"
    assert dials(emu) == 1
    assert len(human.questions) == 1
    question = human.questions[0]
    assert "A real phone will ring" in question
    assert "+1 701-811-2582" in question and "United States" in question
    assert 'Opening line: "Hi Ann, your Gold plan payment is pending."' in question
    assert "Callee's local time:" in question
    posts = [r for r in helper(emu, "GET", "/_emulator/requests")["requests"] if r["path"] == DIAL_PATH]
    assert [p["json"] for p in posts] == [
        {"assistant_id": PAYMENT, "phone_number": NUMBER, "input_variables": VARS, "telephony_provider": "default"}
    ]
    assert result["request"] == posts[0]["json"]
    assert rows[0]["status"] == "started" and rows[0]["call_id"] == result["call_id"]
    assert rows[0]["confirmation"] == "elicitation" and rows[0]["phone_masked"] == "+1 701 ••• ••82"


class SlowHuman(Human):
    """Takes a few minutes to read the preview before accepting."""

    def __init__(self, clock: Clock, minutes: int) -> None:
        super().__init__("accept")
        self.clock = clock
        self.minutes = minutes

    async def __call__(self, context: ClientRequestContext, params: ElicitRequestParams) -> ElicitResult:
        self.clock.now += timedelta(minutes=self.minutes)
        return await super().__call__(context, params)


async def test_a_human_who_reads_the_preview_for_minutes_is_asked_once(
    emu: RunningEmulator, tmp_path: Path, mode: str
) -> None:
    clock = Clock(DAY + timedelta(seconds=30))
    human = SlowHuman(clock, minutes=3)
    async with dial_client(emu, tmp_path, mode, human=human, clock=clock) as client:
        result = structured(await call(client))
    assert result["status"] == "started"
    assert len(human.questions) == 1
    assert "Callee's local time: about Mon 10:00" in human.questions[0]
    # the structured preview keeps the exact minute
    assert "10:03" in result["preview"]["callee_local_time"]
    assert dials(emu) == 1


async def test_in_local_mode_at_night_a_human_who_reads_for_minutes_is_asked_once(tmp_path: Path) -> None:
    """The quiet-hours warning (local mode) is part of the question; with the minute in it, the 2026-07-28
    protocol discarded every answer as 'the question changed' until the client gave up."""

    settings = load_settings(ledger=tmp_path / "ledger.sqlite3")  # local mode, default quiet hours 21:00-08:00
    assert settings.is_local
    clock = Clock(datetime(2026, 5, 5, 3, 0, 30, tzinfo=UTC))  # 21:00 in Denver, 22:00 in Chicago
    server = create_server(settings, clock=clock)
    human = SlowHuman(clock, minutes=3)
    async with Client(server, mode="2026-07-28", elicitation_callback=human) as client:
        result = structured(await call(client, phone_number="+1 701 555 0123"))
    assert result["status"] == "started" and result["confirmed_by"] == "elicitation"
    assert len(human.questions) == 1
    assert "quiet hours" in human.questions[0] and "not enforced" in human.questions[0]


@pytest.mark.parametrize("action", ["decline", "cancel"])
async def test_declining_or_cancelling_the_question_is_a_declined_result_not_an_error(
    emu: RunningEmulator, tmp_path: Path, mode: str, action: str
) -> None:
    human = Human(action)
    async with dial_client(emu, tmp_path, mode, human=human) as client:
        result = await call(client)
        rows = await ledger_rows(client)
    data = structured(result)  # not isError: nothing went wrong, the human said no
    assert data["status"] == "declined" and data["call_id"] is None
    done = {"decline": "declined", "cancel": "cancelled"}[action]
    assert f"The user {done} the call when asked: nothing was dialled." in data["next_step"]
    assert text_of(result).startswith("DECLINED — nothing was dialled.")
    assert len(human.questions) == 1
    assert dials(emu) == 0 and rows == []


async def test_accepting_without_ticking_the_box_dials_nothing(emu: RunningEmulator, tmp_path: Path, mode: str) -> None:
    async with dial_client(emu, tmp_path, mode, human=Human("accept", confirm=False)) as client:
        result = await call(client)
    assert result.is_error and "nothing was dialled" in text_of(result)
    assert dials(emu) == 0


class FormAnswer:
    """An elicitation callback that accepts with the given form content (as a sloppy client might)."""

    def __init__(self, content: dict[str, Any]) -> None:
        self.content = content

    async def __call__(self, context: ClientRequestContext, params: ElicitRequestParams) -> ElicitResult:
        return ElicitResult(action="accept", content=self.content)


@pytest.mark.parametrize("mode", ["legacy", "2026-07-28"])
@pytest.mark.parametrize("content", [{"confirm": "yes"}, {"confirm": 1}, {"confirm": "on"}, {}])
async def test_only_a_real_tick_confirms_a_call(
    emu: RunningEmulator, tmp_path: Path, mode: str, content: dict[str, Any]
) -> None:
    async with dial_client(emu, tmp_path, mode, human=FormAnswer(content)) as client:  # pyright: ignore[reportArgumentType]
        result = await call(client)
    text = text_of(result)
    assert result.is_error, text
    assert "nothing was dialled" in text or "does not match the requested schema" in text, text
    assert dials(emu) == 0


class OddHuman(Human):
    """A client whose form accepts with content that does not fit the schema."""

    def __init__(self, content: dict[str, Any]) -> None:
        super().__init__("accept")
        self.content = content

    async def __call__(self, context: ClientRequestContext, params: ElicitRequestParams) -> ElicitResult:
        self.questions.append(params.message)
        return ElicitResult(action="accept", content=self.content)


@pytest.mark.parametrize("content", [{"confirm": "yes"}, {}, {"other": 1}, {"confirm": 1}])
async def test_an_accepted_answer_that_does_not_fit_the_form_says_so_without_internal_names(
    emu: RunningEmulator, tmp_path: Path, mode: str, content: dict[str, Any]
) -> None:
    async with dial_client(emu, tmp_path, mode, human=OddHuman(content)) as client:
        result = await call(client)
    text = text_of(result)
    assert result.is_error
    assert "the user's answer did not tick 'Place this call now?'" in text and "nothing was dialled" in text
    assert "Resolver" not in text and "confirm_with_human" not in text and "schema" not in text
    assert dials(emu) == 0


async def test_a_refused_call_never_reaches_the_human(emu: RunningEmulator, tmp_path: Path, mode: str) -> None:
    human = Human("accept")
    async with dial_client(emu, tmp_path, mode, human=human) as client:
        refusal(await call(client, phone_number="911"), "emergency-number")
    assert human.questions == [] and dials(emu) == 0


# ----- confirmation by token ---------------------------------------------------------------------
async def test_without_elicitation_a_token_is_issued_and_confirms_the_call(
    emu: RunningEmulator, tmp_path: Path, mode: str
) -> None:
    async with dial_client(emu, tmp_path, mode) as client:
        first = structured(await call(client))
        assert dials(emu) == 0
        assert first["status"] == "confirmation_required"
        assert "CONFIRMATION REQUIRED" in text_of(await call(client, phone_number="+17018112583"))
        preview = first["preview"]
        assert preview["phone_number"] == NUMBER and preview["country"] == "United States (US)"
        assert preview["opening_line"] == "Hi Ann, your Gold plan payment is pending."
        assert preview["local_mode"] is False
        assert first["expires_at"].endswith("Z") and "ask" in first["next_step"]
        second = structured(await call(client, confirmation_token=first["confirmation_token"]))
    assert second["status"] == "started" and second["confirmed_by"] == "token"
    assert dials(emu) == 1


async def test_a_replayed_token_dials_once(
    emu: RunningEmulator, tmp_path: Path, mode: str, ledger_setting: str
) -> None:
    async with dial_client(emu, tmp_path, mode, ledger=ledger_setting) as client:
        token = structured(await call(client))["confirmation_token"]
        assert structured(await call(client, confirmation_token=token))["status"] == "started"
        # the guard's duplicate rule already stops the same request; the token is spent as well
        assert (await call(client, confirmation_token=token)).is_error
    assert dials(emu) == 1


async def test_a_token_is_spent_even_when_its_dial_fails(
    emu: RunningEmulator, tmp_path: Path, mode: str, ledger_setting: str
) -> None:
    helper(emu, "POST", "/_emulator/faults", {"fault": "500", "path": DIAL_PATH, "times": 1})
    async with dial_client(emu, tmp_path, mode, ledger=ledger_setting) as client:
        token = structured(await call(client))["confirmation_token"]
        failed = await call(client, confirmation_token=token)
        assert failed.is_error and "500" in text_of(failed)
        # a failed dial is no duplicate, so only the spent nonce stops the replay
        text = refusal(await call(client, confirmation_token=token), "token-replayed")
        assert "already used" in text
        assert structured(await confirm_with_token(client))["status"] == "started"
    assert dials(emu) == 1


async def test_an_expired_token_is_refused(emu: RunningEmulator, tmp_path: Path, mode: str) -> None:
    clock = Clock()
    async with dial_client(emu, tmp_path, mode, clock=clock) as client:
        token = structured(await call(client))["confirmation_token"]
        clock.now += timedelta(minutes=5)
        refusal(await call(client, confirmation_token=token), "token-expired")
        clock.now -= timedelta(seconds=1)  # back inside the window: still valid, and unspent
        assert structured(await call(client, confirmation_token=token))["status"] == "started"
    assert dials(emu) == 1


async def test_a_forged_or_altered_token_is_refused(emu: RunningEmulator, tmp_path: Path, mode: str) -> None:
    async with dial_client(emu, tmp_path, mode) as client:
        token = structured(await call(client))["confirmation_token"]
        version, body, signature = token.split(".")
        refusal(await call(client, confirmation_token=f"{version}.{body}.{signature[:-3]}AAA"), "token-invalid")
        refusal(await call(client, confirmation_token="v1.e30.AAAA"), "token-invalid")
        refusal(await call(client, confirmation_token="please just dial"), "token-invalid")
    assert dials(emu) == 0


async def test_a_token_from_another_server_is_refused(emu: RunningEmulator, tmp_path: Path, mode: str) -> None:
    async with dial_client(emu, tmp_path / "a", mode) as client:
        token = structured(await call(client))["confirmation_token"]
    async with dial_client(emu, tmp_path / "b", mode) as client:
        refusal(await call(client, confirmation_token=token), "token-invalid")
    assert dials(emu) == 0


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"phone_number": "+17018112583"}, "phone_number"),
        ({"assistant_id": CLINIC}, "assistant_id"),
        ({"input_variables": {**VARS, "name": "Bob"}}, "input_variables"),
        ({"telephony_provider": "twilio"}, "telephony_provider"),
    ],
)
async def test_a_token_used_with_a_changed_request_is_refused_naming_the_change(
    emu: RunningEmulator, tmp_path: Path, mode: str, change: dict[str, Any], field: str
) -> None:
    both = {**VARS, "date": "May 3"}  # valid for both assistants, so only the named field differs
    async with dial_client(emu, tmp_path, mode) as client:
        token = structured(await call(client, input_variables=both))["confirmation_token"]
        changed = {"input_variables": both, **change}
        text = refusal(await call(client, confirmation_token=token, **changed), "token-mismatch")
        assert f"({field} changed)" in text
    assert dials(emu) == 0


async def test_ten_concurrent_uses_of_one_token_dial_exactly_once(
    emu: RunningEmulator, tmp_path: Path, mode: str, ledger_setting: str
) -> None:
    results: list[CallToolResult] = []
    async with dial_client(emu, tmp_path, mode, ledger=ledger_setting) as client:
        token = structured(await call(client))["confirmation_token"]

        async def use() -> None:
            results.append(await call(client, confirmation_token=token))

        async with anyio.create_task_group() as tg:
            for _ in range(10):
                tg.start_soon(use)
        rows = await ledger_rows(client)
    started = [r for r in results if not r.is_error]
    assert len(started) == 1
    assert all("[token-replayed]" in text_of(r) or "[duplicate]" in text_of(r) for r in results if r.is_error)
    assert dials(emu) == 1
    assert len(rows) == 1


async def test_human_mode_without_elicitation_or_browser_refuses_naming_the_options(
    emu: RunningEmulator, tmp_path: Path, mode: str
) -> None:
    async with dial_client(emu, tmp_path, mode, confirmation="human") as client:
        text = refusal(await call(client), "confirmation-unavailable")
        assert "VOICING_ALLOWED_NUMBERS" in text and "$BROWSER" in text and "VOICING_CONFIRMATION=token" in text
        assert "elicitation" in text
    async with dial_client(emu, tmp_path, mode, human=Human("accept"), confirmation="human") as client:
        assert structured(await call(client))["status"] == "started"
    assert dials(emu) == 1


async def test_human_mode_refuses_a_confirmation_token(emu: RunningEmulator, tmp_path: Path, mode: str) -> None:
    async with dial_client(emu, tmp_path / "t", mode) as client:
        token = structured(await call(client))["confirmation_token"]
    async with dial_client(emu, tmp_path / "h", mode, confirmation="human") as client:
        refusal(await call(client, confirmation_token=token), "token-not-accepted")
    assert dials(emu) == 0


async def test_an_allow_listed_number_dials_without_confirmation(
    emu: RunningEmulator, tmp_path: Path, mode: str
) -> None:
    human = Human("decline")
    async with dial_client(emu, tmp_path, mode, human=human, allowed_numbers="+1701811*") as client:
        result = structured(await call(client))
        other = await call(client, phone_number="+17028112582")
    assert result["status"] == "started" and result["confirmed_by"] == "allow-list"
    assert human.questions and "702-811-2582" in human.questions[0]  # only the other number was asked about
    assert structured(other)["status"] == "declined" and dials(emu) == 1


# ----- each rule: refuses (nothing dialled) and passes ---------------------------------------------
REFUSALS: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
    ("number-format", {}, {"phone_number": "701 811 2582"}),
    ("emergency-number", {}, {"phone_number": "112"}),
    ("short-number", {"default_region": "US"}, {"phone_number": "611"}),
    ("number", {}, {"phone_number": "+1 099 811 2582"}),
    ("line-type", {}, {"phone_number": "+1 900 555 1234"}),
    ("fictional-number", {}, {"phone_number": "+1 701 555 0123"}),
    ("country", {"allowed_countries": "CA,GB"}, {}),
    ("template-missing", {}, {"assistant_id": "no-such-assistant"}),
    ("template-variables", {}, {"input_variables": {"name": "Ann"}}),
    ("template-variables", {}, {"input_variables": {"name": "Ann", "plan_type": ["Gold"]}}),
    ("template-variables", {}, {"input_variables": {**VARS, "note": "x" * 5000}}),
]
PASSES: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
    ("number-format", {"default_region": "US"}, {"phone_number": "701 811 2582"}),
    ("country", {"allowed_countries": "US,CA"}, {}),
    ("template-missing", {"strict_templates": False}, {"assistant_id": "019addcc-0000-7000-8000-000000000001"}),
    ("template-variables", {}, {"assistant_id": CLINIC, "input_variables": {"name": "Ann", "date": "May 3"}}),
]


@pytest.mark.parametrize(
    ("rule", "settings", "arguments"), REFUSALS, ids=[f"{r[0]}-{i}" for i, r in enumerate(REFUSALS)]
)
async def test_each_number_and_template_rule_refuses_and_nothing_is_dialled(
    emu: RunningEmulator,
    tmp_path: Path,
    mode: str,
    rule: str,
    settings: dict[str, Any],
    arguments: dict[str, Any],
) -> None:
    async with dial_client(emu, tmp_path, mode, human=Human("accept"), **settings) as client:
        refusal(await call(client, **arguments), rule)
        assert await ledger_rows(client) == []
    assert dials(emu) == 0
    assert not [r for r in helper(emu, "GET", "/_emulator/requests")["requests"] if r["path"] == DIAL_PATH]


@pytest.mark.parametrize(("rule", "settings", "arguments"), PASSES, ids=[p[0] for p in PASSES])
async def test_each_number_and_template_rule_passes_a_good_request(
    emu: RunningEmulator,
    tmp_path: Path,
    mode: str,
    rule: str,
    settings: dict[str, Any],
    arguments: dict[str, Any],
) -> None:
    async with dial_client(emu, tmp_path, mode, **settings) as client:
        result = structured(await confirm_with_token(client, **arguments))
    assert result["status"] == "started", rule
    assert dials(emu) == 1


async def test_a_tel_uri_is_read_without_a_default_region_and_a_dropped_extension_is_said(
    emu: RunningEmulator, tmp_path: Path
) -> None:
    async with dial_client(emu, tmp_path, MODE) as client:
        uri = structured(await call(client, phone_number="tel:+1-701-811-2582;ext=12"))
        plain = structured(await call(client, phone_number="+1 701 811 2582"))
        emergency = refusal(await call(client, phone_number="tel:911"), "emergency-number")
    assert uri["status"] == "confirmation_required" and uri["preview"]["phone_number"] == NUMBER
    assert any("extension 12 is not dialled" in w for w in uri["warnings"]), uri["warnings"]
    assert not any("extension" in w for w in plain["warnings"])
    assert "emergency services are never dialled" in emergency
    assert dials(emu) == 0


async def test_a_value_json_cannot_carry_is_refused_before_the_ledger_and_the_next_dial_is_not_blocked(
    emu: RunningEmulator, tmp_path: Path
) -> None:
    """``{"amount": 1e400}`` as JSON text on stdio reaches the server as float inf: it used to pass the guard,
    write the ledger intent, fail inside the HTTP client and leave the number blocked as 'unknown' behind
    'Error executing tool'. Sent here as raw JSON-RPC text to the server over stdio, as a client does: each of
    the four values to the same server (one start), then the good dial, which none of them may have blocked."""

    ledger = tmp_path / "ledger.sqlite3"
    env = clean_env(tmp_path) | {
        "VOICING_BASE_URL": emu.base_url,
        "VOICING_API_KEY": emu.api_key,
        "VOICING_ENV": "development",
        "VOICING_ALLOWED_NUMBERS": NUMBER,
        "VOICING_QUIET_HOURS": "off",
        "VOICING_LEDGER": str(ledger),
    }
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "voicing_mcp",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
        cwd=tmp_path,
    )
    s = RawSession(proc)
    arguments = {"assistant_id": PAYMENT, "phone_number": NUMBER, "input_variables": {**VARS, "amount": "@"}}
    answers: dict[str, dict[str, Any]] = {}
    counted: dict[str, int] = {}
    try:
        await s.request(
            "initialize",
            {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "test", "version": "0"}},
        )
        await s.notify("notifications/initialized")
        for n, value in enumerate(["1e400", "-1e400", "Infinity", "NaN"]):
            raw = json.dumps(
                {
                    "jsonrpc": "2.0",
                    "id": 99 + n,
                    "method": "tools/call",
                    "params": {"name": "initiate_outbound_call", "arguments": arguments},
                }
            ).replace('"@"', value)
            assert proc.stdin is not None
            proc.stdin.write(raw.encode() + b"\n")
            await proc.stdin.drain()
            while (answer := await s._read_message()).get("id") != 99 + n:  # pyright: ignore[reportPrivateUsage]
                pass
            answers[value] = answer
            counted[value] = dials(emu)
        listed = ledger_cli(ledger, "list").stdout  # after all four: empty only if none of them wrote a row
        arguments["input_variables"] = VARS
        again = await s.request("tools/call", {"name": "initiate_outbound_call", "arguments": arguments})
    finally:
        await s.drain()
    for value, answer in answers.items():
        text = answer["result"]["content"][0]["text"]
        assert answer["result"]["isError"] is True and "[template-variables]" in text and "'amount'" in text, value
        assert "Error executing tool" not in text.split(":", 1)[1] and "Nothing was dialled" in text, (value, text)
        assert counted[value] == 0, value
    assert list(answers) == ["1e400", "-1e400", "Infinity", "NaN"]
    assert listed == ""  # nothing sent, nothing written, nothing blocked
    assert again["result"]["structuredContent"]["status"] == "started", again
    assert again["result"]["structuredContent"]["ledger_id"] == 1
    assert dials(emu) == 1


async def test_the_do_not_call_file_refuses_listed_numbers_and_passes_others(
    emu: RunningEmulator, tmp_path: Path, mode: str
) -> None:
    dnc = tmp_path / "dnc.txt"
    dnc.write_text("+1 701 811 2582\n", encoding="utf-8")
    async with dial_client(emu, tmp_path, mode, dnc_file=dnc) as client:
        refusal(await call(client), "do-not-call")
        assert dials(emu) == 0
        assert structured(await confirm_with_token(client, phone_number="+17018112583"))["status"] == "started"
    assert dials(emu) == 1


async def test_quiet_hours_refuse_in_the_callees_time_zone_and_pass_by_day(
    emu: RunningEmulator, tmp_path: Path, mode: str
) -> None:
    clock = Clock(NIGHT)
    async with dial_client(emu, tmp_path, mode, clock=clock, quiet_hours="21:00-08:00") as client:
        text = refusal(await call(client, phone_number="+13128112582"), "quiet-hours")
        assert "it is 22:14 in America/Chicago for +1 312 ••• ••82" in text
        assert "next window opens in 9 h 46 min" in text
        assert dials(emu) == 0
        clock.now = DAY
        assert structured(await confirm_with_token(client, phone_number="+13128112582"))["status"] == "started"
    assert dials(emu) == 1


async def test_the_rate_limit_refuses_once_reached(
    emu: RunningEmulator, tmp_path: Path, mode: str, ledger_setting: str
) -> None:
    clock = Clock()
    async with dial_client(emu, tmp_path, mode, ledger=ledger_setting, clock=clock, max_calls_per_hour=1) as client:
        assert structured(await confirm_with_token(client))["status"] == "started"
        text = refusal(await call(client, phone_number="+17018112583"), "rate-limit")
        assert "VOICING_MAX_CALLS_PER_HOUR is 1" in text
        assert dials(emu) == 1
        clock.now += timedelta(hours=1, minutes=1)
        assert structured(await confirm_with_token(client, phone_number="+17018112583"))["status"] == "started"
    assert dials(emu) == 2


async def test_the_duplicate_guard_names_the_earlier_call_and_its_status(
    emu: RunningEmulator, tmp_path: Path, mode: str, ledger_setting: str
) -> None:
    clock = Clock()
    async with dial_client(emu, tmp_path, mode, ledger=ledger_setting, clock=clock) as client:
        first = structured(await confirm_with_token(client))
        text = refusal(await call(client), "duplicate")
        assert f"call_id {first['call_id']}, status " in text
        # a different assistant may call the same number; after 10 minutes the same one may again
        other = {"assistant_id": CLINIC, "input_variables": {"name": "Ann", "date": "May 3"}}
        assert structured(await confirm_with_token(client, **other))["status"] == "started"
        clock.now += timedelta(minutes=10, seconds=1)
        assert structured(await confirm_with_token(client))["status"] == "started"
    assert dials(emu) == 3


async def test_a_token_issued_before_a_duplicate_dial_no_longer_dials(
    emu: RunningEmulator, tmp_path: Path, mode: str
) -> None:
    async with dial_client(emu, tmp_path, mode) as client:
        one = structured(await call(client))["confirmation_token"]
        two = structured(await call(client))["confirmation_token"]
        assert structured(await call(client, confirmation_token=one))["status"] == "started"
        refusal(await call(client, confirmation_token=two), "duplicate")
    assert dials(emu) == 1


# ----- API errors and uncertain outcomes ---------------------------------------------------------
async def test_an_api_error_is_reported_with_its_detail_and_recorded_as_failed(
    emu: RunningEmulator, tmp_path: Path, mode: str
) -> None:
    # no local template, so the guard lets it through with a warning; the API does not know the assistant
    unknown = "00000000-dead-beef-0000-000000000000"
    async with dial_client(emu, tmp_path, mode, strict_templates=False) as client:
        first = structured(await call(client, assistant_id=unknown))
        assert any("no local template" in w for w in first["warnings"])
        result = await call(client, assistant_id=unknown, confirmation_token=first["confirmation_token"])
        rows = await ledger_rows(client)
    assert result.is_error and "404" in text_of(result) and unknown in text_of(result)
    assert emu.api_key not in text_of(result)
    assert rows[0]["status"] == "failed" and "404" in rows[0]["detail"]
    assert dials(emu) == 0


async def test_drop_after_accept_is_outcome_unknown_dialled_once_recorded_and_blocks_redial(
    emu: RunningEmulator, tmp_path: Path, mode: str, ledger_setting: str
) -> None:
    helper(emu, "POST", "/_emulator/faults", {"fault": "drop-after-accept", "path": DIAL_PATH, "times": 1})
    async with dial_client(emu, tmp_path, mode, ledger=ledger_setting, human=Human("accept")) as client:
        result = await call(client)
        assert result.is_error
        text = text_of(result)
        assert "outcome unknown (ledger #1)" in text and "NOT retried" in text
        assert "voicing-mcp ledger resolve 1" in text
        assert dials(emu) == 1
        rows = await ledger_rows(client)
        assert rows[0]["status"] == "unknown" and rows[0]["call_id"] is None
        # a redial looks the call up in the API first: it is there, so the duplicate guard names it
        again = await call(client)
        dialled = helper(emu, "GET", "/_emulator/dials")["calls"]
        assert f"call_id {dialled[0]}" in refusal(again, "duplicate")
        rows = await ledger_rows(client)
        assert rows[0]["resolution"] == "found in the API's call list" and rows[0]["call_id"] == dialled[0]
    assert dials(emu) == 1


async def test_an_uncertain_dial_that_cannot_be_found_keeps_the_number_blocked(
    emu: RunningEmulator, tmp_path: Path, mode: str, ledger_setting: str
) -> None:
    clock = Clock()
    helper(emu, "POST", "/_emulator/faults", {"fault": "drop-after-accept", "path": DIAL_PATH, "times": 1})
    async with dial_client(emu, tmp_path, mode, ledger=ledger_setting, clock=clock) as client:
        assert (await confirm_with_token(client)).is_error
        helper(emu, "POST", "/_emulator/reset")  # the API no longer lists the call
        clock.now += timedelta(hours=3)  # far beyond the duplicate window
        text = refusal(
            await call(client, assistant_id=CLINIC, input_variables={"name": "A", "date": "B"}), "outcome-unknown"
        )
        assert "list_calls" in text and "resolve 1" in text
    assert dials(emu) == 0  # (counted since the reset)


# ----- following a call, local mode -----------------------------------------------------------------
async def test_wait_seconds_follows_the_call_to_its_end_with_progress(
    emu: RunningEmulator, tmp_path: Path, mode: str
) -> None:
    seen: list[tuple[float, float | None, str | None]] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        seen.append((progress, total, message))

    async with dial_client(emu, tmp_path, mode, human=Human("accept")) as client:
        result = await client.call_tool(
            "initiate_outbound_call",
            {"assistant_id": PAYMENT, "phone_number": NUMBER, "input_variables": VARS, "wait_seconds": 60},
            progress_callback=on_progress,
        )
    data = structured(result)
    assert data["status"] == "started"
    assert data["call"]["ended"] is True and data["call"]["status"] == "completed"
    assert seen and all(total == 60 for _, total, _ in seen)
    assert seen[-1][2] == f"call {data['call_id']}: completed"
    assert dials(emu) == 1


async def test_local_mode_says_no_real_phone_will_ring_and_dials_the_fictional_range(tmp_path: Path, mode: str) -> None:
    human = Human("accept")
    settings = load_settings(ledger=tmp_path / "ledger.sqlite3")
    assert settings.is_local
    server = create_server(settings)
    async with Client(server, mode=mode, elicitation_callback=human) as client:
        result = structured(await call(client, phone_number="+1 701 555 0123"))
        rows = await ledger_rows(client)
        listed = structured(await client.call_tool("list_calls", {"limit": 5}))
    assert "no real phone will ring" in human.questions[0]
    assert result["status"] == "started" and result["preview"]["local_mode"] is True
    assert rows[0]["environment"] == "local" and rows[0]["status"] == "started"
    assert result["call_id"] in [c["call_id"] for c in listed["calls"]]


async def test_the_ledger_resource_masks_numbers(
    emu: RunningEmulator, tmp_path: Path, mode: str, ledger_setting: str
) -> None:
    async with dial_client(emu, tmp_path, mode, ledger=ledger_setting) as client:
        await confirm_with_token(client)
        res = await client.read_resource("voicing://ledger/recent")
    content = res.contents[0]
    assert isinstance(content, TextResourceContents)
    assert "+1 701 ••• ••82" in content.text and "8112582" not in content.text
    assert emu.api_key not in content.text


@pytest.mark.parametrize(
    "spelling",
    [
        PAYMENT.upper(),
        "{" + PAYMENT + "}",
        "urn:uuid:" + PAYMENT,
        PAYMENT.replace("-", ""),
    ],
)
async def test_an_assistant_id_respelled_as_the_same_uuid_is_the_same_assistant_for_the_duplicate_rule(
    emu: RunningEmulator, tmp_path: Path, spelling: str
) -> None:
    """An API that reads assistant ids as UUIDs takes every spelling for one assistant; the guard compared the
    strings, so a respelled id (or, on a case-insensitive file system, one whose template file matched) passed
    the duplicate rule and rang the same person again. The canonical id is what is sent and recorded."""
    async with dial_client(emu, tmp_path, "legacy", allowed_numbers=NUMBER) as client:
        first = structured(await call(client, assistant_id=spelling))
        again = await call(client, assistant_id=PAYMENT)
        respelled = await call(client, assistant_id=spelling)
    assert first["status"] == "started" and first["request"]["assistant_id"] == PAYMENT
    refusal(again, "duplicate")
    refusal(respelled, "duplicate")
    sent = [r for r in helper(emu, "GET", "/_emulator/requests")["requests"] if r["method"] == "POST"]
    assert dials(emu) == 1 and len(sent) == 1


async def test_a_template_named_with_an_upper_case_assistant_id_still_checks_the_dial(
    emu: RunningEmulator, tmp_path: Path
) -> None:
    prompts = tmp_path / "prompts"
    prompts.mkdir()
    (prompts / f"{PAYMENT.upper()}.j2").write_text("Hi {{name}}, your {{plan_type}} plan payment is pending.\n")
    async with dial_client(emu, tmp_path, "legacy", allowed_numbers=NUMBER, prompts_dir=prompts) as client:
        missing = await call(client, assistant_id=PAYMENT.upper(), input_variables={"name": "Ann"})
        started = structured(await call(client, assistant_id=PAYMENT.upper()))
    refusal(missing, "template-variables")
    assert started["status"] == "started" and started["request"]["assistant_id"] == PAYMENT
    assert started["preview"]["opening_line"] == "Hi Ann, your Gold plan payment is pending."


def test_the_dial_request_is_one_frozen_value_with_read_only_variables() -> None:
    given = {"name": "Ann"}
    request = DialRequest.of(PAYMENT, NUMBER, given, "default", None)
    given["name"] = "Bob"  # the request took a copy
    assert request.input_variables == {"name": "Ann"}
    with pytest.raises(dataclasses.FrozenInstanceError):
        request.phone_number = "+15555550100"  # type: ignore[misc]
    with pytest.raises(TypeError):
        request.input_variables["name"] = "Bob"  # type: ignore[index]


def test_the_confirmation_form_describes_itself_to_the_human_not_to_a_developer() -> None:
    """The form's description is what the client shows the person deciding: no docstring markup, no internals."""
    description = ConfirmCall.model_json_schema()["description"]
    assert "nothing is dialled" in description
    assert "``" not in description and "Strict" not in description


# ----------------------------------------------------------------------------------------------------
# The do-not-call file through a real MCP session against the emulator: a CSV/TSV-style file blocks every number
# it lists, and a line that cannot be read refuses every dial until it is fixed.


LISTED = ["+17018112582", "+17018112583", "+17018112584", "+17025550200"]


async def test_numbers_with_notes_or_side_by_side_are_blocked_and_a_broken_line_refuses_every_dial(
    emu: RunningEmulator, tmp_path: Path
) -> None:
    dnc = tmp_path / "dnc.txt"
    dnc.write_text("+17018112582,John Smith\n+17018112583\tJane Doe\n+17018112584;+17025550200\n", encoding="utf-8")
    # allow-listed, so without the do-not-call rule each of these would dial at once
    async with dial_client(emu, tmp_path, MODE, dnc_file=dnc, allowed_numbers="+1701*,+1702*") as client:
        for number in LISTED:
            text = refusal(await call(client, phone_number=number), "do-not-call")
            assert "is on the do-not-call list" in text
        assert dials(emu) == 0

        # a note that is not in a column of its own: the line is named, nobody is dialled, not even a new number
        before = dnc.stat()
        dnc.write_text("+17018112582,John Smith\n+17018112583 Jane Doe\n+17018112584;+17025550200\n", encoding="utf-8")
        os.utime(dnc, ns=(before.st_atime_ns, before.st_mtime_ns))  # same size, same mtime
        text = refusal(await call(client, phone_number="+17018112599"), "do-not-call-file")
        assert "line 2 '+1 701 ••• ••83 Jane Doe': column 1 is a note (it has letters) but holds" in text
        assert str(dnc) in text
        assert dials(emu) == 0

        dnc.write_text("+17018112582,John Smith\n+17018112583\tJane Doe\n", encoding="utf-8")
        assert structured(await call(client, phone_number="+17018112584"))["status"] == "started"
        refusal(await call(client, phone_number="+17018112583"), "do-not-call")
    assert dials(emu) == 1


async def test_a_do_not_call_entry_in_national_format_blocks_the_number_without_a_default_region(
    emu: RunningEmulator, tmp_path: Path
) -> None:
    dnc = tmp_path / "dnc.txt"
    dnc.write_text("# written as people write numbers\n(701) 811-2582\n07911 123456  # a UK mobile\n", encoding="utf-8")
    # allow-listed, so without the do-not-call rule these would dial at once
    async with dial_client(emu, tmp_path, MODE, dnc_file=dnc, allowed_numbers="+1701*,+44*") as client:
        refusal(await call(client, phone_number=NUMBER), "do-not-call")
        refusal(await call(client, phone_number="+44 7911 123456"), "do-not-call")
        other = structured(await call(client, phone_number="+17018112583"))
    assert other["status"] == "started"
    assert dials(emu) == 1


# ----------------------------------------------------------------------------------------------------
# What a dial's outcome is when the answer is not a clean success: a gateway or proxy error after the call was
# placed is 'outcome unknown' (and blocks the redial), the API's documented refusals are definite failures, and
# a ledger lost during the POST does not hide a started call. A real loopback proxy in front of the emulator.


@asynccontextmanager
async def gateway(emu: RunningEmulator, dial_answer: Callable[[], Response]) -> AsyncGenerator[RunningEmulator]:
    """A real HTTP proxy on loopback in front of the emulator. Every request is passed on; the dial POST's
    answer is replaced by ``dial_answer()`` (after the emulator placed the call)."""

    async with httpx.AsyncClient(base_url=emu.base_url) as upstream:

        async def forward(request: Request) -> Response:
            answer = await upstream.request(
                request.method,
                request.url.path,
                params=request.query_params,
                headers={"x-api-key": request.headers.get("x-api-key", "")},
                content=await request.body(),
            )
            if request.url.path == DIAL_PATH:
                return dial_answer()
            return Response(answer.content, answer.status_code, media_type=answer.headers.get("content-type"))

        async with loopback_proxy(emu, forward, api_key=emu.api_key) as proxied:
            yield proxied


async def ledger_file_rows(path: Path) -> list[dict[str, Any]]:
    """The rows ``voicing-mcp ledger list`` prints (newest first), read from the file in this process through
    another connection, as the command does; the command itself runs as a subprocess in the tests below and in
    tests/cli/test_ledger.py."""
    ledger = Ledger(path)
    try:
        return [row.public() for row in await ledger.recent()]
    finally:
        ledger.close()


async def test_a_gateway_timeout_on_the_dial_is_an_unknown_outcome_and_the_call_is_not_placed_twice(
    emu: RunningEmulator, tmp_path: Path
) -> None:
    """A proxy in front of the API passes the POST on (the call is placed) but answers 504 itself: the
    dial is recorded as unknown, so the model's natural retry finds the call instead of dialling again."""

    def timed_out() -> Response:
        return HTMLResponse("<html><body>504 Gateway Time-out</body></html>", status_code=504)

    async with (
        gateway(emu, timed_out) as proxied,
        dial_client(proxied, tmp_path, MODE, allowed_numbers=NUMBER) as client,
    ):
        first = await call(client)
        assert first.is_error and "outcome unknown (ledger #1)" in text_of(first), text_of(first)
        again = await call(client)  # what a model does after "try again later"
        placed = helper(emu, "GET", "/_emulator/dials")["calls"]
        assert f"call_id {placed[0]}" in refusal(again, "duplicate")
    assert dials(emu) == 1


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (500, "<html><body>500 Internal Server Error</body></html>"),  # not the vendor's documented body
        (500, '{"detail": "Internal server error"}'),  # JSON, but not a documented text
        (503, '{"detail": "Service temporarily unavailable"}'),
        (520, "<html>Web server is returning an unknown error</html>"),
        (524, "<html>A timeout occurred</html>"),
        (530, ""),
        (408, "<html>408 Request Time-out</html>"),
        (499, ""),
    ],
)
async def test_a_gateway_error_after_placement_is_an_unknown_outcome_that_blocks_the_redial(
    emu: RunningEmulator, tmp_path: Path, status: int, body: str
) -> None:
    """A proxy passes the dial POST on (the emulator places the call) and answers ``status`` itself: only a
    documented rejection proves no call was placed, so this is 'outcome unknown', the model is not told to
    try again, and its redial does not ring the person a second time."""

    def answered() -> Response:
        media = "application/json" if body.startswith("{") else "text/html"
        return Response(body, status_code=status, media_type=media)

    ledger = tmp_path / "ledger.sqlite3"
    async with (
        gateway(emu, answered) as proxied,
        dial_client(proxied, tmp_path, MODE, ledger=ledger, allowed_numbers=NUMBER) as client,
    ):
        first = await call(client)
        text = text_of(first)
        assert first.is_error and "outcome unknown (ledger #1)" in text and f"HTTP {status}" in text, text
        assert "try again" not in text.lower() and "retry" not in text.lower(), text
        row = (await ledger_file_rows(ledger))[0]  # the file itself (the ledger command's list, in-process)
        assert row["status"] == "unknown" and row["resolved_at"] is None, row
        again = await call(client)  # what a model does after an error
        placed = helper(emu, "GET", "/_emulator/dials")["calls"]
        assert f"call_id {placed[0]}" in refusal(again, "duplicate")
    assert dials(emu) == 1


@pytest.mark.parametrize("fault", ["500", "429"])
async def test_the_vendors_documented_500_body_is_a_definite_failure_and_the_redial_goes_through(
    emu: RunningEmulator, tmp_path: Path, fault: str
) -> None:
    """``500 {"detail": "Failed to publish outbound call"}`` is the API's own documented refusal (and a 429 a
    refusal to process, sent once, Retry-After or not): nothing was placed, the row is 'failed', the number is
    not blocked, and neither the model's text nor the ledger row advises a retry."""

    ledger = tmp_path / "ledger.sqlite3"
    helper(emu, "POST", "/_emulator/faults", {"fault": fault, "path": DIAL_PATH, "times": 1, "retry_after": 0})
    detail = "Failed to publish outbound call" if fault == "500" else "Too many requests"
    async with dial_client(emu, tmp_path, MODE, ledger=ledger, allowed_numbers=NUMBER) as client:
        failed = await call(client)
        text = text_of(failed)
        assert failed.is_error and "NOT placed (ledger #1" in text and f"HTTP {fault}: {detail}" in text, text
        assert "try again" not in text.lower() and "retry" not in text.lower(), text
        stored = (await ledger_rows(client))[0]["detail"]
        assert detail in stored and "try again" not in stored.lower(), stored
        assert dials(emu) == 0
        again = structured(await call(client))
    assert again["status"] == "started" and again["ledger_id"] == 2
    rows = [json.loads(line) for line in ledger_cli(ledger, "list").stdout.splitlines()]
    assert [r["status"] for r in rows] == ["started", "failed"]
    assert dials(emu) == 1


async def test_an_api_error_that_echoes_the_number_is_masked_in_the_ledger_resource_and_listing(
    emu: RunningEmulator, tmp_path: Path
) -> None:
    def rejected() -> Response:
        return JSONResponse({"detail": "Invalid phone number +17018112582 for this provider"}, status_code=400)

    ledger = tmp_path / "ledger.sqlite3"
    async with (
        gateway(emu, rejected) as proxied,
        dial_client(proxied, tmp_path, MODE, ledger=ledger, allowed_numbers=NUMBER) as client,
    ):
        result = await call(client)
    assert result.is_error and "HTTP 400" in text_of(result)
    document = await recent_dials_document(ledger)  # the text of voicing://ledger/recent
    listed = ledger_cli(ledger, "list")
    assert listed.returncode == 0
    for text in (document, listed.stdout):
        assert "Invalid phone number" in text and "8112582" not in text, text
    row = json.loads(listed.stdout.splitlines()[0])
    assert row["status"] == "failed" and "+1 701 ••• ••82" in row["detail"]


async def test_a_ledger_that_fails_after_the_post_does_not_hide_the_started_call(
    emu: RunningEmulator, tmp_path: Path
) -> None:
    """The call was sent: the result says started (with a warning), never "refused, nothing was dialled"."""

    path = tmp_path / "ledger.sqlite3"
    ledger = Ledger(path, clock=Clock())
    settings = load_settings(base_url=emu.base_url, api_key=emu.api_key, env="development", quiet_hours="off")
    guard = DialGuard(settings, TemplateStore(PACKAGE_PROMPTS_DIR), ledger, clock=Clock())

    class LedgerLostDuringThePost:
        """The real API client; while the POST is out, the ledger file is replaced by a folder."""

        def __init__(self, client: VoicingClient) -> None:
            self.client = client

        async def initiate_outbound_call(self, req: OutboundCallRequest) -> OutboundCallResponse:
            response = await self.client.initiate_outbound_call(req)
            ledger.close()
            for leftover in tmp_path.glob("ledger.sqlite3*"):
                leftover.unlink()
            path.mkdir()
            return response

    decision = await check(
        guard,
        assistant_id="019addcc-b878-7b10-85f1-49f21342f947",
        phone_number=NUMBER,
        input_variables={"name": "Ann", "plan_type": "Gold"},
    )
    async with VoicingClient(base_url=emu.base_url, api_key=emu.api_key) as api:
        response, row_id = await guard.place_call(decision, LedgerLostDuringThePost(api), confirmation="token")
    ledger.close()
    assert response.call_id == helper(emu, "GET", "/_emulator/dials")["calls"][0]
    assert row_id == 1 and dials(emu) == 1
    assert any("the call was started, but the ledger could not record it" in w for w in decision.warnings)
