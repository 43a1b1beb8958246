"""Human mode: the loopback confirm page (voicing_mcp/server/web/confirm_page.py) and the dial tool using it.

1. The page app over real loopback HTTP (httpx against the running page server): what it shows, and every
   refusal — no or wrong CSRF token, a foreign Origin or Host, after expiry — changes nothing; the first POST
   decides, once.
2. The tool in human mode through in-process MCP sessions (both protocol modes) against the emulator, with
   ``$BROWSER`` pointing at a recorder: the URL reaches the "browser" and nothing the model receives.
3. As a person would: the stdio server as a subprocess, the page opened in headless Chromium (Playwright),
   "Call now" clicked — the emulator's dial counter goes 0 → 1, and a second click or a replayed POST
   changes nothing; "Don't call" dials nothing and the tool answers ``declined``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
import subprocess
import sys
import threading
import time
from collections.abc import AsyncGenerator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio
import httpx
import pytest
from markupsafe import escape
from mcp import Client
from mcp.client.session import ClientSession
from mcp.client.sse import sse_client
from mcp.client.stdio import StdioServerParameters, get_default_environment
from mcp.client.streamable_http import streamable_http_client
from mcp_types import (
    CallToolResult,
    ClientCapabilities,
    ElicitationCapability,
    ElicitResult,
    TextContent,
    TextResourceContents,
    UrlElicitationCapability,
)

from browser_support import IN_CHROMIUM, close_pages
from server_support import NUMBER, PAYMENT, VARS, Clock, Human, call, dials, helper, refusal, structured, text_of
from tests.server.web.test_transports import Served, clean_env, stop
from voicing_mcp.api.models import OutboundCallRequest
from voicing_mcp.config import PACKAGE_PROMPTS_DIR, load_settings
from voicing_mcp.emulator.runner import RunningEmulator
from voicing_mcp.guard import workflow
from voicing_mcp.guard.policy import Preview
from voicing_mcp.guard.templates import TemplateStore
from voicing_mcp.redact import mask_number, one_line
from voicing_mcp.server.app import create_server
from voicing_mcp.server.render.preview import DialResult, preview_rows, preview_text, text_for_dial
from voicing_mcp.server.web.confirm_page import ConfirmPages, PendingDial

if TYPE_CHECKING:
    from playwright.async_api import Browser

ROOT = Path(__file__).resolve().parents[3]
ARTIFACTS = ROOT / "test-artifacts"
NOW = datetime(2026, 5, 4, 16, 0, tzinfo=UTC)
HOSTILE = "Ann\x1b[31m +1 999\u202e<script>alert(1)</script>"


def preview(**changes: Any) -> Preview:
    fields: dict[str, Any] = {
        "phone_number": NUMBER,
        "international": "+1 701-811-2582",
        "country": "United States (US)",
        "line_type": "fixed line or mobile",
        "callee_local_time": "Mon 11:00 (America/Chicago)",
        "time_zones": ["America/Chicago"],
        "assistant_id": PAYMENT,
        "opening_line": "Hi Ann, your Gold plan payment is pending.",
        "telephony_provider": "default",
        "input_variables": dict(VARS),
        "local_mode": False,
        "note": None,
    }
    fields.update(changes)
    return Preview(**fields)


REQUEST = OutboundCallRequest(assistant_id=PAYMENT, phone_number=NUMBER, input_variables=VARS)


@asynccontextmanager
async def running_pages(clock: Clock, **options: Any) -> AsyncGenerator[ConfirmPages]:
    pages = ConfirmPages(port=None, clock=clock, **options)
    await pages.start()
    try:
        yield pages
    finally:
        await pages.aclose()


def csrf_of(page: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', page)
    assert found, page
    return found.group(1)


async def post(
    pages: ConfirmPages, pending: PendingDial, *, choice: str = "call", csrf: str | None = None, **headers: str
) -> httpx.Response:
    headers.setdefault("origin", pages.origin)
    form = {"choice": choice} if csrf is None else {"choice": choice, "csrf": csrf}
    async with httpx.AsyncClient() as http:
        return await http.post(pages.url(pending), data=form, headers=headers)


# ----- 1. the page app over loopback HTTP ------------------------------------------------------------
async def test_the_page_listens_on_loopback_only_and_shows_the_preview_escaped_and_visible() -> None:
    async with running_pages(Clock(NOW)) as pages:
        hostile = preview(input_variables={"name": HOSTILE, "plan_type": "Gold"}, opening_line=f"Hi {HOSTILE}")
        pending = pages.create(REQUEST, hostile, ["quiet hours: something"])
        assert pages.url(pending).startswith("http://127.0.0.1:")
        assert len(pending.id) >= 40  # secrets.token_urlsafe(32): 256 random bits
        async with httpx.AsyncClient() as http:
            response = await http.get(pages.url(pending))
    assert response.status_code == 200
    page = response.text
    for shown in ("+1 701-811-2582", "United States (US)", "fixed line or mobile", "Mon 11:00 (America/Chicago)"):
        assert shown in page
    assert PAYMENT in page and "A real phone will ring" in page and "Warning: quiet hours" in page
    assert "<script>" not in page and "&lt;script&gt;" in page
    assert "\x1b" not in page and "\u202e" not in page
    assert "&lt;U+001B&gt;[31m" in page and "&lt;U+202E&gt;" in page
    assert 'id="call"' in page and 'id="decline"' in page
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["referrer-policy"] == "same-origin"


async def test_the_page_the_result_text_and_the_question_show_the_preview_through_one_renderer() -> None:
    hostile = preview(input_variables={"name": HOSTILE, "plan_type": "Gold"}, opening_line=f"Hi {HOSTILE}")
    rows = preview_rows(hostile)
    assert [label for label, _ in rows] == ["Number", "Callee's local time", "Assistant", "Opening line", "Variables"]
    async with running_pages(Clock(NOW)) as pages:
        pending = pages.create(REQUEST, hostile, [])
        async with httpx.AsyncClient() as http:
            page = (await http.get(pages.url(pending))).text
    for label, value in rows:  # escaped by the template's autoescape (markupsafe)
        assert f"<tr><th>{escape(label)}</th><td>{escape(value)}</td></tr>" in page
    shown = preview_text(hostile)
    result = text_for_dial(DialResult(status="confirmation_required", preview=hostile, warnings=[]))
    assert shown in result.replace("\n  ", "\n")
    assert shown.split("\n")[0] == f"Call {rows[0][1]}"
    for label, value in rows[1:]:
        assert f"{label}: {value}" in shown
    assert "\x1b" not in shown + page and "\u202e" not in shown + page


async def test_the_page_names_the_assistant_by_its_templates_name_beside_its_id() -> None:
    store = TemplateStore(PACKAGE_PROMPTS_DIR)
    async with running_pages(Clock(NOW), assistant_name=store.display_name) as pages:
        named = pages.create(REQUEST, preview(), [])
        other = OutboundCallRequest(assistant_id="no-template-here", phone_number=NUMBER, input_variables=VARS)
        unnamed = pages.create(other, preview(assistant_id="no-template-here"), [])
        async with httpx.AsyncClient() as http:
            page = (await http.get(pages.url(named))).text
            plain = (await http.get(pages.url(unnamed))).text
    assert named.assistant_name == "Payment reminder"
    assert f'<td><strong>Payment reminder</strong> <span class="id">{PAYMENT} (provider default)</span></td>' in page
    assert "with the assistant <strong>Payment reminder</strong>?" in page
    assert unnamed.assistant_name is None and "with the assistant" not in plain
    assert "<td>no-template-here (provider default)</td>" in plain


async def test_a_hostile_assistant_name_is_shown_escaped_and_visible() -> None:
    async with running_pages(Clock(NOW), assistant_name=lambda _: one_line(HOSTILE)) as pages:
        pending = pages.create(REQUEST, preview(), [])
        async with httpx.AsyncClient() as http:
            page = (await http.get(pages.url(pending))).text
    assert "<script>" not in page and "&lt;script&gt;" in page and "\u202e" not in page


async def test_the_number_is_shown_the_same_way_everywhere_on_the_page_even_where_a_warning_masked_it() -> None:
    masked = mask_number(NUMBER)
    warning = f"quiet hours: it is 22:10 in America/Chicago for {masked}; calls allowed from 08:00"
    async with running_pages(Clock(NOW)) as pages:
        pending = pages.create(REQUEST, preview(), [warning, f"{NUMBER} was dialled 3 minutes ago"])
        async with httpx.AsyncClient() as http:
            page = (await http.get(pages.url(pending))).text
    assert "•" not in page and masked not in page and NUMBER not in page
    assert "Warning: +1 701-811-2582 was dialled 3 minutes ago" in page
    assert "Warning: quiet hours: it is 22:10 in America/Chicago for +1 701-811-2582; calls allowed" in page
    assert '<strong id="number">+1 701-811-2582</strong>' in page
    numbers = re.findall(r"\+1[\d \-•]{8,}\d", page)
    assert len(numbers) == 4 and set(numbers) == {"+1 701-811-2582"}  # the question, the table, the warnings


async def test_the_expiry_is_shown_in_the_serving_machines_local_time_and_in_utc(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TZ", "Europe/Berlin")
    time.tzset()
    try:
        async with running_pages(Clock(NOW)) as pages:  # NOW is 16:00 UTC, 18:00 in Berlin (summer time)
            pending = pages.create(REQUEST, preview(), [])
            async with httpx.AsyncClient() as http:
                page = (await http.get(pages.url(pending))).text
    finally:
        monkeypatch.undo()
        time.tzset()
    assert (
        'expires at <time id="expires" datetime="2026-05-04T16:05:00Z" data-utc="16:05:00 UTC">18:05:00 CEST</time>'
        '<span id="expires-utc"> (16:05:00 UTC)</span>.'
    ) in page


async def test_the_expiry_in_utc_is_said_once_where_the_machine_runs_on_utc(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    try:
        async with running_pages(Clock(NOW)) as pages:
            pending = pages.create(REQUEST, preview(), [])
            async with httpx.AsyncClient() as http:
                page = (await http.get(pages.url(pending))).text
    finally:
        monkeypatch.undo()
        time.tzset()
    assert 'data-utc="16:05:00 UTC">16:05:00 UTC</time><span id="expires-utc"></span>.' in page


async def test_call_now_is_the_primary_button_and_dont_call_the_secondary_with_the_same_field_names() -> None:
    async with running_pages(Clock(NOW)) as pages:
        pending = pages.create(REQUEST, preview(), [])
        async with httpx.AsyncClient() as http:
            response = await http.get(pages.url(pending))
    page = response.text
    call_at = page.index('<button type="submit" name="choice" value="call" id="call" class="primary">Call now</button>')
    decline_at = page.index(
        '<button type="submit" name="choice" value="decline" id="decline" class="secondary">Don\'t call</button>'
    )
    assert call_at < decline_at and f'<input type="hidden" name="csrf" value="{pending.csrf}">' in page
    # the one inline script runs only with this response's nonce; nothing else may load or run
    [nonce] = re.findall(r'<script nonce="([^"]+)">', page)
    policy = response.headers["content-security-policy"]
    assert f"script-src 'nonce-{nonce}'" in policy and "default-src 'none'" in policy
    assert not re.search(r"(src|href)=", page)  # no external request: no link, image, font or script source


async def test_local_mode_is_said_on_the_page() -> None:
    async with running_pages(Clock(NOW)) as pages:
        pending = pages.create(REQUEST, preview(local_mode=True), [])
        async with httpx.AsyncClient() as http:
            page = (await http.get(pages.url(pending))).text
    assert "Local mode: the built-in emulator answers — no real phone will ring." in page
    assert "A real phone will ring" not in page


@pytest.mark.parametrize("csrf", [None, "", "not-the-pages-token"])
async def test_a_post_without_the_pages_csrf_token_is_refused_and_changes_nothing(csrf: str | None) -> None:
    async with running_pages(Clock(NOW)) as pages:
        pending = pages.create(REQUEST, preview(), [])
        response = await post(pages, pending, csrf=csrf)
        assert response.status_code == 403 and "Nothing was changed" in response.text
        assert pending.state == "pending" and not pending.decided.is_set()


@pytest.mark.parametrize("origin", ["http://evil.example", "null", "http://localhost:{port}", "http://127.0.0.1:1"])
async def test_a_post_from_a_foreign_origin_is_refused(origin: str) -> None:
    async with running_pages(Clock(NOW)) as pages:
        pending = pages.create(REQUEST, preview(), [])
        response = await post(pages, pending, csrf=pending.csrf, origin=origin.format(port=pages.port))
        assert response.status_code == 403
        assert pending.state == "pending"


async def test_a_post_without_an_origin_is_refused() -> None:
    async with running_pages(Clock(NOW)) as pages:
        pending = pages.create(REQUEST, preview(), [])
        async with httpx.AsyncClient() as http:
            response = await http.post(pages.url(pending), data={"choice": "call", "csrf": pending.csrf})
        assert response.status_code == 403
        assert pending.state == "pending"


@pytest.mark.parametrize("host", ["evil.example", "localhost:{port}", "127.0.0.1", "rebound.example:{port}"])
async def test_a_foreign_host_is_refused_for_the_page_and_the_post(host: str) -> None:
    """DNS rebinding: another name resolving to 127.0.0.1 reaches the socket but not the page."""
    async with running_pages(Clock(NOW)) as pages:
        pending = pages.create(REQUEST, preview(), [])
        wrong = host.format(port=pages.port)
        async with httpx.AsyncClient() as http:
            shown = await http.get(pages.url(pending), headers={"host": wrong})
        assert shown.status_code == 421 and PAYMENT not in shown.text and pending.csrf not in shown.text
        response = await post(pages, pending, csrf=pending.csrf, host=wrong)
        assert response.status_code == 421
        assert pending.state == "pending"


async def test_after_expiry_the_page_and_its_post_are_refused() -> None:
    clock = Clock(NOW)
    async with running_pages(clock) as pages:
        pending = pages.create(REQUEST, preview(), [])
        async with httpx.AsyncClient() as http:
            form = csrf_of((await http.get(pages.url(pending))).text)
            clock.now += timedelta(minutes=5)
            response = await post(pages, pending, csrf=form)
            assert response.status_code == 410 and "expired" in response.text
            assert pending.state == "pending"
            assert (await http.get(pages.url(pending))).status_code in (404, 410)
        assert pages.find(pending.digest) is None


async def test_an_unknown_id_is_not_found() -> None:
    async with running_pages(Clock(NOW)) as pages:
        pages.create(REQUEST, preview(), [])
        async with httpx.AsyncClient() as http:
            response = await http.get(f"{pages.origin}/confirm/guessed-id")
        assert response.status_code == 404


async def test_the_first_post_decides_and_a_second_one_changes_nothing() -> None:
    async with running_pages(Clock(NOW)) as pages:
        pending = pages.create(REQUEST, preview(), [])
        first = await post(pages, pending, csrf=pending.csrf, choice="call")
        assert first.status_code == 200 and "Approved" in first.text
        assert pending.state == "approved" and pending.decided.is_set()
        for choice in ("decline", "call"):
            again = await post(pages, pending, csrf=pending.csrf, choice=choice)
            assert again.status_code == 409 and "already decided: approved" in again.text
        assert pending.state == "approved"
        async with httpx.AsyncClient() as http:
            shown = await http.get(pages.url(pending))
        assert shown.status_code == 409 and 'id="call"' not in shown.text


async def test_dont_call_declines_and_cannot_be_turned_into_a_call() -> None:
    async with running_pages(Clock(NOW)) as pages:
        pending = pages.create(REQUEST, preview(), [])
        first = await post(pages, pending, csrf=pending.csrf, choice="decline")
        assert first.status_code == 200 and "Nothing was dialled" in first.text
        again = await post(pages, pending, csrf=pending.csrf, choice="call")
        assert again.status_code == 409 and "declined" in again.text
        assert pending.state == "declined"


async def test_a_post_with_no_choice_changes_nothing() -> None:
    async with running_pages(Clock(NOW)) as pages:
        pending = pages.create(REQUEST, preview(), [])
        response = await post(pages, pending, csrf=pending.csrf, choice="maybe")
        assert response.status_code == 400 and pending.state == "pending"


async def test_a_busy_confirm_port_is_a_clear_error() -> None:
    async with running_pages(Clock(NOW)) as pages:
        other = ConfirmPages(port=pages.port, clock=Clock(NOW))
        with pytest.raises(Exception, match=f"127.0.0.1:{pages.port}"):
            await other.start()
        await other.aclose()


# ----- 2. the tool in human mode (in-process sessions) ----------------------------------------------
def recorder(tmp_path: Path) -> tuple[Path, Path]:
    """A ``$BROWSER`` command that records the URL it was given (and opens nothing)."""
    log = tmp_path / "browser.log"
    script = tmp_path / "browser-recorder"
    script.write_text(
        f"#!{sys.executable}\nimport sys\nwith open({str(log)!r}, 'a') as f:\n    f.write(sys.argv[1] + '\\n')\n",
        encoding="utf-8",
    )
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return script, log


def browser_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """``$BROWSER`` is the recorder and the tool does not wait for a click: the log of the URLs it was given."""
    script, log = recorder(tmp_path)
    monkeypatch.setenv("BROWSER", str(script))
    monkeypatch.setattr(workflow, "CONFIRM_WAIT_SECONDS", 0.0)
    return log


async def recorded_url(log: Path) -> str:
    with anyio.fail_after(30):
        while not log.exists() or not log.read_text(encoding="utf-8").strip():
            await anyio.sleep(0.02)
    urls = log.read_text(encoding="utf-8").split()
    assert len(urls) == 1, urls
    return urls[0]


async def click(url: str, choice: str = "call") -> httpx.Response:
    """What the browser does: load the page, submit its form from its own origin."""
    origin = re.match(r"http://127\.0\.0\.1:\d+", url)
    assert origin
    async with httpx.AsyncClient() as http:
        page = await http.get(url)
        assert page.status_code == 200, page.text
        return await http.post(url, data={"csrf": csrf_of(page.text), "choice": choice}, headers={"origin": origin[0]})


def everything_the_model_got(*results: CallToolResult) -> str:
    parts: list[str] = []
    for result in results:
        parts.extend(b.text for b in result.content if isinstance(b, TextContent))
        parts.append(json.dumps(result.structured_content))
        parts.append(result.model_dump_json())
    return "\n".join(parts)


@asynccontextmanager
async def human_client(
    emu: RunningEmulator, tmp_path: Path, mode: str, *, human: Human | None = None, **settings: Any
) -> AsyncGenerator[Client]:
    """A server in its default confirmation mode outside local (human), pointed at the emulator."""
    settings.setdefault("quiet_hours", "off")
    settings.setdefault("ledger", tmp_path / "ledger.sqlite3")
    s = load_settings(base_url=emu.base_url, api_key=emu.api_key, env="development", **settings)
    assert s.resolved_confirmation == "human"
    server = create_server(s, clock=Clock())
    async with Client(server, mode=mode, elicitation_callback=human) as client:
        yield client


async def ledger_text(client: Client) -> str:
    res = await client.read_resource("voicing://ledger/recent")
    content = res.contents[0]
    assert isinstance(content, TextResourceContents)
    return content.text


async def test_human_mode_opens_the_page_in_the_browser_and_the_click_dials_once(
    emu: RunningEmulator, tmp_path: Path, mode: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    script, log = recorder(tmp_path)
    monkeypatch.setenv("BROWSER", str(script))
    progress: list[tuple[float, float | None, str | None]] = []

    async def on_progress(value: float, total: float | None, message: str | None) -> None:
        progress.append((value, total, message))

    results: list[CallToolResult] = []
    async with human_client(emu, tmp_path, mode) as client:

        async def dial() -> None:
            arguments = {"assistant_id": PAYMENT, "phone_number": NUMBER, "input_variables": VARS}
            results.append(await client.call_tool("initiate_outbound_call", arguments, progress_callback=on_progress))

        async with anyio.create_task_group() as tg:
            tg.start_soon(dial)
            url = await recorded_url(log)
            assert dials(emu) == 0  # nothing before the click
            clicked = await click(url)
            assert clicked.status_code == 200 and "Approved" in clicked.text
        again = await call(client)  # the same request again: the duplicate guard, never a second dial
        replay = await click_replayed(url)
        ledger = await ledger_text(client)
    data = structured(results[0])
    assert data["status"] == "started" and data["confirmed_by"] == "page"
    assert dials(emu) == 1
    refusal(again, "duplicate")
    assert replay == 409
    # whole seconds of the wait, as a fraction with a message that says where the human is asked (a click that
    # lands before the wait began leaves none: tests/guard/test_workflow.py pins them deterministically)
    for value, total, message in progress:
        assert total == 45 and value == int(value)
        assert message == f"waiting for you to confirm in the browser: {int(value)} of 45 s"
    seen = everything_the_model_got(results[0], again) + ledger
    page_id = url.rsplit("/", 1)[1]
    assert url not in seen and page_id not in seen
    assert '"confirmation": "page"' in ledger


async def click_replayed(url: str) -> int:
    async with httpx.AsyncClient() as http:
        page = await http.get(url)
        return page.status_code


async def test_dont_call_on_the_page_returns_declined_and_dials_nothing(
    emu: RunningEmulator, tmp_path: Path, mode: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    script, log = recorder(tmp_path)
    monkeypatch.setenv("BROWSER", str(script))
    results: list[CallToolResult] = []
    async with human_client(emu, tmp_path, mode) as client:

        async def dial() -> None:
            results.append(await call(client))

        async with anyio.create_task_group() as tg:
            tg.start_soon(dial)
            url = await recorded_url(log)
            declined = await click(url, "decline")
            assert declined.status_code == 200 and "Not called" in declined.text
        rows = json.loads(await ledger_text(client))["dials"]
    data = structured(results[0])  # a normal result, not isError
    assert data["status"] == "declined" and data["asked_via"] == "browser"
    assert '"Don\'t call" on the confirm page: nothing was dialled' in data["next_step"]
    assert text_of(results[0]).startswith("DECLINED — nothing was dialled.")
    assert dials(emu) == 0 and rows == []
    assert url not in everything_the_model_got(results[0])


async def test_without_a_click_the_tool_says_where_the_human_was_asked_and_the_same_request_dials_after_it(
    emu: RunningEmulator, tmp_path: Path, mode: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = browser_log(tmp_path, monkeypatch)
    async with human_client(emu, tmp_path, mode) as client:
        first = await call(client)
        data = structured(first)
        assert data["status"] == "confirmation_required" and data["asked_via"] == "browser"
        assert data["confirmation_token"] is None and data["expires_at"].endswith("Z")
        assert data["preview"]["phone_number"] == NUMBER
        assert "in their browser" in data["next_step"] and "confirmation_token" not in text_of(first)
        url = await recorded_url(log)
        # asking again before the click opens no second page
        assert structured(await call(client))["status"] == "confirmation_required"
        assert dials(emu) == 0
        assert (await click(url)).status_code == 200
        # a changed request is not what the human approved
        other = structured(await call(client, input_variables={**VARS, "name": "Bob"}))
        assert other["status"] == "confirmation_required" and dials(emu) == 0
        second = structured(await call(client))
        assert second["status"] == "started" and second["confirmed_by"] == "page"
        refusal(await call(client), "duplicate")
    assert dials(emu) == 1
    assert len(log.read_text(encoding="utf-8").split()) == 2  # one page per distinct request
    assert url not in everything_the_model_got(first)


async def test_concurrent_requests_after_one_approval_dial_once(
    emu: RunningEmulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = browser_log(tmp_path, monkeypatch)
    results: list[CallToolResult] = []
    async with human_client(emu, tmp_path, "legacy") as client:
        assert structured(await call(client))["status"] == "confirmation_required"
        assert (await click(await recorded_url(log))).status_code == 200

        async def again() -> None:
            results.append(await call(client))

        async with anyio.create_task_group() as tg:
            for _ in range(8):
                tg.start_soon(again)
    started = [r for r in results if not r.is_error and (r.structured_content or {}).get("status") == "started"]
    assert len(started) == 1
    assert dials(emu) == 1
    # the others are refused; none opens a second "Place this call?" page for the call just placed
    assert len(log.read_text(encoding="utf-8").split()) == 1
    assert all(r.is_error for r in results if r not in started)


async def test_a_form_elicitation_is_still_used_in_human_mode_and_opens_no_page(
    emu: RunningEmulator, tmp_path: Path, mode: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    script, log = recorder(tmp_path)
    monkeypatch.setenv("BROWSER", str(script))
    human = Human("accept")
    async with human_client(emu, tmp_path, mode, human=human) as client:
        assert structured(await call(client))["confirmed_by"] == "elicitation"
    assert len(human.questions) == 1 and not log.exists()
    assert dials(emu) == 1


async def test_an_allow_listed_number_dials_without_a_page(
    emu: RunningEmulator, tmp_path: Path, mode: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    script, log = recorder(tmp_path)
    monkeypatch.setenv("BROWSER", str(script))
    async with human_client(emu, tmp_path, mode, allowed_numbers=NUMBER) as client:
        assert structured(await call(client))["confirmed_by"] == "allow-list"
    assert not log.exists() and dials(emu) == 1


async def test_the_browser_gets_neither_the_api_key_nor_the_mcp_token(
    emu: RunningEmulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The opener ran the browser with the server's whole environment: VOICING_API_KEY and VOICING_MCP_TOKEN
    went to a third-party program (and every helper, wrapper or crash reporter it starts)."""
    seen = tmp_path / "browser-env.json"
    script = tmp_path / "browser-env"
    script.write_text(
        f"#!{sys.executable}\nimport json, os, sys\n"
        f"with open({str(seen)!r}, 'w') as f:\n    json.dump({{'url': sys.argv[1], 'env': dict(os.environ)}}, f)\n",
        encoding="utf-8",
    )
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("BROWSER", str(script))
    monkeypatch.setenv("VOICING_API_KEY", emu.api_key)
    monkeypatch.setenv("VOICING_MCP_TOKEN", "mcp-token-5e1b0c7a")
    (tmp_path / "dnc.txt").write_text("+17025550100\n", encoding="utf-8")
    monkeypatch.setenv("VOICING_DNC_FILE", str(tmp_path / "dnc.txt"))
    monkeypatch.setattr(workflow, "CONFIRM_WAIT_SECONDS", 0.0)
    async with human_client(emu, tmp_path, "legacy") as client:
        assert structured(await call(client))["status"] == "confirmation_required"
    with anyio.fail_after(30):
        while not seen.exists() or not seen.read_text(encoding="utf-8"):
            await anyio.sleep(0.02)
    opened = json.loads(seen.read_text(encoding="utf-8"))
    assert opened["url"].startswith("http://127.0.0.1:")  # the browser did get the page
    assert not [k for k in opened["env"] if k.upper().startswith("VOICING_")]
    assert "mcp-token-5e1b0c7a" not in json.dumps(opened["env"])
    assert "PATH" in opened["env"]  # the rest of the user's environment is the browser's as usual
    assert dials(emu) == 0


