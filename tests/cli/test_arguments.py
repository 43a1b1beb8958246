"""``voicing-mcp`` command-line arguments, run as a subprocess as a user runs it: a bad value is one
argparse line naming it (exit 2), never a traceback. What the stdio server writes on stderr at start-up is
also read from ``cli.main`` run in-process where the assertion is about the text alone."""

from __future__ import annotations

import argparse
import io
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from voicing_mcp import cli
from voicing_mcp.cli import demo
from voicing_mcp.config import setting_names


def run(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VOICING_")}
    env["XDG_STATE_HOME"] = str(tmp_path / "state")
    return subprocess.run(
        [sys.executable, "-m", "voicing_mcp", *args],
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=60,
    )


@pytest.mark.parametrize(
    "args",
    [
        ("--transport", "http", "--port", "70000"),
        ("--transport", "sse", "--port", "-1"),
        ("--transport", "http", "--port", "eighty"),
        ("emulator", "--port", "65536"),
    ],
    ids=["http-too-high", "sse-negative", "not-a-number", "emulator-too-high"],
)
def test_a_port_out_of_range_is_named_by_argparse_without_a_traceback(tmp_path: Path, args: tuple[str, ...]) -> None:
    done = run(tmp_path, *args)
    assert done.returncode == 2
    assert "--port" in done.stderr and "is not a port number (0-65535" in done.stderr
    assert "Traceback" not in done.stderr and done.stdout == ""


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("--speed", "nan", "speed must be a finite number >= 0"),
        ("--speed", "inf", "speed must be a finite number >= 0"),
        ("--latency-ms", "nan", "latency_ms must be a finite number >= 0"),
    ],
)
def test_an_emulator_option_that_is_not_a_finite_number_is_one_line_and_exit_status_2(
    tmp_path: Path, option: str, value: str, message: str
) -> None:
    done = run(tmp_path, "emulator", "--port", "0", option, value)
    assert done.returncode == 2
    assert done.stderr.strip() == f"voicing-mcp: emulator: {message}"


