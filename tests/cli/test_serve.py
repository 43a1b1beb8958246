"""``voicing-mcp [--transport stdio|sse|http]`` (cli/serve.py), run as a subprocess as a client or a user starts it:
what it says at a terminal, and the settings that stop the start (exit 2, one line per problem, nothing served)."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
from pathlib import Path

import pytest

from voicing_mcp.cli.serve import STDIO_AT_A_TERMINAL

PG_URL = "postgresql://voicing:Pg-pass-9d1e@127.0.0.1:5/voicing"  # never contacted: the start stops before


def serve(tmp_path: Path, *args: str, **env_extra: str) -> subprocess.CompletedProcess[str]:
    """The server started with ``args`` and the given VOICING_* settings alone, stdin closed; waits for it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("VOICING_")}
    env.update(XDG_STATE_HOME=str(tmp_path / "state"), **env_extra)
    return subprocess.run(
        [sys.executable, "-m", "voicing_mcp", *args],
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_the_stdio_server_started_at_a_terminal_says_it_waits_for_a_client(tmp_path: Path) -> None:
    """Run by hand (the README's troubleshooting says to), the server sat silent; with stdin a terminal it says
    why, on stderr. A client's pipe gets no such line (stdout stays the protocol's either way)."""

    env = {k: v for k, v in os.environ.items() if not k.startswith("VOICING_")}
    env["XDG_STATE_HOME"] = str(tmp_path / "state")
    leader, follower = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "voicing_mcp"], env=env, stdin=follower, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    os.close(follower)
    try:
        assert proc.stderr is not None
        first = proc.stderr.readline().decode("utf-8")
    finally:
        proc.kill()
        proc.wait(timeout=30)
        os.close(leader)
    assert first.startswith("voicing-mcp: serving MCP over stdio — an MCP client starts this command"), first
    assert "Ctrl-C stops" in first and "voicing-mcp demo" in first

    piped = subprocess.Popen(
        [sys.executable, "-m", "voicing_mcp"],
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    _, err = piped.communicate(b"", timeout=60)  # a client that closes at once: the server ends
    assert b"serving MCP over stdio" not in err


@pytest.mark.parametrize("transport", ["stdio", "http"])
def test_a_server_on_a_shared_ledger_without_the_token_secret_refuses_to_start(tmp_path: Path, transport: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VOICING_")}
    env.update(XDG_STATE_HOME=str(tmp_path), VOICING_LEDGER=PG_URL)
    done = subprocess.run(
        [sys.executable, "-m", "voicing_mcp", "--transport", transport, "--port", "0"],
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2, done.stderr
    assert "VOICING_TOKEN_SECRET is required with a shared (postgresql://) VOICING_LEDGER" in done.stderr
    assert "Pg-pass-9d1e" not in done.stderr + done.stdout


def test_the_readme_section_the_terminal_message_cites_exists() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    section = STDIO_AT_A_TERMINAL.split("see README, ")[1]
    assert f"\n## {section}\n" in readme


def test_bad_settings_stop_the_start_with_one_line_each_and_nothing_on_stdout(tmp_path: Path) -> None:
    done = serve(tmp_path, VOICING_QUIET_HOURS="25:00-08:00", VOICING_LOG_LEVEL="loud")
    assert done.returncode == 2, done.stderr
    assert done.stdout == ""
    lines = done.stderr.splitlines()
    assert lines[0] == "voicing-mcp: invalid settings:"
    assert [line.split(":")[0].strip() for line in lines[1:]] == ["VOICING_QUIET_HOURS", "VOICING_LOG_LEVEL"]
    assert "hour 25 is out of range 00-23" in lines[1]


def test_a_bad_setting_stops_the_start_before_the_mcp_sdk_is_imported(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VOICING_")}
    env.update(XDG_STATE_HOME=str(tmp_path / "state"), VOICING_QUIET_HOURS="later")
    probe = "import sys; from voicing_mcp.cli import main; status = main([]); print(status, 'mcp' in sys.modules)"
    done = subprocess.run(
        [sys.executable, "-c", probe], env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60
    )
    assert done.stdout.split() == ["2", "False"], done.stderr
    assert "VOICING_QUIET_HOURS" in done.stderr


def test_the_server_starts_with_the_garbage_collector_paused_and_serves_with_it_on_and_the_start_frozen(
    tmp_path: Path,
) -> None:
    """The start's ~140,000 long-lived objects (the SDK's modules, the tools' schemas) are frozen once built, so
    the collector neither traverses them during the start nor on every later full collection; it is on again
    for everything the server does after."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("VOICING_")}
    env.update(XDG_STATE_HOME=str(tmp_path / "state"))
    probe = (
        "import gc; from voicing_mcp.cli import main; status = main([]); "
        "print(status, gc.isenabled(), gc.get_freeze_count() > 50_000)"
    )
    done = subprocess.run(  # stdin at its end: the stdio server starts, reads EOF and stops
        [sys.executable, "-c", probe], env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60
    )
    assert done.stdout.split() == ["0", "True", "True"], done.stderr


def test_stateless_http_from_the_environment_refuses_the_sse_transport(tmp_path: Path) -> None:
    done = serve(tmp_path, "--transport", "sse", "--port", "0", VOICING_HTTP_STATELESS="true")
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip() == (
        "voicing-mcp: VOICING_HTTP_STATELESS=true applies to --transport http only (streamable HTTP): an SSE session "
        "lives in the replica that opened it; serve --transport http, or unset VOICING_HTTP_STATELESS"
    )


def test_the_api_key_sent_back_in_arguments_or_a_resource_uri_never_reaches_the_log(tmp_path: Path) -> None:
    """At DEBUG the SDK logs the arguments it rejects, a failed tool call's text and a failed resource's URI: a key
    sent back in any of them is removed from the line, as phone numbers are masked."""
    key = "sk-live-" + "Lg5" * 15 + "ZZ"
    env = {k: v for k, v in os.environ.items() if not k.startswith("VOICING_")}
    env |= {"XDG_STATE_HOME": str(tmp_path), "VOICING_API_KEY": key, "VOICING_LOG_LEVEL": "DEBUG"}
    env |= {"VOICING_ENV": "local", "VOICING_LEDGER": str(tmp_path / "ledger.sqlite3")}
    init = {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}
    requests = [
        {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": init},
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        {
            "jsonrpc": "2.0",
            "id": 2,
            "method": "tools/call",
            "params": {"name": "list_calls", "arguments": {"filters": {key: {"x": 1}}}},
        },
        {"jsonrpc": "2.0", "id": 3, "method": "resources/read", "params": {"uri": f"voicing://reports/{key}"}},
    ]
    proc = subprocess.Popen(
        [sys.executable, "-m", "voicing_mcp"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    assert proc.stdin is not None and proc.stdout is not None
    answers: list[dict[str, object]] = []
    for request in requests:
        proc.stdin.write((json.dumps(request) + "\n").encode())
        proc.stdin.flush()
        if "id" in request:
            answers.append(json.loads(proc.stdout.readline()))
    _, stderr = proc.communicate(timeout=60)
    log = stderr.decode("utf-8", "replace")
    assert [a.get("id") for a in answers] == [1, 2, 3]
    assert "list_calls" in log and "voicing://reports/" in log  # the lines were logged, without the key
    assert "Lg5Lg5" not in log, log
