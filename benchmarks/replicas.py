"""Replicas under load and crashes: N server replicas on one ledger, M concurrent MCP sessions racing dials.

``python benchmarks/replicas.py [--ledger URL_OR_PATH] [--replicas 3] [--sessions 50] [--attempts 1000]
[--numbers 100] [--emulator process|thread]``: one emulator process (or thread), the replicas (``--transport
http --http-stateless``, one VOICING_TOKEN_SECRET), and sessions whose every HTTP request goes to the next
replica (a load balancer without sticky sessions, so a token issued by one replica is redeemed on another).
Attempts: a preview and its token, then the dial with it; some replay the token afterwards; a tenth of the
numbers are allow-listed and dial directly; the emulator fails some dials (proven not placed, and placed with
the answer lost). Then a replica is killed (SIGKILL) while its dial is held by the emulator, and restarted.

Prints the verdict (at most one call per number, every call from one spent confirmation, no error other than
the guard's refusals and the gateway's faults) and a table: dials/s, p50/p99 tool latency, the ledger's share.
``tests/test_replicas.py`` runs the same code small and asserts the verdict.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a file: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp_types import CallToolResult, TextContent

from benchmarks import _fleet as fleet
from benchmarks._common import REPO, machine_line, table
from voicing_mcp.redact import mask_number

ASSISTANT = "019addcc-b878-7b10-85f1-49f21342f947"  # "Hi {{name}}, your {{plan_type}} plan payment is pending."
VARIABLES = {"name": "Ada", "plan_type": "gold"}
MODES = ("legacy", "2026-07-28")
#: dial faults armed on the emulator before the race: (kind, times)
FAULTS = (("503", 4), ("500", 3), ("drop-after-accept", 3), ("accept-then-524", 2))


def number(i: int) -> str:
    return f"+1701811{2000 + i}"


@dataclass
class Outcome:
    """One tool call's result, classified."""

    kind: str  # started, token, refused:<rule>, not-placed, unknown, error
    seconds: float
    number: str
    token: str | None = None
    text: str = ""
    port: int = 0
    """The replica that answered (the port of the call's last HTTP request)."""


@dataclass
class RaceReport:
    outcomes: list[Outcome] = field(default_factory=list[Outcome])
    seconds: float = 0.0
    placed: dict[str, int] = field(default_factory=dict[str, int])
    rows: list[dict[str, Any]] = field(default_factory=list[dict[str, Any]])
    ledger: dict[str, dict[str, float]] = field(default_factory=dict[str, dict[str, float]])
    allowed: set[str] = field(default_factory=set[str])
    attempts: int = 0
    cross_replica: int = 0
    """Tokens redeemed on another replica than the one that issued them."""

    def kinds(self) -> Counter[str]:
        return Counter(o.kind for o in self.outcomes)

    def problems(self) -> list[str]:
        """Every broken promise; empty when the fleet kept them all."""
        out: list[str] = []
        for num, count in self.placed.items():
            if count > 1:
                out.append(f"{num}: {count} calls placed within the duplicate window")
        errors = [o for o in self.outcomes if o.kind == "error"]
        out += [f"server error: {o.text[:300]}" for o in errors[:5]]
        if len(errors) > 5:
            out.append(f"... {len(errors) - 5} more server errors")
        dialled = [o for o in self.outcomes if o.kind in ("started", "unknown") and o.token is not None]
        tokens = Counter(o.token for o in dialled)
        out += [f"token dialled {n} times" for t, n in tokens.items() if n > 1]
        # every placed call has its one ledger row, confirmed by a spent token (or the allow-list)
        live = [r for r in self.rows if r["status"] != "failed"]
        by_number = Counter(r["phone_e164"] for r in live)
        for num, count in self.placed.items():
            if by_number.get(num, 0) != 1:
                out.append(f"{num}: {count} call(s) placed but {by_number.get(num, 0)} live ledger row(s)")
        for r in live:
            want = "allow-list" if r["phone_e164"] in self.allowed else "token"
            if r["confirmation"] != want:
                out.append(f"ledger #{r['id']}: confirmed by {r['confirmation']}, expected {want}")
        started_tokens = sum(1 for o in self.outcomes if o.kind == "started" and o.token is not None)
        token_rows = sum(1 for r in live if r["confirmation"] == "token" and r["status"] == "started")
        if started_tokens != token_rows:
            out.append(f"{started_tokens} dials started by a token, but {token_rows} started token rows")
        return out


