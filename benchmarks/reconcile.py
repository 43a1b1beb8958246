"""10,000-id reconciliation: ``bulk_call_details`` over many ids, via the client and via the MCP tool.

``python -m benchmarks.reconcile [--ids 10000] [--unknown 100] [--repeat 3] [--concurrency 1,4,8]
[--latency-ms 0] [--emulator process|thread]``

The emulator is seeded with ``ids - unknown`` historical calls (``EmulatorConfig(seed_calls=...)``);
the request is every seeded id plus ``unknown`` ids it has never seen, shuffled (fixed seed). Each
run of a configuration is a fresh worker process, so its peak RSS (``resource.getrusage``) is its
own, and the runs go in rounds (every configuration once, then again) so drifting machine load
hits them alike:

* ``client``: :meth:`VoicingClient.bulk_call_details` with ``bulk_concurrency`` 1, 4, 8 …, with a
  progress callback;
* ``mcp``: the ``bulk_call_details`` tool of an in-process server through the SDK's ``Client``
  (2025-11-25 handshake), with a progress callback; the server's client uses its built-in
  ``bulk_concurrency`` (4), which no setting changes.

By default the emulator runs in a separate process (its own interpreter and GIL), so it does not
share the measured event loop; ``--emulator thread`` runs it on a thread inside each worker
(``emulator_in_thread``) instead; the table says which. Before each run the emulator is reset, and
afterwards its request log gives the number of HTTP requests the run made. Each worker first makes
one untimed 100-id call (connection, lazy imports, the SDK's output-schema cache), so the timed
runs are steady-state.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio
import httpx

from voicing_mcp.api.client import VoicingClient

if __package__ in (None, ""):  # run as a file: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._common import (
    BULK_PATH,
    EMULATOR_KEY,
    REPO,
    Stats,
    child_env,
    machine_line,
    peak_rss_mib,
    quiet_logging,
    ratio,
    start_emulator,
    table,
)

if TYPE_CHECKING:
    from mcp import Client

UNKNOWN_PREFIX = "bench-unknown-"


def request_ids(known: list[str], unknown: int) -> list[str]:
    ids = known + [f"{UNKNOWN_PREFIX}{i:05d}" for i in range(unknown)]
    random.Random(0).shuffle(ids)
    return ids


# --------------------------------------------------------------------------- worker (one configuration)


def _helper(base_url: str, method: str, path: str) -> Any:
    response = httpx.request(method, f"{base_url}{path}", timeout=30)
    response.raise_for_status()
    return response.json()


async def _one_run(target: VoicingClient | Client, ids: list[str]) -> dict[str, Any]:
    """One reconciliation: seconds, seconds to the last progress report, progress reports, found, missing."""
    progress = 0
    last_progress = 0.0
    start = time.perf_counter()

    def tick() -> None:
        nonlocal progress, last_progress
        progress += 1
        last_progress = time.perf_counter() - start

    validation: float | None = None
    if isinstance(target, VoicingClient):

        async def on_progress(done: int, total: int) -> None:
            tick()

        start = time.perf_counter()
        result = await target.bulk_call_details(ids, on_progress=on_progress)
        elapsed = time.perf_counter() - start
        found, missing = len(result.calls), len(result.missing)
    else:

        async def on_notification(progress: float, total: float | None, message: str | None) -> None:
            tick()

        start = time.perf_counter()
        tool = await target.call_tool("bulk_call_details", {"call_ids": ids}, progress_callback=on_notification)
        elapsed = time.perf_counter() - start
        if tool.is_error or tool.structured_content is None:
            raise RuntimeError(f"bulk_call_details failed: {str(tool.content)[:500]}")
        data: dict[str, Any] = tool.structured_content
        found, missing = data["found"], data["missing_count"]  # counts over every id; rows are paged (budget)
        # The SDK client checks structuredContent against the tool's output schema inside call_tool;
        # doing it once more, alone, tells how much of the wall time that check is.
        t0 = time.perf_counter()
        await target.session.validate_tool_result("bulk_call_details", tool)
        validation = time.perf_counter() - t0
    return {
        "validation": validation,
        "seconds": elapsed,
        "last_progress": last_progress,
        "progress": progress,
        "found": found,
        "missing": missing,
    }


async def _worker_runs(args: argparse.Namespace, base_url: str, ids: list[str], tmpdir: Path) -> dict[str, Any]:
    runs: list[dict[str, Any]] = []

    rss_before = 0.0

    async def measure(target: VoicingClient | Client) -> None:
        nonlocal rss_before
        await _one_run(target, ids[:100])  # untimed warm-up: connection, lazy imports, schema cache
        rss_before = peak_rss_mib()  # imports done, client or server ready
        for _ in range(args.repeat):
            _helper(base_url, "POST", "/_emulator/reset")
            run = await _one_run(target, ids)
            log = _helper(base_url, "GET", "/_emulator/requests")
            run["requests"] = sum(1 for r in log["requests"] if r.get("path") == BULK_PATH)
            runs.append(run)

    if args.via == "client":
        async with VoicingClient(base_url=base_url, api_key=EMULATOR_KEY, bulk_concurrency=args.concurrency) as api:
            await measure(api)
    else:
        # the MCP SDK and the server only in an MCP worker: a client worker's peak RSS stays the client's
        from mcp import Client  # noqa: PLC0415 (the MCP SDK, MCP workers only: client rows' RSS)

        from voicing_mcp.config import load_settings  # noqa: PLC0415 (pydantic settings, MCP workers only)
        from voicing_mcp.server.app import create_server  # noqa: PLC0415 (the MCP server, MCP workers only)

        settings = load_settings(
            base_url=base_url, api_key=EMULATOR_KEY, env="development", ledger=tmpdir / "ledger.sqlite3"
        )
        async with Client(create_server(settings), mode="legacy") as mcp_client:
            await measure(mcp_client)
    return {"runs": runs, "rss_before_mib": rss_before, "rss_peak_mib": peak_rss_mib()}


def worker(args: argparse.Namespace) -> int:
    quiet_logging()
    with tempfile.TemporaryDirectory(prefix="voicing-bench-") as tmp:
        tmpdir = Path(tmp)
        if args.base_url:
            known = Path(args.ids_file).read_text(encoding="utf-8").split()
            ids = request_ids(known, args.unknown)
            out = anyio.run(_worker_runs, args, args.base_url, ids, tmpdir)
            out["where"] = "process"
        else:
            ids_file = tmpdir / "ids.txt"
            with start_emulator(
                "thread", seed_calls=args.seed_calls, latency_ms=args.latency_ms, ids_file=ids_file
            ) as emu:
                ids = request_ids(ids_file.read_text(encoding="utf-8").split(), args.unknown)
                out = anyio.run(_worker_runs, args, emu.base_url, ids, tmpdir)
            out["where"] = "thread"
    out.update(via=args.via, concurrency=args.concurrency if args.via == "client" else 4, ids=len(ids))
    print(json.dumps(out))
    return 0


# --------------------------------------------------------------------------- orchestrator


def _spawn_worker(extra: list[str]) -> dict[str, Any]:
    cmd = [sys.executable, "-m", "benchmarks.reconcile", "--worker", *extra]
    done = subprocess.run(cmd, cwd=REPO, env=child_env(), capture_output=True, text=True, encoding="utf-8", check=False)
    if done.returncode != 0:
        raise RuntimeError(f"worker {' '.join(extra)} exited {done.returncode}: {done.stderr.strip()[-1500:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


LEGEND = (
    "  median/p95/min s: wall time of one reconciliation; ids/s = ids / median",
    "  lookups s: median time to the last progress report (every chunk fetched); the rest is shaping,",
    "    transferring and (MCP) checking the result",
    "  validate s: the SDK client's output-schema check of the result (jsonschema), timed alone; it is part",
    "    of the MCP wall time, on the caller's side",
    "  requests: bulk HTTP requests the emulator logged in a run; progress: callbacks/notifications per run",
    "  RSS MiB: the worker's peak RSS (getrusage) with client/server ready -> after all its runs",
)


def _merge(outs: list[dict[str, Any]]) -> dict[str, Any]:
    """One configuration's workers (one per round) as one result: all runs, the lowest start and highest peak RSS."""
    merged = dict(outs[0])
    merged["runs"] = [run for out in outs for run in out["runs"]]
    merged["rss_before_mib"] = min(out["rss_before_mib"] for out in outs)
    merged["rss_peak_mib"] = max(out["rss_peak_mib"] for out in outs)
    return merged


