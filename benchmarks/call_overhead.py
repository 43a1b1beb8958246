"""Per-call overhead of ``get_call_details``, layer by layer, against the emulator over loopback.

``python -m benchmarks.call_overhead [--repeat N] [--warmup N] [--emulator process|thread]``

Each layer is timed against the same emulator (a separate process by default, so the measuring
process's event loop and GIL are not shared with it):

(0) a raw keep-alive ``httpx.AsyncClient`` GET of the same URL (the floor of any HTTP client);
(a) the raw :class:`~voicing_mcp.api.client.VoicingClient`;
(b) the MCP server in-process through the SDK's ``Client`` (the 2025-11-25 ``initialize``
    handshake, and the 2026-07-28 per-request envelope);
(c) over stdio, each a subprocess driven by the SDK's client: a bare ``MCPServer`` of the same SDK with
    one echo tool (``benchmarks/_bare_server.py``), the same bare server with one tool that makes the
    raw GET, and ``python -m voicing_mcp`` pointed at the same emulator.

The own code's cost over stdio is voicing-mcp's median minus the bare echo's minus the raw GET's (issue 9's
target: at most 0.3 ms).

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
import httpx
from mcp import Client
from mcp.client.stdio import StdioServerParameters, stdio_client

from voicing_mcp.api.client import VoicingClient
from voicing_mcp.config import load_settings
from voicing_mcp.server.app import create_server

if __package__ in (None, ""):  # run as a file: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._common import (
    DETAILS_PATH,
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

BARE = ("-m", "benchmarks._bare_server")
RAW_GET = "(0) raw httpx GET, keep-alive"
BARE_ECHO = "(c) bare MCPServer echo, stdio"
BARE_GET = "(c) bare MCPServer GET tool, stdio"
STDIO = "(c) voicing-mcp stdio, legacy"


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


def _via_tool(client: Client, tool: str = "get_call_details", argument: str = "call_id") -> CallFn:
    async def call(call_id: str) -> object:
        result = await client.call_tool(tool, {argument: call_id})
        if result.is_error:
            raise RuntimeError(f"{tool} failed: {result.content}")
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
    url = f"{base_url}{DETAILS_PATH}?call_id={{call_id}}"
    bare = [*BARE, "--get", url, "--api-key", EMULATOR_KEY]
    async with AsyncExitStack() as stack:
        raw = await stack.enter_async_context(httpx.AsyncClient(headers={"x-api-key": EMULATOR_KEY}))
        api = await stack.enter_async_context(VoicingClient(base_url=base_url, api_key=EMULATOR_KEY))
        legacy = await stack.enter_async_context(Client(create_server(settings), mode="legacy"))
        modern = await stack.enter_async_context(Client(create_server(settings), mode="2026-07-28"))
        errlog = stack.enter_context((tmpdir / "stdio-stderr.log").open("w", encoding="utf-8"))
        stdio = await stack.enter_async_context(Client(stdio_client(params, errlog=errlog), mode="legacy"))
        echo_params = StdioServerParameters(command=sys.executable, args=list(BARE), env=env, cwd=str(REPO))
        echo = await stack.enter_async_context(Client(stdio_client(echo_params, errlog=errlog), mode="legacy"))
        get_params = StdioServerParameters(command=sys.executable, args=bare, env=env, cwd=str(REPO))
        get = await stack.enter_async_context(Client(stdio_client(get_params, errlog=errlog), mode="legacy"))

        async def raw_get(call_id: str) -> object:
            response = await raw.get(url.replace("{call_id}", call_id))
            response.raise_for_status()
            return response.json()

        layers: list[tuple[str, CallFn]] = [
            (RAW_GET, raw_get),
            ("(a) VoicingClient", api.get_call_details),
            ("(b) MCP in-process, legacy", _via_tool(legacy)),
            ("(b) MCP in-process, 2026-07-28", _via_tool(modern)),
            (BARE_ECHO, _via_tool(echo, "echo", "text")),
            (BARE_GET, _via_tool(get, "get")),
            (STDIO, _via_tool(stdio)),
        ]
        samples = await _measure(layers, ids, repeat=repeat, warmup=warmup)
    return [(name, s) for (name, _), s in zip(layers, samples, strict=True)]


def render(results: list[tuple[str, list[float]]], *, where: str) -> str:
    stats = {name: Stats.of(samples) for name, samples in results}
    raw = stats["(a) VoicingClient"].median
    below = {
        "(a) VoicingClient": RAW_GET,
        "(b) MCP in-process, legacy": "(a) VoicingClient",
        "(b) MCP in-process, 2026-07-28": "(a) VoicingClient",
        BARE_GET: BARE_ECHO,
        STDIO: "(b) MCP in-process, legacy",
    }
    rows: list[list[str]] = []
    for name, s in stats.items():
        base = below.get(name)
        added = f"{(s.median - stats[base].median) * 1000:+.2f}" if base else "-"
        rows.append([name, str(s.n), ms(s.median), ms(s.p95), ms(s.min), added, ratio(s.median, raw)])
    out = table(
        ["layer", "calls", "median ms", "p95 ms", "min ms", "adds ms", "x raw"],
        rows,
        title=(
            f"get_call_details latency per call (emulator in a separate {where}, loopback HTTP; 'adds' = median "
            "minus the layer below: raw GET < VoicingClient < in-process; bare echo < bare GET; in-process "
            "legacy < stdio)"
        ),
    )
    ours, echo, get = stats[STDIO].median, stats[BARE_ECHO].median, stats[RAW_GET].median
    own = ours - echo - get
    own_vs_bare_get = ours - stats[BARE_GET].median
    by_min = stats[STDIO].min - stats[BARE_ECHO].min - stats[RAW_GET].min
    by_min_get = stats[STDIO].min - stats[BARE_GET].min
    return (
        f"{out}\n  own code over stdio = {STDIO.split(' ', 1)[1]} - bare echo over stdio - raw GET = "
        f"{ours * 1000:.2f} - {echo * 1000:.2f} - {get * 1000:.2f} = {own * 1000:+.2f} ms per call "
        f"(target <= +0.30); against the bare SDK tool making the same GET: {own_vs_bare_get * 1000:+.2f} ms"
        f"\n  the same with the minimums (less sensitive to a loaded machine): {by_min * 1000:+.2f} ms; "
        f"against the bare GET tool: {by_min_get * 1000:+.2f} ms"
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
