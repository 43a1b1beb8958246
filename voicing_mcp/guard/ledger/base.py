"""What every dial ledger shares: the row, the rules' refusal texts, the interface both backends implement.

Two backends keep the same rules with the same texts: :mod:`voicing_mcp.guard.ledger.sqlite` (one file, one
machine) and :mod:`voicing_mcp.guard.ledger.postgres` (a PostgreSQL database shared by replicas).
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, Protocol

from voicing_mcp.api.models import OutboundCallRequest
from voicing_mcp.errors import GuardRefusal
from voicing_mcp.guard.ledger.campaigns import (
    Campaign,
    CampaignDial,
    CampaignRow,
    CampaignStatus,
    NewCampaign,
    NewCampaignRow,
    RowOutcome,
    RowState,
)
from voicing_mcp.guard.scope import shown_environment
from voicing_mcp.messages import refusal
from voicing_mcp.redact import mask_numbers_in

Status = Literal["pending", "started", "failed", "unknown"]
Confirmation = Literal["elicitation", "page", "token", "allow-list"]
#: how a dial row was confirmed: a single call's confirmation, or ``campaign`` (the campaign's approval)
DialConfirmation = Confirmation | Literal["campaign"]
DUPLICATE_WINDOW = timedelta(minutes=10)
PENDING_STALE = timedelta(minutes=2)
#: spent nonces and page approvals are deleted this long after they expired (a token or a page is refused
#: once expired, before its nonce is looked up; the grace covers clocks of replicas that differ a little)
PRUNE_GRACE = timedelta(minutes=10)
#: a ledger object prunes at most this often (on a nonce's spending or an approval's recording)
PRUNE_EVERY = timedelta(minutes=5)
#: at most this many expired rows per table per prune (a bounded DELETE; the next prune takes the rest)
PRUNE_BATCH = 5000


@dataclass(frozen=True, slots=True)
class DialRow:
    id: int
    created_at: str
    assistant_id: str
    phone_e164: str
    phone_masked: str
    telephony_provider: str
    variable_names: list[str]
    confirmation: str
    environment: str
    status: str
    call_id: str | None
    detail: str | None
    updated_at: str
    resolved_at: str | None
    resolution: str | None

    def public(self) -> dict[str, Any]:
        """The row for a resource or a log: the number masked, also where an API error's text quotes it."""
        data = asdict(self)
        data.pop("phone_e164")
        data["environment"] = shown_environment(self.environment)
        for name in ("detail", "resolution"):
            if data[name] is not None:
                data[name] = mask_numbers_in(str(data[name]))
        return data


def row_from(r: Mapping[str, Any]) -> DialRow:
    """A row as either backend reads it (column name → value)."""
    names = r["variable_names"]
    return DialRow(
        id=int(r["id"]),
        created_at=str(r["created_at"]),
        assistant_id=str(r["assistant_id"]),
        phone_e164=str(r["phone_e164"]),
        phone_masked=str(r["phone_masked"]),
        telephony_provider=str(r["telephony_provider"]),
        variable_names=list(json.loads(names) if isinstance(names, str) else names),
        confirmation=str(r["confirmation"]),
        environment=str(r["environment"]),
        status=str(r["status"]),
        call_id=r["call_id"],
        detail=r["detail"],
        updated_at=str(r["updated_at"]),
        resolved_at=r["resolved_at"],
        resolution=r["resolution"],
    )


def iso(t: datetime) -> str:
    return t.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


