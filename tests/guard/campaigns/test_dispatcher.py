"""The campaign dispatcher against the real emulator over loopback, on both ledger backends (the ``ledger_store``
fixture: an SQLite file, then a PostgreSQL database). Campaigns are created and approved directly in the ledger;
ticks run on a virtual clock (the guard's and the ledger's); what was dialled is read from the emulator's request
log. The emulator runs fast (10,000 virtual seconds a wall second): a call ends within milliseconds."""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncGenerator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client
from pydantic import SecretStr

from pg_support import LedgerStore
from server_support import DIAL_PATH, PAYMENT, VARS, helper
from voicing_mcp.api.client import VoicingClient
from voicing_mcp.config import PACKAGE_PROMPTS_DIR, load_settings
from voicing_mcp.emulator.runner import RunningEmulator
from voicing_mcp.emulator.state import EmulatorConfig
from voicing_mcp.guard.campaigns.dispatcher import APPROVAL_EXPIRED, CampaignDispatcher, TickReport
from voicing_mcp.guard.decision import CheckedDial
from voicing_mcp.guard.ledger import Campaign, DialLedger, NewCampaign, NewCampaignRow
from voicing_mcp.guard.policy import DialGuard, ledger_environment
from voicing_mcp.guard.request import DialRequest
from voicing_mcp.guard.templates import TemplateStore
from voicing_mcp.messages import refusal
from voicing_mcp.server.app import create_server

START = datetime(2026, 5, 4, 16, 0, tzinfo=UTC)  # 10:00-12:00 across the continental US, 06:00 in Honolulu
MANIFEST = "m" * 64
CID = "cmp_0123456789abcdef"


@pytest.fixture(scope="module")
def emu_config() -> EmulatorConfig:
    return EmulatorConfig(speed=10_000.0, seed_calls=0)


def fictional(dd: int, area: str = "701") -> str:
    """The emulator's number whose outcome is row ``dd`` of its table (40s busy, 50s no-answer, 70s failed)."""
    return f"+1{area}55501{dd:02d}"


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta) -> None:
        self.now += delta


@dataclass
class World:
    emu: RunningEmulator
    clock: Clock
    guard: DialGuard
    ledger: DialLedger
    dispatcher: CampaignDispatcher

    @property
    def environment(self) -> str:
        return self.guard.environment

    async def campaign(
        self,
        numbers: Sequence[str],
        *,
        remove: Sequence[int] = (),
        max_concurrent: int = 2,
        max_attempts: int = 1,
        retry_after_minutes: int = 30,
        valid_for: timedelta = timedelta(hours=24),
    ) -> None:
        """A campaign of these numbers approved by a human now, with the ``remove`` positions unticked."""
        await self.ledger.create_campaign(
            NewCampaign(
                id=CID,
                environment=self.environment,
                assistant_id=PAYMENT,
                telephony_provider="default",
                manifest_sha256=MANIFEST,
                max_attempts=max_attempts,
                retry_after_minutes=retry_after_minutes,
                max_concurrent=max_concurrent,
            ),
            [NewCampaignRow(position=i, phone_e164=n, input_variables=VARS) for i, n in enumerate(numbers, 1)],
        )
        await self.ledger.approve_campaign(
            CID,
            manifest_sha256=MANIFEST,
            ticked_positions=[i for i in range(1, len(numbers) + 1) if i not in remove],
            expires_at=self.clock.now + valid_for,
        )

    async def get(self) -> Campaign:
        found = await self.ledger.get_campaign(CID)
        assert found is not None
        return found

    async def tick(self) -> TickReport:
        """One tick, after the calls placed so far had time to end (a few virtual minutes)."""
        await anyio.sleep(0.03)
        return await self.dispatcher.tick()

    async def until_settled(self, limit: int = 60) -> list[TickReport]:
        """Ticks until no row is being dialled or in progress and none is due now (or the campaign stopped)."""
        reports: list[TickReport] = []
        for _ in range(limit):
            reports.append(await self.tick())
            counts = await self.ledger.campaign_row_counts(CID)
            if counts.get("in_progress") or counts.get("dialling"):
                continue
            due = await self.ledger.campaign_next_due(CID)
            if (await self.get()).status != "running" or due is None or due > self.clock.now:
                return reports
        raise AssertionError(f"not settled after {limit} ticks: {await self.ledger.campaign_row_counts(CID)}")


