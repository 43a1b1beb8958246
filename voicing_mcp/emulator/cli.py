"""``voicing-mcp emulator``: the Voicing API emulator alone, until Ctrl-C."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys

from voicing_mcp.emulator.state import EmulatorConfig


def config_from_args(args: argparse.Namespace) -> EmulatorConfig:
    from voicing_mcp.errors import ConfigError

    defaults = EmulatorConfig()
    try:
        return EmulatorConfig(
            api_key=args.api_key or defaults.api_key,
            speed=defaults.speed if args.speed is None else args.speed,
            seed=defaults.seed if args.seed is None else args.seed,
            fault_rate=args.fault_rate,
            latency_ms=args.latency_ms,
        )
    except ValueError as exc:
        raise ConfigError(f"emulator: {exc}") from None


async def _serve(config: EmulatorConfig, host: str, port: int) -> None:
    from voicing_mcp.emulator.runner import serve_emulator

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with serve_emulator(config, host=host, port=port) as emu:
        print(
            f"Voicing API emulator on {emu.base_url} (no real phone rings) - use "
            f"VOICING_BASE_URL={emu.base_url} VOICING_API_KEY={emu.api_key}; Ctrl-C stops",
            file=sys.stderr,
            flush=True,
        )
        await stop.wait()


def run_emulator(args: argparse.Namespace) -> int:
    """Serve until SIGINT/SIGTERM; exit 0."""
    config = config_from_args(args)
    asyncio.run(_serve(config, args.emu_host, args.emu_port))
    return 0
