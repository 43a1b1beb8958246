"""``voicing-mcp emulator``: the Voicing API emulator alone, until Ctrl-C."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys

from voicing_mcp.emulator.runner import serve_emulator
from voicing_mcp.emulator.state import EmulatorConfig
from voicing_mcp.errors import ConfigError


def config_from_args(args: argparse.Namespace) -> EmulatorConfig:
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


def banner(base_url: str, api_key: str) -> str:
    """The line printed once the emulator listens: where it is, and the settings that point the server at it.

    ``VOICING_ENV=local`` keeps the example assistants' templates counting against this emulator; without it the
    key would put the server in production mode, with the user's prompts folder only. The dial guard still treats
    an emulator at a ``VOICING_BASE_URL`` like a real API (a loopback URL can be a tunnel to one): a human
    confirms, quiet hours hold, fictional 555-01xx numbers are refused; the banner says so, and points at the
    built-in emulator for rehearsing dials.
    """
    return (
        f"Voicing API emulator on {base_url} (no real phone rings) - use "
        f"VOICING_ENV=local VOICING_BASE_URL={base_url} VOICING_API_KEY={api_key}; "
        "the dial guard treats an emulator at a URL like a real API (a human confirms each dial, quiet hours hold, "
        "555-01xx numbers are refused): to rehearse dials, use the built-in one (no VOICING_BASE_URL); Ctrl-C stops"
    )


async def _serve(config: EmulatorConfig, host: str, port: int) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with serve_emulator(config, host=host, port=port) as emu:
        print(banner(emu.base_url, emu.api_key), file=sys.stderr, flush=True)
        await stop.wait()


def run_emulator(args: argparse.Namespace) -> int:
    """Serve until SIGINT/SIGTERM; exit 0."""
    config = config_from_args(args)
    asyncio.run(_serve(config, args.emu_host, args.emu_port))
    return 0