@pytest.mark.parametrize("browser", ["/bin/false", "/no/such/browser"])
async def test_with_no_browser_and_no_elicitation_the_dial_is_refused_naming_the_options(
    emu: RunningEmulator, tmp_path: Path, mode: str, monkeypatch: pytest.MonkeyPatch, browser: str
) -> None:
    monkeypatch.setenv("BROWSER", browser)
    async with human_client(emu, tmp_path, mode) as client:
        text = refusal(await call(client), "confirmation-unavailable")
    for option in ("elicitation", "$BROWSER", "VOICING_ALLOWED_NUMBERS", "VOICING_CONFIRMATION=token"):
        assert option in text
    assert "http://127.0.0.1" not in text
    assert dials(emu) == 0


# ----- URL-mode elicitation: the client shows the link to the user --------------------------------
class UrlOnlyHuman:
    """A client that declares only URL-mode elicitation and "opens" the link it is given."""

    def __init__(self, action: str = "accept") -> None:
        self.action = action
        self.urls: list[str] = []
        self.messages: list[str] = []

    async def __call__(self, context: Any, params: Any) -> Any:

        self.messages.append(params.message)
        self.urls.append(params.url)
        return ElicitResult(action=self.action)  # type: ignore[arg-type]


def declare_url_only(monkeypatch: pytest.MonkeyPatch) -> None:
    original = ClientSession._build_capabilities  # pyright: ignore[reportPrivateUsage]

    def url_only(self: ClientSession, version: str) -> ClientCapabilities:
        caps = original(self, version)
        return caps.model_copy(update={"elicitation": ElicitationCapability(url=UrlElicitationCapability())})

    monkeypatch.setattr(ClientSession, "_build_capabilities", url_only)