def classify(result: CallToolResult, seconds: float, num: str, token: str | None) -> Outcome:
    text = next((b.text for b in result.content if isinstance(b, TextContent)), "")
    text = text.removeprefix("Error executing tool initiate_outbound_call: ")
    if not result.is_error:
        data = result.structured_content or {}
        status = data.get("status")
        if status == "started":
            return Outcome("started", seconds, num, token)
        if status == "confirmation_required" and data.get("confirmation_token"):
            return Outcome("token", seconds, num, str(data["confirmation_token"]))
        return Outcome("error", seconds, num, token, f"unexpected result: {text}")
    if text.startswith("refused by the dial guard ["):
        return Outcome("refused:" + text.split("[", 1)[1].split("]", 1)[0], seconds, num, token, text)
    if text.startswith("the call was NOT placed"):
        return Outcome("not-placed", seconds, num, token, text)
    if text.startswith("outcome unknown"):
        return Outcome("unknown", seconds, num, token, text)
    return Outcome("error", seconds, num, token, text)


async def dial_once(client: Client, balancer: fleet.RoundRobin, num: str, token: str | None = None) -> Outcome:
    outcome = await _dial_once(client, num, token)
    outcome.port = balancer.last_port
    return outcome


async def _dial_once(client: Client, num: str, token: str | None = None) -> Outcome:
    args: dict[str, Any] = {"assistant_id": ASSISTANT, "phone_number": num, "input_variables": VARIABLES}
    if token is not None:
        args["confirmation_token"] = token
    start = time.perf_counter()
    try:
        result = await client.call_tool("initiate_outbound_call", args)
    except Exception as exc:  # the transport or the server failed: a server error
        return Outcome("error", time.perf_counter() - start, num, token, f"{type(exc).__name__}: {exc}")
    return classify(result, time.perf_counter() - start, num, token)


async def attempt(
    client: Client, balancer: fleet.RoundRobin, num: str, kind: str, allowed: bool, report: RaceReport
) -> None:
    """One dial attempt: directly (allow-listed), or a preview for a token and the dial with it (and a replay)."""
    out = report.outcomes
    if allowed:
        out.append(await dial_once(client, balancer, num))
        return
    first = await dial_once(client, balancer, num)
    out.append(first)
    if first.kind != "token":
        return
    if kind == "replay":
        # the same token on two replicas at once (consecutive requests go to different replicas): one dials at most
        both = await asyncio.gather(*(dial_once(client, balancer, num, first.token) for _ in range(2)))
        out.extend(both)
        report.cross_replica += 1  # two consecutive requests, two replicas: one at least is not the issuer
        if sum(1 for o in both if o.kind in ("started", "unknown", "not-placed")) > 1:
            both[1].kind, both[1].text = "error", "a replayed token reached the API twice"
        return
    second = await dial_once(client, balancer, num, first.token)
    out.append(second)
    if second.port != first.port:
        report.cross_replica += 1


async def session_worker(
    ports: list[int], index: int, queue: asyncio.Queue[tuple[str, str]], report: RaceReport
) -> None:
    """One MCP session taking attempts off the queue. A session that breaks (its connection lost) is an error in
    the report, never a silent loss: the worker opens a new session and goes on."""
    while not queue.empty():
        http, balancer = fleet.balanced_client(ports, start=index)
        try:
            async with Client(
                streamable_http_client(f"http://127.0.0.1:{ports[0]}/mcp", http_client=http), mode=MODES[index % 2]
            ) as client:
                while True:
                    try:
                        num, kind = queue.get_nowait()
                    except asyncio.QueueEmpty:
                        break
                    await attempt(client, balancer, num, kind, num in report.allowed, report)
        except Exception as exc:  # the session's transport failed
            report.outcomes.append(Outcome("error", 0.0, "", text=f"session broke: {type(exc).__name__}: {exc}"))
        finally:
            await http.aclose()


def plan(attempts: int, numbers: int, seed: int) -> list[tuple[str, str]]:
    rng = random.Random(seed)
    return [(number(rng.randrange(numbers)), "replay" if rng.random() < 0.2 else "plain") for _ in range(attempts)]


async def read_rows(ledger: str) -> list[dict[str, Any]]:
    """Every ledger row, through the ledger's own interface (SQLite file or PostgreSQL URL)."""
    from pydantic import SecretStr  # noqa: PLC0415

    from voicing_mcp.guard.ledger import open_ledger  # noqa: PLC0415

    led = open_ledger(SecretStr(ledger) if ledger.startswith("postgres") else Path(ledger))
    try:
        rows = await led.recent(1_000_000)
    finally:
        await led.aclose()
    return [{**r.public(), "phone_e164": r.phone_e164} for r in rows]


