"""Run every benchmark with modest defaults (about a minute and a half on a 2-core machine).

``python -m benchmarks.run_all`` (or ``python benchmarks/run_all.py``); ``--tiny`` uses the smallest
counts that still print every table (the smoke test uses it); ``--only NAME`` runs some of them.
Each benchmark runs as its own subprocess (``python benchmarks/<name>.py``), so none measures what an earlier
one left in memory; with ``--tiny`` (a smoke run, numbers meaningless) each benchmark's ``main()`` runs in this
process instead, one after another: every interpreter start imports the MCP SDK and the package (about 1.5 s of
CPU), and the smoke run would otherwise spend a fifth of its CPU on eight of them. The workers, servers and
emulators a benchmark starts are processes either way. The exit code is non-zero if any of them failed.
"""

from __future__ import annotations

import argparse
import importlib
import io
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

if __package__ in (None, ""):  # run as a file: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._common import REPO, child_env, machine_line

#: campaigns --tiny: 20 rows prepared, a page of 30, a 20-row campaign, the claim cost at 10 and 100 dials
_TINY_CAMPAIGNS: list[str] = [
    *("--rows", "20", "--page-rows", "30", "--campaign-rows", "20", "--repeat", "1"),
    *("--claim-sizes", "10", "100", "--claim-samples", "2"),
]

#: (name, module, modest arguments, tiny arguments)
BENCHMARKS: list[tuple[str, str, list[str], list[str]]] = [
    ("cold_start", "cold_start", ["--repeat", "5"], ["--repeat", "1", "--top", "5"]),
    # tiny: the emulators of call_overhead and replicas on a thread (two interpreter starts fewer); reconcile,
    # reconcile_calls, campaigns and campaign_replicas still start theirs as processes
    (
        "call_overhead",
        "call_overhead",
        ["--repeat", "200"],
        ["--repeat", "3", "--warmup", "0", "--ids", "3", "--emulator", "thread"],
    ),
    # tiny: one client worker (concurrency 4) and the MCP one against an emulator process; the latency run with
    # concurrency 1 and the emulator on its worker's thread: both concurrency paths and both emulator places, in
    # three worker processes and one emulator process instead of five and two
    (
        "reconcile",
        "reconcile",
        ["--repeat", "2"],
        ["--ids", "300", "--unknown", "10", "--repeat", "1", "--concurrency", "4"],
    ),
    (
        "reconcile_latency",
        "reconcile",
        ["--repeat", "1", "--latency-ms", "20", "--no-mcp"],
        [
            *("--ids", "200", "--unknown", "5", "--repeat", "1", "--concurrency", "1", "--latency-ms", "5"),
            *("--no-mcp", "--emulator", "thread"),
        ],
    ),
    ("reconcile_calls", "reconcile_calls", ["--repeat", "3"], ["--ids", "300", "--unknown", "10", "--repeat", "1"]),
    # SQLite here (PostgreSQL: python benchmarks/replicas.py --throwaway-postgres, see benchmarks/README.md)
    # tiny: two replicas (tests/test_replicas.py races three with the same code)
    (
        "replicas",
        "replicas",
        [],
        [*("--replicas", "2", "--sessions", "4", "--attempts", "20", "--numbers", "10", "--emulator", "thread")],
    ),
    (
        "campaigns",
        "campaigns",
        ["--repeat", "1", "--claim-samples", "5"],
        _TINY_CAMPAIGNS,
    ),
    # SQLite here (three PostgreSQL replicas: --throwaway-postgres, see benchmarks/README.md)
    ("campaign_replicas", "campaign_replicas", ["--rows", "1000"], ["--rows", "20"]),
]


def _in_process(module: str, argv: list[str]) -> int:
    """``benchmarks.<module>``'s ``main(argv)`` in this process; its exit code."""
    main: Callable[[list[str]], int | None] = importlib.import_module(f"benchmarks.{module}").main
    try:
        return main(argv) or 0
    except SystemExit as exc:  # argparse's error exit
        return exc.code if isinstance(exc.code, int) else 1
    finally:
        sys.stdout.flush()  # before the next benchmark's children write to the same stdout


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="Run all voicing-mcp benchmarks.")
    p.add_argument("--tiny", action="store_true", help="smallest counts (a smoke run, numbers meaningless)")
    p.add_argument("--only", action="append", choices=[b[0] for b in BENCHMARKS], help="run only this one (repeatable)")
    args = p.parse_args(argv)

    print(machine_line(), flush=True)
    if args.tiny and isinstance(sys.stdout, io.TextIOWrapper):
        # the benchmarks print into this process's stdout and their children into the same file: line by line
        sys.stdout.reconfigure(line_buffering=True)
    failed: list[str] = []
    started = time.perf_counter()
    for name, module, modest, tiny in BENCHMARKS:
        if args.only and name not in args.only:
            continue
        cmd = [sys.executable, str(REPO / "benchmarks" / f"{module}.py"), *(tiny if args.tiny else modest)]
        shown = " ".join(Path(c).name if i < 2 else c for i, c in enumerate(cmd))
        print(f"\n=== {name}: {shown}{' (in this process)' if args.tiny else ''}", flush=True)
        t0 = time.perf_counter()
        if args.tiny:
            code = _in_process(module, tiny)
        else:
            code = subprocess.run(cmd, cwd=REPO, env=child_env(), check=False).returncode
        print(f"=== {name}: exit {code} after {time.perf_counter() - t0:.1f} s", flush=True)
        if code != 0:
            failed.append(name)
    print(
        f"\nall benchmarks: {time.perf_counter() - started:.1f} s"
        + (f"; FAILED: {', '.join(failed)}" if failed else "")
    )
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
