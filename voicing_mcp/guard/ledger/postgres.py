"""The PostgreSQL dial ledger (``VOICING_LEDGER=postgresql://…``): one ledger shared by every replica.

- psycopg 3 and psycopg_pool are imported on first use (``pip install -e '.[postgres]'`` in a checkout): a server on
  SQLite never loads them. One async pool per ledger object (per replica), short connect and pool timeouts.
- The schema is created or migrated when the ledger is first used (``schema_version`` holds the versions
  applied), under a transaction-scoped advisory lock: replicas starting together migrate once, the others wait.
- ``claim_dial`` is one transaction: ``pg_advisory_xact_lock`` on the claim key, then ONE statement that reads
  the unknown outcome, the hour's count, the duplicate and the dial in flight (one snapshot: a concurrent outcome
  cannot slip between two checks), then the intent's ``INSERT``. Every claim of every replica takes the same lock:
  the rate limit counts every dial, so claims are serialised as SQLite's ``BEGIN IMMEDIATE`` serialises them;
  the lock is held for the claim (a millisecond or so), never during the POST.
- Spending a nonce is ``INSERT … ON CONFLICT DO NOTHING`` on its primary key: exactly one spender wins.
- A database that is down, unreachable or refuses the login refuses every dial: ``GuardRefusal(rule="ledger")``
  naming the URL with its credentials masked. The password never appears in a message.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, LiteralString, TypeVar
from urllib.parse import parse_qs, unquote, urlsplit

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
from voicing_mcp.guard.ledger.pg_schema import (
    CLAIM_LOCK,
    SCHEMA_VERSION,
    configure_connection,
    migrate,
    read_schema_version,
)
from voicing_mcp.guard.scope import scope_key
from voicing_mcp.redact import dsn_secrets, mask_number, mask_quoted_pieces, redact_dsn, redact_secret

if TYPE_CHECKING:
    from psycopg import AsyncConnection
    from psycopg_pool import AsyncConnectionPool

T = TypeVar("T")
logger = logging.getLogger(__name__)
CONNECT_TIMEOUT = 3  # seconds, libpq's connect_timeout (its minimum is 2)
POOL_TIMEOUT = 5.0  # seconds a request waits for a pooled connection before it is refused
POOL_MAX = 8
#: the extra's own packages: the package is not on PyPI yet, so `pip install 'voicing-mcp[postgres]'` works only
#: from a checkout (`pip install -e '.[postgres]'`); naming the two packages works in every environment
INSTALL_HINT = "pip install 'psycopg[binary]>=3.2' 'psycopg-pool>=3.2' (in a checkout: pip install -e '.[postgres]')"

_IN_SCOPE = "(%(scope)s::text IS NULL OR scope = %(scope)s)"
_UNKNOWN = (
    f"SELECT * FROM dials WHERE {_IN_SCOPE} AND phone_e164 = %(phone)s AND resolved_at IS NULL "
    "AND (status = 'unknown' OR (status = 'pending' AND created_ts < %(stale)s)) ORDER BY id DESC LIMIT 1"
)
_COUNT = f"SELECT COUNT(*) FROM dials WHERE {_IN_SCOPE} AND created_ts >= %(since)s"
_LAST = (
    f"SELECT * FROM dials WHERE {_IN_SCOPE} AND phone_e164 = %(phone)s AND assistant_id = %(assistant)s "
    "AND created_ts >= %(window)s AND status != 'failed' AND NOT (resolved_at IS NOT NULL AND call_id IS NULL) "
    "ORDER BY id DESC LIMIT 1"
)
_IN_FLIGHT = (
    f"SELECT * FROM dials WHERE {_IN_SCOPE} AND phone_e164 = %(phone)s AND resolved_at IS NULL "
    "AND status = 'pending' AND assistant_id != %(assistant)s ORDER BY id DESC LIMIT 1"
)
#: the four checks of a claim in one statement: one snapshot
_CHECKS = (
    f"SELECT (SELECT row_to_json(u) FROM ({_UNKNOWN}) u), ({_COUNT}), "
    f"(SELECT row_to_json(d) FROM ({_LAST}) d), (SELECT row_to_json(f) FROM ({_IN_FLIGHT}) f)"
)


def _modules() -> tuple[Any, Any]:
    """psycopg and psycopg_pool, or a [ledger] refusal that says how to install them."""
    try:
        import psycopg  # noqa: PLC0415 (only a postgresql:// ledger loads it: SQLite servers start without it)
        import psycopg_pool  # noqa: PLC0415
    except ImportError:
        raise GuardRefusal(
            "ledger: VOICING_LEDGER is a PostgreSQL URL but psycopg is not installed; no call is placed without "
            f"the ledger — install it with `{INSTALL_HINT}`",
            rule="ledger",
        ) from None
    return psycopg, psycopg_pool


def url_secrets(url: str) -> list[str]:
    """The passwords a URL carries (``user:pw@``, ``?password=``, ``?sslpassword=``), to scrub from any text shown."""
    # every reading of an unencoded password ('#', '?', '/', '@' in it) and the pieces an error may quote
    found: list[str] = [form for secret in dsn_secrets(url) for form in (secret, unquote(secret))]
    try:
        parts = urlsplit(url)
        if parts.password:
            found += [parts.password, unquote(parts.password)]
        query = parse_qs(parts.query)
        for value in query.get("password", []) + query.get("sslpassword", []):
            found.append(value)
    except ValueError:
        pass
    return [s for s in found if s]


class PostgresLedger:
    """One PostgreSQL ledger (a pool of connections). Safe to share between the tasks of one event loop."""

    def __init__(
        self,
        url: str,
        *,
        clock: Callable[[], datetime] | None = None,
        environment: str | None = None,
        connect_timeout: int = CONNECT_TIMEOUT,
        pool_timeout: float = POOL_TIMEOUT,
    ) -> None:
        self._url = url
        self._secrets = url_secrets(url)
        self.environment = environment
        self._clock = clock or (lambda: datetime.now(UTC))
        self._connect_timeout = connect_timeout
        self._pool_timeout = pool_timeout
        self._pool: AsyncConnectionPool[Any] | None = None
        self._opening: asyncio.Lock | None = None
        #: the schema version found (and reached) when the ledger was first used
        self.schema_version: int | None = None

    @property
    def shown(self) -> str:
        return redact_dsn(self._url)

    @property
    def _scope(self) -> str | None:
        return scope_key(self.environment) if self.environment is not None else None

    # ----- connection ------------------------------------------------------------------------
    def scrub(self, text: str) -> str:
        """``text`` without the URL's password (an error of libpq or of the pool may quote parts of it)."""
        for secret in self._secrets:
            text = redact_secret(text, secret)
        return mask_quoted_pieces(text, self._secrets)

    def refusal(self, exc: BaseException, *, advice: str | None = None) -> GuardRefusal:
        detail = " ".join(str(exc).split()) or "no detail"
        advice = advice or (
            "check that the PostgreSQL server is running and reachable from here, and that VOICING_LEDGER's host, "
            "port, database, user and password are right"
        )
        return GuardRefusal(
            self.scrub(
                f"ledger: the dial ledger {self.shown} cannot be used ({type(exc).__name__}: {detail}); no call is "
                f"placed without it — {advice}"
            ),
            rule="ledger",
        )

    async def connect(self) -> AsyncConnection[Any]:
        """One connection of its own (migration, diagnosis, ``check``); errors are psycopg's."""
        psycopg, _ = _modules()
        conn = await psycopg.AsyncConnection.connect(
            self._url, connect_timeout=self._connect_timeout, autocommit=True, application_name="voicing-mcp"
        )
        try:
            await configure_connection(conn)
        except BaseException:
            await conn.close()
            raise
        return conn

    async def _ensure_pool(self) -> AsyncConnectionPool[Any]:
        """The pool, opened on first use after the schema is created or migrated (by a connection of its own: a
        database that is down is refused with libpq's reason, not after a pool timeout)."""
        if self._pool is not None:
            return self._pool
        if self._opening is None:
            self._opening = asyncio.Lock()
        async with self._opening:
            pool = self._pool
            if pool is None:
                pool = await self._open_pool()
                self._pool = pool
            return pool

    async def _open_pool(self) -> AsyncConnectionPool[Any]:
        _, psycopg_pool = _modules()
        async with await self.connect() as conn:
            self.schema_version = await migrate(conn)
        pool = psycopg_pool.AsyncConnectionPool(
            self._url,
            kwargs={"autocommit": True, "connect_timeout": self._connect_timeout, "application_name": "voicing-mcp"},
            min_size=1,
            max_size=POOL_MAX,
            open=False,
            configure=configure_connection,
            check=psycopg_pool.AsyncConnectionPool.check_connection,
            timeout=self._pool_timeout,
            # a lost connection is retried 1, 2, 4… s apart until reconnect_timeout, then again at the next
            # request: bounded by the time a request waits, a database back from a long outage serves the first
            # request (psycopg_pool's default, 5 min, let the retries drift to 16, 32, 64 s apart)
            reconnect_timeout=self._pool_timeout,
            name="voicing-ledger",
        )
        await pool.open(wait=False)
        return pool

    async def _run(self, fn: Callable[[AsyncConnection[Any]], Awaitable[T]]) -> T:
        """Run ``fn`` on a pooled connection; any failure of the database is a [ledger] refusal."""
        psycopg, psycopg_pool = _modules()
        try:
            pool = await self._ensure_pool()
            async with pool.connection() as conn:
                return await fn(conn)
        except GuardRefusal:
            raise
        except psycopg_pool.PoolTimeout as exc:
            raise await self._diagnose(exc) from None
        except psycopg.errors.LockNotAvailable as exc:
            busy = "another replica holds the ledger's claim lock: try again in a moment"
            raise self.refusal(exc, advice=busy) from None
        except (psycopg.Error, OSError) as exc:
            raise self.refusal(exc) from None

    async def _diagnose(self, timeout: BaseException) -> GuardRefusal:
        """No pooled connection in time: the database is down (say why) or every connection is busy."""
        psycopg, _ = _modules()
        try:
            async with await self.connect():
                pass
        except (psycopg.Error, OSError) as exc:
            return self.refusal(exc)
        busy = f"all {POOL_MAX} connections of this server were busy for {self._pool_timeout:g} s: try again"
        return self.refusal(timeout, advice=busy)

    async def prepare(self) -> None:
        """Create or migrate the schema and open the pool now (at server start), not on the first dial; a database
        that cannot be used is logged (masked) and retried on the next use, where the dial is refused."""
        try:
            await self._run(_nothing)
        except GuardRefusal as exc:
            logger.warning("%s; every dial is refused until it can be used", exc)
        else:
            logger.info("ledger: PostgreSQL %s, schema version %s", self.shown, self.schema_version)

    async def aclose(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            await pool.close()

    # ----- nonces ----------------------------------------------------------------------------
    async def spend_nonce(self, nonce: str, *, expires_at: datetime) -> bool:
        """Mark a token nonce as used. True for exactly one caller per nonce, on every replica, ever."""
        now = self._clock()

        async def spend(conn: AsyncConnection[Any]) -> bool:
            cur = await conn.execute(
                "INSERT INTO nonces (nonce, spent_ts, expires_ts) VALUES (%s, %s, %s) ON CONFLICT (nonce) DO NOTHING",
                (nonce, now.timestamp(), expires_at.timestamp()),
            )
            return cur.rowcount == 1

        return await self._run(spend)

    # ----- confirm-page approvals: a dial approved through one replica completes on another ----------
    async def record_approval(self, digest: str, nonce: str, *, expires_at: datetime) -> None:
        async def put(conn: AsyncConnection[Any]) -> None:
            await conn.execute(
                "INSERT INTO approvals (nonce, digest, expires_ts) VALUES (%s, %s, %s) ON CONFLICT (nonce) DO NOTHING",
                (nonce, digest, expires_at.timestamp()),
            )

        await self._run(put)

    async def take_approval(self, digest: str) -> str | None:
        now = self._clock().timestamp()

        async def take(conn: AsyncConnection[Any]) -> str | None:
            # one statement: two replicas taking the same approval conflict on the nonce, one gets it
            cur = await conn.execute(
                "INSERT INTO nonces (nonce, spent_ts, expires_ts) SELECT a.nonce, %(now)s, a.expires_ts "
                "FROM approvals a WHERE a.digest = %(digest)s AND a.expires_ts > %(now)s AND NOT EXISTS "
                "(SELECT 1 FROM nonces n WHERE n.nonce = a.nonce) ORDER BY a.expires_ts LIMIT 1 "
                "ON CONFLICT (nonce) DO NOTHING RETURNING nonce",
                {"now": now, "digest": digest},
            )
            row = await cur.fetchone()
            return str(row[0]) if row is not None else None

        return await self._run(take)

    # ----- reads -----------------------------------------------------------------------------
    async def _one(self, sql: LiteralString, params: dict[str, Any]) -> DialRow | None:
        async def one(conn: AsyncConnection[Any]) -> DialRow | None:
            cur = await conn.execute(f"SELECT row_to_json(r) FROM ({sql}) r", params)
            found = await cur.fetchone()
            return row_from(found[0]) if found is not None else None

        return await self._run(one)

    async def count_since(self, since: datetime) -> int:
        async def count(conn: AsyncConnection[Any]) -> int:
            cur = await conn.execute(_COUNT, {"scope": self._scope, "since": since.timestamp()})
            found = await cur.fetchone()
            return int(found[0]) if found is not None else 0

        return await self._run(count)

    async def last_dial(self, phone_e164: str, assistant_id: str, *, since: datetime) -> DialRow | None:
        params = {"scope": self._scope, "phone": phone_e164, "assistant": assistant_id, "window": since.timestamp()}
        return await self._one(_LAST, params)

    async def open_unknown(self, phone_e164: str) -> DialRow | None:
        stale = (self._clock() - PENDING_STALE).timestamp()
        return await self._one(_UNKNOWN, {"scope": self._scope, "phone": phone_e164, "stale": stale})

    async def in_flight(self, phone_e164: str, assistant_id: str) -> DialRow | None:
        return await self._one(_IN_FLIGHT, {"scope": self._scope, "phone": phone_e164, "assistant": assistant_id})

    async def recent(self, limit: int = 20) -> list[DialRow]:
        async def rows(conn: AsyncConnection[Any]) -> list[DialRow]:
            sql = "SELECT row_to_json(d) FROM (SELECT * FROM dials ORDER BY id DESC LIMIT %s) d ORDER BY d.id DESC"
            cur = await conn.execute(sql, (limit,))
            return [row_from(r[0]) for r in await cur.fetchall()]

        return await self._run(rows)

    async def get(self, row_id: int) -> DialRow | None:
        return await self._one("SELECT * FROM dials WHERE id = %(id)s", {"id": row_id})

    # ----- writes ----------------------------------------------------------------------------
    async def claim_dial(
        self, req: OutboundCallRequest, *, confirmation: Confirmation, environment: str, max_per_hour: int
    ) -> int:
        """Re-check unknown outcomes, the rate limit, duplicates and dials in flight, and commit the intent row,
        in one transaction under the claim lock. Returns the row id; raises GuardRefusal when refused."""
        now = self._clock()
        params = {
            "scope": self._scope,
            "phone": req.phone_number,
            "assistant": req.assistant_id,
            "stale": (now - PENDING_STALE).timestamp(),
            "since": (now - timedelta(hours=1)).timestamp(),
            "window": (now - DUPLICATE_WINDOW).timestamp(),
        }

        async def claim(conn: AsyncConnection[Any]) -> int:
            async with conn.transaction():
                await conn.execute("SELECT pg_advisory_xact_lock(%s)", (CLAIM_LOCK,))
                cur = await conn.execute(_CHECKS, params)
                found = await cur.fetchone()
                assert found is not None
                unknown, count, duplicate, flying = found
                refusal = first_refusal(
                    row_from(unknown) if unknown else None,
                    int(count),
                    max_per_hour,
                    row_from(duplicate) if duplicate else None,
                    row_from(flying) if flying else None,
                )
                if refusal is not None:
                    raise refusal
                cur = await conn.execute(
                    "INSERT INTO dials (created_at, created_ts, assistant_id, phone_e164, phone_masked, "
                    "telephony_provider, variable_names, confirmation, environment, scope, status, updated_at) "
                    "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, 'pending', %s) RETURNING id",
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
                    ),
                )
                inserted = await cur.fetchone()
                assert inserted is not None
                return int(inserted[0])

        return await self._run(claim)

    async def record_outcome(
        self, row_id: int, *, status: Status, call_id: str | None = None, detail: str | None = None
    ) -> None:
        now = self._clock()

        async def update(conn: AsyncConnection[Any]) -> None:
            await conn.execute(
                "UPDATE dials SET status = %s, call_id = %s, detail = %s, updated_at = %s WHERE id = %s",
                (status, call_id, detail, iso(now), row_id),
            )

        await self._run(update)

    async def resolve(self, row_id: int, *, resolution: str, call_id: str | None = None) -> bool:
        """Close an ``unknown``/``pending`` row after a check (a found call_id, or a human's word)."""
        now = self._clock()

        async def update(conn: AsyncConnection[Any]) -> bool:
            cur = await conn.execute(
                "UPDATE dials SET resolved_at = %s, resolution = %s, call_id = COALESCE(%s, call_id), updated_at = %s "
                "WHERE id = %s AND status IN ('unknown', 'pending') AND resolved_at IS NULL",
                (iso(now), resolution, call_id, iso(now), row_id),
            )
            return cur.rowcount == 1

        return await self._run(update)