async def race(ports: list[int], base_url: str, *, sessions: int, attempts: int, numbers: int, seed: int) -> RaceReport:
    report = RaceReport(allowed={number(i) for i in range(0, numbers, 10)}, attempts=attempts)
    for fault, times in FAULTS:
        fleet.arm(base_url, fault, times)
    queue: asyncio.Queue[tuple[str, str]] = asyncio.Queue()
    for item in plan(attempts, numbers, seed):
        queue.put_nowait(item)
    start = time.perf_counter()
    await asyncio.gather(*(session_worker(ports, i, queue, report) for i in range(sessions)))
    report.seconds = time.perf_counter() - start
    return report


@dataclass
class CrashReport:
    row: dict[str, Any]
    placed_after: int
    outcome_after: Outcome
    problems: list[str]


async def crash(fleet_state: Fleet, *, numbers: int) -> CrashReport:
    """Hold a dial in the emulator (``timeout`` fault), kill -9 its replica while it waits, restart it, dial again."""
    num = number(numbers + 7)  # a number the race never dialled
    victim = fleet_state.replicas[0]
    httpx.delete(fleet_state.base_url + "/_emulator/faults", timeout=30)  # faults the race left armed
    fleet.arm(fleet_state.base_url, "timeout", 1)
    http, balancer = fleet.balanced_client([victim.port])
    async with Client(streamable_http_client(victim.url, http_client=http), mode="legacy") as client:
        first = await dial_once(client, balancer, num)
        assert first.kind == "token", first
        held = asyncio.ensure_future(dial_once(client, balancer, num, first.token))
        in_flight = await fleet.wait_until(
            lambda: any(
                e.get("fault") == "timeout"
                for e in fleet.emulator_get(fleet_state.base_url, "/_emulator/requests")["requests"]
            )
        )
        await asyncio.sleep(0.2)
        fleet.kill_replica(victim)
        await asyncio.gather(held, return_exceptions=True)
    await http.aclose()
    fleet_state.replicas[0] = fleet.ready(fleet.launch_replica(fleet_state.env))
    row = (await read_rows(fleet_state.ledger))[0]  # the newest row: the killed dial's
    # the restarted replica (and another one) asked again: refused, nothing dialled
    again_ports = [fleet_state.replicas[0].port, fleet_state.replicas[-1].port]
    http, balancer = fleet.balanced_client(again_ports)
    async with Client(streamable_http_client(fleet_state.replicas[0].url, http_client=http), mode="legacy") as client:
        again = await dial_once(client, balancer, num)
        if again.kind == "token":
            again = await dial_once(client, balancer, num, again.token)
    await http.aclose()
    placed = fleet.placed_calls(fleet_state.base_url).get(num, 0)
    problems: list[str] = []
    if not in_flight:
        problems.append("the held dial never reached the emulator: the replica was not killed mid-dial")
    if row["phone_masked"] != mask_number(num):
        problems.append(f"the newest ledger row is not the killed dial's: {row}")
    if row["status"] not in ("pending", "unknown"):
        problems.append(f"the killed dial's row is {row['status']!r}, not pending/unknown")
    if placed > 1:
        problems.append(f"{placed} calls placed to the number of the killed dial")
    if again.kind in ("started", "unknown", "error"):
        problems.append(f"the dial after the restart was {again.kind}: {again.text[:200]}")
    return CrashReport(row, placed, again, problems)


@dataclass
class Fleet:
    base_url: str
    ledger: str
    env: dict[str, str]
    replicas: list[fleet.Replica]

    @property
    def ports(self) -> list[int]:
        return [r.port for r in self.replicas]


async def run(
    ledger: str | None,
    *,
    replicas: int,
    sessions: int,
    attempts: int,
    numbers: int,
    seed: int = 1,
    work: Path,
    emulator: str = "process",
) -> tuple[RaceReport, CrashReport]:
    """Start the fleet, race, crash, and stop everything. The emulator runs in a process of its own (``process``),
    or on a thread of this one (``thread``: the test, one interpreter start fewer; the replicas are processes)."""
    from benchmarks._common import start_emulator  # noqa: PLC0415

    timings = work / "timings"
    timings.mkdir(parents=True, exist_ok=True)
    ledger = ledger or str(work / "ledger.sqlite3")
    with start_emulator(emulator, seed_calls=0) as emu:
        allowed = [number(i) for i in range(0, numbers, 10)]
        env = fleet.fleet_env(
            base_url=emu.base_url,
            ledger=ledger,
            secret=fleet.new_secret(),
            state=work / "state",
            timings=timings,
            allowed=allowed,
        )
        state = Fleet(emu.base_url, ledger, env, [])
        try:
            state.replicas = fleet.start_replicas(env, replicas)
            report = await race(
                state.ports, emu.base_url, sessions=sessions, attempts=attempts, numbers=numbers, seed=seed
            )
            report.placed = fleet.placed_calls(emu.base_url)
            report.rows = await read_rows(ledger)
            await asyncio.sleep(1.2)  # the replicas' last ledger timings on disk
            report.ledger = fleet.ledger_times(timings)
            crashed = await crash(state, numbers=numbers)
        finally:
            for r in state.replicas:
                fleet.stop_replica(r)
    return report, crashed


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, round(q * (len(ordered) - 1))))]


