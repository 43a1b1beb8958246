"""``voicing-mcp emulator`` as a subprocess, answering the README's curl examples (replayed with httpx).

The examples are read from the README's emulator section, so the README and this test cannot drift.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from voicing_mcp.emulator.calls import ENDED_REASONS, FINAL_STATUS, outcome_for_number

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "docs" / "emulator.md"  # the emulator's page, with the curl examples
EXE = Path(sys.executable).parent / "voicing-mcp"
README_BASE = "http://127.0.0.1:8787"
ANY = "…"


def emulator_section() -> str:
    text = README.read_text(encoding="utf-8")
    start = text.index("<!-- section: emulator")
    return text[start : text.index("<!-- /section: emulator -->", start)]


@dataclass
class Example:
    command: str
    expect: str
    args: list[str] = field(default_factory=list)


def readme_examples() -> list[Example]:
    """Every ``curl`` command of the section's bash blocks, each with the ``# →`` line after it."""
    examples: list[Example] = []
    for block in re.findall(r"```bash\n(.*?)```", emulator_section(), flags=re.DOTALL):
        lines = block.replace("\\\n", " ").splitlines()
        for i, line in enumerate(lines):
            if line.startswith("curl "):
                expect = lines[i + 1] if i + 1 < len(lines) else ""
                assert expect.startswith("# → "), f"no '# →' line after: {line}"
                examples.append(Example(line, expect.removeprefix("# → ")))
    return examples


@dataclass
class Running:
    process: subprocess.Popen[str]
    base_url: str
    banner: str
    stderr: list[str]
    drain: threading.Thread

    def stop(self, sig: signal.Signals) -> str:
        """Send ``sig``, wait for the exit, and return everything printed on stdout."""
        self.process.send_signal(sig)
        self.process.wait(30)
        self.drain.join(10)
        assert self.process.stdout is not None
        return self.process.stdout.read()


