"""The PostgreSQL dial ledger (``VOICING_LEDGER=postgresql://…``): one ledger shared by every replica.

Over 450 lines on purpose, for now: every SQL statement of this backend (dials, approvals, nonces and the campaign
rows' claims) sits in one file so a reader compares it line by line with the SQLite backend; the campaign statements
are the part to move out into a module of their own next.

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
from collections.abc import Awaitable, Callable, Collection, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal, LiteralString, TypeVar
from urllib.parse import parse_qs, unquote, urlsplit

from voicing_mcp.api.models import OutboundCallRequest
from voicing_mcp.errors import GuardRefusal
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
from voicing_mcp.guard.ledger.pg_schema import (
    CLAIM_LOCK,
    SCHEMA_VERSION,
    configure_connection,
    migrate,
    read_schema_version,
)
from voicing_mcp.guard.scope import scope_key
from voicing_mcp.messages import refusal
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


# The scope is a column, indexed with the time (the hour's count) and with the number and the time (the rules of
# one number): each check is one index range, whatever the ledger holds outside it. A ledger with no scope (opened
# without an environment) counts every row: its queries have no scope term at all (a ``%(scope)s IS NULL OR``
# term would leave a generic prepared plan off the index).
def _in_scope(scoped: bool) -> LiteralString:
    return "scope = %(scope)s AND " if scoped else ""


def _unknown(scoped: bool) -> LiteralString:
    return (
        f"SELECT * FROM dials WHERE {_in_scope(scoped)}phone_e164 = %(phone)s AND resolved_at IS NULL "
        "AND (status = 'unknown' OR (status = 'pending' AND created_ts < %(stale)s)) ORDER BY id DESC LIMIT 1"
    )


def count_sql(scoped: bool) -> LiteralString:
    """The hour's count (``scope``, ``since``, ``at_most``, NULL = no limit): an index range on dials_by_scope_time
    (or dials_by_time), read no further than ``at_most`` entries."""
    return (
        f"SELECT COUNT(*) FROM (SELECT 1 FROM dials WHERE {_in_scope(scoped)}created_ts >= %(since)s "
        "LIMIT %(at_most)s) n"
    )


def count_to_sql(scoped: bool) -> LiteralString:
    """The per-number count (``scope``, ``phone``, ``cap_since``, ``cap_at_most``): a range on
    dials_by_scope_number."""
    return (
        f"SELECT COUNT(*) FROM (SELECT 1 FROM dials WHERE {_in_scope(scoped)}phone_e164 = %(phone)s "
        "AND created_ts >= %(cap_since)s AND status != 'failed' AND NOT (resolved_at IS NOT NULL AND call_id IS NULL) "
        "LIMIT %(cap_at_most)s) n"
    )


def dial_times_sql(scoped: bool) -> LiteralString:
    """The dials :func:`count_to_sql` counts, of every number in the array ``numbers`` (``scope``, ``since``), oldest
    first: a range on dials_by_scope_number (or dials_by_number) per number."""
    return (
        f"SELECT phone_e164, created_ts FROM dials WHERE {_in_scope(scoped)}phone_e164 = ANY(%(numbers)s) "
        "AND created_ts >= %(since)s AND status != 'failed' AND NOT (resolved_at IS NOT NULL AND call_id IS NULL) "
        "ORDER BY created_ts"
    )


def _last(scoped: bool) -> LiteralString:
    return (
        f"SELECT * FROM dials WHERE {_in_scope(scoped)}phone_e164 = %(phone)s AND assistant_id = %(assistant)s "
        "AND created_ts >= %(window)s AND status != 'failed' AND NOT (resolved_at IS NOT NULL AND call_id IS NULL) "
        "ORDER BY id DESC LIMIT 1"
    )


def _in_flight(scoped: bool) -> LiteralString:
    return (
        f"SELECT * FROM dials WHERE {_in_scope(scoped)}phone_e164 = %(phone)s AND resolved_at IS NULL "
        "AND status = 'pending' AND assistant_id != %(assistant)s ORDER BY id DESC LIMIT 1"
    )


def _checks(scoped: bool) -> LiteralString:
    """The checks of a claim in one statement (one snapshot); the last is the per-number count."""
    return (
        f"SELECT (SELECT row_to_json(u) FROM ({_unknown(scoped)}) u), ({count_sql(scoped)}), "
        f"(SELECT row_to_json(d) FROM ({_last(scoped)}) d), (SELECT row_to_json(f) FROM ({_in_flight(scoped)}) f), "
        f"({count_to_sql(scoped)})"
    )


_ROW = "SELECT row_to_json(r) FROM campaign_rows r WHERE campaign_id = %(id)s AND position = %(position)s"
_CAMPAIGN = "SELECT row_to_json(c) FROM campaigns c WHERE id = %(id)s"


def _modules() -> tuple[Any, Any]:
    """psycopg and psycopg_pool, or a [ledger] refusal that says how to install them."""
    try:
        import psycopg  # noqa: PLC0415 (only a postgresql:// ledger loads it: SQLite servers start without it)
        import psycopg_pool  # noqa: PLC0415
    except ImportError:
        raise refusal("ledger-driver-missing", install=INSTALL_HINT) from None
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
        #: when this object last pruned expired nonces and approvals (None: not yet)
        self._pruned_at: datetime | None = None
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

    def refusal(self, exc: BaseException, *, cause: str = "database") -> GuardRefusal:
        """The [ledger] refusal for a failure of the database: the URL masked, the driver's error scrubbed."""
        detail = " ".join(str(exc).split()) or "no detail"
        return refusal(
            "ledger-unusable",
            ledger=self.scrub(self.shown),
            error=self.scrub(f"{type(exc).__name__}: {detail}"),
            cause=cause,
            pool_max=POOL_MAX,
            pool_timeout=self._pool_timeout,
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
            raise self.refusal(exc, cause="database-locked") from None
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
        return self.refusal(timeout, cause="pool-busy")

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
            spent = cur.rowcount == 1
            await self._prune_if_due(conn, now)
            return spent

        return await self._run(spend)

    async def prune_expired(self) -> int:
        now = self._clock()
        return await self._run(lambda conn: self._prune(conn, now))

    async def _prune_if_due(self, conn: AsyncConnection[Any], now: datetime) -> None:
        if self._pruned_at is None or now - self._pruned_at >= PRUNE_EVERY:
            await self._prune(conn, now)

    async def _prune(self, conn: AsyncConnection[Any], now: datetime) -> int:
        """Bounded DELETEs of expired nonces and approvals (indexed on expires_ts)."""
        self._pruned_at = now
        params = {"cutoff": (now - PRUNE_GRACE).timestamp(), "batch": PRUNE_BATCH}
        nonces = await conn.execute(
            "DELETE FROM nonces WHERE nonce IN (SELECT nonce FROM nonces WHERE expires_ts < %(cutoff)s "
            "ORDER BY expires_ts LIMIT %(batch)s)",
            params,
        )
        approvals = await conn.execute(
            "DELETE FROM approvals WHERE nonce IN (SELECT nonce FROM approvals WHERE expires_ts < %(cutoff)s "
            "ORDER BY expires_ts LIMIT %(batch)s)",
            params,
        )
        return max(nonces.rowcount, 0) + max(approvals.rowcount, 0)

    # ----- confirm-page approvals: a dial approved through one replica completes on another ----------
    async def record_approval(self, digest: str, nonce: str, *, expires_at: datetime) -> None:
        now = self._clock()

        async def put(conn: AsyncConnection[Any]) -> None:
            await conn.execute(
                "INSERT INTO approvals (nonce, digest, expires_ts) VALUES (%s, %s, %s) ON CONFLICT (nonce) DO NOTHING",
                (nonce, digest, expires_at.timestamp()),
            )
            await self._prune_if_due(conn, now)

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

    async def _scalar(self, sql: LiteralString, params: dict[str, Any]) -> int:
        async def count(conn: AsyncConnection[Any]) -> int:
            cur = await conn.execute(sql, params)
            found = await cur.fetchone()
            return int(found[0]) if found is not None else 0

        return await self._run(count)

    async def count_since(self, since: datetime, *, at_most: int | None = None) -> int:
        scope = self._scope
        params = {"scope": scope, "since": since.timestamp(), "at_most": at_most}
        return await self._scalar(count_sql(scope is not None), params)

    async def count_dials_to(self, phone_e164: str, *, since: datetime, at_most: int | None = None) -> int:
        scope = self._scope
        params = {"scope": scope, "phone": phone_e164, "cap_since": since.timestamp(), "cap_at_most": at_most}
        return await self._scalar(count_to_sql(scope is not None), params)

    async def dial_times(self, numbers: Collection[str], *, since: datetime) -> dict[str, list[datetime]]:
        scope = self._scope
        params = {"scope": scope, "numbers": sorted(set(numbers)), "since": since.timestamp()}

        async def times(conn: AsyncConnection[Any]) -> dict[str, list[datetime]]:
            cur = await conn.execute(dial_times_sql(scope is not None), params)
            found: dict[str, list[datetime]] = {}
            for phone, created in await cur.fetchall():
                found.setdefault(str(phone), []).append(datetime.fromtimestamp(float(created), UTC))
            return found

        return await self._run(times)

    async def last_dial(self, phone_e164: str, assistant_id: str, *, since: datetime) -> DialRow | None:
        scope = self._scope
        params = {"scope": scope, "phone": phone_e164, "assistant": assistant_id, "window": since.timestamp()}
        return await self._one(_last(scope is not None), params)

    async def open_unknown(self, phone_e164: str) -> DialRow | None:
        scope = self._scope
        stale = (self._clock() - PENDING_STALE).timestamp()
        return await self._one(_unknown(scope is not None), {"scope": scope, "phone": phone_e164, "stale": stale})

    async def in_flight(self, phone_e164: str, assistant_id: str) -> DialRow | None:
        scope = self._scope
        params = {"scope": scope, "phone": phone_e164, "assistant": assistant_id}
        return await self._one(_in_flight(scope is not None), params)

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
        self,
        req: OutboundCallRequest,
        *,
        confirmation: DialConfirmation,
        environment: str,
        max_per_hour: int,
        number_cap: tuple[int, timedelta] | None = None,
        campaign: CampaignDial | None = None,
    ) -> int:
        """Re-check unknown outcomes, the rate limit, duplicates and dials in flight (and the per-number cap),
        and commit the intent row, in one transaction under the claim lock. Returns the row id; raises
        GuardRefusal when refused."""
        now = self._clock()
        scope = self._scope
        params = {
            "scope": scope,
            "cap_since": (now - (number_cap[1] if number_cap else timedelta(0))).timestamp(),
            # a count past the cap changes no decision: each stops there (a claim's cost is bounded by the caps)
            "at_most": max_per_hour,
            "cap_at_most": number_cap[0] if number_cap else 0,
            "phone": req.phone_number,
            "assistant": req.assistant_id,
            "stale": (now - PENDING_STALE).timestamp(),
            "since": (now - timedelta(hours=1)).timestamp(),
            "window": (now - DUPLICATE_WINDOW).timestamp(),
        }

        async def claim(conn: AsyncConnection[Any]) -> int:
            async with conn.transaction():
                await conn.execute("SELECT pg_advisory_xact_lock(%s)", (CLAIM_LOCK,))
                if campaign is not None:
                    # the campaign's row shared-locked: a pause or cancel waits for this claim, or this claim
                    # sees it (it takes effect before the next dial)
                    cur = await conn.execute(
                        "SELECT r.state, c.status FROM campaign_rows r JOIN campaigns c ON c.id = r.campaign_id "
                        "WHERE r.campaign_id = %s AND r.position = %s FOR SHARE OF c",
                        (campaign.campaign_id, campaign.position),
                    )
                    link = await cur.fetchone()
                    refused = campaign_refusal(campaign, *(tuple(link) if link is not None else (None, None)))
                    if refused is not None:
                        raise refused
                cur = await conn.execute(_checks(scope is not None), params)
                found = await cur.fetchone()
                assert found is not None
                unknown, count, duplicate, flying, to_number = found
                refusal = first_refusal(
                    row_from(unknown) if unknown else None,
                    int(count),
                    max_per_hour,
                    row_from(duplicate) if duplicate else None,
                    row_from(flying) if flying else None,
                ) or number_cap_refusal(mask_number(req.phone_number), int(to_number), number_cap)
                if refusal is not None:
                    raise refusal
                cur = await conn.execute(
                    "INSERT INTO dials (created_at, created_ts, assistant_id, phone_e164, phone_masked, "
                    "telephony_provider, variable_names, confirmation, environment, scope, status, updated_at, "
                    "campaign_id, campaign_position) "
                    "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, 'pending', %s, %s, %s) RETURNING id",
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
                inserted = await cur.fetchone()
                assert inserted is not None
                dial_id = int(inserted[0])
                if campaign is not None:
                    await conn.execute(
                        "UPDATE campaign_rows SET attempts = attempts + 1, dial_id = %s, updated_ts = %s "
                        "WHERE campaign_id = %s AND position = %s",
                        (dial_id, now.timestamp(), campaign.campaign_id, campaign.position),
                    )
                return dial_id

        return await self._run(claim)

    async def record_outcome(
        self, row_id: int, *, status: Status, call_id: str | None = None, detail: str | None = None
    ) -> None:
        now = self._clock()

        async def update(conn: AsyncConnection[Any]) -> None:
            # one statement: a campaign row's started dial moves its row to in_progress (no-op for a single call)
            await conn.execute(
                "WITH d AS (UPDATE dials SET status = %(status)s, call_id = %(call_id)s, detail = %(detail)s, "
                "updated_at = %(at)s WHERE id = %(id)s RETURNING id, campaign_id, campaign_position) "
                "UPDATE campaign_rows r SET state = 'in_progress', call_id = %(call_id)s, next_attempt_ts = NULL, "
                "worker_id = NULL, lease_ts = NULL, updated_ts = %(now)s FROM d WHERE %(status)s::text = 'started' "
                "AND r.campaign_id = d.campaign_id AND r.position = d.campaign_position AND r.dial_id = d.id "
                "AND r.state = 'dialling'",
                {
                    "status": status,
                    "call_id": call_id,
                    "detail": detail,
                    "at": iso(now),
                    "id": row_id,
                    "now": now.timestamp(),
                },
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

    # ----- campaigns -------------------------------------------------------------------------
    async def _campaign_of(
        self, conn: AsyncConnection[Any], campaign_id: str, *, lock: bool = False
    ) -> Campaign | None:
        sql: LiteralString = _CAMPAIGN + " FOR UPDATE" if lock else _CAMPAIGN
        cur = await conn.execute(sql, {"id": campaign_id})
        found = await cur.fetchone()
        return campaign_from(found[0]) if found is not None else None

    async def create_campaign(self, campaign: NewCampaign, rows: Sequence[NewCampaignRow]) -> Campaign:
        now = self._clock().timestamp()

        async def create(conn: AsyncConnection[Any]) -> Campaign:
            async with conn.transaction():
                cur = await conn.execute(
                    "INSERT INTO campaigns (id, scope, environment, name, assistant_id, telephony_provider, status, "
                    "manifest_sha256, max_attempts, retry_after_minutes, max_concurrent, created_ts, updated_ts, "
                    "settings) VALUES (%s, %s, %s, %s, %s, %s, 'awaiting_approval', %s, %s, %s, %s, %s, %s, %s) "
                    "ON CONFLICT (id) DO NOTHING",
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
                if cur.rowcount != 1:
                    raise CampaignConflict(f"campaign {campaign.id} exists already", reason="exists")
                async with conn.cursor() as copy_cur:
                    async with copy_cur.copy(
                        "COPY campaign_rows (campaign_id, position, phone_e164, phone_masked, input_variables, "
                        "state, exclusion_reason, next_attempt_ts, updated_ts) FROM STDIN"
                    ) as copy:
                        for r in rows:
                            await copy.write_row(
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
                            )
                created = await self._campaign_of(conn, campaign.id)
                assert created is not None
                return created

        return await self._run(create)

    async def get_campaign(self, campaign_id: str) -> Campaign | None:
        return await self._run(lambda conn: self._campaign_of(conn, campaign_id))

    async def list_campaigns(
        self, *, statuses: Collection[CampaignStatus] | None = None, limit: int = 50, offset: int = 0
    ) -> list[Campaign]:
        params = {
            "scope": self._scope,
            "statuses": list(statuses) if statuses is not None else None,
            "limit": limit,
            "offset": offset,
        }

        async def rows(conn: AsyncConnection[Any]) -> list[Campaign]:
            cur = await conn.execute(
                "SELECT row_to_json(c) FROM campaigns c WHERE (%(scope)s::text IS NULL OR scope = %(scope)s) "
                "AND (%(statuses)s::text[] IS NULL OR status = ANY(%(statuses)s::text[])) "
                "ORDER BY created_ts DESC, id DESC LIMIT %(limit)s OFFSET %(offset)s",
                params,
            )
            return [campaign_from(r[0]) for r in await cur.fetchall()]

        return await self._run(rows)

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

        async def approve(conn: AsyncConnection[Any]) -> Campaign:
            async with conn.transaction():
                # the campaign's row lock: two decisions at once take turns, the second finds it decided
                check_approval(await self._campaign_of(conn, campaign_id, lock=True), campaign_id, manifest_sha256)
                cur = await conn.execute(
                    "SELECT position FROM campaign_rows WHERE campaign_id = %s AND state IN ('queued', 'waiting')",
                    (campaign_id,),
                )
                accepted = {int(p[0]) for p in await cur.fetchall()}
                if not ticked <= accepted:
                    raise CampaignConflict(
                        f"campaign {campaign_id}: {len(ticked - accepted)} ticked position(s) are not accepted rows "
                        "of the list; nothing was approved",
                        reason="positions",
                    )
                await conn.execute(
                    "UPDATE campaign_rows SET state = 'removed', next_attempt_ts = NULL, updated_ts = %s "
                    "WHERE campaign_id = %s AND position = ANY(%s)",
                    (now, campaign_id, sorted(accepted - ticked)),
                )
                await conn.execute(
                    "UPDATE campaigns SET status = %s, approved_ts = %s, approval_expires_ts = %s, updated_ts = %s "
                    "WHERE id = %s",
                    (status, now, expires_at.timestamp(), now, campaign_id),
                )
                approved = await self._campaign_of(conn, campaign_id)
                assert approved is not None
                return approved

        return await self._run(approve)

    async def set_campaign_status(
        self, campaign_id: str, status: CampaignStatus, *, reason: str | None = None
    ) -> Campaign:
        now = self._clock().timestamp()

        async def change(conn: AsyncConnection[Any]) -> Campaign:
            async with conn.transaction():
                campaign = await self._campaign_of(conn, campaign_id, lock=True)
                if campaign is None:
                    raise missing(campaign_id)
                check_transition(campaign, status)
                await conn.execute(
                    "UPDATE campaigns SET status = %s, pause_reason = %s, updated_ts = %s WHERE id = %s",
                    (status, reason, now, campaign_id),
                )
                if drops_outcome_log(campaign.status, status):
                    await conn.execute("DELETE FROM campaign_outcomes WHERE campaign_id = %s", (campaign_id,))
                if status in ("cancelled", "declined", "expired"):
                    await conn.execute(
                        "UPDATE campaign_rows SET state = 'cancelled', next_attempt_ts = NULL, updated_ts = %s "
                        "WHERE campaign_id = %s AND state IN ('queued', 'waiting')",
                        (now, campaign_id),
                    )
                changed = await self._campaign_of(conn, campaign_id)
                assert changed is not None
                return changed

        return await self._run(change)

    async def claim_next_rows(
        self, *, worker_id: str, lease: timedelta, limit: int, campaign_id: str | None = None
    ) -> list[CampaignRow]:
        now = self._clock()
        scope = self._scope

        async def claim(conn: AsyncConnection[Any]) -> list[CampaignRow]:
            claimed: list[CampaignRow] = []
            async with conn.transaction():
                # each running campaign's row locked while its slots are counted and filled: claimers of one
                # campaign take turns (max_concurrent holds across replicas); a campaign another replica is
                # filling right now is skipped, not waited for
                cur = await conn.execute(
                    "SELECT id, max_concurrent FROM campaigns WHERE status = 'running' "
                    "AND (%(scope)s::text IS NULL OR scope = %(scope)s) AND (%(id)s::text IS NULL OR id = %(id)s) "
                    "ORDER BY created_ts, id FOR UPDATE SKIP LOCKED",
                    {"scope": scope, "id": campaign_id},
                )
                for cid, max_concurrent in await cur.fetchall():
                    if len(claimed) >= limit:
                        break
                    cur = await conn.execute(
                        "SELECT COUNT(*) FROM campaign_rows WHERE campaign_id = %s "
                        "AND state IN ('dialling', 'in_progress')",
                        (cid,),
                    )
                    active = await cur.fetchone()
                    take = min(int(max_concurrent) - int(active[0] if active else 0), limit - len(claimed))
                    if take <= 0:
                        continue
                    cur = await conn.execute(
                        "WITH due AS (SELECT position FROM campaign_rows WHERE campaign_id = %(id)s "
                        "AND state IN ('queued', 'waiting') AND next_attempt_ts <= %(now)s "
                        "ORDER BY next_attempt_ts LIMIT %(take)s FOR UPDATE SKIP LOCKED), "
                        "done AS (UPDATE campaign_rows r SET state = 'dialling', worker_id = %(worker)s, "
                        "lease_ts = %(until)s, updated_ts = %(now)s FROM due "
                        "WHERE r.campaign_id = %(id)s AND r.position = due.position RETURNING r.*) "
                        "SELECT row_to_json(done) FROM done ORDER BY next_attempt_ts, position",
                        {
                            "id": cid,
                            "now": now.timestamp(),
                            "take": take,
                            "worker": worker_id,
                            "until": (now + lease).timestamp(),
                        },
                    )
                    claimed += [campaign_row_from(r[0]) for r in await cur.fetchall()]
            return claimed

        return await self._run(claim)

    async def renew_leases(self, worker_id: str, *, lease: timedelta) -> int:
        until = (self._clock() + lease).timestamp()

        async def renew(conn: AsyncConnection[Any]) -> int:
            cur = await conn.execute(
                "UPDATE campaign_rows SET lease_ts = %s WHERE state = 'dialling' AND worker_id = %s",
                (until, worker_id),
            )
            return cur.rowcount

        return await self._run(renew)

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

        async def record(conn: AsyncConnection[Any]) -> CampaignRow:
            async with conn.transaction():
                cur = await conn.execute(
                    "SELECT state FROM campaign_rows WHERE campaign_id = %s AND position = %s FOR UPDATE",
                    (campaign_id, position),
                )
                found = await cur.fetchone()
                if found is None:
                    raise missing_row(campaign_id, position)
                check_row_update(campaign_id, position, str(found[0]), state)
                outcome = RowOutcome(position, state, call_id, next_attempt_at, last_outcome)
                await _write_rows(conn, campaign_id, [(str(found[0]), outcome)], now)
                cur = await conn.execute(_ROW, {"id": campaign_id, "position": position})
                row = await cur.fetchone()
                assert row is not None
                return campaign_row_from(row[0])

        return await self._run(record)

    async def record_row_outcomes(self, campaign_id: str, outcomes: Sequence[RowOutcome]) -> list[int]:
        now = self._clock().timestamp()
        wanted = list(outcomes)

        async def record(conn: AsyncConnection[Any]) -> list[int]:
            async with conn.transaction():
                cur = await conn.execute(
                    "SELECT position, state FROM campaign_rows WHERE campaign_id = %s AND position = ANY(%s) "
                    "ORDER BY position FOR UPDATE",
                    (campaign_id, [o.position for o in wanted]),
                )
                current = {int(r[0]): str(r[1]) for r in await cur.fetchall()}
                changes: list[tuple[str, RowOutcome]] = []
                for o in wanted:
                    state = current.get(o.position)
                    if state is None or not row_update_allowed(state, o.state):
                        continue
                    changes.append((state, o))
                    current[o.position] = o.state
                await _write_rows(conn, campaign_id, changes, now)
                return [o.position for _, o in changes]

        if not wanted:
            return []
        return await self._run(record)

    async def campaign_recent_outcomes(self, campaign_id: str, *, limit: int) -> list[str]:
        async def recent(conn: AsyncConnection[Any]) -> list[str]:
            cur = await conn.execute(
                "SELECT outcome FROM campaign_outcomes WHERE campaign_id = %s ORDER BY seq DESC LIMIT %s",
                (campaign_id, limit),
            )
            return [str(r[0]) for r in await cur.fetchall()]

        return await self._run(recent)

    async def mark_interrupted(self) -> list[CampaignRow]:
        now = self._clock().timestamp()
        scope = self._scope

        async def mark(conn: AsyncConnection[Any]) -> list[CampaignRow]:
            cur = await conn.execute(
                "WITH done AS (UPDATE campaign_rows r SET state = 'unknown', last_outcome = 'interrupted', "
                "next_attempt_ts = NULL, worker_id = NULL, lease_ts = NULL, updated_ts = %(now)s "
                "FROM campaigns c WHERE c.id = r.campaign_id AND r.state = 'dialling' AND r.lease_ts < %(now)s "
                "AND (%(scope)s::text IS NULL OR c.scope = %(scope)s) RETURNING r.*) "
                "SELECT row_to_json(done) FROM done ORDER BY campaign_id, position",
                {"now": now, "scope": scope},
            )
            return [campaign_row_from(r[0]) for r in await cur.fetchall()]

        return await self._run(mark)

    async def campaign_row_counts(self, campaign_id: str) -> dict[RowState, int]:
        async def counts(conn: AsyncConnection[Any]) -> dict[RowState, int]:
            cur = await conn.execute(
                "SELECT state, COUNT(*) FROM campaign_rows WHERE campaign_id = %s GROUP BY state", (campaign_id,)
            )
            return {r[0]: int(r[1]) for r in await cur.fetchall()}

        return await self._run(counts)

    async def campaign_rows(
        self, campaign_id: str, *, offset: int = 0, limit: int = 100, states: Collection[RowState] | None = None
    ) -> list[CampaignRow]:
        params = {
            "id": campaign_id,
            "states": list(states) if states is not None else None,
            "limit": limit,
            "offset": offset,
        }

        async def rows(conn: AsyncConnection[Any]) -> list[CampaignRow]:
            cur = await conn.execute(
                "SELECT row_to_json(r) FROM campaign_rows r WHERE campaign_id = %(id)s "
                "AND (%(states)s::text[] IS NULL OR state = ANY(%(states)s::text[])) "
                "ORDER BY position LIMIT %(limit)s OFFSET %(offset)s",
                params,
            )
            return [campaign_row_from(r[0]) for r in await cur.fetchall()]

        return await self._run(rows)

    async def campaign_next_due(self, campaign_id: str) -> datetime | None:
        async def due(conn: AsyncConnection[Any]) -> datetime | None:
            cur = await conn.execute(
                "SELECT MIN(next_attempt_ts) FROM campaign_rows WHERE campaign_id = %s "
                "AND state IN ('queued', 'waiting')",
                (campaign_id,),
            )
            found = await cur.fetchone()
            return when(found[0]) if found is not None else None

        return await self._run(due)

    async def finish_campaign_if_done(self, campaign_id: str) -> Campaign | None:
        now = self._clock().timestamp()

        async def finish(conn: AsyncConnection[Any]) -> Campaign | None:
            async with conn.transaction():
                campaign = await self._campaign_of(conn, campaign_id, lock=True)
                if campaign is None or campaign.status not in ("running", "scheduled"):
                    return None
                cur = await conn.execute(
                    "SELECT 1 FROM campaign_rows WHERE campaign_id = %s "
                    "AND state IN ('queued', 'waiting', 'dialling', 'in_progress') LIMIT 1",
                    (campaign_id,),
                )
                if await cur.fetchone() is not None:
                    return None
                await conn.execute(
                    "UPDATE campaigns SET status = 'completed', updated_ts = %s WHERE id = %s", (now, campaign_id)
                )
                await conn.execute("DELETE FROM campaign_outcomes WHERE campaign_id = %s", (campaign_id,))
                return await self._campaign_of(conn, campaign_id)

        return await self._run(finish)


async def _write_rows(
    conn: AsyncConnection[Any], campaign_id: str, changes: Sequence[tuple[str, RowOutcome]], now: float
) -> None:
    """Rows' new states (each change checked by the caller, from the row's current state), and the outcome log's
    entries of those that are a dial's outcome, in the caller's transaction."""
    if not changes:
        return
    async with conn.cursor() as cur:
        await cur.executemany(
            "UPDATE campaign_rows SET state = %s, call_id = COALESCE(%s, call_id), next_attempt_ts = %s, "
            "last_outcome = COALESCE(%s, last_outcome), exclusion_reason = CASE WHEN %s::text = 'excluded' "
            "THEN COALESCE(%s, exclusion_reason) ELSE exclusion_reason END, worker_id = NULL, lease_ts = NULL, "
            "updated_ts = %s "
            "WHERE campaign_id = %s AND position = %s",
            [row_write_params(campaign_id, o, now) for _, o in changes],
        )
        logged = [(c, o.position, e) for c, o in changes if (e := logged_outcome(c, o.state, o.last_outcome))]
        if logged:
            await cur.executemany(
                "INSERT INTO campaign_outcomes (campaign_id, position, outcome, ts) VALUES (%s, %s, %s, %s)",
                [(campaign_id, position, entry, now) for _, position, entry in logged],
            )


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
