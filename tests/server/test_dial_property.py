"""A stateful property test of initiate_outbound_call through real MCP client sessions and the emulator.

Two servers share one ledger and one emulator: one confirms by token (``VOICING_CONFIRMATION=token``), one
by the loopback confirm page (``human``; the "browser" records the URL and a rule plays the human, over
real HTTP to the page: "Call now", "Don't call", a forged POST without the page's CSRF token or from a
foreign origin, or a click while the tool still waits). Hypothesis generates sequences of tool calls —
numbers of every class (valid, allow-listed, fictional, emergency, short, premium-rate, invalid, national
without a region, on the do-not-call list in many spellings), hostile variable values (escapes, bidi
overrides, non-finite numbers, nested values, oversize text), tokens used fresh, tampered, replayed,
expired, with a changed request, or by several concurrent calls; page approvals resent, changed or raced;
a do-not-call file that breaks and is mended; time moving on; and dial answers lost or replaced by a
gateway's status after the call was placed — and checks after every step that every dial the emulator
recorded maps to exactly one valid confirmation (a fresh, unexpired, unchanged token used once; a page
approval used once) or an allow-listed number, and that nothing else ever dialled.

The servers are built once per protocol mode and reused: each sequence starts a day later on the
guard's clock with an empty ledger, a reset emulator and a mended do-not-call file, so sequences do not
see each other. The example count is modest by default. Run it at scale with::

    HYPOTHESIS_PROFILE=deep .venv/bin/pytest -q tests/server/test_dial_property.py   # 10,000 sequences (5,000 a mode)
"""

from __future__ import annotations

import json
import math
import os
import re
import sqlite3
import tempfile
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, ExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from anyio.from_thread import BlockingPortal, start_blocking_portal
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, invariant, multiple, rule, run_state_machine_as_test
from mcp import Client
from mcp_types import CallToolResult, TextContent

from server_support import MODES, helper
from voicing_mcp.config import load_settings
from voicing_mcp.emulator.runner import RunningEmulator
from voicing_mcp.guard import workflow
from voicing_mcp.server.app import create_server
from voicing_mcp.server.web import confirm_flow

_COMMON = {"deadline": None, "suppress_health_check": [HealthCheck.too_slow, HealthCheck.filter_too_much]}
PROFILES = {
    "ci": settings(max_examples=15, stateful_step_count=15, **_COMMON),  # pyright: ignore[reportArgumentType]
    # 10,000 sequences in all: 5,000 in each protocol mode
    "deep": settings(max_examples=5_000, stateful_step_count=25, **_COMMON),  # pyright: ignore[reportArgumentType]
}
PROFILE_NAME = os.environ.get("HYPOTHESIS_PROFILE", "ci")
PROFILE = PROFILES[PROFILE_NAME]
if os.environ.get("PROPERTY_EXAMPLES"):  # e.g. PROPERTY_EXAMPLES=200 to time a slice of the deep run
    PROFILE = settings(PROFILE, max_examples=int(os.environ["PROPERTY_EXAMPLES"]))

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
#: the do-not-call file, in the spellings people export; every number on it is refused, however it is asked for
DNC_FILE = """\
# exported from the CRM
phone,name
+1 (701) 811-2590,John Smith
+17018112591\tJane Doe
+17018112592;+17018112593
tel:+1-701-811-2594
"+1.701.811.2595" , "Doe, J." # asked twice
+44 20 7946 0999 | UK office
"""
DNC_ASKED = ["+17018112590", "+1 701 811 2591", "tel:+17018112592", "+1-701-811-2593", "+17018112594",
             "+1 (701) 811-2595", "+442079460999"]  # fmt: skip
DNC_BROKEN_LINE = "call Jane back tomorrow\n"
#: values for a required placeholder: each is refused, or dials only through a confirmation like any other
HOSTILE = ["\x1b[2K\r+1 701 555 0100", "Gold\u202e0010", "x" * 2001, float("inf"), float("nan"), 1e308, -0.0,
           {"nested": 1}, [1, 2], None, True, "", "two\nlines", "Gold\u200b"]  # fmt: skip
