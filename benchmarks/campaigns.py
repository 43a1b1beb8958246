"""Campaigns (issue 16): prepare_campaign, the approval page, the dispatcher's own cost per dial, a campaign end to
end, the claim cost with a full rate window, and peak RSS.

``python -m benchmarks.campaigns [--rows 1000,10000] [--page-rows 10000] [--campaign-rows 1000] [--repeat 3]
[--claim-sizes 100 100000] [--profile]``  (``--campaign-rows 10000`` for the 10,000-row campaign)

Everything talks to the built-in emulator in a process of its own over loopback HTTP (``speed`` 10,000: a call
ends within milliseconds of wall time), as a remote API (``VOICING_ENV=development``: local mode only accepts the
fictional 555-01xx numbers, too few for 10,000 distinct rows), quiet hours off, the rate cap raised to 1,000,000 an
hour, a fresh SQLite ledger per run. Nothing is asserted: the benchmark measures and prints.

1. **prepare** — ``prepare_campaign`` with ``recipients`` inline, through the SDK's in-process ``Client`` (2025-11-25
   handshake), token mode (``VOICING_CONFIRMATION=token``: no page), wall time of the tool call as the client sees
   it (the JSON-RPC framing and the client's output-schema check included), the process's cache of parsed numbers
   emptied before each run (a new list; the same list again plans faster), and the process's CPU time for the call
   (client and server both run here and nothing reaches the emulator: on a shared machine it is what a quiet one's
   wall time would be). Goal ≤ 2 s at 10,000 rows.
2. **page** — human mode: ``$BROWSER`` is a recorder (as tests/server/tools/test_prepare_campaign.py does), the tool
   returns at once (``wait_seconds`` 0), then the page's first ``GET`` over loopback (page 1 of 50 at 10,000 rows).
   Goal ≤ 1 s.
3. **dispatcher** — a campaign prepared and started with its token in one session (the server's own dispatcher held
   back), then dialled by a :class:`CampaignDispatcher` in this process (``tick`` in a loop, as the server's loop
   does when woken; a 5 ms pause only when a tick found nothing to do) until it completes, ``max_concurrent`` 10.
   Per dial: this process's CPU time (our code, httpx, sqlite3: the emulator runs elsewhere — an upper bound of
   "our code"; goal ≤ 5 ms), the time awaited in the ledger (summed over the concurrent dials, so it can exceed
   the wall time) and in the API client.
4. **campaign** — the same run's wall time and rows/s.
5. **claim** — ``benchmarks/ledger_claim.py`` (SQLite) at 100 and 100,000 dials in the rate window, run as is.
6. **peak RSS** — ``getrusage`` of this process after each part (client, server and dispatcher in one process).
"""

from __future__ import annotations

import argparse
import cProfile
import functools
import inspect
import io
import logging
import os
import pstats
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import anyio
import httpx

if __package__ in (None, ""):  # run as a file: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from mcp import Client
from mcp.server.mcpserver import Context

from benchmarks._common import (
    EMULATOR_KEY,
    REPO,
    child_env,
    emulator_process,
    machine_line,
    peak_rss_mib,
    quiet_logging,
    table,
)
from voicing_mcp.api.client import VoicingClient
from voicing_mcp.api.models import OutboundCallRequest
from voicing_mcp.config import PACKAGE_PROMPTS_DIR, Settings, load_settings
from voicing_mcp.guard.campaigns import forget_parsed_numbers
from voicing_mcp.guard.campaigns.dispatcher import CampaignDispatcher
from voicing_mcp.guard.ledger import Ledger
from voicing_mcp.runtime import open_guard, template_store
from voicing_mcp.server import context as server_context_module
from voicing_mcp.server.app import create_server
from voicing_mcp.server.context import ServerContext, server_context
from voicing_mcp.server.tools.prepare_campaign import start_with_token

PAYMENT = "019addcc-b878-7b10-85f1-49f21342f947"
_PREFIXES = ("+1701811", "+1212736", "+1415626", "+1312346")


def rows(n: int) -> list[dict[str, Any]]:
    """``n`` distinct valid US numbers (four area codes), each with the payment template's variables."""
    return [
        {
            "phone_number": f"{_PREFIXES[i % len(_PREFIXES)]}{i // len(_PREFIXES):04d}",
            "input_variables": {"name": f"Customer {i}", "plan_type": "Gold"},
        }
        for i in range(n)
    ]


