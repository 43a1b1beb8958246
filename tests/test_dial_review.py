"""Regression tests from the adversarial review of the dial path: each one failed before its fix.

Real parts throughout: the emulator over loopback HTTP, the server through an in-process MCP client
session, the ledger helper as a subprocess.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import AsyncGenerator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from mcp.client.session import ClientRequestContext
from mcp_types import ElicitRequestParams, ElicitResult
from starlette.responses import Response

from server_support import helper, loopback_proxy, structured, text_of
from tests.server.test_dial import (
    DIAL_PATH,
    NUMBER,
    PAYMENT,
    VARS,
    Clock,
    call,
    dial_client,
    dials,
    ledger_rows,
    refusal,
)
from voicing_mcp.emulator.runner import RunningEmulator

MODE = "legacy"  # the dial path under test does not depend on the protocol version


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


def ledger_cli(ledger: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``python -m voicing_mcp.guard.ledger ...`` as the README tells a human to run it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("VOICING_")} | {"VOICING_LEDGER": str(ledger)}
    return subprocess.run(
        [sys.executable, "-m", "voicing_mcp.guard.ledger", *args],
        env=env,
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=60,
        check=False,
    )


async def test_after_a_human_releases_an_uncertain_dial_the_number_can_be_dialled_again(
    emu: RunningEmulator, tmp_path: Path
) -> None:
    """The README's outcome-unknown procedure, followed literally: the call is not in the API, a human runs
    ``python -m voicing_mcp.guard.ledger resolve <id>``, and the next dial goes through (within 10 minutes)."""
    ledger = tmp_path / "ledger.sqlite3"
    helper(emu, "POST", "/_emulator/faults", {"fault": "reset", "path": DIAL_PATH, "times": 1})
    async with dial_client(emu, tmp_path, MODE, ledger=ledger, allowed_numbers=NUMBER) as client:
        first = await call(client)
        assert first.is_error and "outcome unknown (ledger #1)" in text_of(first)
        assert "resolve 1" in refusal(await call(client), "outcome-unknown")
        released = ledger_cli(ledger, "resolve", "1")
        assert released.returncode == 0 and "released" in released.stdout, released.stdout + released.stderr
        again = structured(await call(client))
    assert again["status"] == "started" and again["ledger_id"] == 2
    assert dials(emu) == 1


@pytest.mark.parametrize(
    ("source", "variables"),
    [
        ("You owe {{ amount * 1.2 }} dollars.", {"amount": "100"}),  # a number sent as text
        ("{{ total / parts }} each", {"total": 10, "parts": 0}),
        ("{{ range(10 ** 7) | list | length }} items for {{ name }}", {"name": "Ann"}),  # the sandbox's range cap
    ],
)
async def test_a_template_expression_that_fails_on_the_values_is_a_preview_warning_not_a_crash(
    emu: RunningEmulator, tmp_path: Path, source: str, variables: dict[str, object]
) -> None:
    prompts = tmp_path / "prompts"
    prompts.mkdir()
    (prompts / "billing.j2").write_text(source, encoding="utf-8")
    async with dial_client(emu, tmp_path, MODE, prompts_dir=prompts) as client:
        result = structured(await call(client, assistant_id="billing", input_variables=variables))
    assert result["status"] == "confirmation_required"
    assert result["preview"]["opening_line"] == "(could not be rendered)"
    assert any("could not be rendered" in w and "billing.j2" in w for w in result["warnings"]), result["warnings"]
    assert dials(emu) == 0


@pytest.mark.parametrize("broken", ["not a database", "parent is a file"])
async def test_an_unusable_ledger_refuses_the_dial_naming_the_file_and_nothing_is_dialled(
    emu: RunningEmulator, tmp_path: Path, broken: str
) -> None:
    if broken == "not a database":
        ledger = tmp_path / "ledger.sqlite3"
        ledger.write_bytes(b"this is not an SQLite file\n" * 200)
    else:
        (tmp_path / "state").write_text("a file where a folder should be", encoding="utf-8")
        ledger = tmp_path / "state" / "ledger.sqlite3"
    async with dial_client(emu, tmp_path, MODE, ledger=ledger, allowed_numbers=NUMBER) as client:
        text = refusal(await call(client), "ledger")
    assert str(ledger) in text and "VOICING_LEDGER" in text
    assert "Error executing tool initiate_outbound_call" not in text.split(":", 1)[1]
    assert dials(emu) == 0


def test_the_ledger_helper_reports_an_unusable_ledger_without_a_traceback(tmp_path: Path) -> None:
    ledger = tmp_path / "ledger.sqlite3"
    ledger.write_bytes(b"this is not an SQLite file\n" * 200)
    for args in (("list",), ("resolve", "1")):
        done = ledger_cli(ledger, *args)
        assert done.returncode == 1, done.stdout + done.stderr
        assert str(ledger) in done.stderr and "Traceback" not in done.stderr


async def test_a_ledger_that_fails_after_the_post_does_not_hide_the_started_call(
    emu: RunningEmulator, tmp_path: Path
) -> None:
    """The call was sent: the result says started (with a warning), never "refused, nothing was dialled"."""
    from voicing_mcp.api.client import VoicingClient
    from voicing_mcp.api.models import OutboundCallRequest, OutboundCallResponse
    from voicing_mcp.config import PACKAGE_PROMPTS_DIR, load_settings
    from voicing_mcp.guard.ledger import Ledger
    from voicing_mcp.guard.policy import DialGuard
    from voicing_mcp.guard.templates import TemplateStore

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

    decision = await guard.check(
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


async def test_a_forged_token_with_a_hostile_payload_is_refused_as_invalid(
    emu: RunningEmulator, tmp_path: Path
) -> None:
    import base64

    payload = b'{"exp":1e400,"nonce":"n","fields":{}}'  # int(inf) overflows: parsed before the signature was checked

    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")

    token = f"v1.{b64(payload)}.{b64(b'0' * 32)}"
    async with dial_client(emu, tmp_path, MODE) as client:
        text = refusal(await call(client, confirmation_token=token), "token-invalid")
    assert "forged" in text
    assert dials(emu) == 0


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


@asynccontextmanager
async def gateway(emu: RunningEmulator, dial_answer: Callable[[], Response]) -> AsyncGenerator[RunningEmulator]:
    """A real HTTP proxy on loopback in front of the emulator. Every request is passed on; the dial POST's
    answer is replaced by ``dial_answer()`` (after the emulator placed the call)."""
    import httpx
    from starlette.requests import Request

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


async def test_a_gateway_timeout_on_the_dial_is_an_unknown_outcome_and_the_call_is_not_placed_twice(
    emu: RunningEmulator, tmp_path: Path
) -> None:
    """A proxy in front of the API passes the POST on (the call is placed) but answers 504 itself: the
    dial is recorded as unknown, so the model's natural retry finds the call instead of dialling again."""
    from starlette.responses import HTMLResponse

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


