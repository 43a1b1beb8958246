"""The API key never reaches the model, the ledger or a third party, whatever the API (or a proxy) echoes.

Real parts: the emulator behind a key-translating proxy over loopback (the server holds a key with
characters that URL-encoding changes; the proxy swaps it for the emulator's), MCP sessions, the ledger
helper as a subprocess, WebSocket servers on loopback.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import AsyncGenerator, Callable
from contextlib import asynccontextmanager
from http import HTTPStatus
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus

import httpx
import pytest
from mcp import Client
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from websockets.asyncio.server import serve

from server_support import (
    DIAL_PATH,
    MODES,
    NUMBER,
    call,
    dial_client,
    dials,
    ledger_cli,
    ledger_rows,
    loopback_proxy,
    session,
    structured,
    text_of,
)
from voicing_mcp.api.client import VoicingClient
from voicing_mcp.api.models import OutboundCallRequest
from voicing_mcp.config import load_settings
from voicing_mcp.emulator.runner import RunningEmulator
from voicing_mcp.emulator.runner import RunningEmulator as Running
from voicing_mcp.errors import ChatError
from voicing_mcp.guard.ledger import Ledger
from voicing_mcp.server.app import create_server

KEY = "sk-live-Zq9/+k=ey%42"
FORMS = (
    KEY,
    quote(KEY, safe=""),
    quote_plus(KEY),
    re.sub(r"%[0-9A-F]{2}", lambda m: m.group(0).lower(), quote(KEY, safe="")),  # lower-case escapes
)
MODE = "legacy"

Rewrite = Callable[[str, int, Any], Response | None]


def leaks(text: str) -> list[str]:
    return [form for form in FORMS if form in text]


@asynccontextmanager
async def proxy(emu: RunningEmulator, rewrite: Rewrite) -> AsyncGenerator[RunningEmulator]:
    """A real HTTP proxy on loopback in front of the emulator that accepts ``KEY`` (and sends the emulator its own
    key). ``rewrite(path, status, json_body)`` may replace an answer after the emulator handled the request."""

    async with httpx.AsyncClient(base_url=emu.base_url) as upstream:

        async def forward(request: Request) -> Response:
            if request.headers.get("x-api-key") != KEY:
                return JSONResponse({"detail": "Invalid API token"}, status_code=401)
            answer = await upstream.request(
                request.method,
                request.url.path,
                params=request.query_params,
                headers={"x-api-key": emu.api_key},
                content=await request.body(),
            )
            try:
                body = answer.json()
            except ValueError:
                body = None
            replaced = rewrite(request.url.path, answer.status_code, body)
            if replaced is not None:
                return replaced
            return Response(answer.content, answer.status_code, media_type=answer.headers.get("content-type"))

        async with loopback_proxy(emu, forward, api_key=KEY) as proxied:
            yield proxied


ECHO = f"Invalid request from key {KEY} (headers: x-api-key: {KEY}; url: /x?api_key={quote(KEY, safe='')})"


@pytest.mark.parametrize("status", [400, 503], ids=["rejected", "outcome-unknown"])
async def test_an_api_error_that_echoes_the_key_is_redacted_for_the_model_the_ledger_resource_and_the_listing(
    emu: RunningEmulator, tmp_path: Path, status: int
) -> None:
    def echo(path: str, code: int, body: Any) -> Response | None:
        return JSONResponse({"detail": ECHO}, status_code=status) if path == DIAL_PATH else None

    ledger = tmp_path / "ledger.sqlite3"
    async with (
        proxy(emu, echo) as proxied,
        dial_client(proxied, tmp_path, MODE, ledger=ledger, allowed_numbers=NUMBER) as client,
    ):
        result = await call(client)
        rows = await ledger_rows(client)  # voicing://ledger/recent, read through the MCP session
    text = text_of(result)
    assert result.is_error and f"HTTP {status}" in text and "[redacted]" in text, text
    listed = ledger_cli(ledger, "list").stdout
    stored = rows[0]["detail"]
    assert "Invalid request from key [redacted]" in stored, stored
    for shown in (text, json.dumps(rows, ensure_ascii=False), listed):
        assert leaks(shown) == [], shown
    assert dials(emu) == 1


def key_in_records(path: str, code: int, body: Any) -> Response | None:
    """Every call record gets fields that quote the key, as a debugging API might."""
    if code != 200 or not isinstance(body, dict):
        return None

    def salt(record: Any) -> Any:
        if isinstance(record, dict):
            return {
                **record,
                "debug": {"request_headers": {"x-api-key": KEY}, "urls": [f"https://x.test/?k={quote_plus(KEY)}"]},
                "summary": f"called with {KEY}",
            }
        return record

    salted: dict[str, Any] = dict(body)
    for name in ("data", "calls", "items", "results"):
        if isinstance(salted.get(name), list):
            salted[name] = [salt(r) for r in salted[name]]
    if "call_id" in salted:
        salted = salt(salted)
    return JSONResponse(salted)


@pytest.mark.parametrize("mode", list(MODES.values()), ids=list(MODES.keys()))
async def test_call_records_that_quote_the_key_reach_the_model_without_it(emu: RunningEmulator, mode: str) -> None:
    async with proxy(emu, key_in_records) as proxied:
        settings = load_settings(base_url=proxied.base_url, api_key=KEY, env="development")
        async with session(create_server(settings), mode) as client:
            page = await client.call_tool("list_calls", {"limit": 3, "fields": ["all"]})  # rows with every field
            call_id = structured(page)["calls"][0]["call_id"]
            details = await client.call_tool("get_call_details", {"call_id": call_id})
            bulk = await client.call_tool("bulk_call_details", {"call_ids": [call_id], "fields": ["all"]})
            resource = await client.read_resource(f"voicing://calls/{call_id}")
    for result in (page, details, bulk):
        assert not result.is_error, text_of(result)
        dumped = json.dumps(result.model_dump(mode="json"), ensure_ascii=False)
        assert leaks(dumped) == [] and "[redacted]" in dumped, dumped[:2000]
    dumped = json.dumps(resource.model_dump(mode="json"), ensure_ascii=False)
    assert leaks(dumped) == [], dumped[:2000]


async def test_the_client_parses_records_without_the_key_in_any_string(emu: RunningEmulator) -> None:
    async with proxy(emu, key_in_records) as proxied, VoicingClient(base_url=proxied.base_url, api_key=KEY) as api:
        page = await api.list_calls(limit=2)
        one = await api.get_call_details(page.calls[0].call_id)
        bulk = await api.bulk_call_details([c.call_id for c in page.calls])
    for record in (*page.calls, one, *bulk.calls):
        dumped = record.model_dump_json()
        assert leaks(dumped) == [] and record.extra_fields()["summary"] == "called with [redacted]", dumped


async def test_the_base_urls_credentials_are_not_in_the_ledgers_environment(
    emu: RunningEmulator, tmp_path: Path
) -> None:
    with_userinfo = Running(f"http://ops:hunter2@127.0.0.1:{emu.port}", emu.host, emu.port, emu.api_key, emu.state)
    ledger = tmp_path / "ledger.sqlite3"
    async with dial_client(with_userinfo, tmp_path, MODE, ledger=ledger, allowed_numbers=NUMBER) as client:
        assert structured(await call(client))["status"] == "started"
        rows = await ledger_rows(client)
    listed = ledger_cli(ledger, "list").stdout
    assert rows[0]["environment"] == f"http://127.0.0.1:{emu.port}", rows[0]
    for shown in (json.dumps(rows), listed, ledger.read_bytes().decode("latin-1")):
        assert "hunter2" not in shown and "ops:" not in shown


# ----- the chat WebSocket never follows a redirect ---------------------------------------------------
@asynccontextmanager
async def ws_server(handler: Any, process_request: Any = None) -> AsyncGenerator[int]:
    async with serve(handler, "127.0.0.1", 0, process_request=process_request) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        yield port


@pytest.mark.parametrize("status", [301, 302, 307, 308])
async def test_the_chat_does_not_follow_a_redirect_so_the_key_never_reaches_another_host(status: int) -> None:
    seen: list[dict[str, str]] = []

    async def elsewhere_handler(ws: Any) -> None:
        await ws.send("hello from elsewhere")

    def record(connection: Any, request: Any) -> None:
        seen.append(dict(request.headers.raw_items()))

    async with ws_server(elsewhere_handler, record) as other_port:

        def redirect(connection: Any, request: Any) -> Any:
            response = connection.respond(HTTPStatus(status), "moved\n")
            response.headers["Location"] = f"ws://localhost:{other_port}/steal"
            return response

        async def never(ws: Any) -> None:  # pragma: no cover - the handshake is answered by the redirect
            raise AssertionError("no WebSocket here")

        async with (
            ws_server(never, redirect) as port,
            VoicingClient(base_url=f"http://127.0.0.1:{port}", api_key=KEY) as api,
        ):
            with pytest.raises(ChatError) as info:
                async with api.chat("019addcc-b878-7b10-85f1-49f21342f947"):
                    pass
    assert seen == []  # nothing, let alone x-api-key, reached the other host
    assert f"redirect (HTTP {status})" in str(info.value) and "VOICING_BASE_URL" in str(info.value)
    assert leaks(str(info.value)) == []


async def test_chat_replies_and_error_frames_that_quote_the_key_are_redacted() -> None:
    async def echoing(ws: Any) -> None:
        async for message in ws:
            text = json.loads(message)["message"]
            if text == "fail":
                await ws.send(json.dumps({"type": "error", "error": f"bad key {quote(KEY, safe='')}"}))
            else:
                await ws.send(json.dumps({"message": f"you sent {text} with key {KEY}"}))

    async with ws_server(echoing) as port, VoicingClient(base_url=f"http://127.0.0.1:{port}", api_key=KEY) as api:
        async with api.chat("019addcc-b878-7b10-85f1-49f21342f947") as chat:
            reply = await chat.send("hi")
            with pytest.raises(ChatError) as info:
                await chat.send("fail")
    assert reply == "you sent hi with key [redacted]"
    assert "bad key [redacted]" in str(info.value) and leaks(str(info.value)) == []


async def test_the_ledger_listing_hides_the_key_in_rows_written_before_details_were_cleaned(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite3"
    ledger = Ledger(path)
    row = await ledger.claim_dial(
        OutboundCallRequest(assistant_id="a1", phone_number=NUMBER),
        confirmation="token",
        environment="production",
        max_per_hour=9,
    )
    await ledger.record_outcome(row, status="failed", detail=f"HTTP 400: bad key {KEY}")
    ledger.close()
    env = {k: v for k, v in os.environ.items() if not k.startswith("VOICING_")}
    env |= {"VOICING_LEDGER": str(path), "VOICING_API_KEY": KEY, "VOICING_ENV": "production"}
    done = subprocess.run(
        [sys.executable, "-m", "voicing_mcp.guard.ledger", "list"],
        env=env,
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "bad key [redacted]" in done.stdout and leaks(done.stdout) == [], done.stdout


async def test_in_local_mode_the_word_emulator_in_an_answer_is_not_taken_for_the_key(tmp_path: Path) -> None:
    """The built-in emulator's key was the word "emulator", and the client removes its key from every text the
    API returns: a reply or record saying "emulator" showed "[redacted]". Local mode's key is random per run."""

    settings = load_settings(env="local", quiet_hours="off", ledger=tmp_path / "ledger.sqlite3")
    async with Client(create_server(settings)) as client:
        result = await client.call_tool(
            "chat_with_assistant",
            {
                "assistant_id": "019addcc-b878-7b10-85f1-49f21342f947",
                "message": "are you the emulator?",
                "input_variables": {"name": "Ann", "plan_type": "Gold"},
            },
        )
    text = "".join(b.text for b in result.content if b.type == "text")
    assert not result.is_error, text
    assert "emulator" in text and "[redacted]" not in text