def dialled(emu: RunningEmulator) -> list[str]:
    """The numbers the emulator received a dial for, in order (its request log)."""
    log: list[dict[str, Any]] = helper(emu, "GET", "/_emulator/requests")["requests"]
    return [r["json"]["phone_number"] for r in log if r["path"] == DIAL_PATH and r["method"] == "POST"]


@asynccontextmanager
async def world(
    emu: RunningEmulator,
    store: LedgerStore,
    *,
    local: bool = True,
    guard_class: type[DialGuard] = DialGuard,
    prompts: Path = PACKAGE_PROMPTS_DIR,
    **settings: Any,
) -> AsyncGenerator[World]:
    if local:  # the built-in emulator's mode (no key): its fictional 555 numbers are dialled
        settings.setdefault("env", "local")
    else:
        settings.setdefault("api_key", emu.api_key)
        settings.setdefault("env", "development")
        settings.setdefault("base_url", emu.base_url)
    settings.setdefault("quiet_hours", "off")
    settings.setdefault("max_calls_per_hour", 1000)
    s = load_settings(**settings)
    clock = Clock()
    ledger = store.open(clock=clock, environment=ledger_environment(s))
    guard = guard_class(s, TemplateStore(prompts), ledger, clock=clock)
    async with VoicingClient(base_url=emu.base_url, api_key=emu.api_key) as client:
        dispatcher = CampaignDispatcher(guard, client, worker_id="test:1", clock=clock)
        try:
            yield World(emu, clock, guard, ledger, dispatcher)
        finally:
            await ledger.aclose()


# ----- every approved row once, removed rows never, max_concurrent ----------------------------------
async def test_every_approved_row_is_dialled_once_removed_rows_never_and_max_concurrent_holds(
    emu: RunningEmulator, ledger_store: LedgerStore
) -> None:
    numbers = [fictional(i, area) for i, area in zip(range(10), ["701", "212", "415"] * 4, strict=False)]
    async with world(emu, ledger_store) as w:
        await w.campaign(numbers, remove=[3, 7], max_concurrent=3)
        seen = 0
        for _ in range(40):
            report = await w.tick()
            now = dialled(emu)
            assert len(now) - seen <= 3 and report.dialled == len(now) - seen
            seen = len(now)
            counts = await w.ledger.campaign_row_counts(CID)
            assert counts.get("dialling", 0) + counts.get("in_progress", 0) <= 3, counts
            if (await w.get()).status == "completed":
                break
        assert (await w.get()).status == "completed"
        approved = [n for i, n in enumerate(numbers, 1) if i not in (3, 7)]
        assert sorted(dialled(emu)) == sorted(approved)  # each once
        assert await w.ledger.campaign_row_counts(CID) == {"completed": 8, "removed": 2}
        rows = await w.ledger.campaign_rows(CID)
        assert all(r.attempts == 1 and r.call_id for r in rows if r.state == "completed")
        # every dial row of the ledger names the campaign as its confirmation
        recent = await w.ledger.recent(20)
        assert len(recent) == 8 and {r.confirmation for r in recent} == {"campaign"}
        # more ticks dial nothing
        await w.tick()
        assert len(dialled(emu)) == 8