async def test_in_local_mode_at_night_a_human_who_reads_for_minutes_is_asked_once(tmp_path: Path) -> None:
    """The quiet-hours warning (local mode) is part of the question; with the minute in it, the 2026-07-28
    protocol discarded every answer as 'the question changed' until the client gave up."""
    from datetime import UTC, datetime

    from mcp import Client

    from tests.server.test_dial import SlowHuman
    from voicing_mcp.config import load_settings
    from voicing_mcp.server.app import create_server
    from voicing_mcp.server.dial import register_dial_tool

    settings = load_settings(ledger=tmp_path / "ledger.sqlite3")  # local mode, default quiet hours 21:00-08:00
    assert settings.is_local
    clock = Clock(datetime(2026, 5, 5, 3, 0, 30, tzinfo=UTC))  # 21:00 in Denver, 22:00 in Chicago
    server = create_server(settings)
    server.remove_tool("initiate_outbound_call")
    register_dial_tool(server, settings, clock=clock, resource=False)
    human = SlowHuman(clock, minutes=3)
    async with Client(server, mode="2026-07-28", elicitation_callback=human) as client:
        result = structured(await call(client, phone_number="+1 701 555 0123"))
    assert result["status"] == "started" and result["confirmed_by"] == "elicitation"
    assert len(human.questions) == 1
    assert "quiet hours" in human.questions[0] and "not enforced" in human.questions[0]


