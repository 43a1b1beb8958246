"""Wire models of the Voicing API.

Requests are strict (unknown fields forbidden, types checked before anything is sent);
responses are lenient: unknown fields are kept (``extra="allow"``) and optional fields may
be missing, because the vendor's guide shows only examples.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

VariableValue = str | int | float | bool


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)

    def extra_fields(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


class OutboundCallRequest(_Strict):
    """Body of ``POST /api/v1/campaigns/publish-outbound-call`` (the documented four fields)."""

    assistant_id: str = Field(min_length=1)
    phone_number: str = Field(min_length=1)
    input_variables: dict[str, VariableValue] = Field(default_factory=dict)
    telephony_provider: str = Field(default="default", min_length=1)


class OutboundCallResponse(_Lenient):
    """200 answer of the dial endpoint."""

    status: str | None = None
    message: str | None = None
    call_id: str


class CallDetails(_Lenient):
    """One call. Only ``call_id`` is required; every field the API adds is kept."""

    call_id: str
    status: str | None = None
    duration: float | None = None
    started_at: str | None = None
    ended_at: str | None = None


class CallPage(_Lenient):
    """One page of ``GET get-call-details?page=&limit=``.

    The list shape is undocumented: the client accepts ``data``/``calls``/``items``/``results``
    (or a bare list) and the usual page metadata names, and normalises them here.
    """

    calls: list[CallDetails] = Field(default_factory=list)
    page: int
    limit: int
    total: int | None = None
    total_pages: int | None = None
    has_next: bool | None = None


class BulkResult(BaseModel):
    """Bulk details in request order, plus the ids the API did not return."""

    calls: list[CallDetails]
    missing: list[str]