async def test_a_row_in_a_zone_inside_quiet_hours_waits_and_is_dialled_when_its_window_opens(
    emu: RunningEmulator, ledger_store: LedgerStore
) -> None:
    new_york, honolulu = "+12127363100", "+18089562345"  # 12:00 in New York, 06:00 in Honolulu
    async with world(emu, ledger_store, local=False, quiet_hours="21:00-08:00") as w:
        await w.campaign([new_york, honolulu])
        await w.tick()
        assert dialled(emu) == [new_york]
        rows = {r.position: r for r in await w.ledger.campaign_rows(CID)}
        assert rows[2].state == "waiting" and rows[2].last_outcome == "quiet hours"
        opens = datetime(2026, 5, 4, 18, 0, tzinfo=UTC)  # 08:00 in Honolulu
        assert rows[2].next_attempt_at == opens and rows[2].attempts == 0
        w.clock.now = opens - timedelta(minutes=1)
        await w.tick()
        assert dialled(emu) == [new_york]
        w.clock.now = opens + timedelta(seconds=1)
        await w.until_settled()
        assert dialled(emu) == [new_york, honolulu]
        assert (await w.get()).status == "completed"


async def test_a_no_answer_is_retried_once_with_max_attempts_2_and_never_a_third_time(
    emu: RunningEmulator, ledger_store: LedgerStore
) -> None:
    no_answer = fictional(50)
    async with world(emu, ledger_store) as w:
        await w.campaign([no_answer, fictional(1)], max_attempts=2, retry_after_minutes=30)
        await w.until_settled()
        assert dialled(emu) == [no_answer, fictional(1)] or dialled(emu) == [fictional(1), no_answer]
        row = (await w.ledger.campaign_rows(CID))[0]
        assert (row.state, row.last_outcome, row.attempts) == ("queued", "no_answer", 1)
        assert row.next_attempt_at == START + timedelta(minutes=30)
        assert (await w.get()).status == "running"
        w.clock.advance(timedelta(minutes=31))
        await w.until_settled()
        assert Counter(dialled(emu))[no_answer] == 2
        row = (await w.ledger.campaign_rows(CID))[0]
        assert (row.state, row.attempts) == ("no_answer", 2)
        assert (await w.get()).status == "completed"
        w.clock.advance(timedelta(hours=3))
        await w.tick()
        assert Counter(dialled(emu))[no_answer] == 2


async def test_a_do_not_call_entry_added_after_approval_is_skipped_and_counted(
    emu: RunningEmulator, ledger_store: LedgerStore, tmp_path: Path
) -> None:
    dnc = tmp_path / "dnc.txt"
    dnc.write_text("")
    numbers = [fictional(1), fictional(2), fictional(3)]
    async with world(emu, ledger_store, dnc_file=str(dnc)) as w:
        await w.campaign(numbers)
        dnc.write_text(f"{numbers[1]}\n")  # after the human's approval
        await w.until_settled()
        assert sorted(dialled(emu)) == [numbers[0], numbers[2]]
        assert await w.ledger.campaign_row_counts(CID) == {"completed": 2, "excluded": 1}
        row = (await w.ledger.campaign_rows(CID, states=["excluded"]))[0]
        assert (row.position, row.exclusion_reason, row.attempts) == (2, "do-not-call", 0)
        assert (await w.get()).status == "completed"


class PausingGuard(DialGuard):
    """A real guard whose first dial-time check is followed by the human pausing the campaign: the row was
    claimed before the pause, and is re-checked and dialled after it."""

    paused = False

    async def check(self, dial: DialRequest, **lookups: Any) -> CheckedDial:
        decision = await super().check(dial, **lookups)
        if not self.paused:
            self.paused = True
            await self.ledger.set_campaign_status(CID, "paused", reason="paused by the user")
        return decision


async def test_a_pause_takes_effect_before_the_next_dial_and_resume_continues(
    emu: RunningEmulator, ledger_store: LedgerStore
) -> None:
    numbers = [fictional(i) for i in range(1, 6)]
    async with world(emu, ledger_store, guard_class=PausingGuard) as w:
        await w.campaign(numbers, max_concurrent=1)
        await w.tick()  # the row claimed, checked, then the campaign paused: the ledger refuses its dial
        assert dialled(emu) == []
        assert await w.ledger.campaign_row_counts(CID) == {"queued": 5}
        for _ in range(3):
            await w.tick()
        assert dialled(emu) == []
        await w.ledger.set_campaign_status(CID, "running")
        await w.until_settled()
        assert sorted(dialled(emu)) == numbers
        assert (await w.get()).status == "completed"