def summary(name: str, report: RaceReport) -> list[str]:
    times = [o.seconds for o in report.outcomes]
    dial_calls = [o for o in report.outcomes if o.kind != "error"]
    ledger_seconds = sum(v["seconds"] for v in report.ledger.values())
    share = ledger_seconds / sum(times) if times else 0.0
    per_call = ledger_seconds / len(dial_calls) if dial_calls else 0.0
    return [
        name,
        f"{report.attempts / report.seconds:.1f}",
        str(len(report.outcomes)),
        f"{len(report.outcomes) / report.seconds:.0f}",
        str(sum(report.placed.values())),
        f"{percentile(times, 0.5) * 1000:.0f}",
        f"{percentile(times, 0.99) * 1000:.0f}",
        f"{per_call * 1000:.1f}",
        f"{share:.0%}",
    ]


HEADERS = [
    "ledger",
    "attempts/s",
    "tool calls",
    "calls/s",
    "placed",
    "p50 ms",
    "p99 ms",
    "ledger ms/call",
    "ledger share",
]


def print_report(name: str, report: RaceReport, crashed: CrashReport) -> None:
    kinds = report.kinds()
    print(
        f"\n{name}: {report.seconds:.1f} s; {report.cross_replica} token(s) redeemed on another replica; results: "
        + ", ".join(f"{k} {n}" for k, n in sorted(kinds.items()))
    )
    print(table(HEADERS, [summary(name, report)]))
    groups: dict[str, list[float]] = {}
    for o in report.outcomes:
        groups.setdefault(o.kind.split(":")[0], []).append(o.seconds)
    rows = [
        [kind, str(len(t)), f"{percentile(t, 0.5) * 1000:.0f}", f"{percentile(t, 0.99) * 1000:.0f}"]
        for kind, t in sorted(groups.items())
    ]
    print(table(["result", "n", "p50 ms", "p99 ms"], rows))
    print(
        f"crash: killed row #{crashed.row['id']} is {crashed.row['status']}; calls to it {crashed.placed_after}; "
        f"after restart: {crashed.outcome_after.kind}"
    )
    problems = report.problems() + crashed.problems
    print("verdict: " + ("all promises kept" if not problems else "BROKEN:\n  " + "\n  ".join(problems)))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    p.add_argument(
        "--ledger", action="append", help="ledger path or postgresql:// URL (repeatable; default: a temp SQLite file)"
    )
    p.add_argument("--replicas", type=int, default=3)
    p.add_argument("--sessions", type=int, default=50)
    p.add_argument("--attempts", type=int, default=1000)
    p.add_argument("--numbers", type=int, default=100)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument(
        "--emulator",
        choices=["process", "thread"],
        default="process",
        help="the emulator in a process of its own (default) or on a thread of this one",
    )
    p.add_argument(
        "--throwaway-postgres",
        action="store_true",
        help="also run on a throwaway PostgreSQL cluster (the tests' tests/pg_support.py: initdb/pg_ctl needed)",
    )
    args = p.parse_args(argv)
    print(machine_line(), flush=True)
    if args.throwaway_postgres:
        with throwaway_postgres() as url:
            return _main(args, [*(args.ledger or [None]), url])
    return _main(args, args.ledger or [None])


@contextlib.contextmanager
def throwaway_postgres() -> Iterator[str]:
    """A PostgreSQL cluster in a temp folder (tests/pg_support.py), one database; its URL."""
    sys.path.insert(0, str(REPO / "tests"))
    import pg_support  # noqa: PLC0415 (the tests' helper; only for --throwaway-postgres)

    cluster = pg_support.start_cluster()
    try:
        yield cluster.create_database()
    finally:
        pg_support.remove_cluster(cluster)


def _main(args: argparse.Namespace, ledgers: list[str | None]) -> int:
    print(f"{args.replicas} replicas, {args.sessions} sessions, {args.attempts} attempts over {args.numbers} numbers")
    failed = False
    for ledger in ledgers:
        with tempfile.TemporaryDirectory() as tmp:
            report, crashed = asyncio.run(
                run(
                    ledger,
                    replicas=args.replicas,
                    sessions=args.sessions,
                    attempts=args.attempts,
                    numbers=args.numbers,
                    seed=args.seed,
                    work=Path(tmp),
                    emulator=args.emulator,
                )
            )
        name = "postgresql" if ledger and ledger.startswith("postgres") else "sqlite"
        print_report(name, report, crashed)
        failed = failed or bool(report.problems() or crashed.problems)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
