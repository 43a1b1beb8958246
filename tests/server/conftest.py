"""The shared headless Chromium (tests/browser_support.py): one per test worker, a clean slate per test."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

import pytest_asyncio

from browser_support import WorkerChromium, chromium_or_skip, close_pages

if TYPE_CHECKING:
    from playwright.async_api import Browser


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def worker_chromium() -> AsyncIterator[WorkerChromium]:
    """This worker's Playwright driver (its Chromium launched at the first use), closed at the session's end;
    skipped, saying how to install them, without Chromium or Playwright."""
    async_playwright = chromium_or_skip()
    async with async_playwright() as playwright:
        worker = WorkerChromium(playwright)
        try:
            yield worker
        finally:
            await worker.aclose()


@pytest_asyncio.fixture(loop_scope="session")
async def chromium(worker_chromium: WorkerChromium) -> AsyncIterator[Browser]:
    """The worker's headless Chromium for one test (mark the test ``IN_CHROMIUM``): it opens its own contexts and
    pages (``new_context``/``new_page``, each with its own cookies and storage); whatever it leaves open is closed
    after it."""
    browser = await worker_chromium.get()
    try:
        yield browser
    finally:
        if browser.is_connected():
            await close_pages(browser)
