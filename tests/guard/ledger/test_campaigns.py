"""Campaigns in the ledger on both backends (the ``ledger_store`` fixture: an SQLite file, then a PostgreSQL
database), the scoped counts on their indexes, the per-number count and the pruning of expired nonces. The same
test functions run on both; tests of one backend's own behaviour say so in their name."""

from __future__ import annotations

import re
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import anyio
import psycopg
import pytest

from pg_support import LedgerStore
from voicing_mcp.api.models import OutboundCallRequest
from voicing_mcp.errors import GuardRefusal
from voicing_mcp.guard.ledger import (
    CampaignConflict,
    CampaignDial,
    DialLedger,
    Ledger,
    NewCampaign,
    NewCampaignRow,
)
from voicing_mcp.guard.ledger import postgres as pg_ledger
from voicing_mcp.guard.ledger import sqlite as sqlite_ledger
from voicing_mcp.guard.ledger.base import PRUNE_EVERY, PRUNE_GRACE
from voicing_mcp.guard.ledger.campaigns import INTERRUPTED, RowOutcome

ENV = "production"
LEASE = timedelta(minutes=5)


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 5, 4, 15, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


def number(i: int) -> str:
    return f"+1701555{i:04d}"


def campaign(campaign_id: str = "cmp_1", *, max_concurrent: int = 2, manifest: str = "m" * 64) -> NewCampaign:
    return NewCampaign(
        id=campaign_id,
        environment=ENV,
        assistant_id="a1",
        telephony_provider="twilio",
        manifest_sha256=manifest,
        name="overdue payments",
        max_concurrent=max_concurrent,
        settings={"quiet_hours": "21:00-08:00"},
    )


def rows(n: int, *, excluded: set[int] | None = None) -> list[NewCampaignRow]:
    excluded = excluded or set()
    return [
        NewCampaignRow(
            position=i,
            phone_e164=number(i),
            input_variables={"name": f"N{i}"},
            exclusion_reason="do-not-call" if i in excluded else None,
        )
        for i in range(1, n + 1)
    ]


async def running(ledger: DialLedger, n: int, *, campaign_id: str = "cmp_1", max_concurrent: int = 2) -> None:
    await ledger.create_campaign(campaign(campaign_id, max_concurrent=max_concurrent), rows(n))
    await ledger.approve_campaign(
        campaign_id,
        manifest_sha256="m" * 64,
        ticked_positions=range(1, n + 1),
        expires_at=datetime(2026, 5, 5, tzinfo=UTC),
    )


# ----- create, approve, transitions ---------------------------------------------------------------
async def test_a_campaign_is_stored_with_its_rows_awaiting_approval(ledger_store: LedgerStore) -> None:
    ledger = ledger_store.open(clock=Clock(), environment=ENV)
    created = await ledger.create_campaign(campaign(), rows(5, excluded={3}))
    assert created.status == "awaiting_approval"
    assert created.scope == "production"
    assert created.settings == {"quiet_hours": "21:00-08:00"}
    assert created.created_at == Clock().now
    assert await ledger.campaign_row_counts("cmp_1") == {"queued": 4, "excluded": 1}
    page = await ledger.campaign_rows("cmp_1", offset=1, limit=2)
    assert [(r.position, r.state, r.exclusion_reason) for r in page] == [
        (2, "queued", None),
        (3, "excluded", "do-not-call"),
    ]
    assert page[0].input_variables == {"name": "N2"}
    assert page[0].phone_masked != page[0].phone_e164
    # another connection (another process, another replica) sees it
    other = ledger_store.open(environment=ENV)
    assert [c.id for c in await other.list_campaigns()] == ["cmp_1"]
    assert await other.list_campaigns(statuses=["running"]) == []
    with pytest.raises(CampaignConflict) as exc:
        await other.create_campaign(campaign(), rows(1))
    assert exc.value.reason == "exists"


async def test_campaigns_of_another_scope_are_not_listed_or_claimed(ledger_store: LedgerStore) -> None:
    ledger = ledger_store.open(environment=ENV)
    await running(ledger, 3)
    local = ledger_store.open(environment="local")
    assert await local.list_campaigns() == []
    assert await local.claim_next_rows(worker_id="w", lease=LEASE, limit=10) == []
    assert len(await ledger.claim_next_rows(worker_id="w", lease=LEASE, limit=10)) == 2


async def test_an_approval_of_another_manifest_is_refused_and_changes_nothing(ledger_store: LedgerStore) -> None:
    ledger = ledger_store.open(environment=ENV)
    await ledger.create_campaign(campaign(), rows(4))
    with pytest.raises(CampaignConflict) as exc:
        await ledger.approve_campaign(
            "cmp_1", manifest_sha256="x" * 64, ticked_positions=[1, 2], expires_at=datetime(2026, 5, 5, tzinfo=UTC)
        )
    assert exc.value.reason == "manifest"
    found = await ledger.get_campaign("cmp_1")
    assert found is not None and found.status == "awaiting_approval" and found.approved_at is None
    assert await ledger.campaign_row_counts("cmp_1") == {"queued": 4}


