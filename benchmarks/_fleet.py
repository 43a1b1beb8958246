"""Replicas of the server for the replicas benchmark and its test: one emulator process, N server processes
(``--transport http --http-stateless``) on one ledger and one VOICING_TOKEN_SECRET, and a client-side load
balancer without sticky sessions (each HTTP request of a session goes to the next replica).
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import httpx2

from benchmarks._common import REPO, child_env
from voicing_mcp.paths import PACKAGE_PROMPTS_DIR

DIAL_PATH = "/api/v1/campaigns/publish-outbound-call"
STARTUP_SECONDS = 60.0


@dataclass
class Replica:
    """One ``voicing-mcp --transport …`` process and what it wrote to stderr (its URL once it announces it)."""

    proc: subprocess.Popen[str]
    url: str = ""
    stderr: list[str] = field(default_factory=list[str])
    ready: threading.Event = field(default_factory=threading.Event)

    @property
    def origin(self) -> str:
        return self.url.split("/", 3)[2]

    @property
    def port(self) -> int:
        return int(self.origin.rsplit(":", 1)[1])

    def pump(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.stderr.append(line)
            if "serving MCP over" in line and " at " in line:
                self.url = line.rsplit(" at ", 1)[1].strip()
                self.ready.set()
        self.ready.set()


def fleet_env(
    *, base_url: str, ledger: str, secret: str, state: Path, timings: Path, allowed: Iterable[str] = ()
) -> dict[str, str]:
    """The environment every replica shares: the emulator as a remote API, token confirmation (no human in a load
    test), quiet hours off, a rate limit that the race cannot reach, one ledger, one token secret."""
    return child_env(
        VOICING_ENV="development",
        VOICING_BASE_URL=base_url,
        VOICING_API_KEY="emulator",
        VOICING_PROMPTS_DIR=str(PACKAGE_PROMPTS_DIR),
        VOICING_CONFIRMATION="token",
        VOICING_QUIET_HOURS="off",
        VOICING_MAX_CALLS_PER_HOUR="100000",
        VOICING_LEDGER=ledger,
        VOICING_TOKEN_SECRET=secret,
        VOICING_HTTP_STATELESS="true",
        VOICING_ALLOWED_NUMBERS=",".join(allowed),
        XDG_STATE_HOME=str(state),
        XDG_CONFIG_HOME=str(state / "config"),
        BENCH_LEDGER_TIMES=str(timings),
    )


def new_secret() -> str:
    return secrets.token_urlsafe(32)


def launch_replica(env: dict[str, str], port: int = 0, *, timed: bool = True) -> Replica:
    """Start one replica (timing its ledger calls unless ``timed`` is false); :func:`ready` waits for its URL."""
    module = "benchmarks._timed_server" if timed else "voicing_mcp"
    proc = subprocess.Popen(
        [sys.executable, "-m", module, "--transport", "http", "--port", str(port)],
        cwd=REPO,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        encoding="utf-8",
    )
    replica = Replica(proc)
    threading.Thread(target=replica.pump, daemon=True).start()
    return replica


def ready(replica: Replica) -> Replica:
    replica.ready.wait(STARTUP_SECONDS)
    if not replica.url:
        replica.proc.kill()
        raise RuntimeError("a replica did not start:\n" + "".join(replica.stderr))
    return replica


def start_replicas(env: dict[str, str], count: int) -> list[Replica]:
    """``count`` replicas started at once (their cold starts overlap)."""
    return [ready(r) for r in [launch_replica(env) for _ in range(count)]]


def stop_replica(replica: Replica) -> None:
    if replica.proc.poll() is None:
        replica.proc.send_signal(signal.SIGTERM)
        try:
            replica.proc.wait(15)
        except subprocess.TimeoutExpired:
            replica.proc.kill()
            replica.proc.wait(5)


def kill_replica(replica: Replica) -> None:
    """``kill -9``: no shutdown, no outcome recorded, whatever was in flight."""
    os.kill(replica.proc.pid, signal.SIGKILL)
    replica.proc.wait(10)


class RoundRobin(httpx2.AsyncBaseTransport):
    """A load balancer without sticky sessions, on the client side: every HTTP request goes to the next port."""

    def __init__(self, ports: list[int]) -> None:
        self.ports = ports  # shared and updated when a replica restarts on another port
        self._next = 0
        self.last_port = 0
        # idle connections are dropped before the server's keep-alive (5 s) can close one under a new request
        self._inner = httpx2.AsyncHTTPTransport(limits=httpx2.Limits(keepalive_expiry=2.0))

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        port = self.ports[self._next % len(self.ports)]
        self._next += 1
        self.last_port = port
        request.url = request.url.copy_with(port=port)
        request.headers["Host"] = f"127.0.0.1:{port}"
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self._inner.aclose()


def balanced_client(ports: list[int], start: int = 0) -> tuple[httpx2.AsyncClient, RoundRobin]:
    """An HTTP client behind the round-robin balancer (and the balancer, which knows the last port used)."""
    transport = RoundRobin(ports)
    transport._next = start  # pyright: ignore[reportPrivateUsage]
    return httpx2.AsyncClient(transport=transport, timeout=httpx2.Timeout(60.0, read=300.0)), transport


# ----- the emulator's record -----------------------------------------------------------------------------
#: faults after which the emulator has placed the call (the answer was lost or replaced)
PLACING_FAULTS = ("drop-after-accept", "accept-then-500", "accept-then-503", "accept-then-524", "accept-then-408")


def emulator_get(base_url: str, path: str) -> Any:
    return httpx.get(base_url + path, timeout=30).json()


def arm(base_url: str, fault: str, times: int) -> None:
    r = httpx.post(base_url + "/_emulator/faults", json={"fault": fault, "path": DIAL_PATH, "times": times}, timeout=30)
    r.raise_for_status()


def placed_calls(base_url: str) -> dict[str, int]:
    """Calls the emulator placed, by number: dial requests its handler accepted (a fault that placed the call and
    lost the answer counts); cross-checked against its dial counter."""
    log = emulator_get(base_url, "/_emulator/requests")["requests"]
    by_number: dict[str, int] = {}
    for entry in log:
        if entry["path"] != DIAL_PATH or not isinstance(entry.get("json"), dict):
            continue
        fault = entry.get("fault")
        placed = (fault is None and 200 <= int(entry["status"] or 0) < 300) or fault in PLACING_FAULTS
        if placed:
            number = str(entry["json"].get("phone_number"))
            by_number[number] = by_number.get(number, 0) + 1
    counted = int(emulator_get(base_url, "/_emulator/dials")["count"])
    if counted != sum(by_number.values()):
        raise AssertionError(f"the emulator counted {counted} dials, its request log shows {sum(by_number.values())}")
    return by_number


def ledger_times(folder: Path) -> dict[str, dict[str, float]]:
    """The ledger call totals every replica wrote (``benchmarks._timed_server``), summed by method."""
    totals: dict[str, dict[str, float]] = {}
    for path in folder.glob("[0-9]*.json"):
        for name, entry in json.loads(path.read_text(encoding="utf-8")).items():
            t = totals.setdefault(name, {"seconds": 0.0, "calls": 0.0})
            t["seconds"] += float(entry["seconds"])
            t["calls"] += float(entry["calls"])
    return totals


async def wait_until(predicate: Any, limit: float = 30.0) -> bool:
    """Poll ``predicate`` (blocking, but short) without blocking the event loop between polls."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if predicate():
            return True
        await asyncio.sleep(0.05)
    return False