class DialLedger(Protocol):
    """The dial ledger the guard, the ``ledger`` command and ``voicing://ledger/recent`` use, whatever its backend.

    Every method fails closed: a ledger that cannot be used raises ``GuardRefusal(rule="ledger")`` whose text
    names the ledger (a file, or a PostgreSQL URL with its password masked) and what to do.
    """

    #: rows of other environments are not counted (rate limit, duplicates, unknown outcomes): None = every row
    environment: str | None

    @property
    def shown(self) -> str:
        """Where the ledger is, for a person: the file, or the URL with its credentials masked."""
        ...

    async def spend_nonce(self, nonce: str, *, expires_at: datetime) -> bool: ...
    async def record_approval(self, digest: str, nonce: str, *, expires_at: datetime) -> None:
        """Store a confirm-page approval of the request with this digest, so any replica can complete the dial."""
        ...

    async def take_approval(self, digest: str) -> str | None:
        """Spend the nonce of an unexpired, unspent approval of this request: its nonce, for one caller only."""
        ...

    async def prune_expired(self) -> int:
        """Delete spent nonces and page approvals that expired more than PRUNE_GRACE ago (at most PRUNE_BATCH of
        each); returns how many rows went. Also run by ``spend_nonce``/``record_approval`` every PRUNE_EVERY."""
        ...

    async def count_since(self, since: datetime, *, at_most: int | None = None) -> int:
        """Dials of this ledger's scope created at or after ``since`` (the hourly rate): one index range, no
        per-row work. ``at_most``: stop counting there (a rule only asks whether its cap is reached, and the
        count then costs at most that many index entries, however many dials the window holds)."""
        ...

    async def count_dials_to(self, phone_e164: str, *, since: datetime, at_most: int | None = None) -> int:
        """Dials to this number in this ledger's scope since ``since``, from campaigns and single calls alike
        (the per-number cap, ``VOICING_MAX_CALLS_PER_NUMBER``). A ``failed`` dial (the API refused it: nobody
        was called) and one a human released with no call_id do not count. One index range; ``at_most`` as in
        :meth:`count_since`."""
        ...

    async def dial_times(self, numbers: Collection[str], *, since: datetime) -> dict[str, list[datetime]]:
        """When each of ``numbers`` was dialled since ``since``: the dials :meth:`count_dials_to` counts (this
        ledger's scope, campaigns and single calls, not ``failed`` nor released without a call_id), oldest first, in
        one query for all the numbers (a campaign's estimate of the per-number cap). Numbers without any are absent."""
        ...

    async def last_dial(self, phone_e164: str, assistant_id: str, *, since: datetime) -> DialRow | None: ...
    async def open_unknown(self, phone_e164: str) -> DialRow | None: ...
    async def in_flight(self, phone_e164: str, assistant_id: str) -> DialRow | None: ...
    async def recent(self, limit: int = 20) -> list[DialRow]: ...
    async def get(self, row_id: int) -> DialRow | None: ...
    async def claim_dial(
        self,
        req: OutboundCallRequest,
        *,
        confirmation: DialConfirmation,
        environment: str,
        max_per_hour: int,
        number_cap: tuple[int, timedelta] | None = None,
        campaign: CampaignDial | None = None,
    ) -> int:
        """Re-check the rules and commit the dial's intent row atomically; returns its id (GuardRefusal if not).

        ``number_cap`` = (max, window): also refuse when :meth:`count_dials_to` over the window reaches max
        (rule ``number-cap``). Each count stops at its cap (the hour's at ``max_per_hour``): a claim costs the
        same however many dials the window holds beyond it; a refusal's text then gives the cap as the count.
        ``campaign``: the dial is that campaign row's attempt: refused (rule ``campaign``) unless the row is
        ``dialling`` and its campaign ``running`` (a pause or cancel takes effect before the next dial); the intent
        row records the campaign and position, and the row's ``attempts`` (+1) and ``dial_id`` change in the same
        transaction.
        """
        ...

    async def record_outcome(
        self, row_id: int, *, status: Status, call_id: str | None = None, detail: str | None = None
    ) -> None:
        """Store a dial's outcome after its POST. A campaign row's dial that ``started`` also moves its row
        (still ``dialling`` with this dial) to ``in_progress`` with the call_id, its lease released, in the same
        transaction: one round trip after the POST, and no moment where the call exists but its row does not
        say so."""
        ...

    async def resolve(self, row_id: int, *, resolution: str, call_id: str | None = None) -> bool: ...
    async def prepare(self) -> None:
        """At server start (in the background): a PostgreSQL ledger connects and creates or migrates its schema,
        logging a warning when it cannot (dials are refused until it can); SQLite does nothing (the file is
        created on the first dial)."""
        ...

    async def aclose(self) -> None: ...

    # ----- campaigns (voicing_mcp.guard.ledger.campaigns) ---------------------------------------
    async def create_campaign(self, campaign: NewCampaign, rows: Sequence[NewCampaignRow]) -> Campaign:
        """Store a campaign (``awaiting_approval``) and all its rows in one transaction; a row with an
        ``exclusion_reason`` is ``excluded``, the others ``queued``. CampaignConflict if the id exists."""
        ...

    async def get_campaign(self, campaign_id: str) -> Campaign | None: ...
    async def list_campaigns(
        self, *, statuses: Collection[CampaignStatus] | None = None, limit: int = 50, offset: int = 0
    ) -> list[Campaign]:
        """Campaigns of this ledger's scope, newest first."""
        ...

    async def approve_campaign(
        self,
        campaign_id: str,
        *,
        manifest_sha256: str,
        ticked_positions: Collection[int],
        expires_at: datetime,
        status: Literal["running", "scheduled"] = "running",
    ) -> Campaign:
        """The human's one decision to start: the campaign must be ``awaiting_approval`` with this manifest hash,
        and every ticked position an accepted row not yet dialled (``queued``, or ``waiting`` when it is asked again
        after a lapsed approval), else CampaignConflict and nothing changes. The unticked ones become ``removed``;
        ``approved_at`` = now, ``approval_expires_at`` = expires_at."""
        ...

    async def set_campaign_status(
        self, campaign_id: str, status: CampaignStatus, *, reason: str | None = None
    ) -> Campaign:
        """Move a campaign along :data:`~voicing_mcp.guard.ledger.campaigns.TRANSITIONS` (CampaignConflict if
        not allowed). ``reason`` is stored as ``pause_reason`` (cleared when it runs again). Cancelled, declined
        and expired campaigns' ``queued``/``waiting`` rows become ``cancelled`` in the same transaction. Leaving
        ``paused`` or ending drops the campaign's outcome log (the auto-pause rules count afresh)."""
        ...

    async def claim_next_rows(
        self, *, worker_id: str, lease: timedelta, limit: int, campaign_id: str | None = None
    ) -> list[CampaignRow]:
        """Atomically claim up to ``limit`` due rows (``queued``/``waiting``, ``next_attempt_at`` <= now) of
        running campaigns of this scope (or of ``campaign_id`` only, if running), earliest due first, at most
        ``max_concurrent`` minus the campaign's ``dialling``/``in_progress`` rows per campaign: they become
        ``dialling`` with ``worker_id`` and ``lease_until`` = now + lease. Each row goes to one claimer only,
        across threads, processes and replicas."""
        ...

    async def renew_leases(self, worker_id: str, *, lease: timedelta) -> int:
        """Extend the lease of every ``dialling`` row of this worker to now + lease (a live dispatcher's
        heartbeat); returns how many."""
        ...

    async def record_row_outcome(
        self,
        campaign_id: str,
        position: int,
        *,
        state: RowState,
        call_id: str | None = None,
        next_attempt_at: datetime | None = None,
        last_outcome: str | None = None,
    ) -> CampaignRow:
        """Store a row's new state (see ROW_UPDATES: from ``dialling``/``in_progress``, or a final outcome over
        ``unknown``). The lease is released; ``call_id`` and ``last_outcome`` are kept when None is given. A
        retry is ``queued``/``waiting`` with ``next_attempt_at``. CampaignConflict if not allowed. A dial's outcome
        is appended to the campaign's outcome log in the same transaction (``campaign_recent_outcomes``)."""
        ...

    async def record_row_outcomes(self, campaign_id: str, outcomes: Sequence[RowOutcome]) -> list[int]:
        """:meth:`record_row_outcome` for many rows of one campaign in one transaction (the outcomes a tick read):
        a row whose change is not allowed (another worker wrote it first) is skipped, not refused. Returns the
        positions written."""
        ...

    async def campaign_recent_outcomes(self, campaign_id: str, *, limit: int) -> list[str]:
        """The campaign's latest ``limit`` dial outcomes, newest first, from its outcome log (every dispatcher's,
        one indexed range; see :func:`~voicing_mcp.guard.ledger.campaigns.logged_outcome`): since it last left
        ``paused``. The auto-pause rules read them."""
        ...

    async def mark_interrupted(self) -> list[CampaignRow]:
        """Rows of this scope left ``dialling`` past their lease (the claimer died or hung): ``unknown`` with
        ``last_outcome="interrupted"``, never claimed again. Returns them (their campaigns may need to pause)."""
        ...

    async def campaign_row_counts(self, campaign_id: str) -> dict[RowState, int]:
        """The number of rows in each state (states with no row are absent)."""
        ...

    async def campaign_rows(
        self, campaign_id: str, *, offset: int = 0, limit: int = 100, states: Collection[RowState] | None = None
    ) -> list[CampaignRow]:
        """Rows by position, paged."""
        ...

    async def campaign_next_due(self, campaign_id: str) -> datetime | None:
        """The earliest ``next_attempt_at`` of its ``queued``/``waiting`` rows (None: none left)."""
        ...

    async def finish_campaign_if_done(self, campaign_id: str) -> Campaign | None:
        """``completed`` if it is running/scheduled and no row is queued, waiting, dialling or in progress
        (atomically: a row claimed meanwhile keeps it running); the campaign if it changed, else None."""
        ...