def start(*args: str) -> Running:
    process = subprocess.Popen(
        [str(EXE), "emulator", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        encoding="utf-8",
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    lines: list[str] = []
    first = threading.Event()

    def drain() -> None:
        assert process.stderr is not None
        for line in process.stderr:
            lines.append(line)
            first.set()
        first.set()

    thread = threading.Thread(target=drain, daemon=True)
    thread.start()
    first.wait(60)
    assert lines, "the emulator printed nothing"
    match = re.search(r"on (http://\S+)", lines[0])
    assert match, lines[0]
    return Running(process, match.group(1), lines[0], lines, thread)


@pytest.fixture
def cli_emulator() -> Iterator[Running]:
    running = start("--port", "0")  # a port the OS picks: a probed "free" port can be taken before the bind
    try:
        yield running
    finally:
        if running.process.poll() is None:
            running.process.kill()
            running.process.wait(10)


def request_of(command: str, base_url: str) -> tuple[str, str, dict[str, str], bytes | None]:
    """A curl command line as (method, url, headers, body), the way curl would send it."""
    args = shlex.split(command.replace(README_BASE, base_url))
    assert args[0] == "curl"
    method, url, headers, data = None, None, {}, None
    it = iter(args[1:])
    for arg in it:
        if arg in ("-s", "-i"):
            continue
        if arg == "-X":
            method = next(it)
        elif arg == "-H":
            name, _, value = next(it).partition(":")
            headers[name.strip()] = value.strip()
        elif arg == "-d":
            data = next(it).encode("utf-8")
        else:
            assert not arg.startswith("-"), f"unsupported curl option {arg}"
            url = arg
    assert url is not None
    if data is not None and not any(k.lower() == "content-type" for k in headers):
        headers["Content-Type"] = "application/x-www-form-urlencoded"  # what curl -d sends
    return method or ("POST" if data is not None else "GET"), url, headers, data


def matches(expected: Any, actual: Any) -> bool:
    """``"…"`` matches any value; dicts match on the keys shown; lists item by item."""
    if expected == ANY:
        return True
    if isinstance(expected, dict):
        return isinstance(actual, dict) and all(k in actual and matches(v, actual[k]) for k, v in expected.items())
    if isinstance(expected, list):
        return (
            isinstance(actual, list)
            and len(expected) == len(actual)
            and all(matches(e, a) for e, a in zip(expected, actual, strict=True))
        )
    return expected == actual


def test_the_readme_has_curl_examples_for_dial_details_list_bulk_and_faults() -> None:
    commands = " ".join(e.command for e in readme_examples())
    for needed in ("publish-outbound-call", "get-call-details?call_id=", "page=1", "bulk-by-ids", "x-emulator-fault"):
        assert needed in commands


def test_the_emulator_command_answers_the_readmes_curl_examples(cli_emulator: Running) -> None:
    call_id: str | None = None
    with httpx.Client(timeout=10) as client:
        for example in readme_examples():
            command = example.command if call_id is None else example.command.replace("$CALL_ID", call_id)
            assert "$CALL_ID" not in command, "an example uses CALL_ID before a call was placed"
            method, url, headers, body = request_of(command, cli_emulator.base_url)
            if example.expect.startswith("no answer"):
                with pytest.raises(httpx.TransportError):
                    client.request(method, url, headers=headers, content=body)
                continue
            status_text, _, body_text = example.expect.partition(" ")
            response = client.request(method, url, headers=headers, content=body)
            assert response.status_code == int(status_text), (command, response.text)
            assert matches(json.loads(body_text), response.json()), (command, response.text)
            if call_id is None and "call_id" in response.json():
                call_id = response.json()["call_id"]
    assert call_id is not None


def test_the_emulator_command_prints_its_url_and_key_and_stops_cleanly_on_ctrl_c(cli_emulator: Running) -> None:
    assert cli_emulator.banner.startswith(f"Voicing API emulator on {cli_emulator.base_url}")
    assert f"VOICING_BASE_URL={cli_emulator.base_url} VOICING_API_KEY=emulator" in cli_emulator.banner
    # the guard treats an emulator at a URL like a real API: the banner says so and names the built-in one
    assert "like a real API" in cli_emulator.banner and "no VOICING_BASE_URL" in cli_emulator.banner
    with httpx.Client(base_url=cli_emulator.base_url, headers={"x-api-key": "emulator"}) as client:
        dial = client.post(
            "/api/v1/campaigns/publish-outbound-call",
            json={
                "assistant_id": "019addcc-0000-7000-8000-000000000001",
                "phone_number": "+17018112582",
                "telephony_provider": "default",
            },
        )
        assert dial.status_code == 200
    out = cli_emulator.stop(signal.SIGINT)
    assert cli_emulator.process.returncode == 0
    assert out == ""  # stdout stays clean: everything goes to stderr
    err = "".join(cli_emulator.stderr)
    assert "Traceback" not in err
    assert "+17018112582" not in err  # numbers are masked in logs
    assert "+1 701 ••• ••82" in err


def test_the_emulator_command_takes_its_key_and_options() -> None:
    running = start("--port", "0", "--api-key", "my-key", "--speed", "0", "--seed", "3")
    try:
        assert "VOICING_API_KEY=my-key" in running.banner
        with httpx.Client(base_url=running.base_url) as client:
            assert (
                client.get("/api/v1/campaigns/get-call-details", headers={"x-api-key": "emulator"}).status_code == 401
            )
            assert client.get("/api/v1/campaigns/get-call-details", headers={"x-api-key": "my-key"}).status_code == 200
            assert client.get("/_emulator/health").json()["speed"] == 0.0
    finally:
        running.stop(signal.SIGTERM)
    assert running.process.returncode == 0


def test_a_busy_port_is_one_line_and_exit_status_2() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [str(EXE), "emulator", "--port", str(port)], capture_output=True, text=True, timeout=60, check=False
        )
    assert result.returncode == 2
    assert result.stderr.strip() == (
        f"voicing-mcp: the emulator cannot listen on 127.0.0.1:{port}: Address already in use"
        " (another process uses it: pick another --port, or --port 0 for a free one)"
    )


def test_an_impossible_option_is_one_line_and_exit_status_2() -> None:
    result = subprocess.run(
        [str(EXE), "emulator", "--fault-rate", "2"], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 2
    assert result.stderr.strip() == "voicing-mcp: emulator: fault_rate must be between 0 and 1"


def test_the_readmes_outcome_table_is_the_emulators() -> None:
    rows = re.findall(r"^\| (\d\d)–(\d\d) \| `([a-z-]+)`[^|]*\| `([a-z-]+)`", emulator_section(), flags=re.MULTILINE)
    assert len(rows) == 7
    for low, high, status, reason in rows:
        for dd in range(int(low), int(high) + 1):
            outcome = outcome_for_number(f"+1701555 01{dd:02d}".replace(" ", ""))
            assert (FINAL_STATUS[outcome], ENDED_REASONS[outcome]) == (status, reason), dd
    other = outcome_for_number("+447700900123")
    assert (FINAL_STATUS[other], ENDED_REASONS[other]) == ("completed", "assistant-ended-call")


def test_a_server_set_up_as_the_emulators_hint_says_stays_in_local_mode_with_the_example_assistants(
    cli_emulator: Running, tmp_path: Path
) -> None:
    """The hint used to be ``VOICING_BASE_URL=… VOICING_API_KEY=emulator``: the key put the server in production
    mode, where the emulator's assistants (the shipped examples) are no templates of the user's. Followed as
    printed, ``check`` now passes against that emulator in local mode."""
    hint = re.search(r"use ((?:VOICING_\w+=\S+ ?)+);", cli_emulator.banner)
    assert hint, cli_emulator.banner
    settings = dict(part.split("=", 1) for part in hint.group(1).split())
    assert settings == {
        "VOICING_ENV": "local",
        "VOICING_BASE_URL": cli_emulator.base_url,
        "VOICING_API_KEY": "emulator",
    }
    env = {k: v for k, v in os.environ.items() if not k.startswith("VOICING_")}
    env |= {"XDG_STATE_HOME": str(tmp_path / "state"), "VOICING_PROMPTS_DIR": str(tmp_path / "none-of-mine")}
    (tmp_path / "none-of-mine").mkdir()
    done = subprocess.run(
        [str(EXE), "check"],
        env=env | settings,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    lines = {line.split()[1]: line for line in done.stdout.splitlines() if line.split()[:1] == ["ok"]}
    assert f"env=local at {cli_emulator.base_url}" in lines["settings"]
    assert "no template of yours, plus the 3 shipped example(s) (local mode)" in lines["prompts"]
    assert f"{cli_emulator.base_url} answered and accepted the key" in lines["api"]
