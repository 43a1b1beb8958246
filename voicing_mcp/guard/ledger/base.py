"""What every dial ledger shares: the row, the rules' refusal texts, the interface both backends implement.

Two backends keep the same rules with the same texts: :mod:`voicing_mcp.guard.ledger.sqlite` (one file, one
machine) and :mod:`voicing_mcp.guard.ledger.postgres` (a PostgreSQL database shared by replicas).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, Protocol

from voicing_mcp.api.models import OutboundCallRequest
from voicing_mcp.errors import GuardRefusal
from voicing_mcp.guard.scope import shown_environment
from voicing_mcp.redact import mask_numbers_in

Status = Literal["pending", "started", "failed", "unknown"]
Confirmation = Literal["elicitation", "page", "token", "allow-list"]
DUPLICATE_WINDOW = timedelta(minutes=10)
PENDING_STALE = timedelta(minutes=2)


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

    async def count_since(self, since: datetime) -> int: ...
    async def last_dial(self, phone_e164: str, assistant_id: str, *, since: datetime) -> DialRow | None: ...
    async def open_unknown(self, phone_e164: str) -> DialRow | None: ...
    async def in_flight(self, phone_e164: str, assistant_id: str) -> DialRow | None: ...
    async def recent(self, limit: int = 20) -> list[DialRow]: ...
    async def get(self, row_id: int) -> DialRow | None: ...
    async def claim_dial(
        self, req: OutboundCallRequest, *, confirmation: Confirmation, environment: str, max_per_hour: int
    ) -> int: ...
    async def record_outcome(
        self, row_id: int, *, status: Status, call_id: str | None = None, detail: str | None = None
    ) -> None: ...
    async def resolve(self, row_id: int, *, resolution: str, call_id: str | None = None) -> bool: ...
    async def prepare(self) -> None:
        """At server start (in the background): a PostgreSQL ledger connects and creates or migrates its schema,
        logging a warning when it cannot (dials are refused until it can); SQLite does nothing (the file is
        created on the first dial)."""
        ...

    async def aclose(self) -> None: ...


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


# ----- refusal texts (used by claim_dial and by policy) -----------------------------------------


def in_flight_refusal(row: DialRow | None) -> GuardRefusal | None:
    if row is None:
        return None
    return GuardRefusal(
        f"dial in progress: an earlier dial to {row.phone_masked} (ledger #{row.id}, {row.created_at}, assistant "
        f"{row.assistant_id}) has no outcome yet — it is in flight, or its server stopped mid-dial, so that call "
        "may be ringing now and no assistant dials this number meanwhile. Check with list_calls for a call to this "
        f"number after {row.created_at}; once that dial records an outcome the number is free again. If its server "
        f"died, the row counts as an unknown outcome after {int(PENDING_STALE.total_seconds() // 60)} minutes: a "
        f"human releases it with `voicing-mcp ledger resolve {row.id}` after making sure nobody "
        "was called",
        rule="dial-in-progress",
    )


def unknown_refusal(row: DialRow | None) -> GuardRefusal | None:
    if row is None:
        return None
    what = "got no answer from the API" if row.status == "unknown" else "never recorded an outcome"
    return GuardRefusal(
        f"outcome unknown: an earlier dial to {row.phone_masked} (ledger #{row.id}, {row.created_at}, assistant "
        f"{row.assistant_id}) {what} — that call may have been placed, so this number is blocked. Check first: "
        f"call list_calls and look for a call to this number after {row.created_at} (or ask the person). Calling "
        "initiate_outbound_call again re-checks the API and lifts the block if the call is found there; if it is "
        f"not, a human releases it with `voicing-mcp ledger resolve {row.id}`",
        rule="outcome-unknown",
    )


def rate_refusal(count: int, max_per_hour: int) -> GuardRefusal | None:
    if count < max_per_hour:
        return None
    return GuardRefusal(
        f"rate limit: {count} dials in the last hour, VOICING_MAX_CALLS_PER_HOUR is {max_per_hour}; wait until the "
        "oldest of them is an hour old, or raise the setting",
        rule="rate-limit",
    )


def duplicate_refusal(row: DialRow | None, current_status: str | None = None) -> GuardRefusal | None:
    if row is None:
        return None
    call = f"call_id {row.call_id}" if row.call_id else f"ledger #{row.id} (no call_id yet)"
    status = current_status or row.status
    if row.call_id:
        advice = (
            "check that call with get_call_details, and try again after the window if a second call is really wanted"
        )
    else:  # pending or unknown: the block does not lift with the window, only when the call is found or released
        advice = (
            "its outcome is not known, so the block stays after the window: a human checks the Voicing dashboard "
            f"and, if no call was placed, releases it with `voicing-mcp ledger resolve {row.id}`"
        )
    return GuardRefusal(
        f"duplicate: {row.phone_masked} was dialled with assistant {row.assistant_id} at {row.created_at} ({call}, "
        f"status {status}); the same number and assistant are not dialled twice within "
        f"{int(DUPLICATE_WINDOW.total_seconds() // 60)} minutes — {advice}",
        rule="duplicate",
    )
