"""Lenient parsing of the undocumented list shape (voicing_mcp.api.parsing.parse_page) — pure functions."""

from __future__ import annotations

from typing import Any

import pytest

from voicing_mcp.api.parsing import error_detail, has_next_page, parse_page
from voicing_mcp.errors import APIError, APIStatusError

CALLS = [{"call_id": "c1", "status": "completed", "duration": 125, "agent": "ann"}, {"call_id": "c2"}]


@pytest.mark.parametrize("key", ["data", "calls", "items", "results"])
def test_the_list_is_found_under_any_of_the_usual_names(key: str) -> None:
    page = parse_page({key: CALLS}, page=1, limit=20)
    assert [c.call_id for c in page.calls] == ["c1", "c2"]


def test_a_bare_list_is_a_page() -> None:
    page = parse_page(CALLS, page=3, limit=2)
    assert [c.call_id for c in page.calls] == ["c1", "c2"]
    assert (page.page, page.limit, page.total, page.has_next) == (3, 2, None, None)


def test_unknown_fields_are_kept_on_calls_and_on_the_page() -> None:
    page = parse_page({"success": True, "data": CALLS, "server_time": "now"}, page=1, limit=20)
    assert page.calls[0].extra_fields() == {"agent": "ann"}
    assert page.calls[0].duration == 125
    assert page.extra_fields() == {"success": True, "server_time": "now"}


@pytest.mark.parametrize("total_key", ["total", "total_count", "count"])
def test_totals_are_read_under_their_usual_names_and_imply_a_next_page(total_key: str) -> None:
    page = parse_page({"data": CALLS, total_key: 5}, page=1, limit=2)
    assert page.total == 5
    assert page.has_next is True
    last = parse_page({"data": CALLS, total_key: 4}, page=2, limit=2)
    assert last.has_next is False


@pytest.mark.parametrize(
    ("meta", "expected"),
    [
        ({"has_next": True}, True),
        ({"has_more": False}, False),
        ({"next_page": 3}, True),
        ({"next_page": None}, False),
        ({"total_pages": 2, "page": 2}, False),
        ({"total_pages": 9}, True),
    ],
)
def test_the_next_page_flag_is_read_under_its_usual_names(meta: dict[str, Any], expected: bool) -> None:
    assert parse_page({"data": CALLS, **meta}, page=1, limit=2).has_next is expected


def test_metadata_in_a_nested_meta_object_or_data_object_is_found() -> None:
    page = parse_page({"data": CALLS, "meta": {"total": 7, "per_page": 2, "current_page": 2}}, page=1, limit=20)
    assert (page.total, page.limit, page.page, page.has_next) == (7, 2, 2, True)
    nested = parse_page({"data": {"items": CALLS, "total": 2}}, page=1, limit=20)
    assert [c.call_id for c in nested.calls] == ["c1", "c2"]
    assert nested.total == 2


def test_calls_keyed_by_id_instead_of_call_id_are_accepted() -> None:
    page = parse_page({"data": [{"id": 17, "status": "queued"}]}, page=1, limit=20)
    assert page.calls[0].call_id == "17"


def test_success_false_is_an_error_even_with_status_200() -> None:
    with pytest.raises(APIStatusError, match="quota exceeded"):
        parse_page({"success": False, "message": "quota exceeded"}, page=1, limit=20)


@pytest.mark.parametrize("body", [{"rows": []}, "text", 3, {"data": [1, 2]}, {"data": [{"status": "x"}]}])
def test_an_unreadable_list_is_a_clear_api_error(body: Any) -> None:
    with pytest.raises(APIError) as info:
        parse_page(body, page=1, limit=20)
    assert "list_calls" in str(info.value)


def test_error_detail_prefers_detail_then_message_then_raw_text() -> None:
    assert error_detail({"detail": "Invalid API token"}, "") == "Invalid API token"
    assert error_detail({"message": "m", "error": "e"}, "") == "m"
    assert error_detail({"error": {"message": "nested"}}, "") == "nested"
    assert error_detail(None, "plain  text\nbody") == "plain text body"
    assert error_detail({}, "") is None


@pytest.mark.parametrize(
    ("body", "limit", "expected"),
    [
        (CALLS, 2, True),  # no metadata, a full page: a page may follow
        (CALLS, 3, False),  # no metadata, a short page: the last
        ({"data": CALLS, "has_next": False}, 2, False),  # the API's word wins over a full page
        ({"data": CALLS, "has_more": True}, 20, True),  # ... and over a short one
        ({"data": [], "has_next": True}, 20, False),  # an empty page ends a walk whatever it says
    ],
)
def test_a_walk_goes_on_while_the_api_says_so_or_else_while_pages_are_full(
    body: Any, limit: int, expected: bool
) -> None:
    assert has_next_page(parse_page(body, page=1, limit=limit)) is expected
