"""Campaign tool tests' helpers: a server (local mode: no API is reached) with its own ledger file, and a second
handle on that file to create campaigns directly, as prepare_campaign and the human's approval would."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Collection
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from mcp import Client
from mcp_types import CallToolResult, TextResourceContents

from server_support import session, text_of
from voicing_mcp.config import load_settings
from voicing_mcp.guard.ledger import Campaign, Ledger, NewCampaign, NewCampaignRow
from voicing_mcp.server import context
from voicing_mcp.server.app import create_server

ENV = "local"  # the scope of a local-mode server's ledger
DAY = datetime(2026, 5, 4, 16, 0, tzinfo=UTC)
LEASE = timedelta(minutes=5)
CID = "cmp_0123456789abcdef"


class Clock:
    def __init__(self, now: datetime = DAY) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@dataclass
class Rig:
    client: Client
    ledger: Ledger
    clock: Clock


@asynccontextmanager
async def campaign_server(tmp_path: Path, mode: str = "legacy", **settings: Any) -> AsyncGenerator[Rig]:
    """A local-mode server on ``tmp_path``'s ledger with a virtual clock, a client session, and the same ledger.

    The server's own dispatcher is held back: these tests probe the ledger's claims themselves (what a dispatcher
    would get), so a dispatcher dialling meanwhile would race them; the dispatcher's tests are its own."""
    held_back, context.DISPATCHER_START_DELAY = context.DISPATCHER_START_DELAY, 3600.0
    clock = Clock()
    path = tmp_path / "ledger.sqlite3"
    server = create_server(load_settings(ledger=str(path), **settings), clock=clock)
    ledger = Ledger(path, clock=clock, environment=ENV)
    try:
        async with session(server, mode) as client:
            yield Rig(client, ledger, clock)
    finally:
        context.DISPATCHER_START_DELAY = held_back
        ledger.close()


def number(i: int) -> str:
    return f"+1701555{i % 10_000:04d}"


async def make_campaign(
    rig: Rig,
    n: int,
    *,
    campaign_id: str = CID,
    approve: bool = True,
    excluded: Collection[int] = (),
    unticked: Collection[int] = (),
    valid_for: timedelta = timedelta(hours=24),
    environment: str = ENV,
    reason: str = "do-not-call",
) -> Campaign:
    """A campaign of ``n`` rows (``excluded`` positions refused at preparation), approved unless told not to."""
    new = NewCampaign(
        id=campaign_id,
        environment=environment,
        assistant_id="019addcc-b878-7b10-85f1-49f21342f947",
        telephony_provider="default",
        manifest_sha256="m" * 64,
        name="overdue payments",
    )
    rows = [
        NewCampaignRow(
            position=i,
            phone_e164=number(i),
            input_variables={"name": f"N{i}"},
            exclusion_reason=reason if i in excluded else None,
        )
        for i in range(1, n + 1)
    ]
    ledger = rig.ledger
    campaign = await ledger.create_campaign(new, rows)
    if not approve:
        return campaign
    ticked = [i for i in range(1, n + 1) if i not in excluded and i not in unticked]
    return await ledger.approve_campaign(
        campaign_id, manifest_sha256="m" * 64, ticked_positions=ticked, expires_at=rig.clock() + valid_for
    )


async def dial_rows(ledger: Ledger, campaign_id: str, outcomes: list[str], *, worker: str = "w1") -> None:
    """Claim one due row per outcome and record it: in progress with a call id, then the outcome (``in_progress``
    and ``unknown`` stay there)."""
    for k, outcome in enumerate(outcomes):
        [row] = await ledger.claim_next_rows(worker_id=worker, lease=LEASE, limit=1, campaign_id=campaign_id)
        if outcome == "unknown":
            await ledger.record_row_outcome(campaign_id, row.position, state="unknown", last_outcome="uncertain")
            continue
        await ledger.record_row_outcome(campaign_id, row.position, state="in_progress", call_id=f"call-{k}")
        if outcome != "in_progress":
            await ledger.record_row_outcome(campaign_id, row.position, state=outcome, last_outcome=outcome)  # type: ignore[arg-type]


async def read_text(client: Client, uri: str) -> str:
    read = await client.read_resource(uri)
    [content] = read.contents
    assert isinstance(content, TextResourceContents)
    return content.text


def error_text(result: CallToolResult) -> str:
    assert result.is_error, "expected a tool error"
    return text_of(result)
