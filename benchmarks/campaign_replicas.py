"""A campaign end to end at emulator speed, its dispatchers in processes of their own: one on an SQLite file, three
replicas on one PostgreSQL database (issue 16).

``python -m benchmarks.campaign_replicas [--rows 10000] [--repeat 1] [--sqlite-workers 1] [--pg-workers 3]
[--postgres URL | --throwaway-postgres] [--no-sqlite]``

The emulator runs in a process of its own (``speed`` 10,000: a call ends within milliseconds of wall time), reached
over loopback HTTP as a remote API (``VOICING_ENV=development``), quiet hours off, the hourly rate cap raised to
1,000,000. For each run: a fresh ledger (an SQLite file in a temp folder, or a fresh PostgreSQL database); the
worker processes start (``python -m benchmarks.campaign_replicas --worker``: the settings from the environment, a
:class:`~voicing_mcp.guard.campaigns.dispatcher.CampaignDispatcher` running its own background loop with
``tick_seconds`` 0.05 by default — the server's is 1 s: at emulator speed a call ends within a tick, so the
interval, not our code, would set the pace —, and a 10 s lease) and say they are ready; then the campaign is
created with ``max_concurrent`` 10 and approved in the ledger (the human's part, not timed) and the clock starts; it
stops when the ledger says ``completed``. Each worker then reports its own CPU time, dials and peak RSS. Checked
after each run: every row ``completed``, as many dial rows in the ledger as rows (each number dialled once).

``--throwaway-postgres`` starts a PostgreSQL cluster in a temp folder (tests/pg_support.py: the distribution's
``initdb``/``pg_ctl``; ``fsync`` and ``synchronous_commit`` off, as the tests run it). Nothing is asserted: the
benchmark measures and prints.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Generator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import anyio

if __package__ in (None, ""):  # run as a file: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._common import EMULATOR_KEY, REPO, child_env, emulator_process, machine_line, quiet_logging, table
from voicing_mcp.config import PACKAGE_PROMPTS_DIR

PAYMENT = "019addcc-b878-7b10-85f1-49f21342f947"
CID = "cmp_bench_replicas"
MANIFEST = "b" * 64
_PREFIXES = ("+1701811", "+1212736", "+1415626", "+1312346")


def numbers(n: int) -> list[str]:
    """``n`` distinct valid US numbers (four area codes; the emulator completes them)."""
    return [f"{_PREFIXES[i % len(_PREFIXES)]}{i // len(_PREFIXES):04d}" for i in range(n)]


# --------------------------------------------------------------------------- a worker process


def worker_main() -> None:
    """One dispatcher process: runs until stdin closes, then prints its CPU seconds, dials and peak RSS (JSON)."""
    from voicing_mcp.api.client import VoicingClient  # noqa: PLC0415
    from voicing_mcp.config import load_settings  # noqa: PLC0415
    from voicing_mcp.guard.campaigns.dispatcher import CampaignDispatcher, TickReport, worker_name  # noqa: PLC0415
    from voicing_mcp.guard.ledger import open_ledger  # noqa: PLC0415
    from voicing_mcp.guard.policy import DialGuard, ledger_environment  # noqa: PLC0415
    from voicing_mcp.guard.templates import TemplateStore  # noqa: PLC0415

    quiet_logging()
    totals = {"dialled": 0, "ticks": 0, "interrupted": 0, "errors": 0}

    class Counting(CampaignDispatcher):
        async def tick(self) -> TickReport:
            report = await super().tick()
            totals["dialled"] += report.dialled
            totals["ticks"] += 1
            totals["interrupted"] += report.interrupted
            totals["errors"] += report.errors
            return report

    async def main() -> None:
        settings = load_settings()
        ledger = open_ledger(settings.resolved_ledger, environment=ledger_environment(settings))
        await ledger.prepare()
        guard = DialGuard(settings, TemplateStore(PACKAGE_PROMPTS_DIR), ledger)
        assert settings.resolved_base_url is not None and settings.api_key is not None
        async with VoicingClient(base_url=settings.resolved_base_url, api_key=settings.api_key) as client:
            dispatcher = Counting(
                guard,
                client,
                worker_id=worker_name(),
                tick_seconds=float(os.environ.get("BENCH_TICK_SECONDS", "0.05")),
                lease=timedelta(seconds=10),
            )
            cpu = time.process_time()
            async with anyio.create_task_group() as tg:
                dispatcher.start(tg)
                print("ready", flush=True)
                await anyio.to_thread.run_sync(sys.stdin.read)  # until the parent closes it
                await dispatcher.aclose()
            cpu = time.process_time() - cpu
        await ledger.aclose()
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(json.dumps({"cpu": cpu, "rss_mib": peak, **totals}), flush=True)

    anyio.run(main)


# --------------------------------------------------------------------------- one run


def worker_env(base_url: str, ledger: str, tick: float) -> dict[str, str]:
    return child_env(
        BENCH_TICK_SECONDS=str(tick),
        VOICING_BASE_URL=base_url,
        VOICING_API_KEY=EMULATOR_KEY,
        VOICING_ENV="development",
        VOICING_LEDGER=ledger,
        VOICING_MAX_CALLS_PER_HOUR="1000000",
        VOICING_QUIET_HOURS="off",
        VOICING_PROMPTS_DIR=str(PACKAGE_PROMPTS_DIR),
        VOICING_LOG_LEVEL="warning",
    )


async def run(base_url: str, ledger_setting: str, workers: int, n: int, tick: float) -> dict[str, Any]:
    from pydantic import SecretStr  # noqa: PLC0415

    from voicing_mcp.config import load_settings  # noqa: PLC0415
    from voicing_mcp.guard.ledger import NewCampaign, NewCampaignRow, open_ledger  # noqa: PLC0415
    from voicing_mcp.guard.policy import ledger_environment  # noqa: PLC0415

    settings = load_settings(base_url=base_url, api_key=EMULATOR_KEY, env="development")
    env = ledger_environment(settings)
    target: Path | SecretStr = SecretStr(ledger_setting) if "://" in ledger_setting else Path(ledger_setting)
    ledger = open_ledger(target, environment=env)
    await ledger.prepare()
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "benchmarks.campaign_replicas", "--worker"],
            cwd=REPO,
            env=worker_env(base_url, ledger_setting, tick),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(workers)
    ]
    try:
        for p in procs:
            assert p.stdout is not None
            if p.stdout.readline().strip() != "ready":
                raise RuntimeError(f"a worker did not start (exit {p.poll()})")
        await ledger.create_campaign(
            NewCampaign(
                id=CID,
                environment=env,
                assistant_id=PAYMENT,
                telephony_provider="default",
                manifest_sha256=MANIFEST,
                max_concurrent=10,
            ),
            [
                NewCampaignRow(position=i, phone_e164=p, input_variables={"name": f"Customer {i}", "plan_type": "Gold"})
                for i, p in enumerate(numbers(n), 1)
            ],
        )
        await ledger.approve_campaign(
            CID,
            manifest_sha256=MANIFEST,
            ticked_positions=range(1, n + 1),
            expires_at=datetime.now(UTC) + timedelta(hours=24),
        )
        start = time.perf_counter()
        while (c := await ledger.get_campaign(CID)) is None or c.status not in ("completed", "paused", "cancelled"):
            await anyio.sleep(0.1)
        wall = time.perf_counter() - start
        status = c.status
        counts = {str(k): v for k, v in (await ledger.campaign_row_counts(CID)).items()}
        dial_rows = await ledger.count_since(datetime(2000, 1, 1, tzinfo=UTC))
    finally:
        reports: list[dict[str, Any]] = []
        for p in procs:
            assert p.stdin is not None and p.stdout is not None
            p.stdin.close()
        for p in procs:
            assert p.stdout is not None
            lines = p.stdout.read().strip().splitlines()
            p.wait(timeout=60)
            if lines:
                reports.append(json.loads(lines[-1]))
        await ledger.aclose()
    cpu = sum(r["cpu"] for r in reports)
    dialled = sum(r["dialled"] for r in reports)
    return {
        "wall": wall,
        "status": status,
        "counts": counts,
        "dial_rows": dial_rows,
        "cpu": cpu,
        "dialled": dialled,
        "per_worker": [r["dialled"] for r in reports],
        "rss": max((r["rss_mib"] for r in reports), default=0.0),
        "ticks": sum(r["ticks"] for r in reports),
        "errors": sum(r["errors"] for r in reports),
    }


@contextlib.contextmanager
def throwaway_postgres() -> Generator[Any]:
    """A PostgreSQL cluster in a temp folder (tests/pg_support.py); yields it (``create_database()`` per run)."""
    sys.path.insert(0, str(REPO / "tests"))
    import pg_support  # noqa: PLC0415 (the tests' helper; only for --throwaway-postgres)

    cluster = pg_support.start_cluster()
    try:
        yield cluster
    finally:
        pg_support.remove_cluster(cluster)


def row_for(name: str, runs: list[dict[str, Any]], n: int) -> list[str]:
    walls = [r["wall"] for r in runs]
    per_dial = [r["cpu"] / max(r["dialled"], 1) for r in runs]
    last = runs[-1]
    return [
        name,
        str(len(runs)),
        f"{statistics.median(walls):.1f} s",
        f"{n / statistics.median(walls):,.0f}",
        f"{statistics.median(per_dial) * 1000:.2f} ms",
        f"{max(r['rss'] for r in runs):.0f} MiB",
        f"{last['status']}, {last['counts']}, {last['dial_rows']:,} dial rows, dials by worker {last['per_worker']}",
    ]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--rows", type=int, default=10_000)
    p.add_argument("--repeat", type=int, default=1)
    p.add_argument("--sqlite-workers", type=int, default=1)
    p.add_argument("--pg-workers", type=int, default=3)
    p.add_argument("--no-sqlite", action="store_true")
    p.add_argument("--tick-seconds", type=float, default=0.05, help="each dispatcher's tick interval (server: 1 s)")
    p.add_argument("--postgres", help="a postgresql:// URL of an empty database (one run: the campaign's id is fixed)")
    p.add_argument("--throwaway-postgres", action="store_true", help="start a PostgreSQL cluster in a temp folder")
    args = p.parse_args(argv)
    if args.worker:
        worker_main()
        return 0
    quiet_logging()
    print(machine_line(), flush=True)
    out: list[list[str]] = []
    with emulator_process(seed_calls=0, speed=10_000.0) as emu, contextlib.ExitStack() as stack:
        if not args.no_sqlite:
            runs: list[dict[str, Any]] = []
            for _ in range(args.repeat):
                with tempfile.TemporaryDirectory() as tmp:
                    path = str(Path(tmp) / "ledger.sqlite3")
                    runs.append(anyio.run(run, emu.base_url, path, args.sqlite_workers, args.rows, args.tick_seconds))
                print(f"  sqlite: {runs[-1]['wall']:.1f} s", file=sys.stderr, flush=True)
            out.append(row_for(f"SQLite, {args.sqlite_workers} process(es) on one file", runs, args.rows))
        cluster = stack.enter_context(throwaway_postgres()) if args.throwaway_postgres else None
        if cluster is not None or args.postgres:
            runs = []
            for _ in range(args.repeat):
                url = cluster.create_database() if cluster is not None else args.postgres
                runs.append(anyio.run(run, emu.base_url, url, args.pg_workers, args.rows, args.tick_seconds))
                if cluster is not None:
                    cluster.drop_database(url)
                print(f"  postgresql: {runs[-1]['wall']:.1f} s", file=sys.stderr, flush=True)
            out.append(row_for(f"PostgreSQL, {args.pg_workers} replicas on one database", runs, args.rows))
    print(
        table(
            ["ledger", "runs", "wall (median)", "rows/s", "CPU a dial", "peak RSS", "last run"],
            out,
            title=f"A {args.rows:,}-row campaign end to end, max_concurrent 10, dispatchers in processes of their own, "
            f"a tick every {args.tick_seconds} s",
        )
    )
    print("  CPU a dial: the workers' own CPU time (dispatcher, guard, ledger client, httpx) / dials; the emulator and")
    print("    PostgreSQL run in processes of their own. Peak RSS: the largest worker's (getrusage).")
    print(f"load average {', '.join(f'{x:.2f}' for x in os.getloadavg())} at the end", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