async def test_an_api_error_that_echoes_the_number_is_masked_in_the_ledger_resource_and_listing(
    emu: RunningEmulator, tmp_path: Path
) -> None:
    import json

    from starlette.responses import JSONResponse

    from voicing_mcp.server.dial import recent_dials_document

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


def test_the_ledger_helper_pointed_at_no_ledger_says_so_and_creates_nothing(tmp_path: Path) -> None:
    missing = tmp_path / "state" / "ledger.sqlite3"
    for args in (("resolve", "1"), ("list",)):
        done = ledger_cli(missing, *args)
        assert done.returncode == 1, done.stdout + done.stderr
        assert str(missing) in done.stderr and "VOICING_LEDGER" in done.stderr
    assert not missing.exists() and not missing.parent.exists()


async def test_a_placeholder_guarded_by_is_undefined_is_optional(emu: RunningEmulator, tmp_path: Path) -> None:
    prompts = tmp_path / "prompts"
    prompts.mkdir()
    (prompts / "greeter.j2").write_text(
        "Hello{% if name is undefined %} there{% else %} {{ name }}{% endif %}, this is {{ company }}.\n",
        encoding="utf-8",
    )
    async with dial_client(emu, tmp_path, MODE, prompts_dir=prompts) as client:
        bare = structured(await call(client, assistant_id="greeter", input_variables={"company": "Acme"}))
        named = structured(
            await call(client, assistant_id="greeter", input_variables={"company": "Acme", "name": "Ann"})
        )
        missing = refusal(await call(client, assistant_id="greeter", input_variables={}), "template-variables")
    assert bare["preview"]["opening_line"] == "Hello there, this is Acme."
    assert named["preview"]["opening_line"] == "Hello Ann, this is Acme."
    assert "'company'" in missing and "'name'" not in missing.split("(optional")[0]
    assert dials(emu) == 0


async def test_local_mode_starts_and_dials_with_a_template_whose_expression_fails_on_sample_values(
    tmp_path: Path,
) -> None:
    """The built-in emulator renders every prompt for its seeded history; {{ amount * 1.2 }} with a text
    value raised TypeError there, and the server did not start at all in local mode."""
    from mcp import Client

    from voicing_mcp.config import load_settings
    from voicing_mcp.server.app import create_server

    prompts = tmp_path / "prompts"
    prompts.mkdir()
    (prompts / "billing.j2").write_text("You owe {{ amount * 1.2 }} dollars.\n", encoding="utf-8")
    settings = load_settings(
        ledger=tmp_path / "ledger.sqlite3", prompts_dir=prompts, allowed_numbers="+17015550123", quiet_hours="off"
    )
    assert settings.is_local
    async with Client(create_server(settings)) as client:
        result = structured(
            await call(client, assistant_id="billing", phone_number="+17015550123", input_variables={"amount": 100})
        )
    assert result["status"] == "started" and result["confirmed_by"] == "allow-list"
    assert result["preview"]["opening_line"] == "You owe 120.0 dollars."


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


