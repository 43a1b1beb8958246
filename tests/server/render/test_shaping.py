"""How API call records become tool results: every field kept, third-party text labelled and capped."""

from __future__ import annotations

from voicing_mcp.api.client import VoicingClient
from voicing_mcp.api.models import CallDetails
from voicing_mcp.emulator.runner import serve_emulator
from voicing_mcp.server.render.shaping import (
    MAX_TEXT_FIELD,
    MAX_TRANSCRIPT_CHARS,
    MAX_TRANSCRIPT_LINES,
    THIRD_PARTY_NOTICE,
    shape_call,
)
from voicing_mcp.server.tools.bulk_call_details import fetch_bulk
from voicing_mcp.server.tools.get_call_details import fetch_call
from voicing_mcp.server.tools.list_calls import build_filters, fetch_call_list


def test_unknown_fields_are_kept_and_long_strings_are_capped() -> None:
    details = CallDetails.model_validate(
        {"call_id": "c", "status": "completed", "campaign": {"name": "x" * 10_000, "tags": ["a"]}, "success": True}
    )
    call = shape_call(details, with_transcript=True).model_dump()
    assert call["campaign"]["tags"] == ["a"] and len(call["campaign"]["name"]) == MAX_TEXT_FIELD
    assert "success" not in call and call["transcript"] is None


def test_a_long_transcript_is_read_in_windows_that_say_where_the_next_begins() -> None:
    lines = [{"role": "user", "text": f"line {i}", "t": i} for i in range(MAX_TRANSCRIPT_LINES + 100)]
    details = CallDetails(call_id="c", transcript=lines)  # type: ignore[call-arg]
    first = shape_call(details, with_transcript=True).transcript
    rest = shape_call(details, with_transcript=True, transcript_offset=MAX_TRANSCRIPT_LINES).transcript
    assert first is not None and rest is not None
    assert len(first.lines) == MAX_TRANSCRIPT_LINES and first.total_lines == MAX_TRANSCRIPT_LINES + 100
    assert first.truncated and first.next_offset == MAX_TRANSCRIPT_LINES and first.notice == THIRD_PARTY_NOTICE
    assert rest.offset == MAX_TRANSCRIPT_LINES and rest.lines[0].text == f"line {MAX_TRANSCRIPT_LINES}"
    assert len(rest.lines) == 100 and rest.next_offset is None and not rest.truncated


def test_transcript_text_is_capped_in_total() -> None:
    lines = [{"role": "user", "text": "y" * 3_000} for _ in range(20)]
    transcript = shape_call(CallDetails(call_id="c", transcript=lines), with_transcript=True).transcript  # type: ignore[call-arg]
    assert transcript is not None and transcript.truncated
    assert sum(len(ln.text) for ln in transcript.lines) <= MAX_TRANSCRIPT_CHARS


def test_a_transcript_given_as_text_becomes_lines() -> None:
    details = CallDetails(call_id="c", transcript="AI: hello\nUser: who is this?\n")  # type: ignore[call-arg]
    transcript = shape_call(details, with_transcript=True).transcript
    assert transcript is not None and [ln.text for ln in transcript.lines] == ["AI: hello", "User: who is this?"]


def test_lists_leave_transcripts_out() -> None:
    details = CallDetails(call_id="c", transcript=[{"role": "user", "text": "hi"}])  # type: ignore[call-arg]
    assert shape_call(details, with_transcript=False).transcript is None


def test_filters_are_stringified_and_named_arguments_win() -> None:
    assert build_filters(status="failed", assistant_id=None, filters={"status": "x", "n": 3, "flag": False}) == {
        "status": "failed",
        "n": "3",
        "flag": "false",
    }


async def test_the_plain_functions_work_without_mcp() -> None:
    async with serve_emulator() as emu, VoicingClient(base_url=emu.base_url, api_key=emu.api_key) as client:
        listing, more = await fetch_call_list(client, all_pages=True, max_records=120)
        ids = [c.call_id for c in listing.calls]
        bulk = await fetch_bulk(client, [*ids, ids[0], "nope"])
        one = await fetch_call(client, ids[0])
    assert listing.returned == 120 and listing.max_records_reached and more and listing.pages_fetched == 2
    assert bulk.ids == [*ids, "nope"] and list(bulk.found) == ids and bulk.requested == 122
    assert one.call_id == ids[0] and one.transcript is not None


def test_api_fields_named_like_the_results_own_are_kept_under_another_name() -> None:
    details = CallDetails.model_validate({"call_id": "c", "next": "call back Monday", "omitted_fields": 3})
    call = shape_call(details, with_transcript=False).model_dump()
    assert call["api_next"] == "call back Monday" and call["api_omitted_fields"] == 3 and "next" not in call
