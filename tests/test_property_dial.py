"""A stateful property test of initiate_outbound_call through a real MCP client session and the emulator.

Hypothesis generates sequences of tool calls — numbers of every class (valid, allow-listed, fictional,
emergency, short, premium-rate, invalid, national without a region, foreign), tokens used fresh, tampered,
replayed, expired, with a changed request, or by several concurrent calls, time moving on, and dropped
answers — and checks after every step that every dial the emulator recorded maps to exactly one valid
confirmation (a fresh, unexpired, unchanged token used once) or an allow-listed number, and that nothing
else ever dialled.

The example count is modest by default. Run it at scale with::

    HYPOTHESIS_PROFILE=deep .venv/bin/pytest -q tests/test_property_dial.py   # 10,000 sequences
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import anyio
import pytest
from anyio.from_thread import BlockingPortal, start_blocking_portal
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, invariant, multiple, rule, run_state_machine_as_test
from mcp import Client
from mcp_types import CallToolResult, TextContent

from server_support import MODES, helper
from voicing_mcp.config import load_settings
from voicing_mcp.emulator.runner import RunningEmulator, emulator_in_thread
from voicing_mcp.emulator.state import EmulatorConfig
from voicing_mcp.server.app import create_server
from voicing_mcp.server.dial import register_dial_tool

PROFILES = {
    "ci": settings(
        max_examples=12,
        stateful_step_count=12,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    ),
    "deep": settings(
        max_examples=10_000,
        stateful_step_count=25,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    ),
}
PROFILE = PROFILES[os.environ.get("HYPOTHESIS_PROFILE", "ci")]

PAYMENT = "019addcc-b878-7b10-85f1-49f21342f947"
CLINIC = "019addcc-0000-7000-8000-000000000002"
REQUESTS = [
    (PAYMENT, {"name": "Ann", "plan_type": "Gold"}),
    (CLINIC, {"name": "Ann", "date": "May 3"}),
    (PAYMENT, {"name": "Ann"}),  # a required placeholder missing: always refused
]
DIALLABLE = ["+17018112582", "+17018112583", "+12025550143", "+442079460000"]
ALLOWED = ["+17028112582", "+17028112599"]  # VOICING_ALLOWED_NUMBERS=+1702811*
NEVER = ["911", "112", "611", "+19005551234", "+10998112582", "7018112582", "+17015550123", "", "not a number"]
DIAL_PATH = "/api/v1/campaigns/publish-outbound-call"


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 5, 4, 16, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@dataclass
class Token:
    token: str
    arguments: dict[str, Any]
    expires_at: datetime
    used: bool = field(default=False)


def may_have_dialled(result: CallToolResult) -> bool:
    """A started call, or a dial whose answer was lost (the POST reached the emulator)."""
    if not result.is_error:
        return True
    text = " ".join(b.text for b in result.content if isinstance(b, TextContent))
    return "outcome unknown (ledger #" in text and "Nothing was dialled" not in text


class DialMachine(RuleBasedStateMachine):
    tokens = Bundle("tokens")

    def __init__(self, emu: RunningEmulator, mode: str) -> None:
        super().__init__()
        self.emu = emu
        helper(emu, "POST", "/_emulator/reset")
        helper(emu, "DELETE", "/_emulator/faults")
        self.clock = Clock()
        self.tmp = tempfile.TemporaryDirectory()
        s = load_settings(
            base_url=emu.base_url,
            api_key=emu.api_key,
            env="development",
            quiet_hours="off",
            ledger=Path(self.tmp.name) / "ledger.sqlite3",
            allowed_numbers="+1702811*",
            max_calls_per_hour=1000,
            confirmation="token",  # the token flow is opt-in (human mode is the default outside local)
        )
        server = create_server(s)
        server.remove_tool("initiate_outbound_call")
        register_dial_tool(server, s, clock=self.clock, resource=False)
        self._portal_cm: AbstractContextManager[BlockingPortal] = start_blocking_portal()
        self.portal = self._portal_cm.__enter__()
        self._client_cm = self.portal.wrap_async_context_manager(Client(server, mode=mode))
        self.client = self._client_cm.__enter__()
        self.justified: list[str] = []  # one entry per dial we expect: "token:<token>" or "allow:<number>"
        self.drop_armed = False

    def teardown(self) -> None:
        self._client_cm.__exit__(None, None, None)
        self._portal_cm.__exit__(None, None, None)
        self.tmp.cleanup()

    # ----- helpers ------------------------------------------------------------------------------
    def call(self, arguments: dict[str, Any]) -> CallToolResult:
        return self.portal.call(self.client.call_tool, "initiate_outbound_call", arguments)

    def call_many(self, arguments: dict[str, Any], n: int) -> list[CallToolResult]:
        results: list[CallToolResult] = []

        async def run() -> None:
            async def one() -> None:
                results.append(await self.client.call_tool("initiate_outbound_call", arguments))

            async with anyio.create_task_group() as tg:
                for _ in range(n):
                    tg.start_soon(one)

        self.portal.call(run)
        return results

    def account(self, result: CallToolResult, justification: str) -> None:
        """Record a result that may have dialled, under the confirmation that allowed it."""
        if not may_have_dialled(result):
            return
        if result.is_error:
            self.drop_armed = False
        self.justified.append(justification)

    # ----- rules ----------------------------------------------------------------------------------
    @rule(
        target=tokens,
        number=st.sampled_from(DIALLABLE + ALLOWED + NEVER),
        which=st.integers(0, len(REQUESTS) - 1),
        provider=st.sampled_from(["default", "default", "twilio"]),
    )
    def ask(self, number: str, which: int, provider: str) -> Any:
        assistant, variables = REQUESTS[which]
        arguments = {
            "assistant_id": assistant,
            "phone_number": number,
            "input_variables": variables,
            "telephony_provider": provider,
        }
        result = self.call(arguments)
        if number in NEVER or which == 2:
            assert result.is_error, f"{number!r} / request {which} must always be refused"
            return multiple()
        if number in ALLOWED:
            if not result.is_error:
                assert result.structured_content is not None
                assert result.structured_content["confirmed_by"] == "allow-list"
            self.account(result, f"allow:{number}")
            return multiple()
        if result.is_error:  # e.g. the duplicate guard
            return multiple()
        data = result.structured_content
        assert data is not None and data["status"] == "confirmation_required", data
        expires = datetime.fromisoformat(data["expires_at"].replace("Z", "+00:00"))
        return Token(data["confirmation_token"], arguments, expires)

    @rule(
        token=tokens,
        change=st.sampled_from(["none", "none", "none", "number", "variables", "provider", "assistant", "tamper"]),
    )
    def confirm(self, token: Token, change: str) -> None:
        arguments = dict(token.arguments)
        value = token.token
        if change == "number":
            arguments["phone_number"] = "+17018112584"
        elif change == "variables":
            arguments["input_variables"] = {**arguments["input_variables"], "name": "Bob"}
        elif change == "provider":
            arguments["telephony_provider"] = "other-provider"
        elif change == "assistant":
            arguments["assistant_id"] = CLINIC if arguments["assistant_id"] == PAYMENT else PAYMENT
            arguments["input_variables"] = {"name": "Ann", "plan_type": "Gold", "date": "May 3"}
        elif change == "tamper":
            head, body, signature = value.split(".")
            value = f"{head}.{body}.{signature[::-1]}"
        result = self.call({**arguments, "confirmation_token": value})
        if may_have_dialled(result):
            assert change == "none", f"a token dialled a changed request ({change})"
            assert not token.used, "a token dialled twice"
            assert self.clock.now < token.expires_at, "an expired token dialled"
            token.used = True
            self.account(result, f"token:{token.token}")

    @rule(token=tokens, n=st.integers(2, 6))
    def confirm_concurrently(self, token: Token, n: int) -> None:
        results = self.call_many({**token.arguments, "confirmation_token": token.token}, n)
        dialled = [r for r in results if may_have_dialled(r)]
        assert len(dialled) <= 1, f"{len(dialled)} dials from one token"
        if dialled:
            assert not token.used and self.clock.now < token.expires_at
            token.used = True
            self.account(dialled[0], f"token:{token.token}")

    @rule(number=st.sampled_from(ALLOWED), n=st.integers(2, 5))
    def dial_allow_listed_concurrently(self, number: str, n: int) -> None:
        arguments = {
            "assistant_id": PAYMENT,
            "phone_number": number,
            "input_variables": {"name": "Ann", "plan_type": "Gold"},
        }
        results = self.call_many(arguments, n)
        dialled = [r for r in results if may_have_dialled(r)]
        assert len(dialled) <= 1, "concurrent duplicates both dialled"
        for r in dialled:
            self.account(r, f"allow:{number}")

    @rule(minutes=st.sampled_from([1, 4, 6, 11, 61]))
    def time_passes(self, minutes: int) -> None:
        self.clock.now += timedelta(minutes=minutes)

    @rule()
    def the_next_dial_answer_is_dropped(self) -> None:
        if not self.drop_armed:
            helper(self.emu, "POST", "/_emulator/faults", {"fault": "drop-after-accept", "path": DIAL_PATH})
            self.drop_armed = True

    # ----- the property -----------------------------------------------------------------------------
    @invariant()
    def every_dial_maps_to_exactly_one_valid_confirmation(self) -> None:
        recorded = helper(self.emu, "GET", "/_emulator/dials")
        assert recorded["count"] == len(self.justified), (recorded, self.justified)
        tokens = [j for j in self.justified if j.startswith("token:")]
        assert len(tokens) == len(set(tokens)), "one confirmation justified two dials"
        for j in self.justified:
            if j.startswith("allow:"):
                assert j.removeprefix("allow:") in ALLOWED


@pytest.fixture(scope="module")
def emu() -> Iterator[RunningEmulator]:
    with emulator_in_thread(EmulatorConfig()) as running:
        yield running


@pytest.mark.parametrize("mode", list(MODES.values()), ids=list(MODES.keys()))
def test_every_dial_maps_to_exactly_one_valid_confirmation_or_allow_listed_number(
    emu: RunningEmulator, mode: str
) -> None:
    run_state_machine_as_test(lambda: DialMachine(emu, mode), settings=PROFILE)  # pyright: ignore[reportArgumentType]
