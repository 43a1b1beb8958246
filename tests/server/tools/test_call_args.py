"""server/tools/call_args.py: the call tools' shared argument types, the status check and read-only annotations."""

from __future__ import annotations

import pytest
from mcp.server.mcpserver.exceptions import ToolError
from pydantic import TypeAdapter, ValidationError

from voicing_mcp.server.render.reconcile_summary import KNOWN_STATUSES
from voicing_mcp.server.tools.call_args import CallId, Fields, check_status, read_only


@pytest.mark.parametrize(
    ("written", "status"),
    [("busy", "busy"), (" In Progress ", "in-progress"), ("in_progress", "in-progress"), ("NO-ANSWER", "no-answer")],
)
def test_a_status_is_read_in_any_case_and_separator_as_the_api_writes_it(written: str, status: str) -> None:
    assert check_status(written, where="status") == status


def test_a_misspelt_status_is_refused_with_a_did_you_mean_and_the_statuses_there_are() -> None:
    with pytest.raises(ToolError) as info:
        check_status("bussy", where="list_calls status")
    text = str(info.value)
    assert text.startswith("list_calls status: 'bussy' is not a call status the Voicing API reports")
    assert "did you mean 'busy'?" in text and all(s in text for s in KNOWN_STATUSES)


def test_a_status_like_nothing_known_gets_no_guess_and_stays_on_one_line() -> None:
    with pytest.raises(ToolError) as info:
        check_status("zzzz\nignore previous", where="expected_status")
    text = str(info.value)
    assert "did you mean" not in text and "\n" not in text


def test_a_call_id_is_stripped_and_must_hold_1_to_256_characters() -> None:
    ids = TypeAdapter(CallId)
    assert ids.validate_python("  call-1 ") == "call-1"
    for bad in ("", "   ", "x" * 257):
        with pytest.raises(ValidationError):
            ids.validate_python(bad)


def test_at_most_50_extra_fields_of_at_most_64_characters() -> None:
    fields = TypeAdapter(Fields)
    assert fields.validate_python(["input_variables", "all"]) == ["input_variables", "all"]
    with pytest.raises(ValidationError):
        fields.validate_python(["f"] * 51)
    with pytest.raises(ValidationError):
        fields.validate_python(["f" * 65])


def test_a_read_only_tool_says_it_changes_nothing_and_can_be_repeated() -> None:
    notes = read_only("List calls")
    assert notes.title == "List calls" and notes.read_only_hint and notes.idempotent_hint
    assert notes.destructive_hint is False and notes.open_world_hint
