"""Helpers of the guard's tests: a check of one request given as the tool's arguments."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from voicing_mcp.guard.decision import CheckedDial
from voicing_mcp.guard.ledger import DialRow
from voicing_mcp.guard.policy import DialGuard
from voicing_mcp.guard.request import DialRequest


async def check(
    guard: DialGuard,
    *,
    assistant_id: str,
    phone_number: str,
    input_variables: Mapping[str, Any] | None = None,
    telephony_provider: str = "default",
    reconcile: Callable[[DialRow], Awaitable[str | None]] | None = None,
    call_status: Callable[[str], Awaitable[str | None]] | None = None,
) -> CheckedDial:
    """``guard.check`` of the request these arguments make (checks 1-4)."""
    request = DialRequest.of(assistant_id, phone_number, input_variables, telephony_provider)
    return await guard.check(request, reconcile=reconcile, call_status=call_status)