def settings_for(base_url: str, folder: Path, confirmation: str) -> Settings:
    return load_settings(
        base_url=base_url,
        api_key=EMULATOR_KEY,
        env="development",
        confirmation=confirmation,
        quiet_hours="off",
        max_calls_per_hour=1_000_000,
        ledger=folder / "ledger.sqlite3",
        campaigns_dir=folder / "campaigns",
        prompts_dir=PACKAGE_PROMPTS_DIR,
    )


def recorder(folder: Path) -> tuple[Path, Path]:
    """A ``$BROWSER`` command that records the URL it was given (and opens nothing)."""
    log = folder / "browser.log"
    script = folder / "browser-recorder"
    script.write_text(
        f"#!{sys.executable}\nimport sys\nwith open({str(log)!r}, 'a') as f:\n    f.write(sys.argv[1] + '\\n')\n",
        encoding="utf-8",
    )
    script.chmod(0o755)
    return script, log


async def recorded_url(log: Path) -> str:
    with anyio.fail_after(60):
        while not log.exists() or not log.read_text(encoding="utf-8").strip():
            await anyio.sleep(0.01)
    return log.read_text(encoding="utf-8").split()[0]


def structured(result: Any) -> dict[str, Any]:
    data = result.structured_content
    if result.is_error or not isinstance(data, dict):
        text = " ".join(getattr(b, "text", "") for b in result.content)
        raise RuntimeError(f"prepare_campaign failed: {text[:500]}")
    return dict(data)  # pyright: ignore[reportUnknownArgumentType]


async def prepare(client: Client, recipients: list[dict[str, Any]], **extra: Any) -> tuple[float, dict[str, Any]]:
    arguments: dict[str, Any] = {"assistant_id": PAYMENT, "recipients": recipients, "wait_seconds": 0, **extra}
    forget_parsed_numbers()  # every run cold: the process's cache of parsed numbers emptied (a new list)
    start = time.perf_counter()
    result = await client.call_tool("prepare_campaign", arguments)
    took = time.perf_counter() - start
    return took, structured(result)


# --------------------------------------------------------------------------- 1. prepare, 2. the page


async def prepare_token(base_url: str, n: int, tmp: Path) -> tuple[float, float]:
    """(wall s, this process's CPU s) of one prepare_campaign in token mode: client and server are both here, and
    nothing reaches the emulator, so the CPU time is the call's whole cost — what a quiet machine's wall time is."""
    folder = Path(tempfile.mkdtemp(dir=tmp))
    server = create_server(settings_for(base_url, folder, "token"))
    async with Client(server, mode="legacy") as client:
        cpu = time.process_time()
        took, data = await prepare(client, rows(n))
        cpu = time.process_time() - cpu
    if data.get("accepted") != n or not data.get("confirmation_token"):
        raise RuntimeError(f"unexpected prepare result: { {k: data.get(k) for k in ('accepted', 'status')} }")
    return took, cpu


async def page_first_load(base_url: str, n: int, tmp: Path) -> tuple[float, float, int]:
    """(prepare s, the page's first GET s, its size in bytes), human mode."""
    folder = Path(tempfile.mkdtemp(dir=tmp))
    script, log = recorder(folder)
    os.environ["BROWSER"] = str(script)
    server = create_server(settings_for(base_url, folder, "human"))
    async with Client(server, mode="legacy") as client:
        took, _ = await prepare(client, rows(n))
        url = await recorded_url(log)
        async with httpx.AsyncClient() as http:
            start = time.perf_counter()
            page = await http.get(url)
            first = time.perf_counter() - start
    if page.status_code != 200 or 'name="csrf"' not in page.text:
        raise RuntimeError(f"the page did not load: {page.status_code}")
    return took, first, len(page.content)


# --------------------------------------------------------------------------- 3./4. the dispatcher


