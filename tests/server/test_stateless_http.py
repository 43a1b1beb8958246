"""Streamable HTTP without sessions (``VOICING_HTTP_STATELESS`` / ``--http-stateless``): replicas behind a load
balancer without sticky sessions. Real server processes, the SDK's client, a round-robin balancer that sends every
HTTP request to the next replica; the emulator as the remote API over loopback HTTP."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from mcp import Client
from mcp.client.session import ClientRequestContext
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError
from mcp_types import ElicitRequestParams, ElicitResult

from benchmarks import _fleet as fleet
from server_support import ASSISTANT, structured, text_of
from tests.server.test_dial import dials
from voicing_mcp.emulator.runner import RunningEmulator

SECRET = "Zq3vN8pXw2LrT6yKc1HdJ5mBf9GsAe4U-_"
NUMBER = "+17018112582"
ARGS = {"assistant_id": ASSISTANT, "phone_number": NUMBER, "input_variables": {"name": "Ann", "plan_type": "Gold"}}
INIT = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "raw", "version": "1"}},
}
MCP_HEADERS = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}


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


@pytest.fixture
def stateless(emu: RunningEmulator, tmp_path: Path) -> Iterator[list[fleet.Replica]]:
    yield from replicas(env_for(emu, tmp_path))


@pytest.fixture
def human_mode(emu: RunningEmulator, tmp_path: Path) -> Iterator[list[fleet.Replica]]:
    yield from replicas(env_for(emu, tmp_path, VOICING_CONFIRMATION="human"))


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


@pytest.mark.parametrize("mode", ["legacy", "2026-07-28"])
async def test_a_token_from_one_replica_dials_on_the_next_behind_a_balancer_without_sticky_sessions(
    emu: RunningEmulator, stateless: list[fleet.Replica], mode: str
) -> None:
    async with balanced(stateless, mode) as client:
        args: dict[str, Any] = {"assistant_id": ASSISTANT, "phone_number": NUMBER}
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
            "phone_number": NUMBER,
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
