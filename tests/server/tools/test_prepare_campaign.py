"""prepare_campaign end to end: real MCP client sessions against the emulator over loopback HTTP, the campaign's
approval page over real loopback HTTP and in headless Chromium, the ledger read back from its file.

1. the tool: its arguments and annotations; exclusions with reasons (a missing variable named per row); the result
   budget at 10,000 rows; a recipients_file outside VOICING_CAMPAIGNS_DIR refused;
2. human mode: the page's URL reaches the "browser" only; forged and replayed POSTs change nothing; ticks on other
   pages are kept without JavaScript;
3. token mode: the token starts the campaign once, bound to it;
4. as a person would, in headless Chromium: 50 rows, two unticked, "Place 48 calls" → 48 approved, 2 removed, and
   the dispatcher dials those 48 numbers once each (the emulator's request log); "Don't start" → declined, nothing
   dialled; screenshots at 320 px and 1280 px.
"""

from __future__ import annotations

import re
import time
from collections.abc import AsyncGenerator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio
import httpx
import pytest
from mcp import Client
from mcp.server.mcpserver import Context
from mcp_types import CallToolResult

from browser_support import IN_CHROMIUM, close_pages
from server_support import DIAL_PATH, PAYMENT, Clock, dials, helper, structured, text_of
from tests.server.web.test_confirm_page import artifacts, everything_the_model_got, recorded_url, recorder
from voicing_mcp.api.client import VoicingClient
from voicing_mcp.config import Settings, load_settings
from voicing_mcp.emulator.runner import RunningEmulator
from voicing_mcp.emulator.state import EmulatorConfig
from voicing_mcp.guard.campaigns.dispatcher import CampaignDispatcher
from voicing_mcp.guard.ledger import Campaign, DialLedger, NewCampaign, NewCampaignRow, open_ledger
from voicing_mcp.guard.policy import ledger_environment
from voicing_mcp.runtime import open_guard, template_store
from voicing_mcp.server.app import create_server
from voicing_mcp.server.context import ServerContext, server_context
from voicing_mcp.server.render.results import RESULT_BUDGET, result_size
from voicing_mcp.server.tools.prepare_campaign import ask_campaign_approval, start_with_token
from voicing_mcp.server.web.campaign_page import PAGE_TTL

if TYPE_CHECKING:
    from playwright.async_api import Browser

MODE = "legacy"


def number(i: int) -> str:
    """A valid North Dakota number (not in the fictional 555-01xx range: these servers are not in local mode)."""
    return f"+1701811{i:04d}"


def rows(n: int, *, start: int = 0) -> list[dict[str, Any]]:
    return [
        {"phone_number": number(start + i), "input_variables": {"name": f"Ann {i}", "plan_type": "Gold"}}
        for i in range(n)
    ]


@pytest.fixture(scope="module")
def emu_config() -> EmulatorConfig:
    """Calls end within a few wall-clock milliseconds, so a campaign's rows free their slots quickly."""
    return EmulatorConfig(speed=10_000.0, seed_calls=0)


def campaign_settings(
    emu: RunningEmulator, tmp_path: Path, *, confirmation: str = "human", **settings: Any
) -> Settings:
    settings.setdefault("quiet_hours", "off")
    settings.setdefault("ledger", tmp_path / "ledger.sqlite3")
    settings.setdefault("campaigns_dir", tmp_path / "campaigns")
    return load_settings(
        base_url=emu.base_url, api_key=emu.api_key, env="development", confirmation=confirmation, **settings
    )


