"""The SQLite dial ledger (a path in ``VOICING_LEDGER``): a WAL audit of every dial, and the spent token nonces.

Over 450 lines on purpose, for now: every SQL statement of this backend (dials, approvals, nonces and the campaign
rows' claims) sits in one file so a reader compares it line by line with the PostgreSQL backend; the campaign
statements are the part to move out into a module of their own next.

- The file is created on first use (``VOICING_LEDGER``, default in the user's state folder).
- A dial's *intent* row is committed before the POST; its *outcome* (``started`` + call_id,
  ``failed`` + the API's error, or ``unknown``) after.
- ``claim_dial`` re-checks the rate limit, the duplicate guard and unresolved unknown outcomes
  and inserts the intent in one ``BEGIN IMMEDIATE`` transaction, so two concurrent requests
  (in this process or another one using the same file) cannot both dial.
- Spending a nonce is one ``INSERT`` on a primary key: exactly one spender wins.
- Stored: number (E.164 and masked), assistant, provider, the *names* of the input variables
  (not their values), how the call was confirmed, outcome. Never the API key.

One connection per ledger object, guarded by a lock; the async methods run the (short) blocking
work in a worker thread with ``anyio.to_thread``.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Callable, Collection, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal, TypeVar

import anyio.to_thread

from voicing_mcp.api.models import OutboundCallRequest
from voicing_mcp.guard.ledger.base import (
    DUPLICATE_WINDOW,
    PENDING_STALE,
    PRUNE_BATCH,
    PRUNE_EVERY,
    PRUNE_GRACE,
    DialConfirmation,
    DialRow,
    Status,
    campaign_refusal,
    first_refusal,
    iso,
    number_cap_refusal,
    row_from,
)
from voicing_mcp.guard.ledger.campaigns import (
    Campaign,
    CampaignConflict,
    CampaignDial,
    CampaignRow,
    CampaignStatus,
    NewCampaign,
    NewCampaignRow,
    RowOutcome,
    RowState,
    campaign_from,
    campaign_row_from,
    check_approval,
    check_row_update,
    check_transition,
    drops_outcome_log,
    logged_outcome,
    missing,
    missing_row,
    row_update_allowed,
    row_write_params,
    ts,
    when,
)
from voicing_mcp.guard.scope import scope_key
from voicing_mcp.messages import refusal
from voicing_mcp.redact import mask_number

T = TypeVar("T")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS dials (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    created_at TEXT NOT NULL,
    created_ts REAL NOT NULL,
    assistant_id TEXT NOT NULL,
    phone_e164 TEXT NOT NULL,
    phone_masked TEXT NOT NULL,
    telephony_provider TEXT NOT NULL,
    variable_names TEXT NOT NULL,
    confirmation TEXT NOT NULL,
    environment TEXT NOT NULL,
    status TEXT NOT NULL,
    call_id TEXT,
    detail TEXT,
    updated_at TEXT NOT NULL,
    resolved_at TEXT,
    resolution TEXT,
    scope TEXT,
    campaign_id TEXT,
    campaign_position INTEGER
);
CREATE INDEX IF NOT EXISTS dials_by_number ON dials (phone_e164, created_ts);
CREATE INDEX IF NOT EXISTS dials_by_time ON dials (created_ts);
CREATE TABLE IF NOT EXISTS nonces (
    nonce TEXT PRIMARY KEY,
    spent_ts REAL NOT NULL,
    expires_ts REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS nonces_by_expiry ON nonces (expires_ts);
CREATE TABLE IF NOT EXISTS approvals (
    nonce TEXT PRIMARY KEY,
    digest TEXT NOT NULL,
    expires_ts REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS approvals_by_digest ON approvals (digest);
CREATE INDEX IF NOT EXISTS approvals_by_expiry ON approvals (expires_ts);
CREATE TABLE IF NOT EXISTS campaigns (
    id TEXT PRIMARY KEY,
    scope TEXT NOT NULL,
    environment TEXT NOT NULL,
    name TEXT,
    assistant_id TEXT NOT NULL,
    telephony_provider TEXT NOT NULL,
    status TEXT NOT NULL,
    manifest_sha256 TEXT NOT NULL,
    max_attempts INTEGER NOT NULL,
    retry_after_minutes INTEGER NOT NULL,
    max_concurrent INTEGER NOT NULL,
    created_ts REAL NOT NULL,
    updated_ts REAL NOT NULL,
    approved_ts REAL,
    approval_expires_ts REAL,
    pause_reason TEXT,
    settings TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS campaigns_by_scope ON campaigns (scope, status, created_ts);
CREATE TABLE IF NOT EXISTS campaign_rows (
    campaign_id TEXT NOT NULL REFERENCES campaigns (id),
    position INTEGER NOT NULL,
    phone_e164 TEXT NOT NULL,
    phone_masked TEXT NOT NULL,
    input_variables TEXT NOT NULL,
    state TEXT NOT NULL,
    exclusion_reason TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_ts REAL,
    call_id TEXT,
    dial_id INTEGER,
    last_outcome TEXT,
    worker_id TEXT,
    lease_ts REAL,
    updated_ts REAL NOT NULL,
    PRIMARY KEY (campaign_id, position)
);
CREATE INDEX IF NOT EXISTS campaign_rows_by_state ON campaign_rows (campaign_id, state);
CREATE INDEX IF NOT EXISTS campaign_rows_due ON campaign_rows (campaign_id, next_attempt_ts)
    WHERE state IN ('queued', 'waiting');
CREATE INDEX IF NOT EXISTS campaign_rows_leased ON campaign_rows (lease_ts) WHERE state = 'dialling';
CREATE TABLE IF NOT EXISTS campaign_outcomes (
    seq INTEGER PRIMARY KEY,
    campaign_id TEXT NOT NULL,
    position INTEGER NOT NULL,
    outcome TEXT NOT NULL,
    ts REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS campaign_outcomes_recent ON campaign_outcomes (campaign_id, seq);
"""
#: after the migration (the scope column exists): the indexes the scoped counts use, and one of the rows an older
#: voicing-mcp inserts into this file with no scope (Claude Desktop and Claude Code may share it with different
#: versions): ``claim_dial`` fills their scope first, at the cost of finding none
_SCOPE_INDEXES = """
CREATE INDEX IF NOT EXISTS dials_by_scope_time ON dials (scope, created_ts);
CREATE INDEX IF NOT EXISTS dials_by_scope_number ON dials (scope, phone_e164, created_ts);
CREATE INDEX IF NOT EXISTS dials_without_scope ON dials (id) WHERE scope IS NULL;
"""


