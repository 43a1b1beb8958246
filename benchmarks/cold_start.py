"""Cold start: process start to a completed MCP ``initialize`` + ``tools/list`` over stdio.

``python -m benchmarks.cold_start [--repeat N] [--top K]`` (or ``python benchmarks/cold_start.py``).

Runs ``python -m voicing_mcp`` as a real stdio subprocess driven by the MCP SDK's client, N times, in
local mode (built-in emulator) and with a key (a remote API, never contacted before a tool call), each
with a temporary ``VOICING_LEDGER``; the same for the baselines ``python -c pass``,
``python -c "import voicing_mcp.cli"``, ``voicing-mcp --version`` and a bare ``MCPServer`` of the same
SDK with one trivial tool (``benchmarks/_bare_server.py``; "x bare" is the ratio to it). Then one more
start of each server under ``-X importtime`` lists the slowest imports on the start-up path and the
modules the server imports beyond the bare one, so a lost lazy import shows up as a new name.

Bytecode: the package's modules are compiled first (``compileall``, as ``pip install`` does and as any start without
``PYTHONDONTWRITEBYTECODE`` leaves them), so every case loads cached bytecode, as the SDK's installed modules always
do. Where ``PYTHONDONTWRITEBYTECODE=1`` is set and nothing compiled them, each start would compile voicing_mcp's
modules from source (~0.1 s on 2 loaded cores) while the bare server, all in site-packages, would not: ``--no-bytecode``
measures that case (every case with an empty bytecode cache of its own, so nothing of the repository is cached).

Columns: wall time (median, p95, min), the ratios of the medians, "paired x bare" (the median over rounds of
voicing-mcp's time / the bare server's in the same round: the cases are interleaved, so drifting load cancels), and
"CPU ms" (the child's user + system time, ``getrusage``: what load does not stretch).
"""

from __future__ import annotations

import argparse
import compileall
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import anyio
from mcp import Client
from mcp.client.stdio import StdioServerParameters, stdio_client

if __package__ in (None, ""):  # run as a file: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._common import REPO, Stats, child_env, machine_line, ms, ratio, table


@dataclass(frozen=True, slots=True)
class ImportLine:
    module: str
    self_us: int
    cumulative_us: int
    depth: int


SERVER = ("-m", "voicing_mcp")
BARE = ("-m", "benchmarks._bare_server")


async def _stdio_start(
    env: dict[str, str], errlog_path: Path, *, python_flags: tuple[str, ...] = (), module: tuple[str, ...] = SERVER
) -> float:
    """Seconds from spawning the server to the answer of ``tools/list`` (initialize done before it)."""
    params = StdioServerParameters(command=sys.executable, args=[*python_flags, *module], env=env, cwd=str(REPO))
    with errlog_path.open("a", encoding="utf-8") as errlog:
        start = time.perf_counter()
        async with Client(stdio_client(params, errlog=errlog), mode="legacy") as client:
            tools = await client.list_tools()
            elapsed = time.perf_counter() - start
        if not tools.tools:
            raise RuntimeError("the server listed no tools")
    return elapsed


