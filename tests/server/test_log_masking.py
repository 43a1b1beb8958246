"""Phone numbers are masked in everything the server logs, including the SDK's own log lines."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import tests.server.test_stdio as stdio
from server_support import ASSISTANT
from voicing_mcp.redact import hide_confirm_links, mask_numbers_in


async def test_a_refused_dial_logged_by_the_sdk_shows_the_number_masked_on_stderr(tmp_path: Path) -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "voicing_mcp",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=stdio.clean_env(tmp_path) | {"VOICING_LOG_LEVEL": "info"},  # the SDK logs a failed tool call at info
        cwd=tmp_path,
    )
    s = stdio.RawSession(proc)
    variables = {"name": "Ada", "plan_type": "gold"}
    try:
        await s.request(
            "initialize",
            {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "test", "version": "0"}},
        )
        await s.notify("notifications/initialized")
        wrong_length = await s.request(
            "tools/call",
            {
                "name": "initiate_outbound_call",
                "arguments": {"assistant_id": ASSISTANT, "phone_number": "+1900555012", "input_variables": variables},
            },
        )
        national = await s.request(
            "tools/call",
            {
                "name": "initiate_outbound_call",
                "arguments": {"assistant_id": ASSISTANT, "phone_number": "7018112582", "input_variables": variables},
            },
        )
    finally:
        await s.drain()
        assert proc.stderr is not None
        stderr = (await proc.stderr.read()).decode("utf-8")

    # the model is told the number it sent (it has to correct it) ...
    assert wrong_length["result"]["isError"] is True and "+1900555012" in wrong_length["result"]["content"][0]["text"]
    assert national["result"]["isError"] is True and "7018112582" in national["result"]["content"][0]["text"]
    # ... the log on stderr records that the calls failed, never the numbers
    assert "initiate_outbound_call" in stderr and "failed" in stderr
    assert "+1900555012" not in stderr and "7018112582" not in stderr
    assert "+1 900 ••• •12" in stderr and "••••••••82" in stderr


def test_masking_in_log_text_leaves_ids_dates_times_and_addresses_alone() -> None:
    text = (
        "call edb04005-8c50-4d54-abc7-281bde810191 of assistant 019addcc-0000-7000-8000-000000000001 "
        "at 2026-11-25 19:45:26 (2026-11-25T18:12:54Z) via http://127.0.0.1:45543, 300 calls in 84 ms"
    )
    assert mask_numbers_in(text) == text


def test_masking_in_log_text_hides_e164_and_national_forms() -> None:
    masked = mask_numbers_in("dial +17018112582, then (701) 811-2582 or 701 811 2582 and '7018112582'")
    assert masked == "dial +1 701 ••• ••82, then ••••••••82 or ••••••••82 and '••••••••82'"


def test_confirm_links_are_hidden_in_every_spelling_a_log_line_may_use() -> None:
    page = "V_yrWzETztBUn7ttiYL9la0Ez_9M7Wu6Ftf4Hp8mnQg"
    for text, shown in [
        (f"url http://127.0.0.1:5/confirm/{page} x", "url http://127.0.0.1:5/confirm/<hidden> x"),
        (f'"http:\\/\\/127.0.0.1:5\\/confirm\\/{page}"', '"http:\\/\\/127.0.0.1:5\\/confirm\\/<hidden>"'),
        (f"http%3A%2F%2F127.0.0.1%3A5%2Fconfirm%2f{page}", "http%3A%2F%2F127.0.0.1%3A5%2Fconfirm%2f<hidden>"),
        ("confirm/decline the call", "confirm/decline the call"),
    ]:
        assert hide_confirm_links(text) == shown
