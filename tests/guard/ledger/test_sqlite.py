"""guard/ledger/sqlite: the SQLite backend's own behaviour (its file in WAL mode, atomic nonce spending across
connections in threads, an unusable or locked file refused by name and as busy). What both backends share is
pinned in tests/guard/test_ledger.py."""

from __future__ import annotations

import sqlite3
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import anyio
import pytest

from server_support import NUMBER, call, dial_client, dials, refusal
from voicing_mcp.emulator.runner import RunningEmulator
from voicing_mcp.errors import GuardRefusal
from voicing_mcp.guard.ledger import Ledger

MODE = "legacy"  # the dial path under test does not depend on the protocol version


async def test_sqlite_the_file_is_created_on_first_use_in_wal_mode(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "ledger.sqlite3"
    ledger = Ledger(path)
    assert not path.exists()
    assert await ledger.recent() == []
    assert path.exists()
    ledger.close()
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_sqlite_nonce_spending_is_atomic_across_ledger_objects_in_threads(tmp_path: Path) -> None:
    path = tmp_path / "l.sqlite3"
    ledgers = [Ledger(path) for _ in range(10)]
    anyio.run(ledgers[0].recent)  # create the schema once
    results: list[bool] = []
    barrier = threading.Barrier(10)
    exp = datetime.now(UTC) + timedelta(minutes=5)

    def spend(ledger: Ledger) -> None:
        barrier.wait()
        results.append(anyio.run(lambda: ledger.spend_nonce("shared", expires_at=exp)))

    threads = [threading.Thread(target=spend, args=(lg,)) for lg in ledgers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [False] * 9 + [True]
    for lg in ledgers:
        lg.close()


@pytest.mark.parametrize("broken", ["not a database", "parent is a file"])
async def test_sqlite_an_unusable_ledger_refuses_the_dial_naming_the_file_and_nothing_is_dialled(
    emu: RunningEmulator, tmp_path: Path, broken: str
) -> None:
    if broken == "not a database":
        ledger = tmp_path / "ledger.sqlite3"
        ledger.write_bytes(b"this is not an SQLite file\n" * 200)
    else:
        (tmp_path / "state").write_text("a file where a folder should be", encoding="utf-8")
        ledger = tmp_path / "state" / "ledger.sqlite3"
    async with dial_client(emu, tmp_path, MODE, ledger=ledger, allowed_numbers=NUMBER) as client:
        text = refusal(await call(client), "ledger")
    assert str(ledger) in text and "VOICING_LEDGER" in text
    assert "Error executing tool initiate_outbound_call" not in text.split(":", 1)[1]
    assert dials(emu) == 0


def test_sqlite_a_locked_ledger_is_refused_as_busy_without_advice_to_move_it_aside(tmp_path: Path) -> None:
    """SQLite's 'database is locked' means another server holds the ledger: moving the file aside would throw
    away the rows that block numbers with unknown outcomes."""
    ledger = Ledger(tmp_path / "l.sqlite3")

    def locked(_: sqlite3.Connection) -> None:
        raise sqlite3.OperationalError("database is locked")

    with pytest.raises(GuardRefusal) as err:
        ledger._run(locked)
    assert err.value.rule == "ledger"
    assert "another process holds it" in str(err.value) and "do not move the file aside" in str(err.value)
    ledger.close()
