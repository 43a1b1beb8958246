"""Shared pieces of the benchmarks: statistics, the plain-text table, machine facts, and the emulator
run in a separate process or thread.

Nothing here asserts speed; the benchmarks only measure and print.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import platform
import resource
import signal
import statistics
import subprocess
import sys
from collections.abc import Generator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
EMULATOR_KEY = "emulator"
DETAILS_PATH = "/api/v1/campaigns/get-call-details"
BULK_PATH = "/api/v1/campaigns/get-call-details/bulk-by-ids"


# --------------------------------------------------------------------------- statistics


@dataclass(frozen=True, slots=True)
class Stats:
    """Summary of a sample of durations, in seconds."""

    n: int
    median: float
    p95: float
    min: float
    max: float

    @classmethod
    def of(cls, samples: Sequence[float]) -> Stats:
        if not samples:
            raise ValueError("no samples")
        ordered = sorted(samples)
        rank = max(1, math.ceil(0.95 * len(ordered)))  # nearest-rank p95
        return cls(len(ordered), statistics.median(ordered), ordered[rank - 1], ordered[0], ordered[-1])


def ms(seconds: float) -> str:
    """A duration in milliseconds, with precision that suits its size."""
    value = seconds * 1000
    if value >= 100:
        return f"{value:.0f}"
    if value >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def ratio(value: float, base: float) -> str:
    return f"{value / base:.2f}x" if base > 0 else "-"


# --------------------------------------------------------------------------- output


def table(headers: Sequence[str], rows: Sequence[Sequence[str]], *, title: str = "") -> str:
    """A plain-text table: first column left-aligned, the others right-aligned."""
    widths = [len(h) for h in headers]
    for row in rows:
        for i, cell in enumerate(row):
            widths[i] = max(widths[i], len(cell))

    def line(cells: Sequence[str]) -> str:
        parts = [c.ljust(widths[i]) if i == 0 else c.rjust(widths[i]) for i, c in enumerate(cells)]
        return "  ".join(parts).rstrip()

    out = [title] if title else []
    out.append(line(headers))
    out.append("  ".join("-" * w for w in widths))
    out.extend(line(r) for r in rows)
    return "\n".join(out)


def machine_line() -> str:
    """Date, host facts and load, so a printed table says where and when it was measured."""
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return (
        f"measured {now} on {platform.system()} {platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, load average {load}"
    )


def peak_rss_mib() -> float:
    """This process's peak resident set size so far (``getrusage``; KiB on Linux, bytes on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def child_env(**extra: str) -> dict[str, str]:
    """The environment for a child process: no VOICING_* from outside, the repo importable, unbuffered."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("VOICING_")}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH", "")) if p)
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env


# --------------------------------------------------------------------------- the emulator


@dataclass(frozen=True, slots=True)
class Emulator:
    """A running emulator: where it is, and how it runs (``process`` or ``thread``)."""

    base_url: str
    where: str
    ids_file: Path | None = None


@contextlib.contextmanager
def emulator_process(
    *, seed_calls: int, latency_ms: float = 0.0, ids_file: Path | None = None, speed: float = 60.0
) -> Generator[Emulator]:
    """The emulator in a child process (its own interpreter, GIL and core): ``python -m benchmarks._emulator``."""
    cmd = [sys.executable, "-m", "benchmarks._emulator", "--seed-calls", str(seed_calls)]
    cmd += ["--latency-ms", str(latency_ms), "--speed", str(speed)]
    if ids_file is not None:
        cmd += ["--ids-file", str(ids_file)]
    proc = subprocess.Popen(
        cmd, cwd=REPO, env=child_env(), stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, encoding="utf-8"
    )
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline().strip()
        if not first.startswith("http://"):
            raise RuntimeError(f"the emulator process did not start (exit {proc.poll()}): {first!r}")
        yield Emulator(first, "process", ids_file)
    finally:
        if proc.stdin is not None:
            proc.stdin.close()  # EOF on stdin stops it
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGTERM)
            proc.wait(10)
        if proc.stdout is not None:
            proc.stdout.close()


@contextlib.contextmanager
def emulator_thread(
    *, seed_calls: int, latency_ms: float = 0.0, ids_file: Path | None = None, speed: float = 60.0
) -> Generator[Emulator]:
    """The emulator on a thread of this process, with its own event loop (``emulator_in_thread``)."""
    # only with --emulator thread: a worker that talks to an emulator process keeps its RSS its own
    from voicing_mcp.emulator.runner import emulator_in_thread  # noqa: PLC0415 (the emulator, --emulator thread only)
    from voicing_mcp.emulator.state import EmulatorConfig  # noqa: PLC0415 (the emulator, --emulator thread only)

    config = EmulatorConfig(seed_calls=seed_calls, latency_ms=latency_ms, speed=speed)
    with emulator_in_thread(config) as emu:
        if ids_file is not None:
            ids_file.write_text("\n".join(c.call_id for c in emu.state.order) + "\n", encoding="utf-8")
        yield Emulator(emu.base_url, "thread", ids_file)


def start_emulator(
    where: str, *, seed_calls: int, latency_ms: float = 0.0, ids_file: Path | None = None
) -> contextlib.AbstractContextManager[Emulator]:
    if where == "process":
        return emulator_process(seed_calls=seed_calls, latency_ms=latency_ms, ids_file=ids_file)
    if where == "thread":
        return emulator_thread(seed_calls=seed_calls, latency_ms=latency_ms, ids_file=ids_file)
    raise ValueError(f"--emulator must be process or thread, not {where!r}")


def quiet_logging() -> None:
    """Warnings and errors to stderr only, set before the MCP SDK would install its INFO-level handler."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.WARNING)