async def test_two_servers_reaching_the_same_api_by_env_or_by_base_url_count_each_others_dials(
    emu: RunningEmulator, tmp_path: Path
) -> None:
    """VOICING_ENV=production and VOICING_BASE_URL=https://api.voicing.ai are the same API: one ledger scope.
    (The POSTs go to the emulator through a real API client; only the ledger's view of them is under test.)"""
    from voicing_mcp.api.client import VoicingClient
    from voicing_mcp.config import PACKAGE_PROMPTS_DIR, load_settings
    from voicing_mcp.errors import GuardRefusal
    from voicing_mcp.guard.ledger import Ledger
    from voicing_mcp.guard.policy import DialGuard, ledger_environment
    from voicing_mcp.guard.templates import TemplateStore

    by_env = load_settings(api_key="k", env="production", quiet_hours="off")
    by_url = load_settings(api_key="k", env="development", base_url="https://API.voicing.ai/", quiet_hours="off")
    request: dict[str, Any] = {
        "assistant_id": "019addcc-b878-7b10-85f1-49f21342f947",
        "phone_number": NUMBER,
        "input_variables": {"name": "Ann", "plan_type": "Gold"},
    }
    guards = [
        DialGuard(
            s,
            TemplateStore(PACKAGE_PROMPTS_DIR),
            Ledger(tmp_path / "ledger.sqlite3", environment=ledger_environment(s, local=False)),
            local=False,
        )
        for s in (by_env, by_url)
    ]
    async with VoicingClient(base_url=emu.base_url, api_key=emu.api_key) as api:
        decision = await guards[0].check(**request)
        await guards[0].place_call(decision, api, confirmation="token")
        with pytest.raises(GuardRefusal) as refused:
            await guards[1].check(**request)
    for guard in guards:
        guard.ledger.close()
    assert refused.value.rule == "duplicate"
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
    import json

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
        row = json.loads(ledger_cli(ledger, "list").stdout.splitlines()[0])
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
    import json

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


@pytest.mark.parametrize("value", ["1e400", "-1e400", "Infinity", "NaN"])
async def test_a_value_json_cannot_carry_is_refused_before_the_ledger_and_the_next_dial_is_not_blocked(
    emu: RunningEmulator, tmp_path: Path, value: str
) -> None:
    """``{"amount": 1e400}`` as JSON text on stdio reaches the server as float inf: it used to pass the guard,
    write the ledger intent, fail inside the HTTP client and leave the number blocked as 'unknown' behind
    'Error executing tool'. Sent here as raw JSON-RPC text to the server over stdio, as a client does."""
    import asyncio
    import json

    from tests.server.test_stdio import RawSession, clean_env

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
    try:
        await s.request(
            "initialize",
            {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "test", "version": "0"}},
        )
        await s.notify("notifications/initialized")
        raw = json.dumps(
            {
                "jsonrpc": "2.0",
                "id": 99,
                "method": "tools/call",
                "params": {"name": "initiate_outbound_call", "arguments": arguments},
            }
        ).replace('"@"', value)
        assert proc.stdin is not None
        proc.stdin.write(raw.encode() + b"\n")
        await proc.stdin.drain()
        while (answer := await s._read_message()).get("id") != 99:  # pyright: ignore[reportPrivateUsage]
            pass
        counted = dials(emu)
        listed = ledger_cli(ledger, "list").stdout
        arguments["input_variables"] = VARS
        again = await s.request("tools/call", {"name": "initiate_outbound_call", "arguments": arguments})
    finally:
        await s.drain()
    text = answer["result"]["content"][0]["text"]
    assert answer["result"]["isError"] is True and "[template-variables]" in text and "'amount'" in text, text
    assert "Error executing tool" not in text.split(":", 1)[1] and "Nothing was dialled" in text, text
    assert counted == 0 and listed == ""  # nothing sent, nothing written, nothing blocked
    assert again["result"]["structuredContent"]["status"] == "started", again
    assert again["result"]["structuredContent"]["ledger_id"] == 1
    assert dials(emu) == 1


