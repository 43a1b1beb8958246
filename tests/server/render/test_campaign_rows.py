"""server/render/campaign_rows.py: a campaign's rows as JSON parts within the budget, and as CSV safe to open."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime
from typing import Any

from voicing_mcp.guard.ledger import Campaign, CampaignRow
from voicing_mcp.server.render.campaign_rows import (
    COLUMNS,
    campaign_csv_uri,
    campaign_uri,
    part_uri,
    rows_csv,
    rows_json,
)

NOW = datetime(2026, 12, 7, 18, 0, tzinfo=UTC)


def campaign(**changes: Any) -> Campaign:
    fields: dict[str, Any] = {
        "id": "cmp_0123456789abcdef",
        "scope": "scope",
        "environment": "local",
        "name": "Payment reminders",
        "assistant_id": "asst-1",
        "telephony_provider": "default",
        "status": "running",
        "manifest_sha256": "0" * 64,
        "max_attempts": 2,
        "retry_after_minutes": 120,
        "max_concurrent": 2,
        "created_at": NOW,
        "updated_at": NOW,
        "approved_at": NOW,
        "approval_expires_at": None,
        "pause_reason": None,
        "settings": {},
    }
    return Campaign(**{**fields, **changes})


def row(position: int, **changes: Any) -> CampaignRow:
    fields: dict[str, Any] = {
        "campaign_id": "cmp_0123456789abcdef",
        "position": position,
        "phone_e164": f"+1701555{position:04d}",
        "phone_masked": "+1701•••",
        "input_variables": {},
        "state": "queued",
        "exclusion_reason": None,
        "attempts": 0,
        "next_attempt_at": None,
        "call_id": None,
        "dial_id": None,
        "last_outcome": None,
        "worker_id": None,
        "lease_until": None,
        "updated_at": NOW,
    }
    return CampaignRow(**{**fields, **changes})


def test_the_uris_name_the_campaign_its_csv_and_each_part_after_the_first() -> None:
    assert campaign_uri("cmp_1") == "voicing://campaigns/cmp_1"
    assert campaign_csv_uri("cmp_1") == "voicing://campaigns/cmp_1.csv"
    assert part_uri("cmp_1", 0) == "voicing://campaigns/cmp_1"
    assert part_uri("cmp_1", 40) == "voicing://campaigns/cmp_1?offset=40"


def test_following_next_reads_every_row_exactly_once_each_part_within_the_budget() -> None:
    rows = [row(i, state="completed", attempts=1, call_id=f"call-{i:05d}") for i in range(1, 1201)]
    budget = 4_000
    seen: list[int] = []
    offset, parts = 0, 0
    while True:
        text = rows_json(
            campaign(), rows[offset:], offset=offset, rows_total=len(rows), counts={"completed": 1200}, budget=budget
        )
        assert len(json.dumps(text, ensure_ascii=False)) <= budget
        part = json.loads(text)
        assert part["columns"] == list(COLUMNS) and part["rows_total"] == 1200 and part["offset"] == offset
        assert ("counts" in part) == (offset == 0)  # the status counts on the first part only
        seen += [cells[0] for cells in part["rows"]]
        assert part["returned"] == len(part["rows"]) > 0
        parts += 1
        if part["next"] is None:
            break
        offset = int(part["next"].rsplit("=", 1)[1])
    assert seen == list(range(1, 1201)) and parts > 10


def test_an_offset_past_the_last_row_returns_no_rows_and_points_to_the_first_part() -> None:
    part = json.loads(rows_json(campaign(), [], offset=9, rows_total=3))
    assert part["rows"] == [] and part["returned"] == 0 and part["next"] is None
    assert "past the last row (3)" in part["note"] and campaign_uri("cmp_0123456789abcdef") in part["note"]


def test_a_row_is_its_cells_in_column_order_with_times_in_iso() -> None:
    retry = datetime(2026, 12, 8, 9, 30, tzinfo=UTC)
    r = row(7, state="waiting", attempts=1, last_outcome="busy", next_attempt_at=retry, call_id="call-7")
    part = json.loads(rows_json(campaign(), [r], offset=0, rows_total=1))
    cells = dict(zip(COLUMNS, part["rows"][0], strict=True))
    assert cells["position"] == 7 and cells["phone_number"] == "+17015550007" and cells["state"] == "waiting"
    assert cells["last_outcome"] == "busy" and cells["next_attempt_at"].startswith("2026-12-08T09:30")


def test_the_csv_has_a_header_and_one_line_per_row_and_no_cell_a_spreadsheet_would_run() -> None:
    rows = [row(1), row(2, state="excluded", exclusion_reason='=HYPERLINK("http://evil")'), row(3, call_id="@x")]
    parsed = list(csv.reader(io.StringIO(rows_csv(rows))))
    assert parsed[0] == list(COLUMNS) and len(parsed) == 4
    assert parsed[1][1] == "'+17015550001"  # the number keeps its + as text
    assert parsed[2][7] == '\'=HYPERLINK("http://evil")' and parsed[3][4] == "'@x"
    assert all(not cell.startswith(("=", "+", "-", "@")) for line in parsed[1:] for cell in line)
