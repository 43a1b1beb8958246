"""Run the emulator on a real socket: inside the current event loop, or on a thread of its own.

::

    async with serve_emulator(EmulatorConfig(), port=0) as emu:   # emu.base_url, emu.state, emu.api_key
        ...
    with emulator_in_thread(EmulatorConfig()) as emu:             # for sync tests and fixtures
        ...

Uvicorn runs without its signal handlers (the host program owns Ctrl-C) and without access
logs; its messages go to the ``uvicorn`` loggers (stderr under voicing-mcp's logging).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import socket
import threading
from collections.abc import AsyncGenerator, Generator
from dataclasses import dataclass
from typing import Any

import uvicorn

from voicing_mcp.emulator.app import create_app
from voicing_mcp.emulator.state import EmulatorConfig, EmulatorState
from voicing_mcp.errors import ConfigError

STARTUP_TIMEOUT = 10.0
GRACEFUL_SHUTDOWN_SECONDS = 2


@dataclass(frozen=True, slots=True)
class RunningEmulator:
    """A running emulator: where it listens, its key, and its live state (for assertions)."""

    base_url: str
    host: str
    port: int
    api_key: str
    state: EmulatorState


def bind_socket(host: str, port: int) -> socket.socket:
    """Bind (and listen on) ``host:port``; port 0 picks a free one. A busy port is a ConfigError."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)  # TCP proto: asyncio sets TCP_NODELAY
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        busy = port and exc.errno in (errno.EADDRINUSE, 10048)  # 10048: Windows' WSAEADDRINUSE
        hint = " (another process uses it: pick another --port, or --port 0 for a free one)" if busy else ""
        raise ConfigError(f"the emulator cannot listen on {host}:{port}: {exc.strerror or exc}{hint}") from None
    sock.listen(512)
    sock.setblocking(False)
    return sock


def _url(host: str, port: int) -> str:
    shown = "127.0.0.1" if host in ("0.0.0.0", "") else host
    if ":" in shown:
        shown = f"[{shown}]"
    return f"http://{shown}:{port}"


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield  # the host program keeps its own signal handling


def _make_server(config: EmulatorConfig) -> tuple[Any, EmulatorState]:
    app = create_app(config)
    uv_config = uvicorn.Config(
        app,
        log_config=None,
        access_log=False,
        log_level="warning",
        lifespan="off",
        ws="websockets-sansio",
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
    )
    return _Server(uv_config), app.state.emulator


@contextlib.asynccontextmanager
async def serve_emulator(
    config: EmulatorConfig | None = None, *, host: str = "127.0.0.1", port: int = 0
) -> AsyncGenerator[RunningEmulator]:
    """Serve the emulator with uvicorn inside the running event loop until the block exits."""
    config = config or EmulatorConfig()
    sock = bind_socket(host, port)
    server, state = _make_server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]), name="voicing-emulator")
    try:
        async with asyncio.timeout(STARTUP_TIMEOUT):
            while not server.started:
                if task.done():
                    task.result()
                    raise ConfigError("the emulator stopped during start-up")
                await asyncio.sleep(0.005)
        bound_port = int(sock.getsockname()[1])
        yield RunningEmulator(_url(host, bound_port), host, bound_port, config.api_key, state)
    finally:
        state.closing.set()
        server.should_exit = True
        with contextlib.suppress(asyncio.CancelledError):
            await task
        sock.close()


@contextlib.contextmanager
def emulator_in_thread(
    config: EmulatorConfig | None = None, *, host: str = "127.0.0.1", port: int = 0
) -> Generator[RunningEmulator]:
    """The same as :func:`serve_emulator`, on a daemon thread with its own event loop."""
    ready = threading.Event()
    handle: list[RunningEmulator] = []
    errors: list[BaseException] = []
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()

    async def main() -> None:
        try:
            async with serve_emulator(config, host=host, port=port) as emu:
                handle.append(emu)
                ready.set()
                await stop.wait()
        except BaseException as exc:  # handed to the caller's thread
            errors.append(exc)
            ready.set()

    thread = threading.Thread(target=loop.run_until_complete, args=(main(),), name="voicing-emulator", daemon=True)
    thread.start()
    try:
        ready.wait(STARTUP_TIMEOUT + 5)
        if errors:
            raise errors[0]
        if not handle:
            raise ConfigError("the emulator did not start in time")
        yield handle[0]
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(GRACEFUL_SHUTDOWN_SECONDS + 10)
        if not thread.is_alive():
            loop.close()
