"""The dial ledger on both backends (the ``ledger_store`` fixture: an SQLite file, then a PostgreSQL database):
intent before outcome, atomic nonce spending and dial claims, the rules' refusals, the operator's command. Tests
of one backend's own behaviour (SQLite's file, PostgreSQL's replicas) say so in their name."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import anyio
import psycopg
import pytest

from pg_support import PASSWORD, LedgerStore
from voicing_mcp.api.models import OutboundCallRequest
from voicing_mcp.errors import GuardRefusal
from voicing_mcp.guard.ledger import DialLedger

REQ = OutboundCallRequest(assistant_id="a1", phone_number="+17015550123", input_variables={"name": "Ann"})


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 5, 4, 15, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


def stored_text(store: LedgerStore) -> str:
    """Everything the store holds, as text (the SQLite file and its WAL; every PostgreSQL row)."""
    if isinstance(store.target, Path):
        files = [store.target, store.target.with_name(store.target.name + "-wal")]
        return b"".join(f.read_bytes() for f in files if f.exists()).decode("utf-8", "replace")
    with psycopg.connect(store.setting) as conn:
        return str(conn.execute("SELECT json_agg(d) FROM dials d").fetchall())


async def test_intent_is_committed_before_the_outcome_and_values_are_not_stored(ledger_store: LedgerStore) -> None:
    ledger = ledger_store.open()
    row_id = await ledger.claim_dial(REQ, confirmation="token", environment="local", max_per_hour=5)
    # another connection (another process, another replica) already sees the intent
    seen = await ledger_store.open().get(row_id)
    assert seen is not None and seen.status == "pending" and seen.variable_names == ["name"]
    await ledger.record_outcome(row_id, status="started", call_id="c-1")
    row = await ledger.get(row_id)
    assert row is not None and row.status == "started" and row.call_id == "c-1"
    assert row.public()["phone_masked"] == "+1 701 ••• ••23"
    assert "phone_e164" not in row.public()
    dump = stored_text(ledger_store)
    assert "+1 701 ••• ••23" in dump and "Ann" not in dump


async def test_ten_concurrent_spends_of_one_nonce_have_exactly_one_winner(ledger_store: LedgerStore) -> None:
    ledger = ledger_store.open()
    results: list[bool] = []
    exp = datetime.now(UTC) + timedelta(minutes=5)

    async def spend() -> None:
        results.append(await ledger.spend_nonce("n1", expires_at=exp))

    async with anyio.create_task_group() as tg:
        for _ in range(10):
            tg.start_soon(spend)
    assert sorted(results) == [False] * 9 + [True]


async def test_nonce_spending_is_atomic_across_ledger_objects(ledger_store: LedgerStore) -> None:
    """Ten ledger objects (ten processes, or ten replicas with their own pools) spend one nonce at once."""
    ledgers = [ledger_store.open() for _ in range(10)]
    await ledgers[0].recent()  # create the schema once
    exp = datetime.now(UTC) + timedelta(minutes=5)
    results: list[bool] = []

    async def spend(ledger: DialLedger) -> None:
        results.append(await ledger.spend_nonce("shared", expires_at=exp))

    async with anyio.create_task_group() as tg:
        for ledger in ledgers:
            tg.start_soon(spend, ledger)
    assert sorted(results) == [False] * 9 + [True]


async def test_concurrent_claims_for_one_number_and_assistant_admit_one(ledger_store: LedgerStore) -> None:
    ledger = ledger_store.open()
    won: list[int] = []
    refused: list[str] = []

    async def claim() -> None:
        try:
            won.append(await ledger.claim_dial(REQ, confirmation="token", environment="local", max_per_hour=100))
        except GuardRefusal as exc:
            refused.append(exc.rule)

    async with anyio.create_task_group() as tg:
        for _ in range(10):
            tg.start_soon(claim)
    assert len(won) == 1
    assert refused == ["duplicate"] * 9  # the winner's row is pending: a dial in flight


async def test_claims_enforce_rate_limit_and_duplicate_window(ledger_store: LedgerStore) -> None:
    clock = Clock()
    ledger = ledger_store.open(clock=clock)
    first = await ledger.claim_dial(REQ, confirmation="token", environment="local", max_per_hour=2)
    await ledger.record_outcome(first, status="started", call_id="c-1")
    with pytest.raises(GuardRefusal) as dup:
        await ledger.claim_dial(REQ, confirmation="token", environment="local", max_per_hour=2)
    assert dup.value.rule == "duplicate" and "c-1" in str(dup.value)
    other = REQ.model_copy(update={"phone_number": "+17015550124"})
    second = await ledger.claim_dial(other, confirmation="token", environment="local", max_per_hour=2)
    await ledger.record_outcome(second, status="failed", detail="HTTP 404")
    third = REQ.model_copy(update={"phone_number": "+17015550125"})
    with pytest.raises(GuardRefusal) as rate:
        await ledger.claim_dial(third, confirmation="token", environment="local", max_per_hour=2)
    assert rate.value.rule == "rate-limit"
    clock.now += timedelta(hours=1, seconds=1)
    assert await ledger.count_since(clock.now - timedelta(hours=1)) == 0
    again = await ledger.claim_dial(REQ, confirmation="token", environment="local", max_per_hour=2)
    assert again > second


async def test_a_failed_dial_does_not_count_as_a_duplicate(ledger_store: LedgerStore) -> None:
    ledger = ledger_store.open()
    row = await ledger.claim_dial(REQ, confirmation="token", environment="local", max_per_hour=9)
    await ledger.record_outcome(row, status="failed", detail="HTTP 400")
    assert await ledger.last_dial(REQ.phone_number, REQ.assistant_id, since=datetime(2000, 1, 1, tzinfo=UTC)) is None
    await ledger.claim_dial(REQ, confirmation="token", environment="local", max_per_hour=9)


async def test_an_unknown_outcome_blocks_the_number_until_resolved(ledger_store: LedgerStore) -> None:
    clock = Clock()
    ledger = ledger_store.open(clock=clock)
    row = await ledger.claim_dial(REQ, confirmation="token", environment="local", max_per_hour=9)
    await ledger.record_outcome(row, status="unknown", detail="no answer")
    clock.now += timedelta(hours=5)  # long after the duplicate window
    other_assistant = REQ.model_copy(update={"assistant_id": "a2"})
    with pytest.raises(GuardRefusal) as err:
        await ledger.claim_dial(other_assistant, confirmation="token", environment="local", max_per_hour=9)
    assert err.value.rule == "outcome-unknown"
    assert f"resolve {row}" in str(err.value) and "list_calls" in str(err.value)
    assert await ledger.resolve(row, resolution="checked: not placed")
    assert not await ledger.resolve(row, resolution="twice")
    await ledger.claim_dial(other_assistant, confirmation="token", environment="local", max_per_hour=9)


async def test_a_pending_row_left_by_a_crash_blocks_like_an_unknown_outcome(ledger_store: LedgerStore) -> None:
    clock = Clock()
    ledger = ledger_store.open(clock=clock)
    await ledger.claim_dial(REQ, confirmation="token", environment="local", max_per_hour=9)
    assert await ledger.open_unknown(REQ.phone_number) is None  # in flight: the duplicate guard covers it
    clock.now += timedelta(minutes=30)
    row = await ledger.open_unknown(REQ.phone_number)
    assert row is not None and row.status == "pending"
    with pytest.raises(GuardRefusal, match="never recorded an outcome"):
        await ledger.claim_dial(REQ, confirmation="token", environment="local", max_per_hour=9)


# on SQLite only: the module is an alias (voicing_mcp/guard/ledger/__main__.py runs voicing_mcp.cli.ledger's main),
# and the next test runs every command of `voicing-mcp ledger` on both backends (4 interpreter starts fewer)
@pytest.mark.parametrize("ledger_store", ["sqlite"], indirect=True)
async def test_the_ledger_module_lists_and_resolves_rows_for_the_operator(ledger_store: LedgerStore) -> None:
    env = {**os.environ, "VOICING_LEDGER": ledger_store.setting}
    ledger = ledger_store.open()
    row = await ledger.claim_dial(REQ, confirmation="token", environment="local", max_per_hour=9)
    await ledger.record_outcome(row, status="unknown")

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        cmd = [sys.executable, "-m", "voicing_mcp.guard.ledger", *args]
        return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=60, check=False)

    listed = run("list")
    assert listed.returncode == 0
    assert '"status": "unknown"' in listed.stdout and "+17015550123" not in listed.stdout
    released = run("resolve", str(row), "called", "them")
    assert released.returncode == 0 and "released" in released.stdout
    assert run("resolve", str(row)).returncode == 1
    bad = run("bogus")
    assert bad.returncode == 2 and "usage" in bad.stderr
    assert PASSWORD not in listed.stdout + listed.stderr + released.stdout + released.stderr


async def test_dials_rehearsed_in_local_mode_never_count_against_real_ones(ledger_store: LedgerStore) -> None:
    local = ledger_store.open(environment="local")
    real = ledger_store.open(environment="production")
    row_id = await local.claim_dial(REQ, confirmation="token", environment="local", max_per_hour=1)
    await local.record_outcome(row_id, status="unknown", detail="no answer")
    # the same environment: rate limit reached and the number blocked by the unknown outcome
    with pytest.raises(GuardRefusal) as refused:
        await local.claim_dial(REQ, confirmation="token", environment="local", max_per_hour=5)
    assert refused.value.rule == "outcome-unknown"
    assert await local.count_since(Clock().now - timedelta(days=3650)) == 1
    # production sees none of it
    assert await real.open_unknown(REQ.phone_number) is None
    assert await real.count_since(Clock().now - timedelta(days=3650)) == 0
    assert await real.last_dial(REQ.phone_number, REQ.assistant_id, since=Clock().now - timedelta(days=3650)) is None
    assert await real.claim_dial(REQ, confirmation="token", environment="production", max_per_hour=1) > row_id
    # an unscoped ledger (the `list` command) sees every row
    assert len(await ledger_store.open().recent()) == 2


async def test_a_dial_without_an_outcome_blocks_the_number_for_every_assistant_across_processes(
    ledger_store: LedgerStore,
) -> None:
    """A crash mid-dial (intent claimed, no outcome) with assistant a1: within the first minutes a dial of the
    same number with assistant a2 rang the person a second time while the first call might still ring."""
    clock = Clock()
    crashed = ledger_store.open(clock=clock)
    row = await crashed.claim_dial(REQ, confirmation="token", environment="local", max_per_hour=9)
    await crashed.aclose()  # the process is gone; the row stays 'pending'
    other = REQ.model_copy(update={"assistant_id": "a2"})
    for ledger in (ledger_store.open(clock=clock), ledger_store.open(clock=clock, environment="local")):
        with pytest.raises(GuardRefusal) as err:
            await ledger.claim_dial(other, confirmation="token", environment="local", max_per_hour=9)
        assert err.value.rule == "dial-in-progress"
        assert f"ledger #{row}" in str(err.value) and "assistant a1" in str(err.value)
        found = await ledger.in_flight(REQ.phone_number, "a2")
        assert found is not None and found.id == row
    # another number is not blocked; once the first dial records its outcome, the number is free for a2
    second = ledger_store.open(clock=clock)
    await second.claim_dial(
        REQ.model_copy(update={"phone_number": "+17015550124"}),
        confirmation="token",
        environment="local",
        max_per_hour=9,
    )
    await second.record_outcome(row, status="started", call_id="c-1")
    assert await second.in_flight(REQ.phone_number, "a2") is None
    await second.claim_dial(other, confirmation="token", environment="local", max_per_hour=9)


# ----- through the dial tool (a real MCP session against the emulator) ----------------------------
MODE = "legacy"  # the dial path under test does not depend on the protocol version


async def test_voicing_mcp_ledger_lists_and_resolves_rows_as_the_module_alias_does(ledger_store: LedgerStore) -> None:
    env = {**os.environ, "VOICING_LEDGER": ledger_store.setting}
    exe = Path(sys.executable).parent / "voicing-mcp"

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(exe), "ledger", *args], env=env, capture_output=True, text=True, timeout=60)

    if isinstance(ledger_store.target, Path):  # a file that is not there: the wrong path, said as such
        missing = run()
        assert missing.returncode == 1 and f"there is no ledger at {ledger_store.target}" in missing.stderr
    ledger = ledger_store.open()
    row = await ledger.claim_dial(REQ, confirmation="token", environment="local", max_per_hour=9)
    await ledger.record_outcome(row, status="unknown")
    listed = run()  # list is the default
    assert listed.returncode == 0 and '"status": "unknown"' in listed.stdout and "+17015550123" not in listed.stdout
    released = run("resolve", str(row), "called", "them")
    assert released.returncode == 0 and f"ledger #{row}: released in {ledger.shown}" in released.stdout
    assert PASSWORD not in released.stdout + listed.stdout
    assert run("resolve", str(row)).returncode == 1
    bad = run("resolve", "one")
    assert bad.returncode == 2 and "invalid int value" in bad.stderr and "Traceback" not in bad.stderr


async def test_a_repeat_of_a_dial_without_a_call_id_says_the_block_outlives_the_window(
    ledger_store: LedgerStore,
) -> None:
    """After a crash mid-dial the row has no call_id: waiting out the window does not lift the block, so the text
    must not advise it (found by a hostile review); it names the release command instead."""
    ledger = ledger_store.open(clock=Clock())
    row = await ledger.claim_dial(REQ, confirmation="token", environment="local", max_per_hour=9)
    with pytest.raises(GuardRefusal) as err:
        await ledger.claim_dial(REQ, confirmation="token", environment="local", max_per_hour=9)
    text = str(err.value)
    assert "no call_id yet" in text and f"voicing-mcp ledger resolve {row}" in text
    assert "try again after the window" not in text