async def test_an_approval_removes_the_unticked_rows_and_is_one_decision(ledger_store: LedgerStore) -> None:
    clock = Clock()
    ledger = ledger_store.open(clock=clock, environment=ENV)
    await ledger.create_campaign(campaign(), rows(5, excluded={5}))
    expires = clock.now + timedelta(hours=24)
    with pytest.raises(CampaignConflict) as exc:  # a position that is not an accepted row: a forged form
        await ledger.approve_campaign("cmp_1", manifest_sha256="m" * 64, ticked_positions=[1, 5], expires_at=expires)
    assert exc.value.reason == "positions"
    approved = await ledger.approve_campaign(
        "cmp_1", manifest_sha256="m" * 64, ticked_positions=[1, 3, 4], expires_at=expires, status="scheduled"
    )
    assert approved.status == "scheduled"
    assert approved.approved_at == clock.now and approved.approval_expires_at == expires
    assert await ledger.campaign_row_counts("cmp_1") == {"queued": 3, "removed": 1, "excluded": 1}
    assert [r.position for r in await ledger.campaign_rows("cmp_1", states=["removed"])] == [2]
    with pytest.raises(CampaignConflict) as again:
        await ledger.approve_campaign("cmp_1", manifest_sha256="m" * 64, ticked_positions=[1], expires_at=expires)
    assert again.value.reason == "decided"
    with pytest.raises(CampaignConflict) as unknown:
        await ledger.approve_campaign("cmp_9", manifest_sha256="m" * 64, ticked_positions=[1], expires_at=expires)
    assert unknown.value.reason == "unknown"


async def test_status_changes_follow_the_allowed_transitions(ledger_store: LedgerStore) -> None:
    ledger = ledger_store.open(environment=ENV)
    await running(ledger, 4)
    paused = await ledger.set_campaign_status("cmp_1", "paused", reason="3 unknown outcomes in a row")
    assert paused.status == "paused" and paused.pause_reason == "3 unknown outcomes in a row"
    assert await ledger.claim_next_rows(worker_id="w", lease=LEASE, limit=10) == []  # paused: nothing is claimed
    resumed = await ledger.set_campaign_status("cmp_1", "running")
    assert resumed.status == "running" and resumed.pause_reason is None
    [first, *_] = await ledger.claim_next_rows(worker_id="w", lease=LEASE, limit=1)
    cancelled = await ledger.set_campaign_status("cmp_1", "cancelled", reason="by the user")
    assert cancelled.status == "cancelled"
    # the row being dialled keeps its state until its outcome; the rest will never be dialled
    assert await ledger.campaign_row_counts("cmp_1") == {"dialling": 1, "cancelled": 3}
    assert first.position == 1
    for status in ("running", "paused", "completed"):
        with pytest.raises(CampaignConflict) as exc:
            await ledger.set_campaign_status("cmp_1", status)
        assert exc.value.reason == "transition"
    await ledger.create_campaign(campaign("cmp_2"), rows(2))
    with pytest.raises(CampaignConflict):  # starting needs the approval (approve_campaign), not a status change
        await ledger.set_campaign_status("cmp_2", "running")
    declined = await ledger.set_campaign_status("cmp_2", "declined")
    assert declined.status == "declined"
    assert await ledger.campaign_row_counts("cmp_2") == {"cancelled": 2}


async def test_a_campaign_completes_only_when_no_row_is_left_to_dial(ledger_store: LedgerStore) -> None:
    ledger = ledger_store.open(environment=ENV)
    await running(ledger, 2)
    claimed = await ledger.claim_next_rows(worker_id="w", lease=LEASE, limit=5)
    assert await ledger.finish_campaign_if_done("cmp_1") is None
    for row in claimed:
        await ledger.record_row_outcome("cmp_1", row.position, state="completed", call_id=f"c{row.position}")
    done = await ledger.finish_campaign_if_done("cmp_1")
    assert done is not None and done.status == "completed"
    assert await ledger.finish_campaign_if_done("cmp_1") is None