async def test_a_pause_between_dials_stops_dialling_and_resume_continues(
    emu: RunningEmulator, ledger_store: LedgerStore
) -> None:
    numbers = [fictional(i) for i in range(1, 7)]
    async with world(emu, ledger_store) as w:
        await w.campaign(numbers, max_concurrent=2)
        await w.tick()
        assert len(dialled(emu)) == 2
        await w.ledger.set_campaign_status(CID, "paused", reason="paused by the user")
        for _ in range(4):
            await w.tick()
        assert len(dialled(emu)) == 2
        assert await w.ledger.campaign_row_counts(CID) == {"completed": 2, "queued": 4}  # outcomes still read
        await w.ledger.set_campaign_status(CID, "running")
        await w.until_settled()
        assert sorted(dialled(emu)) == numbers


async def test_a_cancel_stops_dialling_and_cancels_the_rows_left(
    emu: RunningEmulator, ledger_store: LedgerStore
) -> None:
    numbers = [fictional(i) for i in range(1, 7)]
    async with world(emu, ledger_store) as w:
        await w.campaign(numbers, max_concurrent=2)
        await w.tick()
        assert len(dialled(emu)) == 2
        await w.ledger.set_campaign_status(CID, "cancelled")
        for _ in range(4):
            await w.tick()
        assert len(dialled(emu)) == 2
        assert await w.ledger.campaign_row_counts(CID) == {"completed": 2, "cancelled": 4}
        assert (await w.get()).status == "cancelled"


async def test_three_failed_calls_in_a_row_pause_the_campaign(emu: RunningEmulator, ledger_store: LedgerStore) -> None:
    numbers = [fictional(70), fictional(71), fictional(72), fictional(1), fictional(2)]
    async with world(emu, ledger_store) as w:
        await w.campaign(numbers, max_concurrent=1)
        await w.until_settled()
        campaign = await w.get()
        assert campaign.status == "paused"
        assert campaign.pause_reason == "3 unknown outcomes or failed dials in a row"
        assert dialled(emu) == numbers[:3]
        assert await w.ledger.campaign_row_counts(CID) == {"failed": 3, "queued": 2}


async def take_turns(w: World, other: CampaignDispatcher, *, rounds: int) -> None:
    """The world's dispatcher and ``other`` tick in turn until the campaign stops running (at most ``rounds``)."""
    for _ in range(rounds):
        for d in (w.dispatcher, other):
            await anyio.sleep(0.03)
            await d.tick()
        if (await w.get()).status != "running":
            return


async def test_three_failed_calls_in_a_row_pause_the_campaign_with_two_dispatchers_taking_turns(
    emu: RunningEmulator, ledger_store: LedgerStore
) -> None:
    numbers = [fictional(dd) for dd in (70, 71, 72, 73, 74, 75)] + [fictional(1), fictional(2)]
    async with world(emu, ledger_store) as w:
        other = CampaignDispatcher(w.guard, w.dispatcher.client, worker_id="test:2", clock=w.clock)
        await w.campaign(numbers, max_concurrent=1)
        await take_turns(w, other, rounds=12)
        campaign = await w.get()
        assert campaign.status == "paused"
        assert dialled(emu) == numbers[:3]


async def test_more_than_a_fifth_of_the_last_ten_dials_failing_pauses_the_campaign_with_two_dispatchers(
    emu: RunningEmulator, ledger_store: LedgerStore
) -> None:
    # failed, completed, failed, completed, failed, then completed: never 3 in a row, 3 of 10 after the tenth
    numbers = [fictional(dd) for dd in (70, 1, 71, 2, 72, 3, 4, 5, 6, 7, 8, 9)]
    async with world(emu, ledger_store) as w:
        other = CampaignDispatcher(w.guard, w.dispatcher.client, worker_id="test:2", clock=w.clock)
        await w.campaign(numbers, max_concurrent=1)
        await take_turns(w, other, rounds=20)
        campaign = await w.get()
        assert (campaign.status, campaign.pause_reason) == ("paused", "3 of the last 10 dials failed (more than 20%)")
        assert dialled(emu) == numbers[:10]