def _run_once(cmd: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    done = subprocess.run(cmd, env=env, cwd=REPO, capture_output=True, text=True, encoding="utf-8", check=False)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited {done.returncode}: {done.stderr.strip()[-500:]}")
    return elapsed


def _children_cpu() -> float:
    """CPU seconds (user + system) of every child this process has waited for."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _timed(run: Callable[[], float], cpu: list[float]) -> float:
    """``run()``'s wall seconds; the CPU seconds of the child it started and reaped appended to ``cpu``."""
    before = _children_cpu()
    elapsed = run()
    cpu.append(_children_cpu() - before)
    return elapsed


def compile_package() -> None:
    """Compile voicing_mcp and benchmarks/ to bytecode (as ``pip install`` does), even under PYTHONDONTWRITEBYTECODE."""
    for folder in ("voicing_mcp", "benchmarks"):
        compileall.compile_dir(REPO / folder, quiet=1)


def parse_importtime(text: str) -> list[ImportLine]:
    """The ``import time: self | cumulative | name`` lines of ``-X importtime`` output."""
    out: list[ImportLine] = []
    for raw in text.splitlines():
        if not raw.startswith("import time:"):
            continue
        parts = raw[len("import time:") :].split("|")
        if len(parts) != 3 or not parts[0].strip().isdigit():
            continue  # the header line
        name = parts[2].rstrip()
        stripped = name.lstrip()
        depth = (len(name) - len(stripped) - 1) // 2
        out.append(ImportLine(stripped, int(parts[0]), int(parts[1]), depth))
    return out


def _version_cmd() -> list[str]:
    script = Path(sys.executable).parent / "voicing-mcp"
    if script.exists():
        return [str(script), "--version"]
    return [sys.executable, "-m", "voicing_mcp", "--version"]


#: the stdio start cases: (row name, module, extra environment)
STDIO_CASES: list[tuple[str, tuple[str, ...], dict[str, str]]] = [
    ("bare MCPServer, 1 tool: tools/list", BARE, {}),
    ("voicing-mcp local mode: tools/list", SERVER, {}),
    ("voicing-mcp with a key: tools/list", SERVER, {"VOICING_API_KEY": "bench-key", "VOICING_ENV": "sandbox"}),
]


def _imports(env: dict[str, str], log: Path, module: tuple[str, ...]) -> list[ImportLine]:
    anyio.run(partial(_stdio_start, env, log, python_flags=("-X", "importtime"), module=module))
    return parse_importtime(log.read_text(encoding="utf-8"))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="Cold start of the stdio MCP server, with baselines and import times.")
    p.add_argument("--repeat", type=int, default=5, help="runs of each case (default 5)")
    p.add_argument("--top", type=int, default=10, help="slowest imports to list (default 10)")
    p.add_argument(
        "--no-bytecode",
        action="store_true",
        help="no cached bytecode of the repository: each start compiles voicing_mcp (default: compile it first)",
    )
    args = p.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="voicing-bench-") as tmp:
        tmpdir = Path(tmp)
        env = child_env(VOICING_LEDGER=str(tmpdir / "ledger.sqlite3"), XDG_STATE_HOME=str(tmpdir / "state"))
        if args.no_bytecode:  # an empty cache that is never written: the repository's modules compile at each start
            env.update(PYTHONDONTWRITEBYTECODE="1", PYTHONPYCACHEPREFIX=str(tmpdir / "no-pycache"))
        else:
            compile_package()
        stderr_log = tmpdir / "server-stderr.log"
        cases: list[tuple[str, list[float]]] = [
            ("python -c pass", []),
            ('python -c "import voicing_mcp.cli"', []),
            ("voicing-mcp --version", []),
            *((name, []) for name, _, _ in STDIO_CASES),
        ]
        commands = [
            [sys.executable, "-c", "pass"],
            [sys.executable, "-c", "import voicing_mcp.cli"],
            _version_cmd(),
        ]
        cpu: list[list[float]] = [[] for _ in cases]
        for _ in range(args.repeat):  # interleaved, so drifting machine load hits every case alike
            for (_, samples), used, cmd in zip(cases[:3], cpu[:3], commands, strict=True):
                samples.append(_timed(partial(_run_once, cmd, env), used))
            for (_, samples), used, (_, module, extra) in zip(cases[3:], cpu[3:], STDIO_CASES, strict=True):
                start = partial(_stdio_start, {**env, **extra}, stderr_log, module=module)
                samples.append(_timed(partial(anyio.run, start), used))

        imports = _imports(env, tmpdir / "importtime.log", SERVER)
        bare_imports = _imports(env, tmpdir / "importtime-bare.log", BARE)

    base = Stats.of(cases[0][1]).median
    cli_base = Stats.of(cases[1][1]).median
    bare = Stats.of(cases[3][1]).median
    bare_cpu = statistics.median(cpu[3])
    rows: list[list[str]] = []
    for i, (name, samples) in enumerate(cases):
        s = Stats.of(samples)
        paired = statistics.median(a / b for a, b in zip(samples, cases[3][1], strict=True)) if i >= 3 else None
        rows.append(
            [
                name,
                str(s.n),
                ms(s.median),
                ms(s.p95),
                ms(s.min),
                ratio(s.median, base),
                ratio(s.median, cli_base),
                ratio(s.median, bare),
                "-" if paired is None else f"{paired:.2f}x",
                ms(statistics.median(cpu[i])),
                ratio(statistics.median(cpu[i]), bare_cpu),
            ]
        )
    print(machine_line())
    print(
        "bytecode: none cached, each start compiles the repository's modules (--no-bytecode)"
        if args.no_bytecode
        else "bytecode: voicing_mcp and benchmarks compiled first (as pip install does)"
    )
    print()
    print(
        table(
            [
                "case",
                "runs",
                "median ms",
                "p95 ms",
                "min ms",
                "x python",
                "x import cli",
                "x bare",
                "paired x bare",
                "CPU ms",
                "CPU x bare",
            ],
            rows,
            title=(
                "Cold start (wall time from process start to the answer of tools/list over stdio, initialize "
                "first; temp VOICING_LEDGER)"
            ),
        )
    )
    total_us = sum(i.self_us for i in imports)
    print()
    print(
        f"-X importtime of one stdio start (local mode) up to tools/list: {len(imports)} modules, "
        f"{total_us / 1000:.0f} ms in all"
    )
    top_level = sorted((i for i in imports if i.depth == 0), key=lambda i: i.cumulative_us, reverse=True)
    print(
        table(
            ["top-level import", "cumulative ms", "self ms"],
            [[i.module, f"{i.cumulative_us / 1000:.1f}", f"{i.self_us / 1000:.1f}"] for i in top_level[: args.top]],
            title=f"\n{args.top} slowest top-level imports (each with everything it pulled in)",
        )
    )
    by_self = sorted(imports, key=lambda i: i.self_us, reverse=True)
    print(
        table(
            ["module", "self ms", "cumulative ms"],
            [[i.module, f"{i.self_us / 1000:.1f}", f"{i.cumulative_us / 1000:.1f}"] for i in by_self[: args.top]],
            title=f"\n{args.top} slowest single modules (own time)",
        )
    )
    bare_names = {i.module for i in bare_imports}
    extra = sorted((i for i in imports if i.module not in bare_names), key=lambda i: i.self_us, reverse=True)
    print()
    print(
        f"beyond the bare MCPServer's {len(bare_imports)} modules ({sum(i.self_us for i in bare_imports) / 1000:.0f} "
        f"ms): {len(extra)} modules, {sum(i.self_us for i in extra) / 1000:.0f} ms of own import time"
    )
    print(
        table(
            ["module (not imported by the bare server)", "self ms"],
            [[i.module, f"{i.self_us / 1000:.1f}"] for i in extra[: args.top]],
            title=f"{args.top} slowest of them",
        )
    )
    ours = [i for i in imports if i.module.startswith("voicing_mcp")]
    print()
    names = ", ".join(sorted({i.module.removeprefix("voicing_mcp.") for i in ours}))
    print(textwrap.fill(f"voicing_mcp modules imported on this path: {names}", width=110, subsequent_indent="  "))
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    raise SystemExit(main())