async def test_a_second_server_of_the_process_lists_the_same_tools_and_keeps_its_own_key_out(
    emu: RunningEmulator,
) -> None:
    """The SDK's tools are built once a process (VoicingServer.add_tool) and copied for the next server: the copy
    lists the same schemas and runs on the second server (its ledger, its key; the key is removed both by the
    tool's wrapper and by call_tool, so either alone keeps it out)."""

    def echo(path: str, code: int, body: Any) -> Response | None:
        return JSONResponse({"detail": ECHO}, status_code=400)

    first_settings = load_settings(base_url=emu.base_url, api_key="sk-first-server-key-0123", env="development")
    async with session(create_server(first_settings), MODE) as first:
        first_tools = [t.model_dump(mode="json") for t in (await first.list_tools()).tools]
        first_page = await first.call_tool("list_calls", {"limit": 1})  # a wrong key for the emulator
    async with proxy(emu, echo) as proxied:
        settings = load_settings(base_url=proxied.base_url, api_key=KEY, env="development")
        async with session(create_server(settings), MODE) as second:
            second_tools = [t.model_dump(mode="json") for t in (await second.list_tools()).tools]
            results = [
                await second.call_tool("list_calls", {"limit": 1}),
                await second.call_tool("get_call_details", {"call_id": "c-1"}),
                await second.call_tool("list_campaigns", {}),
            ]
    assert first_page.is_error and "key" in text_of(first_page)
    assert second_tools == first_tools and len(second_tools) >= 11
    for result in results[:2]:
        assert result.is_error and "HTTP 400" in text_of(result) and "[redacted]" in text_of(result), text_of(result)
    assert not results[2].is_error, text_of(results[2])  # the copied tool runs on the second server's ledger
    for result in results:
        assert leaks(json.dumps(result.model_dump(mode="json"), ensure_ascii=False)) == []
