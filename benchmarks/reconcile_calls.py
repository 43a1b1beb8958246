"""``reconcile_calls`` over 10,000 ids against the raw API time (issue 9's target: stdio ≤ 1.5× raw).

``python -m benchmarks.reconcile_calls [--ids 10000] [--unknown 100] [--repeat 5] [--profile FILE]``

The emulator runs in a process of its own, seeded with ``ids - unknown`` historical calls; the request is every
seeded id plus ``unknown`` ids it has never seen, shuffled (fixed seed). Three ways, in rounds (each once, then
again) so drifting machine load hits them alike, the emulator reset before each run:

* ``raw API``: ``httpx.AsyncClient``, requests of 100 ids to the bulk endpoint, 4 at a time, each answer's JSON
  decoded — the floor any tool on top of the API can reach;
* ``reconcile_calls, in-process``: the tool of a server in this process through the SDK's ``Client``
  (2025-11-25 handshake), with a progress callback;
* ``reconcile_calls, stdio``: ``python -m voicing_mcp`` as a subprocess (``VOICING_BASE_URL`` and
  ``VOICING_API_KEY`` pointing at the emulator), the same call over its stdin/stdout.

Each way first makes one untimed 100-id call (connections, lazy imports, schema caches). ``--profile FILE`` also
writes a cProfile of one in-process run (the server and the client share this process) for ``pstats``.
"""

from __future__ import annotations

import argparse
import cProfile
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from functools import partial
from pathlib import Path
from typing import Any

import anyio
import httpx

if __package__ in (None, ""):  # run as a file: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from mcp import Client
from mcp.client.stdio import StdioServerParameters, stdio_client

from benchmarks._common import (
    BULK_PATH,
    EMULATOR_KEY,
    REPO,
    Stats,
    child_env,
    machine_line,
    quiet_logging,
    ratio,
    start_emulator,
    table,
)
from benchmarks.reconcile import request_ids
from voicing_mcp.config import load_settings
from voicing_mcp.server.app import create_server

CHUNK = 100
CONCURRENCY = 4
RunFn = Callable[[list[str]], Awaitable[tuple[int, int, int]]]
"""One reconciliation of the ids: (found, missing, progress reports)."""


def _raw(http: httpx.AsyncClient) -> RunFn:
    async def run(ids: list[str]) -> tuple[int, int, int]:
        chunks = [ids[i : i + CHUNK] for i in range(0, len(ids), CHUNK)]
        limiter = anyio.CapacityLimiter(CONCURRENCY)
        found = 0

        async def one(chunk: list[str]) -> None:
            nonlocal found
            async with limiter:
                response = await http.post(BULK_PATH, json={"call_ids": chunk})
                response.raise_for_status()
                found += len(response.json()["data"])

        async with anyio.create_task_group() as tg:
            for chunk in chunks:
                tg.start_soon(one, chunk)
        return found, len(ids) - found, len(chunks)

    return run


def _tool(client: Client) -> RunFn:
    async def run(ids: list[str]) -> tuple[int, int, int]:
        progress = 0

        async def on_progress(done: float, total: float | None, message: str | None) -> None:
            nonlocal progress
            progress += 1

        result = await client.call_tool("reconcile_calls", {"call_ids": ids}, progress_callback=on_progress)
        data: dict[str, Any] | None = result.structured_content
        if result.is_error or data is None:
            raise RuntimeError(f"reconcile_calls failed: {str(result.content)[:500]}")
        return data["found"], data["missing"]["count"], progress

    return run


