"""The SQLite dial ledger (a path in ``VOICING_LEDGER``): a WAL audit of every dial, and the spent token nonces.

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
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TypeVar

import anyio.to_thread

from voicing_mcp.api.models import OutboundCallRequest
from voicing_mcp.errors import GuardRefusal
from voicing_mcp.guard.ledger.base import (
    DUPLICATE_WINDOW,
    PENDING_STALE,
    Confirmation,
    DialRow,
    Status,
    first_refusal,
    iso,
    row_from,
)
from voicing_mcp.guard.scope import scope_key
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
    resolution TEXT
);
CREATE INDEX IF NOT EXISTS dials_by_number ON dials (phone_e164, created_ts);
CREATE INDEX IF NOT EXISTS dials_by_time ON dials (created_ts);
CREATE TABLE IF NOT EXISTS nonces (
    nonce TEXT PRIMARY KEY,
    spent_ts REAL NOT NULL,
    expires_ts REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS approvals (
    nonce TEXT PRIMARY KEY,
    digest TEXT NOT NULL,
    expires_ts REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS approvals_by_digest ON approvals (digest);
"""


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
                if isinstance(exc, sqlite3.OperationalError) and "locked" in str(exc):
                    # busy, not broken: moving it aside would throw away the dials whose outcome is unknown
                    advice = (
                        "another process holds it (another voicing-mcp server on the same VOICING_LEDGER?): try "
                        "again in a moment; do not move the file aside, it records dials whose outcome is unknown"
                    )
                else:
                    advice = "move that file aside or point VOICING_LEDGER at a writable file"
                raise GuardRefusal(
                    f"ledger: the dial ledger {self.path} cannot be used ({type(exc).__name__}: {exc}); no call is "
                    f"placed without it — {advice}",
                    rule="ledger",
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
            return cur.rowcount == 1

        return await self._arun(spend)

    # ----- confirm-page approvals: a dial approved through one server completes on another ----------
    async def record_approval(self, digest: str, nonce: str, *, expires_at: datetime) -> None:
        def put(conn: sqlite3.Connection) -> None:
            conn.execute(
                "INSERT OR IGNORE INTO approvals (nonce, digest, expires_ts) VALUES (?, ?, ?)",
                (nonce, digest, expires_at.timestamp()),
            )

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
    async def count_since(self, since: datetime) -> int:
        return await self._arun(lambda conn: _count(conn, since, self._scope))

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
        confirmation: Confirmation,
        environment: str,
        max_per_hour: int,
    ) -> int:
        """Re-check rate limit, duplicates and unknown outcomes, and commit the intent row, atomically.

        Returns the row id. Raises GuardRefusal when another dial got there first.
        """
        now = self._clock()
        scope = self._scope

        def claim(conn: sqlite3.Connection) -> int:
            conn.execute("BEGIN IMMEDIATE")
            try:
                refusal = first_refusal(
                    _open_unknown(conn, req.phone_number, now, scope),
                    _count(conn, now - timedelta(hours=1), scope),
                    max_per_hour,
                    _last_dial(conn, req.phone_number, req.assistant_id, now - DUPLICATE_WINDOW, scope),
                    _in_flight(conn, req.phone_number, req.assistant_id, scope),
                )
                if refusal is not None:
                    raise refusal
                cur = conn.execute(
                    "INSERT INTO dials (created_at, created_ts, assistant_id, phone_e164, phone_masked, "
                    "telephony_provider, variable_names, confirmation, environment, status, updated_at) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'pending', ?)",
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
                        iso(now),
                    ),
                )
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            return int(cur.lastrowid or 0)

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

        await self._arun(update)

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


# ----- shared queries and refusal texts (used by claim_dial and by policy) -----------------------


#: rows of the ledger's scope: ``?1`` is :func:`scope_key` of its environment (None = every row)
_IN_SCOPE = "(?1 IS NULL OR voicing_scope(environment) = ?1)"


def _count(conn: sqlite3.Connection, since: datetime, scope: str | None) -> int:
    row = conn.execute(f"SELECT COUNT(*) FROM dials WHERE {_IN_SCOPE} AND created_ts >= ?2", (scope, since.timestamp()))
    return int(row.fetchone()[0])


def _last_dial(
    conn: sqlite3.Connection, phone: str, assistant_id: str, since: datetime, scope: str | None
) -> DialRow | None:
    r = conn.execute(
        f"SELECT * FROM dials WHERE {_IN_SCOPE} AND phone_e164 = ?2 AND assistant_id = ?3 AND created_ts >= ?4 "
        "AND status != 'failed' AND NOT (resolved_at IS NOT NULL AND call_id IS NULL) ORDER BY id DESC LIMIT 1",
        (scope, phone, assistant_id, since.timestamp()),
    ).fetchone()
    return row_from(r) if r is not None else None


def _open_unknown(conn: sqlite3.Connection, phone: str, now: datetime, scope: str | None) -> DialRow | None:
    """An unresolved ``unknown`` row, or a ``pending`` one older than PENDING_STALE (the process died mid-dial).

    A recent ``pending`` row is a dial in flight: the duplicate guard covers it.
    """
    r = conn.execute(
        f"SELECT * FROM dials WHERE {_IN_SCOPE} AND phone_e164 = ?2 AND resolved_at IS NULL "
        "AND (status = 'unknown' OR (status = 'pending' AND created_ts < ?3)) ORDER BY id DESC LIMIT 1",
        (scope, phone, (now - PENDING_STALE).timestamp()),
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
        f"SELECT * FROM dials WHERE {_IN_SCOPE} AND phone_e164 = ?2 AND resolved_at IS NULL AND status = 'pending' "
        "AND assistant_id != ?3 ORDER BY id DESC LIMIT 1",
        (scope, phone, assistant_id),
    ).fetchone()
    return row_from(r) if r is not None else None
