"""The ledger's rate count and claims at 100 vs 100,000 dials in the hour's window, on SQLite and PostgreSQL.

Issue 16: a campaign puts thousands of dials in the rate window, and a claim's cost must not grow with the ledger.
The scope is a stored, indexed column (it was computed per row by a Python function, twice per dial), so:

- dials of *other* scopes in the window (rehearsals on the emulator, another API) cost nothing: the count reads
  the scope's own index range;
- dials of the *same* scope: a plain count reads each of them (an index-only range, no per-row work), a count
  capped at the rule's maximum (what ``claim_dial`` does: ``max_per_hour``, ``number_cap``) reads at most that
  many entries.

Rows (median of ``--samples`` runs, milliseconds), for each backend and window size:
``count_since`` (uncapped, as ``policy`` calls it today), ``count_since(at_most=30)``, ``claim_dial`` refused at a
cap of 30, ``claim_dial`` admitted (cap above the window: it counts everything), and ``claim_next_rows`` of one row
of a running campaign of that many rows followed by ``record_row_outcome`` (two commits). SQLite also shows the
count as it was (``voicing_scope(environment)`` per row). Nothing is asserted: the benchmark measures and prints.

Measured 2026-12-07 on 2 shared cores (load ~7), 15 runs, ms, 100 -> 100,000 dials in the window: SQLite's old
count 0.07 -> 173 (same scope) / 272 (other scope); now other scope 0.24 -> 0.21, same scope capped at 30
0.17 -> 0.20, uncapped 0.20 -> 17.7; claim_dial refused at 30: 0.27 -> 0.33. PostgreSQL: other scope 2.2 -> 3.0,
capped 0.65 -> 1.08, uncapped 0.84 -> 58; claim_next_rows + outcome flat on both (SQLite 6.6 -> 12.5 is fsync noise).

    python benchmarks/ledger_claim.py [--sizes 100 100000] [--samples 30] [--throwaway-postgres]
"""

from __future__ import annotations

import argparse
import contextlib
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import anyio

if __package__ in (None, ""):  # run as a file: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._common import REPO, machine_line, table
from voicing_mcp.api.models import OutboundCallRequest
from voicing_mcp.errors import GuardRefusal
from voicing_mcp.guard.ledger import DialLedger, NewCampaign, NewCampaignRow, open_ledger
from voicing_mcp.guard.scope import scope_key

ENV = "production"
CAP = 30  # VOICING_MAX_CALLS_PER_HOUR's default


def number(i: int) -> str:
    return f"+1701{i:07d}"


async def median_ms(samples: int, fn: Callable[[int], Awaitable[object]]) -> float:
    times: list[float] = []
    for i in range(samples):
        start = time.perf_counter()
        await fn(i)
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def fill_sqlite(path: Path, n: int, scope_env: str) -> None:
    now = time.time()
    with sqlite3.connect(path) as conn:
        conn.executemany(
            "INSERT INTO dials (created_at, created_ts, assistant_id, phone_e164, phone_masked, telephony_provider, "
            "variable_names, confirmation, environment, scope, status, updated_at) "
            "VALUES ('t', ?, 'bulk', ?, 'm', '', '[]', 'token', ?, ?, 'started', 't')",
            ((now - 3000 * (i + 1) / n, number(5_000_000 + i), scope_env, scope_key(scope_env)) for i in range(n)),
        )


def fill_postgres(url: str, n: int, scope_env: str) -> None:
    import psycopg  # noqa: PLC0415 (only with a PostgreSQL ledger)

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO dials (created_at, created_ts, assistant_id, phone_e164, phone_masked, telephony_provider, "
            "variable_names, confirmation, environment, scope, status, updated_at) SELECT 't', "
            "extract(epoch from now()) - 3000.0 * g / %(n)s, 'bulk', '+1705' || lpad(g::text, 7, '0'), 'm', '', "
            "'[]', 'token', %(env)s, %(scope)s, 'started', 't' FROM generate_series(1, %(n)s) g",
            {"n": n, "env": scope_env, "scope": scope_key(scope_env)},
        )
        conn.execute("ANALYZE dials")


def old_count_ms(path: Path, samples: int) -> float:
    """SQLite's count as it was: the scope computed in Python for every row of the window."""
    conn = sqlite3.connect(path)
    conn.create_function("voicing_scope", 1, scope_key, deterministic=True)
    try:
        times: list[float] = []
        for _ in range(samples):
            start = time.perf_counter()
            conn.execute(
                "SELECT COUNT(*) FROM dials WHERE (?1 IS NULL OR voicing_scope(environment) = ?1) AND created_ts >= ?2",
                (scope_key(ENV), time.time() - 3600),
            ).fetchone()
            times.append(time.perf_counter() - start)
    finally:
        conn.close()
    return statistics.median(times) * 1000


