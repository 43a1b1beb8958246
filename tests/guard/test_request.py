"""guard/request.py: the dial request as one frozen value, and the digests an approval is bound to."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from voicing_mcp.api.models import OutboundCallRequest
from voicing_mcp.guard.request import DialRequest, manifest_digest, request_digest


def outbound(**changes: Any) -> OutboundCallRequest:
    fields: dict[str, Any] = {
        "assistant_id": "asst-1",
        "phone_number": "+17015550123",
        "input_variables": {"name": "Ada", "amount": 12},
        "telephony_provider": "default",
    }
    return OutboundCallRequest(**{**fields, **changes})


def test_a_request_is_frozen_and_its_variables_are_a_read_only_copy_of_what_the_model_sent() -> None:
    sent = {"name": "Ada"}
    req = DialRequest.of("asst-1", "+17015550123", sent)
    sent["name"] = "Eve"  # the caller's dict changing later changes nothing
    assert req.input_variables == {"name": "Ada"}
    with pytest.raises(TypeError):
        req.input_variables["name"] = "Eve"  # type: ignore[index]
    with pytest.raises(dataclasses.FrozenInstanceError):
        req.phone_number = "+17015550199"  # type: ignore[misc]


def test_a_request_without_variables_has_an_empty_mapping_and_the_default_provider() -> None:
    req = DialRequest.of("asst-1", "+17015550123")
    assert dict(req.input_variables) == {} and req.telephony_provider == "default"
    assert req.confirmation_token is None


def test_the_digest_ignores_the_order_variables_were_written_in() -> None:
    a = outbound(input_variables={"name": "Ada", "amount": 12})
    b = outbound(input_variables={"amount": 12, "name": "Ada"})
    assert request_digest(a) == request_digest(b)
    assert len(request_digest(a)) == 64 and int(request_digest(a), 16) >= 0


@pytest.mark.parametrize(
    "change",
    [
        {"phone_number": "+17015550124"},
        {"assistant_id": "asst-2"},
        {"input_variables": {"name": "Ada", "amount": 13}},
        {"input_variables": {"name": "Ada"}},
        {"telephony_provider": "twilio"},
    ],
)
def test_any_change_to_what_would_be_dialled_changes_the_digest(change: dict[str, Any]) -> None:
    assert request_digest(outbound(**change)) != request_digest(outbound())


def test_a_batch_digest_binds_its_rows_and_their_order() -> None:
    one, two = outbound(), outbound(phone_number="+17015550124")
    assert manifest_digest((one, two)) == manifest_digest((outbound(), outbound(phone_number="+17015550124")))
    assert manifest_digest((one, two)) != manifest_digest((two, one))
    assert manifest_digest((one, two)) != manifest_digest((one,))
    assert manifest_digest((one,)) != request_digest(one)  # a batch of one is not the single request's approval
