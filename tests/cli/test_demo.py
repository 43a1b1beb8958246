"""``voicing-mcp demo`` as a user runs it: a subprocess that spawns the stdio server and drives it (run once for
the module; each test reads a part of its output)."""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from voicing_mcp.cli import demo


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> subprocess.CompletedProcess[str]:
    """One run of the demo, as a user runs it, shared by the tests that read its output (the module runs whole on
    one parallel worker: ./test uses --dist loadscope)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("VOICING_")}
    env["VOICING_API_KEY"] = "must-not-reach-the-demo-server"  # the demo's server gets a clean environment
    # what the autouse _clean_voicing_env does for a test (it runs after a module fixture): no browser, no
    # display, not the user's own state folder
    env = {k: v for k, v in env.items() if k not in ("BROWSER", "DISPLAY", "WAYLAND_DISPLAY")}
    env["XDG_STATE_HOME"] = str(tmp_path_factory.mktemp("state"))
    return subprocess.run(
        [sys.executable, "-m", "voicing_mcp", "demo"],
        capture_output=True,
        text=True,
        encoding="utf-8",
        env=env,
        cwd=tmp_path_factory.mktemp("demo"),
        timeout=300,
        check=False,
    )


README = Path(__file__).resolve().parents[2] / "README.md"
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_WEEKDAY = re.compile(r"\b(Mon|Tue|Wed|Thu|Fri|Sat|Sun)\b")


def _shape(line: str) -> str:
    """A line of demo output with what changes from run to run (ids, times, durations) made alike."""
    return re.sub(r"\d", "0", _WEEKDAY.sub("Day", _UUID.sub("<id>", line.strip())))


def test_the_readme_quotes_the_demo_s_last_step_as_the_demo_prints_it(
    demo_run: subprocess.CompletedProcess[str],
) -> None:
    readme = README.read_text(encoding="utf-8")
    quoted = readme.split("The last step, as it prints it:", 1)[1].split("```text", 1)[1].split("```", 1)[0]
    printed = {_shape(line) for line in demo_run.stdout.splitlines()}
    # the emulator picks a call's first status and its outcome: the progress and result lines vary
    steady = [line for line in quoted.splitlines() if line.strip() and not line.strip().startswith("[")]
    steady = [line for line in steady if "(confirmed by token):" not in line]
    assert len(steady) >= 10, quoted
    stale = [line.strip() for line in steady if _shape(line) not in printed]
    assert not stale, f"README lines the demo no longer prints: {stale}"


def test_the_demo_runs_every_step_against_the_emulator_and_exits_0(
    demo_run: subprocess.CompletedProcess[str],
) -> None:
    proc = demo_run
    out = proc.stdout
    assert proc.returncode == 0, out + proc.stderr
    assert "local emulator — no real phone will ring" in out
    for step in demo.STEPS:
        assert step[0] in out
    assert "100 of 250 call ids looked up" in out and "250 of 250 call ids looked up" in out
    assert "found 240, missing 10" in out
    assert "you: 'Hello'" in out and "you: 'When is the payment due?'" in out
    # input_variables fill the chatbot's greeting
    greets = next(line for line in out.splitlines() if "assistant greets" in line)
    assert "Hi Ann, your Gold plan payment is pending." in greets and "{{" not in greets.split(": ", 1)[1]
    assert "reconcile_calls: found 240, missing 10" in out and "voicing://reports/" in out
    assert "prompt    place_call_safely" in out and "needs name, plan_type" in out
    assert f"All {len(demo.STEPS)} steps passed." in out
    assert "Traceback" not in out + proc.stderr


def test_the_demo_shows_a_refusal_a_preview_a_confirmed_call_followed_to_its_end_and_one_ledger_row(
    demo_run: subprocess.CompletedProcess[str],
) -> None:
    proc = demo_run
    out = proc.stdout
    assert proc.returncode == 0, out + proc.stderr
    step = out[out.index("a call placed through the confirmation flow") :]
    assert "[template-variables]" in step and "Nothing was dialled" in step
    assert "CONFIRMATION REQUIRED" in step and 'Opening line: "Hi Ann, your Gold plan payment is pending."' in step
    assert "no real phone will ring" in step
    assert "(confirmed by token): completed" in step
    assert "sending the same request and token again dials nothing" in step and "[duplicate]" in step
    assert "+1 701 ••• ••23 started" in step
    assert "+17015550123" not in out


def test_a_failing_step_is_named_and_the_exit_code_is_1(monkeypatch: pytest.MonkeyPatch) -> None:
    async def impossible(d: demo.Demo) -> None:
        result = await d.client.call_tool("get_call_details", {"call_id": "no-such-call"})
        demo.check(not result.is_error, "the call that does not exist was not found")

    monkeypatch.setattr(demo, "STEPS", [demo.STEPS[0], ("a step that cannot pass", impossible), *demo.STEPS[1:]])
    out = io.StringIO()
    code = demo.run_demo(None, out=out)
    text = out.getvalue()
    assert code == 1
    assert "FAILED: the call that does not exist was not found" in text
    assert f"Demo failed at step 2 of {len(demo.STEPS)}: a step that cannot pass." in text


def test_the_demo_says_its_ledger_was_temporary_and_where_the_ledger_command_looks(
    demo_run: subprocess.CompletedProcess[str],
) -> None:
    out = demo_run.stdout
    assert demo_run.returncode == 0, out + demo_run.stderr
    assert "the demo's temporary ledger (deleted when the demo ends) has one dial:" in out
    assert "The demo's ledger was temporary and is deleted now: 'voicing-mcp ledger' lists the dials" in out