async def run_all(
    base_url: str, ids: list[str], *, repeat: int, tmpdir: Path, profile: Path | None
) -> list[tuple[str, list[float], tuple[int, int, int]]]:
    settings = load_settings(base_url=base_url, api_key=EMULATOR_KEY, env="development", ledger=tmpdir / "l.sqlite3")
    env = child_env(
        VOICING_BASE_URL=base_url,
        VOICING_API_KEY=EMULATOR_KEY,
        VOICING_ENV="development",
        VOICING_LEDGER=str(tmpdir / "stdio-ledger.sqlite3"),
        XDG_STATE_HOME=str(tmpdir / "state"),
    )
    params = StdioServerParameters(command=sys.executable, args=["-m", "voicing_mcp"], env=env, cwd=str(REPO))
    async with AsyncExitStack() as stack:
        http = await stack.enter_async_context(
            httpx.AsyncClient(base_url=base_url, headers={"x-api-key": EMULATOR_KEY}, timeout=60)
        )
        helpers = await stack.enter_async_context(httpx.AsyncClient(base_url=base_url, timeout=60))
        in_process = await stack.enter_async_context(Client(create_server(settings), mode="legacy"))
        errlog = stack.enter_context((tmpdir / "stdio-stderr.log").open("w", encoding="utf-8"))
        stdio = await stack.enter_async_context(Client(stdio_client(params, errlog=errlog), mode="legacy"))
        ways: list[tuple[str, RunFn]] = [
            ("raw API (httpx, 100 ids x 4)", _raw(http)),
            ("reconcile_calls, in-process", _tool(in_process)),
            ("reconcile_calls, stdio", _tool(stdio)),
        ]
        for _, run in ways:
            await run(ids[:CHUNK])  # untimed warm-up
        samples: list[list[float]] = [[] for _ in ways]
        last: list[tuple[int, int, int]] = [(0, 0, 0) for _ in ways]
        for _ in range(repeat):
            for n, (_, run) in enumerate(ways):
                (await helpers.post("/_emulator/reset")).raise_for_status()
                start = time.perf_counter()
                last[n] = await run(ids)
                samples[n].append(time.perf_counter() - start)
        if profile is not None:
            (await helpers.post("/_emulator/reset")).raise_for_status()
            profiler = cProfile.Profile()
            profiler.enable()
            await ways[1][1](ids)
            profiler.disable()
            profiler.dump_stats(profile)
    return [(name, s, counts) for (name, _), s, counts in zip(ways, samples, last, strict=True)]


def render(results: list[tuple[str, list[float], tuple[int, int, int]]], *, ids: int) -> str:
    raw = Stats.of(results[0][1]).median
    rows: list[list[str]] = []
    for name, samples, (found, missing, progress) in results:
        s = Stats.of(samples)
        rows.append(
            [
                name,
                str(s.n),
                f"{s.median:.3f}",
                f"{s.min:.3f}",
                f"{s.max:.3f}",
                f"{ids / s.median:,.0f}",
                str(progress),
                f"{found}/{missing}",
                ratio(s.median, raw),
            ]
        )
    return (
        table(
            ["way", "runs", "median s", "min s", "max s", "ids/s", "progress", "found/missing", "x raw"],
            rows,
            title=f"reconcile_calls over {ids:,} ids against the raw API (emulator in its own process)",
        )
        + "\n  progress: requests (raw) or progress notifications (tool) in the last run; target: stdio <= 1.50x raw"
    )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="reconcile_calls (in-process, stdio) against the raw API time.")
    p.add_argument("--ids", type=int, default=10_000, help="ids per reconciliation, unknown ones included")
    p.add_argument("--unknown", type=int, default=100, help="of which unknown to the emulator (default 100)")
    p.add_argument("--repeat", type=int, default=5, help="rounds (default 5)")
    p.add_argument("--profile", type=Path, default=None, help="write a cProfile of one in-process run here")
    args = p.parse_args(argv)
    if not 0 <= args.unknown < args.ids:
        p.error("--unknown must be at least 0 and less than --ids")

    quiet_logging()
    with tempfile.TemporaryDirectory(prefix="voicing-bench-") as tmp:
        tmpdir = Path(tmp)
        ids_file = tmpdir / "ids.txt"
        with start_emulator("process", seed_calls=args.ids - args.unknown, ids_file=ids_file) as emu:
            ids = request_ids(ids_file.read_text(encoding="utf-8").split(), args.unknown)
            results = anyio.run(
                partial(run_all, emu.base_url, ids, repeat=args.repeat, tmpdir=tmpdir, profile=args.profile)
            )
    print(machine_line())
    print()
    print(render(results, ids=len(ids)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
