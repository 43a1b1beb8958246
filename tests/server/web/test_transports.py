"""SSE and streamable HTTP: the real ``voicing-mcp`` process served by uvicorn on an ephemeral
127.0.0.1 port, driven by the SDK's own clients and by raw HTTP requests.

Covers: tool calls over both transports, DNS-rebinding protection (forged Host / Origin), the
bearer token (401 without or with a wrong one, 200 with it), the refusal to serve a non-loopback
address without a token, settings errors at start-up, and the policy's pure parts.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import httpx2
import pytest
from mcp import Client
from mcp.client.session import ClientRequestContext
from mcp.client.sse import sse_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError
from mcp_types import ElicitRequestParams, ElicitResult
from pydantic import SecretStr

from benchmarks import _fleet as fleet
from benchmarks._fleet import Replica
from server_support import ASSISTANT, dials, structured, text_of
from voicing_mcp.config import PACKAGE_PROMPTS_DIR
from voicing_mcp.emulator.runner import RunningEmulator
from voicing_mcp.errors import ConfigError
from voicing_mcp.server.web.security import origin_host, policy_for, split_host

STARTUP_LIMIT = 60.0  # a bound against a hung start, not a speed expectation
TOKEN = "interop-token-0123456789abcdef"
INIT = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-11-25",
        "capabilities": {},
        "clientInfo": {"name": "raw-http-test", "version": "1"},
    },
}
MCP_HEADERS = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}


def clean_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VOICING_")}
    env["XDG_STATE_HOME"] = str(tmp_path / "state")
    env["PYTHONUNBUFFERED"] = "1"
    env["VOICING_PROMPTS_DIR"] = str(PACKAGE_PROMPTS_DIR)  # the test user's templates: the emulator's assistants
    env.update(extra)
    return env


Served = Replica  # a served process, announcing its URL on stderr (the replicas benchmark's own helper)


def serve(tmp_path: Path, transport: str, *, token: str | None = None) -> Served:
    env = clean_env(tmp_path, **({"VOICING_MCP_TOKEN": token} if token else {}))
    proc = subprocess.Popen(
        [sys.executable, "-m", "voicing_mcp", "--transport", transport, "--port", "0"],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        encoding="utf-8",
    )
    served = Served(proc)
    threading.Thread(target=served.pump, daemon=True).start()
    served.ready.wait(STARTUP_LIMIT)
    if not served.url:
        proc.kill()
        raise AssertionError("the server did not announce its URL:\n" + "".join(served.stderr))
    return served


def stop(served: Served) -> str:
    """Stop the server; return what it wrote to stdout (must be nothing for SSE/HTTP)."""
    served.proc.terminate()
    try:
        out, _ = served.proc.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        served.proc.kill()
        out, _ = served.proc.communicate()
    return out


@pytest.fixture(scope="module")
def http_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    served = serve(tmp_path_factory.mktemp("http"), "http")
    yield served
    assert stop(served) == "", "SSE/HTTP servers write logs to stderr, never stdout"


@pytest.fixture(scope="module")
def sse_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    served = serve(tmp_path_factory.mktemp("sse"), "sse")
    yield served
    assert stop(served) == ""


@pytest.fixture(scope="module")
def token_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    served = serve(tmp_path_factory.mktemp("token"), "http", token=TOKEN)
    yield served
    out = stop(served)
    assert out == ""
    assert TOKEN not in "".join(served.stderr), "the token is never logged"


# ----- real SDK clients -----------------------------------------------------------------------
async def test_the_sdk_client_calls_tools_over_streamable_http(http_server: Served) -> None:
    assert http_server.url.startswith("http://127.0.0.1:") and http_server.url.endswith("/mcp")
    async with Client(http_server.url, mode="legacy") as client:
        names = {t.name for t in (await client.list_tools()).tools}
        page = structured(await client.call_tool("list_calls", {"limit": 3}))
        one = structured(await client.call_tool("get_call_details", {"call_id": page["calls"][0]["call_id"]}))
    assert {"get_call_details", "list_calls", "bulk_call_details", "chat_with_assistant"} <= names
    assert len(page["calls"]) == 3
    assert one["call_id"] == page["calls"][0]["call_id"]


async def test_the_sdk_client_in_the_newer_protocol_mode_works_over_streamable_http(http_server: Served) -> None:
    async with Client(http_server.url, mode="2026-07-28") as client:  # per-request envelope, no handshake
        result = await client.call_tool("get_call_details", {"call_id": "no-such-call"})
        version = client.session.protocol_version
    assert version == "2026-07-28"
    assert result.is_error is True
    assert "not found" in result.content[0].text  # type: ignore[union-attr]


async def test_the_sdk_client_calls_tools_over_sse(sse_server: Served) -> None:
    assert sse_server.url.endswith("/sse")
    async with Client(sse_client(sse_server.url), mode="legacy") as client:
        page = structured(await client.call_tool("list_calls", {"limit": 2}))
        bulk = structured(
            await client.call_tool("bulk_call_details", {"call_ids": [c["call_id"] for c in page["calls"]] + ["nope"]})
        )
    assert bulk["found"] == 2 and bulk["missing"] == ["nope"]


async def test_sse_connections_share_one_server_state(sse_server: Served) -> None:
    assistant = "019addcc-b878-7b10-85f1-49f21342f947"
    async with Client(sse_client(sse_server.url), mode="legacy") as first:
        opened = structured(await first.call_tool("chat_with_assistant", {"assistant_id": assistant, "message": "hi"}))
    async with Client(sse_client(sse_server.url), mode="legacy") as second:
        args = {"assistant_id": assistant, "message": "still there?", "conversation_id": opened["conversation_id"]}
        continued = structured(await second.call_tool("chat_with_assistant", args))
    assert continued["conversation_id"] == opened["conversation_id"] and continued["turn"] == 2
    assert sum("local emulator" in line for line in sse_server.stderr) == 1, "one emulator for the whole server"


# ----- DNS-rebinding protection ---------------------------------------------------------------
def test_a_forged_origin_gets_403_on_streamable_http(http_server: Served) -> None:
    r = httpx.post(http_server.url, json=INIT, headers={**MCP_HEADERS, "Origin": "http://evil.example.com"})
    assert r.status_code == 403
    assert "Origin" in r.text


def test_a_forged_host_is_refused_on_streamable_http(http_server: Served) -> None:
    r = httpx.post(http_server.url, json=INIT, headers={**MCP_HEADERS, "Host": "evil.example.com"})
    assert r.status_code == 421
    assert "Host" in r.text


def test_a_localhost_origin_is_accepted(http_server: Served) -> None:
    port = http_server.origin.rsplit(":", 1)[1]
    r = httpx.post(
        http_server.url, json=INIT, headers={**MCP_HEADERS, "Origin": f"http://localhost:{port}", "Host": "localhost"}
    )
    assert r.status_code == 200
    assert r.headers.get("mcp-session-id")


def test_a_forged_origin_gets_403_on_sse(sse_server: Served) -> None:
    r = httpx.get(sse_server.url, headers={"Origin": "http://evil.example.com"})
    assert r.status_code == 403
    base = sse_server.url.removesuffix("/sse")
    r = httpx.post(f"{base}/messages/?session_id=0", json=INIT, headers={"Origin": "https://attacker.test"})
    assert r.status_code == 403


def test_an_opaque_null_origin_is_refused(http_server: Served) -> None:
    r = httpx.post(http_server.url, json=INIT, headers={**MCP_HEADERS, "Origin": "null"})
    assert r.status_code == 403


# ----- bearer token ---------------------------------------------------------------------------
def test_with_a_token_set_a_request_without_it_gets_401_with_a_challenge(token_server: Served) -> None:
    r = httpx.post(token_server.url, json=INIT, headers=MCP_HEADERS)
    assert r.status_code == 401
    assert r.headers["www-authenticate"].startswith("Bearer ")
    assert TOKEN not in r.text


def test_with_a_token_set_a_wrong_token_gets_401(token_server: Served) -> None:
    for auth in (f"Bearer {TOKEN}x", f"Bearer {TOKEN[:-1]}", f"Basic {TOKEN}", "Bearer", TOKEN):
        r = httpx.post(token_server.url, json=INIT, headers={**MCP_HEADERS, "Authorization": auth})
        assert r.status_code == 401, auth
    assert 'error="invalid_token"' in r.headers["www-authenticate"]


def test_with_a_token_set_the_right_token_gets_200(token_server: Served) -> None:
    r = httpx.post(token_server.url, json=INIT, headers={**MCP_HEADERS, "Authorization": f"Bearer {TOKEN}"})
    assert r.status_code == 200
    body = r.text
    payload = json.loads(body.split("data: ", 1)[1]) if body.startswith("event:") else r.json()
    assert payload["result"]["serverInfo"]["name"] == "voicing-mcp"


async def test_with_a_token_set_the_sdk_client_works_when_it_sends_the_token(token_server: Served) -> None:
    http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {TOKEN}"}, timeout=httpx2.Timeout(30, read=300))
    async with http, Client(streamable_http_client(token_server.url, http_client=http), mode="legacy") as client:
        page = structured(await client.call_tool("list_calls", {"limit": 1}))
    assert len(page["calls"]) == 1


def test_with_a_token_set_a_forged_origin_is_still_403(token_server: Served) -> None:
    headers = {**MCP_HEADERS, "Authorization": f"Bearer {TOKEN}", "Origin": "http://evil.example.com"}
    assert httpx.post(token_server.url, json=INIT, headers=headers).status_code == 403


# ----- start-up refusals ----------------------------------------------------------------------
@pytest.mark.parametrize("transport", ["http", "sse"])
def test_a_non_loopback_bind_without_a_token_refuses_to_start(tmp_path: Path, transport: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "voicing_mcp", "--transport", transport, "--host", "0.0.0.0", "--port", "0"],
        env=clean_env(tmp_path),
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=60,
    )
    assert done.returncode == 2
    assert done.stdout == ""
    assert "refusing to listen on 0.0.0.0 without a token" in done.stderr
    assert "VOICING_MCP_TOKEN" in done.stderr and "127.0.0.1" in done.stderr
    assert "serving MCP" not in done.stderr and "Traceback" not in done.stderr


def test_a_bad_setting_stops_the_stdio_server_with_one_line_per_problem(tmp_path: Path) -> None:
    env = clean_env(tmp_path, VOICING_QUIET_HOURS="25:00-08:00", VOICING_MAX_CALLS_PER_HOUR="-3")
    done = subprocess.run(
        [sys.executable, "-m", "voicing_mcp"],
        env=env,
        input="",
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=60,
    )
    assert done.returncode == 2
    assert done.stdout == "", "nothing but protocol on stdout, even when start-up fails"
    assert "VOICING_QUIET_HOURS: start '25:00': hour 25 is out of range" in done.stderr
    assert "VOICING_MAX_CALLS_PER_HOUR" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_busy_port_is_a_clear_error(http_server: Served, tmp_path: Path) -> None:
    port = http_server.origin.rsplit(":", 1)[1]
    done = subprocess.run(
        [sys.executable, "-m", "voicing_mcp", "--transport", "http", "--port", port],
        env=clean_env(tmp_path),
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=60,
    )
    assert done.returncode == 2
    assert f"cannot listen on 127.0.0.1:{port}" in done.stderr and "--port" in done.stderr
    assert "Traceback" not in done.stderr


# ----- the policy's pure parts ----------------------------------------------------------------
def test_the_refusal_message_says_why_and_how_to_fix_it() -> None:
    with pytest.raises(ConfigError) as err:
        policy_for("192.168.1.20", None)
    text = str(err.value)
    assert "192.168.1.20" in text and "anyone who can reach" in text
    assert "export VOICING_MCP_TOKEN=" in text and "Authorization: Bearer" in text


def test_loopback_binds_accept_only_loopback_names() -> None:
    policy = policy_for("127.0.0.1", None)
    for host in ("127.0.0.1:8000", "localhost:8000", "[::1]:8000", "localhost", "LOCALHOST:1"):
        assert policy.host_allowed(host), host
    for host in ("evil.example.com", "127.0.0.1.evil.com:80", "", None, "10.0.0.1:8000"):
        assert not policy.host_allowed(host), host
    assert policy.origin_allowed(None)
    assert policy.origin_allowed("http://localhost:6274")
    assert policy.origin_allowed("https://127.0.0.1")
    for origin in ("null", "http://evil.example.com", "file://", "http://localhost.evil.com", "ftp://localhost"):
        assert not policy.origin_allowed(origin), origin


def test_a_specific_address_with_a_token_is_allowed_by_its_own_name() -> None:
    policy = policy_for("192.168.1.20", SecretStr("s" * 32))
    assert policy.host_allowed("192.168.1.20:8000")
    assert policy.host_allowed("localhost:8000")
    assert not policy.host_allowed("192.168.1.21:8000")
    assert policy.token_accepted("Bearer " + "s" * 32)
    assert policy.token_accepted("bearer " + "s" * 32)
    assert not policy.token_accepted(None)
    assert not policy.token_accepted("Bearer " + "s" * 31)


def test_header_values_are_split_into_host_names() -> None:
    assert split_host("Example.COM:8000") == "example.com"
    assert split_host("[::1]:8000") == "::1"
    assert split_host("::1") == "::1"
    assert origin_host("http://[::1]:3000") == "::1"
    assert origin_host("https://user@localhost") is None
    assert origin_host("null") is None


# ----- shutdown ------------------------------------------------------------------------------
@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT to a child process is POSIX")
def test_ctrl_c_with_an_sse_client_connected_stops_cleanly(tmp_path: Path) -> None:
    served = serve(tmp_path, "sse")
    with httpx.Client(timeout=30) as http, http.stream("GET", served.url) as stream:
        lines = stream.iter_lines()
        assert next(lines) == "event: endpoint"
        served.proc.send_signal(signal.SIGINT)
        code = served.proc.wait(timeout=60)
    out = served.proc.stdout.read() if served.proc.stdout else ""
    assert code == 130  # uvicorn shuts down gracefully, then re-raises the SIGINT; the CLI exits 128+2
    assert out == ""
    log = "".join(served.stderr)
    assert "Traceback" not in log and "ERROR" not in log, log


def test_a_second_ctrl_c_force_quits_with_130_and_no_traceback(tmp_path: Path) -> None:
    served = serve(tmp_path, "http")
    served.proc.send_signal(signal.SIGINT)
    time.sleep(0.05)  # the second Ctrl-C while the first one's shutdown runs: uvicorn's force exit
    served.proc.send_signal(signal.SIGINT)
    code = served.proc.wait(timeout=60)
    seen = -1
    while seen != len(served.stderr):  # what the process wrote before it ended, read by the pump thread
        seen = len(served.stderr)
        time.sleep(0.2)
    assert code == 130
    log = "".join(served.stderr)
    assert "Traceback" not in log and "ERROR" not in log, log


# ----- input the JSON parser cannot read: still answered ----------------------------------------------------
UNREADABLE = {
    41: '{"jsonrpc":"2.0","id":41,"method":"tools/call","params":{"name":"list_calls","arguments":{"limit":'
    + "[" * 50_000
    + "]" * 50_000
    + "}}}",
    42: '{"jsonrpc":"2.0","id":42,"method":"tools/call","params":{"name":"list_calls","arguments":{"limit":'
    + "9" * 5_000
    + "}}}",
}


def test_a_request_nested_50000_deep_or_with_a_5000_digit_integer_is_answered_over_streamable_http(
    http_server: Served,
) -> None:
    opened = httpx.post(http_server.url, json=INIT, headers=MCP_HEADERS)
    headers = {**MCP_HEADERS, "mcp-session-id": opened.headers["mcp-session-id"], "mcp-protocol-version": "2025-11-25"}
    for body in UNREADABLE.values():
        answer = httpx.post(http_server.url, content=body, headers=headers, timeout=30)
        assert answer.status_code == 400
        assert answer.json()["error"]["code"] == -32700  # the SDK's parse error (id null: it reads no id)


def test_a_request_nested_50000_deep_or_with_a_5000_digit_integer_is_answered_on_the_sse_stream(
    sse_server: Served,
) -> None:
    base = sse_server.url.removesuffix("/sse")
    answers: dict[int, dict[str, Any]] = {}
    with httpx.Client(timeout=30) as http, http.stream("GET", sse_server.url) as stream:
        lines = stream.iter_lines()
        endpoint = next(line.removeprefix("data:").strip() for line in lines if line.startswith("data:"))
        for body in UNREADABLE.values():
            posted = http.post(base + endpoint, content=body, headers={"Content-Type": "application/json"})
            assert posted.status_code == 400
        for line in lines:
            if line.startswith("data:"):
                message = json.loads(line.removeprefix("data:"))
                answers[message["id"]] = message["error"]
                if len(answers) == len(UNREADABLE):
                    break
    assert answers[41]["code"] == -32700 and "input too deep" in answers[41]["message"]
    assert answers[42]["code"] == -32700 and "number too large" in answers[42]["message"]


# ----------------------------------------------------------------------------------------------------
# Streamable HTTP without sessions (``VOICING_HTTP_STATELESS`` / ``--http-stateless``): replicas behind a load
# balancer without sticky sessions. Real server processes, the SDK's client, a round-robin balancer that sends
# every HTTP request to the next replica; the emulator as the remote API over loopback HTTP.


SECRET = "Zq3vN8pXw2LrT6yKc1HdJ5mBf9GsAe4U-_"
NUMBER = "+17018112582"
ARGS = {"assistant_id": ASSISTANT, "phone_number": NUMBER, "input_variables": {"name": "Ann", "plan_type": "Gold"}}


def env_for(emu: RunningEmulator, tmp_path: Path, **extra: str) -> dict[str, str]:
    env = fleet.fleet_env(
        base_url=emu.base_url,
        ledger=str(tmp_path / "ledger.sqlite3"),
        secret=SECRET,
        state=tmp_path / "state",
        timings=tmp_path,
    )
    env["VOICING_API_KEY"] = emu.api_key
    env["BROWSER"] = "false"  # no browser opens a confirm page here (a headless server)
    env.update(extra)
    return env


def replicas(env: dict[str, str], count: int = 2) -> Iterator[list[fleet.Replica]]:
    started = [fleet.ready(r) for r in [fleet.launch_replica(env, timed=False) for _ in range(count)]]
    try:
        yield started
    finally:
        for r in started:
            fleet.stop_replica(r)


# two replicas per setting, shared by the module's tests (a replica costs ~2.5 s of CPU to start): every test that
# dials through them dials a number of its own, so their one ledger's rules (duplicates, dials in flight, the
# per-number cap) never meet a dial of another test
@pytest.fixture(scope="module")
def stateless(emu_module: RunningEmulator, tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[fleet.Replica]]:
    yield from replicas(env_for(emu_module, tmp_path_factory.mktemp("stateless")))


@pytest.fixture(scope="module")
def human_mode(emu_module: RunningEmulator, tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[fleet.Replica]]:
    yield from replicas(env_for(emu_module, tmp_path_factory.mktemp("human"), VOICING_CONFIRMATION="human"))


def balanced(group: list[fleet.Replica], mode: str, **kwargs: Any) -> Client:
    http, _ = fleet.balanced_client([r.port for r in group])
    return Client(streamable_http_client(group[0].url, http_client=http), mode=mode, **kwargs)


def test_a_stateless_server_says_so_and_hands_out_no_session_id(stateless: list[fleet.Replica]) -> None:
    assert any("serving MCP over stateless streamable HTTP at" in line for line in stateless[0].stderr)
    r = httpx.post(stateless[0].url, json=INIT, headers=MCP_HEADERS, timeout=30)
    assert r.status_code == 200 and "mcp-session-id" not in r.headers


def test_a_session_server_hands_out_a_session_id_that_only_it_knows(emu: RunningEmulator, tmp_path: Path) -> None:
    """Why the setting exists: a default server's session lives in one process; a second replica answers 404."""
    for one, other in replicas(env_for(emu, tmp_path, VOICING_HTTP_STATELESS="false")):
        r = httpx.post(one.url, json=INIT, headers=MCP_HEADERS, timeout=30)
        session = r.headers["mcp-session-id"]
        ping = {"jsonrpc": "2.0", "id": 2, "method": "ping"}
        headers = {**MCP_HEADERS, "mcp-session-id": session, "mcp-protocol-version": "2025-11-25"}
        assert httpx.post(one.url, json=ping, headers=headers, timeout=30).status_code == 200
        assert httpx.post(other.url, json=ping, headers=headers, timeout=30).status_code == 404