# ----- claims -------------------------------------------------------------------------------------
async def test_claims_take_due_rows_within_max_concurrent_and_lease_them(ledger_store: LedgerStore) -> None:
    clock = Clock()
    ledger = ledger_store.open(clock=clock, environment=ENV)
    await ledger.create_campaign(
        campaign(max_concurrent=2),
        [*rows(3), NewCampaignRow(position=4, phone_e164=number(4), next_attempt_at=clock.now + timedelta(hours=1))],
    )
    assert await ledger.claim_next_rows(worker_id="w1", lease=LEASE, limit=10) == []  # not approved yet
    await ledger.approve_campaign(
        "cmp_1", manifest_sha256="m" * 64, ticked_positions=[1, 2, 3, 4], expires_at=clock.now + timedelta(days=1)
    )
    claimed = await ledger.claim_next_rows(worker_id="w1", lease=LEASE, limit=10)
    assert [(r.position, r.state, r.worker_id, r.lease_until) for r in claimed] == [
        (1, "dialling", "w1", clock.now + LEASE),
        (2, "dialling", "w1", clock.now + LEASE),
    ]
    assert await ledger.claim_next_rows(worker_id="w2", lease=LEASE, limit=10) == []  # 2 of 2 in progress
    await ledger.record_row_outcome("cmp_1", 1, state="in_progress", call_id="call-1")
    assert await ledger.claim_next_rows(worker_id="w2", lease=LEASE, limit=10) == []  # in progress still counts
    await ledger.record_row_outcome("cmp_1", 1, state="completed", last_outcome="completed")
    [third] = await ledger.claim_next_rows(worker_id="w2", lease=LEASE, limit=10)
    assert third.position == 3  # row 4 is not due for an hour
    await ledger.record_row_outcome("cmp_1", 2, state="no_answer")
    await ledger.record_row_outcome("cmp_1", 3, state="failed")
    assert await ledger.claim_next_rows(worker_id="w2", lease=LEASE, limit=10) == []
    assert await ledger.campaign_next_due("cmp_1") == clock.now + timedelta(hours=1)
    clock.now += timedelta(hours=1)
    assert [r.position for r in await ledger.claim_next_rows(worker_id="w2", lease=LEASE, limit=10)] == [4]
    assert await ledger.campaign_next_due("cmp_1") is None
    [one] = await ledger.campaign_rows("cmp_1", limit=1)
    assert (one.state, one.call_id, one.last_outcome, one.worker_id, one.lease_until) == (
        "completed",
        "call-1",
        "completed",
        None,
        None,
    )


async def test_a_retry_waits_until_its_time_and_an_unknown_row_is_never_due_again(ledger_store: LedgerStore) -> None:
    clock = Clock()
    ledger = ledger_store.open(clock=clock, environment=ENV)
    await running(ledger, 2)
    await ledger.claim_next_rows(worker_id="w", lease=LEASE, limit=2)
    retry_at = clock.now + timedelta(minutes=120)
    row = await ledger.record_row_outcome("cmp_1", 1, state="queued", next_attempt_at=retry_at, last_outcome="busy")
    assert (row.state, row.next_attempt_at, row.last_outcome) == ("queued", retry_at, "busy")
    await ledger.record_row_outcome("cmp_1", 2, state="unknown", last_outcome="timeout")
    assert await ledger.claim_next_rows(worker_id="w", lease=LEASE, limit=2) == []
    clock.now = retry_at
    assert [r.position for r in await ledger.claim_next_rows(worker_id="w", lease=LEASE, limit=2)] == [1]
    for state in ("queued", "waiting", "dialling"):
        with pytest.raises(CampaignConflict):
            await ledger.record_row_outcome("cmp_1", 2, state=state)
    found = await ledger.record_row_outcome("cmp_1", 2, state="completed", call_id="found-later")
    assert found.state == "completed"
    with pytest.raises(CampaignConflict):  # a finished row is never made due again
        await ledger.record_row_outcome("cmp_1", 2, state="queued")


async def test_rows_left_dialling_past_their_lease_become_unknown_and_are_never_claimed_again(
    ledger_store: LedgerStore,
) -> None:
    clock = Clock()
    ledger = ledger_store.open(clock=clock, environment=ENV)
    await running(ledger, 3, max_concurrent=3)
    await ledger.claim_next_rows(worker_id="dead", lease=LEASE, limit=1)
    await ledger.claim_next_rows(worker_id="alive", lease=LEASE, limit=1)
    clock.now += timedelta(minutes=4)
    assert await ledger.renew_leases("alive", lease=LEASE) == 1  # a live dispatcher's heartbeat
    assert await ledger.mark_interrupted() == []  # no lease has run out yet
    clock.now += timedelta(minutes=2)
    # a restarted server (another ledger object) finds the dead worker's row
    restarted = ledger_store.open(clock=clock, environment=ENV)
    [lost] = await restarted.mark_interrupted()
    assert (lost.position, lost.state, lost.last_outcome, lost.worker_id) == (1, "unknown", "interrupted", None)
    assert await restarted.campaign_row_counts("cmp_1") == {"unknown": 1, "dialling": 1, "queued": 1}
    assert [r.position for r in await restarted.claim_next_rows(worker_id="new", lease=LEASE, limit=5)] == [3]
    clock.now += timedelta(hours=1)
    assert {r.position for r in await restarted.mark_interrupted()} == {2, 3}
    assert await restarted.claim_next_rows(worker_id="new", lease=LEASE, limit=5) == []
    assert await restarted.campaign_row_counts("cmp_1") == {"unknown": 3}


