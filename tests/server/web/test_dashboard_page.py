"""The campaign dashboard over real loopback HTTP and in headless Chromium, against the emulator, with the server's
own dispatcher dialling (as in use): a real MCP client session prepares the campaign, the human approves it on its
approval page, and that page turns into the dashboard.

1. what it shows: the counts, the progress, the chart's totals and the rows agree with ``campaign_status``; the
   JSON the page polls carries ``campaign_status``'s result;
2. its buttons: Pause stops dialling before the next dial (the ledger's dials and the emulator's request log),
   Resume continues, Cancel ends it; after the approval lapsed Resume is not offered and a POST of it changes
   nothing (no new approval is asked from the page);
3. forged POSTs (no or a wrong CSRF token, a foreign or missing Origin, a foreign Host) change nothing;
4. ``control_campaign(action="open_dashboard")`` shows the same address to the human (browser, or URL-mode
   elicitation), and the address is in no tool result;
5. as a person would, in headless Chromium: approve → the dashboard; its progress rises to 100% without a reload;
   Pause by keyboard; screenshots at 320 px and 1280 px (test-artifacts/, copied to docs/images/).
"""

from __future__ import annotations

import re
import time
from collections.abc import AsyncGenerator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio
import httpx
import pytest
from mcp import Client
from mcp.client.context import ClientRequestContext
from mcp_types import CallToolResult, ElicitRequestParams, ElicitResult

from browser_support import IN_CHROMIUM, close_pages
from server_support import DIAL_PATH, PAYMENT, helper, structured, text_of
from tests.server.tools.campaigns_support import CID, campaign_server, dial_rows, make_campaign
from tests.server.tools.test_prepare_campaign import (
    MODE,
    browser,
    campaign_settings,
    csrf_of,
    origin_of,
    rows,
)
from tests.server.web.test_confirm_page import artifacts, everything_the_model_got
from voicing_mcp.emulator.runner import RunningEmulator
from voicing_mcp.emulator.state import EmulatorConfig
from voicing_mcp.guard.campaigns.control import resume_campaign
from voicing_mcp.guard.ledger import open_ledger
from voicing_mcp.redact import hide_confirm_links
from voicing_mcp.server.app import create_server
from voicing_mcp.server.web import dashboard_page
from voicing_mcp.server.web.confirm_page import ConfirmPages
from voicing_mcp.server.web.dashboard_page import MAX_DASHBOARDS, STATUS_MIN_AGE, DashboardPages

if TYPE_CHECKING:
    from playwright.async_api import Browser

DAY = datetime(2026, 5, 4, 16, 0, tzinfo=UTC)
#: every campaign here dials fast enough for a test and slowly enough to pause it midway: one row at a time
FAST = {"max_calls_per_hour": 1000}


@pytest.fixture(scope="module")
def emu_config() -> EmulatorConfig:
    """Calls end within a few wall-clock milliseconds: the dispatcher's tick (1 s) sets the pace."""
    return EmulatorConfig(speed=10_000.0, seed_calls=0)


class WallClock:
    """The server's clock: a day in May that runs with the wall clock, and can be moved on (``skip``)."""

    def __init__(self) -> None:
        self.started = time.monotonic()
        self.skipped = timedelta(0)

    def __call__(self) -> datetime:
        return DAY + timedelta(seconds=time.monotonic() - self.started) + self.skipped


class UrlHuman:
    """A client's URL-mode elicitation: keeps every URL it was shown, and opens it (accept)."""

    def __init__(self) -> None:
        self.urls: list[str] = []

    async def __call__(self, context: ClientRequestContext, params: ElicitRequestParams) -> ElicitResult:
        url = getattr(params, "url", None)
        if isinstance(url, str):
            self.urls.append(url)
        return ElicitResult(action="accept")


@asynccontextmanager
async def dashboard_client(
    emu: RunningEmulator, tmp_path: Path, *, clock: WallClock | None = None, human: UrlHuman | None = None
) -> AsyncGenerator[Client]:
    """A server pointed at the emulator in human mode, its own ledger and dispatcher, and a client session (with
    URL-mode elicitation when ``human`` is given, else none: the browser is the way to the human)."""
    server = create_server(campaign_settings(emu, tmp_path, **FAST), clock=clock or WallClock())
    async with Client(server, mode=MODE, elicitation_callback=human) as client:
        yield client


