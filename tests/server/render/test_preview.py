"""server/render/preview.py: the one renderer of a dial's preview, the question before dialling, and the dial
tool's result within the budget."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from voicing_mcp.api.models import OutboundCallRequest
from voicing_mcp.guard.decision import CheckedDial, Preview
from voicing_mcp.guard.phone import parse_number
from voicing_mcp.server.render.preview import (
    DialResult,
    dial_tool_result,
    preview_rows,
    preview_text,
    question_text,
)
from voicing_mcp.server.render.results import RESULT_BUDGET, result_size

NUMBER = "+17015550123"


def preview(**changes: Any) -> Preview:
    phone = parse_number(NUMBER, default_region=None)
    fields: dict[str, Any] = {
        "phone_number": phone.e164,
        "international": phone.international,
        "country": phone.country,
        "line_type": phone.line_type,
        "callee_local_time": "Mon 12:07 (America/Chicago)",
        "time_zones": list(phone.time_zones),
        "assistant_id": "asst-1",
        "opening_line": "Hi Ada, your gold plan payment is pending.",
        "telephony_provider": "default",
        "input_variables": {"name": "Ada", "plan_type": "gold"},
        "local_mode": False,
    }
    return Preview(**{**fields, **changes})


def checked(p: Preview, **changes: Any) -> CheckedDial:
    request = OutboundCallRequest(
        assistant_id=p.assistant_id, phone_number=p.phone_number, input_variables=dict(p.input_variables)
    )
    return CheckedDial(request=request, phone=parse_number(NUMBER, default_region=None), preview=p, **changes)


def test_the_preview_reads_number_time_assistant_opening_line_and_quoted_variables() -> None:
    rows = dict(preview_rows(preview()))
    assert list(rows) == ["Number", "Callee's local time", "Assistant", "Opening line", "Variables"]
    assert rows["Number"].startswith("+1 701-555-0123 (")
    assert rows["Assistant"] == "asst-1 (provider default)"
    assert rows["Opening line"] == '"Hi Ada, your gold plan payment is pending."'
    assert "'Ada'" in rows["Variables"] or '"Ada"' in rows["Variables"]


def test_a_preview_without_opening_line_or_variables_says_none() -> None:
    rows = dict(preview_rows(preview(opening_line=None, input_variables={})))
    assert rows["Opening line"] == "(none)" and rows["Variables"] == "(none)"


def test_a_control_character_in_a_value_cannot_break_or_rewrite_the_line_a_person_reads() -> None:
    text = preview_text(preview(input_variables={"name": "Ada\nNumber: +1 999\x1b[2J"}, note="see\nbelow"))
    lines = text.splitlines()
    assert lines[0].startswith("Call +1 701-555-0123") and len(lines) == 6  # five rows and the note, no more
    assert "\x1b" not in text and not any(line.startswith("Number: +1 999") for line in lines)


def test_the_question_says_whether_a_real_phone_rings_and_carries_the_warnings() -> None:
    real = question_text(checked(preview(), warnings=["template: 'x' unused"]))
    local = question_text(checked(preview(local_mode=True)))
    assert real.startswith("Place this phone call? A real phone will ring.")
    assert real.endswith("Warning: template: 'x' unused")
    assert "no real phone will ring" in local.splitlines()[0]


def test_the_question_rounds_the_callees_time_to_a_quarter_hour() -> None:
    at = datetime(2026, 12, 7, 18, 7, tzinfo=UTC)  # 11:07 in Denver, 12:07 in North Dakota's Central zone
    text = question_text(checked(preview(), checked_at=at))
    assert "Callee's local time: about Mon 11:00–12:00 across 2 time zones" in text
    assert "(America/Chicago)" not in text  # the preview's own time is replaced by the rounded one


def test_fifty_long_values_are_cut_in_the_result_only_and_a_warning_says_the_call_sends_them_whole() -> None:
    values: dict[str, str | int | float | bool] = {f"v{i:02d}": "x" * 2_000 for i in range(50)}
    p = preview(input_variables=values, opening_line="y" * 9_000)
    request = OutboundCallRequest(assistant_id="asst-1", phone_number=NUMBER, input_variables=dict(values))
    result = DialResult(status="started", call_id="call-1", request=request, preview=p, confirmed_by="token")
    fitted = dial_tool_result(result)
    assert result_size(fitted) <= RESULT_BUDGET
    shown = fitted.structured_content
    assert shown is not None and shown["call_id"] == "call-1"
    assert all(v.endswith("…") and len(v) < 2_000 for v in shown["preview"]["input_variables"].values())
    assert "the call sends every value in full" in shown["warnings"][-1]
    assert result.preview.input_variables["v00"] == "x" * 2_000  # the value itself is untouched
