"""Per-call overhead of ``get_call_details``, layer by layer, against the emulator over loopback.

``python -m benchmarks.call_overhead [--repeat N] [--warmup N] [--emulator process|thread]``

Each layer is timed against the same emulator (a separate process by default, so the measuring
process's event loop and GIL are not shared with it):

(a) the raw :class:`~voicing_mcp.api.client.VoicingClient`;
(b) the MCP server in-process through the SDK's ``Client`` (the 2025-11-25 ``initialize``
    handshake, and the 2026-07-28 per-request envelope);
(c) ``python -m voicing_mcp`` as a stdio subprocess, pointed at the same emulator.

The calls rotate over a set of seeded call ids and are interleaved: call i goes
through every layer in turn, so drifting machine load affects all layers alike. The table gives
median, p95 and min latency per call, the overhead each layer adds over the one below it, and ratios to the raw client.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from functools import partial
from pathlib import Path

import anyio
from mcp import Client
from mcp.client.stdio import StdioServerParameters, stdio_client

from voicing_mcp.api.client import VoicingClient
from voicing_mcp.config import load_settings
from voicing_mcp.server.app import create_server

if __package__ in (None, ""):  # run as a file: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._common import (
    EMULATOR_KEY,
    REPO,
    Stats,
    child_env,
    machine_line,
    ms,
    quiet_logging,
    ratio,
    start_emulator,
    table,
)

CallFn = Callable[[str], Awaitable[object]]


async def _measure(layers: list[tuple[str, CallFn]], ids: list[str], *, repeat: int, warmup: int) -> list[list[float]]:
    """Interleaved: call i goes through every layer in turn, so drifting machine load hits all alike."""
    for i in range(warmup):
        for _, call in layers:
            await call(ids[i % len(ids)])
    samples: list[list[float]] = [[] for _ in layers]
    for i in range(repeat):
        call_id = ids[i % len(ids)]
        for n, (_, call) in enumerate(layers):
            start = time.perf_counter()
            await call(call_id)
            samples[n].append(time.perf_counter() - start)
    return samples


def _via_tool(client: Client) -> CallFn:
    async def call(call_id: str) -> object:
        result = await client.call_tool("get_call_details", {"call_id": call_id})
        if result.is_error:
            raise RuntimeError(f"get_call_details failed: {result.content}")
        return result

    return call


async def run(
    base_url: str, ids: list[str], *, repeat: int, warmup: int, tmpdir: Path
) -> list[tuple[str, list[float]]]:
    settings = load_settings(
        base_url=base_url, api_key=EMULATOR_KEY, env="development", ledger=tmpdir / "ledger.sqlite3"
    )
    env = child_env(
        VOICING_BASE_URL=base_url,
        VOICING_API_KEY=EMULATOR_KEY,
        VOICING_ENV="development",
        VOICING_LEDGER=str(tmpdir / "stdio-ledger.sqlite3"),
        XDG_STATE_HOME=str(tmpdir / "state"),
    )
    params = StdioServerParameters(command=sys.executable, args=["-m", "voicing_mcp"], env=env, cwd=str(REPO))
    async with AsyncExitStack() as stack:
        api = await stack.enter_async_context(VoicingClient(base_url=base_url, api_key=EMULATOR_KEY))
        legacy = await stack.enter_async_context(Client(create_server(settings), mode="legacy"))
        modern = await stack.enter_async_context(Client(create_server(settings), mode="2026-07-28"))
        errlog = stack.enter_context((tmpdir / "stdio-stderr.log").open("w", encoding="utf-8"))
        stdio = await stack.enter_async_context(Client(stdio_client(params, errlog=errlog), mode="legacy"))
        layers: list[tuple[str, CallFn]] = [
            ("(a) VoicingClient", api.get_call_details),
            ("(b) MCP in-process, legacy", _via_tool(legacy)),
            ("(b) MCP in-process, 2026-07-28", _via_tool(modern)),
            ("(c) MCP stdio subprocess, legacy", _via_tool(stdio)),
        ]
        samples = await _measure(layers, ids, repeat=repeat, warmup=warmup)
    return [(name, s) for (name, _), s in zip(layers, samples, strict=True)]


def render(results: list[tuple[str, list[float]]], *, where: str) -> str:
    stats = [(name, Stats.of(samples)) for name, samples in results]
    raw = stats[0][1].median
    rows: list[list[str]] = []
    for i, (name, s) in enumerate(stats):
        below = stats[1][1].median if name.startswith("(c)") else raw  # stdio is compared with in-process legacy
        added = "-" if i == 0 else f"{(s.median - below) * 1000:+.2f}"
        rows.append([name, str(s.n), ms(s.median), ms(s.p95), ms(s.min), added, ratio(s.median, raw)])
    return table(
        ["layer", "calls", "median ms", "p95 ms", "min ms", "adds ms", "x raw"],
        rows,
        title=(
            f"get_call_details latency per call (emulator in a separate {where}, loopback HTTP; "
            "'adds' = median minus the layer below: (b) vs (a), (c) vs (b) legacy)"
        ),
    )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="Per-call overhead of get_call_details: client, MCP in-process, stdio.")
    p.add_argument("--repeat", type=int, default=300, help="timed calls per layer (default 300)")
    p.add_argument("--warmup", type=int, default=20, help="untimed calls first (default 20)")
    p.add_argument("--ids", type=int, default=50, help="distinct call ids to rotate over (default 50)")
    p.add_argument("--emulator", choices=["process", "thread"], default="process")
    args = p.parse_args(argv)

    quiet_logging()
    with tempfile.TemporaryDirectory(prefix="voicing-bench-") as tmp:
        tmpdir = Path(tmp)
        ids_file = tmpdir / "ids.txt"
        with start_emulator(args.emulator, seed_calls=max(args.ids, 1), ids_file=ids_file) as emu:
            ids = ids_file.read_text(encoding="utf-8").split()[: args.ids]
            results = anyio.run(partial(run, emu.base_url, ids, repeat=args.repeat, warmup=args.warmup, tmpdir=tmpdir))
    print(machine_line())
    print()
    print(render(results, where=emu.where))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
