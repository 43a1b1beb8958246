"""Local mode's built-in emulator starts on first use (the first API request), not before the server's first
answer (issue 9, the fast tool path): ``tools/list`` answers with no emulator, the first call starts one, two
first calls at once start one, and the server's shutdown stops it. The observable is the emulator's own
announcement on stderr ("local emulator — no real phone will ring", printed when it starts) and its port."""

from __future__ import annotations

import re
import socket
import sys
from contextlib import AsyncExitStack
from pathlib import Path

import anyio
import pytest
from mcp import Client
from mcp.client.stdio import StdioServerParameters, stdio_client

from server_support import ASSISTANT, session, structured, text_of
from voicing_mcp.api.models import CallPage
from voicing_mcp.config import load_settings
from voicing_mcp.errors import ConfigError
from voicing_mcp.runtime import LAZY_BANNER, LAZY_BASE_URL, LOCAL_BANNER, open_api
from voicing_mcp.server.app import create_server

BANNER_URL = re.compile(re.escape(LOCAL_BANNER) + r" \(emulator at http://127\.0\.0\.1:(\d+)\)")


def _ports(err: str) -> list[int]:
    return [int(port) for port in BANNER_URL.findall(err)]


def _refuses(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(2)
        return sock.connect_ex(("127.0.0.1", port)) != 0


async def test_tools_list_answers_before_the_local_emulator_starts_and_the_first_call_starts_it(
    mode: str, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = load_settings()
    assert settings.is_local
    async with session(create_server(settings), mode) as client:
        tools = await client.list_tools()
        resources = await client.list_resources()
        before = capsys.readouterr().err
        page = structured(await client.call_tool("list_calls", {"limit": 1}))
        after = capsys.readouterr().err
    assert {t.name for t in tools.tools} >= {"get_call_details", "list_calls"} and resources.resources
    assert LOCAL_BANNER not in before  # nothing started for the tool list
    assert len(_ports(after)) == 1  # the first API call started it, and it said so
    assert page["total"] == 300  # the emulator's seeded history answered


async def test_two_first_calls_at_once_start_one_emulator(mode: str, capsys: pytest.CaptureFixture[str]) -> None:
    totals: list[int] = []
    async with session(create_server(load_settings()), mode) as client:

        async def first_call() -> None:
            totals.append(structured(await client.call_tool("list_calls", {"limit": 1}))["total"])

        async with anyio.create_task_group() as tg:
            for _ in range(4):
                tg.start_soon(first_call)
    assert totals == [300] * 4
    assert len(_ports(capsys.readouterr().err)) == 1


async def test_two_first_requests_of_the_client_at_once_start_one_emulator_and_the_close_stops_it(
    capsys: pytest.CaptureFixture[str],
) -> None:
    async with AsyncExitStack() as stack:
        api = await open_api(load_settings(), stack, lazy=True)
        assert api.emulator is not None and api.emulator.running is None
        assert api.base_url == LAZY_BASE_URL  # a placeholder until the start
        pages: list[CallPage | None] = [None, None, None]

        async def read(i: int) -> None:
            pages[i] = await api.client.list_calls(page=1, limit=1)

        async with anyio.create_task_group() as tg:
            for i in range(3):
                tg.start_soon(read, i)
        assert all(p is not None for p in pages)
        running = api.emulator.running
        assert running is not None and api.base_url == running.base_url
        assert not _refuses(running.port)
    assert _ports(capsys.readouterr().err) == [running.port]
    assert _refuses(running.port)  # the stack closed it
    with pytest.raises(ConfigError, match="shutting down"):
        await api.emulator.start()  # no start after the close


async def test_the_servers_shutdown_stops_the_emulator_it_started(capsys: pytest.CaptureFixture[str]) -> None:
    async with session(create_server(load_settings()), "legacy") as client:
        await client.call_tool("list_calls", {"limit": 1})
        [port] = _ports(capsys.readouterr().err)
        assert not _refuses(port)
    assert _refuses(port)


async def test_a_chat_as_the_first_call_starts_the_emulator(mode: str, capsys: pytest.CaptureFixture[str]) -> None:
    async with session(create_server(load_settings()), mode) as client:
        result = await client.call_tool("chat_with_assistant", {"assistant_id": ASSISTANT, "message": "Hello"})
    assert not result.is_error, text_of(result)
    assert len(_ports(capsys.readouterr().err)) == 1


async def test_the_stdio_server_answers_tools_list_without_starting_the_emulator(tmp_path: Path) -> None:
    """The command a client starts: after the tool list its stderr says that local mode starts the emulator on
    the first API call (no real phone rings) but has no emulator line; after a call it has one."""
    err = tmp_path / "server.err"
    env = {"VOICING_LEDGER": str(tmp_path / "ledger.sqlite3")}
    params = StdioServerParameters(command=sys.executable, args=["-m", "voicing_mcp"], env=env)
    with err.open("w", encoding="utf-8") as errlog:
        async with Client(stdio_client(params, errlog=errlog), mode="legacy") as client:
            await client.list_tools()
            after_tools_list = err.read_text(encoding="utf-8").count("local emulator —")
            await client.call_tool("get_call_details", {"call_id": "nope"})
    after_a_call = err.read_text(encoding="utf-8").count("local emulator —")
    assert (after_tools_list, after_a_call) == (0, 1)
    assert LAZY_BANNER in (tmp_path / "server.err").read_text(encoding="utf-8")  # said at once: no phone rings
