"""Headless Chromium (Playwright) for the tests that look at a page as a person would.

One Playwright driver and one Chromium per test worker, started at the first test that asks for the ``chromium``
fixture (tests/server/conftest.py) and closed at the end of the session: the driver and the browser cost ~2 s of
two loaded cores a start, and a fresh context (its own cookies, storage, viewport, colour scheme, time zone) costs a
few milliseconds. Playwright's objects belong to the event loop that made them, so the shared browser lives in the
worker's session-long loop and every test that uses it runs there: mark it :data:`IN_CHROMIUM`.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from playwright.async_api import Browser, Playwright

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

#: the mark of a test that uses the ``chromium`` fixture: it runs in the session's event loop, the shared browser's
IN_CHROMIUM = pytest.mark.asyncio(loop_scope="session")


def chromium_or_skip() -> Any:
    """``async_playwright``; the test is skipped, saying how to get them, without Chromium or Playwright."""
    if not CHROMIUM.exists():
        pytest.skip(
            f"{CHROMIUM} is missing: install Debian's chromium (`sudo apt-get install -y chromium`; .ci/run does) "
            "to run the confirm page in a real browser"
        )
    try:
        from playwright.async_api import async_playwright  # noqa: PLC0415 (optional: the test skips without it)
    except ImportError:
        pytest.skip("playwright is missing: `.venv/bin/pip install -e '.[dev]'` installs it")
    return async_playwright


class WorkerChromium:
    """The worker's Playwright driver and its one Chromium, launched again if it went away (a crash in one test
    does not fail the next ones)."""

    def __init__(self, playwright: Playwright) -> None:
        self.playwright = playwright
        self.browser: Browser | None = None

    async def get(self) -> Browser:
        if self.browser is None or not self.browser.is_connected():
            self.browser = await self.playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        return self.browser

    async def aclose(self) -> None:
        if self.browser is not None and self.browser.is_connected():
            await self.browser.close()


async def close_pages(browser: Browser) -> None:
    """Close every context (and so every page) a test opened in the shared browser: what closing a browser of its
    own did (its page servers see no open connection from it afterwards)."""
    for context in list(browser.contexts):
        await context.close()