@asynccontextmanager
async def campaign_client(
    emu: RunningEmulator, tmp_path: Path, *, confirmation: str = "human", clock: Clock | None = None, **settings: Any
) -> AsyncGenerator[Client]:
    """A server pointed at the emulator (as a remote API: human mode by default), its own ledger, a session; a
    ``start_campaign_with_token`` tool added for the test (control_campaign's start is another engineer's)."""
    s = campaign_settings(emu, tmp_path, confirmation=confirmation, **settings)
    server = create_server(s, clock=clock or Clock())

    async def start_campaign_with_token(campaign_id: str, token: str, ctx: Context[ServerContext, Any]) -> str:
        await start_with_token(server_context(ctx), campaign_id, token)
        return "started"

    async def ask_again(campaign_id: str, ctx: Context[ServerContext, Any]) -> str:
        return await ask_campaign_approval(ctx, campaign_id, 0)

    server.add_tool(start_campaign_with_token)
    server.add_tool(ask_again)
    async with Client(server, mode=MODE) as client:
        yield client


async def prepare(client: Client, **arguments: Any) -> CallToolResult:
    arguments.setdefault("assistant_id", PAYMENT)
    arguments.setdefault("wait_seconds", 0)
    return await client.call_tool("prepare_campaign", arguments)


async def campaign_in(tmp_path: Path, campaign_id: str) -> tuple[Campaign, dict[str, int]]:
    ledger = open_ledger(tmp_path / "ledger.sqlite3")
    try:
        campaign = await ledger.get_campaign(campaign_id)
        assert campaign is not None
        counts = {str(k): v for k, v in (await ledger.campaign_row_counts(campaign_id)).items()}
        return campaign, counts
    finally:
        await ledger.aclose()


async def campaign_whose_approval_lapsed(
    settings: Settings,
    tmp_path: Path,
    clock: Clock,
    campaign_id: str,
    positions: tuple[int, ...],
    *,
    before_it_lapses: Callable[[DialLedger, str], Awaitable[None]] | None = None,
) -> NewCampaign:
    """A campaign of ``positions`` in the test's ledger, approved for a minute, ``before_it_lapses`` done, then paused
    two minutes later because its approval expired (as the dispatcher pauses it)."""
    ledger = open_ledger(tmp_path / "ledger.sqlite3", clock=clock, environment=ledger_environment(settings))
    try:
        new = NewCampaign(
            id=campaign_id,
            environment=ledger_environment(settings),
            assistant_id=PAYMENT,
            telephony_provider="default",
            manifest_sha256="m" * 64,
        )
        variables = {"name": "A", "plan_type": "Gold"}
        await ledger.create_campaign(
            new, [NewCampaignRow(position=i, phone_e164=number(i), input_variables=variables) for i in positions]
        )
        await ledger.approve_campaign(
            new.id, manifest_sha256="m" * 64, ticked_positions=positions, expires_at=clock() + timedelta(minutes=1)
        )
        if before_it_lapses is not None:
            await before_it_lapses(ledger, new.id)
        clock.now += timedelta(minutes=2)
        await ledger.set_campaign_status(new.id, "paused", reason="approval expired")
    finally:
        await ledger.aclose()
    return new


def dialled(emu: RunningEmulator) -> list[str]:
    """The numbers the emulator received a dial for, in order (its request log)."""
    log: list[dict[str, Any]] = helper(emu, "GET", "/_emulator/requests")["requests"]
    return [r["json"]["phone_number"] for r in log if r["path"] == DIAL_PATH and r["method"] == "POST"]


async def dispatch_until_done(settings: Settings, campaign_id: str, *, limit: int = 400) -> Campaign:
    """The dispatcher (MCP-free, as the server runs it) over the same ledger until the campaign completes."""
    clock = Clock()
    async with AsyncExitStack() as stack:
        guard = open_guard(settings, template_store(settings), stack, clock=clock)
        assert settings.base_url is not None and settings.api_key is not None
        client = await stack.enter_async_context(VoicingClient(base_url=settings.base_url, api_key=settings.api_key))
        dispatcher = CampaignDispatcher(guard, client, worker_id="test:campaign", clock=clock)
        for _ in range(limit):
            await dispatcher.tick()
            campaign = await guard.ledger.get_campaign(campaign_id)
            assert campaign is not None
            if campaign.status != "running":
                return campaign
            await anyio.sleep(0.02)
    raise AssertionError(f"campaign {campaign_id} still running after {limit} ticks")