async def claim_all(ledger: DialLedger, worker: str, held: set[int], seen: list[int], max_concurrent: int) -> None:
    """Claim and finish rows until none is left; ``held`` is every row claimed and not yet finished."""
    idle = 0
    while idle < 20:
        claimed = await ledger.claim_next_rows(worker_id=worker, lease=LEASE, limit=3)
        if not claimed:
            idle += 1
            await anyio.sleep(0.005)
            continue
        idle = 0
        positions = [r.position for r in claimed]
        held.update(positions)
        assert len(held) <= max_concurrent
        seen.extend(positions)
        for p in positions:
            held.discard(p)  # before the outcome frees the slot: held never exceeds what the ledger holds
            await ledger.record_row_outcome("cmp_1", p, state="completed", call_id=f"{worker}-{p}")


async def test_two_claimers_on_one_store_claim_each_of_500_rows_exactly_once(ledger_store: LedgerStore) -> None:
    # two ledger objects: two connections to one SQLite file (as two processes), two pools on PostgreSQL
    first = ledger_store.open(environment=ENV)
    second = ledger_store.open(environment=ENV)
    await running(first, 500, max_concurrent=10)
    held: set[int] = set()
    seen: dict[str, list[int]] = {"a": [], "b": []}
    async with anyio.create_task_group() as tg:
        tg.start_soon(claim_all, first, "a", held, seen["a"], 10)
        tg.start_soon(claim_all, second, "b", held, seen["b"], 10)
    everything = seen["a"] + seen["b"]
    assert sorted(everything) == list(range(1, 501))
    assert seen["a"] and seen["b"]  # both took part
    assert await first.campaign_row_counts("cmp_1") == {"completed": 500}


def test_sqlite_two_processes_on_one_file_claim_each_of_500_rows_exactly_once(tmp_path: Path) -> None:
    import subprocess  # noqa: PLC0415
    import sys  # noqa: PLC0415

    path = tmp_path / "ledger.sqlite3"

    async def setup() -> None:
        ledger = Ledger(path, environment=ENV)
        await running(ledger, 500, max_concurrent=10)
        ledger.close()

    anyio.run(setup)
    script = (
        "import anyio, sys\n"
        "from datetime import timedelta\n"
        "from pathlib import Path\n"
        "from voicing_mcp.guard.ledger import Ledger\n"
        "async def main():\n"
        "    ledger = Ledger(Path(sys.argv[1]), environment='production')\n"
        "    idle = 0\n"
        "    while idle < 20:\n"
        "        rows = await ledger.claim_next_rows(worker_id=sys.argv[2], lease=timedelta(minutes=5), limit=3)\n"
        "        if not rows:\n"
        "            idle += 1\n"
        "            await anyio.sleep(0.01)\n"
        "            continue\n"
        "        idle = 0\n"
        "        for r in rows:\n"
        "            print(r.position, flush=True)\n"
        "            await ledger.record_row_outcome('cmp_1', r.position, state='completed')\n"
        "anyio.run(main)\n"
    )
    procs = [
        subprocess.Popen([sys.executable, "-c", script, str(path), name], stdout=subprocess.PIPE, text=True)
        for name in ("p1", "p2")
    ]
    outputs = [p.communicate(timeout=120)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0]
    claimed = [[int(line) for line in out.split()] for out in outputs]
    assert sorted(claimed[0] + claimed[1]) == list(range(1, 501))
    assert claimed[0] and claimed[1]


# ----- a campaign's dial in the ledger, the per-number count --------------------------------------
REQ = OutboundCallRequest(assistant_id="a1", phone_number=number(1), input_variables={"name": "N1"})


async def test_a_campaign_dial_records_the_campaign_on_its_intent_row_and_counts_the_attempt(
    ledger_store: LedgerStore,
) -> None:
    ledger = ledger_store.open(environment=ENV)
    await running(ledger, 1)
    await ledger.claim_next_rows(worker_id="w", lease=LEASE, limit=1)
    dial_id = await ledger.claim_dial(
        REQ, confirmation="campaign", environment=ENV, max_per_hour=10, campaign=CampaignDial("cmp_1", 1)
    )
    [row] = await ledger.campaign_rows("cmp_1")
    assert (row.attempts, row.dial_id, row.state) == (1, dial_id, "dialling")
    dial = await ledger.get(dial_id)
    assert dial is not None and dial.confirmation == "campaign" and dial.status == "pending"
    if isinstance(ledger_store.target, Path):
        with sqlite3.connect(ledger_store.target) as conn:
            link = conn.execute("SELECT campaign_id, campaign_position FROM dials WHERE id = ?", (dial_id,)).fetchone()
    else:
        with psycopg.connect(ledger_store.setting) as pconn:
            link = pconn.execute(
                "SELECT campaign_id, campaign_position FROM dials WHERE id = %s", (dial_id,)
            ).fetchone()
    assert tuple(link or ()) == ("cmp_1", 1)


