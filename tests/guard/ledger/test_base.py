"""guard/ledger/base.py: what both ledger backends share — a dial row as shown, times as stored, and the refusals
built from what the ledger found (what both backends share is in tests/guard/test_ledger*.py)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from voicing_mcp.guard.ledger import DialRow
from voicing_mcp.guard.ledger.base import (
    duplicate_refusal,
    in_flight_refusal,
    iso,
    number_cap_refusal,
    rate_refusal,
    unknown_refusal,
)

NUMBER = "+17015550123"


def dial_row(**changes: Any) -> DialRow:
    fields: dict[str, Any] = {
        "id": 41,
        "created_at": "2026-12-07T18:00:00Z",
        "assistant_id": "asst-1",
        "phone_e164": NUMBER,
        "phone_masked": "+1701•••0123",
        "telephony_provider": "default",
        "variable_names": ["name"],
        "confirmation": "token",
        "environment": "production",
        "status": "unknown",
        "call_id": None,
        "detail": None,
        "updated_at": "2026-12-07T18:00:01Z",
        "resolved_at": None,
        "resolution": None,
    }
    return DialRow(**{**fields, **changes})


def test_a_row_as_shown_never_holds_the_full_number_nor_a_urls_password() -> None:
    shown = dial_row(
        detail=f"HTTP 422: phone_number {NUMBER} rejected",
        resolution=f"checked: call to {NUMBER} found",
        environment="https://user:s3cr3t-pw@api.example.com",
    ).public()
    assert "phone_e164" not in shown and shown["phone_masked"] == "+1701•••0123"
    assert NUMBER not in str(shown) and "s3cr3t-pw" not in str(shown)
    assert shown["detail"].startswith("HTTP 422: phone_number ") and "api.example.com" in shown["environment"]


def test_times_are_stored_in_utc_to_the_second_with_a_z() -> None:
    at = datetime(2026, 12, 7, 19, 30, 15, 999_000, tzinfo=timezone(timedelta(hours=1)))
    assert iso(at) == "2026-12-07T18:30:15Z"


def test_the_caps_refuse_only_once_they_are_reached() -> None:
    assert rate_refusal(29, 30) is None and number_cap_refusal("+1701•••0123", 2, (3, timedelta(hours=24))) is None
    assert number_cap_refusal("+1701•••0123", 9, None) is None  # no per-number cap set
    rate = rate_refusal(30, 30)
    cap = number_cap_refusal("+1701•••0123", 3, (3, timedelta(hours=24)))
    assert rate is not None and rate.rule == "rate-limit"
    assert cap is not None and cap.rule == "number-cap" and "+1701•••0123" in cap.message


def test_a_row_found_becomes_its_refusal_with_the_masked_number_and_no_row_none() -> None:
    row = dial_row(status="started", call_id="call-9")
    for build, rule in ((duplicate_refusal, "duplicate"), (in_flight_refusal, "dial-in-progress")):
        assert build(None) is None
        refused = build(row)
        assert refused is not None and refused.rule == rule and NUMBER not in refused.message
    unknown = unknown_refusal(dial_row())
    assert unknown is not None and unknown.rule == "outcome-unknown" and unknown.fields["ledger_id"] == 41
    assert unknown_refusal(None) is None
