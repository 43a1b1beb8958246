"""The dial ledger: every dial's intent committed before the POST, its outcome after, and the spent nonces.

``VOICING_LEDGER`` chooses the backend (:func:`open_ledger`): a path is an SQLite file (:class:`Ledger`, one
machine); a ``postgresql://`` URL is a PostgreSQL database that several replicas share
(:class:`~voicing_mcp.guard.ledger.postgres.PostgresLedger`, psycopg imported only then). Both implement
:class:`DialLedger` with the same rules and texts (:mod:`voicing_mcp.guard.ledger.base`), and the same campaign
storage (:mod:`voicing_mcp.guard.ledger.campaigns`: a campaign, its rows, approvals bound to a manifest, rows
claimed once across processes and replicas, interrupted rows made ``unknown``).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from pydantic import SecretStr

from voicing_mcp.guard.ledger.base import (
    DUPLICATE_WINDOW,
    PENDING_STALE,
    Confirmation,
    DialConfirmation,
    DialLedger,
    DialRow,
    Status,
    duplicate_refusal,
    in_flight_refusal,
    number_cap_refusal,
    rate_refusal,
    unknown_refusal,
)
from voicing_mcp.guard.ledger.campaigns import (
    Campaign,
    CampaignConflict,
    CampaignDial,
    CampaignRow,
    CampaignStatus,
    NewCampaign,
    NewCampaignRow,
    RowState,
)
from voicing_mcp.guard.ledger.sqlite import Ledger

SQLiteLedger = Ledger

__all__ = [
    "DUPLICATE_WINDOW",
    "PENDING_STALE",
    "Campaign",
    "CampaignConflict",
    "CampaignDial",
    "CampaignRow",
    "CampaignStatus",
    "Confirmation",
    "DialConfirmation",
    "DialLedger",
    "DialRow",
    "Ledger",
    "NewCampaign",
    "NewCampaignRow",
    "RowState",
    "SQLiteLedger",
    "Status",
    "duplicate_refusal",
    "in_flight_refusal",
    "number_cap_refusal",
    "open_ledger",
    "rate_refusal",
    "unknown_refusal",
]


def open_ledger(
    target: Path | SecretStr, *, clock: Callable[[], datetime] | None = None, environment: str | None = None
) -> DialLedger:
    """The ledger ``VOICING_LEDGER`` names (``Settings.resolved_ledger``): nothing is opened or created yet.

    A path: the SQLite file. A secret URL (``postgresql://…``): the PostgreSQL database; psycopg is imported on
    its first use, so a server on SQLite never loads it.
    """
    if isinstance(target, Path):
        return Ledger(target, clock=clock, environment=environment)
    from voicing_mcp.guard.ledger.postgres import PostgresLedger  # noqa: PLC0415 (only for a postgresql:// URL)

    return PostgresLedger(target.get_secret_value(), clock=clock, environment=environment)
