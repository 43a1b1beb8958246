"""Run every benchmark with modest defaults (about a minute and a half on a 2-core machine).

``python -m benchmarks.run_all`` (or ``python benchmarks/run_all.py``); ``--tiny`` uses the smallest
counts that still print every table (the smoke test uses it); ``--only NAME`` runs some of them.
Each benchmark runs as its own subprocess; the exit code is non-zero if any of them failed.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
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
    ("call_overhead", "call_overhead", ["--repeat", "200"], ["--repeat", "5", "--warmup", "1", "--ids", "5"]),
    (
        "reconcile",
        "reconcile",
        ["--repeat", "2"],
        ["--ids", "300", "--unknown", "10", "--repeat", "1", "--concurrency", "1,4"],
    ),
    (
        "reconcile_latency",
        "reconcile",
        ["--repeat", "1", "--latency-ms", "20", "--no-mcp"],
        ["--ids", "200", "--unknown", "5", "--repeat", "1", "--concurrency", "1,4", "--latency-ms", "5", "--no-mcp"],
    ),
    ("reconcile_calls", "reconcile_calls", ["--repeat", "3"], ["--ids", "300", "--unknown", "10", "--repeat", "1"]),
    # SQLite here (PostgreSQL: python benchmarks/replicas.py --throwaway-postgres, see benchmarks/README.md)
    ("replicas", "replicas", [], ["--sessions", "4", "--attempts", "20", "--numbers", "10"]),
    (
        "campaigns",
        "campaigns",
        ["--repeat", "1", "--claim-samples", "5"],
        _TINY_CAMPAIGNS,
    ),
    # SQLite here (three PostgreSQL replicas: --throwaway-postgres, see benchmarks/README.md)
    ("campaign_replicas", "campaign_replicas", ["--rows", "1000"], ["--rows", "20"]),
]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="Run all voicing-mcp benchmarks.")
    p.add_argument("--tiny", action="store_true", help="smallest counts (a smoke run, numbers meaningless)")
    p.add_argument("--only", action="append", choices=[b[0] for b in BENCHMARKS], help="run only this one (repeatable)")
    args = p.parse_args(argv)

    print(machine_line(), flush=True)
    failed: list[str] = []
    started = time.perf_counter()
    for name, module, modest, tiny in BENCHMARKS:
        if args.only and name not in args.only:
            continue
        cmd = [sys.executable, str(REPO / "benchmarks" / f"{module}.py"), *(tiny if args.tiny else modest)]
        print(f"\n=== {name}: {' '.join(Path(c).name if i < 2 else c for i, c in enumerate(cmd))}", flush=True)
        t0 = time.perf_counter()
        done = subprocess.run(cmd, cwd=REPO, env=child_env(), check=False)
        print(f"=== {name}: exit {done.returncode} after {time.perf_counter() - t0:.1f} s", flush=True)
        if done.returncode != 0:
            failed.append(name)
    print(
        f"\nall benchmarks: {time.perf_counter() - started:.1f} s"
        + (f"; FAILED: {', '.join(failed)}" if failed else "")
    )
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
