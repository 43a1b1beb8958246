"""The campaign approval page against forged form values, over real loopback HTTP (the page prepare_campaign opens)."""

from __future__ import annotations

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