def _migrate(conn: sqlite3.Connection) -> None:
    """A ledger written before the scope column: add it (and the campaign link) and backfill the scope from the
    stored environment once, in one BEGIN IMMEDIATE (another process migrating at once waits, then finds it)."""
    if "scope" in {r[1] for r in conn.execute("PRAGMA table_info(dials)")}:
        return
    conn.execute("BEGIN IMMEDIATE")
    try:
        if "scope" not in {r[1] for r in conn.execute("PRAGMA table_info(dials)")}:
            conn.execute("ALTER TABLE dials ADD COLUMN scope TEXT")
            conn.execute("ALTER TABLE dials ADD COLUMN campaign_id TEXT")
            conn.execute("ALTER TABLE dials ADD COLUMN campaign_position INTEGER")
            conn.execute("UPDATE dials SET scope = voicing_scope(environment)")
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


class Ledger:
    """One SQLite ledger file. Safe to share between tasks and threads of one process."""

    def __init__(
        self, path: Path, *, clock: Callable[[], datetime] | None = None, environment: str | None = None
    ) -> None:
        self.path = path
        #: rows of other environments are not counted (rate limit, duplicates, unknown outcomes): dials
        #: rehearsed against the local emulator never block or use up real ones. None = every row counts.
        self.environment = environment
        self._clock = clock or (lambda: datetime.now(UTC))
        self._conn: sqlite3.Connection | None = None
        self._lock = threading.Lock()
        #: when this object last pruned expired nonces and approvals (None: not yet)
        self._pruned_at: datetime | None = None

    @property
    def shown(self) -> str:
        return str(self.path)

    @property
    def _scope(self) -> str | None:
        """:func:`scope_key` of this ledger's environment: the rows it counts."""
        return scope_key(self.environment) if self.environment is not None else None

    # ----- connection ------------------------------------------------------------------------
    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None, timeout=10.0)
            try:
                conn.row_factory = sqlite3.Row
                conn.create_function("voicing_scope", 1, scope_key, deterministic=True)
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("PRAGMA synchronous=FULL")
                conn.executescript(_SCHEMA)
                _migrate(conn)
                conn.executescript(_SCOPE_INDEXES)
            except BaseException:
                conn.close()
                raise
            self._conn = conn
        return self._conn

    def _run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``fn`` on the connection. A ledger that cannot be used fails closed: GuardRefusal(rule="ledger")."""
        with self._lock:
            try:
                return fn(self._connection())
            except (sqlite3.Error, OSError) as exc:
                locked = isinstance(exc, sqlite3.OperationalError) and "locked" in str(exc)
                # a locked file is busy, not broken: its advice is to wait, not to move it aside
                raise refusal(
                    "ledger-unusable",
                    ledger=str(self.path),
                    error=f"{type(exc).__name__}: {exc}",
                    cause="file-locked" if locked else "file",
                ) from None

    async def _arun(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        return await anyio.to_thread.run_sync(self._run, fn)

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    async def prepare(self) -> None:
        """Nothing: the file is created on the first dial."""

    async def aclose(self) -> None:
        self.close()

    # ----- nonces ----------------------------------------------------------------------------
    async def spend_nonce(self, nonce: str, *, expires_at: datetime) -> bool:
        """Mark a token nonce as used. True for exactly one caller per nonce, ever."""
        now = self._clock()

        def spend(conn: sqlite3.Connection) -> bool:
            cur = conn.execute(
                "INSERT OR IGNORE INTO nonces (nonce, spent_ts, expires_ts) VALUES (?, ?, ?)",
                (nonce, now.timestamp(), expires_at.timestamp()),
            )
            self._prune_if_due(conn, now)
            return cur.rowcount == 1

        return await self._arun(spend)

    async def prune_expired(self) -> int:
        now = self._clock()
        return await self._arun(lambda conn: self._prune(conn, now))

    def _prune_if_due(self, conn: sqlite3.Connection, now: datetime) -> None:
        if self._pruned_at is None or now - self._pruned_at >= PRUNE_EVERY:
            self._prune(conn, now)

    def _prune(self, conn: sqlite3.Connection, now: datetime) -> int:
        """Bounded DELETEs of expired nonces and approvals (indexed on expires_ts)."""
        self._pruned_at = now
        cutoff = (now - PRUNE_GRACE).timestamp()
        gone = 0
        for table in ("nonces", "approvals"):
            cur = conn.execute(
                f"DELETE FROM {table} WHERE rowid IN "
                f"(SELECT rowid FROM {table} WHERE expires_ts < ? ORDER BY expires_ts LIMIT ?)",
                (cutoff, PRUNE_BATCH),
            )
            gone += max(cur.rowcount, 0)
        return gone

    # ----- confirm-page approvals: a dial approved through one server completes on another ----------
    async def record_approval(self, digest: str, nonce: str, *, expires_at: datetime) -> None:
        now = self._clock()

        def put(conn: sqlite3.Connection) -> None:
            conn.execute(
                "INSERT OR IGNORE INTO approvals (nonce, digest, expires_ts) VALUES (?, ?, ?)",
                (nonce, digest, expires_at.timestamp()),
            )
            self._prune_if_due(conn, now)

        await self._arun(put)

    async def take_approval(self, digest: str) -> str | None:
        now = self._clock().timestamp()

        def take(conn: sqlite3.Connection) -> str | None:
            conn.execute("BEGIN IMMEDIATE")
            try:
                row = conn.execute(
                    "SELECT nonce, expires_ts FROM approvals a WHERE digest = ? AND expires_ts > ? AND NOT EXISTS "
                    "(SELECT 1 FROM nonces n WHERE n.nonce = a.nonce) ORDER BY expires_ts LIMIT 1",
                    (digest, now),
                ).fetchone()
                if row is not None:
                    conn.execute(
                        "INSERT INTO nonces (nonce, spent_ts, expires_ts) VALUES (?, ?, ?)",
                        (row["nonce"], now, row["expires_ts"]),
                    )
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            return str(row["nonce"]) if row is not None else None

        return await self._arun(take)

    # ----- reads -----------------------------------------------------------------------------
    async def count_since(self, since: datetime, *, at_most: int | None = None) -> int:
        return await self._arun(lambda conn: _count(conn, since, self._scope, at_most))

    async def count_dials_to(self, phone_e164: str, *, since: datetime, at_most: int | None = None) -> int:
        return await self._arun(lambda conn: _count_to(conn, phone_e164, since, self._scope, at_most))

    async def dial_times(self, numbers: Collection[str], *, since: datetime) -> dict[str, list[datetime]]:
        params = {"scope": self._scope, "numbers": json.dumps(sorted(set(numbers))), "since": since.timestamp()}

        def times(conn: sqlite3.Connection) -> dict[str, list[datetime]]:
            found: dict[str, list[datetime]] = {}
            for phone, created in conn.execute(dial_times_sql(self._scope), params):
                found.setdefault(str(phone), []).append(datetime.fromtimestamp(float(created), UTC))
            return found

        return await self._arun(times)

    async def last_dial(self, phone_e164: str, assistant_id: str, *, since: datetime) -> DialRow | None:
        """The newest dial of this number with this assistant since ``since``: not a failed one, nor an uncertain
        one a human released without a call_id (they checked: no call was placed)."""
        return await self._arun(lambda conn: _last_dial(conn, phone_e164, assistant_id, since, self._scope))

    async def open_unknown(self, phone_e164: str) -> DialRow | None:
        """An unresolved ``unknown`` (or never-finished ``pending``) dial of this number, if any."""
        now = self._clock()
        return await self._arun(lambda conn: _open_unknown(conn, phone_e164, now, self._scope))

    async def in_flight(self, phone_e164: str, assistant_id: str) -> DialRow | None:
        """An unresolved ``pending`` dial of this number with another assistant: a request in flight, or one whose
        process died before it recorded an outcome (the call may be ringing). The same assistant's is the
        duplicate rule's (and, once stale, the unknown-outcome rule's)."""
        return await self._arun(lambda conn: _in_flight(conn, phone_e164, assistant_id, self._scope))

    async def recent(self, limit: int = 20) -> list[DialRow]:
        def rows(conn: sqlite3.Connection) -> list[DialRow]:
            cur = conn.execute("SELECT * FROM dials ORDER BY id DESC LIMIT ?", (limit,))
            return [row_from(r) for r in cur.fetchall()]

        return await self._arun(rows)

    async def get(self, row_id: int) -> DialRow | None:
        def one(conn: sqlite3.Connection) -> DialRow | None:
            r = conn.execute("SELECT * FROM dials WHERE id = ?", (row_id,)).fetchone()
            return row_from(r) if r is not None else None

        return await self._arun(one)

    # ----- writes ----------------------------------------------------------------------------
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
        """Re-check rate limit, duplicates and unknown outcomes (and the per-number cap), and commit the intent
        row, atomically. Returns the row id. Raises GuardRefusal when another dial got there first."""
        now = self._clock()
        scope = self._scope

        def claim(conn: sqlite3.Connection) -> int:
            conn.execute("BEGIN IMMEDIATE")
            try:
                conn.execute("UPDATE dials SET scope = voicing_scope(environment) WHERE scope IS NULL")
                if campaign is not None:
                    r = conn.execute(
                        "SELECT r.state, c.status FROM campaign_rows r JOIN campaigns c ON c.id = r.campaign_id "
                        "WHERE r.campaign_id = ? AND r.position = ?",
                        (campaign.campaign_id, campaign.position),
                    ).fetchone()
                    refused = campaign_refusal(campaign, *(tuple(r) if r is not None else (None, None)))
                    if refused is not None:
                        raise refused
                refusal = first_refusal(
                    _open_unknown(conn, req.phone_number, now, scope),
                    _count(conn, now - timedelta(hours=1), scope, max_per_hour),
                    max_per_hour,
                    _last_dial(conn, req.phone_number, req.assistant_id, now - DUPLICATE_WINDOW, scope),
                    _in_flight(conn, req.phone_number, req.assistant_id, scope),
                ) or (
                    number_cap_refusal(
                        mask_number(req.phone_number),
                        _count_to(conn, req.phone_number, now - number_cap[1], scope, number_cap[0]),
                        number_cap,
                    )
                    if number_cap is not None
                    else None
                )
                if refusal is not None:
                    raise refusal
                cur = conn.execute(
                    "INSERT INTO dials (created_at, created_ts, assistant_id, phone_e164, phone_masked, "
                    "telephony_provider, variable_names, confirmation, environment, scope, status, updated_at, "
                    "campaign_id, campaign_position) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'pending', ?, ?, ?)",
                    (
                        iso(now),
                        now.timestamp(),
                        req.assistant_id,
                        req.phone_number,
                        mask_number(req.phone_number),
                        req.telephony_provider,
                        json.dumps(sorted(req.input_variables)),
                        confirmation,
                        environment,
                        scope_key(environment),
                        iso(now),
                        campaign.campaign_id if campaign else None,
                        campaign.position if campaign else None,
                    ),
                )
                dial_id = int(cur.lastrowid or 0)
                if campaign is not None:
                    conn.execute(
                        "UPDATE campaign_rows SET attempts = attempts + 1, dial_id = ?, updated_ts = ? "
                        "WHERE campaign_id = ? AND position = ?",
                        (dial_id, now.timestamp(), campaign.campaign_id, campaign.position),
                    )
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            return dial_id

        return await self._arun(claim)

    async def record_outcome(
        self, row_id: int, *, status: Status, call_id: str | None = None, detail: str | None = None
    ) -> None:
        now = self._clock()

        def update(conn: sqlite3.Connection) -> None:
            conn.execute(
                "UPDATE dials SET status = ?, call_id = ?, detail = ?, updated_at = ? WHERE id = ?",
                (status, call_id, detail, iso(now), row_id),
            )
            if status == "started":  # a campaign row's dial: its row is in progress (no-op for a single call)
                conn.execute(
                    "UPDATE campaign_rows SET state = 'in_progress', call_id = ?, next_attempt_ts = NULL, "
                    "worker_id = NULL, lease_ts = NULL, updated_ts = ? WHERE campaign_id = "
                    "(SELECT campaign_id FROM dials WHERE id = ?) AND position = "
                    "(SELECT campaign_position FROM dials WHERE id = ?) AND dial_id = ? AND state = 'dialling'",
                    (call_id, now.timestamp(), row_id, row_id, row_id),
                )

        await self._arun(self._tx(update) if status == "started" else update)

    async def resolve(self, row_id: int, *, resolution: str, call_id: str | None = None) -> bool:
        """Close an ``unknown``/``pending`` row after a check (a found call_id, or a human's word)."""
        now = self._clock()

        def update(conn: sqlite3.Connection) -> bool:
            cur = conn.execute(
                "UPDATE dials SET resolved_at = ?, resolution = ?, call_id = COALESCE(?, call_id), updated_at = ? "
                "WHERE id = ? AND status IN ('unknown', 'pending') AND resolved_at IS NULL",
                (iso(now), resolution, call_id, iso(now), row_id),
            )
            return cur.rowcount == 1

        return await self._arun(update)

    # ----- campaigns -------------------------------------------------------------------------
    def _tx(self, fn: Callable[[sqlite3.Connection], T]) -> Callable[[sqlite3.Connection], T]:
        """``fn`` in one BEGIN IMMEDIATE transaction: every process on the file takes turns."""

        def run(conn: sqlite3.Connection) -> T:
            conn.execute("BEGIN IMMEDIATE")
            try:
                result = fn(conn)
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            return result

        return run

    async def create_campaign(self, campaign: NewCampaign, rows: Sequence[NewCampaignRow]) -> Campaign:
        now = self._clock().timestamp()

        def create(conn: sqlite3.Connection) -> Campaign:
            if conn.execute("SELECT 1 FROM campaigns WHERE id = ?", (campaign.id,)).fetchone() is not None:
                raise CampaignConflict(f"campaign {campaign.id} exists already", reason="exists")
            conn.execute(
                "INSERT INTO campaigns (id, scope, environment, name, assistant_id, telephony_provider, status, "
                "manifest_sha256, max_attempts, retry_after_minutes, max_concurrent, created_ts, updated_ts, "
                "settings) VALUES (?, ?, ?, ?, ?, ?, 'awaiting_approval', ?, ?, ?, ?, ?, ?, ?)",
                (
                    campaign.id,
                    scope_key(campaign.environment),
                    campaign.environment,
                    campaign.name,
                    campaign.assistant_id,
                    campaign.telephony_provider,
                    campaign.manifest_sha256,
                    campaign.max_attempts,
                    campaign.retry_after_minutes,
                    campaign.max_concurrent,
                    now,
                    now,
                    json.dumps(dict(campaign.settings)),
                ),
            )
            conn.executemany(
                "INSERT INTO campaign_rows (campaign_id, position, phone_e164, phone_masked, input_variables, "
                "state, exclusion_reason, next_attempt_ts, updated_ts) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    (
                        campaign.id,
                        r.position,
                        r.phone_e164,
                        mask_number(r.phone_e164),
                        json.dumps(dict(r.input_variables)),
                        "excluded" if r.exclusion_reason is not None else "queued",
                        r.exclusion_reason,
                        None if r.exclusion_reason is not None else (ts(r.next_attempt_at) or now),
                        now,
                    )
                    for r in rows
                ),
            )
            return _campaign(conn, campaign.id)

        return await self._arun(self._tx(create))

    async def get_campaign(self, campaign_id: str) -> Campaign | None:
        def one(conn: sqlite3.Connection) -> Campaign | None:
            r = conn.execute("SELECT * FROM campaigns WHERE id = ?", (campaign_id,)).fetchone()
            return campaign_from(r) if r is not None else None

        return await self._arun(one)

    async def list_campaigns(
        self, *, statuses: Collection[CampaignStatus] | None = None, limit: int = 50, offset: int = 0
    ) -> list[Campaign]:
        scope = self._scope
        wanted = list(statuses) if statuses is not None else None

        def rows(conn: sqlite3.Connection) -> list[Campaign]:
            sql = "SELECT * FROM campaigns WHERE 1 = 1"
            params: list[Any] = []
            if scope is not None:
                sql += " AND scope = ?"
                params.append(scope)
            if wanted is not None:
                sql += f" AND status IN ({', '.join('?' * len(wanted)) or 'NULL'})"
                params += wanted
            sql += " ORDER BY created_ts DESC, id DESC LIMIT ? OFFSET ?"
            return [campaign_from(r) for r in conn.execute(sql, (*params, limit, offset)).fetchall()]

        return await self._arun(rows)

    async def approve_campaign(
        self,
        campaign_id: str,
        *,
        manifest_sha256: str,
        ticked_positions: Collection[int],
        expires_at: datetime,
        status: Literal["running", "scheduled"] = "running",
    ) -> Campaign:
        now = self._clock().timestamp()
        ticked = set(ticked_positions)

        def approve(conn: sqlite3.Connection) -> Campaign:
            r = conn.execute("SELECT * FROM campaigns WHERE id = ?", (campaign_id,)).fetchone()
            check_approval(campaign_from(r) if r is not None else None, campaign_id, manifest_sha256)
            accepted = {
                int(p[0])
                for p in conn.execute(
                    "SELECT position FROM campaign_rows WHERE campaign_id = ? AND state IN ('queued', 'waiting')",
                    (campaign_id,),
                )
            }
            if not ticked <= accepted:
                raise CampaignConflict(
                    f"campaign {campaign_id}: {len(ticked - accepted)} ticked position(s) are not accepted rows of "
                    "the list; nothing was approved",
                    reason="positions",
                )
            conn.executemany(
                "UPDATE campaign_rows SET state = 'removed', next_attempt_ts = NULL, updated_ts = ? "
                "WHERE campaign_id = ? AND position = ?",
                ((now, campaign_id, p) for p in sorted(accepted - ticked)),
            )
            conn.execute(
                "UPDATE campaigns SET status = ?, approved_ts = ?, approval_expires_ts = ?, updated_ts = ? "
                "WHERE id = ?",
                (status, now, expires_at.timestamp(), now, campaign_id),
            )
            return _campaign(conn, campaign_id)

        return await self._arun(self._tx(approve))

    async def set_campaign_status(
        self, campaign_id: str, status: CampaignStatus, *, reason: str | None = None
    ) -> Campaign:
        now = self._clock().timestamp()

        def change(conn: sqlite3.Connection) -> Campaign:
            r = conn.execute("SELECT * FROM campaigns WHERE id = ?", (campaign_id,)).fetchone()
            if r is None:
                raise missing(campaign_id)
            current = campaign_from(r)
            check_transition(current, status)
            conn.execute(
                "UPDATE campaigns SET status = ?, pause_reason = ?, updated_ts = ? WHERE id = ?",
                (status, reason, now, campaign_id),
            )
            if drops_outcome_log(current.status, status):
                conn.execute("DELETE FROM campaign_outcomes WHERE campaign_id = ?", (campaign_id,))
            if status in ("cancelled", "declined", "expired"):
                conn.execute(
                    "UPDATE campaign_rows SET state = 'cancelled', next_attempt_ts = NULL, updated_ts = ? "
                    "WHERE campaign_id = ? AND state IN ('queued', 'waiting')",
                    (now, campaign_id),
                )
            return _campaign(conn, campaign_id)

        return await self._arun(self._tx(change))

    async def claim_next_rows(
        self, *, worker_id: str, lease: timedelta, limit: int, campaign_id: str | None = None
    ) -> list[CampaignRow]:
        now = self._clock()
        scope = self._scope
        until = (now + lease).timestamp()

        def claim(conn: sqlite3.Connection) -> list[CampaignRow]:
            sql = "SELECT id, max_concurrent FROM campaigns WHERE status = 'running'"
            params: list[Any] = []
            if scope is not None:
                sql += " AND scope = ?"
                params.append(scope)
            if campaign_id is not None:
                sql += " AND id = ?"
                params.append(campaign_id)
            claimed: list[CampaignRow] = []
            for c in conn.execute(sql + " ORDER BY created_ts, id", params).fetchall():
                if len(claimed) >= limit:
                    break
                active = conn.execute(
                    "SELECT COUNT(*) FROM campaign_rows WHERE campaign_id = ? AND state IN ('dialling', 'in_progress')",
                    (c["id"],),
                ).fetchone()[0]
                take = min(int(c["max_concurrent"]) - int(active), limit - len(claimed))
                if take <= 0:
                    continue
                positions = [
                    int(p[0])
                    for p in conn.execute(
                        "SELECT position FROM campaign_rows WHERE campaign_id = ? AND state IN ('queued', 'waiting') "
                        "AND next_attempt_ts <= ? ORDER BY next_attempt_ts LIMIT ?",
                        (c["id"], now.timestamp(), take),
                    )
                ]
                conn.executemany(
                    "UPDATE campaign_rows SET state = 'dialling', worker_id = ?, lease_ts = ?, updated_ts = ? "
                    "WHERE campaign_id = ? AND position = ?",
                    ((worker_id, until, now.timestamp(), c["id"], p) for p in positions),
                )
                claimed += [_campaign_row(conn, c["id"], p) for p in positions]
            return claimed

        return await self._arun(self._tx(claim))

    async def renew_leases(self, worker_id: str, *, lease: timedelta) -> int:
        until = (self._clock() + lease).timestamp()

        def renew(conn: sqlite3.Connection) -> int:
            cur = conn.execute(
                "UPDATE campaign_rows SET lease_ts = ? WHERE state = 'dialling' AND worker_id = ?", (until, worker_id)
            )
            return cur.rowcount

        return await self._arun(renew)

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
        now = self._clock().timestamp()

        def record(conn: sqlite3.Connection) -> CampaignRow:
            r = conn.execute(
                "SELECT state FROM campaign_rows WHERE campaign_id = ? AND position = ?", (campaign_id, position)
            ).fetchone()
            if r is None:
                raise missing_row(campaign_id, position)
            check_row_update(campaign_id, position, r["state"], state)
            _write_row(
                conn, campaign_id, r["state"], RowOutcome(position, state, call_id, next_attempt_at, last_outcome), now
            )
            return _campaign_row(conn, campaign_id, position)

        return await self._arun(self._tx(record))

    async def record_row_outcomes(self, campaign_id: str, outcomes: Sequence[RowOutcome]) -> list[int]:
        now = self._clock().timestamp()
        wanted = list(outcomes)

        def record(conn: sqlite3.Connection) -> list[int]:
            marks = ", ".join("?" * len(wanted))
            current = {
                int(r[0]): str(r[1])
                for r in conn.execute(
                    f"SELECT position, state FROM campaign_rows WHERE campaign_id = ? AND position IN ({marks})",
                    (campaign_id, *(o.position for o in wanted)),
                )
            }
            written: list[int] = []
            for o in wanted:
                state = current.get(o.position)
                if state is None or not row_update_allowed(state, o.state):
                    continue
                _write_row(conn, campaign_id, state, o, now)
                current[o.position] = o.state
                written.append(o.position)
            return written

        if not wanted:
            return []
        return await self._arun(self._tx(record))

    async def campaign_recent_outcomes(self, campaign_id: str, *, limit: int) -> list[str]:
        def recent(conn: sqlite3.Connection) -> list[str]:
            cur = conn.execute(
                "SELECT outcome FROM campaign_outcomes WHERE campaign_id = ? ORDER BY seq DESC LIMIT ?",
                (campaign_id, limit),
            )
            return [str(r[0]) for r in cur.fetchall()]

        return await self._arun(recent)

    async def mark_interrupted(self) -> list[CampaignRow]:
        now = self._clock().timestamp()
        scope = self._scope

        def mark(conn: sqlite3.Connection) -> list[CampaignRow]:
            sql = (
                "SELECT r.campaign_id, r.position FROM campaign_rows r JOIN campaigns c ON c.id = r.campaign_id "
                "WHERE r.state = 'dialling' AND r.lease_ts < ?"
            )
            params: list[Any] = [now]
            if scope is not None:
                sql += " AND c.scope = ?"
                params.append(scope)
            keys = [(str(k[0]), int(k[1])) for k in conn.execute(sql, params).fetchall()]
            conn.executemany(
                "UPDATE campaign_rows SET state = 'unknown', last_outcome = 'interrupted', next_attempt_ts = NULL, "
                "worker_id = NULL, lease_ts = NULL, updated_ts = ? WHERE campaign_id = ? AND position = ?",
                ((now, c, p) for c, p in keys),
            )
            return [_campaign_row(conn, c, p) for c, p in keys]

        return await self._arun(self._tx(mark))

    async def campaign_row_counts(self, campaign_id: str) -> dict[RowState, int]:
        def counts(conn: sqlite3.Connection) -> dict[RowState, int]:
            cur = conn.execute(
                "SELECT state, COUNT(*) FROM campaign_rows WHERE campaign_id = ? GROUP BY state", (campaign_id,)
            )
            return {r[0]: int(r[1]) for r in cur.fetchall()}

        return await self._arun(counts)

    async def campaign_rows(
        self, campaign_id: str, *, offset: int = 0, limit: int = 100, states: Collection[RowState] | None = None
    ) -> list[CampaignRow]:
        wanted = list(states) if states is not None else None

        def rows(conn: sqlite3.Connection) -> list[CampaignRow]:
            sql = "SELECT * FROM campaign_rows WHERE campaign_id = ?"
            params: list[Any] = [campaign_id]
            if wanted is not None:
                sql += f" AND state IN ({', '.join('?' * len(wanted)) or 'NULL'})"
                params += wanted
            sql += " ORDER BY position LIMIT ? OFFSET ?"
            return [campaign_row_from(r) for r in conn.execute(sql, (*params, limit, offset)).fetchall()]

        return await self._arun(rows)

    async def campaign_next_due(self, campaign_id: str) -> datetime | None:
        def due(conn: sqlite3.Connection) -> datetime | None:
            r = conn.execute(
                "SELECT MIN(next_attempt_ts) FROM campaign_rows WHERE campaign_id = ? "
                "AND state IN ('queued', 'waiting')",
                (campaign_id,),
            ).fetchone()
            return when(r[0])

        return await self._arun(due)

    async def finish_campaign_if_done(self, campaign_id: str) -> Campaign | None:
        now = self._clock().timestamp()

        def finish(conn: sqlite3.Connection) -> Campaign | None:
            cur = conn.execute(
                "UPDATE campaigns SET status = 'completed', updated_ts = ? WHERE id = ? "
                "AND status IN ('running', 'scheduled') AND NOT EXISTS (SELECT 1 FROM campaign_rows WHERE "
                "campaign_id = ? AND state IN ('queued', 'waiting', 'dialling', 'in_progress'))",
                (now, campaign_id, campaign_id),
            )
            if cur.rowcount != 1:
                return None
            conn.execute("DELETE FROM campaign_outcomes WHERE campaign_id = ?", (campaign_id,))
            return _campaign(conn, campaign_id)

        return await self._arun(self._tx(finish))