def browser_urls(log: Path) -> list[str]:
    return log.read_text(encoding="utf-8").split() if log.exists() else []


async def first_url(log: Path, human: UrlHuman | None = None, count: int = 1) -> str:
    """The ``count``-th URL handed to the human (the browser's log, or the client's URL elicitation)."""
    with anyio.fail_after(30):
        while len(human.urls if human is not None else browser_urls(log)) < count:
            await anyio.sleep(0.02)
    return (human.urls if human is not None else browser_urls(log))[count - 1]


def dialled(emu: RunningEmulator) -> list[str]:
    """The numbers the emulator received a dial for, in order (its request log)."""
    log: list[dict[str, Any]] = helper(emu, "GET", "/_emulator/requests")["requests"]
    return [r["json"]["phone_number"] for r in log if r["path"] == DIAL_PATH and r["method"] == "POST"]


async def ledger_dials(tmp_path: Path) -> int:
    """Dials the server's ledger holds an intent for (each intent is one POST, at most)."""
    ledger = open_ledger(tmp_path / "ledger.sqlite3")
    try:
        return len(await ledger.recent(10_000))
    finally:
        await ledger.aclose()


async def approve(
    client: Client, log: Path, n: int, *, human: UrlHuman | None = None, untick: tuple[int, ...] = (), **arguments: Any
) -> tuple[str, str, httpx.Response]:
    """Prepare a campaign of ``n`` rows and approve it on its page as the human would (``untick``: rows left
    out): (campaign id, the dashboard's address the approval page turned into, the dashboard as first shown)."""
    arguments.setdefault("max_concurrent", 1)
    prepared = await client.call_tool(
        "prepare_campaign", {"assistant_id": PAYMENT, "recipients": rows(n), "wait_seconds": 0, **arguments}
    )
    campaign_id = structured(prepared)["campaign_id"]
    url = await first_url(log, human)
    origin = origin_of(url)
    async with httpx.AsyncClient() as http:
        page = await http.get(url)
        ticked = [str(p) for p in range(1, n + 1) if p not in untick]
        form = {"csrf": csrf_of(page.text), "page": "1", "choice": "start", "row": ticked}
        started = await http.post(url, data=form, headers={"origin": origin})
        assert started.status_code == 303, started.text
        location = started.headers["location"]
        assert location.startswith("/dashboard/") and location.endswith("?did=approved")
        shown = await http.get(origin + location)
        again = await http.get(url)  # the approval page, loaded again, is the dashboard too
    dashboard = origin + location.split("?")[0]
    assert again.status_code == 303 and again.headers["location"] == location.split("?")[0]
    return campaign_id, dashboard, shown


async def status_of(client: Client, campaign_id: str) -> tuple[dict[str, Any], CallToolResult]:
    result = await client.call_tool("campaign_status", {"campaign_id": campaign_id})
    return structured(result), result


async def until_status(client: Client, campaign_id: str, wanted: set[str], limit: float = 90) -> dict[str, Any]:
    with anyio.fail_after(limit):
        while True:
            data, _ = await status_of(client, campaign_id)
            if data["status"] in wanted and not (data["counts"]["dialling"] or data["counts"]["in_progress"]):
                return data
            await anyio.sleep(0.2)


async def until(predicate: Any, limit: float = 60) -> None:
    with anyio.fail_after(limit):
        while not predicate():
            await anyio.sleep(0.05)


def tiles(page: str) -> dict[str, int]:
    """The count tiles of a dashboard page: state → number."""
    found = re.findall(r'id="count-(\w+)" data-state="\w+"><dt>.*?</dt><dd>([\d,]+)</dd>', page)
    return {state: int(n.replace(",", "")) for state, n in found}


def legend(page: str) -> dict[str, int]:
    """The chart's legend: outcome → rows."""
    found = re.findall(r'<li data-state="(\w+)">.*?<strong>([\d,]+)</strong></li>', page)
    return {state: int(n.replace(",", "")) for state, n in found}


