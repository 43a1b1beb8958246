"""``python -m benchmarks._emulator``: the emulator in a process of its own, for the benchmarks.

Prints its base URL as the first line of stdout, optionally writes the seeded call ids to a file,
and serves until its stdin reaches end-of-file (the parent closes it) or SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from pathlib import Path

from voicing_mcp.emulator.runner import serve_emulator
from voicing_mcp.emulator.state import EmulatorConfig


async def _serve(args: argparse.Namespace) -> None:
    config = EmulatorConfig(seed_calls=args.seed_calls, latency_ms=args.latency_ms, speed=args.speed)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    loop.add_reader(sys.stdin.fileno(), lambda: stop.set() if not sys.stdin.readline() else None)
    async with serve_emulator(config, host="127.0.0.1", port=0) as emu:
        if args.ids_file:
            ids = "\n".join(c.call_id for c in emu.state.order)
            Path(args.ids_file).write_text(ids + "\n", encoding="utf-8")
        print(emu.base_url, flush=True)
        await stop.wait()


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--seed-calls", type=int, default=300)
    p.add_argument("--latency-ms", type=float, default=0.0)
    p.add_argument("--speed", type=float, default=60.0)
    p.add_argument("--ids-file", default="")
    asyncio.run(_serve(p.parse_args()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