# ----- shared queries (used by claim_dial and by policy) ------------------------------------------
#
# The scope is a column (indexed with the time, and with the number and the time): a count is one index range,
# whatever the ledger holds outside the window. With no scope (a ledger opened without an environment) every
# row counts: the query has no scope term at all (an ``? IS NULL OR`` term would keep SQLite off the index).


def _in_scope(scope: str | None) -> str:
    return "scope = :scope AND " if scope is not None else ""


def count_sql(scope: str | None) -> str:
    """The hour's count (``:scope``, ``:since``, ``:at_most``, -1 = no limit): an index range on
    dials_by_scope_time (or dials_by_time), read no further than ``at_most`` entries."""
    return f"SELECT COUNT(*) FROM (SELECT 1 FROM dials WHERE {_in_scope(scope)}created_ts >= :since LIMIT :at_most)"


def count_to_sql(scope: str | None) -> str:
    """The per-number count (``:scope``, ``:phone``, ``:since``, ``:at_most``): a range on dials_by_scope_number."""
    return (
        f"SELECT COUNT(*) FROM (SELECT 1 FROM dials WHERE {_in_scope(scope)}phone_e164 = :phone "
        "AND created_ts >= :since AND status != 'failed' AND NOT (resolved_at IS NOT NULL AND call_id IS NULL) "
        "LIMIT :at_most)"
    )


