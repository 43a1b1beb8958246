"""What both ledger backends store for a campaign: its record, its rows, the allowed status changes.

A campaign is one human approval of an exact list of numbers (issue 16). The ledger keeps its state so any
process (another replica, a restarted server, a second server on the same SQLite file) can carry on:

- :class:`NewCampaign` + :class:`NewCampaignRow` go in with ``create_campaign`` (one transaction), status
  ``awaiting_approval``; every row is ``queued`` or ``excluded`` (with its reason).
- ``approve_campaign`` binds the human's decision to the manifest's hash and the ticked positions: the unticked
  ``queued`` rows become ``removed``, the campaign ``running`` (or ``scheduled``). Once: a second decision, a
  changed manifest or a position that is not an accepted row is refused (:class:`CampaignConflict`).
- ``claim_campaign_rows`` hands due rows (``queued``/``waiting`` with ``next_attempt_at <= now``) of running
  campaigns to one worker, each row to one worker only, and marks them ``dialling`` with a lease
  (``worker_id``, ``lease_until``); at most ``max_concurrent`` rows of a campaign are ``dialling`` or
  ``in_progress`` at once, across every worker.
- A dial of a row goes through ``claim_dial(..., campaign=CampaignDial(id, position))``: the dial's intent row
  records the campaign (``confirmation="campaign"``, ``campaign_id``, ``campaign_position``) and the row's
  ``attempts`` and ``dial_id`` are updated in the same transaction.
- ``record_row_outcome`` stores what happened (``in_progress`` + call_id after the POST, then the final state;
  a retry is ``queued``/``waiting`` with a later ``next_attempt_at`` and ``last_outcome`` ``busy``/``no_answer``).
- ``mark_interrupted`` turns rows left ``dialling`` past their lease (their process died) into ``unknown``:
  never claimed again (an ``unknown`` row never goes back to ``queued``/``waiting``).
- Every dial's outcome (a row moving from ``dialling``/``in_progress`` to an outcome, or back to ``queued`` for a
  retry) is appended to the campaign's outcome log in the same transaction; ``campaign_recent_outcomes`` reads its
  newest entries (one indexed range), so the auto-pause rules hold across dispatchers, processes and replicas.
  The log starts afresh when a paused campaign runs again (and is dropped when the campaign ends); a row made
  ``unknown`` as :data:`INTERRUPTED` (our own process stopped mid-dial) is not a dial's outcome and is not logged.

Times are aware UTC datetimes in the API, stored as epoch seconds.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, get_args

CampaignStatus = Literal[
    "awaiting_approval", "scheduled", "running", "paused", "completed", "cancelled", "declined", "expired"
]
RowState = Literal[
    "queued",
    "waiting",
    "dialling",
    "in_progress",
    "completed",
    "busy",
    "no_answer",
    "voicemail",
    "failed",
    "unknown",
    "excluded",
    "removed",
    "cancelled",
]
CAMPAIGN_STATUSES: tuple[CampaignStatus, ...] = get_args(CampaignStatus)
ROW_STATES: tuple[RowState, ...] = get_args(RowState)

#: rows a worker may claim (when due)
DUE_STATES: tuple[RowState, ...] = ("queued", "waiting")
#: rows that count against ``max_concurrent``
ACTIVE_STATES: tuple[RowState, ...] = ("dialling", "in_progress")
#: a campaign in one of these never changes again
FINAL_STATUSES: frozenset[CampaignStatus] = frozenset({"completed", "cancelled", "declined", "expired"})

#: status → the statuses ``set_campaign_status`` may move it to (approval is ``approve_campaign``'s alone)
TRANSITIONS: dict[CampaignStatus, frozenset[CampaignStatus]] = {
    "awaiting_approval": frozenset({"declined", "expired", "cancelled"}),
    "scheduled": frozenset({"running", "paused", "cancelled", "completed"}),
    "running": frozenset({"scheduled", "paused", "cancelled", "completed"}),
    # resume (running/scheduled) while the approval is valid, else ask again (awaiting_approval) or let it expire
    "paused": frozenset({"running", "scheduled", "cancelled", "awaiting_approval", "expired"}),
    "completed": frozenset(),
    "cancelled": frozenset(),
    "declined": frozenset(),
    "expired": frozenset(),
}
#: row states that may be written by ``record_row_outcome``, by the row's current state. An ``unknown`` row is
#: never made due again (it may have been dialled): only a final outcome found later may replace it. A
#: ``dialling`` row whose campaign was cancelled before its dial was claimed becomes ``cancelled``.
_OUTCOMES: frozenset[RowState] = frozenset({"completed", "busy", "no_answer", "voicemail", "failed", "unknown"})
ROW_UPDATES: dict[RowState, frozenset[RowState]] = {
    "dialling": frozenset({"queued", "waiting", "in_progress", "excluded", "cancelled", *_OUTCOMES}),
    "in_progress": frozenset({"queued", "waiting", *_OUTCOMES}),
    "unknown": _OUTCOMES,
}
#: ``last_outcome`` of a row made ``unknown`` because the process dialling it stopped (its lease ran out, or it was
#: shut down mid-POST): not an outcome of the API's, so not in the campaign's outcome log (the auto-pause rules)
INTERRUPTED = "interrupted"


class CampaignConflict(Exception):
    """A campaign operation refused by the campaign's state: unknown id, a second decision, a changed manifest,
    a transition that is not allowed. ``reason`` is a short machine-readable word, the message says it for a
    person (no phone number in it)."""

    def __init__(self, message: str, *, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class CampaignDial:
    """The campaign row a dial belongs to (``claim_dial(..., campaign=...)``)."""

    campaign_id: str
    position: int


@dataclass(frozen=True, slots=True)
class NewCampaign:
    """A campaign as ``prepare_campaign`` submits it. ``id`` is chosen by the caller (unique, e.g. ``cmp_…``);
    ``environment`` is where its dials go (``ledger_environment``): the campaign counts in its scope."""

    id: str
    environment: str
    assistant_id: str
    telephony_provider: str
    manifest_sha256: str
    name: str | None = None
    max_attempts: int = 1
    retry_after_minutes: int = 120
    max_concurrent: int = 2
    #: the settings in force when it was prepared (quiet hours, caps…), as JSON-able values
    settings: Mapping[str, Any] = field(default_factory=dict[str, Any])


@dataclass(frozen=True, slots=True)
class NewCampaignRow:
    """One submitted recipient: ``position`` is 1-based in the submitted list. An excluded row carries its
    reason and is never dialled; an accepted one is ``queued`` and due at ``next_attempt_at`` (None: now)."""

    position: int
    phone_e164: str
    input_variables: Mapping[str, str] = field(default_factory=dict[str, str])
    exclusion_reason: str | None = None
    next_attempt_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Campaign:
    id: str
    scope: str
    environment: str
    name: str | None
    assistant_id: str
    telephony_provider: str
    status: CampaignStatus
    manifest_sha256: str
    max_attempts: int
    retry_after_minutes: int
    max_concurrent: int
    created_at: datetime
    updated_at: datetime
    approved_at: datetime | None
    approval_expires_at: datetime | None
    pause_reason: str | None
    settings: dict[str, Any]


@dataclass(frozen=True, slots=True)
class CampaignRow:
    campaign_id: str
    position: int
    phone_e164: str
    phone_masked: str
    input_variables: dict[str, str]
    state: RowState
    exclusion_reason: str | None
    attempts: int
    next_attempt_at: datetime | None
    call_id: str | None
    #: the ledger's dial row of the latest attempt (``dials.id``)
    dial_id: int | None
    last_outcome: str | None
    worker_id: str | None
    lease_until: datetime | None
    updated_at: datetime


def when(ts: float | None) -> datetime | None:
    return datetime.fromtimestamp(float(ts), UTC) if ts is not None else None


def ts(t: datetime | None) -> float | None:
    return t.timestamp() if t is not None else None


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


def campaign_from(r: Mapping[str, Any]) -> Campaign:
    """A campaign as either backend reads it (column name → value)."""
    created = when(r["created_ts"])
    updated = when(r["updated_ts"])
    assert created is not None and updated is not None
    return Campaign(
        id=str(r["id"]),
        scope=str(r["scope"]),
        environment=str(r["environment"]),
        name=r["name"],
        assistant_id=str(r["assistant_id"]),
        telephony_provider=str(r["telephony_provider"]),
        status=r["status"],
        manifest_sha256=str(r["manifest_sha256"]),
        max_attempts=int(r["max_attempts"]),
        retry_after_minutes=int(r["retry_after_minutes"]),
        max_concurrent=int(r["max_concurrent"]),
        created_at=created,
        updated_at=updated,
        approved_at=when(r["approved_ts"]),
        approval_expires_at=when(r["approval_expires_ts"]),
        pause_reason=r["pause_reason"],
        settings=dict(_json(r["settings"])),
    )


def campaign_row_from(r: Mapping[str, Any]) -> CampaignRow:
    updated = when(r["updated_ts"])
    assert updated is not None
    return CampaignRow(
        campaign_id=str(r["campaign_id"]),
        position=int(r["position"]),
        phone_e164=str(r["phone_e164"]),
        phone_masked=str(r["phone_masked"]),
        input_variables=dict(_json(r["input_variables"])),
        state=r["state"],
        exclusion_reason=r["exclusion_reason"],
        attempts=int(r["attempts"]),
        next_attempt_at=when(r["next_attempt_ts"]),
        call_id=r["call_id"],
        dial_id=int(r["dial_id"]) if r["dial_id"] is not None else None,
        last_outcome=r["last_outcome"],
        worker_id=r["worker_id"],
        lease_until=when(r["lease_ts"]),
        updated_at=updated,
    )


def check_transition(campaign: Campaign, status: CampaignStatus) -> None:
    """Raise CampaignConflict unless ``set_campaign_status`` may move ``campaign`` to ``status``."""
    if status not in TRANSITIONS[campaign.status]:
        raise CampaignConflict(
            f"campaign {campaign.id} is {campaign.status}: it cannot become {status}", reason="transition"
        )


def check_approval(campaign: Campaign | None, campaign_id: str, manifest_sha256: str) -> Campaign:
    """The campaign an approval decides, or CampaignConflict (unknown, already decided, another manifest)."""
    if campaign is None:
        raise CampaignConflict(f"no campaign {campaign_id} in this ledger", reason="unknown")
    if campaign.status != "awaiting_approval":
        raise CampaignConflict(
            f"campaign {campaign.id} is {campaign.status}: it was decided already (one decision)", reason="decided"
        )
    if manifest_sha256 != campaign.manifest_sha256:
        raise CampaignConflict(
            f"campaign {campaign.id}: the approved list is not the prepared one (manifest hash differs); a changed "
            "list is a new campaign",
            reason="manifest",
        )
    return campaign


def missing(campaign_id: str) -> CampaignConflict:
    return CampaignConflict(f"no campaign {campaign_id} in this ledger", reason="unknown")


def missing_row(campaign_id: str, position: int) -> CampaignConflict:
    return CampaignConflict(f"campaign {campaign_id} has no row {position}", reason="unknown")


def check_row_update(campaign_id: str, position: int, current: str, state: RowState) -> None:
    """Raise CampaignConflict unless ``record_row_outcome`` may move a row from ``current`` to ``state``."""
    if not row_update_allowed(current, state):
        raise CampaignConflict(
            f"campaign {campaign_id} row {position} is {current}: it cannot become {state}", reason="transition"
        )


def logged_outcome(current: str, state: RowState, last_outcome: str | None) -> str | None:
    """The campaign outcome log's entry for a row moving from ``current`` to ``state`` (None: no entry): a dial's
    outcome (``completed``, ``busy``, ``no_answer``, ``voicemail``, ``failed``, ``unknown``) from ``dialling`` or
    ``in_progress``, or a retry (``in_progress`` back to ``queued``/``waiting``: its ``last_outcome``, e.g.
    ``busy``). A row not dialled after all (``dialling`` back to due, ``excluded``, ``cancelled``), a final outcome
    found later over ``unknown`` and an :data:`INTERRUPTED` row are not logged."""
    if current not in ACTIVE_STATES:
        return None
    if state in _OUTCOMES:
        return None if state == "unknown" and last_outcome == INTERRUPTED else state
    if current == "in_progress" and state in DUE_STATES:
        return last_outcome or "retry"
    return None


def drops_outcome_log(current: CampaignStatus, status: CampaignStatus) -> bool:
    """A campaign's outcome log is dropped when it leaves ``paused`` (resumed, or asked again: the auto-pause rules
    count afresh) and when it ends."""
    return current == "paused" or status in FINAL_STATUSES


def row_update_allowed(current: str, state: RowState) -> bool:
    return state in ROW_UPDATES.get(current, frozenset[RowState]())  # type: ignore[call-overload]


@dataclass(frozen=True, slots=True)
class RowOutcome:
    """One row's new state for ``record_row_outcomes`` (the arguments of ``record_row_outcome``)."""

    position: int
    state: RowState
    call_id: str | None = None
    next_attempt_at: datetime | None = None
    last_outcome: str | None = None


def due_ts(state: RowState, next_attempt_at: datetime | None, now: float) -> float | None:
    """The stored ``next_attempt_ts`` of a row written in ``state``: set (default now) only while it is due."""
    if state not in DUE_STATES:
        return None
    return next_attempt_at.timestamp() if next_attempt_at is not None else now


def row_write_params(campaign_id: str, o: RowOutcome, now: float) -> tuple[object, ...]:
    """The parameters of both backends' row update (``UPDATE campaign_rows SET state, call_id, next_attempt_ts,
    last_outcome, exclusion_reason (when excluded), … WHERE campaign_id AND position``), in its placeholders'
    order: the state, the call id, when it is due, the outcome, the state and outcome again for the exclusion
    reason, the time, the row's campaign and position."""
    due = due_ts(o.state, o.next_attempt_at, now)
    return (o.state, o.call_id, due, o.last_outcome, o.state, o.last_outcome, now, campaign_id, o.position)