async def test_a_started_campaign_dial_moves_its_row_to_in_progress_with_the_record_of_its_outcome(
    ledger_store: LedgerStore,
) -> None:
    ledger = ledger_store.open(environment=ENV)
    await running(ledger, 2)
    await ledger.claim_next_rows(worker_id="w", lease=LEASE, limit=2)
    dial_id = await ledger.claim_dial(
        REQ, confirmation="campaign", environment=ENV, max_per_hour=10, campaign=CampaignDial("cmp_1", 1)
    )
    await ledger.record_outcome(dial_id, status="started", call_id="call-1")
    row, other = await ledger.campaign_rows("cmp_1")
    assert (row.state, row.call_id, row.worker_id, row.lease_until, row.attempts) == (
        "in_progress",
        "call-1",
        None,
        None,
        1,
    )
    assert other.state == "dialling"  # the other claimed row is untouched
    dial = await ledger.get(dial_id)
    assert dial is not None and (dial.status, dial.call_id) == ("started", "call-1")
    # a single call's outcome moves no campaign row
    single = await ledger.claim_dial(
        OutboundCallRequest(assistant_id="a1", phone_number=number(2), input_variables={"name": "N2"}),
        confirmation="token",
        environment=ENV,
        max_per_hour=10,
    )
    await ledger.record_outcome(single, status="started", call_id="call-2")
    assert [r.state for r in await ledger.campaign_rows("cmp_1")] == ["in_progress", "dialling"]


async def test_the_outcome_log_holds_each_dials_outcome_newest_first_for_every_store_and_starts_afresh_on_resume(
    ledger_store: LedgerStore,
) -> None:
    ledger = ledger_store.open(environment=ENV)
    await running(ledger, 7, max_concurrent=7)
    await ledger.claim_next_rows(worker_id="w", lease=LEASE, limit=7)
    await ledger.record_row_outcome("cmp_1", 1, state="failed", last_outcome="HTTP 400")
    await ledger.record_row_outcome("cmp_1", 2, state="in_progress", call_id="call-2")  # not an outcome yet
    written = await ledger.record_row_outcomes(
        "cmp_1",
        [
            RowOutcome(2, "queued", next_attempt_at=datetime(2026, 5, 4, 18, 0, tzinfo=UTC), last_outcome="busy"),
            RowOutcome(1, "queued"),  # failed is final: skipped, not refused
            RowOutcome(3, "unknown", last_outcome=INTERRUPTED),  # our process stopped: not the API's outcome
            RowOutcome(4, "excluded", last_outcome="do-not-call"),  # never dialled
            RowOutcome(5, "unknown", last_outcome="outcome unknown"),
            RowOutcome(6, "waiting", last_outcome="rate limit"),  # not dialled yet
            RowOutcome(7, "completed", last_outcome="completed"),
        ],
    )
    assert written == [2, 3, 4, 5, 6, 7]
    counts = await ledger.campaign_row_counts("cmp_1")
    assert counts == {"failed": 1, "queued": 1, "unknown": 2, "excluded": 1, "waiting": 1, "completed": 1}
    expected = ["completed", "unknown", "busy", "failed"]
    assert await ledger.campaign_recent_outcomes("cmp_1", limit=20) == expected
    # another store object (another process, another replica) reads the same log
    other = ledger_store.open(environment=ENV)
    assert await other.campaign_recent_outcomes("cmp_1", limit=2) == expected[:2]
    assert await other.campaign_recent_outcomes("cmp_2", limit=20) == []
    await ledger.set_campaign_status("cmp_1", "paused", reason="3 unknown outcomes or failed dials in a row")
    assert await other.campaign_recent_outcomes("cmp_1", limit=20) == expected  # kept while paused
    await other.set_campaign_status("cmp_1", "running")
    assert await ledger.campaign_recent_outcomes("cmp_1", limit=20) == []  # resumed: counted afresh
    if isinstance(ledger_store.target, Path):
        with sqlite3.connect(ledger_store.target) as conn:
            plan = " ".join(
                str(r[3])
                for r in conn.execute(
                    "EXPLAIN QUERY PLAN SELECT outcome FROM campaign_outcomes WHERE campaign_id = ? "
                    "ORDER BY seq DESC LIMIT ?",
                    ("cmp_1", 20),
                )
            )
        assert "USING INDEX campaign_outcomes_recent" in plan and "TEMP B-TREE" not in plan, plan