class Timers:
    """Seconds awaited in each wrapped coroutine method, and how many calls."""

    def __init__(self) -> None:
        self.totals: dict[str, list[float]] = {}

    def wrap(self, group: str, obj: object, names: list[str] | None = None) -> None:
        for name in names if names is not None else dir(type(obj)):
            if name.startswith("_"):
                continue
            method = getattr(obj, name, None)
            if method is not None and inspect.iscoroutinefunction(method):
                setattr(obj, name, self._timed(group, method))

    def _timed(self, group: str, method: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
        @functools.wraps(method)
        async def wrapper(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return await method(*args, **kwargs)
            finally:
                entry = self.totals.setdefault(group, [0.0, 0.0])
                entry[0] += time.perf_counter() - start
                entry[1] += 1

        return wrapper

    def seconds(self, group: str) -> float:
        return self.totals.get(group, [0.0, 0.0])[0]


async def approved_campaign(settings: Settings, n: int) -> str:
    """A campaign of ``n`` rows prepared and started with its token through an MCP session; its id."""
    server = create_server(settings)

    async def start_campaign_with_token(campaign_id: str, token: str, ctx: Context[ServerContext, Any]) -> str:
        await start_with_token(server_context(ctx), campaign_id, token)
        return "started"

    server.add_tool(start_campaign_with_token)
    async with Client(server, mode="legacy") as client:
        _, data = await prepare(client, rows(n), max_concurrent=10)
        started = await client.call_tool(
            "start_campaign_with_token", {"campaign_id": data["campaign_id"], "token": data["confirmation_token"]}
        )
        if started.is_error:
            raise RuntimeError("the campaign did not start")
    return str(data["campaign_id"])


async def client_baseline(base_url: str, n: int, concurrency: int = 10) -> float:
    """The API client's own CPU a dial (seconds), for the same traffic the dispatcher makes: ``n`` dials, POSTed
    ``concurrency`` at a time, and one bulk read of each batch's calls (as a tick reads its calls in progress),
    through a :class:`VoicingClient` alone (httpx, the client's retries and parsing; no guard, no ledger). The
    dispatcher's CPU minus this is the CPU of the dispatcher, the guard and the ledger: "our code" per dial."""
    numbers = [r["phone_number"] for r in rows(n)]
    async with VoicingClient(base_url=base_url, api_key=EMULATOR_KEY) as client:
        cpu = time.process_time()
        for i in range(0, n, concurrency):
            ids: list[str] = []

            async def dial(number: str, ids: list[str] = ids) -> None:
                req = OutboundCallRequest(
                    assistant_id=PAYMENT,
                    phone_number=number,
                    input_variables={"name": "Customer", "plan_type": "Gold"},
                )
                ids.append((await client.initiate_outbound_call(req)).call_id or "")

            async with anyio.create_task_group() as tg:
                for number in numbers[i : i + concurrency]:
                    tg.start_soon(dial, number)
            await client.bulk_call_details(ids)
        return (time.process_time() - cpu) / max(n, 1)


async def run_campaign(base_url: str, n: int, tmp: Path, profile: cProfile.Profile | None) -> dict[str, Any]:
    folder = Path(tempfile.mkdtemp(dir=tmp))
    settings = settings_for(base_url, folder, "token")
    campaign_id = await approved_campaign(settings, n)
    timers = Timers()
    async with AsyncExitStack() as stack:
        guard = open_guard(settings, template_store(settings), stack)
        assert settings.base_url is not None and settings.api_key is not None
        client = await stack.enter_async_context(VoicingClient(base_url=settings.base_url, api_key=settings.api_key))
        timers.wrap("ledger", guard.ledger)
        ledger_cpu = [0.0]
        if isinstance(guard.ledger, Ledger):  # SQLite: its statements run in worker threads; their CPU time
            run_in_thread = guard.ledger._run  # pyright: ignore[reportPrivateUsage]

            def cpu_timed(fn: Callable[[sqlite3.Connection], object]) -> object:
                cpu = time.thread_time()
                try:
                    return run_in_thread(fn)
                finally:
                    ledger_cpu[0] += time.thread_time() - cpu

            guard.ledger._run = cpu_timed  # type: ignore[method-assign]  # pyright: ignore[reportPrivateUsage, reportAttributeAccessIssue]
        timers.wrap("api", client, ["initiate_outbound_call", "bulk_call_details"])
        dispatcher = CampaignDispatcher(guard, client, worker_id="bench:campaigns")
        ticks = dialled = 0
        status = "running"
        if profile is not None:
            profile.enable()
        cpu = time.process_time()
        start = time.perf_counter()
        while status == "running":
            report = await dispatcher.tick()
            ticks += 1
            dialled += report.dialled
            if campaign_id in report.completed:
                status = "completed"
            elif campaign_id in report.paused or report.errors:
                status = "stopped"
            elif not report.claimed and not report.outcomes:
                await anyio.sleep(0.005)
        wall = time.perf_counter() - start
        cpu = time.process_time() - cpu
        if profile is not None:
            profile.disable()
        counts = {str(k): v for k, v in (await guard.ledger.campaign_row_counts(campaign_id)).items()}
    return {
        "wall": wall,
        "cpu": cpu,
        "ledger": timers.seconds("ledger"),
        "ledger_cpu": ledger_cpu[0],
        "ledger_calls": int(timers.totals.get("ledger", [0, 0])[1]),
        "api": timers.seconds("api"),
        "dialled": dialled,
        "ticks": ticks,
        "status": status,
        "counts": counts,
    }


# --------------------------------------------------------------------------- the table


def med(values: list[float]) -> float:
    return statistics.median(values)


def load_line() -> str:
    return "load average " + ", ".join(f"{x:.2f}" for x in os.getloadavg()) + f" on {os.cpu_count()} cores"


async def main_async(args: argparse.Namespace) -> None:
    quiet_logging()
    logging.getLogger("voicing_mcp.server.app").setLevel(logging.ERROR)  # the token-mode and prompts warnings
    server_context_module.DISPATCHER_START_DELAY = 10**6  # the server's own dispatcher never starts here
    print(machine_line())
    print(f"before: {load_line()}", flush=True)
    out: list[list[str]] = []
    rss: list[tuple[str, float]] = [("ready", peak_rss_mib())]
    # CPU time, not wall time: on a loaded machine a profile in wall time is mostly other processes' turns
    profile = cProfile.Profile(time.process_time) if args.profile else None
    with emulator_process(seed_calls=0, speed=10_000.0) as emu, tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        await prepare_token(emu.base_url, 10, tmp)  # warm-up: imports, phonenumbers' metadata, templates
        for n in args.rows:
            runs = [await prepare_token(emu.base_url, n, tmp) for _ in range(args.repeat)]
            took = [wall for wall, _ in runs]
            out.append(
                [
                    f"prepare_campaign, token mode, {n:,} rows",
                    str(args.repeat),
                    f"{med(took):.2f} s",
                    f"{min(took):.2f} s",
                    f"{n / med(took):,.0f} rows/s; CPU {med([cpu for _, cpu in runs]):.2f} s",
                    "<= 2 s (10,000)",
                ]
            )
            print(f"  {out[-1][0]}: {out[-1][2]}", file=sys.stderr, flush=True)
            rss.append((f"after prepare {n:,}", peak_rss_mib()))
        if args.page_rows:
            runs = [await page_first_load(emu.base_url, args.page_rows, tmp) for _ in range(args.repeat)]
            firsts = [r[1] for r in runs]
            out.append(
                [
                    f"approval page first GET, {args.page_rows:,} rows",
                    str(args.repeat),
                    f"{med(firsts) * 1000:.0f} ms",
                    f"{min(firsts) * 1000:.0f} ms",
                    f"{runs[0][2] / 1024:,.0f} KiB page",
                    "<= 1 s",
                ]
            )
            out.append(
                [
                    f"prepare_campaign before it, human mode, {args.page_rows:,} rows",
                    str(args.repeat),
                    f"{med([r[0] for r in runs]):.2f} s",
                    f"{min(r[0] for r in runs):.2f} s",
                    "",
                    "",
                ]
            )
            rss.append((f"after page {args.page_rows:,}", peak_rss_mib()))
        n = args.campaign_rows
        runs2: list[dict[str, Any]] = []
        baseline: list[float] = []
        for _ in range(args.campaign_repeat):  # interleaved: both see the same load
            runs2.append(await run_campaign(emu.base_url, n, tmp, profile))
            baseline.append(await client_baseline(emu.base_url, min(n, 2000)))
        rss.append((f"after campaign {n:,}", peak_rss_mib()))
    per_dial = [r["cpu"] / max(r["dialled"], 1) for r in runs2]
    ledger_per = [r["ledger"] / max(r["dialled"], 1) for r in runs2]
    api_per = [r["api"] / max(r["dialled"], 1) for r in runs2]
    ledger_cpu_per = [r["ledger_cpu"] / max(r["dialled"], 1) for r in runs2]
    ours = [total - client for total, client in zip(per_dial, baseline, strict=True)]
    calls_per = [r["ledger_calls"] / max(r["dialled"], 1) for r in runs2]
    walls = [r["wall"] for r in runs2]
    out.append(
        [
            f"dispatcher CPU per dial, whole process, {n:,} rows",
            str(len(runs2)),
            f"{med(per_dial) * 1000:.2f} ms",
            f"{min(per_dial) * 1000:.2f} ms",
            f"of it the API client alone {med(baseline) * 1000:.2f} ms; awaited: ledger "
            f"{med(ledger_per) * 1000:.1f} ms, API {med(api_per) * 1000:.1f} ms",
            "",
        ]
    )
    out.append(
        [
            f"our code per dial (dispatcher, guard, ledger), {n:,} rows",
            str(len(runs2)),
            f"{med(ours) * 1000:.2f} ms",
            f"{min(ours) * 1000:.2f} ms",
            f"ledger: SQLite {med(ledger_cpu_per) * 1000:.2f} ms ({med(ledger_cpu_per) / med(ours):.0%}), "
            f"{med(calls_per):.1f} calls a dial",
            "<= 5 ms",
        ]
    )
    out.append(
        [
            f"campaign end to end, {n:,} rows, SQLite",
            str(len(runs2)),
            f"{med(walls):.2f} s",
            f"{min(walls):.2f} s",
            f"{n / med(walls):,.0f} rows/s",
            "",
        ]
    )
    print()
    print(
        table(
            ["measure", "runs", "median", "min", "also", "goal"],
            out,
            title="Campaigns against the emulator (separate process, loopback HTTP), SQLite ledger",
        )
    )
    last = runs2[-1]
    print(
        f"  last campaign: {last['status']}, rows {last['counts']}, {last['dialled']} dials in {last['ticks']} ticks, "
        f"{last['ledger_calls']} ledger calls ({last['ledger_calls'] / max(last['dialled'], 1):.1f} a dial)"
    )
    print("  the API client alone: the same POSTs (10 at a time) and bulk reads through a VoicingClient, no guard or")
    print("    ledger (up to 2,000 dials); our code = the whole process's CPU per dial minus it")
    print("  CPU per dial: this process's CPU time during the run / dials (dispatcher, guard, ledger, httpx;")
    print("    the emulator runs in another process); of it SQLite: the CPU time of the ledger's statements in")
    print("    its worker threads; awaited: wall time in the ledger's / API client's methods, summed over the")
    print("    concurrent dials (so it can exceed the run's wall time)")
    print(
        "  peak RSS MiB (getrusage, this process: client, server, dispatcher): "
        + ", ".join(f"{k} {v:.0f}" for k, v in rss)
    )
    print(f"after: {load_line()}", flush=True)
    if profile is not None:
        buf = io.StringIO()
        pstats.Stats(profile, stream=buf).sort_stats("cumulative").print_stats(25)
        print("\ncProfile of the dispatcher runs (cumulative, top 25):")
        print(buf.getvalue())
        buf = io.StringIO()
        pstats.Stats(profile, stream=buf).sort_stats("tottime").print_stats(10)
        print("cProfile of the dispatcher runs (own time, top 10):")
        print(buf.getvalue())


def claim_cost(sizes: list[int], samples: int) -> int:
    """5. the claim cost: benchmarks/ledger_claim.py (SQLite), as is."""
    print(f"\n=== claim cost: ledger_claim.py --sizes {' '.join(map(str, sizes))} --samples {samples}", flush=True)
    cmd = [sys.executable, str(REPO / "benchmarks" / "ledger_claim.py"), "--sizes", *map(str, sizes)]
    return subprocess.run([*cmd, "--samples", str(samples)], cwd=REPO, env=child_env(), check=False).returncode


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--rows", type=lambda s: [int(x) for x in s.split(",")], default=[1000, 10_000])
    p.add_argument("--page-rows", type=int, default=10_000, help="0: skip the page")
    p.add_argument("--campaign-rows", type=int, default=1000)
    p.add_argument("--repeat", type=int, default=3, help="runs of prepare and of the page")
    p.add_argument("--campaign-repeat", type=int, default=1, help="runs of the campaign")
    p.add_argument("--claim-sizes", type=int, nargs="*", default=[100, 100_000], help="none: skip the claim cost")
    p.add_argument("--claim-samples", type=int, default=15)
    p.add_argument("--profile", action="store_true", help="cProfile the dispatcher runs, print the top functions")
    args = p.parse_args(argv)
    anyio.run(main_async, args)
    if args.claim_sizes:
        return claim_cost(args.claim_sizes, args.claim_samples)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
