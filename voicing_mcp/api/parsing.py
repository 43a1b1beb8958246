"""Reading the Voicing API's answers: lenient, pure functions (no I/O, no client state, no MCP).

The vendor documents the single-call and dial answers, not the list shape or its page metadata, so a
list is recognised under several names (``data``/``calls``/``items``/``results`` or a bare list) and page
metadata under the usual spellings; unknown fields are kept on the records. A record whose optional
fields have odd types is still read. An answer that cannot be read is an :class:`~voicing_mcp.errors.APIError`
naming what was asked.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from json import dumps as json_dumps
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from voicing_mcp.api.constants import MAX_CALL_ID
from voicing_mcp.api.models import CallDetails, CallPage, OutboundCallResponse
from voicing_mcp.errors import APIError, APIStatusError, NotFoundError

if TYPE_CHECKING:
    import httpx

LIST_KEYS = ("data", "calls", "items", "results")
_META_CONTAINERS = ("meta", "pagination", "page_info", "paging")
_TOTAL_KEYS = ("total", "total_count", "count", "totalCount", "total_items", "totalItems")
_PAGES_KEYS = ("total_pages", "totalPages", "pages", "page_count")
_HAS_NEXT_KEYS = ("has_next", "has_more", "hasNext", "hasMore")
_NEXT_PAGE_KEYS = ("next_page", "nextPage")
_PAGE_KEYS = ("page", "current_page", "currentPage")
_LIMIT_KEYS = ("limit", "per_page", "page_size", "pageSize")
_REQUEST_ID_HEADERS = ("x-request-id", "request-id", "x-correlation-id", "x-amzn-requestid")
_SNIPPET = 200
_DETAIL_MAX = 1_000
"""The API's error text is quoted up to this many characters (a proxy may send megabytes)."""