async def test_a_campaign_row_is_dialled_only_while_claimed_and_its_campaign_running(
    ledger_store: LedgerStore,
) -> None:
    clock = Clock()
    ledger = ledger_store.open(clock=clock, environment=ENV)
    await running(ledger, 3, max_concurrent=3)

    async def dial(position: int) -> str:
        req = REQ.model_copy(update={"phone_number": number(position)})
        try:
            await ledger.claim_dial(
                req, confirmation="campaign", environment=ENV, max_per_hour=10, campaign=CampaignDial("cmp_1", position)
            )
        except GuardRefusal as exc:
            assert number(position) not in str(exc)
            return exc.rule
        return "dialled"

    assert await dial(1) == "campaign"  # queued, not claimed
    await ledger.claim_next_rows(worker_id="w", lease=LEASE, limit=2)
    await ledger.set_campaign_status("cmp_1", "paused", reason="by the user")
    assert await dial(1) == "campaign"  # paused: not dialled, even though claimed before the pause
    await ledger.set_campaign_status("cmp_1", "running")
    assert await dial(1) == "dialled"
    clock.now += LEASE + timedelta(seconds=1)
    await ledger.mark_interrupted()  # row 2's claimer died: unknown, never dialled
    assert await dial(2) == "campaign"
    assert await dial(9) == "campaign"  # no such row
    assert [r.attempts for r in await ledger.campaign_rows("cmp_1")] == [1, 0, 0]


async def test_dials_to_a_number_are_counted_across_campaigns_and_single_calls_within_the_window(
    ledger_store: LedgerStore,
) -> None:
    clock = Clock()
    ledger = ledger_store.open(clock=clock, environment=ENV)
    cap = (2, timedelta(hours=24))
    assistants = iter(f"a{i}" for i in range(10))

    async def dial(
        phone: str, *, number_cap: tuple[int, timedelta] | None = None, campaign: CampaignDial | None = None
    ) -> int:
        req = REQ.model_copy(update={"phone_number": phone, "assistant_id": next(assistants)})
        row_id = await ledger.claim_dial(
            req, confirmation="token", environment=ENV, max_per_hour=100, number_cap=number_cap, campaign=campaign
        )
        await ledger.record_outcome(row_id, status="started", call_id=f"c{row_id}")
        return row_id

    await running(ledger, 1)
    await ledger.claim_next_rows(worker_id="w", lease=LEASE, limit=1)
    await dial(number(1), campaign=CampaignDial("cmp_1", 1))
    clock.now += timedelta(hours=2)
    await dial(number(1))
    await dial(number(2))
    failed = await ledger.claim_dial(
        REQ.model_copy(update={"assistant_id": "zz"}), confirmation="token", environment=ENV, max_per_hour=100
    )
    await ledger.record_outcome(failed, status="failed", detail="422")  # nobody was called: not counted
    assert await ledger.count_dials_to(number(1), since=clock.now - timedelta(hours=24)) == 2
    assert await ledger.count_dials_to(number(1), since=clock.now - timedelta(hours=1)) == 1
    assert await ledger.count_dials_to(number(3), since=clock.now - timedelta(hours=24)) == 0
    assert (
        await ledger_store.open(clock=clock, environment="local").count_dials_to(
            number(1), since=clock.now - timedelta(hours=24)
        )
        == 0
    )  # another scope's dials do not count
    clock.now += timedelta(hours=1)
    with pytest.raises(GuardRefusal) as exc:
        await dial(number(1), number_cap=cap)
    assert exc.value.rule == "number-cap"
    assert number(1) not in str(exc.value)
    await dial(number(2), number_cap=cap)  # one dial to number 2 so far
    clock.now += timedelta(hours=22, minutes=1)  # the first dial left the window
    await dial(number(1), number_cap=cap)


async def test_the_dial_times_of_many_numbers_are_the_dials_their_per_number_counts_count(
    ledger_store: LedgerStore,
) -> None:
    """One query for all the numbers gives, per number, the times of exactly the dials count_dials_to counts:
    campaigns and single calls, not failed ones nor ones released without a call, not another scope's, not older."""
    clock = Clock()
    ledger = ledger_store.open(clock=clock, environment=ENV)
    assistants = iter(f"a{i}" for i in range(20))

    async def dial(phone: str, *, status: str = "started", released: bool = False, env: str = ENV) -> datetime:
        writer = ledger if env == ENV else ledger_store.open(clock=clock, environment=env)
        req = REQ.model_copy(update={"phone_number": phone, "assistant_id": next(assistants)})
        row_id = await writer.claim_dial(req, confirmation="token", environment=env, max_per_hour=100)
        call_id = f"c{row_id}" if status == "started" else None
        await writer.record_outcome(row_id, status=status, call_id=call_id)  # type: ignore[arg-type]
        if released:
            await writer.resolve(row_id, resolution="checked: no call")
        at = clock.now
        clock.now += timedelta(minutes=30)
        return at

    await running(ledger, 1)
    await ledger.claim_next_rows(worker_id="w", lease=LEASE, limit=1)
    req = REQ.model_copy(update={"assistant_id": "campaign"})
    first = await ledger.claim_dial(
        req, confirmation="campaign", environment=ENV, max_per_hour=100, campaign=CampaignDial("cmp_1", 1)
    )
    await ledger.record_outcome(first, status="started", call_id="c-campaign")
    campaign_dial = clock.now
    clock.now += timedelta(hours=1)
    before_window = await dial(number(2))
    clock.now += timedelta(hours=1)
    since = clock.now
    started = await dial(number(1))
    await dial(number(1), status="failed")
    times = {number(1): [started, await dial(number(1), status="unknown")], number(2): [await dial(number(2))]}
    await dial(number(2), status="unknown", released=True)
    await dial(number(3), env="local")
    await dial(number(4))  # not asked about
    assert before_window < since <= min(t for ts in times.values() for t in ts)  # since itself is in the window

    asked = [number(1), number(2), number(3), number(5), number(1)]
    assert await ledger.dial_times(asked, since=since) == times
    for phone in asked:
        assert len(times.get(phone, [])) == await ledger.count_dials_to(phone, since=since)
    everything = await ledger.dial_times(asked, since=campaign_dial)
    assert everything[number(1)] == [campaign_dial, *times[number(1)]]  # the campaign's dial counts too
    assert everything[number(2)] == [before_window, *times[number(2)]]
    assert await ledger.dial_times([], since=since) == {}
    if isinstance(ledger_store.target, Path):
        with sqlite3.connect(ledger_store.target) as conn:
            params = {"scope": ENV, "since": 0.0, "numbers": "[]"}
            plan = " ".join(
                str(r[3]) for r in conn.execute(f"EXPLAIN QUERY PLAN {sqlite_ledger.dial_times_sql(ENV)}", params)
            )
        assert "USING INDEX dials_by_scope_number" in plan, plan