async def measure(target: Path | str, n: int, window_env: str, samples: int) -> list[float | None]:
    """One store holding ``n`` dials of ``window_env`` in the window: the medians of the row's columns."""
    from pydantic import SecretStr  # noqa: PLC0415

    ledger: DialLedger = open_ledger(target if isinstance(target, Path) else SecretStr(target), environment=ENV)
    try:
        await ledger.recent()  # the schema exists (and the pool is open)
        if isinstance(target, Path):
            fill_sqlite(target, n, window_env)
        else:
            fill_postgres(target, n, window_env)
        since = datetime.now(UTC) - timedelta(hours=1)
        full = await median_ms(samples, lambda _: ledger.count_since(since))
        capped = await median_ms(samples, lambda _: ledger.count_since(since, at_most=CAP))
        base = OutboundCallRequest(assistant_id="bench", phone_number=number(0))

        async def refused(i: int) -> None:
            with contextlib.suppress(GuardRefusal):
                req = base.model_copy(update={"phone_number": number(1_000_000 + i)})
                await ledger.claim_dial(req, confirmation="token", environment=ENV, max_per_hour=CAP)

        async def admitted(i: int) -> None:
            req = base.model_copy(update={"phone_number": number(2_000_000 + i)})
            await ledger.claim_dial(req, confirmation="token", environment=ENV, max_per_hour=10**9)

        # refused only where the window's dials are this scope's (elsewhere it is admitted under the cap)
        claim_refused = await median_ms(samples, refused) if window_env == ENV else None
        claim_admitted = await median_ms(samples, admitted)
        campaign = f"bench-{n}-{window_env}"
        await ledger.create_campaign(
            NewCampaign(id=campaign, environment=ENV, assistant_id="bench", telephony_provider="", manifest_sha256="m"),
            [NewCampaignRow(position=i, phone_e164=number(3_000_000 + i)) for i in range(1, n + 1)],
        )
        await ledger.approve_campaign(
            campaign, manifest_sha256="m", ticked_positions=range(1, n + 1), expires_at=datetime.now(UTC) + timedelta(1)
        )

        async def claim_row(_: int) -> None:
            [row] = await ledger.claim_next_rows(worker_id="bench", lease=timedelta(minutes=5), limit=1)
            await ledger.record_row_outcome(campaign, row.position, state="completed")

        claim_rows = await median_ms(samples, claim_row)
    finally:
        await ledger.aclose()
    old = old_count_ms(target, samples) if isinstance(target, Path) else None
    return [full, capped, claim_refused, claim_admitted, claim_rows, old]


@contextlib.contextmanager
def throwaway_postgres() -> Iterator[Callable[[], str]]:
    """A PostgreSQL cluster in a temp folder (tests/pg_support.py); yields a maker of fresh databases."""
    sys.path.insert(0, str(REPO / "tests"))
    import pg_support  # noqa: PLC0415 (the tests' helper; only for --throwaway-postgres)

    cluster = pg_support.start_cluster()
    try:
        yield cluster.create_database
    finally:
        pg_support.remove_cluster(cluster)


def cell(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def run(args: argparse.Namespace, new_pg: Callable[[], str] | None) -> int:
    rows: list[list[str]] = []
    with tempfile.TemporaryDirectory(prefix="voicing-ledger-bench-") as tmp:
        for backend in ["sqlite"] + (["postgresql"] if new_pg else []):
            for window_env, label in ((ENV, "same"), ("local", "other")):
                for n in args.sizes:
                    if backend == "sqlite":
                        target: Path | str = Path(tmp) / f"{label}-{n}.sqlite3"
                    else:
                        assert new_pg is not None
                        target = new_pg()
                    values = anyio.run(measure, target, n, window_env, args.samples)
                    rows.append([backend, f"{n:,}", label, *(cell(v) for v in values)])
    headers = [
        "backend",
        "dials in window",
        "their scope",
        "count_since",
        f"count at_most={CAP}",
        f"claim_dial refused at {CAP}",
        "claim_dial admitted",
        "claim_next_rows+outcome",
        "old count (per-row scope)",
    ]
    print(table(headers, rows, title=f"ledger claim cost, median of {args.samples} runs, ms"))
    print()
    print(machine_line())
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 100_000])
    parser.add_argument("--samples", type=int, default=30)
    parser.add_argument("--throwaway-postgres", action="store_true", help="also on a throwaway PostgreSQL cluster")
    args = parser.parse_args(argv)
    if args.throwaway_postgres:
        with throwaway_postgres() as new_pg:
            return run(args, new_pg)
    return run(args, None)


if __name__ == "__main__":
    raise SystemExit(main())
