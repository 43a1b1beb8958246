"""Regression tests from the adversarial review of the dial path: each one failed before its fix.

Real parts throughout: the emulator over loopback HTTP, the server through an in-process MCP client
session, the ledger helper as a subprocess.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from server_support import helper, structured
from test_dial import NUMBER, call, dial_client, dials, refusal
from voicing_mcp.emulator.runner import RunningEmulator, emulator_in_thread
from voicing_mcp.emulator.state import EmulatorConfig

MODE = "legacy"  # the dial path under test does not depend on the protocol version


@pytest.fixture(scope="module")
def emu_module() -> Iterator[RunningEmulator]:
    with emulator_in_thread(EmulatorConfig()) as emu:
        yield emu


@pytest.fixture
def emu(emu_module: RunningEmulator) -> RunningEmulator:
    helper(emu_module, "POST", "/_emulator/reset")
    helper(emu_module, "DELETE", "/_emulator/faults")
    return emu_module


async def test_a_do_not_call_entry_in_national_format_blocks_the_number_without_a_default_region(
    emu: RunningEmulator, tmp_path: Path
) -> None:
    dnc = tmp_path / "dnc.txt"
    dnc.write_text("# written as people write numbers\n(701) 811-2582\n07911 123456  # a UK mobile\n", encoding="utf-8")
    # allow-listed, so without the do-not-call rule these would dial at once
    async with dial_client(emu, tmp_path, MODE, dnc_file=dnc, allowed_numbers="+1701*,+44*") as client:
        refusal(await call(client, phone_number=NUMBER), "do-not-call")
        refusal(await call(client, phone_number="+44 7911 123456"), "do-not-call")
        other = structured(await call(client, phone_number="+17018112583"))
    assert other["status"] == "started"
    assert dials(emu) == 1
