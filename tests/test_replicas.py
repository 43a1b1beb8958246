"""Replicas under load and crashes: three server processes on one ledger and one VOICING_TOKEN_SECRET, sessions
racing dials through a load balancer without sticky sessions, then a replica killed in the middle of a dial.

The code is the benchmark's (benchmarks/replicas.py), run small here (CI time); the benchmark runs the full
size (50 sessions, 1,000 attempts over 100 numbers) and prints the numbers. Real parts only: the replicas are
processes, the emulator runs on a thread of the test's process (loopback HTTP, as a process of its own would; one
interpreter start fewer), the sessions are the SDK's streamable HTTP client, the kill is SIGKILL.

Small but still a race: 10 sessions at once over 20 numbers, 60 attempts (three a number on average, a fifth of
them replaying their token on two replicas at once), the 12 armed gateway faults all spent on the first dials.
"""

from __future__ import annotations

from pathlib import Path

from benchmarks.replicas import run


async def test_three_replicas_never_dial_a_number_twice_and_a_killed_dial_stays_blocked(
    tmp_path: Path, ledger_setting: str
) -> None:
    """On each backend (an SQLite file the three processes share; a PostgreSQL database of its own)."""
    race, crash = await run(
        ledger_setting, replicas=3, sessions=10, attempts=60, numbers=20, seed=3, work=tmp_path, emulator="thread"
    )
    kinds = race.kinds()
    # the race exercised what it claims to: dials, duplicates, tokens redeemed on another replica, gateway faults
    assert kinds["started"] > 0 and kinds["refused:duplicate"] > 0, kinds
    assert kinds["not-placed"] > 0 and kinds["unknown"] > 0, kinds
    assert race.cross_replica > 0
    # at most one call per number, every call one live ledger row confirmed once, no error but the guard's
    assert race.problems() == []
    assert sum(race.placed.values()) > 0 and max(race.placed.values()) == 1
    # the kill: the row as the ledger reads it back is still pending, nothing was dialled twice
    assert crash.problems == []
    assert crash.row["status"] == "pending", crash.row
    assert crash.placed_after <= 1
    assert crash.outcome_after.kind.startswith("refused:"), crash.outcome_after
