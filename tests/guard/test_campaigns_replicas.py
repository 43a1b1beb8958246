"""Campaign dispatchers in separate processes on one ledger: killed with SIGKILL mid-campaign, restarted, two on one
SQLite file, three on PostgreSQL with one killed midway. Each process is ``python -c`` running :func:`worker_main`
against this module's emulator over loopback (fast calls, 20 ms per request); what was dialled is read from the
emulator's request log: no number twice, every row settled."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import anyio
import pytest

from voicing_mcp.config import PACKAGE_PROMPTS_DIR, load_settings
from voicing_mcp.guard.ledger import DialLedger, NewCampaign, NewCampaignRow
from voicing_mcp.guard.policy import ledger_environment

# what only the test's process needs, imported where it is used: each dispatcher process imports this module, and
# the test helpers pull in the MCP SDK (~3 s of CPU on 2 loaded cores at every worker start; a worker needs ~1 s)
if TYPE_CHECKING:
    from pg_support import LedgerStore
    from voicing_mcp.emulator.runner import RunningEmulator
    from voicing_mcp.emulator.state import EmulatorConfig

ROOT = Path(__file__).resolve().parents[2]
CID = "cmp_replicas000001"
MANIFEST = "r" * 64
LEASE_SECONDS = 5.0  # a cold worker under load may hold the event loop for a second or more (first parse)
#: rows of the campaigns the replicas race on: 30 rounds of claims at max_concurrent 10, every worker ticking from the
#: first row on (they are ready before the approval), so claims collide hundreds of times (1,000 rows proved no more
#: and cost ~20 s of CPU more; benchmarks/campaign_replicas.py runs 10,000)
ROWS = 300


@pytest.fixture(scope="module")
def emu_config() -> EmulatorConfig:
    from voicing_mcp.emulator.state import EmulatorConfig  # noqa: PLC0415 (the test's process only)

    return EmulatorConfig(speed=100_000.0, seed_calls=0, latency_ms=20.0)


def worker_main() -> None:
    """One dispatcher process: the settings from the environment, a real clock, ticks every 50 ms, a 5 s lease."""
    from voicing_mcp.api.client import VoicingClient  # noqa: PLC0415
    from voicing_mcp.guard.campaigns.dispatcher import CampaignDispatcher, worker_name  # noqa: PLC0415
    from voicing_mcp.guard.ledger import open_ledger  # noqa: PLC0415
    from voicing_mcp.guard.policy import DialGuard  # noqa: PLC0415
    from voicing_mcp.guard.templates import TemplateStore  # noqa: PLC0415

    async def main() -> None:
        settings = load_settings()
        ledger = open_ledger(settings.resolved_ledger, environment=ledger_environment(settings))
        await ledger.prepare()
        guard = DialGuard(settings, TemplateStore(PACKAGE_PROMPTS_DIR), ledger)
        base_url = settings.resolved_base_url
        assert base_url is not None and settings.api_key is not None
        async with VoicingClient(base_url=base_url, api_key=settings.api_key) as client:
            dispatcher = CampaignDispatcher(
                guard,
                client,
                worker_id=worker_name(),
                tick_seconds=0.05,
                lease=timedelta(seconds=LEASE_SECONDS),
            )
            async with anyio.create_task_group() as tg:
                dispatcher.start(tg)
                print("ready", flush=True)

    anyio.run(main)


def environ(emu: RunningEmulator, ledger: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VOICING_")}
    env.update(
        VOICING_BASE_URL=emu.base_url,
        VOICING_API_KEY=emu.api_key,
        VOICING_ENV="development",
        VOICING_LEDGER=ledger,
        VOICING_MAX_CALLS_PER_HOUR="100000",
        VOICING_QUIET_HOURS="off",
        VOICING_PROMPTS_DIR=str(PACKAGE_PROMPTS_DIR),
        VOICING_LOG_LEVEL="warning",
        PYTHONPATH=f"{ROOT}{os.pathsep}{ROOT / 'tests'}",
    )
    return env


def start_worker(emu: RunningEmulator, ledger: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-c", "from tests.guard.test_campaigns_replicas import worker_main; worker_main()"],
        env=environ(emu, ledger),
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


async def started(workers: list[subprocess.Popen[bytes]]) -> None:
    """Until every worker says it is ready (its dispatcher ticking): the race starts with all of them in it."""
    with anyio.fail_after(60):
        for w in workers:
            assert w.stdout is not None
            line = await anyio.to_thread.run_sync(w.stdout.readline)
            assert line.strip() == b"ready", (line, w.poll())


def stop(proc: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> None:
    if proc.poll() is None:
        proc.send_signal(sig)
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def dialled(emu: RunningEmulator) -> list[str]:
    """The numbers of every call the emulator accepted, in order (its dial record: unbounded, unlike the request
    log's last 20,000 requests, which the dispatchers' bulk reads fill)."""
    state = emu.state
    return [state.calls[call_id].phone_number for call_id in list(state.dialled)]


def numbers(n: int) -> list[str]:
    return [f"+1701811{i:04d}" for i in range(100, 100 + n)]  # valid North Dakota numbers; the emulator completes them


async def approved(ledger: DialLedger, env: str, phones: list[str], *, max_concurrent: int) -> None:
    from server_support import PAYMENT, VARS  # noqa: PLC0415 (the test's process only)

    await ledger.create_campaign(
        NewCampaign(
            id=CID,
            environment=env,
            assistant_id=PAYMENT,
            telephony_provider="default",
            manifest_sha256=MANIFEST,
            max_concurrent=max_concurrent,
        ),
        [NewCampaignRow(position=i, phone_e164=p, input_variables=VARS) for i, p in enumerate(phones, 1)],
    )
    await ledger.approve_campaign(
        CID,
        manifest_sha256=MANIFEST,
        ticked_positions=range(1, len(phones) + 1),
        expires_at=datetime.now(UTC) + timedelta(hours=24),
    )


async def wait_until_finished(ledger: DialLedger, seconds: float) -> None:
    with anyio.fail_after(seconds):
        while (c := await ledger.get_campaign(CID)) is None or c.status != "completed":
            await anyio.sleep(0.1)


def store_for(setting: str) -> LedgerStore:
    from pydantic import SecretStr  # noqa: PLC0415 (the test's process only)

    from pg_support import LedgerStore  # noqa: PLC0415 (the test's process only)

    if "://" in setting:
        return LedgerStore("postgresql", SecretStr(setting))
    return LedgerStore("sqlite", Path(setting))


async def test_a_dispatcher_killed_mid_dial_leaves_its_row_unknown_and_the_next_one_dials_no_number_twice(
    emu: RunningEmulator, tmp_path: Path
) -> None:
    setting = str(tmp_path / "ledger.sqlite3")
    env = ledger_environment(load_settings(base_url=emu.base_url, api_key="k", env="development"))
    store = store_for(setting)
    ledger = store.open(environment=env)
    phones = numbers(40)
    workers: list[subprocess.Popen[bytes]] = []
    try:
        await approved(ledger, env, phones, max_concurrent=3)
        workers.append(start_worker(emu, setting))
        await started(workers)
        interrupted: set[int] = set()
        with anyio.fail_after(30):
            while not interrupted:  # kill it while a row is claimed and being dialled, after a few dials
                rows = await ledger.campaign_rows(CID, limit=100, states=["dialling"])
                if len(dialled(emu)) >= 5 and rows:
                    workers[0].send_signal(signal.SIGKILL)
                    interrupted = {r.position for r in rows}
                await anyio.sleep(0.005)
        workers[0].wait(timeout=10)
        before = Counter(dialled(emu))
        assert before and max(before.values()) == 1
        workers.append(start_worker(emu, setting))
        await wait_until_finished(ledger, 40)
        after = Counter(dialled(emu))
        assert max(after.values()) == 1  # no number twice
        rows = {r.position: r for r in await ledger.campaign_rows(CID, limit=100)}
        unknown = {p for p, r in rows.items() if r.state == "unknown"}
        # the rows being dialled at the kill are unknown (interrupted) and never dialled again; the rest completed
        assert unknown and len(unknown) <= 3 and unknown & interrupted
        assert all(rows[p].last_outcome == "interrupted" for p in unknown)
        assert {r.state for r in rows.values()} <= {"completed", "unknown"}
        assert {r.phone_e164 for r in rows.values() if r.state == "completed"} <= set(after)
    finally:
        for w in workers:
            stop(w)
        await store.aclose()


async def test_two_dispatchers_on_one_sqlite_file_dial_every_number_of_a_campaign_exactly_once(
    emu: RunningEmulator, tmp_path: Path
) -> None:
    setting = str(tmp_path / "ledger.sqlite3")
    env = ledger_environment(load_settings(base_url=emu.base_url, api_key="k", env="development"))
    store = store_for(setting)
    ledger = store.open(environment=env)
    phones = numbers(ROWS)
    workers: list[subprocess.Popen[bytes]] = []
    try:
        await ledger.prepare()
        workers = [start_worker(emu, setting) for _ in range(2)]
        await started(workers)  # both claim from the campaign's first row on
        await approved(ledger, env, phones, max_concurrent=10)
        begun = time.monotonic()
        await wait_until_finished(ledger, 120)
        elapsed = time.monotonic() - begun
        calls = Counter(dialled(emu))
        missing = [r for r in await ledger.campaign_rows(CID, limit=ROWS) if r.phone_e164 not in calls]
        assert not missing, (elapsed, missing[:2], await ledger.campaign_row_counts(CID))
        assert sorted(calls) == sorted(phones) and set(calls.values()) == {1}, elapsed
        assert await ledger.campaign_row_counts(CID) == {"completed": ROWS}
    finally:
        for w in workers:
            stop(w)
        await store.aclose()


async def test_three_dispatchers_on_postgresql_one_killed_midway_dial_every_number_at_most_once(
    emu: RunningEmulator, pg_url: str
) -> None:
    env = ledger_environment(load_settings(base_url=emu.base_url, api_key="k", env="development"))
    store = store_for(pg_url)
    ledger = store.open(environment=env)
    await ledger.prepare()
    phones = numbers(ROWS)
    workers: list[subprocess.Popen[bytes]] = []
    try:
        workers = [start_worker(emu, pg_url) for _ in range(3)]
        await started(workers)  # all three claim from the campaign's first row on
        await approved(ledger, env, phones, max_concurrent=10)
        with anyio.fail_after(60):
            while len(dialled(emu)) < ROWS // 3:
                await anyio.sleep(0.05)
        workers[0].send_signal(signal.SIGKILL)
        await wait_until_finished(ledger, 120)
        calls = Counter(dialled(emu))
        assert set(calls.values()) == {1}  # no number twice
        rows = await ledger.campaign_rows(CID, limit=ROWS)
        completed = {r.phone_e164 for r in rows if r.state == "completed"}
        unknown = [r for r in rows if r.state == "unknown"]
        # every accepted number dialled once; only the rows the killed replica was dialling are unknown
        assert len(completed) + len(unknown) == ROWS and completed <= set(calls)
        # unknown: a row the killed replica was dialling ("interrupted"), or, on a loaded machine, a POST whose answer
        # did not come in time ("outcome unknown"); either way never dialled again (each number at most once above)
        outcomes = [r.last_outcome for r in unknown]
        assert len(unknown) <= 10 and set(outcomes) <= {"interrupted", "outcome unknown"}, outcomes
        assert set(calls) <= set(phones)
    finally:
        for w in workers:
            stop(w)
        await store.aclose()