def render(results: list[dict[str, Any]], *, latency_ms: float) -> str:
    rows: list[list[str]] = []
    base: float | None = None
    for r in results:
        runs = r["runs"]
        s = Stats.of([run["seconds"] for run in runs])
        lookups = Stats.of([run["last_progress"] for run in runs])
        checks = [run["validation"] for run in runs if run["validation"] is not None]
        if base is None:
            base = s.median
        last = runs[-1]
        rows.append(
            [
                "client" if r["via"] == "client" else "MCP tool (in-process)",
                r["where"],
                str(r["concurrency"]),
                str(r["ids"]),
                str(s.n),
                f"{s.median:.2f}",
                f"{s.p95:.2f}",
                f"{s.min:.2f}",
                f"{lookups.median:.2f}",
                f"{Stats.of(checks).median:.2f}" if checks else "-",
                f"{r['ids'] / s.median:,.0f}",
                str(last["requests"]),
                str(last["progress"]),
                f"{last['found']}/{last['missing']}",
                f"{r['rss_before_mib']:.0f}->{r['rss_peak_mib']:.0f}",
                ratio(s.median, base),
            ]
        )
    return (
        table(
            [
                "via",
                "emulator",
                "conc",
                "ids",
                "runs",
                "median s",
                "p95 s",
                "min s",
                "lookups s",
                "validate s",
                "ids/s",
                "requests",
                "progress",
                "found/missing",
                "RSS MiB",
                "x first row",
            ],
            rows,
            title=f"bulk_call_details reconciliation (emulator latency {latency_ms:g} ms per request)",
        )
        + "\n"
        + "\n".join(LEGEND)
    )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="bulk_call_details over many ids: client vs MCP tool, concurrency 1/4/8.")
    p.add_argument("--ids", type=int, default=10_000, help="ids per request, unknown ones included (default 10000)")
    p.add_argument("--unknown", type=int, default=100, help="of which unknown to the emulator (default 100)")
    p.add_argument("--repeat", type=int, default=3, help="runs per configuration (default 3)")
    p.add_argument("--concurrency", default="1,4,8", help="client bulk_concurrency values (default 1,4,8)")
    p.add_argument("--latency-ms", type=float, default=0.0, help="latency the emulator adds per request (default 0)")
    p.add_argument("--emulator", choices=["process", "thread"], default="process")
    p.add_argument("--no-mcp", action="store_true", help="skip the MCP tool row")
    # worker-only options
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--via", choices=["client", "mcp"], default="client", help=argparse.SUPPRESS)
    p.add_argument("--base-url", default="", help=argparse.SUPPRESS)
    p.add_argument("--ids-file", default="", help=argparse.SUPPRESS)
    p.add_argument("--seed-calls", type=int, default=0, help=argparse.SUPPRESS)
    p.add_argument("--worker-concurrency", dest="concurrency_one", type=int, default=4, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        args.concurrency = args.concurrency_one
        return worker(args)

    if not 0 <= args.unknown < args.ids:
        p.error("--unknown must be at least 0 and less than --ids")
    levels = [int(c) for c in args.concurrency.split(",") if c.strip()]
    seed_calls = args.ids - args.unknown
    common = ["--unknown", str(args.unknown), "--repeat", "1"]
    configs = [["--via", "client", "--worker-concurrency", str(c)] for c in levels]
    if not args.no_mcp:
        configs.append(["--via", "mcp"])
    per_config: list[list[dict[str, Any]]] = [[] for _ in configs]
    with contextlib.ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="voicing-bench-")))
        if args.emulator == "process":
            ids_file = tmp / "ids.txt"
            emu = stack.enter_context(
                start_emulator("process", seed_calls=seed_calls, latency_ms=args.latency_ms, ids_file=ids_file)
            )
            target = ["--base-url", emu.base_url, "--ids-file", str(ids_file)]
        else:
            target = ["--seed-calls", str(seed_calls), "--latency-ms", str(args.latency_ms)]
        for _ in range(args.repeat):  # rounds: drifting machine load hits every configuration alike
            for n, config in enumerate(configs):
                per_config[n].append(_spawn_worker([*config, *common, *target]))
    results = [_merge(outs) for outs in per_config]
    print(machine_line())
    print()
    print(render(results, latency_ms=args.latency_ms))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