def first_refusal(
    unknown: DialRow | None, count: int, max_per_hour: int, duplicate: DialRow | None, in_flight: DialRow | None
) -> GuardRefusal | None:
    """The refusal of a claim, in the order both backends check the rules (unknown, rate, duplicate, in flight)."""
    return (
        unknown_refusal(unknown)
        or rate_refusal(count, max_per_hour)
        or duplicate_refusal(duplicate)
        or in_flight_refusal(in_flight)
    )


# ----- refusals (used by claim_dial and by policy; their words are in voicing_mcp.messages) ------------


def campaign_refusal(campaign: CampaignDial, state: str | None, status: str | None) -> GuardRefusal | None:
    """A campaign row is dialled only while it is claimed (``dialling``) and its campaign ``running``: a row
    marked unknown after its lease ran out, a removed or cancelled row, a paused campaign are not."""
    if state == "dialling" and status == "running":
        return None
    return refusal(
        "campaign-row-not-dialling",
        position=campaign.position,
        campaign_id=campaign.campaign_id,
        state=state,
        status=status,
    )


def number_cap_refusal(masked: str, count: int, cap: tuple[int, timedelta] | None) -> GuardRefusal | None:
    if cap is None or count < cap[0]:
        return None
    return refusal("number-cap", masked=masked, count=count, calls=cap[0], window=cap[1])


