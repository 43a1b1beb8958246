"""The stdio server as a subprocess (``python -m voicing_mcp``), as a desktop client starts it.

Nothing but JSON-RPC may reach stdout: every line is parsed, across a whole session with
successes, tool errors, protocol errors, progress and log notifications, at ``--log-level DEBUG``.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from mcp import Client
from mcp.client.stdio import StdioServerParameters, get_default_environment

from server_support import ASSISTANT, MODES
from voicing_mcp.config import PACKAGE_PROMPTS_DIR
from voicing_mcp.server.stdio import has_bad_id, request_id

READ_LIMIT = 30.0  # a bound against a hung server, not a speed expectation


def clean_env(tmp_path: Path) -> dict[str, str]:
    """The environment a user's client would give: no VOICING_* (so local mode), a private state dir."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("VOICING_")}
    env["XDG_STATE_HOME"] = str(tmp_path / "state")
    env["VOICING_LEDGER"] = str(tmp_path / "ledger.sqlite3")
    env["VOICING_PROMPTS_DIR"] = str(PACKAGE_PROMPTS_DIR)  # the test user's templates: the emulator's assistants
    env["PYTHONUNBUFFERED"] = "1"
    return env


async def start_server(tmp_path: Path, *args: str, limit: int = 2**16) -> asyncio.subprocess.Process:
    """``python -m voicing_mcp [args]`` over pipes, in a clean environment (``limit``: the longest line read back)."""
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "voicing_mcp",
        *args,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=clean_env(tmp_path),
        cwd=tmp_path,
        limit=limit,
    )


