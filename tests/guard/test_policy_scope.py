"""The ledger scope (``guard.policy.ledger_environment``): servers that reach the same API through one ledger
count each other's dials however the base URL is spelled, and rows written under an older spelling still count.
The POSTs go to the emulator through a real API client; only the ledger's view of them is under test."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from guard_support import check
from server_support import CLINIC, NUMBER, PAYMENT, VARS, Clock, call, dial_client, dials, ledger_cli, refusal
from voicing_mcp.api.client import VoicingClient
from voicing_mcp.api.models import OutboundCallRequest
from voicing_mcp.config import PACKAGE_PROMPTS_DIR, load_settings
from voicing_mcp.emulator.runner import RunningEmulator
from voicing_mcp.errors import GuardRefusal
from voicing_mcp.guard.ledger import Ledger
from voicing_mcp.guard.policy import DialGuard, ledger_environment
from voicing_mcp.guard.templates import TemplateStore

MODE = "legacy"  # the dial path under test does not depend on the protocol version


async def test_two_servers_reaching_the_same_api_by_env_or_by_base_url_count_each_others_dials(
    emu: RunningEmulator, tmp_path: Path
) -> None:
    """VOICING_ENV=production and VOICING_BASE_URL=https://api.voicing.ai are the same API: one ledger scope.
    (The POSTs go to the emulator through a real API client; only the ledger's view of them is under test.)"""

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
            Ledger(tmp_path / "ledger.sqlite3", environment=ledger_environment(s)),
        )
        for s in (by_env, by_url)
    ]
    async with VoicingClient(base_url=emu.base_url, api_key=emu.api_key) as api:
        decision = await check(guards[0], **request)
        await guards[0].place_call(decision, api, confirmation="token")
        with pytest.raises(GuardRefusal) as refused:
            await check(guards[1], **request)
    for guard in guards:
        guard.ledger.close()
    assert refused.value.rule == "duplicate"
    assert dials(emu) == 1


async def _two_guards_dial(emu: RunningEmulator, tmp_path: Path, first: Any, second: Any) -> Any:
    """Guard 1 (settings ``first``) places a call; guard 2 (``second``) on the same ledger checks the same
    request. Returns guard 2's refusal, or None when it would dial."""

    request: dict[str, Any] = {"assistant_id": PAYMENT, "phone_number": NUMBER, "input_variables": VARS}
    guards = [
        DialGuard(
            s,
            TemplateStore(PACKAGE_PROMPTS_DIR),
            Ledger(tmp_path / "ledger.sqlite3", environment=ledger_environment(s)),
        )
        for s in (first, second)
    ]
    try:
        async with VoicingClient(base_url=emu.base_url, api_key=emu.api_key) as api:
            decision = await check(guards[0], **request)
            await guards[0].place_call(decision, api, confirmation="token")
            try:
                await check(guards[1], **request)
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
    first = load_settings(api_key="k", env="development", base_url=one, quiet_hours="off")
    second = load_settings(api_key="k", env="production", base_url=other, quiet_hours="off")
    refused = await _two_guards_dial(emu, tmp_path, first, second)
    assert (refused is not None and refused.rule == "duplicate") is same, refused


async def test_rows_written_under_the_older_scope_spelling_still_count(emu: RunningEmulator, tmp_path: Path) -> None:
    """An unknown outcome recorded before base URLs were normalised (``<env>:<url as written>``) still blocks
    the number for a server that spells the URL differently; its credentials are not shown."""

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
    guard = DialGuard(s, TemplateStore(PACKAGE_PROMPTS_DIR), Ledger(path, environment=ledger_environment(s)))
    with pytest.raises(GuardRefusal) as refused:
        await check(guard, assistant_id=PAYMENT, phone_number=NUMBER, input_variables=VARS)
    guard.ledger.close()
    assert refused.value.rule == "outcome-unknown" and f"#{row}" in refused.value.message
    listed = ledger_cli(path, "list")
    assert "hunter2" not in listed.stdout and "https://proxy.example/v1" in listed.stdout, listed.stdout
    assert dials(emu) == 0


async def test_a_dial_left_pending_by_a_crashed_server_blocks_the_number_for_another_assistant(
    emu: RunningEmulator, tmp_path: Path
) -> None:
    """Another server process on the same ledger claimed a dial with one assistant and died before the outcome:
    a dial of the same number with another assistant is refused, naming the row, and nothing rings."""

    ledger = tmp_path / "ledger.sqlite3"
    scope = ledger_environment(load_settings(base_url=emu.base_url, api_key=emu.api_key, env="development"))
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