async def test_a_dial_left_pending_by_a_crashed_server_blocks_the_number_for_another_assistant(
    emu: RunningEmulator, tmp_path: Path
) -> None:
    """Another server process on the same ledger claimed a dial with one assistant and died before the outcome:
    a dial of the same number with another assistant is refused, naming the row, and nothing rings."""
    from tests.server.test_dial import CLINIC
    from voicing_mcp.api.models import OutboundCallRequest
    from voicing_mcp.config import load_settings
    from voicing_mcp.guard.ledger import Ledger
    from voicing_mcp.guard.policy import ledger_environment

    ledger = tmp_path / "ledger.sqlite3"
    scope = ledger_environment(
        load_settings(base_url=emu.base_url, api_key=emu.api_key, env="development"), local=False
    )
    crashed = Ledger(ledger, clock=Clock(), environment=scope)
    row = await crashed.claim_dial(
        OutboundCallRequest(assistant_id=PAYMENT, phone_number=NUMBER, input_variables=VARS),
        confirmation="token",
        environment=scope,
        max_per_hour=9,
    )
    crashed.close()
    async with dial_client(emu, tmp_path, MODE, ledger=ledger, allowed_numbers=NUMBER) as client:
        text = refusal(
            await call(client, assistant_id=CLINIC, input_variables={"name": "Ann", "date": "May 5"}),
            "dial-in-progress",
        )
    assert f"ledger #{row}" in text and PAYMENT in text
    assert dials(emu) == 0


async def _two_guards_dial(emu: RunningEmulator, tmp_path: Path, first: Any, second: Any) -> Any:
    """Guard 1 (settings ``first``) places a call; guard 2 (``second``) on the same ledger checks the same
    request. Returns guard 2's refusal, or None when it would dial."""
    from voicing_mcp.api.client import VoicingClient
    from voicing_mcp.config import PACKAGE_PROMPTS_DIR
    from voicing_mcp.errors import GuardRefusal
    from voicing_mcp.guard.ledger import Ledger
    from voicing_mcp.guard.policy import DialGuard, ledger_environment
    from voicing_mcp.guard.templates import TemplateStore

    request: dict[str, Any] = {"assistant_id": PAYMENT, "phone_number": NUMBER, "input_variables": VARS}
    guards = [
        DialGuard(
            s,
            TemplateStore(PACKAGE_PROMPTS_DIR),
            Ledger(tmp_path / "ledger.sqlite3", environment=ledger_environment(s, local=False)),
            local=False,
        )
        for s in (first, second)
    ]
    try:
        async with VoicingClient(base_url=emu.base_url, api_key=emu.api_key) as api:
            decision = await guards[0].check(**request)
            await guards[0].place_call(decision, api, confirmation="token")
            try:
                await guards[1].check(**request)
            except GuardRefusal as exc:
                return exc
            return None
    finally:
        for guard in guards:
            guard.ledger.close()


@pytest.mark.parametrize(
    "spelling",
    [
        "https://api.voicing.ai:443",
        "https://API.voicing.ai/",
        "https://api.voicing.ai.",
        "http://api.voicing.ai",
        "https://user:secret@api.voicing.ai",
        "https://api.voicing.ai//",
    ],
)
async def test_two_servers_on_one_ledger_share_a_scope_however_the_base_url_is_spelled(
    emu: RunningEmulator, tmp_path: Path, spelling: str
) -> None:
    """Each spelling of the production URL got its own duplicate and rate scope: two servers on one ledger
    dialled the same person twice. (The POSTs go to the emulator; only the ledger's view is under test.)"""
    from voicing_mcp.config import load_settings

    by_env = load_settings(api_key="k", env="production", quiet_hours="off")
    by_url = load_settings(api_key="k", env="sandbox", base_url=spelling, quiet_hours="off")
    refused = await _two_guards_dial(emu, tmp_path, by_env, by_url)
    assert refused is not None and refused.rule == "duplicate"
    refused = await _two_guards_dial(emu, tmp_path / "reverse", by_url, by_env)
    assert refused is not None and refused.rule == "duplicate"
    assert dials(emu) == 2