def browser(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    script, log = recorder(tmp_path)
    monkeypatch.setenv("BROWSER", str(script))
    return log


def csrf_of(page: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', page)
    assert found, page
    return found.group(1)


def origin_of(url: str) -> str:
    found = re.match(r"http://127\.0\.0\.1:\d+", url)
    assert found
    return found[0]


# ----- 1. the tool -------------------------------------------------------------------------------
async def test_the_tool_takes_the_issues_arguments_and_is_destructive_open_world_not_idempotent(
    emu: RunningEmulator, tmp_path: Path
) -> None:
    async with campaign_client(emu, tmp_path) as client:
        tool = next(t for t in (await client.list_tools()).tools if t.name == "prepare_campaign")
    assert tool.annotations is not None
    assert tool.annotations.destructive_hint is True and tool.annotations.open_world_hint is True
    assert tool.annotations.idempotent_hint is False and tool.annotations.read_only_hint is False
    props = tool.input_schema["properties"]
    assert set(props) == {
        "assistant_id",
        "recipients",
        "recipients_file",
        "name",
        "max_attempts",
        "retry_after_minutes",
        "max_concurrent",
        "telephony_provider",
        "wait_seconds",
    }
    assert all(p.get("description") for p in props.values())
    assert props["max_attempts"]["default"] == 1 and props["max_attempts"]["maximum"] == 3
    assert props["retry_after_minutes"]["default"] == 120 and props["retry_after_minutes"]["minimum"] == 30
    assert props["max_concurrent"]["default"] == 2 and props["max_concurrent"]["maximum"] == 10
    assert tool.output_schema is not None and "manifest_sha256" in tool.output_schema["properties"]


async def test_excluded_rows_come_with_reasons_and_a_missing_variable_is_named_per_row(
    emu: RunningEmulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = browser(tmp_path, monkeypatch)
    submitted = [
        *rows(3),
        {"phone_number": "911", "input_variables": {"name": "A", "plan_type": "Gold"}},
        {"phone_number": number(1), "input_variables": {"name": "Twice", "plan_type": "Gold"}},
        {"phone_number": number(7), "input_variables": {"name": "Bo"}},
        {"phone_number": number(8), "input_variables": {"plan_type": "Gold"}},
    ]
    async with campaign_client(emu, tmp_path) as client:
        result = await prepare(client, recipients=submitted, name="overdue payments")
        url = await recorded_url(log)
    assert not result.is_error, text_of(result)
    data = structured(result)
    assert data["status"] == "awaiting_approval" and data["asked_via"] == "browser"
    assert data["campaign_id"].startswith("cmp_") and len(data["campaign_id"]) == 20
    assert data["submitted"] == 7 and data["accepted"] == 3
    excluded = data["excluded"]
    assert excluded["count"] == 4
    assert excluded["by_reason"]["duplicate-in-list"] == 1 and excluded["by_reason"]["template-variables"] == 2
    by_position = {s["position"]: s for s in excluded["sample"]}
    assert by_position[5]["message"] == "duplicate in list, row 2"
    assert "plan_type" in by_position[6]["message"] and "name" not in by_position[6]["message"].split(":")[-1]
    assert "name" in by_position[7]["message"]
    assert by_position[4]["reason"] != "template-variables"  # 911: the number's own rule
    assert data["by_country"] == {"US": 3} and len(data["manifest_sha256"]) == 64
    assert data["opening_lines"][0]["opening_line"] == "Hi Ann 0, your Gold plan payment is pending."
    assert "resumes when the client starts the server again" in data["note"]
    # the page's address went to the "browser" only
    page_id = url.rsplit("/", 1)[1]
    seen = everything_the_model_got(result)
    assert url not in seen and page_id not in seen
    campaign, counts = await campaign_in(tmp_path, data["campaign_id"])
    assert campaign.status == "awaiting_approval" and campaign.name == "overdue payments"
    assert campaign.manifest_sha256 == data["manifest_sha256"]
    assert counts == {"queued": 3, "excluded": 4}
    assert dials(emu) == 0


async def test_ten_thousand_rows_fit_the_result_budget_and_the_page_shows_them_200_a_page(
    emu: RunningEmulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = browser(tmp_path, monkeypatch)
    submitted = rows(9_990) + [{"phone_number": f"+1 701 811 {i:04d}"} for i in range(10)]  # 10 duplicates
    async with campaign_client(emu, tmp_path) as client:
        started = time.perf_counter()
        result = await prepare(client, recipients=submitted)
        took = time.perf_counter() - started
        url = await recorded_url(log)
        async with httpx.AsyncClient() as http:
            started = time.perf_counter()
            page = await http.get(url)
            first_load = time.perf_counter() - started
            last = await http.get(url, params={"page": "50"})
    assert not result.is_error, text_of(result)
    data = structured(result)
    assert data["submitted"] == 10_000 and data["accepted"] == 9_990 and data["excluded"]["count"] == 10
    assert result_size(result) <= RESULT_BUDGET, result_size(result)
    assert "Page 1 of 50" in page.text and "Place 9990 calls" in page.text and page.text.count('name="row"') == 200
    assert "row-9990" in last.text and "Page 50 of 50" in last.text
    print(f"prepare_campaign 10,000 rows: {took:.2f} s; the page's first load: {first_load * 1000:.0f} ms")


async def test_a_recipients_file_outside_the_campaigns_dir_is_refused_and_one_inside_is_read(
    emu: RunningEmulator, tmp_path: Path
) -> None:
    (tmp_path / "campaigns").mkdir()
    outside = tmp_path / "secret.csv"
    outside.write_text(f"phone_number,name,plan_type\n{number(1)},Ann,Gold\n", encoding="utf-8")
    (tmp_path / "campaigns" / "list.csv").write_text(outside.read_text(encoding="utf-8"), encoding="utf-8")
    async with campaign_client(emu, tmp_path, confirmation="token") as client:
        absolute = await prepare(client, recipients_file=str(outside))
        climbing = await prepare(client, recipients_file="../secret.csv")
        inside = await prepare(client, recipients_file="list.csv")
        both = await prepare(client, recipients_file="list.csv", recipients=rows(1))
    for refused in (absolute, climbing):
        assert refused.is_error and "outside the campaigns folder" in text_of(refused)
    assert not inside.is_error and structured(inside)["accepted"] == 1
    assert both.is_error and "exactly one of recipients" in text_of(both)


# ----- 2. human mode: the page over loopback HTTP ------------------------------------------------------
async def test_forged_and_replayed_posts_change_nothing(
    emu: RunningEmulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = browser(tmp_path, monkeypatch)
    earlier = len(dialled(emu))
    async with campaign_client(emu, tmp_path) as client:
        data = structured(await prepare(client, recipients=rows(5)))
        url = await recorded_url(log)
        origin = origin_of(url)
        port = origin.rsplit(":", 1)[1]
        async with httpx.AsyncClient() as http:
            page = await http.get(url)
            csrf = csrf_of(page.text)
            start = {"csrf": csrf, "page": "1", "choice": "start", "row": ["1", "2", "3", "4", "5"]}
            no_csrf = await http.post(url, data={**start, "csrf": ""}, headers={"origin": origin})
            foreign = await http.post(url, data=start, headers={"origin": "http://evil.example"})
            no_origin = await http.post(url, data=start)
            rebound = await http.post(url, data=start, headers={"origin": origin, "host": f"evil.example:{port}"})
            untouched = await campaign_in(tmp_path, data["campaign_id"])
            approved = await http.post(url, data={**start, "row": ["1", "2", "3"]}, headers={"origin": origin})
            after = await campaign_in(tmp_path, data["campaign_id"])
            replay = await http.post(url, data=start, headers={"origin": origin})
            decline = await http.post(url, data={**start, "choice": "decline"}, headers={"origin": origin})
        final = await campaign_in(tmp_path, data["campaign_id"])
    assert page.status_code == 200 and "Place 5 calls" in page.text
    assert [r.status_code for r in (no_csrf, foreign, no_origin, rebound)] == [403, 403, 403, 421]
    assert untouched[0].status == "awaiting_approval" and untouched[1] == {"queued": 5}
    # approved: the page turns into the campaign's dashboard (not followed here: the dispatcher would dial meanwhile)
    assert approved.status_code == 303 and approved.headers["location"].startswith("/dashboard/")
    assert after[0].status == "running" and after[1].get("removed") == 2 and sum(after[1].values()) == 5
    assert after[0].approval_expires_at is not None and after[0].approved_at is not None
    assert (after[0].approval_expires_at - after[0].approved_at).total_seconds() == pytest.approx(24 * 3600, abs=2)
    assert replay.status_code == 409 and decline.status_code == 409
    # the replay and the late decline changed nothing (the server's dispatcher may have dialled meanwhile)
    assert final[0].status in {"running", "completed"} and final[0].approved_at == after[0].approved_at
    assert final[0].approval_expires_at == after[0].approval_expires_at and final[1].get("removed") == 2
    # only the 3 approved rows can have been dialled (by the server's dispatcher, once each), none before approval
    placed = dialled(emu)[earlier:]
    assert set(placed) <= {number(0), number(1), number(2)} and len(placed) == len(set(placed))
    assert untouched[1] == {"queued": 5}


async def test_ticks_on_other_pages_are_kept_without_javascript(
    emu: RunningEmulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = browser(tmp_path, monkeypatch)
    async with campaign_client(emu, tmp_path) as client:
        data = structured(await prepare(client, recipients=rows(250)))
        url = await recorded_url(log)
        origin = origin_of(url)
        async with httpx.AsyncClient() as http:
            first = await http.get(url)
            csrf = csrf_of(first.text)
            page1 = [str(p) for p in range(1, 201) if p != 7]  # row 7 unticked on page 1
            to_page2 = await http.post(
                url, data={"csrf": csrf, "page": "1", "goto": "2", "row": page1}, headers={"origin": origin}
            )
            assert to_page2.status_code == 303
            second = await http.get(origin + to_page2.headers["location"])
            page2 = [str(p) for p in range(201, 251) if p != 222]  # row 222 unticked on page 2
            started = await http.post(
                url,
                data={"csrf": csrf, "page": "2", "choice": "start", "row": page2},
                headers={"origin": origin},
                follow_redirects=True,
            )
        campaign, counts = await campaign_in(tmp_path, data["campaign_id"])
    assert 'value="1" id="row-1" checked' in first.text and "row-201" not in first.text
    assert "Page 1 of 2" in first.text and "Place 250 calls" in first.text
    assert "row-201" in second.text and "Place 249 calls" in second.text  # page 1's untick was kept
    assert started.status_code == 200 and "Approved: 248 calls" in started.text
    assert campaign.status == "running" and counts.pop("removed") == 2 and sum(counts.values()) == 248, counts
    assert set(counts) <= {"queued", "dialling", "in_progress", "completed"}, counts


async def test_asking_again_opens_no_second_tab_while_the_page_lives_and_a_new_one_after_it_expired(
    emu: RunningEmulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = browser(tmp_path, monkeypatch)
    clock = Clock()
    async with campaign_client(emu, tmp_path, clock=clock) as client:
        data = structured(await prepare(client, recipients=rows(3)))
        first = await recorded_url(log)
        again = await client.call_tool("ask_again", {"campaign_id": data["campaign_id"]})
        opened_while_alive = log.read_text(encoding="utf-8").split()
        clock.now += PAGE_TTL
        async with httpx.AsyncClient() as http:
            gone = await http.get(first)
        later = await client.call_tool("ask_again", {"campaign_id": data["campaign_id"]})
        unknown = await client.call_tool("ask_again", {"campaign_id": "cmp_ffffffffffffffff"})
        urls = log.read_text(encoding="utf-8").split()
        async with httpx.AsyncClient() as http:
            page = await http.get(urls[-1])
            started = await http.post(
                urls[-1],
                data={"csrf": csrf_of(page.text), "page": "1", "choice": "start", "row": ["1", "2", "3"]},
                headers={"origin": origin_of(urls[-1])},
                follow_redirects=True,
            )
    assert text_of(again) == "awaiting_approval" and opened_while_alive == [first]
    assert gone.status_code == 410
    assert text_of(later) == "awaiting_approval" and len(urls) == 2 and urls[-1] != first
    assert "Place 3 calls" in page.text and started.status_code == 200
    assert unknown.is_error and "no campaign 'cmp_ffffffffffffffff'" in text_of(unknown)
    campaign, counts = await campaign_in(tmp_path, data["campaign_id"])
    # the 3 approved rows, possibly already taken by the server's dispatcher; none removed
    assert campaign.status in {"running", "completed"} and sum(counts.values()) == 3, counts
    assert set(counts) <= {"queued", "dialling", "in_progress", "completed"}, counts


# ----- 3. token mode ----------------------------------------------------------------------------------
async def test_in_token_mode_the_token_starts_its_campaign_once_with_every_accepted_row(
    emu: RunningEmulator, tmp_path: Path
) -> None:
    async with campaign_client(emu, tmp_path, confirmation="token") as client:
        first = structured(await prepare(client, recipients=rows(4)))
        other = structured(await prepare(client, recipients=rows(2, start=100)))
        token = first["confirmation_token"]
        assert first["status"] == "awaiting_approval" and token and first["asked_via"] is None
        crossed = await client.call_tool(
            "start_campaign_with_token", {"campaign_id": other["campaign_id"], "token": token}
        )
        started = await client.call_tool(
            "start_campaign_with_token", {"campaign_id": first["campaign_id"], "token": token}
        )
        replayed = await client.call_tool(
            "start_campaign_with_token", {"campaign_id": first["campaign_id"], "token": token}
        )
    assert crossed.is_error and "campaign_id" in text_of(crossed)
    assert not started.is_error, text_of(started)
    assert replayed.is_error
    campaign, counts = await campaign_in(tmp_path, first["campaign_id"])
    # all 4 rows approved (the server's dispatcher may have taken some already), none removed
    assert campaign.status in {"running", "completed"} and sum(counts.values()) == 4, counts
    assert set(counts) <= {"queued", "dialling", "in_progress", "completed"}, counts
    assert (await campaign_in(tmp_path, other["campaign_id"]))[0].status == "awaiting_approval"


# ----- 4. as a person would: headless Chromium ----------------------------------------------------------
@IN_CHROMIUM
async def test_as_a_person_would_two_unticked_rows_of_fifty_leave_48_approved_and_2_removed(
    emu: RunningEmulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, chromium: Browser
) -> None:
    log = browser(tmp_path, monkeypatch)
    results: list[CallToolResult] = []
    async with campaign_client(emu, tmp_path, max_calls_per_hour=1000) as client:
        try:

            async def ask() -> None:
                results.append(await prepare(client, recipients=rows(50), wait_seconds=120, max_concurrent=10))

            async with anyio.create_task_group() as tg:
                tg.start_soon(ask)
                url = await recorded_url(log)
                page = await chromium.new_page(viewport={"width": 320, "height": 800})
                await page.goto(url)
                shown = await page.inner_text("body")
                assert "+1 701-811-0000" in shown and "United States" in shown
                assert "Hi Ann 0, your Gold plan payment is pending." in shown
                assert "Quiet hours" in shown and "No retries" in shown
                assert await page.inner_text("#start") == "Place 50 calls"
                await page.screenshot(path=str(artifacts(tmp_path, "campaign-page-320.png")), full_page=True)
                await page.set_viewport_size({"width": 1280, "height": 900})
                await page.screenshot(path=str(artifacts(tmp_path, "campaign-page-1280.png")), full_page=True)
                await page.uncheck("#row-3")
                await page.uncheck("#row-17")
                assert await page.inner_text("#start") == "Place 48 calls"
                await page.click("#start")
                assert "Approved: 48 calls" in await page.inner_text("body")
        finally:
            await close_pages(chromium)
    data = structured(results[0])
    assert data["status"] == "running" and data["asked_via"] == "browser"
    campaign, counts = await campaign_in(tmp_path, data["campaign_id"])
    # the server's own dispatcher started on the approval: 48 rows on their way, 2 removed
    approved = [number(i) for i in range(50) if i + 1 not in (3, 17)]
    assert campaign.status == "running" and counts.pop("removed") == 2 and sum(counts.values()) == 48
    assert set(counts) <= {"queued", "dialling", "in_progress", "completed"}, counts
    assert set(dialled(emu)) <= set(approved) and len(dialled(emu)) == len(set(dialled(emu)))
    # a second dispatcher (as after a restart) finishes what the server's began: still each number once
    settings = campaign_settings(emu, tmp_path, max_calls_per_hour=1000)
    done = await dispatch_until_done(settings, data["campaign_id"])
    assert done.status == "completed"
    assert sorted(dialled(emu)) == sorted(approved)  # each of the 48 once; rows 3 and 17 never
    assert (await campaign_in(tmp_path, data["campaign_id"]))[1] == {"completed": 48, "removed": 2}


@IN_CHROMIUM
async def test_as_a_person_would_dont_start_declines_and_dials_nothing(
    emu: RunningEmulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, chromium: Browser
) -> None:
    log = browser(tmp_path, monkeypatch)
    results: list[CallToolResult] = []
    before = dials(emu)
    async with campaign_client(emu, tmp_path) as client:
        try:

            async def ask() -> None:
                results.append(await prepare(client, recipients=rows(5), wait_seconds=120))

            async with anyio.create_task_group() as tg:
                tg.start_soon(ask)
                url = await recorded_url(log)
                page = await chromium.new_page()
                await page.goto(url)
                await page.click("#decline")
                assert "Not started" in await page.inner_text("body")
        finally:
            await close_pages(chromium)
        await anyio.sleep(0.5)
    data = structured(results[0])
    assert data["status"] == "declined"
    campaign, counts = await campaign_in(tmp_path, data["campaign_id"])
    assert campaign.status == "declined" and "queued" not in counts
    assert dials(emu) == before


async def test_asking_again_after_the_approval_lapsed_shows_the_waiting_rows_too_and_an_unticked_one_is_never_dialled(
    emu: RunningEmulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Row 1 waits (quiet hours, the rate cap) when the approval lapses: asking again must put it before the human
    with the queued rows, so that an untick removes it; else it would be dialled on no valid approval."""
    log = browser(tmp_path, monkeypatch)
    clock = Clock()
    settings = campaign_settings(emu, tmp_path)

    async def row_1_waits(ledger: DialLedger, cid: str) -> None:
        [row] = await ledger.claim_next_rows(worker_id="w", lease=timedelta(minutes=5), limit=1, campaign_id=cid)
        await ledger.record_row_outcome(
            cid,
            row.position,
            state="waiting",
            next_attempt_at=clock() + timedelta(hours=2),
            last_outcome="quiet hours",
        )

    new = await campaign_whose_approval_lapsed(
        settings, tmp_path, clock, "cmp_00000000000000aa", (1, 2, 3), before_it_lapses=row_1_waits
    )
    async with campaign_client(emu, tmp_path, clock=clock) as client:
        asked = await client.call_tool("ask_again", {"campaign_id": new.id})
        url = await recorded_url(log)
        async with httpx.AsyncClient() as http:
            page = await http.get(url)
            shown = sorted(int(v) for v in re.findall(r'name="row" value="(\d+)"', page.text))
            started = await http.post(
                url,
                data={"csrf": csrf_of(page.text), "page": "1", "choice": "start", "row": ["2"]},
                headers={"origin": origin_of(url)},
                follow_redirects=True,
            )
    _, counts = await campaign_in(tmp_path, new.id)
    assert not asked.is_error, text_of(asked)
    assert shown == [1, 2, 3]
    assert started.status_code == 200 and "Approved: 1 call " in started.text
    assert counts.get("removed") == 2 and counts.get("waiting", 0) == 0, counts


async def test_a_refused_campaign_token_says_how_to_get_a_new_one_for_the_campaign_not_a_single_calls_preview(
    emu: RunningEmulator, tmp_path: Path
) -> None:
    clock = Clock()
    async with campaign_client(emu, tmp_path, confirmation="token", clock=clock) as client:
        first = structured(await prepare(client, recipients=rows(2)))
        cid, token = first["campaign_id"], first["confirmation_token"]
        forged = await client.call_tool(
            "control_campaign", {"campaign_id": cid, "action": "start", "confirmation_token": token[:-4] + "AAAA"}
        )
        clock.now += timedelta(minutes=16)
        expired = await client.call_tool(
            "control_campaign", {"campaign_id": cid, "action": "start", "confirmation_token": token}
        )
    for refused in (forged, expired):
        text = text_of(refused)
        assert refused.is_error and "confirmation token" in text
        assert "initiate_outbound_call" not in text, text
        assert "control_campaign" in text and "resume" in text, text
    assert "expired" in text_of(expired)
    campaign, _ = await campaign_in(tmp_path, cid)
    assert campaign.status == "awaiting_approval"


async def test_asking_again_about_a_campaign_cancelled_meanwhile_says_it_is_cancelled_and_asks_nobody(
    emu: RunningEmulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A resume read the campaign paused with its approval lapsed; before it moved it back to awaiting approval,
    another replica cancelled it. The transition is refused by the ledger: the model reads what the campaign is
    now (it was a bare tool error and a traceback on stderr), nobody is asked, nothing is dialled."""
    log = browser(tmp_path, monkeypatch)
    clock = Clock()
    settings = campaign_settings(emu, tmp_path)
    new = await campaign_whose_approval_lapsed(settings, tmp_path, clock, "cmp_00000000000000ab", (1,))
    server = create_server(settings, clock=clock)

    async def ask_after_a_cancel(campaign_id: str, ctx: Context[ServerContext, Any]) -> str:
        shared = server_context(ctx).ledger
        stale = await shared.get_campaign(campaign_id)
        await shared.set_campaign_status(campaign_id, "cancelled")  # another replica, between the read and the move
        real_read = shared.get_campaign
        reads: list[str] = []

        async def first_read_before_the_cancel(cid: str) -> Campaign | None:
            reads.append(cid)
            return stale if len(reads) == 1 else await real_read(cid)

        monkeypatch.setattr(shared, "get_campaign", first_read_before_the_cancel)
        return await ask_campaign_approval(ctx, campaign_id, 0)

    server.add_tool(ask_after_a_cancel)
    async with Client(server, mode=MODE) as client:
        asked = await client.call_tool("ask_after_a_cancel", {"campaign_id": new.id})
    campaign, _ = await campaign_in(tmp_path, new.id)
    assert asked.is_error and f"{new.id} is cancelled, not awaiting approval" in text_of(asked), text_of(asked)
    assert campaign.status == "cancelled"
    assert not log.exists() or log.read_text(encoding="utf-8") == ""  # no page was opened
    assert dialled(emu) == []
