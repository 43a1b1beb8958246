"""What the guard's checks 1-4 produce (guard/decision.py): a preview the human confirms that cannot change after
it is shown, described for the dial tool's output schema, and a decision that carries it with its own warnings."""

from __future__ import annotations

import dataclasses

import pytest
from pydantic import ValidationError

from voicing_mcp.api.models import OutboundCallRequest
from voicing_mcp.guard.decision import CheckedDial, Preview
from voicing_mcp.guard.phone import parse_number

NUMBER = "+17018112582"
ASSISTANT = "019addcc-b878-7b10-85f1-49f21342f947"


def preview(**changes: object) -> Preview:
    fields: dict[str, object] = {
        "phone_number": NUMBER,
        "international": "+1 701-811-2582",
        "country": "United States (US)",
        "line_type": "fixed line or mobile",
        "callee_local_time": "Mon 10:00 (America/Chicago)",
        "time_zones": ["America/Chicago"],
        "assistant_id": ASSISTANT,
        "opening_line": "Hi Ann.",
        "telephony_provider": "default",
        "input_variables": {"name": "Ann"},
        "local_mode": True,
    }
    return Preview.model_validate(fields | changes)


def decision(**changes: object) -> CheckedDial:
    request = OutboundCallRequest(assistant_id=ASSISTANT, phone_number=NUMBER, input_variables={"name": "Ann"})
    return CheckedDial(request=request, phone=parse_number(NUMBER, default_region=None), preview=preview(), **changes)  # pyright: ignore[reportArgumentType]


def test_a_preview_cannot_be_changed_after_it_is_made() -> None:
    shown = preview()
    with pytest.raises(ValidationError):
        shown.phone_number = "+17015550100"  # pyright: ignore[reportAttributeAccessIssue]
    assert shown.phone_number == NUMBER


def test_a_preview_needs_every_field_a_human_reads_and_has_no_note_unless_given() -> None:
    assert preview().note is None
    assert preview(note="no phone will ring").note == "no phone will ring"
    with pytest.raises(ValidationError):
        Preview.model_validate(preview().model_dump() | {"callee_local_time": None})
    incomplete = preview().model_dump()
    del incomplete["opening_line"]  # required, though it may be None
    with pytest.raises(ValidationError):
        Preview.model_validate(incomplete)


def test_a_previews_schema_tells_the_model_what_the_number_local_time_and_local_mode_mean() -> None:
    properties = Preview.model_json_schema()["properties"]
    assert properties["phone_number"]["description"] == "E.164, exactly as sent to the API."
    assert "range" in properties["callee_local_time"]["description"]
    assert "no real phone will ring" in properties["local_mode"]["description"]


def test_a_preview_round_trips_through_json_unchanged() -> None:
    shown = preview(input_variables={"name": "Ann", "n": 2, "vip": False, "x": 1.5})
    assert Preview.model_validate_json(shown.model_dump_json()) == shown


def test_a_decision_cannot_be_changed_and_its_warnings_are_its_own() -> None:
    first, second = decision(), decision()
    with pytest.raises(dataclasses.FrozenInstanceError):
        first.allow_listed = True  # pyright: ignore[reportAttributeAccessIssue]
    first.warnings.append("quiet hours in America/Chicago")
    assert second.warnings == []
    assert (first.allow_listed, first.checked_at) == (False, None)
    assert first.phone.e164 == first.request.phone_number == first.preview.phone_number
