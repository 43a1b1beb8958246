"""The API's paths and the client's limits (api/constants.py): the paths are the vendor guide's, and the limits
agree with the emulator's own copies (kept apart on purpose, so a change on one side shows here)."""

from __future__ import annotations

from pathlib import Path

from voicing_mcp.api import constants
from voicing_mcp.emulator import app as emulator_app

GUIDE = Path(__file__).resolve().parents[2] / "docs" / "voicing-api.md"  # the vendor's guide, as received


def test_the_paths_are_the_ones_the_vendor_documents() -> None:
    assert constants.DIAL_PATH == "/api/v1/campaigns/publish-outbound-call"
    assert constants.DETAILS_PATH == "/api/v1/campaigns/get-call-details"
    assert constants.BULK_PATH == "/api/v1/campaigns/get-call-details/bulk-by-ids"
    guide = GUIDE.read_text(encoding="utf-8")
    assert f"`POST {constants.DIAL_PATH}`" in guide
    assert f"`GET {constants.DETAILS_PATH}?call_id=<id>`" in guide
    assert f"`POST {constants.BULK_PATH}`" in guide


def test_the_emulator_serves_the_same_paths_and_takes_the_same_limits_the_client_sends() -> None:
    assert (emulator_app.DIAL_PATH, emulator_app.DETAILS_PATH, emulator_app.BULK_PATH) == (
        constants.DIAL_PATH,
        constants.DETAILS_PATH,
        constants.BULK_PATH,
    )
    assert emulator_app.MAX_LIMIT == constants.MAX_PAGE_SIZE
    assert emulator_app.MAX_BULK == constants.MAX_IDS_PER_BULK
    assert emulator_app.DEFAULT_LIMIT == constants.DEFAULT_PAGE_SIZE


def test_the_defaults_fit_inside_the_bounds() -> None:
    assert 1 <= constants.DEFAULT_PAGE_SIZE <= constants.MAX_PAGE_SIZE
    assert 1 <= constants.MAX_IDS_PER_BULK <= constants.MAX_PAGE_SIZE
    assert constants.DEFAULT_BULK_CONCURRENCY >= 1
    assert 0 < constants.CONNECT_TIMEOUT <= constants.READ_TIMEOUT