def dial_times_sql(scope: str | None) -> str:
    """The dials :func:`count_to_sql` counts, of every number in the JSON array ``:numbers`` (``:scope``,
    ``:since``), oldest first: for each number a range on dials_by_scope_number (or dials_by_number) — the CROSS JOIN
    keeps the numbers the outer loop, so the cost follows the numbers asked about, not the dials in the window."""
    in_scope = "d.scope = :scope AND " if scope is not None else ""
    return (
        "SELECT d.phone_e164, d.created_ts FROM json_each(:numbers) AS n CROSS JOIN dials AS d "
        f"WHERE {in_scope}d.phone_e164 = n.value AND d.created_ts >= :since "
        "AND d.status != 'failed' AND NOT (d.resolved_at IS NOT NULL AND d.call_id IS NULL) ORDER BY d.created_ts"
    )


def _count(conn: sqlite3.Connection, since: datetime, scope: str | None, at_most: int | None = None) -> int:
    params = {"scope": scope, "since": since.timestamp(), "at_most": -1 if at_most is None else at_most}
    return int(conn.execute(count_sql(scope), params).fetchone()[0])


def _count_to(
    conn: sqlite3.Connection, phone: str, since: datetime, scope: str | None, at_most: int | None = None
) -> int:
    params = {"scope": scope, "phone": phone, "since": since.timestamp(), "at_most": -1 if at_most is None else at_most}
    return int(conn.execute(count_to_sql(scope), params).fetchone()[0])


