"""The API's wire models (api/models.py): strict requests, lenient answers, the JSON a body is sent as, and the
checks a list query and an id pass before anything is sent."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from voicing_mcp.api.models import (
    CallDetails,
    OutboundCallRequest,
    OutboundCallResponse,
    check_id,
    encode_json_body,
    list_query,
)
from voicing_mcp.errors import InvalidRequestError


def test_a_dial_request_holds_exactly_the_documented_four_fields_with_the_default_provider() -> None:
    request = OutboundCallRequest(assistant_id="a-1", phone_number="+17015550100")
    assert request.model_dump() == {
        "assistant_id": "a-1",
        "phone_number": "+17015550100",
        "input_variables": {},
        "telephony_provider": "default",
    }


@pytest.mark.parametrize(
    "fields",
    [
        {"assistant_id": "a-1", "phone_number": "+17015550100", "unknown": "x"},
        {"assistant_id": "", "phone_number": "+17015550100"},
        {"assistant_id": "a-1", "phone_number": 17015550100},
        {"assistant_id": "a-1", "phone_number": "+17015550100", "telephony_provider": ""},
        {"assistant_id": "a-1", "phone_number": "+17015550100", "input_variables": {"x": [1]}},
    ],
    ids=["unknown-field", "empty-assistant", "number-as-int", "empty-provider", "list-variable"],
)
def test_a_dial_request_with_an_unknown_field_or_a_wrong_type_is_refused(fields: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        OutboundCallRequest(**fields)


def test_a_dial_request_cannot_be_changed_once_made() -> None:
    request = OutboundCallRequest(assistant_id="a-1", phone_number="+17015550100")
    with pytest.raises(ValidationError):
        request.phone_number = "+17015550199"  # pyright: ignore[reportAttributeAccessIssue]


def test_answers_keep_the_fields_the_api_adds_and_need_only_the_call_id() -> None:
    call = CallDetails.model_validate({"call_id": "c-1", "sentiment": "positive", "cost": {"usd": 0.4}})
    assert call.status is None and call.duration is None
    assert call.extra_fields() == {"sentiment": "positive", "cost": {"usd": 0.4}}
    dial = OutboundCallResponse.model_validate({"call_id": "c-2", "queue": 3})
    assert dial.extra_fields() == {"queue": 3}
    with pytest.raises(ValidationError):
        CallDetails.model_validate({"status": "completed"})


def test_a_body_is_sent_as_compact_utf8_json() -> None:
    assert encode_json_body({"name": "Zoë", "n": [1, 2.5, True]}) == '{"name":"Zoë","n":[1,2.5,true]}'.encode()


@pytest.mark.parametrize(
    ("value", "why"),
    [
        ({"x": float("nan")}, "a number that is infinite or not a number"),
        ({"x": float("inf")}, "a number that is infinite or not a number"),
        ({"x": "half \ud800"}, "text that is not valid Unicode"),
    ],
    ids=["nan", "inf", "surrogate"],
)
def test_a_body_json_cannot_carry_is_refused_saying_why(value: Any, why: str) -> None:
    with pytest.raises(InvalidRequestError) as info:
        encode_json_body(value)
    assert str(info.value) == f"the request body contains {why}, which JSON cannot carry"


def test_a_body_that_is_not_json_at_all_is_refused_naming_the_problem() -> None:
    with pytest.raises(InvalidRequestError, match=r"cannot be written as JSON \(TypeError\)"):
        encode_json_body({"x": object()})
    deep: Any = []
    for _ in range(100_000):
        deep = [deep]
    with pytest.raises(InvalidRequestError, match=r"cannot be written as JSON \(RecursionError\)"):
        encode_json_body(deep)


def test_a_list_query_holds_the_page_the_limit_and_the_filters() -> None:
    assert list_query(page=2, limit=100, filters={"status": "completed"}) == {
        "page": 2,
        "limit": 100,
        "status": "completed",
    }
    assert list_query(page=1, limit=1, filters=None) == {"page": 1, "limit": 1}


@pytest.mark.parametrize(
    ("page", "limit", "filters", "message"),
    [
        (0, 20, None, "page must be an integer ≥ 1, not 0"),
        (True, 20, None, "page must be an integer ≥ 1, not True"),
        (1, 101, None, "limit must be an integer from 1 to 100, not 101"),
        (1, 0, None, "limit must be an integer from 1 to 100, not 0"),
        (1, 20, {"page": "3"}, "'page' cannot be used as a list filter"),
        (1, 20, {"call_id": "c"}, "'call_id' cannot be used as a list filter"),
        (1, 20, {"": "x"}, "'' cannot be used as a list filter"),
        (1, 20, {"status": 3}, "the value of filter 'status' must be a string"),
    ],
)
def test_a_list_query_outside_the_bounds_is_refused_before_sending(
    page: Any, limit: Any, filters: Any, message: str
) -> None:
    with pytest.raises(InvalidRequestError) as info:
        list_query(page=page, limit=limit, filters=filters)
    assert str(info.value) == message


def test_an_id_is_sent_stripped_and_an_empty_one_is_refused_naming_what_it_is() -> None:
    assert check_id("  c-1 \n") == "c-1"
    with pytest.raises(InvalidRequestError, match="call id must be a non-empty string, not '  '"):
        check_id("  ")
    with pytest.raises(InvalidRequestError, match="conversation id must be a non-empty string, not None"):
        check_id(None, what="conversation id")  # pyright: ignore[reportArgumentType]