def in_flight_refusal(row: DialRow | None) -> GuardRefusal | None:
    if row is None:
        return None
    return refusal(
        "dial-in-progress",
        phone_masked=row.phone_masked,
        ledger_id=row.id,
        created_at=row.created_at,
        assistant_id=row.assistant_id,
        stale_after=PENDING_STALE,
    )


def unknown_refusal(row: DialRow | None) -> GuardRefusal | None:
    if row is None:
        return None
    return refusal(
        "outcome-unknown",
        phone_masked=row.phone_masked,
        ledger_id=row.id,
        created_at=row.created_at,
        assistant_id=row.assistant_id,
        status=row.status,
    )


def rate_refusal(count: int, max_per_hour: int) -> GuardRefusal | None:
    if count < max_per_hour:
        return None
    return refusal("rate-limit", count=count, max_per_hour=max_per_hour)


def duplicate_refusal(row: DialRow | None, current_status: str | None = None) -> GuardRefusal | None:
    if row is None:
        return None
    return refusal(
        "duplicate",
        phone_masked=row.phone_masked,
        assistant_id=row.assistant_id,
        created_at=row.created_at,
        ledger_id=row.id,
        call_id=row.call_id,
        status=current_status or row.status,
        window=DUPLICATE_WINDOW,
    )
