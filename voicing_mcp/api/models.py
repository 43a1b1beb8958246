"""Wire models of the Voicing API.

Requests are strict (unknown fields forbidden, types checked before anything is sent);
responses are lenient: unknown fields are kept (``extra="allow"``) and optional fields may
be missing, because the vendor's guide shows only examples.
"""

from __future__ import annotations

from collections.abc import Mapping
from json import dumps as json_dumps
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from voicing_mcp.api.constants import MAX_PAGE_SIZE
from voicing_mcp.errors import InvalidRequestError

VariableValue = str | int | float | bool
_RESERVED_FILTERS = frozenset({"page", "limit", "call_id"})


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


def encode_json_body(value: Any) -> bytes:
    """A request body as the client sends it: compact UTF-8 JSON, no NaN/Infinity (not JSON), no lone surrogate.

    Raises InvalidRequestError (nothing sent). The dial guard encodes the dial's body with this before it
    writes the ledger intent, so a request that cannot be sent is refused with nothing written.
    """
    try:
        return json_dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode("utf-8")
    except ValueError as exc:  # "Out of range float values are not JSON compliant"; UnicodeEncodeError
        why = "a number that is infinite or not a number" if "float" in str(exc) else "text that is not valid Unicode"
        raise InvalidRequestError(f"the request body contains {why}, which JSON cannot carry") from None
    except (TypeError, RecursionError) as exc:
        raise InvalidRequestError(f"the request body cannot be written as JSON ({type(exc).__name__})") from None


def list_query(*, page: int, limit: int, filters: Mapping[str, str] | None) -> dict[str, str | int]:
    """The query of one list page; ``filters`` are passed through. Raises InvalidRequestError (nothing sent)."""
    if isinstance(page, bool) or not isinstance(page, int) or page < 1:  # pyright: ignore[reportUnnecessaryIsInstance]
        raise InvalidRequestError(f"page must be an integer ≥ 1, not {page!r}")
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_PAGE_SIZE:  # pyright: ignore[reportUnnecessaryIsInstance]
        raise InvalidRequestError(f"limit must be an integer from 1 to {MAX_PAGE_SIZE}, not {limit!r}")
    params: dict[str, str | int] = {"page": page, "limit": limit}
    for key, value in (filters or {}).items():
        if not isinstance(key, str) or not key or key in _RESERVED_FILTERS:  # pyright: ignore[reportUnnecessaryIsInstance]
            raise InvalidRequestError(f"{key!r} cannot be used as a list filter")
        if not isinstance(value, str):  # pyright: ignore[reportUnnecessaryIsInstance]
            raise InvalidRequestError(f"the value of filter {key!r} must be a string")
        params[key] = value
    return params


def check_id(value: str, *, what: str = "call id") -> str:
    """An id as sent: a non-empty string, stripped. Raises InvalidRequestError (nothing sent)."""
    if not isinstance(value, str) or not value.strip():  # pyright: ignore[reportUnnecessaryIsInstance]
        raise InvalidRequestError(f"{what} must be a non-empty string, not {value!r}")
    return value.strip()
