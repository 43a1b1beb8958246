"""As a person would see them: each view (the committed bundle, read from the server as an Apps host reads it)
loaded in headless Chromium inside a small host page that speaks the MCP Apps postMessage protocol to it
(host.html: ui/initialize, the tool's input and result, the view's tools/call and resources/read proxied to the
server through a real MCP client session). The campaign view renders campaign_status's counts, follows the ledger
by its own refresh, and its Pause and Cancel (after its "are you sure", by keyboard) send the app-only tool calls,
which pause and cancel the campaign in the ledger; it follows the host's dark theme. The reconciliation view draws
its charts and offers the whole report as CSV. Nothing is requested from anywhere but the test's own loopback page
server.
Screenshots: test-artifacts/app-campaign.png and app-reconcile.png (copies in docs/images/)."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

import anyio
import uvicorn
from mcp import Client
from mcp_types import TextResourceContents
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from browser_support import IN_CHROMIUM, close_pages
from server_support import structured
from tests.server.apps.apps_support import apps_server
from tests.server.tools.campaigns_support import CID, dial_rows, make_campaign
from tests.server.web.test_confirm_page import artifacts, contrast
from voicing_mcp.emulator.runner import bind_socket
from voicing_mcp.server.apps import CAMPAIGN_VIEW, RECONCILE_VIEW

if TYPE_CHECKING:
    from playwright.async_api import Browser

HOST_PAGE = Path(__file__).with_name("host.html")


@dataclass
class Case:
    """What the host page is handed for one view: the tool, its arguments and result, and the view's HTML."""

    view: str
    tool: dict[str, Any]
    arguments: dict[str, Any]
    result: dict[str, Any]
    caption: str
    theme: str = "light"


@dataclass
class Host:
    url: str
    forwarded: list[dict[str, Any]] = field(default_factory=list[dict[str, Any]])


def wire(model: Any) -> dict[str, Any]:
    data: dict[str, Any] = model.model_dump(mode="json", by_alias=True, exclude_none=True)
    return data


@asynccontextmanager
async def host_server(client: Client, cases: dict[str, Case]) -> AsyncGenerator[Host]:
    """The host page, the views and the /mcp proxy on a free 127.0.0.1 port (uvicorn, real HTTP)."""
    forwarded: list[dict[str, Any]] = []

    async def host(_: Request) -> Response:
        return HTMLResponse(HOST_PAGE.read_text(encoding="utf-8"))

    async def setup(request: Request) -> Response:
        case = cases[request.path_params["case"]]
        return JSONResponse(
            {
                "tool": case.tool,
                "arguments": case.arguments,
                "result": case.result,
                "caption": case.caption,
                "theme": case.theme,
            }
        )

    async def view(request: Request) -> Response:
        return HTMLResponse(cases[request.path_params["case"]].view)

    async def mcp(request: Request) -> Response:
        body = await request.json()
        forwarded.append(body)
        params = body["params"]
        if body["method"] == "tools/call":
            result = await client.call_tool(params["name"], params.get("arguments") or {})
            return JSONResponse({"result": wire(result)})
        read = await client.read_resource(params["uri"])
        return JSONResponse({"result": wire(read)})

    app = Starlette(
        routes=[
            Route("/host", host),
            Route("/setup/{case}", setup),
            Route("/view/{case}", view),
            Route("/mcp", mcp, methods=["POST"]),
        ]
    )
    sock = bind_socket("127.0.0.1", 0)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    async with anyio.create_task_group() as tg:
        tg.start_soon(server.serve, [sock])
        while not server.started:
            await anyio.sleep(0.01)
        try:
            yield Host(f"http://127.0.0.1:{sock.getsockname()[1]}", forwarded)
        finally:
            server.should_exit = True


async def view_case(client: Client, uri: str, tool: str, arguments: dict[str, Any], caption: str) -> Case:
    read = await client.read_resource(uri)
    [content] = read.contents
    assert isinstance(content, TextResourceContents)
    listed = {t.name: t for t in (await client.list_tools()).tools}
    result = await client.call_tool(tool, arguments)
    return Case(content.text, wire(listed[tool]), arguments, wire(result), caption)


async def eventually(check: Callable[[], Any], what: str, timeout: float = 15.0) -> None:
    with anyio.fail_after(timeout):
        while not await check():
            await anyio.sleep(0.1)
    assert await check(), what


def call_ids(data: Any) -> list[str]:
    """Every ``call_id`` value in a structured result, in order."""
    found: list[str] = []
    if isinstance(data, dict):
        for key, value in data.items():
            if key == "call_id" and isinstance(value, str):
                found.append(value)
            else:
                found += call_ids(value)
    elif isinstance(data, list):
        for item in data:
            found += call_ids(item)
    return found