def snippet(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _SNIPPET else text[:_SNIPPET] + "…"


def _as_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None


def _first(sources: Sequence[Mapping[str, Any]], keys: Sequence[str]) -> tuple[str, Any] | None:
    for source in sources:
        for key in keys:
            if key in source and source[key] is not None:
                return key, source[key]
    return None


def describe_validation(exc: ValidationError) -> str:
    parts: list[str] = []
    for err in exc.errors()[:3]:
        loc = ".".join(str(p) for p in err["loc"]) or "body"
        parts.append(f"{loc}: {err['msg']}")
    more = exc.error_count() - len(parts)
    return "; ".join(parts) + (f" (+{more} more)" if more > 0 else "")


def _cap_detail(text: str) -> str:
    if len(text) <= _DETAIL_MAX:
        return text
    return f"{text[:_DETAIL_MAX]}… ({len(text) - _DETAIL_MAX} more characters cut)"


def error_detail(body: Any, text: str) -> str | None:
    """The API's own error text: ``detail`` (or ``message``/``error``), else the raw body."""
    if isinstance(body, dict):
        for key in ("detail", "message", "error", "error_description", "msg"):
            value = body.get(key)
            if isinstance(value, str) and value.strip():
                return _cap_detail(value.strip())
            if isinstance(value, list) and value:  # FastAPI-style validation errors
                items: list[str] = []
                for item in value:
                    if isinstance(item, dict) and "msg" in item:
                        loc = item.get("loc")
                        where = ".".join(str(p) for p in loc) if isinstance(loc, list | tuple) else ""
                        items.append(f"{where}: {item['msg']}" if where else str(item["msg"]))
                    else:
                        items.append(str(item))
                return _cap_detail("; ".join(items))
            if isinstance(value, dict):
                nested = error_detail(value, "")
                if nested:
                    return nested
        return None
    if isinstance(body, str) and body.strip():
        return snippet(body)
    if body is None and text.strip():
        return snippet(text)
    return None


def request_id_of(response: httpx.Response, body: Any) -> str | None:
    for name in _REQUEST_ID_HEADERS:
        value = response.headers.get(name)
        if value:
            return value
    if isinstance(body, dict):
        value = body.get("request_id")
        if isinstance(value, str) and value:
            return value
    return None


def try_json(response: httpx.Response) -> Any:
    """The decoded JSON body, or None when the body is empty or not JSON."""
    if not response.content:
        return None
    try:
        return response.json()
    except (ValueError, RecursionError):  # JSONDecodeError, UnicodeDecodeError; nesting too deep to decode
        return None


def list_and_meta(body: Any, *, what: str) -> tuple[list[Any], list[Mapping[str, Any]], set[str]]:
    """Find the list of calls in an answer of undocumented shape.

    Returns the items, the mappings to read page metadata from (most specific first) and the
    top-level keys consumed.
    """
    if isinstance(body, list):
        return body, [], set()
    if not isinstance(body, dict):
        raise APIError(f"the Voicing API's answer to {what} is not a JSON object or list")
    metas: list[Mapping[str, Any]] = []
    for key in LIST_KEYS:
        if key not in body:
            continue
        value = body[key]
        if value is None:
            return [], [body], {key}
        if isinstance(value, list):
            metas = [body[c] for c in _META_CONTAINERS if isinstance(body.get(c), dict)]
            return value, [*metas, body], {key}
        if isinstance(value, dict):  # e.g. {"data": {"items": [...], "total": 3}}
            for inner in LIST_KEYS:
                if isinstance(value.get(inner), list):
                    return value[inner], [value, body], {key}
    raise APIError(
        f"the Voicing API's answer to {what} has no list of calls (looked for {', '.join(LIST_KEYS)} or a bare list)"
    )


def check_success(body: Any, *, what: str) -> None:
    """A 200 with ``success: false`` is an error too."""
    if isinstance(body, dict) and body.get("success") is False:
        detail = error_detail(body, "") or "no details"
        raise APIStatusError(
            f"the Voicing API answered {what} with success: false: {detail}",
            status_code=200,
            detail=detail,
            body=body,
        )


def _tolerate_odd_types(data: dict[str, Any]) -> None:
    """A record whose status or time is not a string, or whose duration is not a finite number, is still read:
    the text fields keep the value as JSON text, the duration is dropped. (One such record made a whole
    list_calls page, or a bulk request, unreadable — and with it the look-up that lifts an uncertain dial.)"""
    for name in ("status", "started_at", "ended_at"):
        value = data.get(name)
        if value is not None and not isinstance(value, str):
            try:
                data[name] = json_dumps(value, ensure_ascii=False, default=str)
            except (ValueError, RecursionError):
                data[name] = None
    duration = data.get("duration")
    if duration is not None:
        number: float | None = None
        if isinstance(duration, int | float) and not isinstance(duration, bool):
            number = float(duration)
        elif isinstance(duration, str):
            try:
                number = float(duration)
            except ValueError:
                number = None
        data["duration"] = number if number is not None and math.isfinite(number) else None


def call_from(item: Any, *, what: str) -> CallDetails:
    if not isinstance(item, dict):
        raise APIError(f"the Voicing API's answer to {what} has a call that is not a JSON object: {snippet(str(item))}")
    data: dict[str, Any] = dict(item)
    if data.get("call_id") is None and isinstance(data.get("id"), str | int):
        data["call_id"] = data["id"]
    if isinstance(data.get("call_id"), int) and not isinstance(data.get("call_id"), bool):
        data["call_id"] = str(data["call_id"])
    _tolerate_odd_types(data)
    try:
        return CallDetails.model_validate(data)
    except ValidationError as exc:
        raise APIError(f"the Voicing API's answer to {what} could not be read: {describe_validation(exc)}") from None


def parse_page(body: Any, *, page: int, limit: int, what: str = "list_calls") -> CallPage:
    """Normalise a list answer of any of the tolerated shapes into a :class:`CallPage`."""
    check_success(body, what=what)
    items, metas, consumed = list_and_meta(body, what=what)
    calls = [call_from(item, what=what) for item in items]
    used: set[str] = set(consumed)

    def pick(keys: Sequence[str]) -> Any:
        found = _first(metas, keys)
        if found is None:
            return None
        used.add(found[0])
        return found[1]

    got_page = _as_int(pick(_PAGE_KEYS)) or page
    got_limit = _as_int(pick(_LIMIT_KEYS)) or limit
    total = _as_int(pick(_TOTAL_KEYS))
    total_pages = _as_int(pick(_PAGES_KEYS))
    has_next: bool | None = None
    flag = pick(_HAS_NEXT_KEYS)
    if isinstance(flag, bool):
        has_next = flag
    else:
        found_next = _first(metas, _NEXT_PAGE_KEYS)
        if found_next is not None:
            used.add(found_next[0])
            nxt = found_next[1]
            has_next = bool(nxt) if isinstance(nxt, bool) else nxt not in ("", 0)
        elif any(k in m for m in metas for k in _NEXT_PAGE_KEYS):  # "next_page": null
            has_next = False
    if has_next is None and total_pages is not None:
        has_next = got_page < total_pages
    if has_next is None and total is not None:
        has_next = got_page * got_limit < total
    extras: dict[str, Any] = {}
    if isinstance(body, dict):
        extras = {
            k: v
            for k, v in body.items()
            if k not in used and k not in LIST_KEYS and k not in CallPage.model_fields and isinstance(k, str)
        }
    return CallPage.model_validate(
        {
            **extras,
            "calls": calls,
            "page": got_page,
            "limit": got_limit,
            "total": total,
            "total_pages": total_pages,
            "has_next": has_next,
        }
    )


def maybe_items(body: dict[str, Any] | list[Any]) -> list[Any]:
    if isinstance(body, list):
        return body
    for key in LIST_KEYS:
        value = body.get(key)
        if isinstance(value, list):
            return value
    return []


def looks_empty(body: dict[str, Any] | list[Any]) -> bool:
    """An answer that carries no call at all: ``{}``, ``[]``, ``{"data": null}``, ``{"success": true}``…"""
    if isinstance(body, list):
        return not body
    return all(body.get(key) in (None, [], {}) for key in (*LIST_KEYS, "call")) and "call_id" not in body


def not_found(
    call_id: str, detail: str | None, request_id: str | None, body: Any, *, status_code: int
) -> NotFoundError:
    """The one error for an unknown call id, whichever way the API said so (404, empty, success: false)."""
    message = f"call {call_id} not found"
    if detail and detail.lower() != message.lower():
        message = f"{message} (the API said: {detail})"
    message += ": check the call_id, or find it with list_calls"
    return NotFoundError(message, status_code=status_code, detail=detail, request_id=request_id, body=body)


def details_from(
    body: Any, *, call_id: str, what: str, response: httpx.Response, text: Callable[[], str]
) -> CallDetails:
    """The call in a ``get-call-details?call_id=`` answer. An unknown id (empty answer, ``success: false``, a list
    without it) → NotFoundError; an answer with no call in it → APIError quoting ``text()`` (the key-free body,
    made only then: decoding and scrubbing it cost every call)."""
    if isinstance(body, dict):
        if body.get("success") is False:
            detail = error_detail(body, "")
            raise not_found(call_id, detail, request_id_of(response, body), body, status_code=response.status_code)
        if body.get("call_id") is not None or body.get("id") is not None:
            return call_from(body, what=what)
        data = body.get("data")
        if isinstance(data, dict) and (data.get("call_id") is not None or data.get("id") is not None):
            return call_from(data, what=what)
    if isinstance(body, dict | list):
        items = maybe_items(body)
        for item in items:
            if isinstance(item, dict) and str(item.get("call_id", item.get("id"))) == call_id:
                return call_from(item, what=what)
        if items or looks_empty(body):
            raise not_found(call_id, None, request_id_of(response, body), body, status_code=response.status_code)
    raise APIError(f"the Voicing API's answer to {what} has no call in it: {snippet(text())!r}")


@dataclass(frozen=True)
class UnusableDialAnswer:
    """A 2xx dial answer that does not name a call: the call may ring all the same (the outcome is unknown)."""

    why: str
    status_code: int | None = None
    detail: str | None = None


def dial_answer(body: Any, *, status_code: int, empty: bool) -> OutboundCallResponse | UnusableDialAnswer:
    """The call a 2xx ``publish-outbound-call`` answer names (``call_id`` at the top or under ``data``)."""
    if body is None:
        why = "the answer was empty" if empty else "the answer was not JSON"
        return UnusableDialAnswer(f"HTTP {status_code}, {why}")
    if isinstance(body, dict):
        status = body.get("status")
        if body.get("success") is False or (isinstance(status, str) and status.lower() in {"error", "failed"}):
            # a 2xx is the API having handled the request; a failure reported inside it is undocumented
            # (it may come after the call was handed to the dialler): no proof that nothing rings
            detail = error_detail(body, "") or str(status or "no details")
            return UnusableDialAnswer(
                f"HTTP {status_code} reporting a failure the API does not document: {detail}",
                status_code=status_code,
                detail=detail,
            )
        source: dict[str, Any] = body
        if body.get("call_id") is None and isinstance(body.get("data"), dict):
            source = {**body, **body["data"]}
        call_id: Any = source.get("call_id")
        usable = isinstance(call_id, str | int) and not isinstance(call_id, bool) and str(call_id).strip()
        if usable and len(str(call_id).strip()) > MAX_CALL_ID:
            return UnusableDialAnswer(
                f"HTTP {status_code} with a call_id of {len(str(call_id).strip())} characters, "
                f"longer than any id this server can look up ({MAX_CALL_ID})"
            )
        if usable:
            try:
                return OutboundCallResponse.model_validate({**source, "call_id": str(source["call_id"])})
            except ValidationError as exc:  # pragma: no cover - call_id is the only required field
                return UnusableDialAnswer(str(exc))
    return UnusableDialAnswer(f"HTTP {status_code} without a call_id")


def has_next_page(page: CallPage) -> bool:
    """Whether a page follows ``page``: the API's word (``has_next`` and the like, or what ``total``/``total_pages``
    imply), else a full page; an empty page ends a walk whatever it says."""
    if not page.calls:
        return False
    if page.has_next is not None:
        return page.has_next
    return len(page.calls) >= page.limit
