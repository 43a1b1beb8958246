"""The campaign approval page against forged form values, over real loopback HTTP (the page prepare_campaign opens)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import httpx
import pytest

from server_support import structured
from tests.server.tools.test_prepare_campaign import (
    browser,
    campaign_client,
    campaign_in,
    csrf_of,
    origin_of,
    prepare,
    recorded_url,
    rows,
)
from voicing_mcp.emulator.runner import RunningEmulator
from voicing_mcp.emulator.state import EmulatorConfig


@pytest.fixture(scope="module")
def emu_config() -> EmulatorConfig:
    """Calls end within a few wall-clock milliseconds."""
    return EmulatorConfig(speed=10_000.0, seed_calls=0)


async def test_non_ascii_digits_in_row_and_page_values_change_nothing_and_never_crash_the_page(
    emu: RunningEmulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = browser(tmp_path, monkeypatch)
    async with campaign_client(emu, tmp_path) as client:
        data = structured(await prepare(client, recipients=rows(3)))
        url = await recorded_url(log)
        origin = origin_of(url)
        async with httpx.AsyncClient() as http:
            shown = await http.get(url + "?page=\u00b2")
            csrf = csrf_of(shown.text)
            base = {"csrf": csrf, "page": "1"}
            superscript = await http.post(
                url, data={**base, "goto": "1", "row": ["\u00b2", "1"]}, headers={"origin": origin}
            )
            arabic = await http.post(
                url, data={**base, "goto": "1", "row": ["\u0661", "1"]}, headers={"origin": origin}
            )
            bad_page = await http.post(
                url, data={**base, "page": "\u00b2", "goto": "\u00b2"}, headers={"origin": origin}
            )
            started = await http.post(
                url,
                data={**base, "choice": "start", "row": ["1", "\u00b3"]},
                headers={"origin": origin},
                follow_redirects=True,  # the approval page turns into the campaign's dashboard
            )
        campaign, counts = await campaign_in(tmp_path, data["campaign_id"])
    assert shown.status_code == 200
    assert [superscript.status_code, arabic.status_code, bad_page.status_code] == [303, 303, 303]
    assert started.status_code == 200 and "Approved: 1 call " in started.text
    assert started.url.path.startswith("/dashboard/")
    assert campaign.status == "running"
    assert counts.get("removed") == 2 and counts.get("excluded", 0) == 0


async def test_a_start_on_the_page_of_a_campaign_cancelled_meanwhile_says_so_every_time(
    emu: RunningEmulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A refused decision spends nothing: a second click reads the same reason, not "already used"."""
    log = browser(tmp_path, monkeypatch)
    async with campaign_client(emu, tmp_path) as client:
        data = structured(await prepare(client, recipients=rows(3)))
        url = await recorded_url(log)
        origin = origin_of(url)
        async with httpx.AsyncClient() as http:
            page = await http.get(url)
            await client.call_tool("control_campaign", {"campaign_id": data["campaign_id"], "action": "cancel"})
            start = {"csrf": csrf_of(page.text), "page": "1", "choice": "start", "row": ["1", "2", "3"]}
            first = await http.post(url, data=start, headers={"origin": origin})
            second = await http.post(url, data=start, headers={"origin": origin})
        campaign, counts = await campaign_in(tmp_path, data["campaign_id"])
    for answer in (first, second):
        assert answer.status_code == 409 and "Already decided" in answer.text, answer.text
        assert "was decided already and is cancelled now" in answer.text and "already used" not in answer.text
    assert campaign.status == "cancelled" and counts == {"cancelled": 3}


async def test_a_decision_the_ledger_cannot_record_gets_a_clear_page_and_the_campaign_still_waits_for_it(
    emu: RunningEmulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another process holds the ledger's SQLite file locked while the human clicks: after the ledger's own wait
    (10 s) the page says the decision was not recorded (503, not a bare 500); the campaign still awaits approval,
    and the same page starts it once the lock is gone."""
    log = browser(tmp_path, monkeypatch)
    async with campaign_client(emu, tmp_path) as client:
        data = structured(await prepare(client, recipients=rows(3)))
        url = await recorded_url(log)
        origin = origin_of(url)
        async with httpx.AsyncClient(timeout=60) as http:
            page = await http.get(url)
            start = {"csrf": csrf_of(page.text), "page": "1", "choice": "start", "row": ["1", "3"]}
            holder = sqlite3.connect(tmp_path / "ledger.sqlite3", isolation_level=None)
            try:
                holder.execute("BEGIN IMMEDIATE")
                busy = await http.post(url, data=start, headers={"origin": origin})
            finally:
                holder.execute("ROLLBACK")
                holder.close()
            waiting = await campaign_in(tmp_path, data["campaign_id"])
            retried = await http.post(url, data=start, headers={"origin": origin})
        campaign, counts = await campaign_in(tmp_path, data["campaign_id"])
    assert busy.status_code == 503 and "Not recorded" in busy.text, busy.text
    assert "the campaign still waits for your decision" in busy.text and "busy" in busy.text
    assert str(tmp_path) not in busy.text  # the ledger's file is named in the server's log, not on the page
    assert waiting[0].status == "awaiting_approval" and waiting[1] == {"queued": 3}
    # approved: the page turns into the campaign's dashboard
    assert retried.status_code == 303 and retried.headers["location"].startswith("/dashboard/")
    assert campaign.status in {"running", "completed"} and counts.get("removed") == 1
