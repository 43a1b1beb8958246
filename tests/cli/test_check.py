"""``voicing-mcp check``: one line per check, exit 1 on any failure, never the key.

Run as a subprocess (as a user runs it) and, for the individual failure modes, through
``check_all`` in-process with the environment set — both against a real emulator over HTTP.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import webbrowser
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from voicing_mcp.cli import stdout_closed
from voicing_mcp.cli.check import check_all
from voicing_mcp.config import PACKAGE_PROMPTS_DIR
from voicing_mcp.emulator.runner import RunningEmulator
from voicing_mcp.emulator.state import EmulatorConfig
from voicing_mcp.guard.ledger import Ledger

CheckHere = Callable[..., Awaitable[subprocess.CompletedProcess[str]]]

RIGHT_KEY = "right-key-3f9a1c7e5b"
WRONG_KEY = "wrong-key-8d2e6a4f0c"


@pytest.fixture(scope="module")
def emu_config() -> EmulatorConfig:
    return EmulatorConfig(api_key=RIGHT_KEY)


def run_cli(tmp_path: Path, **env_extra: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VOICING_")}
    env["XDG_STATE_HOME"] = str(tmp_path / "state")
    if "VOICING_BASE_URL" in env_extra:  # the emulator as a remote API: local copies of its assistants' templates
        env["VOICING_PROMPTS_DIR"] = str(PACKAGE_PROMPTS_DIR)
    env.update(env_extra)
    return subprocess.run(
        [sys.executable, "-m", "voicing_mcp", "check"],
        env=env,
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=120,
    )


@pytest.fixture
def check_here(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> Callable[..., Awaitable[subprocess.CompletedProcess[str]]]:
    """``run_cli`` in this process: the same environment (no other VOICING_* variable, the state folder under
    ``tmp_path``), ``check_all`` against the same real emulator over HTTP, its exit status and printed text.
    The subprocess tests above and below keep what is about the process (exit codes, pipes, stderr)."""

    async def run(**env_extra: str) -> subprocess.CompletedProcess[str]:
        with monkeypatch.context() as env:
            for name in list(os.environ):
                if name.startswith("VOICING_"):
                    env.delenv(name)
            env.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
            if "VOICING_BASE_URL" in env_extra:
                env.setenv("VOICING_PROMPTS_DIR", str(PACKAGE_PROMPTS_DIR))
            for name, value in env_extra.items():
                env.setenv(name, value)
            # webbrowser reads $BROWSER, the display and PATH once per process: read them again for this run
            env.setattr(webbrowser, "_tryorder", None)
            env.setattr(webbrowser, "_browsers", {})
            capsys.readouterr()
            code = await check_all()
            out, err = capsys.readouterr()
        return subprocess.CompletedProcess(["voicing-mcp", "check"], code, out, err)

    return run


def check_into_a_reader_that_stops(tmp_path: Path, lines: int) -> tuple[int, list[str], str]:
    """``voicing-mcp check | head -<lines>``: the reader closes its end after ``lines`` lines."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("VOICING_")}
    env["XDG_STATE_HOME"] = str(tmp_path / "state")
    proc = subprocess.Popen(
        [sys.executable, "-m", "voicing_mcp", "check"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None and proc.stderr is not None
    read = [proc.stdout.readline().decode("utf-8") for _ in range(lines)]
    proc.stdout.close()
    stderr = proc.stderr.read().decode("utf-8", "replace")
    return proc.wait(timeout=120), read, stderr


def test_check_into_a_reader_that_closes_at_once_stops_quietly_as_a_closed_pipe_does(tmp_path: Path) -> None:
    code, _, stderr = check_into_a_reader_that_stops(tmp_path, 0)  # | head -0: the first line cannot be written
    assert "Traceback" not in stderr and "BrokenPipe" not in stderr, stderr
    assert code == 141  # as a process stopped by SIGPIPE (`yes | head`)


def test_check_into_a_reader_that_closes_after_one_line_prints_no_traceback(tmp_path: Path) -> None:
    code, read, stderr = check_into_a_reader_that_stops(tmp_path, 1)
    assert read[0].startswith("ok    settings")
    assert "Traceback" not in stderr and "BrokenPipe" not in stderr and "Exception ignored" not in stderr, stderr
    assert code in (0, 141)  # 0 only if every line was in the pipe before the reader closed


def test_a_broken_pipe_elsewhere_is_not_taken_for_a_closed_stdout() -> None:
    assert not stdout_closed(BrokenPipeError())  # this process's stdout is open: a socket's EPIPE is a real error
    assert not stdout_closed(ExceptionGroup("task group", [BrokenPipeError(), ValueError()]))


def lines_of(out: str) -> dict[str, list[str]]:
    """``{check name: [status, ...]}`` from the report."""
    found: dict[str, list[str]] = {}
    for line in out.splitlines():
        parts = line.split(maxsplit=2)
        if len(parts) >= 2 and parts[0] in ("ok", "warn", "FAIL", "skip"):
            found.setdefault(parts[1], []).append(parts[0])
    return found


# ----- as a user runs it ----------------------------------------------------------------------
def test_check_in_local_mode_passes_every_line_against_the_built_in_emulator(tmp_path: Path) -> None:
    done = run_cli(tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    report = lines_of(done.stdout)
    assert report == {
        "settings": ["ok"],
        "confirm": ["ok"],
        "guard": ["ok"],
        "campaigns": ["ok"],
        "prompts": ["ok"],
        "api": ["ok"],
        "ledger": ["ok"],
        "transports": ["ok"],
        "tokens": ["ok"],
    }
    assert "no real phone will ring" in done.stdout
    assert "the built-in emulator at http://127.0.0.1:" in done.stdout
    assert "answered (no key needed: local mode)" in done.stdout and "accepted the key" not in done.stdout
    assert "VOICING_CONFIRMATION=token (local mode)" in done.stdout
    assert done.stdout.rstrip().endswith("voicing-mcp check: all good")


def confirm_line(out: str) -> str:
    return next(line for line in out.splitlines() if line.split()[1:2] == ["confirm"])


async def test_check_shows_that_a_human_confirms_outside_local_mode(
    emu: RunningEmulator, tmp_path: Path, check_here: CheckHere
) -> None:
    done = await check_here(VOICING_API_KEY=RIGHT_KEY, VOICING_BASE_URL=emu.base_url, VOICING_CONFIRM_PORT="8788")
    assert done.returncode == 0, done.stdout
    line = confirm_line(done.stdout)
    assert line.startswith("ok") and "VOICING_CONFIRMATION=human" in line and "127.0.0.1:8788" in line


def headless(tmp_path: Path) -> dict[str, str]:
    """No $BROWSER, no display and no console browser on PATH: ``webbrowser`` finds nothing to open."""
    empty = tmp_path / "bin"
    empty.mkdir(parents=True, exist_ok=True)
    return {"BROWSER": "", "DISPLAY": "", "WAYLAND_DISPLAY": "", "PATH": str(empty)}


async def test_check_warns_in_human_mode_when_no_browser_can_open_the_confirm_page(
    emu: RunningEmulator, tmp_path: Path, check_here: CheckHere
) -> None:
    remote = {"VOICING_API_KEY": RIGHT_KEY, "VOICING_BASE_URL": emu.base_url}
    done = run_cli(tmp_path, **remote, **headless(tmp_path))
    assert done.returncode == 0, done.stdout + done.stderr  # a warning: a client with elicitation still works
    assert lines_of(done.stdout)["confirm"] == ["ok", "warn"]
    warning = next(line for line in done.stdout.splitlines() if line.startswith("warn  confirm"))
    assert "no browser can be opened here" in warning and "[confirmation-unavailable]" in warning
    assert "$BROWSER" in warning and "VOICING_ALLOWED_NUMBERS" in warning

    with_browser = await check_here(**remote, **{**headless(tmp_path / "b"), "BROWSER": "true"})
    assert lines_of(with_browser.stdout)["confirm"] == ["ok"], with_browser.stdout


async def test_check_warns_that_in_token_mode_the_model_can_confirm_by_itself(
    emu: RunningEmulator, tmp_path: Path, check_here: CheckHere
) -> None:
    done = await check_here(VOICING_API_KEY=RIGHT_KEY, VOICING_BASE_URL=emu.base_url, VOICING_CONFIRMATION="token")
    assert done.returncode == 0, done.stdout  # a warning, not a failure: the operator opted in
    line = confirm_line(done.stdout)
    assert line.startswith("warn") and "the model relays the confirmation token" in line
    assert "can confirm a call by itself" in line


async def test_check_names_the_replaced_require_elicitation_setting(tmp_path: Path, check_here: CheckHere) -> None:
    done = await check_here(VOICING_REQUIRE_ELICITATION="true", BROWSER="true")  # a browser: no warning of none
    assert done.returncode == 0, done.stdout
    assert lines_of(done.stdout)["confirm"] == ["warn", "ok"]
    assert "VOICING_REQUIRE_ELICITATION was replaced by VOICING_CONFIRMATION" in done.stdout
    assert "VOICING_CONFIRMATION=human" in done.stdout


async def test_a_misspelt_setting_is_named_with_the_one_meant_instead_of_being_ignored(
    tmp_path: Path, check_here: CheckHere
) -> None:
    done = await check_here(VOICING_DNC_FIEL="/etc/dnc.txt", VOICING_SECRET_SAUCE="s3cr3t-value")
    assert done.returncode == 0, done.stdout  # a warning: the server runs, but without what was meant
    warned = [line for line in done.stdout.splitlines() if line.startswith("warn  settings")]
    assert len(warned) == 2, done.stdout
    assert "VOICING_DNC_FIEL is not a voicing-mcp setting and is ignored (did you mean VOICING_DNC_FILE?)" in warned[0]
    assert "VOICING_SECRET_SAUCE is not a voicing-mcp setting" in warned[1] and "README, Settings" in warned[1]
    assert "s3cr3t-value" not in done.stdout + done.stderr  # names only: a value may be a secret


async def test_a_problem_between_two_settings_is_not_prefixed_with_a_second_settings(
    tmp_path: Path, check_here: CheckHere
) -> None:
    done = await check_here(VOICING_ENV="sandbox")
    assert done.returncode == 1
    line = next(line for line in done.stdout.splitlines() if line.startswith("FAIL"))
    assert line.split(maxsplit=2)[2].startswith("VOICING_ENV=sandbox needs VOICING_API_KEY"), line


def test_a_rejected_key_fails_the_api_line_and_the_key_is_never_printed(emu: RunningEmulator, tmp_path: Path) -> None:
    done = run_cli(tmp_path, VOICING_API_KEY=WRONG_KEY, VOICING_BASE_URL=emu.base_url, VOICING_MCP_TOKEN=RIGHT_KEY)
    assert done.returncode == 1
    assert lines_of(done.stdout)["api"] == ["FAIL"]
    assert "rejected the API key (HTTP 401)" in done.stdout and "VOICING_API_KEY" in done.stdout
    assert WRONG_KEY not in done.stdout + done.stderr
    assert RIGHT_KEY not in done.stdout + done.stderr
    assert "Traceback" not in done.stderr


async def test_an_accepted_key_passes_the_api_line_without_printing_it(
    emu: RunningEmulator, tmp_path: Path, check_here: CheckHere
) -> None:
    done = await check_here(VOICING_API_KEY=RIGHT_KEY, VOICING_BASE_URL=emu.base_url, VOICING_ENV="sandbox")
    assert done.returncode == 0, done.stdout
    assert lines_of(done.stdout)["api"] == ["ok"]
    assert f"{emu.base_url} answered and accepted the key" in done.stdout
    assert "env=sandbox" in done.stdout
    assert RIGHT_KEY not in done.stdout + done.stderr


# ----- each failure, in-process ---------------------------------------------------------------
async def test_bad_settings_fail_one_line_each_and_skip_the_rest(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("VOICING_QUIET_HOURS", "8pm-9am")
    monkeypatch.setenv("VOICING_DEFAULT_REGION", "ZZ")
    assert await check_all() == 1
    out = capsys.readouterr().out
    report = lines_of(out)
    assert report["settings"] == ["FAIL", "FAIL"]
    assert report["api"] == ["skip"] and report["prompts"] == ["skip"] and report["ledger"] == ["skip"]
    assert "VOICING_QUIET_HOURS" in out and "VOICING_DEFAULT_REGION" in out


async def test_a_template_that_does_not_parse_is_named_with_its_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    prompts = tmp_path / "prompts"
    prompts.mkdir()
    (prompts / "good-assistant.j2").write_text("Hi {{ name }}, this is a reminder.", encoding="utf-8")
    (prompts / "broken-assistant.j2").write_text("Hello\nthere {{ name \n", encoding="utf-8")
    monkeypatch.setenv("VOICING_PROMPTS_DIR", str(prompts))
    assert await check_all() == 1
    out = capsys.readouterr().out
    fails = [ln for ln in out.splitlines() if ln.startswith("FAIL") and "prompts" in ln]
    assert len(fails) == 2  # the template, then the folder's summary: never an "ok" under a failed template
    assert "broken-assistant.j2" in fails[0] and "line 2" in fails[0]
    assert "template(s) parse" in fails[1] and "good-assistant" in fails[1] and "1 do not (above)" in fails[1]
    assert lines_of(out)["prompts"] == ["FAIL", "FAIL"]
    assert lines_of(out)["api"] == ["ok"]


async def test_a_missing_prompts_folder_fails_with_the_variable_to_set(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.setenv("VOICING_PROMPTS_DIR", str(tmp_path / "nowhere"))
    assert await check_all() == 1
    out = capsys.readouterr().out
    assert lines_of(out)["prompts"] == ["FAIL"]
    assert "does not exist" in out and "VOICING_PROMPTS_DIR" in out


async def test_an_unreachable_api_fails_the_api_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with socket.socket() as s:  # a port that was free a moment ago and has no listener
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("VOICING_API_KEY", WRONG_KEY)
    monkeypatch.setenv("VOICING_BASE_URL", f"http://127.0.0.1:{port}")
    assert await check_all() == 1
    out = capsys.readouterr().out
    assert lines_of(out)["api"] == ["FAIL"]
    assert f"cannot reach http://127.0.0.1:{port}" in out
    assert WRONG_KEY not in out


async def test_a_ledger_that_cannot_be_written_fails_the_ledger_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder", encoding="utf-8")
    monkeypatch.setenv("VOICING_LEDGER", str(blocker / "sub" / "ledger.sqlite3"))
    assert await check_all() == 1
    out = capsys.readouterr().out
    assert lines_of(out)["ledger"] == ["FAIL"]
    assert "is not a writable folder" in out and "VOICING_LEDGER" in out


async def test_a_ledger_path_that_is_a_folder_fails(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.setenv("VOICING_LEDGER", str(tmp_path))
    assert await check_all() == 1
    assert "is a folder: give a file path" in capsys.readouterr().out


async def test_an_unreadable_do_not_call_file_fails(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.setenv("VOICING_DNC_FILE", str(tmp_path / "missing-dnc.txt"))
    assert await check_all() == 1
    out = capsys.readouterr().out
    assert lines_of(out)["dnc"] == ["FAIL"]
    assert "missing-dnc.txt cannot be read" in out and "unset VOICING_DNC_FILE" in out


async def test_a_do_not_call_file_with_a_line_without_a_valid_number_fails_naming_the_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    dnc = tmp_path / "dnc.txt"
    dnc.write_text("+17018112582,John Smith\n+17018112583\tJane Doe\nJane's cousin, call later\n", encoding="utf-8")
    monkeypatch.setenv("VOICING_DNC_FILE", str(dnc))
    assert await check_all() == 1
    out = capsys.readouterr().out
    assert lines_of(out)["dnc"] == ["FAIL"]
    assert f"VOICING_DNC_FILE {dnc} has 1 line(s)" in out
    assert "line 3 'Jane's cousin, call later': no phone number on this line" in out
    assert "number(s) in" not in out


async def test_a_do_not_call_file_in_csv_with_several_numbers_a_line_counts_each_number(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    dnc = tmp_path / "dnc.txt"
    dnc.write_text("phone,name\n+17018112582,John Smith\n+17018112584;+17025550100\n(701) 811-2585\n", encoding="utf-8")
    monkeypatch.setenv("VOICING_DNC_FILE", str(dnc))
    assert await check_all() == 0
    out = capsys.readouterr().out
    assert lines_of(out)["dnc"] == ["ok", "warn"]
    assert f"4 number(s) in {dnc}" in out
    assert "1 entry is in national format and VOICING_DEFAULT_REGION is not set" in out


async def test_do_not_call_lines_with_the_us_trunk_1_and_no_plus_are_said_to_be_read_as_plus_1_numbers(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    dnc = tmp_path / "dnc.txt"
    dnc.write_text("17018112582,John Smith\n1-701-811-2583\n+17018112584\n", encoding="utf-8")
    monkeypatch.setenv("VOICING_DNC_FILE", str(dnc))
    assert await check_all() == 0
    out = capsys.readouterr().out
    assert lines_of(out)["dnc"] == ["ok"]
    assert f"3 number(s) in {dnc}; 2 line(s) read as +1 numbers (11 digits starting with 1, no '+')" in out


async def test_a_writable_ledger_folder_is_left_as_it_was(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.setenv("VOICING_LEDGER", str(tmp_path / "ledger.sqlite3"))
    dnc = tmp_path / "dnc.txt"
    dnc.write_text("# test phones\n+12015550123\n+12015550124\n", encoding="utf-8")
    monkeypatch.setenv("VOICING_DNC_FILE", str(dnc))
    assert await check_all() == 0
    out = capsys.readouterr().out
    assert "will be created (folder writable)" in out
    assert "2 number(s) in" in out
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dnc.txt"]


async def test_a_ledger_path_naming_a_file_that_is_not_sqlite_fails_and_the_file_is_left_alone(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("my shopping list, not a ledger\n", encoding="utf-8")
    monkeypatch.setenv("VOICING_LEDGER", str(notes))
    assert await check_all() == 1
    out = capsys.readouterr().out
    assert lines_of(out)["ledger"] == ["FAIL"]
    assert "is not an SQLite ledger" in out and "VOICING_LEDGER" in out
    assert notes.read_text(encoding="utf-8") == "my shopping list, not a ledger\n"


async def test_an_existing_ledger_written_by_the_guard_passes(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = tmp_path / "ledger.sqlite3"
    ledger = Ledger(path)
    await ledger.spend_nonce("n-1", expires_at=datetime.now(UTC))
    ledger.close()
    monkeypatch.setenv("VOICING_LEDGER", str(path))
    assert await check_all() == 0
    assert f"{path} exists and is writable" in capsys.readouterr().out


# ----- what is in effect: the guard, the prompts folder, misspelt settings ------------------------
async def test_check_prints_the_guard_settings_in_effect(tmp_path: Path, check_here: CheckHere) -> None:
    dnc = tmp_path / "dnc.txt"
    dnc.write_text("+12015550123\n", encoding="utf-8")
    ledger = tmp_path / "my-ledger.sqlite3"
    done = await check_here(
        VOICING_QUIET_HOURS="22:30-07:15",
        VOICING_MAX_CALLS_PER_HOUR="7",
        VOICING_DNC_FILE=str(dnc),
        VOICING_LEDGER=str(ledger),
        VOICING_ALLOWED_COUNTRIES="US,CA",
    )
    assert done.returncode == 0, done.stdout
    [line] = [ln for ln in done.stdout.splitlines() if ln.split()[1:2] == ["guard"]]
    assert line.startswith("ok") and "env=local" in line
    assert "quiet hours 22:30-07:15 in the callee's time" in line
    assert "refused for 10 min" in line and "at most 7 dial(s) an hour" in line and "countries: US, CA" in line
    assert f"do-not-call file: {dnc}" in line and f"ledger {ledger}" in line
    assert "an assistant without a template: refused" in line
    off = await check_here(VOICING_QUIET_HOURS="off", VOICING_STRICT_TEMPLATES="false")
    guard = next(ln for ln in off.stdout.splitlines() if ln.split()[1:2] == ["guard"])
    assert "no quiet hours" in guard and "do-not-call file: none" in guard and "dialled with a warning" in guard
    empty = await check_here(VOICING_QUIET_HOURS="", VOICING_MAX_CALLS_PER_HOUR="0")
    guard = next(ln for ln in empty.stdout.splitlines() if ln.split()[1:2] == ["guard"])
    assert "quiet hours 21:00-08:00 in the callee's time" in guard  # empty is the default, never "off"
    assert guard.startswith("warn") and "no dial at all (VOICING_MAX_CALLS_PER_HOUR=0)" in guard


async def test_check_prints_the_per_number_cap_and_the_campaigns_folder(tmp_path: Path, check_here: CheckHere) -> None:
    folder = tmp_path / "lists"
    done = await check_here(VOICING_MAX_CALLS_PER_NUMBER="5/12h", VOICING_CAMPAIGNS_DIR=str(folder))
    assert done.returncode == 0, done.stdout
    guard = next(ln for ln in done.stdout.splitlines() if ln.split()[1:2] == ["guard"])
    assert "5 to one number in 12 h (VOICING_MAX_CALLS_PER_NUMBER=5/12h)" in guard
    [line] = [ln for ln in done.stdout.splitlines() if ln.split()[1:2] == ["campaigns"]]
    assert line.startswith("ok") and f"only from {folder} (VOICING_CAMPAIGNS_DIR)" in line
    assert "does not exist yet" in line
    folder.mkdir()
    there = await check_here(VOICING_CAMPAIGNS_DIR=str(folder))
    line = next(ln for ln in there.stdout.splitlines() if ln.split()[1:2] == ["campaigns"])
    assert "does not exist" not in line
    default = await check_here()
    line = next(ln for ln in default.stdout.splitlines() if ln.split()[1:2] == ["campaigns"])
    assert "(default; VOICING_CAMPAIGNS_DIR unset)" in line and "3 to one number in 24 h" in default.stdout


async def test_check_in_local_mode_says_the_prompts_folder_holds_only_the_shipped_examples(
    tmp_path: Path, check_here: CheckHere
) -> None:
    mine = tmp_path / "my-prompts"
    mine.mkdir()
    done = await check_here(VOICING_PROMPTS_DIR=str(mine))
    assert done.returncode == 0, done.stdout
    [line] = [ln for ln in done.stdout.splitlines() if ln.split()[1:2] == ["prompts"]]
    assert line.startswith("ok")
    assert f"prompts folder {mine} (VOICING_PROMPTS_DIR): no template of yours, plus the 3 shipped example(s)" in line

    (mine / "my-assistant.j2").write_text("Hello {{ name }}", encoding="utf-8")
    again = await check_here(VOICING_PROMPTS_DIR=str(mine))
    line = next(ln for ln in again.stdout.splitlines() if ln.split()[1:2] == ["prompts"])
    assert "1 template(s) of yours, plus the 3 shipped example(s) (local mode); 4 template(s) parse" in line
    assert "my-assistant (1 required, 0 optional)" in line


async def test_check_outside_local_mode_fails_a_prompts_folder_without_templates_of_the_users_own(
    emu: RunningEmulator, tmp_path: Path, check_here: CheckHere
) -> None:
    """In sandbox/production the shipped examples are not the user's assistants: check said "fine" although
    every dial would be refused."""
    mine = tmp_path / "my-prompts"
    mine.mkdir()
    remote = {"VOICING_API_KEY": RIGHT_KEY, "VOICING_BASE_URL": emu.base_url, "VOICING_ENV": "sandbox"}
    done = await check_here(**remote, VOICING_PROMPTS_DIR=str(mine))
    assert done.returncode == 1, done.stdout
    assert lines_of(done.stdout)["prompts"] == ["FAIL"]
    assert "no <assistant_id>.j2 template; the shipped examples serve local mode only" in done.stdout
    lenient = await check_here(**remote, VOICING_PROMPTS_DIR=str(mine), VOICING_STRICT_TEMPLATES="false")
    assert lines_of(lenient.stdout)["prompts"] == ["warn"], lenient.stdout


def test_check_outside_local_mode_fails_a_default_prompts_folder_that_does_not_exist(
    emu: RunningEmulator, tmp_path: Path
) -> None:
    installed = tmp_path / "site-packages" / "voicing_mcp"  # not a checkout: the user's config folder is used
    env = {"VOICING_API_KEY": RIGHT_KEY, "VOICING_BASE_URL": emu.base_url, "XDG_CONFIG_HOME": str(tmp_path / "cfg")}
    done = run_check_as_installed(tmp_path, installed, env)
    assert done.returncode == 1, done.stdout
    line = next(ln for ln in done.stdout.splitlines() if ln.split()[1:2] == ["prompts"])
    assert line.startswith("FAIL")
    assert f"prompts folder {tmp_path / 'cfg' / 'voicing-mcp' / 'prompts'} (your config folder) does not exist" in line


def run_check_as_installed(
    tmp_path: Path, package_dir: Path, env_extra: dict[str, str]
) -> subprocess.CompletedProcess[str]:
    """``voicing-mcp check`` with the package taken for an installed one (its parent is no checkout)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("VOICING_")}
    env["XDG_STATE_HOME"] = str(tmp_path / "state")
    env.update(env_extra)
    code = (
        "import sys, voicing_mcp.paths as p; from pathlib import Path; "
        f"p.PACKAGE_DIR = Path({str(package_dir)!r}); from voicing_mcp.cli import main; sys.exit(main(['check']))"
    )
    return subprocess.run(
        [sys.executable, "-c", code],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=120,
    )


async def test_misspelt_settings_are_named_with_the_one_meant_and_check_does_not_say_all_good(
    tmp_path: Path, check_here: CheckHere
) -> None:
    done = await check_here(VOICING_DNC="/etc/dnc.txt", VOICING_QUIET_HOUR="22:00-07:00")
    assert done.returncode == 0, done.stdout  # warnings: the server runs, without what was meant
    warned = [line for line in done.stdout.splitlines() if line.startswith("warn  settings")]
    assert "VOICING_DNC is not a voicing-mcp setting and is ignored (did you mean VOICING_DNC_FILE?)" in warned[0]
    assert (
        "VOICING_QUIET_HOUR is not a voicing-mcp setting and is ignored (did you mean VOICING_QUIET_HOURS?)"
        in (warned[1])
    )
    last = done.stdout.rstrip().splitlines()[-1]
    assert "all good" not in last and "2 warning(s)" in last, last


def test_check_imports_neither_the_server_app_nor_the_mcp_sdk() -> None:
    """`check` runs without the MCP SDK (~1.5 s of imports): its texts come from voicing_mcp.messages, which
    imports no MCP."""
    probe = (
        "import sys, voicing_mcp.cli.check; "
        "print(sorted(m for m in ('mcp', 'voicing_mcp.server.app') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=120)
    assert done.stdout.strip() == "[]", done.stdout


TOKEN_SECRET = "Zq3vN8pXw2LrT6yKc1HdJ5mBf9GsAe4U-_"  # 34 random characters


async def test_check_says_whether_the_token_secret_is_set_but_never_its_value(
    tmp_path: Path, check_here: CheckHere
) -> None:
    unset = await check_here(BROWSER="true")
    assert lines_of(unset.stdout)["tokens"] == ["ok"] and "VOICING_TOKEN_SECRET is not set" in unset.stdout
    done = await check_here(BROWSER="true", VOICING_TOKEN_SECRET=TOKEN_SECRET)
    assert done.returncode == 0, done.stdout
    assert lines_of(done.stdout)["tokens"] == ["ok"] and "VOICING_TOKEN_SECRET is set" in done.stdout
    assert TOKEN_SECRET not in done.stdout + done.stderr


async def test_check_fails_the_tokens_line_on_a_shared_ledger_without_a_token_secret(
    tmp_path: Path, check_here: CheckHere
) -> None:
    done = await check_here(BROWSER="true", VOICING_LEDGER="postgresql://voicing:Pg-pass-9d1e@127.0.0.1:5/voicing")
    assert done.returncode == 1
    assert lines_of(done.stdout)["tokens"] == ["FAIL"]
    assert "VOICING_TOKEN_SECRET is required with a shared (postgresql://) VOICING_LEDGER" in done.stdout
    assert "Pg-pass-9d1e" not in done.stdout + done.stderr