# ----- the counts on their indexes ------------------------------------------------------------------
async def test_the_rate_and_per_number_counts_read_the_scope_indexes(ledger_store: LedgerStore) -> None:
    ledger = ledger_store.open(environment=ENV)
    await ledger.claim_dial(REQ, confirmation="token", environment=ENV, max_per_hour=10)
    if isinstance(ledger_store.target, Path):
        with sqlite3.connect(ledger_store.target) as conn:
            params = {"scope": "production", "since": 0.0, "phone": number(1), "at_most": 30}
            plans = [
                " ".join(str(r[3]) for r in conn.execute(f"EXPLAIN QUERY PLAN {sql}", params))
                for sql in (sqlite_ledger.count_sql("production"), sqlite_ledger.count_to_sql("production"))
            ]
        assert "USING COVERING INDEX dials_by_scope_time" in plans[0]
        assert "USING INDEX dials_by_scope_number" in plans[1]
    else:
        with psycopg.connect(ledger_store.setting) as pconn:
            # a week of dials, 50 an hour, 9 in 10 rehearsed on the emulator (scope local), and the planner's
            # statistics: the plan reads an index range (the scope's or the time's, as the statistics say), never
            # the table
            now = datetime.now(UTC).timestamp()
            pconn.execute(
                "INSERT INTO dials (created_at, created_ts, assistant_id, phone_e164, phone_masked, "
                "telephony_provider, variable_names, confirmation, environment, scope, status, updated_at) "
                "SELECT 't', %s - g * 72, 'a1', '+1701555' || lpad((g %% 500)::text, 4, '0'), 'm', '', '[]', "
                "'token', 'e', CASE WHEN g %% 10 = 0 THEN 'production' ELSE 'local' END, 'started', 't' "
                "FROM generate_series(1, 8400) g",
                (now,),
            )
            pconn.execute("ANALYZE dials")
            params = {
                "scope": "production",
                "since": now - 3600,
                "phone": number(1),
                "cap_since": now - 86400,
                "at_most": 30,
                "cap_at_most": 3,
            }
            plans = [
                " ".join(str(r[0]) for r in pconn.execute(b"EXPLAIN " + sql.encode(), params).fetchall())
                for sql in (pg_ledger.count_sql(True), pg_ledger.count_to_sql(True))
            ]
        assert re.search(r"Index (Only )?Scan using dials_by_(scope_)?time", plans[0]), plans[0]
        assert re.search(r"Index (Only )?Scan using dials_by_(scope_)?number", plans[1]), plans[1]
        assert "Seq Scan" not in " ".join(plans)