@pytest.mark.parametrize(
    ("one", "other", "same"),
    [
        ("https://Proxy.example:443/v1/", "http://proxy.example/v1", True),
        ("https://proxy.example:8443/v1", "https://u:p@PROXY.example.:8443/v1/", True),
        ("https://proxy.example/v1", "https://proxy.example/v2", False),  # a path prefix is another API
        ("https://proxy.example:8443", "https://proxy.example", False),  # so is another port
    ],
)
async def test_a_base_url_scope_ignores_spelling_but_keeps_port_and_path(
    emu: RunningEmulator, tmp_path: Path, one: str, other: str, same: bool
) -> None:
    from voicing_mcp.config import load_settings

    first = load_settings(api_key="k", env="development", base_url=one, quiet_hours="off")
    second = load_settings(api_key="k", env="production", base_url=other, quiet_hours="off")
    refused = await _two_guards_dial(emu, tmp_path, first, second)
    assert (refused is not None and refused.rule == "duplicate") is same, refused


async def test_rows_written_under_the_older_scope_spelling_still_count(emu: RunningEmulator, tmp_path: Path) -> None:
    """An unknown outcome recorded before base URLs were normalised (``<env>:<url as written>``) still blocks
    the number for a server that spells the URL differently; its credentials are not shown."""
    from voicing_mcp.api.models import OutboundCallRequest
    from voicing_mcp.config import PACKAGE_PROMPTS_DIR, load_settings
    from voicing_mcp.errors import GuardRefusal
    from voicing_mcp.guard.ledger import Ledger
    from voicing_mcp.guard.policy import DialGuard, ledger_environment
    from voicing_mcp.guard.templates import TemplateStore

    path = tmp_path / "ledger.sqlite3"
    old = Ledger(path, environment="development:https://ops:hunter2@Proxy.example/v1/")
    row = await old.claim_dial(
        OutboundCallRequest(assistant_id=PAYMENT, phone_number=NUMBER, input_variables=VARS),
        confirmation="token",
        environment="development:https://ops:hunter2@Proxy.example/v1/",
        max_per_hour=9,
    )
    await old.record_outcome(row, status="unknown", detail="no answer")
    old.close()
    s = load_settings(api_key="k", env="production", base_url="https://proxy.example/v1", quiet_hours="off")
    guard = DialGuard(
        s, TemplateStore(PACKAGE_PROMPTS_DIR), Ledger(path, environment=ledger_environment(s, local=False)), local=False
    )
    with pytest.raises(GuardRefusal) as refused:
        await guard.check(assistant_id=PAYMENT, phone_number=NUMBER, input_variables=VARS)
    guard.ledger.close()
    assert refused.value.rule == "outcome-unknown" and f"#{row}" in refused.value.message
    listed = ledger_cli(path, "list")
    assert "hunter2" not in listed.stdout and "https://proxy.example/v1" in listed.stdout, listed.stdout
    assert dials(emu) == 0


async def test_a_token_issued_before_the_server_restarted_is_refused_saying_so(
    emu: RunningEmulator, tmp_path: Path
) -> None:
    """The same ledger, a new server process: the old token fails the HMAC, and the refusal said 'forged or
    altered'. It now says the server restarted and how to get a new preview."""
    ledger = tmp_path / "ledger.sqlite3"
    async with dial_client(emu, tmp_path, MODE, ledger=ledger) as before:
        token = structured(await call(before))["confirmation_token"]
    async with dial_client(emu, tmp_path, MODE, ledger=ledger) as after:
        text = refusal(await call(after, confirmation_token=token), "token-invalid")
        fresh = structured(await call(after))
    assert "earlier run of this server" in text and "restarted" in text and "forged" not in text, text
    assert "again without confirmation_token" in text
    assert fresh["status"] == "confirmation_required"
    assert dials(emu) == 0
