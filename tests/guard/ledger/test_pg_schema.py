"""guard/ledger/pg_schema.py: the PostgreSQL ledger's schema versions and migration, on a throwaway cluster
(skipped without the PostgreSQL binaries, required in CI)."""

from __future__ import annotations

import psycopg
import pytest

from voicing_mcp.errors import GuardRefusal
from voicing_mcp.guard.ledger.pg_schema import (
    CLAIM_LOCK,
    MIGRATE_LOCK,
    MIGRATIONS,
    SCHEMA_VERSION,
    migrate,
    read_schema_version,
)


def test_the_versions_run_one_to_the_schema_version_without_a_gap_and_the_locks_fit_a_bigint() -> None:
    assert sorted(MIGRATIONS) == list(range(1, SCHEMA_VERSION + 1))
    assert all(MIGRATIONS[v] for v in MIGRATIONS)  # no empty version
    assert MIGRATE_LOCK != CLAIM_LOCK and all(0 < k < 2**63 for k in (MIGRATE_LOCK, CLAIM_LOCK))


async def test_a_fresh_database_is_migrated_once_and_a_second_run_applies_nothing(pg_url: str) -> None:
    async with await psycopg.AsyncConnection.connect(pg_url, autocommit=True) as conn:
        assert await read_schema_version(conn) is None  # reading creates nothing
        assert await read_schema_version(conn) is None
        assert await migrate(conn) == SCHEMA_VERSION
        assert await migrate(conn) == SCHEMA_VERSION
        cur = await conn.execute("SELECT version FROM schema_version ORDER BY version")
        assert [row[0] for row in await cur.fetchall()] == list(range(1, SCHEMA_VERSION + 1))
        assert await read_schema_version(conn) == SCHEMA_VERSION


async def test_a_database_migrated_by_a_newer_version_is_refused_and_left_as_it_is(pg_url: str) -> None:
    async with await psycopg.AsyncConnection.connect(pg_url, autocommit=True) as conn:
        await migrate(conn)
        await conn.execute("INSERT INTO schema_version (version) VALUES (%s)", (SCHEMA_VERSION + 1,))
        with pytest.raises(GuardRefusal) as info:
            await migrate(conn)
        assert info.value.reason == "ledger-schema-newer"
        assert info.value.fields == {"found": SCHEMA_VERSION + 1, "known": SCHEMA_VERSION}
        assert await read_schema_version(conn) == SCHEMA_VERSION + 1
