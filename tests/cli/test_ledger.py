"""``python -m voicing_mcp.guard.ledger list|resolve`` as the README tells a human to run it (a subprocess),
and the outcome-unknown procedure followed literally through a real MCP session against the emulator."""

from __future__ import annotations

from pathlib import Path

from server_support import DIAL_PATH, NUMBER, call, dial_client, dials, helper, ledger_cli, refusal, structured, text_of
from voicing_mcp.emulator.runner import RunningEmulator

MODE = "legacy"  # the ledger's rows do not depend on the protocol version


async def test_after_a_human_releases_an_uncertain_dial_the_number_can_be_dialled_again(
    emu: RunningEmulator, tmp_path: Path
) -> None:
    """The README's outcome-unknown procedure, followed literally: the call is not in the API, a human runs
    ``python -m voicing_mcp.guard.ledger resolve <id>``, and the next dial goes through (within 10 minutes)."""
    ledger = tmp_path / "ledger.sqlite3"
    helper(emu, "POST", "/_emulator/faults", {"fault": "reset", "path": DIAL_PATH, "times": 1})
    async with dial_client(emu, tmp_path, MODE, ledger=ledger, allowed_numbers=NUMBER) as client:
        first = await call(client)
        assert first.is_error and "outcome unknown (ledger #1)" in text_of(first)
        assert "resolve 1" in refusal(await call(client), "outcome-unknown")
        released = ledger_cli(ledger, "resolve", "1")
        assert released.returncode == 0 and "released" in released.stdout, released.stdout + released.stderr
        again = structured(await call(client))
    assert again["status"] == "started" and again["ledger_id"] == 2
    assert dials(emu) == 1


def test_the_ledger_helper_reports_an_unusable_ledger_without_a_traceback(tmp_path: Path) -> None:
    ledger = tmp_path / "ledger.sqlite3"
    ledger.write_bytes(b"this is not an SQLite file\n" * 200)
    for args in (("list",), ("resolve", "1")):
        done = ledger_cli(ledger, *args)
        assert done.returncode == 1, done.stdout + done.stderr
        assert str(ledger) in done.stderr and "Traceback" not in done.stderr


def test_the_ledger_helper_pointed_at_no_ledger_says_so_and_creates_nothing(tmp_path: Path) -> None:
    missing = tmp_path / "state" / "ledger.sqlite3"
    for args in (("resolve", "1"), ("list",)):
        done = ledger_cli(missing, *args)
        assert done.returncode == 1, done.stdout + done.stderr
        assert str(missing) in done.stderr and "VOICING_LEDGER" in done.stderr
    assert not missing.exists() and not missing.parent.exists()


def test_the_ledger_command_without_a_ledger_says_the_demo_used_a_temporary_one(tmp_path: Path) -> None:
    missing = tmp_path / "state" / "ledger.sqlite3"
    done = ledger_cli(missing, "list")
    assert done.returncode == 1, done.stdout + done.stderr
    assert f"there is no ledger at {missing} yet" in done.stderr
    assert "'voicing-mcp demo' does not write here: it runs with a temporary ledger of its own" in done.stderr