def test_sqlite_an_older_ledger_gains_the_scope_column_backfilled_from_the_stored_url(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    with sqlite3.connect(path) as conn:  # the dials table as versions before the scope column wrote it
        conn.execute(
            "CREATE TABLE dials (id INTEGER PRIMARY KEY AUTOINCREMENT, created_at TEXT NOT NULL, created_ts REAL NOT "
            "NULL, assistant_id TEXT NOT NULL, phone_e164 TEXT NOT NULL, phone_masked TEXT NOT NULL, "
            "telephony_provider TEXT NOT NULL, variable_names TEXT NOT NULL, confirmation TEXT NOT NULL, "
            "environment TEXT NOT NULL, status TEXT NOT NULL, call_id TEXT, detail TEXT, updated_at TEXT NOT NULL, "
            "resolved_at TEXT, resolution TEXT)"
        )
        now = datetime(2026, 5, 4, 15, 0, tzinfo=UTC)
        for i, env in enumerate(["https://API.voicing.ai:443/", "production", "local", "https://other.example/v1"]):
            conn.execute(
                "INSERT INTO dials (created_at, created_ts, assistant_id, phone_e164, phone_masked, "
                "telephony_provider, variable_names, confirmation, environment, status, updated_at) VALUES "
                "('t', ?, 'a1', ?, 'm', '', '[]', 'token', ?, 'started', 't')",
                (now.timestamp() - 60, number(i), env),
            )

    async def counts() -> tuple[int, int, int]:
        clock = Clock()
        production = Ledger(path, clock=clock, environment=ENV)
        other = Ledger(path, clock=clock, environment="https://other.example/v1/")
        try:
            return (
                await production.count_since(now - timedelta(hours=1)),
                await other.count_since(now - timedelta(hours=1)),
                await production.count_dials_to(number(0), since=now - timedelta(hours=1)),
            )
        finally:
            production.close()
            other.close()

    assert anyio.run(counts) == (2, 1, 1)
    with sqlite3.connect(path) as conn:
        scopes = [r[0] for r in conn.execute("SELECT scope FROM dials ORDER BY id")]
    assert scopes == ["production", "production", "local", "url:other.example/v1"]


async def test_sqlite_a_row_an_older_version_inserts_is_counted_by_the_next_claim(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite3"
    ledger = Ledger(path, environment=ENV)
    await ledger.recent()
    now = datetime.now(UTC).timestamp()
    with sqlite3.connect(path) as conn:  # as an older voicing-mcp writes: no scope in its INSERT
        conn.execute(
            "INSERT INTO dials (created_at, created_ts, assistant_id, phone_e164, phone_masked, telephony_provider, "
            "variable_names, confirmation, environment, status, updated_at) VALUES "
            "('t', ?, 'a1', ?, 'm', '', '[]', 'token', 'https://api.voicing.ai', 'started', 't')",
            (now, number(1)),
        )
    with pytest.raises(GuardRefusal) as exc:  # that dial counts against the hour's limit of one
        await ledger.claim_dial(
            REQ.model_copy(update={"phone_number": number(2)}), confirmation="token", environment=ENV, max_per_hour=1
        )
    assert exc.value.rule == "rate-limit"
    req = REQ.model_copy(update={"phone_number": number(3)})
    await ledger.claim_dial(req, confirmation="token", environment=ENV, max_per_hour=2)  # committed: scope filled
    assert await ledger.count_since(datetime.now(UTC) - timedelta(hours=1)) == 2
    ledger.close()
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT scope FROM dials").fetchall() == [("production",), ("production",)]


# ----- pruning spent nonces -------------------------------------------------------------------------
def stored_nonces(store: LedgerStore) -> set[str]:
    if isinstance(store.target, Path):
        with sqlite3.connect(store.target) as conn:
            return {str(r[0]) for r in conn.execute("SELECT nonce FROM nonces")}
    with psycopg.connect(store.setting) as conn:
        return {str(r[0]) for r in conn.execute("SELECT nonce FROM nonces").fetchall()}


async def test_expired_spent_nonces_are_pruned_and_unexpired_ones_stay_spent(ledger_store: LedgerStore) -> None:
    clock = Clock()
    ledger = ledger_store.open(clock=clock, environment=ENV)
    assert await ledger.spend_nonce("old", expires_at=clock.now + timedelta(minutes=5))
    assert await ledger.spend_nonce("long", expires_at=clock.now + timedelta(hours=5))
    await ledger.record_approval("digest", "approval-old", expires_at=clock.now + timedelta(minutes=5))
    clock.now += timedelta(minutes=5) + PRUNE_GRACE - timedelta(seconds=1)
    assert await ledger.prune_expired() == 0  # within the grace: kept
    clock.now += timedelta(seconds=2)
    assert await ledger.prune_expired() == 2  # the spent nonce and the unused approval
    assert stored_nonces(ledger_store) == {"long"}
    assert not await ledger.spend_nonce("long", expires_at=clock.now + timedelta(hours=5))
    # spending prunes by itself, at most every PRUNE_EVERY (the last prune was now)
    assert await ledger.spend_nonce("past", expires_at=clock.now - PRUNE_GRACE - timedelta(seconds=1))
    clock.now += PRUNE_EVERY - timedelta(seconds=1)
    assert await ledger.spend_nonce("next", expires_at=clock.now + timedelta(minutes=5))
    assert stored_nonces(ledger_store) == {"long", "past", "next"}
    clock.now += timedelta(seconds=1)
    assert await ledger.spend_nonce("later", expires_at=clock.now + timedelta(minutes=5))
    assert stored_nonces(ledger_store) == {"long", "next", "later"}