def bars(page: str) -> dict[str, int]:
    """The chart's bars, added up from their titles: outcome → rows."""
    summed: dict[str, int] = {}
    for state, count in re.findall(r'<rect class="fill-(\w+)"[^>]*><title>[^<]*: (\d+) [^<]*</title>', page):
        summed[state] = summed.get(state, 0) + int(count)
    return summed


async def post(url: str, action: str, *, csrf: str | None, origin: str | None, host: str | None = None) -> int:
    headers = {k: v for k, v in (("origin", origin), ("host", host)) if v is not None}
    data = {"action": action, "page": "1", **({"csrf": csrf} if csrf is not None else {})}
    async with httpx.AsyncClient() as http:
        return (await http.post(url, data=data, headers=headers)).status_code


# ----- 1. what it shows ------------------------------------------------------------------------------------
async def test_the_dashboard_counts_progress_chart_and_rows_agree_with_campaign_status(
    emu: RunningEmulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = browser(tmp_path, monkeypatch)
    async with dashboard_client(emu, tmp_path) as client:
        campaign_id, dashboard, shown = await approve(client, log, 6, untick=(4,), max_concurrent=3)
        done = await until_status(client, campaign_id, {"completed"})
        async with httpx.AsyncClient() as http:
            page = await http.get(dashboard)
            polled = await http.get(dashboard + "?format=json")
        status, result = await status_of(client, campaign_id)
    assert shown.status_code == 200 and "Approved: 5 calls will be placed" in shown.text
    assert page.status_code == 200 and polled.status_code == 200
    assert "connect-src 'self'" in page.headers["content-security-policy"]
    assert "script-src 'nonce-" in page.headers["content-security-policy"]
    data = polled.json()
    # one notion of counts: the page's tiles, the JSON and campaign_status say the same
    assert status["counts"] == done["counts"] == data["campaign"]["counts"]
    assert tiles(page.text) == status["counts"] and sum(tiles(page.text).values()) == 6
    assert status["counts"]["completed"] == 5 and status["counts"]["removed"] == 1
    assert data["campaign"]["status"] == "completed" and data["campaign"]["done"] == data["campaign"]["total"] == 6
    assert {k: v for k, v in data["campaign"].items() if k != "summary"} == {
        k: v for k, v in status.items() if k != "summary"
    }
    assert 'id="pct">100%<' in page.text and '<progress id="progress" max="6" value="6"' in page.text
    # the chart's totals are the outcome counts, drawn and in its legend
    outcomes = {s: status["counts"][s] for s in ("completed", "voicemail", "busy", "no_answer", "failed", "unknown")}
    assert legend(page.text) == outcomes and bars(page.text) == {"completed": 5}
    # the rows: every call id campaign_status lists is on the page, with its row; the removed row has none
    for row in status["recent"]:
        assert f'id="row-{row["position"]}" data-state="{row["state"]}"' in page.text
        assert row["call_id"] and row["call_id"] in page.text
    assert 'id="row-4" data-state="removed"' in page.text
    # a finished campaign offers no button; the page says so without JavaScript
    for button in ("pause", "resume", "cancel"):
        assert re.search(rf'id="{button}" class="\w+" hidden>', page.text), button
    assert data["controls"] == {"pause": False, "resume": False, "cancel": False} and data["live"] is False
    assert dashboard.split("/")[-1] not in everything_the_model_got(result)


# ----- 2. its buttons --------------------------------------------------------------------------------------
async def test_pause_on_the_page_stops_dialling_before_the_next_dial_resume_continues_and_cancel_ends_it(
    emu: RunningEmulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = browser(tmp_path, monkeypatch)
    async with dashboard_client(emu, tmp_path) as client:
        campaign_id, dashboard, shown = await approve(client, log, 20)
        csrf = csrf_of(shown.text)
        origin = origin_of(dashboard)
        await until(lambda: len(dialled(emu)) >= 2)
        async with httpx.AsyncClient() as http:
            paused = await http.post(dashboard, data={"csrf": csrf, "action": "pause"}, headers={"origin": origin})
            at_pause = await ledger_dials(tmp_path)  # intents written before the pause: their POSTs go on
            await anyio.sleep(3.5)  # three dispatcher ticks
            while_paused = len(dialled(emu))
            paused_page = await http.get(dashboard)
            paused_status, _ = await status_of(client, campaign_id)
            resumed = await http.post(dashboard, data={"csrf": csrf, "action": "resume"}, headers={"origin": origin})
            await until(lambda: len(dialled(emu)) >= while_paused + 2)
            cancelled = await http.post(dashboard, data={"csrf": csrf, "action": "cancel"}, headers={"origin": origin})
            at_cancel = await ledger_dials(tmp_path)
            await anyio.sleep(3.5)
            after_cancel = len(dialled(emu))
            final_page = await http.get(dashboard)
        final = await until_status(client, campaign_id, {"cancelled"})
    assert paused.status_code == 303 and paused.headers["location"].endswith("?did=paused&page=1")
    assert while_paused == at_pause >= 2  # not one dial after the pause
    assert paused_status["status"] == "paused" and paused_status["pause_reason"] == "paused on the dashboard"
    assert "Why it paused: paused on the dashboard" in paused_page.text
    assert re.search(r'id="pause" class="primary" hidden>', paused_page.text)
    assert re.search(r'id="resume" class="primary">', paused_page.text)  # the approval holds: Resume offered
    assert resumed.status_code == 303 and resumed.headers["location"].endswith("?did=resumed&page=1")
    assert cancelled.status_code == 303 and after_cancel == at_cancel < 20
    assert final["counts"]["cancelled"] == 20 - after_cancel and final["counts"]["completed"] == after_cancel
    assert "Cancelled: nothing more will be dialled" in final_page.text
    assert sorted(dialled(emu)) == sorted(set(dialled(emu)))  # no number twice


async def test_after_the_approval_lapsed_the_page_offers_no_resume_and_asks_for_no_new_approval(
    emu: RunningEmulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = browser(tmp_path, monkeypatch)
    clock = WallClock()
    async with dashboard_client(emu, tmp_path, clock=clock) as client:
        campaign_id, dashboard, shown = await approve(client, log, 8)
        csrf = csrf_of(shown.text)
        origin = origin_of(dashboard)
        assert await post(dashboard, "pause", csrf=csrf, origin=origin) == 303
        clock.skipped = timedelta(hours=25)
        async with httpx.AsyncClient() as http:
            page = await http.get(dashboard)
            polled = (await http.get(dashboard + "?format=json")).json()
        refused = await post(dashboard, "resume", csrf=csrf, origin=origin)
        async with httpx.AsyncClient() as http:
            said = await http.post(dashboard, data={"csrf": csrf, "action": "resume"}, headers={"origin": origin})
        await anyio.sleep(1.5)
        status, _ = await status_of(client, campaign_id)
    assert re.search(r'id="resume" class="primary" hidden>', page.text) and polled["controls"]["resume"] is False
    assert "The approval lapsed at" in page.text and "this page cannot resume it" in page.text
    assert refused == 409 and "cannot be resumed from this page" in said.text
    assert status["status"] == "paused" and browser_urls(log) == [browser_urls(log)[0]]  # no new approval page


# ----- 3. forged POSTs ---------------------------------------------------------------------------------------
async def test_forged_posts_change_nothing(
    emu: RunningEmulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = browser(tmp_path, monkeypatch)
    async with dashboard_client(emu, tmp_path) as client:
        campaign_id, dashboard, shown = await approve(client, log, 60)
        csrf = csrf_of(shown.text)
        origin = origin_of(dashboard)
        port = origin.rsplit(":", 1)[1]
        async with httpx.AsyncClient() as http:
            second = await http.get(dashboard + "?page=2")
            second_json = (await http.get(dashboard + "?format=json&page=2")).json()
            beyond = await http.get(dashboard + "?page=\u00b2")
        codes: dict[str, int] = {}
        for action in ("pause", "cancel"):
            codes[f"{action} without csrf"] = await post(dashboard, action, csrf=None, origin=origin)
            codes[f"{action} wrong csrf"] = await post(dashboard, action, csrf="x" * 43, origin=origin)
            codes[f"{action} foreign origin"] = await post(dashboard, action, csrf=csrf, origin="http://evil.example")
            codes[f"{action} no origin"] = await post(dashboard, action, csrf=csrf, origin=None)
            codes[f"{action} foreign host"] = await post(
                dashboard, action, csrf=csrf, origin=origin, host=f"evil.example:{port}"
            )
        codes["unknown action"] = await post(dashboard, "start", csrf=csrf, origin=origin)
        codes["unknown link"] = await post(dashboard.rsplit("/", 1)[0] + "/nope", "pause", csrf=csrf, origin=origin)
        async with httpx.AsyncClient() as http:
            codes["page, foreign host"] = (
                await http.get(dashboard, headers={"host": f"evil.example:{port}"})
            ).status_code
            codes["json, foreign host"] = (
                await http.get(dashboard + "?format=json", headers={"host": f"localhost:{port}"})
            ).status_code
        status, _ = await status_of(client, campaign_id)
    assert codes == {
        **{f"{a} {why}": 403 for a in ("pause", "cancel") for why in ("without csrf", "wrong csrf")},
        **{f"{a} {why}": 403 for a in ("pause", "cancel") for why in ("foreign origin", "no origin")},
        **{f"{a} foreign host": 421 for a in ("pause", "cancel")},
        "unknown action": 400,
        "unknown link": 404,
        "page, foreign host": 421,
        "json, foreign host": 421,
    }
    assert status["status"] in {"running", "completed"} and status["pause_reason"] is None
    assert status["counts"]["cancelled"] == 0
    # the rows, 50 a page: the first page shows rows 1-50, the second 51-60 (also in the JSON the page polls)
    assert 'id="row-1" ' in shown.text and 'id="row-50" ' in shown.text and 'id="row-51" ' not in shown.text
    assert "Rows 51–60 of 60" in second.text and "Page 2 of 2" in second.text and 'id="row-60" ' in second.text
    assert second_json["page"] == 2 and 'id="row-51" ' in second_json["html"]["rows"]
    assert 'id="row-1" ' not in second_json["html"]["rows"]
    assert beyond.status_code == 200 and "Page 1 of 2" in beyond.text


# ----- 4. open_dashboard ---------------------------------------------------------------------------------------
async def test_open_dashboard_shows_the_same_address_in_the_browser_and_no_result_contains_it(
    emu: RunningEmulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = browser(tmp_path, monkeypatch)
    async with dashboard_client(emu, tmp_path) as client:
        campaign_id, dashboard, _ = await approve(client, log, 3, max_concurrent=3)
        opened = await client.call_tool("control_campaign", {"campaign_id": campaign_id, "action": "open_dashboard"})
        again = await first_url(log, count=2)
        status, result = await status_of(client, campaign_id)
        listed = await client.call_tool("list_campaigns", {})
        prepared_again = await client.call_tool(
            "prepare_campaign", {"assistant_id": PAYMENT, "recipients": rows(2, start=50), "wait_seconds": 0}
        )
    data = structured(opened)
    assert not opened.is_error and data["dashboard"] == "browser" and data["changed"] is False
    assert "opened in the user's browser" in data["summary"] and data["status"] == status["status"]
    assert again == dashboard  # one address per campaign
    token = dashboard.split("/")[-1]
    everything = everything_the_model_got(opened, result, listed, prepared_again)
    assert token not in everything and "/dashboard/" not in everything


async def test_open_dashboard_goes_by_url_elicitation_where_the_client_offers_it(
    emu: RunningEmulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = browser(tmp_path, monkeypatch)
    human = UrlHuman()
    async with dashboard_client(emu, tmp_path, human=human) as client:
        campaign_id, dashboard, _ = await approve(client, log, 2, human=human, max_concurrent=2)
        opened = await client.call_tool("control_campaign", {"campaign_id": campaign_id, "action": "open_dashboard"})
    data = structured(opened)
    assert data["dashboard"] == "url-elicitation" and "shown to the user through the client" in data["summary"]
    assert human.urls[-1] == dashboard and browser_urls(log) == []
    assert dashboard.split("/")[-1] not in everything_the_model_got(opened)


async def test_open_dashboard_without_a_way_to_the_human_says_so_and_names_campaign_status(
    emu: RunningEmulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = browser(tmp_path, monkeypatch)
    async with dashboard_client(emu, tmp_path) as client:
        campaign_id, _, _ = await approve(client, log, 1)
        monkeypatch.setenv("BROWSER", str(tmp_path / "no-such-browser"))
        opened = await client.call_tool("control_campaign", {"campaign_id": campaign_id, "action": "open_dashboard"})
    assert opened.is_error
    assert "no way to show campaign" in text_of(opened) and "campaign_status" in text_of(opened)


# ----- 5. as a person would: headless Chromium ---------------------------------------------------------------
@IN_CHROMIUM
async def test_as_a_person_would_the_approved_page_turns_into_the_dashboard_and_rises_to_100_percent_without_a_reload(
    emu: RunningEmulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, chromium: Browser
) -> None:
    log = browser(tmp_path, monkeypatch)
    seen: list[int] = []
    async with dashboard_client(emu, tmp_path) as client:
        try:
            prepared = await client.call_tool(
                "prepare_campaign",
                {
                    "assistant_id": PAYMENT,
                    "recipients": rows(24),
                    "wait_seconds": 0,
                    "max_concurrent": 6,  # 4 dispatcher ticks (1 s each) from 0% to 100%, as the page polls (1.5 s)
                    "name": "Overdue payments, May",
                },
            )
            campaign_id = structured(prepared)["campaign_id"]
            page = await chromium.new_page(viewport={"width": 1280, "height": 900})
            requests: list[str] = []
            page.on("request", lambda r: requests.append(r.url))
            await page.goto(await first_url(log))
            await page.click("#start")
            await page.wait_for_selector("#dashboard")
            assert page.url.split("?")[0].rsplit("/", 2)[-2] == "dashboard"
            assert "Approved: 24 calls will be placed" in await page.inner_text("#flash")
            await page.evaluate("window.sameDocument = true")  # gone if the page reloads

            async def pct() -> int:
                return int((await page.inner_text("#pct")).rstrip("%"))

            with anyio.fail_after(120):
                while (p := await pct()) < 100:
                    if not seen or seen[-1] != p:
                        seen.append(p)
                    if 40 <= p and not (tmp_path / "mid.done").exists():
                        (tmp_path / "mid.done").touch()
                        await page.screenshot(path=str(artifacts(tmp_path, "dashboard-1280.png")), full_page=True)
                        await page.set_viewport_size({"width": 320, "height": 1400})
                        await page.screenshot(path=str(artifacts(tmp_path, "dashboard-320.png")))
                        await page.screenshot(path=str(artifacts(tmp_path, "dashboard-320-full.png")), full_page=True)
                        await page.set_viewport_size({"width": 1280, "height": 900})
                    await anyio.sleep(0.1)
            seen.append(await pct())
            assert await page.evaluate("window.sameDocument === true")  # no reload on the way
            final_counts = {
                state: int((await page.inner_text(f"#count-{state} dd")).replace(",", ""))
                for state in ("completed", "queued", "in_progress", "dialling", "removed")
            }
            # nothing left to pause or cancel: the buttons and their note go, without a reload
            await page.wait_for_function(
                "document.getElementById('pause').hidden && document.getElementById('cancel').hidden "
                "&& document.getElementById('controls-note').hidden"
            )
            shown_status = await page.inner_text("#status")
            await page.emulate_media(color_scheme="dark")
            await page.screenshot(path=str(artifacts(tmp_path, "dashboard-1280-dark.png")), full_page=True)
        finally:
            await close_pages(chromium)
        status, _ = await status_of(client, campaign_id)
    assert seen[0] < 100 and seen[-1] == 100 and seen == sorted(seen), seen
    assert any(0 < p < 100 for p in seen), seen  # it rose while the page was open
    assert status["status"] == "completed" and shown_status == "Completed"
    assert final_counts == {s: status["counts"][s] for s in final_counts} and final_counts["completed"] == 24
    origin = origin_of(page.url)
    assert all(url.startswith(origin) for url in requests), requests  # no request leaves the page's server
    for width in (320, 1280):  # the copies in docs/images/ are taken from these
        assert artifacts(tmp_path, f"dashboard-{width}.png").stat().st_size > 10_000


@IN_CHROMIUM
async def test_as_a_person_would_pause_works_from_the_keyboard(
    emu: RunningEmulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, chromium: Browser
) -> None:
    log = browser(tmp_path, monkeypatch)
    async with dashboard_client(emu, tmp_path) as client:
        try:
            campaign_id, dashboard, _ = await approve(client, log, 20)
            page = await chromium.new_page(viewport={"width": 320, "height": 800})
            await page.goto(dashboard)
            for _ in range(10):
                await page.keyboard.press("Tab")
                if await page.evaluate("document.activeElement && document.activeElement.id") == "pause":
                    break
            await page.keyboard.press("Enter")
            await page.wait_for_url(re.compile(r"did=paused"))
            shown = await page.inner_text("#flash")
            # the assistant resumes it: the page follows without a reload, and "Paused: …" goes with the pause
            resumed = await client.call_tool("control_campaign", {"campaign_id": campaign_id, "action": "resume"})
            with anyio.fail_after(30):  # (wait_for_function polls by eval, which the page's CSP forbids)
                while await page.inner_text("#status") == "Paused":
                    await anyio.sleep(0.1)
            flash_gone = await page.evaluate("document.getElementById('flash').hidden")
        finally:
            await close_pages(chromium)
        status, _ = await status_of(client, campaign_id)
    assert shown.startswith("Paused: no row is dialled from now on")
    assert structured(resumed)["previous_status"] == "paused" and flash_gone is True
    assert status["status"] in {"running", "scheduled", "completed"}


def test_the_dashboard_and_approval_page_addresses_are_hidden_in_every_spelling_a_log_line_may_use() -> None:
    token = "V_yrWzETztBUn7ttiYL9la0Ez_9M7Wu6Ftf4Hp8mnQg"
    for kind in ("dashboard", "campaign"):
        for text, shown in [
            (f"url http://127.0.0.1:5/{kind}/{token} x", f"url http://127.0.0.1:5/{kind}/<hidden> x"),
            (f'"http:\\/\\/127.0.0.1:5\\/{kind}\\/{token}"', f'"http:\\/\\/127.0.0.1:5\\/{kind}\\/<hidden>"'),
            (f"http%3A%2F%2F127.0.0.1%3A5%2F{kind}%2f{token}", f"http%3A%2F%2F127.0.0.1%3A5%2F{kind}%2f<hidden>"),
        ]:
            assert hide_confirm_links(text) == shown
    assert hide_confirm_links("voicing://campaigns/cmp_0123456789abcdef") == "voicing://campaigns/cmp_0123456789abcdef"


# ----- 6. many tabs on one big campaign ---------------------------------------------------------------------
@asynccontextmanager
async def loose_dashboard(ledger: Any, clock: Any) -> AsyncGenerator[tuple[ConfirmPages, DashboardPages]]:
    """The dashboards of a ledger on their own loopback page server (no MCP server: the tests drive the ledger)."""
    pages = ConfirmPages(port=None, clock=clock)
    await pages.start()
    try:
        yield pages, DashboardPages(pages, ledger, local_mode=True)
    finally:
        await pages.aclose()


async def test_tabs_polling_one_running_campaign_read_its_whole_status_once_together_and_at_most_once_a_second(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """campaign_status reads every row (0.3 s at 10,000 rows, on the one ledger connection every dial and tool waits
    for): ten tabs polling a running campaign, whose counts change between polls, must not read it ten times."""
    reads: list[str] = []
    charts: list[str] = []
    real_status, real_chart = dashboard_page.campaign_status_result, dashboard_page.outcome_chart

    async def counted(*args: Any, **kwargs: Any) -> Any:
        reads.append("status")
        return await real_status(*args, **kwargs)

    def drawn(*args: Any, **kwargs: Any) -> Any:
        charts.append("chart")
        return real_chart(*args, **kwargs)

    monkeypatch.setattr(dashboard_page, "campaign_status_result", counted)
    monkeypatch.setattr(dashboard_page, "outcome_chart", drawn)
    async with campaign_server(tmp_path) as rig, loose_dashboard(rig.ledger, rig.clock) as (_, boards):
        await make_campaign(rig, 60)
        await dial_rows(rig.ledger, CID, ["completed", "busy"])
        url = boards.url(boards.open(CID)) + "?format=json"
        async with httpx.AsyncClient() as http:
            together: list[dict[str, Any]] = []

            async def tab() -> None:
                together.append((await http.get(url)).json()["campaign"]["counts"])

            async with anyio.create_task_group() as tg:
                for _ in range(10):
                    tg.start_soon(tab)
            read_together, drawn_together = len(reads), len(charts)
            started = time.monotonic()
            for _ in range(10):  # a row ends between every two polls
                await dial_rows(rig.ledger, CID, ["completed"])
                await http.get(url)
            polled_for = time.monotonic() - started
            read_polling = len(reads) - read_together
            await anyio.sleep(STATUS_MIN_AGE)
            latest = (await http.get(url)).json()["campaign"]["counts"]
    assert read_together == drawn_together == 1 and len(together) == 10 and all(c == together[0] for c in together)
    assert read_polling <= polled_for / STATUS_MIN_AGE + 1, (read_polling, polled_for)
    assert (
        latest["completed"] == 11 and latest["busy"] == 1 and latest["queued"] == 48
    )  # a second later the page is up to date


async def test_a_dashboard_whose_tab_still_polls_outlives_200_others_opened_after_it_the_least_used_is_forgotten(
    tmp_path: Path,
) -> None:
    """The cap of MAX_DASHBOARDS addresses forgets the least recently used: dashboards opened for 200 other
    campaigns (a model calling open_dashboard in a loop) do not take away the page a human is watching, and its
    Pause button with it."""
    async with campaign_server(tmp_path) as rig, loose_dashboard(rig.ledger, rig.clock) as (pages, boards):
        await make_campaign(rig, 3)
        watched = boards.open(CID)
        others: list[Any] = []
        async with httpx.AsyncClient() as http:
            shown: list[int] = []
            for batch in range(0, MAX_DASHBOARDS + 50, 50):  # the watched tab polls while the others are opened
                shown.append((await http.get(boards.url(watched) + "?format=json")).status_code)
                others += [boards.open(f"cmp_{k:016x}") for k in range(batch, batch + 50)]
            still = await http.get(boards.url(watched) + "?format=json")
            paused = await http.post(
                boards.url(watched), data={"csrf": watched.csrf, "action": "pause"}, headers={"origin": pages.origin}
            )
            oldest_other = await http.get(boards.url(others[0]))
        campaign = await rig.ledger.get_campaign(CID)
    assert (
        shown == [200] * 5 and len(others) > MAX_DASHBOARDS and still.status_code == 200 and paused.status_code == 303
    )
    assert campaign is not None and campaign.status == "paused"
    assert oldest_other.status_code == 404  # never polled: forgotten first


async def test_a_reloaded_did_address_says_paused_or_approved_only_while_the_campaign_still_is(tmp_path: Path) -> None:
    """The page's address keeps ``?did=`` after an action (and ``?did=approved`` after the approval page): reloaded
    after the campaign moved on, it must not tell the human "no row is dialled from now on" while rows are dialled,
    nor "calls will be placed" about a cancelled campaign."""
    async with campaign_server(tmp_path) as rig, loose_dashboard(rig.ledger, rig.clock) as (pages, boards):
        await make_campaign(rig, 4)
        board = boards.open(CID)
        url = boards.url(board)
        async with httpx.AsyncClient() as http:
            paused = await http.post(
                url, data={"csrf": board.csrf, "action": "pause"}, headers={"origin": pages.origin}
            )
            after_pause = await http.get(pages.origin + paused.headers["location"])
            campaign = await rig.ledger.get_campaign(CID)
            assert campaign is not None
            await resume_campaign(rig.ledger, campaign, rig.clock())  # the assistant resumed it meanwhile
            reloaded = await http.get(pages.origin + paused.headers["location"])
            approved_running = await http.get(url + "?did=approved")
            await rig.ledger.set_campaign_status(CID, "cancelled")
            approved_cancelled = await http.get(url + "?did=approved")
            paused_cancelled = await http.get(pages.origin + paused.headers["location"])
    assert 'id="flash">Paused: no row is dialled' in after_pause.text
    assert 'id="status">Running<' in reloaded.text and 'id="flash"' not in reloaded.text
    assert 'id="flash">Approved: 4 calls will be placed' in approved_running.text
    assert 'id="status">Cancelled<' in approved_cancelled.text and 'id="flash"' not in approved_cancelled.text
    assert 'id="flash"' not in paused_cancelled.text
    assert (
        '<div id="dashboard" data-state="cancelled" ' in paused_cancelled.text
    )  # the script hides a flash the campaign left behind