class RawSession:
    """JSON-RPC over the pipes of a real subprocess, recording every stdout line."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.lines: list[str] = []
        self.messages: list[dict[str, Any]] = []
        self._next_id = 0

    async def send(self, message: dict[str, Any]) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write((json.dumps(message) + "\n").encode())
        await self.proc.stdin.drain()

    async def _read_message(self) -> dict[str, Any]:
        assert self.proc.stdout is not None
        raw = await asyncio.wait_for(self.proc.stdout.readline(), READ_LIMIT)
        assert raw, "the server closed stdout early"
        line = raw.decode("utf-8")
        self.lines.append(line)
        message: dict[str, Any] = json.loads(line)  # every stdout line must be JSON
        self.messages.append(message)
        return message

    async def request(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        self._next_id += 1
        request_id = self._next_id
        message: dict[str, Any] = {"jsonrpc": "2.0", "id": request_id, "method": method}
        if params is not None:
            message["params"] = params
        await self.send(message)
        while True:
            answer = await self._read_message()
            if answer.get("id") == request_id and "method" not in answer:
                return answer

    async def send_raw(self, line: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write((line + "\n").encode())
        await self.proc.stdin.drain()

    async def notify(self, method: str, params: dict[str, Any] | None = None) -> None:
        await self.send({"jsonrpc": "2.0", "method": method, **({"params": params} if params else {})})

    async def drain(self) -> None:
        """Close stdin and read stdout to the end (the server exits on EOF)."""
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.close()
        rest = await asyncio.wait_for(self.proc.stdout.read(), READ_LIMIT)
        for line in rest.decode("utf-8").splitlines(keepends=True):
            self.lines.append(line)
            self.messages.append(json.loads(line))
        await asyncio.wait_for(self.proc.wait(), READ_LIMIT)


async def test_stdout_carries_only_json_rpc_through_a_whole_debug_session(tmp_path: Path) -> None:
    proc = await start_server(tmp_path, "--log-level", "DEBUG")
    s = RawSession(proc)
    try:
        init = await s.request(
            "initialize",
            {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "test", "version": "0"}},
        )
        await s.notify("notifications/initialized")
        assert init["result"]["serverInfo"]["name"] == "voicing-mcp"
        assert (await s.request("logging/setLevel", {"level": "debug"})).get("result") == {}
        tools = await s.request("tools/list")
        page = await s.request("tools/call", {"name": "list_calls", "arguments": {"limit": 2}})
        call_id = page["result"]["structuredContent"]["calls"][0]["call_id"]
        details = await s.request("tools/call", {"name": "get_call_details", "arguments": {"call_id": call_id}})
        missing = await s.request("tools/call", {"name": "get_call_details", "arguments": {"call_id": "nope"}})
        bad_args = await s.request("tools/call", {"name": "list_calls", "arguments": {"limit": 500}})
        bulk = await s.request(
            "tools/call",
            {
                "name": "bulk_call_details",
                "arguments": {"call_ids": [call_id] + [f"x-{i}" for i in range(249)]},
                "_meta": {"progressToken": "bulk-1"},
            },
        )
        chat = await s.request(
            "tools/call", {"name": "chat_with_assistant", "arguments": {"assistant_id": ASSISTANT, "message": "hi"}}
        )
        no_tool = await s.request("tools/call", {"name": "no_such_tool", "arguments": {}})
        no_resource = await s.request("resources/read", {"uri": "voicing://calls/nope"})
        no_method = await s.request("no/such/method")
        pong = await s.request("ping")
    finally:
        await s.drain()
        assert proc.stderr is not None
        stderr = (await proc.stderr.read()).decode("utf-8")

    assert s.lines and all(line.endswith("\n") for line in s.lines)
    assert all(m.get("jsonrpc") == "2.0" for m in s.messages)
    assert {t["name"] for t in tools["result"]["tools"]} >= {
        "get_call_details",
        "list_calls",
        "bulk_call_details",
        "chat_with_assistant",
        "initiate_outbound_call",
    }
    assert details["result"]["structuredContent"]["call_id"] == call_id
    assert missing["result"]["isError"] is True and "not found" in missing["result"]["content"][0]["text"]
    assert bad_args["result"]["isError"] is True and "limit" in bad_args["result"]["content"][0]["text"]
    assert bulk["result"]["structuredContent"]["found"] == 1
    progress = [m for m in s.messages if m.get("method") == "notifications/progress"]
    assert [p["params"]["progressToken"] for p in progress] == ["bulk-1"] * 3
    assert chat["result"]["structuredContent"]["turn"] == 1
    assert no_tool["result"]["isError"] is True and "Unknown tool" in no_tool["result"]["content"][0]["text"]
    assert no_resource["error"]["code"] == -32602 and "not found" in no_resource["error"]["message"]
    assert no_method["error"]["code"] == -32601
    assert pong["result"] == {}
    assert "local emulator — no real phone will ring" in stderr
    assert "DEBUG" in stderr and "Traceback" not in stderr
    assert proc.returncode == 0


@pytest.mark.parametrize("mode", list(MODES.values()), ids=list(MODES.keys()))
async def test_the_sdk_client_drives_the_stdio_server(tmp_path: Path, mode: str) -> None:
    params = StdioServerParameters(
        command=sys.executable, args=["-m", "voicing_mcp"], env=clean_env(tmp_path), cwd=tmp_path
    )
    async with Client(params, mode=mode) as client:
        assert client.protocol_version == ("2025-11-25" if mode == "legacy" else "2026-07-28")
        names = {t.name for t in (await client.list_tools()).tools}
        result = await client.call_tool("list_calls", {"limit": 3})
    assert "list_calls" in names and not result.is_error
    assert result.structured_content is not None and result.structured_content["returned"] == 3


async def test_a_prompts_folder_with_an_unreadable_template_still_serves_the_others(tmp_path: Path) -> None:
    prompts = tmp_path / "prompts"
    prompts.mkdir()
    (prompts / "good-assistant.j2").write_text("Hello {{ name }}.", encoding="utf-8")
    (prompts / "latin1-assistant.j2").write_bytes("Grüße {{ name }}".encode("latin-1"))
    (prompts / "folder-assistant.j2").mkdir()
    env = clean_env(tmp_path)
    env["VOICING_PROMPTS_DIR"] = str(prompts)
    params = StdioServerParameters(command=sys.executable, args=["-m", "voicing_mcp"], env=env, cwd=tmp_path)
    async with Client(params, mode="legacy") as client:
        result = await client.call_tool("chat_with_assistant", {"assistant_id": "good-assistant", "message": "hi"})
    assert not result.is_error and result.structured_content is not None
    assert result.structured_content["greeting"] == "Hello {{ name }}."


def nested_call(request_id: object, arguments: str) -> str:
    """A tools/call line written by hand: its arguments are JSON no ordinary encoder would produce."""
    head = f'{{"jsonrpc":"2.0","id":{json.dumps(request_id)},"method":"tools/call","params":'
    return head + f'{{"name":"list_calls","arguments":{{"limit":{arguments}}}}}}}\n'


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def hostile_lines(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[RawSession]:
    """One default stdio server, initialized, for the module's tests of lines no client should send (each test
    ends with a ping the server must still answer); stdin closed and stdout read to the end after them."""
    proc = await start_server(tmp_path_factory.mktemp("hostile"), limit=2**20)
    s = RawSession(proc)
    try:
        await s.request(
            "initialize",
            {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "test", "version": "0"}},
        )
        await s.notify("notifications/initialized")
        yield s
    finally:
        await s.drain()


@pytest.mark.asyncio(loop_scope="module")
async def test_every_stdio_request_is_answered_even_nested_50000_deep_or_with_a_5000_digit_integer(
    hostile_lines: RawSession,
) -> None:
    s = hostile_lines
    proc = s.proc
    assert proc.stdin is not None
    answers: list[dict[str, Any]] = []
    for line in (
        nested_call(41, "[" * 50_000 + "]" * 50_000),
        nested_call("big-42", "9" * 5_000),
        '{"jsonrpc":"2.0","id":43,"method":"tools/call","params":{"name":',  # cut short: not JSON
        '{"jsonrpc":"2.0","id":44,"method":5}\n',  # JSON, not JSON-RPC
        "[[[[" * 20_000 + "\n",  # no id to be found
    ):
        proc.stdin.write(line.encode() if line.endswith("\n") else (line + "\n").encode())
        await proc.stdin.drain()
        answers.append(await s._read_message())  # pyright: ignore[reportPrivateUsage]
    pong = await s.request("ping")  # the server still serves
    deep, big, cut, not_rpc, anonymous = answers
    assert (deep["id"], deep["error"]["code"]) == (41, -32700) and "input too deep" in deep["error"]["message"]
    assert (big["id"], big["error"]["code"]) == ("big-42", -32700) and "number too large" in big["error"]["message"]
    assert (cut["id"], cut["error"]["code"]) == (43, -32700) and "not valid JSON" in cut["error"]["message"]
    assert (not_rpc["id"], not_rpc["error"]["code"]) == (44, -32600)
    assert (anonymous["id"], anonymous["error"]["code"]) == (None, -32700)
    assert pong["result"] == {}


# ----------------------------------------------------------------------------------------------------
# ``claude_desktop_config.example.json`` works as written: the configured command, started with the configured
# env (the repo path put where the example has its placeholder), completes initialize and tools/list over stdio
# with the SDK's client — what Claude Desktop does at start-up.


ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "claude_desktop_config.example.json"
PLACEHOLDER = "/ABSOLUTE/PATH/TO/voicing-mcp"
READ_TOOLS = {"get_call_details", "list_calls", "bulk_call_details", "chat_with_assistant"}


def load_example() -> dict[str, Any]:
    return json.loads(EXAMPLE.read_text(encoding="utf-8"))


def test_the_example_is_minimal_valid_json_with_one_placeholder_to_fill() -> None:
    config = load_example()
    assert list(config) == ["mcpServers"]
    assert list(config["mcpServers"]) == ["voicing"]
    server = config["mcpServers"]["voicing"]
    assert set(server) <= {"command", "args", "env"}
    assert server["command"].startswith(PLACEHOLDER)
    # the templates' folder is named explicitly: clients start servers in a folder of their choosing
    assert server["env"]["VOICING_PROMPTS_DIR"] == PLACEHOLDER + "/prompts"
    assert "VOICING_API_KEY" not in server.get("env", {}), "the example works without an account (local mode)"


async def test_the_configured_command_completes_initialize_and_tools_list(tmp_path: Path) -> None:
    server = load_example()["mcpServers"]["voicing"]
    command = server["command"].replace(PLACEHOLDER, str(ROOT))
    assert Path(command).is_file(), f"{command} is what the README's install creates"
    configured = {name: value.replace(PLACEHOLDER, str(ROOT)) for name, value in server.get("env", {}).items()}
    assert Path(configured["VOICING_PROMPTS_DIR"]).is_dir(), "the checkout's prompts/ folder exists"
    env = {**get_default_environment(), **configured, "XDG_STATE_HOME": str(tmp_path / "state")}
    params = StdioServerParameters(command=command, args=server.get("args", []), env=env)
    async with Client(params, mode="legacy") as client:
        info = client.session.server_info
        names = {tool.name for tool in (await client.list_tools()).tools}
    assert info is not None and info.name == "voicing-mcp"
    assert READ_TOOLS <= names


def test_the_readme_shows_the_same_configuration() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = re.search(r"<!-- section: clients.*?-->(.*?)<!-- /section: clients -->", readme, re.S)
    assert section is not None
    blocks = [json.loads(b) for b in re.findall(r"```json\n(.*?)```", section.group(1), re.S)]
    assert load_example() in blocks
    assert PLACEHOLDER in section.group(1)


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ('{"jsonrpc": "2.0", "id": 7, "method": "x"}', 7),
        ('{"jsonrpc": "2.0", "id": "a-b", "method": "x"}', "a-b"),
        ('{"params": {"id": 3}, "id": 4}', 4),  # the top level's id, not a nested one
        ('{"id": true}', None),
        ('{"method": "notifications/x"}', None),
        ('{"id": 5, "params": ' + "[" * 50_000 + "]" * 50_000 + "}", 5),  # too deep to parse: the id still found
        ('{"id": 6, "params": {"n": ' + "9" * 5_000 + "}}", 6),  # an integer of 5,000 digits
        ('{"id": ' + "1" * 40 + "}", None),  # an id no JSON-RPC peer sends
    ],
)
def test_the_request_id_is_found_without_parsing_the_values(line: str, expected: str | int | None) -> None:
    assert request_id(line) == expected


@pytest.mark.asyncio(loop_scope="module")
async def test_a_request_whose_id_is_neither_a_string_nor_an_integer_is_answered_with_id_null(
    hostile_lines: RawSession,
) -> None:
    """The SDK would read these as notifications and drop them: the client would wait forever. A real notification
    (no id) still gets no answer, and integer ids of any length are served."""
    s = hostile_lines
    answers: list[dict[str, Any]] = []
    for bad in ("1.5", "null", '{"n": 1}', "[1]", "true", "1e3"):
        await s.send_raw(f'{{"jsonrpc": "2.0", "id": {bad}, "method": "ping"}}')
        answers.append(await s._read_message())  # pyright: ignore[reportPrivateUsage]
    await s.send_raw('{"jsonrpc": "2.0", "method": "ping"}')  # a notification: no answer
    await s.send_raw('{"jsonrpc": "2.0", "id": ' + "1" * 40 + ', "method": "ping"}')
    long_id = await s._read_message()  # pyright: ignore[reportPrivateUsage]
    # a line of 30,000 escaped quotes and no closing one (hostile review: the id scan restarted at every quote and
    # held the server for minutes): answered as a parse error, and the next request is answered too
    await s.send_raw('{"jsonrpc": "2.0", "id": 9, "method": "ping", "x": ' + '\\"' * 30_000)
    unclosed = await s._read_message()  # pyright: ignore[reportPrivateUsage]
    pong = await s.request("ping")
    assert unclosed["id"] == 9 and unclosed["error"]["code"] == -32700, unclosed
    for answer in answers:
        assert answer["id"] is None and answer["error"]["code"] == -32600, answer
        assert "id must be a string or an integer" in answer["error"]["message"]
    assert long_id == {"jsonrpc": "2.0", "id": int("1" * 40), "result": {}}, "the notification got no answer"
    assert pong["result"] == {}


@pytest.mark.parametrize(
    ("line", "bad"),
    [
        ('{"jsonrpc": "2.0", "id": 1.5, "method": "ping"}', True),
        ('{"jsonrpc": "2.0", "id": null, "method": "ping"}', True),
        ('{"method": "ping", "id": {"a": 1}}', True),
        ('{"jsonrpc": "2.0", "id": 7, "method": "ping"}', False),
        ('{"jsonrpc": "2.0", "id": -7, "method": "ping"}', False),
        ('{"jsonrpc": "2.0", "id": "x", "method": "ping"}', False),
        ('{"jsonrpc": "2.0", "method": "ping"}', False),  # a notification
        ('{"jsonrpc": "2.0", "id": 1.5, "result": {}}', False),  # a response: never answered
        ('{"method": "x", "params": {"id": 1.5}}', False),  # a nested id is not the request's
        ('{"jsonrpc": "2.0", "i\\u0064": 1.5, "method": "ping"}', True),  # keys the SDK reads decoded
        ('{"jsonrpc": "2.0", "id": 2.5, "m\\u0065thod": "ping"}', True),
        ('{"jsonrpc": "2.0", "i\\u0064": 2, "method": "ping"}', False),
    ],
)
def test_an_id_that_is_neither_a_string_nor_an_integer_is_found_in_the_raw_line(line: str, bad: bool) -> None:
    assert has_bad_id(line) is bad
