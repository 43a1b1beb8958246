"""The campaign dispatcher: approved campaigns' rows dialled in the background, each through the same guard.

One :class:`CampaignDispatcher` runs per server (the lifespan starts it; MCP-free). Its state lives in the ledger,
so any number of dispatchers — a restarted server, a second server on the same SQLite file, every replica on a
PostgreSQL ledger — work on the same campaigns without dialling a row twice: a row is dialled only after the
ledger handed it to one worker (``claim_next_rows``: ``dialling`` with a lease), and only through
``claim_dial(..., campaign=...)``, which refuses unless that row is still ``dialling`` and its campaign
``running``. A worker that dies leaves its rows ``dialling`` past their lease: the next tick of any dispatcher
makes them ``unknown`` (``mark_interrupted``), never dialled again.

One :meth:`CampaignDispatcher.tick` (the background loop runs one every ``tick_seconds``, or at once after
:meth:`~CampaignDispatcher.wake`):

1. rows left ``dialling`` past their lease → ``unknown`` (``interrupted``; looked for at most every quarter of
   the lease: a lease runs that long anyway before its row is given up);
2. for every campaign of the server's scope that may have calls in progress (running, scheduled, and recently
   paused, cancelled, or asked again after a lapsed approval and then declined or expired): the ``in_progress``
   rows' calls read in bulk (``bulk_call_details``' client path) → their final state, written in one transaction;
   ``busy``/``no_answer`` queued again after ``retry_after_minutes`` while ``attempts < max_attempts`` (and the
   campaign is running, scheduled or paused);
3. a ``scheduled`` campaign whose first row is due becomes ``running``; a running campaign whose approval
   expired is paused ("approval expired");
4. auto-pause, before any new dial: 3 unknown outcomes or failed dials in a row, or more than 20% of the last 20
   (at least 10) dials failed → ``paused`` with the reason. The outcomes are the campaign's outcome log in the
   ledger (``campaign_recent_outcomes``: every dispatcher's dials, one indexed read), so the rule holds across
   processes and replicas; it counts afresh when the campaign is resumed;
5. free slots (``max_concurrent`` minus its ``dialling``/``in_progress`` rows, counted by the ledger) are claimed
   and each claimed row dialled (:func:`~voicing_mcp.guard.campaigns.row_dial.dial_campaign_row`: the re-check
   at dial time and one POST), concurrently, the leases renewed while POSTs are in flight; a started call's row
   becomes ``in_progress`` in the ledger's own record of the dial's outcome (one write after the POST), any other
   result is written to the row (``waiting`` until a time, ``excluded`` with its reason, ``failed``,
   ``unknown``); a problem of the whole campaign (its template, the do-not-call file) pauses it;
6. a campaign with no row left to dial or in progress becomes ``completed``.

An error in one campaign is logged (stderr, numbers masked) and the others go on.

Over 450 lines: the tick's steps and what each does when the ledger or the API fails (a row's error stays that
row's) are read together; split apart, one row's path through a tick would run across files.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Final, Protocol

import anyio

from voicing_mcp.api.models import BulkResult, OutboundCallRequest, OutboundCallResponse
from voicing_mcp.errors import VoicingError
from voicing_mcp.guard.campaigns.row_dial import RowDial, dial_campaign_row
from voicing_mcp.guard.ledger import Campaign, CampaignConflict, CampaignRow, CampaignStatus, Ledger, RowState
from voicing_mcp.guard.ledger.campaigns import INTERRUPTED, RowOutcome
from voicing_mcp.guard.policy import Clock, DialGuard
from voicing_mcp.redact import mask_numbers_in

if TYPE_CHECKING:
    from anyio.abc import TaskGroup

__all__ = [
    "APPROVAL_EXPIRED",
    "DEFAULT_LEASE",
    "DEFAULT_TICK_SECONDS",
    "CampaignClient",
    "CampaignDispatcher",
    "TickReport",
    "pause_reason",
    "worker_name",
]

logger = logging.getLogger(__name__)

DEFAULT_TICK_SECONDS: Final = 1.0
#: how long a claimed row stays ours without a renewal (renewed every third of it while its POST is in flight);
#: a dispatcher that died leaves its rows to be made ``unknown`` this long after its last renewal
DEFAULT_LEASE: Final = timedelta(seconds=60)
APPROVAL_EXPIRED: Final = "approval expired"
#: seconds :meth:`CampaignDispatcher.aclose` lets the tick under way finish before cancelling it
CLOSE_GRACE: Final = 5.0
#: auto-pause: this many unknown outcomes or failed dials in a row
FAILURES_IN_A_ROW: Final = 3
#: auto-pause: more than this share of the last FAILURE_WINDOW dials failed (once at least FAILURE_MIN_DIALS)
FAILURE_SHARE: Final = 0.2
FAILURE_WINDOW: Final = 20
FAILURE_MIN_DIALS: Final = 10
#: a call with no final status this long after its row went ``in_progress`` is given up as ``unknown``
CALL_STALE: Final = timedelta(hours=6)
#: campaigns that dial no more (paused, cancelled, asked again, declined or expired after a lapsed approval) are still
#: read for the outcome of their calls in progress this long
SETTLE_WINDOW: Final = timedelta(days=1)
#: campaigns read per tick (running and scheduled; then paused/cancelled ones with calls to settle)
MAX_CAMPAIGNS: Final = 500
MAX_SETTLING: Final = 50

#: the API's final call statuses → the row's state (``canceled``: the call ended without anyone reached)
FINAL_STATES: Final[dict[str, RowState]] = {
    "completed": "completed",
    "busy": "busy",
    "no-answer": "no_answer",
    "no_answer": "no_answer",
    "voicemail": "voicemail",
    "failed": "failed",
    "canceled": "failed",
    "cancelled": "failed",
}
RETRIED: Final = frozenset({"busy", "no_answer"})
#: the outcome log's entries the auto-pause rules count against a campaign (a failed dial, an unknown outcome)
_BAD: Final = frozenset({"failed", "unknown"})
_DIALLING: Final[tuple[CampaignStatus, ...]] = ("running", "scheduled")
_SETTLING: Final[tuple[CampaignStatus, ...]] = ("paused", "cancelled")
#: a campaign asked again after its approval lapsed, and then declined or expired, may have calls in progress too (only
#: one approved before: ``approved_at`` is set); listed apart, so that new campaigns awaiting approval crowd no paused
#: or cancelled one out of MAX_SETTLING
_ASKED_AGAIN: Final[tuple[CampaignStatus, ...]] = ("awaiting_approval", "declined", "expired")


class CampaignClient(Protocol):
    """What the dispatcher asks of the API client (:class:`~voicing_mcp.api.client.VoicingClient`)."""

    async def initiate_outbound_call(self, req: OutboundCallRequest) -> OutboundCallResponse: ...
    async def bulk_call_details(self, call_ids: Sequence[str]) -> BulkResult: ...


@dataclass(slots=True)
class TickReport:
    """What one tick did (for tests, logs and the benchmark)."""

    interrupted: int = 0
    claimed: int = 0
    dialled: int = 0
    outcomes: int = 0
    waiting: int = 0
    excluded: int = 0
    paused: list[str] = field(default_factory=list[str])
    completed: list[str] = field(default_factory=list[str])
    errors: int = 0


def pause_reason(outcomes: Sequence[str]) -> str | None:
    """The auto-pause rules on a campaign's latest dial outcomes (newest first, at most FAILURE_WINDOW, as
    ``campaign_recent_outcomes`` reads them): the reason to pause, or None."""
    in_a_row = 0
    for outcome in outcomes:
        if outcome not in _BAD:
            break
        in_a_row += 1
    if in_a_row >= FAILURES_IN_A_ROW:
        return f"{in_a_row} unknown outcomes or failed dials in a row"
    recent = outcomes[:FAILURE_WINDOW]
    failures = sum(1 for o in recent if o == "failed")
    if len(recent) >= FAILURE_MIN_DIALS and failures > FAILURE_SHARE * len(recent):
        return f"{failures} of the last {len(recent)} dials failed (more than {FAILURE_SHARE:.0%})"
    return None


class CampaignDispatcher:
    """Dials the rows of the running campaigns of ``guard``'s scope (see the module's docstring).

    ``worker_id`` names this dispatcher in the ledger's leases: unique per process (e.g. ``host:pid:random``).
    ``clock`` defaults to the guard's (tests pass a virtual one; the ledger's own clock decides due rows and
    leases). Use :meth:`tick` for one pass, or :meth:`start` in a task group and :meth:`aclose` to stop.
    """

    def __init__(
        self,
        guard: DialGuard,
        client: CampaignClient,
        *,
        worker_id: str,
        clock: Clock | None = None,
        tick_seconds: float = DEFAULT_TICK_SECONDS,
        lease: timedelta = DEFAULT_LEASE,
    ) -> None:
        self.guard = guard
        self.client = client
        self.ledger = guard.ledger
        self.worker_id = worker_id
        self.clock: Clock = clock or guard.clock
        self.tick_seconds = tick_seconds
        self.lease = lease
        #: when this dispatcher last looked for rows whose lease ran out (its clock)
        self._marked_at: datetime | None = None
        self._wake = anyio.Event()
        self._scope: anyio.CancelScope | None = None
        self._stopped: anyio.Event | None = None
        self._closing = False

    # ----- the background loop ---------------------------------------------------------------------
    def start(self, task_group: TaskGroup) -> None:
        """Run ticks in ``task_group`` until :meth:`aclose` (or the group ends)."""
        if self._scope is not None:
            return
        self._scope = anyio.CancelScope()
        self._stopped = anyio.Event()
        task_group.start_soon(self._run, self._scope, self._stopped)

    def wake(self) -> None:
        """Tick now (after an approval or a resume) instead of at the next interval."""
        self._wake.set()

    async def aclose(self) -> None:
        """Stop the loop after the tick under way (its rows written, no lease left behind), or cancel it after
        CLOSE_GRACE seconds: a POST then in flight is recorded as interrupted (its row ``unknown``), never
        resent."""
        if self._scope is None or self._stopped is None:
            return
        self._closing = True
        self._wake.set()
        with anyio.move_on_after(CLOSE_GRACE):
            await self._stopped.wait()
        self._scope.cancel()
        await self._stopped.wait()

    async def _run(self, scope: anyio.CancelScope, stopped: anyio.Event) -> None:
        last_problem: str | None = None
        try:
            with scope:
                while not self._closing:
                    try:
                        await self.tick()
                        last_problem = None
                    except (VoicingError, CampaignConflict) as exc:  # the ledger is down, not ready yet…
                        problem = _masked(str(exc))
                        if problem != last_problem:  # said once, not every second
                            logger.warning("campaign dispatcher: %s; trying again every tick", problem)
                        last_problem = problem
                    except Exception:  # the top level of a background task: log, keep the server's dialler alive
                        logger.exception("campaign dispatcher: the tick failed; trying again at the next one")
                    if self._closing:
                        break
                    with anyio.move_on_after(self.tick_seconds):
                        await self._wake.wait()
                    self._wake = anyio.Event()
        finally:
            stopped.set()

    # ----- one pass ------------------------------------------------------------------------------------
    async def tick(self) -> TickReport:
        """One pass over the campaigns of this scope (the module's docstring, steps 1-6)."""
        report = TickReport()
        if isinstance(self.ledger, Ledger) and not self.ledger.path.exists():
            return report  # no SQLite file yet: no campaign either (a read would create it)
        dialling = await self.ledger.list_campaigns(statuses=_DIALLING, limit=MAX_CAMPAIGNS)
        since = self.clock() - SETTLE_WINDOW
        settling = [
            c for c in await self.ledger.list_campaigns(statuses=_SETTLING, limit=MAX_SETTLING) if c.updated_at >= since
        ]
        settling += [
            c
            for c in await self.ledger.list_campaigns(statuses=_ASKED_AGAIN, limit=MAX_SETTLING)
            if c.updated_at >= since and c.approved_at is not None
        ]
        if not dialling and not settling:
            return report
        now = self.clock()
        if self._marked_at is None or not timedelta(0) <= now - self._marked_at < self.lease / 4:
            report.interrupted = len(await self.ledger.mark_interrupted())
            self._marked_at = now
        if report.interrupted:
            logger.warning("campaigns: %d row(s) interrupted mid-dial are now unknown", report.interrupted)
        for campaign in [*dialling, *settling]:
            try:
                await self._campaign_pass(campaign, report)
            except (VoicingError, CampaignConflict) as exc:
                report.errors += 1
                logger.warning("campaign %s: %s", campaign.id, _masked(str(exc)))
        return report

    async def _campaign_pass(self, campaign: Campaign, report: TickReport) -> None:
        in_flight = await self._read_outcomes(campaign, report)
        if campaign.status not in _DIALLING:
            return
        now = self.clock()
        if campaign.approval_expires_at is not None and campaign.approval_expires_at <= now:
            await self._pause(campaign, APPROVAL_EXPIRED, report)
            return
        if campaign.status == "scheduled":
            due = await self.ledger.campaign_next_due(campaign.id)
            if due is None or due > now:
                await self._finish_if_done(campaign, report)
                return
            campaign = await self.ledger.set_campaign_status(campaign.id, "running")
        if in_flight >= campaign.max_concurrent:
            return  # no free slot: nothing to claim, and nothing can be done (its calls are still in progress)
        reason = pause_reason(await self.ledger.campaign_recent_outcomes(campaign.id, limit=FAILURE_WINDOW))
        if reason is not None:
            await self._pause(campaign, reason, report)
            return
        rows = await self.ledger.claim_next_rows(
            worker_id=self.worker_id, lease=self.lease, limit=campaign.max_concurrent, campaign_id=campaign.id
        )
        report.claimed += len(rows)
        if rows:  # not done: these rows are being dialled (a later tick finishes it)
            await self._dial_rows(campaign, rows, report)
        elif not in_flight:
            await self._finish_if_done(campaign, report)

    async def _finish_if_done(self, campaign: Campaign, report: TickReport) -> None:
        if await self.ledger.finish_campaign_if_done(campaign.id) is not None:
            report.completed.append(campaign.id)
            logger.info("campaign %s: completed", campaign.id)

    # ----- outcomes of calls in progress ------------------------------------------------------------------
    async def _read_outcomes(self, campaign: Campaign, report: TickReport) -> int:
        """The final states of the campaign's calls in progress, written in one transaction; how many calls are
        still in progress (this dispatcher's view: a finished campaign is then decided by the ledger)."""
        rows = await self.ledger.campaign_rows(campaign.id, limit=1000, states=("in_progress",))
        ids = [r.call_id for r in rows if r.call_id]
        if not ids:
            return len(rows)
        result = await self.client.bulk_call_details(ids)
        status_of = {c.call_id: (c.status or "").strip().lower() for c in result.calls}
        now = self.clock()
        outcomes: list[RowOutcome] = []
        for row in rows:
            state = FINAL_STATES.get(status_of.get(row.call_id or "", ""))
            if state is None:
                if now - row.updated_at > CALL_STALE:
                    outcomes.append(RowOutcome(row.position, "unknown", last_outcome="no final status"))
                continue
            retry = (
                state in RETRIED and row.attempts < campaign.max_attempts and campaign.status in (*_DIALLING, "paused")
            )
            if retry:
                again = now + timedelta(minutes=campaign.retry_after_minutes)
                outcomes.append(RowOutcome(row.position, "queued", next_attempt_at=again, last_outcome=state))
            else:
                outcomes.append(RowOutcome(row.position, state, last_outcome=state))
        if not outcomes:
            return len(rows)
        try:
            written = await self.ledger.record_row_outcomes(campaign.id, outcomes)
        except VoicingError as exc:
            report.errors += 1
            logger.error("campaign %s: %d outcome(s) not recorded: %s", campaign.id, len(outcomes), _masked(str(exc)))
            return len(rows)
        report.outcomes += sum(1 for o in outcomes if o.position in written and o.last_outcome != "no final status")
        return len(rows) - len(written)

    # ----- dials ------------------------------------------------------------------------------------------
    async def _dial_rows(self, campaign: Campaign, rows: list[CampaignRow], report: TickReport) -> None:
        """Dial the claimed rows concurrently; the leases are renewed until every POST has an answer."""
        async with anyio.create_task_group() as renewing:
            renewing.start_soon(self._renew_leases)
            async with anyio.create_task_group() as dials:
                for row in rows:
                    dials.start_soon(self._dial_one, campaign, row, report)
            renewing.cancel_scope.cancel()

    async def _renew_leases(self) -> None:
        while True:
            await anyio.sleep(self.lease.total_seconds() / 3)
            try:
                await self.ledger.renew_leases(self.worker_id, lease=self.lease)
            except VoicingError as exc:
                logger.warning("campaigns: leases not renewed: %s", _masked(str(exc)))

    async def _dial_one(self, campaign: Campaign, row: CampaignRow, report: TickReport) -> None:
        """Dial one claimed row and write what came of it. A ledger error of this row (reading when a cap frees,
        writing its state) is this row's alone: logged and counted, never raised into the task group, where it
        would cancel the other rows' POSTs in flight and leave their outcomes unknown."""
        try:
            try:
                result = await dial_campaign_row(self.guard, self.client, campaign, row)
            except BaseException:
                with anyio.CancelScope(shield=True):
                    await self._release_interrupted(campaign, row, report)
                raise
            await self._apply(campaign, row, result, report)
        except (VoicingError, CampaignConflict) as exc:
            report.errors += 1
            logger.warning("campaign %s row %d: %s", campaign.id, row.position, _masked(str(exc)))

    async def _release_interrupted(self, campaign: Campaign, row: CampaignRow, report: TickReport) -> None:
        """A dial stopped by shutdown or an error: if its claim was committed (the POST may have left) the row is
        ``unknown``, else it is due again. Nothing is written when the ledger cannot tell (the lease then runs
        out and the row becomes ``unknown``)."""
        try:
            now = await self.ledger.campaign_rows(campaign.id, offset=row.position - 1, limit=1)
        except VoicingError:
            return
        if not now or now[0].position != row.position or now[0].state != "dialling":
            return
        if now[0].attempts > row.attempts:
            await self._write(campaign, row, "unknown", report, last_outcome=INTERRUPTED)
        else:
            await self._write(campaign, row, "queued", report, next_attempt_at=row.next_attempt_at or self.clock())

    async def _apply(self, campaign: Campaign, row: CampaignRow, result: RowDial, report: TickReport) -> None:
        """Write what a row's dial came to."""
        match result.result:
            case "in_progress":  # the ledger moved the row with the dial's record (``record_outcome``)
                report.dialled += 1
            case "waiting":
                report.waiting += 1
                await self._write(
                    campaign,
                    row,
                    "waiting",
                    report,
                    next_attempt_at=result.next_attempt_at,
                    last_outcome=result.reason,
                )
            case "excluded":
                report.excluded += 1
                await self._write(campaign, row, "excluded", report, last_outcome=result.reason)
                logger.info("campaign %s row %d excluded at dial time: %s", campaign.id, row.position, result.reason)
            case "failed" | "unknown":
                state: RowState = "failed" if result.result == "failed" else "unknown"
                await self._write(campaign, row, state, report, last_outcome=result.reason)
            case "paused":
                await self._write(campaign, row, "queued", report, next_attempt_at=row.next_attempt_at or self.clock())
                await self._pause(campaign, result.reason or "a problem of the whole campaign", report)
            case "not_dialled":
                await self._not_dialled(campaign, row, report)

    async def _not_dialled(self, campaign: Campaign, row: CampaignRow, report: TickReport) -> None:
        """The claim was refused because the campaign changed meanwhile (paused, cancelled) or the row's lease
        ran out (it is ``unknown`` then and stays so): give the row back, or cancel it with its campaign."""
        current = await self.ledger.get_campaign(campaign.id)
        if current is not None and current.status in ("cancelled", "declined", "expired", "completed"):
            await self._write(campaign, row, "cancelled", report)
        else:
            await self._write(campaign, row, "queued", report, next_attempt_at=row.next_attempt_at or self.clock())

    async def _write(
        self,
        campaign: Campaign,
        row: CampaignRow,
        state: RowState,
        report: TickReport,
        *,
        call_id: str | None = None,
        next_attempt_at: datetime | None = None,
        last_outcome: str | None = None,
    ) -> bool:
        """Store a row's new state; False when another worker wrote it first (or the ledger refused)."""
        try:
            await self.ledger.record_row_outcome(
                campaign.id,
                row.position,
                state=state,
                call_id=call_id,
                next_attempt_at=next_attempt_at,
                last_outcome=last_outcome,
            )
        except CampaignConflict:
            return False  # another dispatcher recorded it (the same call read twice), or the row moved on
        except VoicingError as exc:
            report.errors += 1
            logger.error("campaign %s row %d: %s not recorded: %s", campaign.id, row.position, state, _masked(str(exc)))
            return False
        return True

    # ----- pause ----------------------------------------------------------------------------------------------
    async def _pause(self, campaign: Campaign, reason: str, report: TickReport) -> None:
        try:
            await self.ledger.set_campaign_status(campaign.id, "paused", reason=reason)
        except CampaignConflict:
            return  # paused, cancelled or completed meanwhile
        report.paused.append(campaign.id)
        logger.warning("campaign %s: paused: %s", campaign.id, _masked(reason))


def _masked(text: str) -> str:
    return " ".join(mask_numbers_in(text).split())


def worker_name() -> str:
    """A worker id unique per process: ``host:pid:random``."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"