async def test_a_resumed_campaign_counts_its_failed_dials_afresh(
    emu: RunningEmulator, ledger_store: LedgerStore
) -> None:
    numbers = [fictional(70), fictional(71), fictional(72), fictional(73), fictional(1), fictional(2)]
    async with world(emu, ledger_store) as w:
        await w.campaign(numbers, max_concurrent=1)
        await w.until_settled()
        assert (await w.get()).status == "paused"
        assert dialled(emu) == numbers[:3]
        await w.ledger.set_campaign_status(CID, "running")  # the human resumes it
        await w.until_settled()
        # one more failed dial is one in a row, not four: the campaign goes on and completes
        assert (await w.get()).status == "completed"
        assert dialled(emu) == numbers
        assert await w.ledger.campaign_row_counts(CID) == {"failed": 4, "completed": 2}


async def test_an_expired_approval_pauses_the_campaign_and_nothing_more_is_dialled(
    emu: RunningEmulator, ledger_store: LedgerStore
) -> None:
    numbers = [fictional(i) for i in range(1, 6)]
    async with world(emu, ledger_store) as w:
        await w.campaign(numbers, max_concurrent=2, valid_for=timedelta(hours=1))
        await w.tick()
        assert len(dialled(emu)) == 2
        w.clock.advance(timedelta(hours=1))
        report = await w.tick()
        assert report.paused == [CID] and report.dialled == 0
        campaign = await w.get()
        assert (campaign.status, campaign.pause_reason) == ("paused", APPROVAL_EXPIRED)
        for _ in range(3):
            await w.tick()
        assert len(dialled(emu)) == 2
        assert await w.ledger.campaign_row_counts(CID) == {"completed": 2, "queued": 3}


async def test_the_per_number_cap_makes_a_row_wait_until_the_number_frees(
    emu: RunningEmulator, ledger_store: LedgerStore
) -> None:
    number = fictional(5)
    async with world(emu, ledger_store, max_calls_per_number="1/24h") as w:
        await w.campaign([fictional(6)])
        await w.until_settled()
        # the number was dialled by a single call an hour ago
        w.clock.advance(timedelta(hours=-1))
        checked = await w.guard.check(DialRequest.of(PAYMENT, number, VARS))
        async with VoicingClient(base_url=emu.base_url, api_key=emu.api_key) as client:
            await w.guard.place_call(checked, client, confirmation="page")
        w.clock.advance(timedelta(hours=1))
        await w.ledger.create_campaign(
            NewCampaign(
                id="cmp_second",
                environment=w.environment,
                assistant_id=PAYMENT,
                telephony_provider="default",
                manifest_sha256=MANIFEST,
            ),
            [NewCampaignRow(position=1, phone_e164=number, input_variables=VARS)],
        )
        await w.ledger.approve_campaign(
            "cmp_second", manifest_sha256=MANIFEST, ticked_positions=[1], expires_at=w.clock.now + timedelta(days=2)
        )
        await w.tick()
        row = (await w.ledger.campaign_rows("cmp_second"))[0]
        assert (row.state, row.last_outcome) == ("waiting", "per-number cap")
        assert row.next_attempt_at is not None
        frees = START - timedelta(hours=1) + timedelta(hours=24)
        assert frees <= row.next_attempt_at <= frees + timedelta(seconds=2)
        assert Counter(dialled(emu))[number] == 1
        w.clock.now = row.next_attempt_at + timedelta(seconds=1)
        await w.tick()
        assert Counter(dialled(emu))[number] == 2