def _last_dial(
    conn: sqlite3.Connection, phone: str, assistant_id: str, since: datetime, scope: str | None
) -> DialRow | None:
    r = conn.execute(
        f"SELECT * FROM dials WHERE {_in_scope(scope)}phone_e164 = :phone AND assistant_id = :assistant "
        "AND created_ts >= :since AND status != 'failed' AND NOT (resolved_at IS NOT NULL AND call_id IS NULL) "
        "ORDER BY id DESC LIMIT 1",
        {"scope": scope, "phone": phone, "assistant": assistant_id, "since": since.timestamp()},
    ).fetchone()
    return row_from(r) if r is not None else None


def _open_unknown(conn: sqlite3.Connection, phone: str, now: datetime, scope: str | None) -> DialRow | None:
    """An unresolved ``unknown`` row, or a ``pending`` one older than PENDING_STALE (the process died mid-dial).

    A recent ``pending`` row is a dial in flight: the duplicate guard covers it.
    """
    r = conn.execute(
        f"SELECT * FROM dials WHERE {_in_scope(scope)}phone_e164 = :phone AND resolved_at IS NULL "
        "AND (status = 'unknown' OR (status = 'pending' AND created_ts < :stale)) ORDER BY id DESC LIMIT 1",
        {"scope": scope, "phone": phone, "stale": (now - PENDING_STALE).timestamp()},
    ).fetchone()
    return row_from(r) if r is not None else None


