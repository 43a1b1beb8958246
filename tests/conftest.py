"""Shared fixtures. Every test starts with no VOICING_* variables from the outer environment."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

from server_support import MODES, helper
from voicing_mcp.config import PACKAGE_PROMPTS_DIR

if TYPE_CHECKING:
    from voicing_mcp.emulator.runner import RunningEmulator


@pytest.fixture(autouse=True)
def _clean_voicing_env(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    for name in list(os.environ):
        if name.startswith("VOICING_"):
            monkeypatch.delenv(name, raising=False)
    # never open a real browser from a test (human-mode confirm pages): no $BROWSER, no display
    for name in ("BROWSER", "DISPLAY", "WAYLAND_DISPLAY"):
        monkeypatch.delenv(name, raising=False)
    # never touch the user's real ledger from a test
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path_factory.mktemp("state")))
    # the test user keeps the example assistants' templates (the emulator's assistants) in their prompts folder:
    # outside local mode only that folder counts (tests of the folder's resolution unset this)
    monkeypatch.setenv("VOICING_PROMPTS_DIR", str(PACKAGE_PROMPTS_DIR))
    yield


# ----- the emulator and the protocol modes, shared by the server and dial tests -----------------


@pytest.fixture(scope="module")
def emu_module() -> Iterator[RunningEmulator]:
    """One emulator per test module, on a thread, over real loopback HTTP and WebSocket."""
    from voicing_mcp.emulator.runner import emulator_in_thread

    with emulator_in_thread() as emu:
        yield emu


@pytest.fixture
def emu(emu_module: RunningEmulator) -> RunningEmulator:
    """The module's emulator, reset (history, clock, request log, dial counter, armed faults)."""
    helper(emu_module, "POST", "/_emulator/reset")
    return emu_module


@pytest.fixture(params=list(MODES.values()), ids=list(MODES.keys()))
def mode(request: pytest.FixtureRequest) -> str:
    """Both protocol modes the SDK's client offers."""
    return str(request.param)