@pytest.mark.parametrize(
    ("mode", "number"), [("legacy", "+17018112583"), ("2026-07-28", "+17018112584")], ids=["legacy", "2026-07-28"]
)
async def test_a_token_from_one_replica_dials_on_the_next_behind_a_balancer_without_sticky_sessions(
    emu: RunningEmulator, stateless: list[fleet.Replica], mode: str, number: str
) -> None:
    async with balanced(stateless, mode) as client:
        args: dict[str, Any] = {"assistant_id": ASSISTANT, "phone_number": number}
        args["input_variables"] = {"name": "Ann", "plan_type": "Gold"}
        preview = structured(await client.call_tool("initiate_outbound_call", args))
        started = structured(
            await client.call_tool(
                "initiate_outbound_call", {**args, "confirmation_token": preview["confirmation_token"]}
            )
        )
    assert preview["status"] == "confirmation_required"
    assert started["status"] == "started" and started["confirmed_by"] == "token"
    assert dials(emu) == 1


class Human:
    def __init__(self) -> None:
        self.asked = 0

    async def __call__(self, context: ClientRequestContext, params: ElicitRequestParams) -> ElicitResult:
        self.asked += 1
        return ElicitResult(action="accept", content={"confirm": True})


async def test_the_2026_protocol_confirms_by_elicitation_across_replicas(
    emu: RunningEmulator, human_mode: list[fleet.Replica]
) -> None:
    """2026-07-28: the question and the answer ride the retried call, which the balancer sends to the other
    replica; the human is asked once and the call is placed once."""
    human = Human()
    async with balanced(human_mode, "2026-07-28", elicitation_callback=human) as client:
        args = {
            "assistant_id": ASSISTANT,
            "phone_number": NUMBER,
            "input_variables": {"name": "Ann", "plan_type": "Gold"},
        }
        started = structured(await client.call_tool("initiate_outbound_call", args))
    assert started["status"] == "started" and started["confirmed_by"] == "elicitation"
    assert human.asked == 1 and dials(emu) == 1