async def test_a_server_without_a_ledger_file_ticks_without_creating_it(emu: RunningEmulator, tmp_path: Path) -> None:
    store = LedgerStore("sqlite", tmp_path / "none" / "ledger.sqlite3")
    async with world(emu, store) as w:
        report = await w.dispatcher.tick()
        assert report == TickReport()
    assert not (tmp_path / "none" / "ledger.sqlite3").exists()


async def test_the_background_loop_dials_after_a_wake_and_stops_on_aclose(
    emu: RunningEmulator, ledger_store: LedgerStore
) -> None:
    numbers = [fictional(i) for i in range(1, 4)]
    async with world(emu, ledger_store) as w:
        w.dispatcher.tick_seconds = 0.02
        async with anyio.create_task_group() as tg:
            w.dispatcher.start(tg)
            await w.campaign(numbers, max_concurrent=3)
            w.dispatcher.wake()
            with anyio.fail_after(10):
                while (await w.get()).status != "completed":
                    await anyio.sleep(0.02)
            await w.dispatcher.aclose()
        assert sorted(dialled(emu)) == numbers


# ----- the server's lifespan runs it --------------------------------------------------------------------
async def test_a_running_server_dials_an_approved_campaign_and_a_restarted_one_resumes_it(
    emu: RunningEmulator, ledger_setting: str
) -> None:
    settings = load_settings(
        base_url=emu.base_url,
        api_key=emu.api_key,
        env="development",
        ledger=ledger_setting,
        max_calls_per_hour=100,
        quiet_hours="off",
    )
    numbers = [f"+1701811{i:04d}" for i in range(1, 5)]  # not the fictional range: this server is not local
    store = LedgerStore("sqlite" if "://" not in ledger_setting else "postgresql", _target(ledger_setting))
    ledger = store.open(environment=ledger_environment(settings))
    try:
        await ledger.create_campaign(
            NewCampaign(
                id=CID,
                environment=ledger_environment(settings),
                assistant_id=PAYMENT,
                telephony_provider="default",
                manifest_sha256=MANIFEST,
                max_concurrent=1,
            ),
            [NewCampaignRow(position=i, phone_e164=n, input_variables=VARS) for i, n in enumerate(numbers, 1)],
        )
        await ledger.approve_campaign(
            CID,
            manifest_sha256=MANIFEST,
            ticked_positions=range(1, 5),
            expires_at=datetime.now(UTC) + timedelta(hours=24),
        )
        async with Client(create_server(settings)):
            with anyio.fail_after(20):
                while len(dialled(emu)) < 2:
                    await anyio.sleep(0.05)
        stopped_at = len(dialled(emu))
        assert stopped_at < len(numbers)
        await anyio.sleep(1.5)  # the server stopped: so did its dispatcher
        assert len(dialled(emu)) == stopped_at
        async with Client(create_server(settings)):  # the next start resumes the campaign
            with anyio.fail_after(30):
                while (found := await ledger.get_campaign(CID)) is None or found.status != "completed":
                    await anyio.sleep(0.1)
        rows = await ledger.campaign_rows(CID)
        assert Counter(dialled(emu)).most_common(1)[0][1] == 1  # no number twice
        # every row dialled; one whose POST the first server's shutdown interrupted is unknown, not redialled
        assert {r.state for r in rows} <= {"completed", "unknown"}
        assert {r.phone_e164 for r in rows if r.state == "completed"} <= set(dialled(emu))
    finally:
        await store.aclose()


def _target(setting: str) -> Path | SecretStr:
    return SecretStr(setting) if "://" in setting else Path(setting)


class CapLookupFails(DialGuard):
    """A real guard whose ledger goes away while it works out when a capped number frees (the bisection's reads):
    the refusal the ledger raises then (``ledger-unusable``)."""

    async def number_cap_frees_at(self, phone_e164: str, now: datetime) -> datetime:
        await anyio.sleep(0.05)  # the other row's POST is in flight by now
        raise refusal(
            "ledger-unusable", ledger="ledger.sqlite3", error="OperationalError: disk I/O error", cause="file"
        )


