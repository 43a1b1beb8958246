"""The API key never reaches stdout or stderr, even at ``--log-level DEBUG`` with every library logging."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import tests.server.test_stdio as stdio
from server_support import ASSISTANT
from voicing_mcp.emulator.runner import emulator_in_thread
from voicing_mcp.emulator.state import EmulatorConfig

WRONG_KEY = "sk-wrong-7c1d93be55"


async def test_a_debug_session_with_a_rejected_key_never_logs_the_key(tmp_path: Path) -> None:
    with emulator_in_thread(EmulatorConfig(api_key="the-right-key")) as emu:
        env = stdio.clean_env(tmp_path)
        env.update(VOICING_API_KEY=WRONG_KEY, VOICING_BASE_URL=emu.base_url, VOICING_ENV="development")
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "voicing_mcp",
            "--log-level",
            "DEBUG",
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=env,
            cwd=tmp_path,
        )
        s = stdio.RawSession(proc)
        try:
            await s.request(
                "initialize",
                {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "test", "version": "0"}},
            )
            await s.notify("notifications/initialized")
            answers = [
                await s.request("tools/call", {"name": name, "arguments": arguments})
                for name, arguments in [
                    ("list_calls", {}),
                    ("get_call_details", {"call_id": "c-1"}),
                    ("bulk_call_details", {"call_ids": ["c-1", "c-2"]}),
                    ("chat_with_assistant", {"assistant_id": ASSISTANT, "message": "hello"}),
                ]
            ]
            resource = await s.request("resources/read", {"uri": "voicing://calls/c-1"})
        finally:
            await s.drain()
            assert proc.stderr is not None
            stderr = (await proc.stderr.read()).decode("utf-8")

    assert all(a["result"]["isError"] is True for a in answers)
    assert all("VOICING_API_KEY" in a["result"]["content"][0]["text"] for a in answers)
    assert "VOICING_API_KEY" in resource["error"]["message"]
    assert "x-api-key: [redacted]" in stderr  # the WebSocket handshake headers were logged, without the key
    assert WRONG_KEY not in stderr
    assert not any(WRONG_KEY in line for line in s.lines)