def test_the_demo_prints_to_a_legacy_code_page_console_without_failing(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    chat_step = next(step for step in demo.STEPS if step[1] is demo.step_chat)  # prints "you: … → assistant: …"
    monkeypatch.setattr(demo, "STEPS", [chat_step])
    monkeypatch.chdir(tmp_path)
    raw = io.BytesIO()
    console = io.TextIOWrapper(raw, encoding="cp1252", errors="strict")  # Windows, output redirected
    monkeypatch.setattr("sys.stdout", console)
    loggers = [logging.getLogger(name) for name in ("", "httpx", "httpcore", "websockets", "uvicorn.access")]
    saved = [(lg, list(lg.handlers), lg.level) for lg in loggers]
    try:
        code = cli.main(["demo"])  # sets up stderr logging for the process: put it back afterwards
    finally:
        for lg, handlers, level in saved:
            lg.handlers[:] = handlers
            lg.setLevel(level)
    console.flush()
    text = raw.getvalue().decode("cp1252")
    assert code == 0, text
    assert "you: 'Hello'  \\u2192  assistant:" in text and "All 1 steps passed." in text


def test_help_says_what_the_command_does_without_arguments_and_where_the_settings_are(tmp_path: Path) -> None:
    done = run(tmp_path, "--help")
    assert done.returncode == 0
    text = " ".join(done.stdout.split())
    assert "Without a command it serves MCP over stdio" in text
    assert "VOICING_* environment variables" in text and "'voicing-mcp check'" in text
    assert "stdio (default" in text
    emulator = " ".join(run(tmp_path, "emulator", "--help").stdout.split())
    assert "(default 8787" in emulator and "(default 60)" in emulator


def test_every_option_of_every_command_has_help_and_the_help_lists_every_setting(tmp_path: Path) -> None:
    def parsers(parser: argparse.ArgumentParser) -> list[argparse.ArgumentParser]:
        found = [parser]
        for action in parser._actions:  # pyright: ignore[reportPrivateUsage]
            if isinstance(action, argparse._SubParsersAction):  # pyright: ignore[reportPrivateUsage]
                for sub in action.choices.values():
                    found.extend(parsers(sub))
        return found

    for parser in parsers(cli._parser()):  # pyright: ignore[reportPrivateUsage]
        for action in parser._actions:  # pyright: ignore[reportPrivateUsage]
            assert action.help, f"{parser.prog}: {action.option_strings or action.dest} has no help"
    text = run(tmp_path, "--help").stdout
    assert "commands (none: the MCP server over stdio)" in text
    listed = [
        line.split()[0]
        for line in text.split("settings (environment variables", 1)[1].splitlines()[1:]
        if line[:3] == "  V"
    ]
    assert listed == [name for name in setting_names() if name != "VOICING_REQUIRE_ELICITATION"]
    assert "VOICING_LOG_LEVEL" in text and "(default warning)" in " ".join(text.split())


def stdio_server_stderr(tmp_path: Path, *args: str, **env_extra: str) -> str:
    """Start the stdio server as a client would, close its stdin at once, and return what it wrote on stderr."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("VOICING_")}
    env["XDG_STATE_HOME"] = str(tmp_path / "state")
    env.update(env_extra)
    done = subprocess.run(
        [sys.executable, "-m", "voicing_mcp", *args],
        env=env,
        input="",
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=60,
        cwd=tmp_path,
    )
    assert done.stdout == "", done.stdout  # stdout is the protocol's alone
    return done.stderr


def stdio_server_stderr_here(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, *args: str, **env_extra: str) -> str:
    """``stdio_server_stderr`` in this process: ``cli.main`` with the same environment, stdin at its end at once
    (a client that closes), stdout and stderr into files; the subprocess runs above keep what is about the
    process (stdout the protocol's alone, a terminal, exit statuses)."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.delenv("VOICING_PROMPTS_DIR", raising=False)
    for name, value in env_extra.items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(tmp_path)
    loggers = [logging.getLogger(name) for name in ("", "httpx", "httpcore", "websockets", "uvicorn.access")]
    saved = [(lg, list(lg.handlers), lg.level) for lg in loggers]
    with (
        open(os.devnull, encoding="utf-8") as stdin,
        (tmp_path / "stdout").open("w+", encoding="utf-8") as stdout,
        (tmp_path / "stderr").open("w+", encoding="utf-8") as stderr,
        monkeypatch.context() as streams,
    ):
        streams.setattr("sys.stdin", stdin)
        streams.setattr("sys.stdout", stdout)
        streams.setattr("sys.stderr", stderr)
        try:
            code = cli.main(list(args))  # sets up stderr logging for the process: put it back afterwards
        finally:
            for lg, handlers, level in saved:
                lg.handlers[:] = handlers
                lg.setLevel(level)
        stdout.flush()
        stderr.flush()
    out = (tmp_path / "stdout").read_text(encoding="utf-8")
    err = (tmp_path / "stderr").read_text(encoding="utf-8")
    assert code == 0, err
    assert out == "", out  # stdout is the protocol's alone
    return err


def test_the_server_warns_at_start_up_about_a_misspelt_setting_with_the_one_meant(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    err = stdio_server_stderr_here(monkeypatch, tmp_path, VOICING_QUIET_HOUR="22:00-07:00", VOICING_DNC="/tmp/dnc.txt")
    assert "WARNING" in err
    assert "VOICING_QUIET_HOUR is not a voicing-mcp setting and is ignored (did you mean VOICING_QUIET_HOURS?)" in err
    assert "VOICING_DNC is not a voicing-mcp setting and is ignored (did you mean VOICING_DNC_FILE?)" in err


def test_the_log_level_is_warning_by_default_and_voicing_log_level_or_the_flag_changes_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    quiet = stdio_server_stderr(tmp_path)  # as a client starts it: a process, stderr apart from stdout
    assert " INFO " not in quiet and "no real phone will ring" in quiet  # the banner is no log line
    chatty = stdio_server_stderr_here(monkeypatch, tmp_path / "chatty", VOICING_LOG_LEVEL="info")
    assert " INFO voicing_mcp.server.app: prompts folder " in chatty
    assert "plus the 3 shipped example(s) (local mode)" in chatty
    flag = stdio_server_stderr_here(monkeypatch, tmp_path / "flag", "--log-level", "WARNING", VOICING_LOG_LEVEL="info")
    assert " INFO " not in flag and "no real phone will ring" in flag


def test_a_bad_log_level_is_a_settings_error_naming_the_variable(tmp_path: Path) -> None:
    err = stdio_server_stderr(tmp_path, VOICING_LOG_LEVEL="loud")
    assert "voicing-mcp: invalid settings:" in err and "VOICING_LOG_LEVEL" in err and "Traceback" not in err


def test_the_demo_into_a_reader_that_stops_after_one_line_ends_quietly(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VOICING_")}
    env["XDG_STATE_HOME"] = str(tmp_path / "state")
    proc = subprocess.Popen(
        [sys.executable, "-m", "voicing_mcp", "demo"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=tmp_path,
    )
    assert proc.stdout is not None and proc.stderr is not None
    first = proc.stdout.readline().decode("utf-8")
    proc.stdout.close()  # `voicing-mcp demo | head -1`
    stderr = proc.stderr.read().decode("utf-8", "replace")
    code = proc.wait(timeout=120)
    assert first.startswith("voicing-mcp demo")
    assert "Traceback" not in stderr and "BrokenPipe" not in stderr and "Exception ignored" not in stderr, stderr
    assert code in (0, 141)