async def test_a_ledger_error_on_one_row_does_not_interrupt_the_other_rows_dials_in_flight(
    emu: RunningEmulator, ledger_store: LedgerStore
) -> None:
    capped, free = fictional(5), fictional(6)
    async with world(emu, ledger_store, guard_class=CapLookupFails, max_calls_per_number="1/24h") as w:
        w.clock.advance(timedelta(hours=-1))  # the capped number was dialled by a single call an hour ago
        checked = await w.guard.check(DialRequest.of(PAYMENT, capped, VARS))
        await w.guard.place_call(checked, w.dispatcher.client, confirmation="page")
        w.clock.advance(timedelta(hours=1))
        await w.campaign([capped, free], max_concurrent=2)
        emu.state.config.latency_ms = 300  # the free row's POST takes a while
        try:
            report = await w.tick()
        finally:
            emu.state.config.latency_ms = 0
        rows = {r.position: r for r in await w.ledger.campaign_rows(CID)}
        # the free row's call was placed and is followed; the capped row is due again, not lost
        assert rows[2].state == "in_progress" and rows[2].call_id, rows[2]
        assert rows[1].state in ("queued", "waiting") and rows[1].attempts == 0, rows[1]
        assert report.dialled == 1 and report.errors == 1
        assert Counter(dialled(emu)) == {capped: 1, free: 1}
        assert await w.ledger.open_unknown(free) is None  # no uncertain dial blocks the number


async def test_the_outcome_of_a_call_in_progress_is_recorded_after_its_campaign_was_asked_again_and_declined(
    emu: RunningEmulator, ledger_store: LedgerStore
) -> None:
    async with world(emu, ledger_store) as w:
        await w.campaign([fictional(1), fictional(2)], max_concurrent=1, valid_for=timedelta(hours=1))
        await w.tick()
        assert (await w.ledger.campaign_row_counts(CID)) == {"in_progress": 1, "queued": 1}
        # the approval lapses with the call under way; the human is asked again (resume) and declines
        w.clock.advance(timedelta(hours=1))
        await w.ledger.set_campaign_status(CID, "paused", reason=APPROVAL_EXPIRED)
        await w.ledger.set_campaign_status(CID, "awaiting_approval")
        await w.ledger.set_campaign_status(CID, "declined", reason="declined by the user")
        for _ in range(3):
            await w.tick()
        assert await w.ledger.campaign_row_counts(CID) == {"completed": 1, "cancelled": 1}
        assert dialled(emu) == [fictional(1)]


async def test_a_template_that_came_to_need_a_variable_after_approval_pauses_the_campaign_and_excludes_no_row(
    emu: RunningEmulator, ledger_store: LedgerStore, tmp_path: Path
) -> None:
    template = tmp_path / f"{PAYMENT}.j2"
    template.write_text((PACKAGE_PROMPTS_DIR / f"{PAYMENT}.j2").read_text())
    numbers = [fictional(i) for i in range(1, 5)]
    async with world(emu, ledger_store, prompts=tmp_path) as w:
        await w.campaign(numbers, max_concurrent=1)
        await w.tick()
        assert dialled(emu) == numbers[:1]
        # after the human's approval the template is edited: it needs a value no row of the list has
        template.write_text("Hi {{ name }}, about account {{ account_id }}.\n")
        await w.until_settled()
        campaign = await w.get()
        assert campaign.status == "paused"
        assert campaign.pause_reason is not None and "account_id" in campaign.pause_reason
        assert await w.ledger.campaign_row_counts(CID) == {"completed": 1, "queued": 3}  # none lost
        assert dialled(emu) == numbers[:1]
        # the template fixed, the human resumes it: every row is dialled
        template.write_text((PACKAGE_PROMPTS_DIR / f"{PAYMENT}.j2").read_text())
        await w.ledger.set_campaign_status(CID, "running")
        await w.until_settled()
        assert sorted(dialled(emu)) == numbers
        assert (await w.get()).status == "completed"
