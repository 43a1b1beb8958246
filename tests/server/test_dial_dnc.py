"""The do-not-call file through a real MCP session against the emulator: a CSV/TSV-style file blocks every
number it lists, and a line that cannot be read refuses every dial until it is fixed."""

from __future__ import annotations

import os
from pathlib import Path

from server_support import structured
from tests.server.test_dial import NUMBER, call, dial_client, dials, refusal
from voicing_mcp.emulator.runner import RunningEmulator

MODE = "legacy"  # the do-not-call rule does not depend on the protocol version
LISTED = ["+17018112582", "+17018112583", "+17018112584", "+17025550200"]


async def test_numbers_with_notes_or_side_by_side_are_blocked_and_a_broken_line_refuses_every_dial(
    emu: RunningEmulator, tmp_path: Path
) -> None:
    dnc = tmp_path / "dnc.txt"
    dnc.write_text("+17018112582,John Smith\n+17018112583\tJane Doe\n+17018112584;+17025550200\n", encoding="utf-8")
    # allow-listed, so without the do-not-call rule each of these would dial at once
    async with dial_client(emu, tmp_path, MODE, dnc_file=dnc, allowed_numbers="+1701*,+1702*") as client:
        for number in LISTED:
            text = refusal(await call(client, phone_number=number), "do-not-call")
            assert "is on the do-not-call list" in text
        assert dials(emu) == 0

        # a note that is not in a column of its own: the line is named, nobody is dialled, not even a new number
        before = dnc.stat()
        dnc.write_text("+17018112582,John Smith\n+17018112583 Jane Doe\n+17018112584;+17025550200\n", encoding="utf-8")
        os.utime(dnc, ns=(before.st_atime_ns, before.st_mtime_ns))  # same size, same mtime
        text = refusal(await call(client, phone_number="+17018112599"), "do-not-call-file")
        assert "line 2 '+1 701 ••• ••83 Jane Doe': column 1 is a note (it has letters) but holds" in text
        assert str(dnc) in text
        assert dials(emu) == 0

        dnc.write_text("+17018112582,John Smith\n+17018112583\tJane Doe\n", encoding="utf-8")
        assert structured(await call(client, phone_number="+17018112584"))["status"] == "started"
        refusal(await call(client, phone_number="+17018112583"), "do-not-call")
    assert dials(emu) == 1


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