async def _nothing(_: AsyncConnection[Any]) -> None:
    return None


async def probe(url: str) -> tuple[bool, str]:
    """For ``voicing-mcp check``: (usable, what was found) — reachable or not, the server and the schema
    version; nothing is created. The URL is shown with its credentials masked."""
    ledger = PostgresLedger(url)
    try:
        psycopg, _ = _modules()
        try:
            async with await ledger.connect() as conn:
                version = await read_schema_version(conn)
                cur = await conn.execute("SHOW server_version")
                found = await cur.fetchone()
        except (psycopg.Error, OSError) as exc:
            raise ledger.refusal(exc) from None
    except GuardRefusal as exc:
        return False, f"PostgreSQL ledger not usable — {exc}; every dial would be refused"
    where = f"PostgreSQL ledger {ledger.shown} reachable (server {found[0] if found else '?'})"
    if version is None:
        return True, f"{where}; no ledger schema yet: the first server to use it creates version {SCHEMA_VERSION}"
    if version > SCHEMA_VERSION:
        return False, (
            f"{where}; schema version {version} is newer than this voicing-mcp knows ({SCHEMA_VERSION}): every dial "
            "would be refused; upgrade voicing-mcp"
        )
    if version < SCHEMA_VERSION:
        return True, f"{where}; schema version {version}, migrated to {SCHEMA_VERSION} on first use"
    return True, f"{where}; schema version {version}"
