"""Confirm-page approvals in the ledger (both backends): stored by the server whose page was clicked, taken once
by whichever server on the ledger gets the model's next call."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import anyio

from pg_support import LedgerStore
from voicing_mcp.guard.ledger import DialLedger

NOW = datetime(2026, 5, 4, 15, 0, tzinfo=UTC)


async def test_an_approval_is_taken_once_by_one_of_two_replicas(ledger_store: LedgerStore) -> None:
    page, first, second = (ledger_store.open(clock=lambda: NOW) for _ in range(3))
    await page.record_approval("digest-1", "page:abc", expires_at=NOW + timedelta(minutes=5))
    taken: list[str | None] = []

    async def take(ledger: DialLedger) -> None:
        taken.append(await ledger.take_approval("digest-1"))

    async with anyio.create_task_group() as tg:
        tg.start_soon(take, first)
        tg.start_soon(take, second)
    assert len(taken) == 2 and taken.count("page:abc") == 1 and taken.count(None) == 1
    # the approval's nonce is the page's: the server whose page it was cannot spend it again
    assert not await page.spend_nonce("page:abc", expires_at=NOW + timedelta(minutes=5))


async def test_an_approval_of_another_request_an_expired_one_or_a_spent_one_is_not_taken(
    ledger_store: LedgerStore,
) -> None:
    ledger = ledger_store.open(clock=lambda: NOW)
    await ledger.record_approval("other", "page:1", expires_at=NOW + timedelta(minutes=5))
    await ledger.record_approval("digest", "page:2", expires_at=NOW - timedelta(seconds=1))
    await ledger.record_approval("digest", "page:3", expires_at=NOW + timedelta(minutes=5))
    assert await ledger.spend_nonce("page:3", expires_at=NOW + timedelta(minutes=5))  # dialled by its own server
    assert await ledger.take_approval("digest") is None