@IN_CHROMIUM
async def test_in_chromium_the_campaign_view_shows_the_counts_and_its_pause_sends_the_app_only_tool_call(
    tmp_path: Path, chromium: Browser
) -> None:
    from playwright.async_api import expect  # noqa: PLC0415 (optional: the chromium fixture skips without it)

    async with apps_server(tmp_path, "legacy", apps=True) as rig:
        await make_campaign(rig, 6)
        await dial_rows(rig.ledger, CID, ["completed", "completed", "voicemail", "busy", "in_progress"])
        case = await view_case(
            rig.client, CAMPAIGN_VIEW, "campaign_status", {"campaign_id": CID}, "campaign_status(cmp_0123456789abcdef)"
        )
        counts = case.result["structuredContent"]["counts"]
        async with host_server(rig.client, {"campaign": case}) as host:
            try:
                page = await chromium.new_page(viewport={"width": 760, "height": 1000})
                requested: list[str] = []
                page.on("request", lambda r: requested.append(r.url))
                await page.goto(f"{host.url}/host?case=campaign")
                view = page.frame_locator("#view")
                await expect(view.locator("#done")).to_have_text("4 of 6 rows done (66%)", timeout=15_000)
                await expect(view.locator("#status")).to_have_text("running")
                for state, n in counts.items():
                    await expect(view.locator(f'[data-state="{state}"] dd')).to_have_text(str(n))
                assert counts["completed"] == 2 and counts["in_progress"] == 1 and counts["queued"] == 1
                await expect(view.locator("#recent tr")).to_have_count(5)
                await expect(view.locator("#pause")).to_be_enabled()
                await page.screenshot(path=str(artifacts(tmp_path, "app-campaign.png")), full_page=True)
                # the last queued row is dialled meanwhile: the view shows it without a reload or a host message
                await dial_rows(rig.ledger, CID, ["completed"], worker="w2")
                await expect(view.locator("#done")).to_have_text("5 of 6 rows done (83%)", timeout=15_000)
                await expect(view.locator('[data-state="completed"] dd')).to_have_text("3")

                await view.locator("#pause").click()
                await expect(view.locator("#status")).to_have_text("paused", timeout=15_000)
                await expect(view.locator("#pause")).to_be_disabled()
                await expect(view.locator("#cancel")).to_be_enabled()
                # a phone's width: the view reflows (the table scrolls inside its box), nothing runs off the side
                await page.set_viewport_size({"width": 352, "height": 1900})
                await page.wait_for_timeout(300)
                frame = page.frame_locator("#view").owner
                inner = await frame.evaluate("f => f.contentDocument === null")  # sandboxed: opaque origin
                widths = await page.frames[1].evaluate(
                    "[document.documentElement.scrollWidth, document.documentElement.clientWidth]"
                )
                assert inner and widths[0] <= widths[1] <= 320
                await page.screenshot(path=str(artifacts(tmp_path, "app-campaign-320.png")), full_page=True)
                paused = await rig.ledger.get_campaign(CID)

                # Cancel asks first; "Keep it" changes nothing; the keyboard's Enter on "Yes, cancel it" cancels
                await view.locator("#cancel").click()
                await expect(view.locator("#confirm")).to_be_visible()
                await view.locator("#confirm-no").click()
                await expect(view.locator("#confirm")).to_be_hidden()
                kept = await rig.ledger.get_campaign(CID)
                await view.locator("#cancel").click()
                await expect(view.locator("#confirm-yes")).to_be_focused()
                await page.keyboard.press("Enter")
                await expect(view.locator("#status")).to_have_text("cancelled", timeout=15_000)
                await expect(view.locator("#cancel")).to_be_disabled()
                calls = await page.evaluate(
                    "window.hostLog.filter(m => m.method === 'tools/call')"
                    ".map(m => ({name: m.params.name, arguments: m.params.arguments}))"
                )
            finally:
                await close_pages(chromium)
        campaign = await rig.ledger.get_campaign(CID)
    # the view sent the app-only tool call through the host, with the campaign's id and nothing else
    assert {"name": "app_pause_campaign", "arguments": {"campaign_id": CID}} in calls
    assert {"name": "app_cancel_campaign", "arguments": {"campaign_id": CID}} in calls
    assert {c["name"] for c in calls} <= {"app_pause_campaign", "app_cancel_campaign", "campaign_status"}
    assert [f["params"]["name"] for f in host.forwarded if f["params"]["name"] != "campaign_status"] == [
        "app_pause_campaign",
        "app_cancel_campaign",
    ]
    assert paused is not None and paused.status == "paused"
    assert kept is not None and kept.status == "paused"
    assert campaign is not None and campaign.status == "cancelled"
    assert requested and all(url.startswith(host.url) for url in requested)