async def test_a_client_with_url_elicitation_gets_the_link_instead_of_the_browser(
    emu: RunningEmulator, tmp_path: Path, mode: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On 2025-11-25 the link goes to the client's user (a mid-call URL elicitation). On 2026-07-28 a tool
    cannot send a request mid-call (no back-channel), so the page opens in the browser instead."""
    script, log = recorder(tmp_path)
    monkeypatch.setenv("BROWSER", str(script))
    declare_url_only(monkeypatch)
    human = UrlOnlyHuman()
    results: list[CallToolResult] = []
    async with human_client(emu, tmp_path, mode, human=human) as client:  # type: ignore[arg-type]

        async def dial() -> None:
            results.append(await call(client))

        async with anyio.create_task_group() as tg:
            tg.start_soon(dial)
            if mode == "legacy":
                with anyio.fail_after(30):
                    while not human.urls:
                        await anyio.sleep(0.02)
                url = human.urls[0]
            else:
                url = await recorded_url(log)
            assert (await click(url)).status_code == 200
    data = structured(results[0])
    assert data["status"] == "started" and data["confirmed_by"] == "page"
    if mode == "legacy":
        assert not log.exists()  # the link went to the client's user, not to a browser
        assert "confirm page" in human.messages[0]
    else:
        assert human.urls == []
    assert url not in everything_the_model_got(results[0])
    assert dials(emu) == 1


async def test_declining_the_url_elicitation_is_a_declined_result(
    emu: RunningEmulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    declare_url_only(monkeypatch)
    human = UrlOnlyHuman("decline")
    async with human_client(emu, tmp_path, "legacy", human=human) as client:  # type: ignore[arg-type]
        data = structured(await call(client))
    assert data["status"] == "declined" and data["asked_via"] == "url-elicitation"
    assert dials(emu) == 0


@pytest.mark.parametrize("transport", ["http", "sse"])
async def test_a_debug_log_never_carries_the_confirm_link_that_url_elicitation_sends(
    emu: RunningEmulator, tmp_path: Path, transport: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """At --log-level DEBUG the SDK's HTTP and SSE transports log every message they send, the URL-mode
    elicitation that carries the page's link to the human included: a model that can read the server's log
    (a shell or file tool) would find the link there and click it itself."""

    env = clean_env(
        tmp_path,
        VOICING_BASE_URL=emu.base_url,
        VOICING_API_KEY=emu.api_key,
        VOICING_ENV="development",
        VOICING_QUIET_HOURS="off",
        VOICING_LEDGER=str(tmp_path / "ledger.sqlite3"),
        BROWSER="/bin/false",
    )
    command = [sys.executable, "-m", "voicing_mcp", "--transport", transport, "--port", "0", "--log-level", "DEBUG"]
    served = Served(
        subprocess.Popen(
            command, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
    )
    threading.Thread(target=served.pump, daemon=True).start()
    await anyio.to_thread.run_sync(served.ready.wait, 60)
    assert served.url, "".join(served.stderr)
    declare_url_only(monkeypatch)
    human = UrlOnlyHuman()
    results: list[CallToolResult] = []
    try:
        connect = streamable_http_client(served.url) if transport == "http" else sse_client(served.url)
        async with Client(connect, mode="legacy", elicitation_callback=human) as client:  # type: ignore[arg-type]

            async def dial() -> None:
                results.append(await call(client))

            async with anyio.create_task_group() as tg:
                tg.start_soon(dial)
                with anyio.fail_after(30):
                    while not human.urls:
                        await anyio.sleep(0.02)
                assert (await click(human.urls[0], "decline")).status_code == 200
    finally:
        stop(served)
    url = human.urls[0]
    log = "".join(served.stderr)
    assert structured(results[0])["status"] == "declined"
    assert "elicitation/create" in log  # the transport did log the message that carried the link…
    assert "/confirm/<hidden>" in log
    assert url not in log and url.rsplit("/", 1)[1] not in log  # …without the link


# ----- 3. as a person would: stdio server, headless Chromium -----------------------------------------
def artifacts(tmp_path: Path, name: str) -> Path:
    """Screenshots go to tmp_path and to test-artifacts/ (ignored by git) for CI to keep."""
    try:
        ARTIFACTS.mkdir(exist_ok=True)
        return ARTIFACTS / name
    except OSError:
        return tmp_path / name


@asynccontextmanager
async def stdio_server(emu: RunningEmulator, tmp_path: Path, mode: str, browser: Path) -> AsyncGenerator[Client]:
    """``voicing-mcp`` over stdio as a client starts it, in human mode (the default with a key, outside local),
    its stderr (at debug level) kept in ``tmp_path/server.err``."""
    env = {
        **get_default_environment(),
        "VOICING_API_KEY": emu.api_key,
        "VOICING_BASE_URL": emu.base_url,
        "VOICING_ENV": "development",
        "VOICING_QUIET_HOURS": "off",
        "VOICING_PROMPTS_DIR": os.environ["VOICING_PROMPTS_DIR"],  # the test user's templates (conftest)
        "XDG_STATE_HOME": str(tmp_path / "state"),
        "BROWSER": str(browser),
    }
    server = shutil.which("voicing-mcp", path=str(Path(sys.executable).parent)) or "voicing-mcp"
    err = tmp_path / "server.err"
    params = StdioServerParameters(
        command="/bin/sh", args=["-c", f'exec "{server}" --log-level debug 2>>"{err}"'], env=env
    )
    async with Client(params, mode=mode) as client:
        yield client


@IN_CHROMIUM
async def test_as_a_person_would_the_page_opens_in_chromium_and_call_now_dials_once(
    emu: RunningEmulator, tmp_path: Path, mode: str, chromium: Browser
) -> None:
    script, log = recorder(tmp_path)
    results: list[CallToolResult] = []
    async with stdio_server(emu, tmp_path, mode, script) as client:
        try:

            async def dial() -> None:
                results.append(await call(client))

            async with anyio.create_task_group() as tg:
                tg.start_soon(dial)
                url = await recorded_url(log)
                assert dials(emu) == 0
                page = await chromium.new_page()
                await page.goto(url)
                shown = await page.inner_text("body")
                assert "+1 701-811-2582" in shown and "United States" in shown
                assert PAYMENT in shown and "Hi Ann, your Gold plan payment is pending." in shown
                assert "A real phone will ring" in shown
                await page.screenshot(path=str(artifacts(tmp_path, f"confirm-page-{mode}.png")), full_page=True)
                csrf = await page.get_attribute("input[name=csrf]", "value")
                second_tab = await chromium.new_page()
                await second_tab.goto(url)  # the same page, open twice
                await page.click("#call")
                assert "Approved" in await page.inner_text("body")
            assert dials(emu) == 1
            # a second click (the other tab's form) and a replayed POST change nothing
            await second_tab.click("#call")
            assert "already decided" in await second_tab.inner_text("body")
            origin = url.split("/confirm/")[0]
            replay = await page.request.post(
                url, form={"csrf": csrf or "", "choice": "call"}, headers={"origin": origin}
            )
            assert replay.status == 409
            assert dials(emu) == 1
            again = await call(client)
        finally:
            await close_pages(chromium)
    data = structured(results[0])
    assert data["status"] == "started" and data["confirmed_by"] == "page"
    refusal(again, "duplicate")
    assert dials(emu) == 1
    # the URL reached the "browser" only: not the model, not the log
    page_id = url.rsplit("/", 1)[1]
    seen = everything_the_model_got(results[0], again)
    assert url not in seen and page_id not in seen
    logs = (tmp_path / "server.err").read_text(encoding="utf-8")
    assert "confirm page listening on http://127.0.0.1:" in logs  # the debug log ran
    assert page_id not in logs


@IN_CHROMIUM
async def test_as_a_person_would_dont_call_in_chromium_dials_nothing_and_the_tool_answers_declined(
    emu: RunningEmulator, tmp_path: Path, chromium: Browser
) -> None:
    script, log = recorder(tmp_path)
    results: list[CallToolResult] = []
    async with stdio_server(emu, tmp_path, "legacy", script) as client:
        try:

            async def dial() -> None:
                results.append(await call(client))

            async with anyio.create_task_group() as tg:
                tg.start_soon(dial)
                page = await chromium.new_page()
                await page.goto(await recorded_url(log))
                await page.click("#decline")
                assert "Not called" in await page.inner_text("body")
                await page.screenshot(path=str(artifacts(tmp_path, "confirm-page-declined.png")))
        finally:
            await close_pages(chromium)
    data = structured(results[0])
    assert data["status"] == "declined" and not results[0].is_error
    assert dials(emu) == 0


def _rgb(css: str) -> tuple[float, float, float, float]:
    """``rgb(1, 2, 3)`` / ``rgba(1, 2, 3, 0.5)`` as (r, g, b, alpha)."""
    parts = [float(x) for x in re.findall(r"[\d.]+", css)]
    return (parts[0], parts[1], parts[2], parts[3] if len(parts) > 3 else 1.0)


def contrast(fg: str, bg: str) -> float:
    """The WCAG contrast ratio of two opaque CSS colours."""

    def luminance(css: str) -> float:
        r, g, b, _ = _rgb(css)
        lin = [c / 255 / 12.92 if c / 255 <= 0.04045 else ((c / 255 + 0.055) / 1.055) ** 2.4 for c in (r, g, b)]
        return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]

    high, low = sorted((luminance(fg), luminance(bg)), reverse=True)
    return (high + 0.05) / (low + 0.05)


@IN_CHROMIUM
@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("width", [320, 1280])
async def test_as_a_person_would_the_page_reads_at_320_px_and_on_a_desktop_in_light_and_dark_with_the_keyboard(
    tmp_path: Path, width: int, scheme: str, chromium: Browser
) -> None:
    """In Chromium: no sideways scrolling at 320 px, "Call now" filled and "Don't call" outlined, text and buttons at
    WCAG AA contrast, the expiry in the browser's zone, Tab reaching "Call now" first with a visible focus ring and
    Enter deciding, and no request leaving the page's own origin."""
    store = TemplateStore(PACKAGE_PROMPTS_DIR)
    warning = f"quiet hours: it is 22:10 in America/Chicago for {mask_number(NUMBER)}; calls allowed from 08:00"
    async with running_pages(Clock(NOW), assistant_name=store.display_name) as pages:
        pending = pages.create(REQUEST, preview(), [warning])
        try:
            context = await chromium.new_context(
                viewport={"width": width, "height": 900}, color_scheme=scheme, timezone_id="America/Chicago"
            )
            page = await context.new_page()
            requested: list[str] = []
            page.on("request", lambda r: requested.append(r.url))
            await page.goto(pages.url(pending))
            shown = await page.inner_text("body")
            assert "Payment reminder" in shown and PAYMENT in shown and "•" not in shown
            assert shown.count("+1 701-811-2582") == 3
            # the browser's zone, and UTC (the serving machine's zone is in the text without script)
            assert "expires at 11:05:00 CDT (16:05:00 UTC)." in shown
            assert await page.evaluate("document.documentElement.scrollWidth") <= width
            style = """(sel) => { const s = getComputedStyle(document.querySelector(sel));
                return [s.color, s.backgroundColor, s.borderTopColor, s.fontWeight, s.outlineStyle]; }"""
            body_fg, body_bg, *_ = await page.evaluate(style, "body")
            call_fg, call_bg, _, call_weight, _ = await page.evaluate(style, "#call")
            decline_fg, decline_bg, decline_border, decline_weight, _ = await page.evaluate(style, "#decline")
            warn_fg, warn_bg, *_ = await page.evaluate(style, ".warn")
            assert _rgb(call_bg)[3] == 1.0 and _rgb(decline_bg)[3] == 0.0  # filled primary, outlined secondary
            assert int(call_weight) > int(decline_weight)
            for fg, bg in ((body_fg, body_bg), (call_fg, call_bg), (decline_fg, body_bg), (warn_fg, warn_bg)):
                assert contrast(fg, bg) >= 4.5, (fg, bg)
            assert contrast(decline_border, body_bg) >= 1.5  # the outline of the secondary button is visible
            await page.screenshot(path=str(artifacts(tmp_path, f"confirm-page-{width}px-{scheme}.png")), full_page=True)
            await page.keyboard.press("Tab")
            assert await page.evaluate("document.activeElement.id") == "call"
            assert (await page.evaluate(style, "#call"))[4] != "none"  # the focus ring shows
            await page.keyboard.press("Tab")
            assert await page.evaluate("document.activeElement.id") == "decline"
            await page.keyboard.press("Shift+Tab")
            await page.keyboard.press("Enter")
            await page.wait_for_selector("text=Approved")
            assert pending.state == "approved"
            await page.screenshot(path=str(artifacts(tmp_path, f"confirm-page-approved-{width}px-{scheme}.png")))
            assert requested and all(url.startswith(pages.origin + "/confirm/") for url in requested), requested
        finally:
            await close_pages(chromium)


@IN_CHROMIUM
async def test_without_javascript_the_expiry_reads_in_the_serving_machines_zone_and_utc(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, chromium: Browser
) -> None:
    monkeypatch.setenv("TZ", "Europe/Berlin")
    time.tzset()
    try:
        async with running_pages(Clock(NOW)) as pages:
            pending = pages.create(REQUEST, preview(), [])
            try:
                context = await chromium.new_context(java_script_enabled=False, timezone_id="America/Chicago")
                page = await context.new_page()
                await page.goto(pages.url(pending))
                assert "expires at 18:05:00 CEST (16:05:00 UTC)." in await page.inner_text("body")
            finally:
                await close_pages(chromium)
    finally:
        monkeypatch.undo()
        time.tzset()


def test_jinja2_stays_off_the_start_and_is_imported_by_the_first_page_rendered() -> None:
    code = (
        "import sys\n"
        "from voicing_mcp.config import load_settings\n"
        "from voicing_mcp.server.app import create_server\n"
        "import voicing_mcp.server.web.confirm_page\n"
        "create_server(load_settings())\n"
        "print('jinja2' in sys.modules)\n"
        "from voicing_mcp.pages import render_page\n"
        "render_page('message.html', title='t', message='m', kind='')\n"
        "print('jinja2' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert done.stdout.split() == ["False", "True"]


def test_the_test_environment_opens_no_real_browser() -> None:
    """conftest.py removes $BROWSER and the display, so a human-mode test cannot open the developer's browser."""
    assert "BROWSER" not in os.environ and "DISPLAY" not in os.environ
    assert helper is not None


# ----- the startup log says who confirms ---------------------------------------------------------------
@pytest.mark.parametrize(
    ("settings", "warned"),
    [
        ({"confirmation": "token"}, True),
        ({}, False),  # human, the default outside local
    ],
)
async def test_the_startup_log_warns_when_the_model_can_confirm_by_itself(
    emu: RunningEmulator, caplog: pytest.LogCaptureFixture, settings: dict[str, Any], warned: bool
) -> None:
    s = load_settings(base_url=emu.base_url, api_key=emu.api_key, env="development", **settings)
    with caplog.at_level("INFO", logger="voicing_mcp"):
        async with Client(create_server(s), mode="legacy"):
            pass
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert any("can confirm a call by itself" in w for w in warnings) is warned
    if not warned:
        assert any("confirmed by a human" in r.getMessage() for r in caplog.records)


async def test_the_startup_log_names_the_replaced_require_elicitation_setting(
    emu: RunningEmulator, caplog: pytest.LogCaptureFixture
) -> None:
    s = load_settings(base_url=emu.base_url, api_key=emu.api_key, env="development", require_elicitation="true")
    with caplog.at_level("INFO", logger="voicing_mcp"):
        async with Client(create_server(s), mode="legacy"):
            pass
    assert any(
        "VOICING_REQUIRE_ELICITATION was replaced by VOICING_CONFIRMATION" in r.getMessage() for r in caplog.records
    )


async def test_a_declined_request_stays_declined_until_it_expires_and_opens_no_new_page(
    emu: RunningEmulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = browser_log(tmp_path, monkeypatch)
    async with human_client(emu, tmp_path, "legacy") as client:
        assert structured(await call(client))["status"] == "confirmation_required"
        assert (await click(await recorded_url(log), "decline")).status_code == 200
        for _ in range(3):
            again = structured(await call(client))
            assert again["status"] == "declined" and "declined until" in again["next_step"]
    assert len(log.read_text(encoding="utf-8").split()) == 1
    assert dials(emu) == 0


async def test_at_most_five_pages_wait_at_once(
    emu: RunningEmulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = browser_log(tmp_path, monkeypatch)
    async with human_client(emu, tmp_path, "legacy") as client:
        for i in range(5):
            assert structured(await call(client, input_variables={**VARS, "name": f"N{i}"}))["status"] == (
                "confirmation_required"
            )
        refusal(await call(client, input_variables={**VARS, "name": "N5"}), "confirmation-pending")
        # an answered page frees its place
        first = log.read_text(encoding="utf-8").split()[0]
        assert (await click(first, "decline")).status_code == 200
        assert structured(await call(client, input_variables={**VARS, "name": "N5"}))["status"] == (
            "confirmation_required"
        )
    assert len(log.read_text(encoding="utf-8").split()) == 6
    assert dials(emu) == 0


async def test_concurrent_identical_first_requests_open_one_page(
    emu: RunningEmulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = browser_log(tmp_path, monkeypatch)
    results: list[CallToolResult] = []
    async with human_client(emu, tmp_path, "legacy") as client:

        async def ask() -> None:
            results.append(await call(client))

        async with anyio.create_task_group() as tg:
            for _ in range(4):
                tg.start_soon(ask)
    assert [structured(r)["status"] for r in results] == ["confirmation_required"] * 4
    assert len(log.read_text(encoding="utf-8").split()) == 1
    assert dials(emu) == 0
