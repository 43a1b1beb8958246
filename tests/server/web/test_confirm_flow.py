"""``server/web/confirm_flow.py``, the server's side of the dial workflow: what the client declared decides how
the human is reached (its form, or not), and confirm-page approvals hold across replicas: a human approves on the
page of one server, the model's next call
reaches another server on the same ledger, and that one completes the dial — once, without asking again.

Two servers in this process (each its own guard, ledger connection or pool, and confirm pages), one ledger on
each backend (an SQLite file; a PostgreSQL database of its own), the emulator over loopback HTTP.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from mcp import Client
from mcp.client.session import ClientRequestContext
from mcp.server.mcpserver import Context, MCPServer
from mcp_types import ElicitRequestParams, ElicitResult

from server_support import Clock, call, dials, structured, text_of
from tests.server.web.test_confirm_page import browser_log, click, human_client, recorded_url
from voicing_mcp.config import load_settings
from voicing_mcp.emulator.runner import RunningEmulator
from voicing_mcp.server.app import create_server
from voicing_mcp.server.context import ServerContext
from voicing_mcp.server.web.confirm_flow import client_can_elicit, client_can_open_url

SECRET = "Zq3vN8pXw2LrT6yKc1HdJ5mBf9GsAe4U-_"


async def test_an_approval_on_one_servers_page_dials_once_through_another_on_the_same_ledger(
    emu: RunningEmulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, ledger_setting: str
) -> None:
    log = browser_log(tmp_path, monkeypatch)
    shared = {"ledger": ledger_setting, "token_secret": SECRET}
    async with (
        human_client(emu, tmp_path, "legacy", **shared) as one,
        human_client(emu, tmp_path, "legacy", **shared) as other,
    ):
        asked = structured(await call(one))
        url = await recorded_url(log)
        assert (await click(url)).status_code == 200
        done = structured(await call(other))  # the balancer sent the model's next call to the other replica
        again = await call(one)  # and the first replica, which still holds the approval in memory
    assert asked["status"] == "confirmation_required"
    assert done["status"] == "started" and done["confirmed_by"] == "page"
    assert again.is_error and "refused by the dial guard" in text_of(again)
    assert dials(emu) == 1
    assert len(log.read_text(encoding="utf-8").split()) == 1  # the human was asked once


async def test_a_declined_or_unclicked_page_leaves_nothing_another_replica_can_take(
    emu: RunningEmulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, ledger_setting: str
) -> None:
    """Only an approval is stored: a page nobody clicked does not let the other replica dial; it asks the human
    itself (a page of its own)."""
    log = browser_log(tmp_path, monkeypatch)
    shared = {"ledger": ledger_setting, "token_secret": SECRET}
    async with (
        human_client(emu, tmp_path, "legacy", **shared) as one,
        human_client(emu, tmp_path, "legacy", **shared) as other,
    ):
        assert structured(await call(one))["status"] == "confirmation_required"
        await recorded_url(log)
        assert structured(await call(other))["status"] == "confirmation_required"
    assert dials(emu) == 0
    assert len(log.read_text(encoding="utf-8").split()) == 2


async def test_an_approval_given_for_one_api_is_never_taken_by_a_server_dialling_another_on_the_same_ledger(
    emu: RunningEmulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, ledger_setting: str
) -> None:
    """One ledger, two scopes (as the dial rows: a rehearsal never uses up or blocks real dials): the human
    approved the call for the API of the first server; the second one reaches another API (another base URL,
    here the same emulator by another host name) and asks the human itself."""
    log = browser_log(tmp_path, monkeypatch)
    shared: dict[str, Any] = {"ledger": ledger_setting, "token_secret": SECRET, "quiet_hours": "off"}
    other_api = emu.base_url.replace("127.0.0.1", "localhost")
    assert other_api != emu.base_url
    one_settings = load_settings(base_url=emu.base_url, api_key=emu.api_key, env="development", **shared)
    other_settings = load_settings(base_url=other_api, api_key=emu.api_key, env="development", **shared)
    async with (
        Client(create_server(one_settings, clock=Clock()), mode="legacy") as one,
        Client(create_server(other_settings, clock=Clock()), mode="legacy") as other,
    ):
        assert structured(await call(one))["status"] == "confirmation_required"
        url = await recorded_url(log)
        assert (await click(url)).status_code == 200
        elsewhere = structured(await call(other))
    assert elsewhere["status"] == "confirmation_required"
    assert dials(emu) == 0
    assert len(log.read_text(encoding="utf-8").split()) == 2  # the other server asked the human itself


async def test_a_client_that_declares_elicitation_can_be_asked_and_one_that_does_not_cannot() -> None:
    server: MCPServer[Any] = MCPServer("t")

    def reach(ctx: Context[ServerContext, Any]) -> str:
        return f"form={client_can_elicit(ctx)} url={client_can_open_url(ctx)}"

    server.add_tool(reach)

    async def answer(context: ClientRequestContext, params: ElicitRequestParams) -> ElicitResult:
        return ElicitResult(action="decline")

    async with Client(server, elicitation_callback=answer) as asking:
        assert text_of(await asking.call_tool("reach", {})) == "form=True url=True"  # the SDK declares both modes
    async with Client(server) as silent:
        assert text_of(await silent.call_tool("reach", {})) == "form=False url=False"