async def test_without_a_shared_secret_the_answer_reaching_another_replica_is_refused_and_nothing_dialled(
    emu: RunningEmulator, tmp_path: Path
) -> None:
    """Why the request-state key follows VOICING_TOKEN_SECRET: with the SDK's per-process key the other replica
    cannot unseal the round's state, so the human's answer is lost (nothing is dialled, the client gets an error)."""
    for group in replicas(env_for(emu, tmp_path, VOICING_CONFIRMATION="human", VOICING_TOKEN_SECRET="")):
        async with balanced(group, "2026-07-28", elicitation_callback=Human()) as client:
            with pytest.raises(MCPError, match="requestState"):
                await client.call_tool("initiate_outbound_call", ARGS)
    assert dials(emu) == 0


async def test_a_2025_client_on_stateless_http_cannot_be_asked_and_is_told_what_to_do_instead(
    emu: RunningEmulator, human_mode: list[fleet.Replica]
) -> None:
    """2025-11-25 on stateless HTTP: the server cannot send the client a request (no form or URL elicitation) and
    a headless server opens no browser, so a human-mode dial is refused, naming the ways out; nothing dialled."""
    human = Human()
    async with balanced(human_mode, "legacy", elicitation_callback=human) as client:
        args = {
            "assistant_id": ASSISTANT,
            "phone_number": "+17018112585",  # not the number the 2026 test dialled on these replicas
            "input_variables": {"name": "Ann", "plan_type": "Gold"},
        }
        result = await client.call_tool("initiate_outbound_call", args)
    assert result.is_error
    assert "[confirmation-unavailable]" in text_of(result) and "VOICING_CONFIRMATION=token" in text_of(result)
    assert human.asked == 0 and dials(emu) == 0


def test_http_stateless_is_refused_on_another_transport(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "voicing_mcp", "--transport", "sse", "--http-stateless", "--port", "0"],
        env=fleet.child_env(XDG_STATE_HOME=str(tmp_path)),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "--http-stateless applies to --transport http only" in done.stderr


def test_the_stateless_setting_is_refused_on_sse_rather_than_serving_sessions(tmp_path: Path) -> None:
    """VOICING_HTTP_STATELESS=true says replicas answer any request; SSE cannot (its stream lives in one replica):
    served anyway, every request the balancer sends elsewhere would fail. Refused at start, as the flag is."""
    done = subprocess.run(
        [sys.executable, "-m", "voicing_mcp", "--transport", "sse", "--port", "0"],
        env=fleet.child_env(XDG_STATE_HOME=str(tmp_path), VOICING_HTTP_STATELESS="true"),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2, done.stderr
    assert "VOICING_HTTP_STATELESS" in done.stderr and "--transport http" in done.stderr