#: what answers the next dial after the emulator placed the call: a lost answer, or a gateway's status
AFTER_PLACEMENT = ["drop-after-accept", "accept-then-500", "accept-then-503", "accept-then-524", "accept-then-408"]
DIAL_PATH = "/api/v1/campaigns/publish-outbound-call"
DAY0 = datetime(2026, 5, 4, 16, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = DAY0

    def __call__(self) -> datetime:
        return self.now


def text(result: CallToolResult) -> str:
    return " ".join(b.text for b in result.content if isinstance(b, TextContent))


def status(result: CallToolResult) -> str | None:
    data = result.structured_content
    return None if result.is_error or data is None else str(data.get("status"))


def dialled(result: CallToolResult) -> bool:
    """The tool says it started a call."""
    return status(result) == "started"


def uncertain(result: CallToolResult) -> bool:
    """The POST may have reached the emulator but its answer was lost or was not the API's."""
    return result.is_error and "outcome unknown (ledger #" in text(result)


def request_key(arguments: dict[str, Any]) -> str:
    return json.dumps({k: v for k, v in arguments.items() if k != "wait_seconds"}, sort_keys=True)


def never_crashed(result: CallToolResult) -> None:
    """A crash reaches the model as the SDK's bare 'Error executing tool <name>' (nothing of what happened)."""
    assert text(result).strip() != "Error executing tool initiate_outbound_call", "the tool crashed"


@dataclass
class Token:
    token: str
    arguments: dict[str, Any]
    expires_at: datetime
    used: bool = field(default=False)


@dataclass
class Page:
    """A confirm page the "browser" was given, and what the human did on it."""

    url: str
    arguments: dict[str, Any]
    expires_at: datetime
    decision: str | None = None  # "call" or "decline"
    used: bool = False


class World:
    """The two servers of one protocol mode, their clients, ledger and do-not-call file; built once."""

    def __init__(self, emu: RunningEmulator, mode: str) -> None:
        self.emu = emu
        self.clock = Clock()
        self.stack = ExitStack()
        self.tmp = Path(self.stack.enter_context(tempfile.TemporaryDirectory()))
        self.ledger = self.tmp / "ledger.sqlite3"
        self.dnc = self.tmp / "dnc.csv"
        self.dnc.write_text(DNC_FILE, encoding="utf-8")
        self.opened: list[str] = []  # URLs the "browser" was given
        self.click_on_open: str | None = None  # a human who clicks while the tool waits
        self.http = self.stack.enter_context(httpx.Client(timeout=10))
        portal_cm: AbstractContextManager[BlockingPortal] = start_blocking_portal()
        self.portal = self.stack.enter_context(portal_cm)
        self.clients = {kind: self._client(kind, mode) for kind in ("token", "human")}

    def _client(self, confirmation: str, mode: str) -> Client:
        s = load_settings(
            base_url=self.emu.base_url,
            api_key=self.emu.api_key,
            env="development",
            quiet_hours="off",
            ledger=self.ledger,
            allowed_numbers="+1702811*",
            max_calls_per_hour=1000,
            dnc_file=self.dnc,
            confirmation=confirmation,
        )
        server = create_server(s, clock=self.clock)
        return self.stack.enter_context(self.portal.wrap_async_context_manager(Client(server, mode=mode)))

    async def browser(self, url: str) -> bool:
        """The "browser" (in place of ``webbrowser``): records the URL; a waiting human clicks at once."""
        self.opened.append(url)
        choice, self.click_on_open = self.click_on_open, None
        if choice is not None:
            threading.Thread(target=self.click, args=(url, choice), daemon=True).start()
        return True

    def click(self, url: str, choice: str, *, forge: str | None = None) -> int:
        """The human's click on the page, over real HTTP: GET the page, POST the form it holds."""
        page = self.http.get(url)
        if page.status_code != 200:
            return page.status_code
        match = re.search(r'name="csrf" value="([^"]+)"', page.text)
        assert match is not None, page.text
        origin = f"{httpx.URL(url).scheme}://{httpx.URL(url).netloc.decode()}"
        csrf = match.group(1)
        if forge == "no-csrf":
            csrf = ""
        elif forge == "foreign-origin":
            origin = "http://evil.example"
        response = self.http.post(url, data={"csrf": csrf, "choice": choice}, headers={"Origin": origin})
        return response.status_code

    def start_sequence(self) -> None:
        """A new sequence: a day later (every page, token, duplicate and rate window is old), empty ledger."""
        helper(self.emu, "POST", "/_emulator/reset")
        helper(self.emu, "DELETE", "/_emulator/faults")
        self.clock.now += timedelta(days=1)
        if self.ledger.exists():  # created by the first dial
            with sqlite3.connect(self.ledger) as conn:
                conn.execute("DELETE FROM dials")
        self.dnc.write_text(DNC_FILE, encoding="utf-8")
        self.opened.clear()
        self.click_on_open = None

    def close(self) -> None:
        self.stack.close()


class DialMachine(RuleBasedStateMachine):
    tokens = Bundle("tokens")
    pages = Bundle("pages")

    def __init__(self, world: World) -> None:
        super().__init__()
        self.world = world
        world.start_sequence()
        self.sure: list[str] = []  # one justification per dial the tool says it started
        self.maybe: list[str] = []  # one per dial whose outcome is unknown
        self.fault_armed = False
        self.dnc_broken = False
        self.live: dict[str, Page] = {}  # the latest page opened for each request

    # ----- helpers ------------------------------------------------------------------------------
    def call(self, kind: str, arguments: dict[str, Any]) -> CallToolResult:
        result = self.world.portal.call(self.world.clients[kind].call_tool, "initiate_outbound_call", arguments)
        never_crashed(result)
        if self.dnc_broken:
            assert not dialled(result) and not uncertain(result), "a dial passed a broken do-not-call file"
        return result

    def call_many(self, kind: str, arguments: dict[str, Any], n: int) -> list[CallToolResult]:
        results: list[CallToolResult] = []

        async def run() -> None:
            async def one() -> None:
                results.append(await self.world.clients[kind].call_tool("initiate_outbound_call", arguments))

            async with anyio.create_task_group() as tg:
                for _ in range(n):
                    tg.start_soon(one)

        self.world.portal.call(run)
        for r in results:
            never_crashed(r)
        return results

    def account(self, result: CallToolResult, justification: str) -> None:
        """Record a result that may have dialled, under the confirmation that allowed it."""
        if dialled(result):
            self.sure.append(justification)
        elif uncertain(result):
            self.maybe.append(justification)
            self.fault_armed = False

    def arguments(self, number: str, which: int, provider: str) -> dict[str, Any]:
        assistant, variables = REQUESTS[which]
        return {
            "assistant_id": assistant,
            "phone_number": number,
            "input_variables": variables,
            "telephony_provider": provider,
        }

    def check_refusals(self, number: str, which: int, result: CallToolResult) -> bool:
        """True when this request must be refused whatever else happens (and asserts it was)."""
        if number in NEVER or which == 2:
            assert result.is_error, f"{number!r} / request {which} must always be refused"
            return True
        if number in DNC_ASKED:
            assert result.is_error and "do-not-call" in text(result), f"{number!r} is on the do-not-call list"
            return True
        return False

    # ----- token mode -------------------------------------------------------------------------------
    @rule(
        target=tokens,
        number=st.sampled_from(DIALLABLE + ALLOWED + NEVER + DNC_ASKED),
        which=st.integers(0, len(REQUESTS) - 1),
        provider=st.sampled_from(["default", "default", "twilio"]),
    )
    def ask(self, number: str, which: int, provider: str) -> Any:
        arguments = self.arguments(number, which, provider)
        result = self.call("token", arguments)
        if self.check_refusals(number, which, result):
            return multiple()
        if number in ALLOWED:
            if dialled(result):
                assert result.structured_content is not None
                assert result.structured_content["confirmed_by"] == "allow-list"
            self.account(result, f"allow:{number}:{len(self.sure) + len(self.maybe)}")
            return multiple()
        if result.is_error:  # e.g. the duplicate guard, a broken do-not-call file
            return multiple()
        data = result.structured_content
        assert data is not None and data["status"] == "confirmation_required", data
        expires = datetime.fromisoformat(data["expires_at"].replace("Z", "+00:00"))
        return Token(data["confirmation_token"], arguments, expires)

    @rule(target=tokens, value=st.sampled_from(HOSTILE), kind=st.sampled_from(["token", "human"]))
    def ask_with_a_hostile_value(self, value: Any, kind: str) -> Any:
        arguments = {**self.arguments(DIALLABLE[0], 0, "default")}
        arguments["input_variables"] = {"name": "Ann", "plan_type": value}
        result = self.call(kind, arguments)
        assert not dialled(result) and not uncertain(result), "a dial without confirmation"
        if isinstance(value, str) and ("\x1b" in value or "\u202e" in value or len(value) > 2000):
            assert result.is_error, f"{value[:20]!r} must be refused"
        if isinstance(value, float) and not math.isfinite(value):
            assert result.is_error, f"{value!r} must be refused"
        if isinstance(value, dict | list):
            assert result.is_error, f"{value!r} must be refused"
        data = result.structured_content
        if kind == "token" and data is not None and data.get("status") == "confirmation_required":
            expires = datetime.fromisoformat(data["expires_at"].replace("Z", "+00:00"))
            return Token(data["confirmation_token"], arguments, expires)
        return multiple()

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
        result = self.call("token", {**arguments, "confirmation_token": value})
        if dialled(result) or uncertain(result):
            assert change == "none", f"a token dialled a changed request ({change})"
            assert not token.used, "a token dialled twice"
            assert self.world.clock.now < token.expires_at, "an expired token dialled"
            token.used = True
            self.account(result, f"token:{token.token}")

    @rule(token=tokens, n=st.integers(2, 6))
    def confirm_concurrently(self, token: Token, n: int) -> None:
        results = self.call_many("token", {**token.arguments, "confirmation_token": token.token}, n)
        placed = [r for r in results if dialled(r) or uncertain(r)]
        assert len(placed) <= 1, f"{len(placed)} dials from one token"
        if placed:
            assert not token.used and self.world.clock.now < token.expires_at
            token.used = True
            self.account(placed[0], f"token:{token.token}")

    @rule(number=st.sampled_from(ALLOWED), n=st.integers(2, 5))
    def dial_allow_listed_concurrently(self, number: str, n: int) -> None:
        results = self.call_many("token", self.arguments(number, 0, "default"), n)
        placed = [r for r in results if dialled(r) or uncertain(r)]
        assert len(placed) <= 1, "concurrent duplicates both dialled"
        for r in placed:
            self.account(r, f"allow:{number}:{len(self.sure) + len(self.maybe)}")

    # ----- human mode: the confirm page -------------------------------------------------------------
    @rule(
        target=pages,
        number=st.sampled_from(DIALLABLE + DNC_ASKED[:2] + NEVER[:2]),
        which=st.integers(0, len(REQUESTS) - 1),
        click_while_waiting=st.sampled_from([None, None, "call", "decline"]),
    )
    def ask_the_human(self, number: str, which: int, click_while_waiting: str | None) -> Any:
        arguments = self.arguments(number, which, "default")
        opened = len(self.world.opened)
        self.world.click_on_open = click_while_waiting
        # a waiting tool is given time for the click; otherwise it returns confirmation_required at once
        # (not by wait_seconds, which would also follow the started call for that long)
        workflow.CONFIRM_WAIT_SECONDS = 10.0 if click_while_waiting else 0.0
        try:
            result = self.call("human", arguments)
        finally:
            workflow.CONFIRM_WAIT_SECONDS = 0.0
            self.world.click_on_open = None
        if self.check_refusals(number, which, result):
            assert len(self.world.opened) == opened, "a refused request reached the human"
            return multiple()
        assert "/confirm/" not in text(result) and "/confirm/" not in str(result.structured_content), (
            "the page's URL reached the model"
        )
        new = self.world.opened[opened:]
        assert len(new) <= 1, "one request opened two pages"
        page = self.opened_page(new, arguments, click_while_waiting)
        if dialled(result) or uncertain(result):
            self.spend_approval(arguments, result)
        return page if page is not None else multiple()

    def opened_page(self, new: list[str], arguments: dict[str, Any], decision: str | None) -> Page | None:
        """The page a request opened (the request's live page from now on), or None."""
        if not new:
            return None
        page = Page(new[0], arguments, self.world.clock.now + timedelta(minutes=5), decision)
        self.live[request_key(arguments)] = page
        return page

    def spend_approval(self, arguments: dict[str, Any], result: CallToolResult) -> None:
        """A human-mode request dialled: the live page of exactly this request must hold an unused "Call now"."""
        page = self.live.get(request_key(arguments))
        assert page is not None, "the human mode dialled a request no page was opened for"
        assert page.decision == "call", f"a page dialled without 'Call now' ({page.decision})"
        assert not page.used, "one approval dialled twice"
        assert self.world.clock.now < page.expires_at, "an expired approval dialled"
        page.used = True
        self.account(result, f"page:{page.url}")

    @rule(page=pages, choice=st.sampled_from(["call", "call", "decline"]),
          forge=st.sampled_from([None, None, None, "no-csrf", "foreign-origin"]))  # fmt: skip
    def human_clicks(self, page: Page, choice: str, forge: str | None) -> None:
        code = self.world.click(page.url, choice, forge=forge)
        if forge is not None:
            assert code in (403, 404, 409, 410), f"a forged click was accepted ({forge}: {code})"
            return
        if code == 200:
            assert page.decision is None, f"a decided page took a second decision ({page.decision})"
            page.decision = choice

    @rule(page=pages, change=st.sampled_from(["none", "none", "number", "variables"]), n=st.integers(1, 3))
    def resend_after_the_click(self, page: Page, change: str, n: int) -> None:
        arguments = dict(page.arguments)
        if change == "number":
            arguments["phone_number"] = "+17018112584"
        elif change == "variables":
            arguments["input_variables"] = {**arguments["input_variables"], "name": "Bob"}
        opened = len(self.world.opened)
        results = self.call_many("human", arguments, n)
        placed = [r for r in results if dialled(r) or uncertain(r)]
        assert len(placed) <= 1, f"{len(placed)} dials from one approval"
        if placed:
            self.spend_approval(arguments, placed[0])
        # a request that found no approval asks the human on a new page (concurrent identical ones share it)
        new = self.world.opened[opened:]
        assert len(new) <= 1, f"{n} identical requests opened {len(new)} pages"
        assert not (placed and new), "a second page asked the human about the call being placed"
        self.opened_page(new, arguments, None)

    # ----- the world ---------------------------------------------------------------------------------
    @rule(minutes=st.sampled_from([1, 4, 6, 11, 61]))
    def time_passes(self, minutes: int) -> None:
        self.world.clock.now += timedelta(minutes=minutes)

    @rule(fault=st.sampled_from(AFTER_PLACEMENT))
    def the_next_dial_answer_is_lost(self, fault: str) -> None:
        if not self.fault_armed:
            helper(self.world.emu, "POST", "/_emulator/faults", {"fault": fault, "path": DIAL_PATH})
            self.fault_armed = True

    @rule(broken=st.booleans())
    def the_do_not_call_file_is_edited(self, broken: bool) -> None:
        self.world.dnc.write_text(DNC_FILE + (DNC_BROKEN_LINE if broken else ""), encoding="utf-8")
        self.dnc_broken = broken

    # ----- the property -----------------------------------------------------------------------------
    @invariant()
    def every_dial_maps_to_exactly_one_valid_confirmation(self) -> None:
        recorded = self.world.emu.state.dials()["count"]  # the emulator's own count (it runs in this process)
        assert len(self.sure) <= recorded <= len(self.sure) + len(self.maybe), (recorded, self.sure, self.maybe)
        justifications = self.sure + self.maybe
        assert len(justifications) == len(set(justifications)), "one confirmation justified two dials"


@pytest.fixture
def world(emu: RunningEmulator, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    built = World(emu, str(request.param))
    monkeypatch.setattr(confirm_flow, "open_in_browser", built.browser)
    monkeypatch.setattr(workflow, "CONFIRM_WAIT_SECONDS", 0.0)
    try:
        yield built
    finally:
        built.close()


@pytest.mark.timeout(0 if PROFILE_NAME == "deep" else 300)
@pytest.mark.parametrize("world", list(MODES.values()), ids=list(MODES.keys()), indirect=True)
def test_every_dial_maps_to_exactly_one_valid_confirmation_or_allow_listed_number(world: World) -> None:
    run_state_machine_as_test(lambda: DialMachine(world), settings=PROFILE)  # pyright: ignore[reportArgumentType]