def _in_flight(conn: sqlite3.Connection, phone: str, assistant_id: str, scope: str | None) -> DialRow | None:
    """The newest unresolved ``pending`` row of this number with another assistant, whatever its age.

    A fresh one is a dial in flight (here or in another process); an old one is a crash mid-dial (also
    caught by :func:`_open_unknown`). Either way that call may be ringing: no other assistant dials the
    number. (A pending row of the same assistant is refused by the duplicate rule, and once stale by the
    unknown-outcome rule: each case has one rule, whichever request checks first.)
    """
    r = conn.execute(
        f"SELECT * FROM dials WHERE {_in_scope(scope)}phone_e164 = :phone AND resolved_at IS NULL "
        "AND status = 'pending' AND assistant_id != :assistant ORDER BY id DESC LIMIT 1",
        {"scope": scope, "phone": phone, "assistant": assistant_id},
    ).fetchone()
    return row_from(r) if r is not None else None


def _write_row(conn: sqlite3.Connection, campaign_id: str, current: str, o: RowOutcome, now: float) -> None:
    """A row's new state (its change checked by the caller), and the outcome log's entry if it is a dial's
    outcome."""
    conn.execute(
        "UPDATE campaign_rows SET state = ?, call_id = COALESCE(?, call_id), next_attempt_ts = ?, "
        "last_outcome = COALESCE(?, last_outcome), exclusion_reason = CASE WHEN ? = 'excluded' "
        "THEN COALESCE(?, exclusion_reason) ELSE exclusion_reason END, worker_id = NULL, lease_ts = NULL, "
        "updated_ts = ? "
        "WHERE campaign_id = ? AND position = ?",
        row_write_params(campaign_id, o, now),
    )
    logged = logged_outcome(current, o.state, o.last_outcome)
    if logged is not None:
        conn.execute(
            "INSERT INTO campaign_outcomes (campaign_id, position, outcome, ts) VALUES (?, ?, ?, ?)",
            (campaign_id, o.position, logged, now),
        )


def _campaign(conn: sqlite3.Connection, campaign_id: str) -> Campaign:
    return campaign_from(conn.execute("SELECT * FROM campaigns WHERE id = ?", (campaign_id,)).fetchone())


def _campaign_row(conn: sqlite3.Connection, campaign_id: str, position: int) -> CampaignRow:
    return campaign_row_from(
        conn.execute(
            "SELECT * FROM campaign_rows WHERE campaign_id = ? AND position = ?", (campaign_id, position)
        ).fetchone()
    )