@IN_CHROMIUM
async def test_in_chromium_the_reconciliation_view_draws_its_charts_and_offers_the_whole_report_as_csv(
    tmp_path: Path, chromium: Browser
) -> None:
    from playwright.async_api import expect  # noqa: PLC0415 (optional: the chromium fixture skips without it)

    async with apps_server(tmp_path, "legacy", apps=True) as rig:
        listed = structured(await rig.client.call_tool("list_calls", {"limit": 30}))
        ids = [*list(dict.fromkeys(call_ids(listed)))[:30], "call_not_there_1"]
        arguments = {"call_ids": ids, "expected_status": "completed"}
        case = await view_case(
            rig.client, RECONCILE_VIEW, "reconcile_calls", arguments, f"reconcile_calls({len(ids)} ids)"
        )
        data = case.result["structuredContent"]
        csv_read = await rig.client.read_resource(data["report_csv"])
        [csv_content] = csv_read.contents
        assert isinstance(csv_content, TextResourceContents)
        async with host_server(rig.client, {"reconcile": case}) as host:
            try:
                page = await chromium.new_page(viewport={"width": 760, "height": 1000})
                requested: list[str] = []
                page.on("request", lambda r: requested.append(r.url))
                await page.goto(f"{host.url}/host?case=reconcile")
                view = page.frame_locator("#view")
                await expect(view.locator("#headline")).to_contain_text(f"{len(ids)} calls reconciled", timeout=15_000)
                await expect(view.locator("#by-status svg g")).to_have_count(len(data["by_status"]))
                await expect(view.locator("#by-reason svg g")).to_have_count(
                    len([n for n in data["by_ended_reason"].values() if n])
                )
                for status, n in data["by_status"].items():
                    bar = view.locator(f'#by-status svg g[data-label="{status}"]')
                    await expect(bar).to_have_attribute("data-count", str(n))
                await expect(view.locator("#mismatches tr")).to_have_count(len(data["mismatches"]["sample"]))
                await expect(view.locator("#csv")).to_contain_text("every row", timeout=15_000)
                href = await view.locator("#csv").get_attribute("href") or ""
                await page.wait_for_timeout(500)  # the host has resized the frame to the view's height: let it paint
                await page.screenshot(path=str(artifacts(tmp_path, "app-reconcile.png")), full_page=True)
                log = await page.evaluate("window.hostLog.map(m => m.method).filter(Boolean)")
            finally:
                await close_pages(chromium)
    assert data["mismatches"]["count"] >= 1 and data["missing"]["count"] == 1
    assert href.startswith("data:text/csv;charset=utf-8,")
    assert unquote(href.split(",", 1)[1]) == csv_content.text  # the whole report, as the CSV resource has it
    assert "tools/call" not in log  # the reconciliation view only reads
    assert [f["params"] for f in host.forwarded] == [{"uri": data["report_csv"]}]
    assert all(url.startswith(host.url) for url in requested)


@IN_CHROMIUM
async def test_in_chromium_the_campaign_view_follows_the_hosts_dark_theme_with_readable_contrast(
    tmp_path: Path, chromium: Browser
) -> None:
    from playwright.async_api import expect  # noqa: PLC0415 (optional: the chromium fixture skips without it)

    async with apps_server(tmp_path, "legacy", apps=True) as rig:
        await make_campaign(rig, 3)
        case = await view_case(rig.client, CAMPAIGN_VIEW, "campaign_status", {"campaign_id": CID}, "dark host")
        case.theme = "dark"
        async with host_server(rig.client, {"campaign": case}) as host:
            try:
                page = await chromium.new_page(viewport={"width": 760, "height": 1000})
                await page.goto(f"{host.url}/host?case=campaign")
                view = page.frame_locator("#view")
                await expect(view.locator("#done")).to_have_text("0 of 3 rows done (0%)", timeout=15_000)
                [frame] = [f for f in page.frames if f != page.main_frame]
                colours = await frame.evaluate(
                    """() => {
                        const css = (sel, prop) => getComputedStyle(document.querySelector(sel))[prop];
                        return {
                            theme: document.documentElement.dataset.theme,
                            bg: css("body", "backgroundColor"),
                            text: css("body", "color"),
                            muted: css("#cid", "color"),
                            button: css("#pause", "color"),
                            buttonBg: css("#pause", "backgroundColor"),
                        };
                    }"""
                )
                await page.screenshot(path=str(artifacts(tmp_path, "app-campaign-dark.png")), full_page=True)
            finally:
                await close_pages(chromium)
    assert colours["theme"] == "dark"
    assert contrast(colours["bg"], "rgb(0, 0, 0)") < 2  # a dark background
    assert contrast(colours["text"], colours["bg"]) >= 7
    assert contrast(colours["muted"], colours["bg"]) >= 4.5
    assert contrast(colours["button"], colours["buttonBg"]) >= 4.5
