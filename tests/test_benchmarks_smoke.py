"""Smoke test of benchmarks/: every benchmark runs with tiny counts and prints its table.

Behaviour only (exit code, the tables, the correctness columns); no timing is asserted.
``python benchmarks/run_all.py --tiny`` runs as a file and calls each benchmark's ``main()`` in its own
process (one interpreter start, not nine); the benchmarks start their workers, servers and the emulator
as ``python -m benchmarks.<module>``, so both ways of running a benchmark module are exercised.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def _table_rows(output: str, title_start: str) -> list[str]:
    """The data rows of the table whose title line starts with ``title_start``."""
    lines = output.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(title_start))
    rows: list[str] = []
    for line in lines[start + 3 :]:  # title, header, dashes
        if not line.strip() or line.startswith(" ") or line.startswith("==="):
            break
        rows.append(line)
    return rows


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_every_benchmark_runs_with_tiny_counts_and_prints_its_table() -> None:
    done = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "run_all.py"), "--tiny"],
        cwd=REPO,
        capture_output=True,
        text=True,
        encoding="utf-8",
        check=False,
        timeout=590,
    )
    out = done.stdout
    assert done.returncode == 0, f"stdout:\n{out[-3000:]}\nstderr:\n{done.stderr[-3000:]}"
    names = (
        "cold_start",
        "call_overhead",
        "reconcile",
        "reconcile_latency",
        "reconcile_calls",
        "replicas",
        "campaigns",
        "campaign_replicas",
    )
    for name in names:
        assert re.search(rf"^=== {name}: exit 0 after [\d.]+ s$", out, re.MULTILINE), name
    assert "FAILED" not in out
    assert re.search(r"^measured .* 2 cores|^measured .* \d+ cores", out, re.MULTILINE)

    cold = _table_rows(out, "Cold start")
    assert [row.split("  ")[0] for row in cold] == [
        "python -c pass",
        'python -c "import voicing_mcp.cli"',
        "voicing-mcp --version",
        "bare MCPServer, 1 tool: tools/list",
        "voicing-mcp local mode: tools/list",
        "voicing-mcp with a key: tools/list",
    ]
    assert all(row.split()[-1].endswith("x") for row in cold)  # a ratio to the bare server on every row
    assert "voicing_mcp.server.app" in out  # the import-time tables list the start-up path
    assert re.search(r"^beyond the bare MCPServer's \d+ modules", out, re.MULTILINE)
    assert "verdict: all promises kept" in out  # replicas: one call per number, a killed dial stays blocked

    layers = _table_rows(out, "get_call_details latency per call")
    assert [row.split("  ")[0] for row in layers] == [
        "(0) raw httpx GET, keep-alive",
        "(a) VoicingClient",
        "(b) MCP in-process, legacy",
        "(b) MCP in-process, 2026-07-28",
        "(c) bare MCPServer echo, stdio",
        "(c) bare MCPServer GET tool, stdio",
        "(c) voicing-mcp stdio, legacy",
    ]
    assert all(row.split()[-1].endswith("x") for row in layers)  # a ratio to the raw client on every row
    assert re.search(r"own code over stdio = .* = [+-][\d.]+ ms per call", out)

    # tiny reconcile: 290 seeded ids + 10 unknown ones = 3 bulk requests of <=100 ids, 3 progress reports; the
    # client 4 requests at a time and the MCP tool against an emulator process, then the client one at a time
    # against an emulator on its worker's thread
    bulk = _table_rows(out, "bulk_call_details reconciliation (emulator latency 0 ms")
    assert [row.split()[:3] for row in bulk] == [["client", "process", "4"], ["MCP", "tool", "(in-process)"]]
    for row in bulk:
        assert re.search(r"\b300\b.*\s3\s+3\s+290/10\s", row), row
    with_latency = _table_rows(out, "bulk_call_details reconciliation (emulator latency 5 ms")
    assert [row.split()[:3] for row in with_latency] == [["client", "thread", "1"]]
    assert re.search(r"\s2\s+2\s+195/5\s", with_latency[0]), with_latency[0]

    # tiny reconcile_calls: the same 300 ids raw, through the tool in-process and over stdio, 3 requests each
    tool = _table_rows(out, "reconcile_calls over 300 ids against the raw API")
    assert [row.split("  ")[0] for row in tool] == [
        "raw API (httpx, 100 ids x 4)",
        "reconcile_calls, in-process",
        "reconcile_calls, stdio",
    ]
    for row in tool:
        assert re.search(r"\s3\s+290/10\s+\d+\.\d\dx$", row), row

    # tiny campaigns: prepare 20 rows, the page of 30, a 20-row campaign dialled to the end, the claim cost
    campaigns = _table_rows(out, "Campaigns against the emulator")
    assert [row.split("  ")[0] for row in campaigns] == [
        "prepare_campaign, token mode, 20 rows",
        "approval page first GET, 30 rows",
        "prepare_campaign before it, human mode, 30 rows",
        "dispatcher CPU per dial, whole process, 20 rows",
        "our code per dial (dispatcher, guard, ledger), 20 rows",
        "campaign end to end, 20 rows, SQLite",
    ]
    assert re.search(r"last campaign: completed, rows \{'completed': 20\}, 20 dials", out)
    # the campaign with its dispatchers in processes of their own (SQLite here): every row completed, each once
    replicas = _table_rows(out, "A 20-row campaign end to end")
    assert [row.split("  ")[0] for row in replicas] == ["SQLite, 1 process(es) on one file"]
    assert "completed, {'completed': 20}, 20 dial rows" in replicas[0]
    assert re.search(r"^sqlite\s+100\s+same\s", out, re.MULTILINE)  # ledger_claim's table, 100 dials in the window
