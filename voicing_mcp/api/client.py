"""The async client of the Voicing AI API. Knows nothing of MCP.

One :class:`VoicingClient` owns one pooled ``httpx.AsyncClient`` for its lifetime. Every request
carries ``x-api-key``, ``Content-Type: application/json`` and ``User-Agent: voicing-mcp/<version>``.
Requests are validated before anything is sent; answers are parsed leniently (unknown fields
kept, the undocumented list shape recognised under several names). Retry rules live in
:mod:`voicing_mcp.api.retry`; the chatbot framing in :mod:`voicing_mcp.api.chat`.

The dial (``initiate_outbound_call``) is never resent once it may have reached the server:
without an answer it raises :class:`~voicing_mcp.errors.OutcomeUnknownError`.
"""

from __future__ import annotations

import functools
import logging
import math
import random
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Generator, Mapping, Sequence
from json import dumps as json_dumps
from typing import TYPE_CHECKING, Any, Self, TypeVar, cast

import anyio
import httpx
from pydantic import SecretStr, ValidationError

from voicing_mcp import __version__
from voicing_mcp.api.models import BulkResult, CallDetails, CallPage, OutboundCallRequest, OutboundCallResponse
from voicing_mcp.api.retry import Decision, RequestKind, backoff_delay, decide, dial_rejected, parse_retry_after
from voicing_mcp.errors import (
    APIConnectionError,
    APIError,
    APIStatusError,
    APITimeoutError,
    InvalidRequestError,
    NotFoundError,
    OutcomeUnknownError,
    VoicingError,
    status_error_for,
)
from voicing_mcp.redact import contains_secret, mask_number, redact_secret, redact_secret_in, redact_url

if TYPE_CHECKING:
    from types import TracebackType

    from anyio.abc import TaskGroup

    from voicing_mcp.api.chat import ChatSession

logger = logging.getLogger(__name__)

DIAL_PATH = "/api/v1/campaigns/publish-outbound-call"
DETAILS_PATH = "/api/v1/campaigns/get-call-details"
BULK_PATH = "/api/v1/campaigns/get-call-details/bulk-by-ids"

TIMEOUT = httpx.Timeout(connect=5.0, read=30.0, write=30.0, pool=5.0)
#: ids per bulk request (the API's limit is undocumented; 100 is the emulator's and the guide's page size)
BULK_CHUNK = 100
MAX_LIMIT = 100
#: the longest call id the tools take back (get_call_details, the voicing://calls/{id} resource): a dial answer
#: whose call_id is longer, or not a string or integer, names no call that can be followed
MAX_CALL_ID = 256

LIST_KEYS = ("data", "calls", "items", "results")
_META_CONTAINERS = ("meta", "pagination", "page_info", "paging")
_TOTAL_KEYS = ("total", "total_count", "count", "totalCount", "total_items", "totalItems")
_PAGES_KEYS = ("total_pages", "totalPages", "pages", "page_count")
_HAS_NEXT_KEYS = ("has_next", "has_more", "hasNext", "hasMore")
_NEXT_PAGE_KEYS = ("next_page", "nextPage")
_PAGE_KEYS = ("page", "current_page", "currentPage")
_LIMIT_KEYS = ("limit", "per_page", "page_size", "pageSize")
_REQUEST_ID_HEADERS = ("x-request-id", "request-id", "x-correlation-id", "x-amzn-requestid")
_RESERVED_FILTERS = frozenset({"page", "limit", "call_id"})
_SNIPPET = 200
_DETAIL_MAX = 1_000
"""The API's error text is quoted up to this many characters (a proxy may send megabytes)."""

ProgressCallback = Callable[[int, int], Awaitable[None]]


class _ApiKeyAuth(httpx.Auth):
    """Adds ``x-api-key`` to each request; the key stays a SecretStr everywhere else."""

    def __init__(self, key: SecretStr) -> None:
        self._key = key

    def __repr__(self) -> str:
        return "_ApiKeyAuth(**********)"

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["x-api-key"] = self._key.get_secret_value()
        yield request


# --------------------------------------------------------------------------- parsing helpers


def _snippet(text: str) -> str:
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


def _describe_validation(exc: ValidationError) -> str:
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
        return _snippet(body)
    if body is None and text.strip():
        return _snippet(text)
    return None


def _request_id(response: httpx.Response, body: Any) -> str | None:
    for name in _REQUEST_ID_HEADERS:
        value = response.headers.get(name)
        if value:
            return value
    if isinstance(body, dict):
        value = body.get("request_id")
        if isinstance(value, str) and value:
            return value
    return None


def _try_json(response: httpx.Response) -> Any:
    """The decoded JSON body, or None when the body is empty or not JSON."""
    if not response.content:
        return None
    try:
        return response.json()
    except (ValueError, RecursionError):  # JSONDecodeError, UnicodeDecodeError; nesting too deep to decode
        return None


def _list_and_meta(body: Any, *, what: str) -> tuple[list[Any], list[Mapping[str, Any]], set[str]]:
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


def _check_success(body: Any, *, what: str) -> None:
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


def _call_from(item: Any, *, what: str) -> CallDetails:
    if not isinstance(item, dict):
        raise APIError(
            f"the Voicing API's answer to {what} has a call that is not a JSON object: {_snippet(str(item))}"
        )
    data: dict[str, Any] = dict(item)
    if data.get("call_id") is None and isinstance(data.get("id"), str | int):
        data["call_id"] = data["id"]
    if isinstance(data.get("call_id"), int) and not isinstance(data.get("call_id"), bool):
        data["call_id"] = str(data["call_id"])
    _tolerate_odd_types(data)
    try:
        return CallDetails.model_validate(data)
    except ValidationError as exc:
        raise APIError(f"the Voicing API's answer to {what} could not be read: {_describe_validation(exc)}") from None


def parse_page(body: Any, *, page: int, limit: int, what: str = "list_calls") -> CallPage:
    """Normalise a list answer of any of the tolerated shapes into a :class:`CallPage`."""
    _check_success(body, what=what)
    items, metas, consumed = _list_and_meta(body, what=what)
    calls = [_call_from(item, what=what) for item in items]
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


# --------------------------------------------------------------------------- the client

_Method = TypeVar("_Method", bound=Callable[..., Coroutine[Any, Any, Any]])


def _keyless(method: _Method) -> _Method:
    """Every error a public method raises leaves without the API key in it, whatever the API echoed."""

    @functools.wraps(method)
    async def wrapper(self: VoicingClient, *args: Any, **kwargs: Any) -> Any:
        try:
            return await method(self, *args, **kwargs)
        except VoicingError as exc:
            self._scrub_error(exc)  # pyright: ignore[reportPrivateUsage]
            raise

    return cast("_Method", wrapper)


class VoicingClient:
    """Async client of the Voicing AI API. Use ``async with VoicingClient(...) as client:``."""

    def __init__(
        self,
        *,
        base_url: str,
        api_key: str | SecretStr,
        max_retries: int = 2,
        bulk_concurrency: int = 4,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        if not base_url.lower().startswith(("http://", "https://")):
            raise InvalidRequestError(f"the base URL {redact_url(base_url)!r} must start with http:// or https://")
        if max_retries < 0:
            raise InvalidRequestError("max_retries must be 0 or more")
        if bulk_concurrency < 1:
            raise InvalidRequestError("bulk_concurrency must be at least 1")
        self.base_url = base_url.rstrip("/")
        self.max_retries = max_retries
        self.bulk_concurrency = bulk_concurrency
        self._api_key = api_key if isinstance(api_key, SecretStr) else SecretStr(api_key)
        if any(ch.isspace() or not ch.isprintable() for ch in self._api_key.get_secret_value()):
            # an HTTP header cannot carry it, and httpx's error would quote the key
            raise InvalidRequestError(
                "the API key contains a space, line break or control character; pass the key alone (not shown here)"
            )
        self._user_agent = f"voicing-mcp/{__version__}"
        self._rng = random.Random()
        self._http = httpx.AsyncClient(
            base_url=self.base_url,
            auth=_ApiKeyAuth(self._api_key),
            headers={"Content-Type": "application/json", "User-Agent": self._user_agent, "Accept": "application/json"},
            timeout=TIMEOUT,
            limits=httpx.Limits(
                max_connections=max(10, bulk_concurrency * 2),
                max_keepalive_connections=max(5, bulk_concurrency),
                keepalive_expiry=30.0,
            ),
            transport=transport,
            follow_redirects=False,
        )

    def __repr__(self) -> str:
        return f"VoicingClient(base_url={redact_url(self.base_url)!r}, max_retries={self.max_retries})"

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    # ----------------------------------------------------------------------- transport + retries

    async def _request(
        self,
        kind: RequestKind,
        method: str,
        path: str,
        *,
        what: str,
        params: Mapping[str, str | int] | None = None,
        json: Any = None,
    ) -> httpx.Response:
        """Send with the retry rules of :mod:`voicing_mcp.api.retry`; return a 2xx response or raise."""
        content = encode_json_body(json) if json is not None else None
        try:  # everything that can fail before a byte leaves fails here: nothing was sent
            request = self._http.build_request(method, path, params=params, content=content)
        except (httpx.InvalidURL, ValueError, TypeError) as exc:
            raise InvalidRequestError(
                f"the request for {what} could not be built ({type(exc).__name__}); nothing was sent"
            ) from None
        retries_done = 0
        while True:
            try:
                response = await self._http.send(request)
            except httpx.RequestError as exc:
                decision = decide(kind, retries_done=retries_done, max_retries=self.max_retries, error=exc)
                if decision is Decision.OUTCOME_UNKNOWN:
                    logger.error("%s %s: no answer (%s); outcome unknown, NOT retried", method, path, _reason(exc))
                    raise self._outcome_unknown(exc, method=method, path=path) from exc
                if decision is Decision.GIVE_UP:
                    raise self._connection_error(exc, what=what, attempts=retries_done + 1, method=method) from exc
                delay = backoff_delay(retries_done, retry_after=None, rng=self._rng)
                reason = _reason(exc)
            else:
                if response.is_success:
                    return response
                error = self._status_error(response, method=method)
                decision = decide(
                    kind, retries_done=retries_done, max_retries=self.max_retries, status_code=response.status_code
                )
                if decision is not Decision.RETRY:
                    raise error
                delay = backoff_delay(
                    retries_done, retry_after=parse_retry_after(response.headers.get("retry-after")), rng=self._rng
                )
                reason = f"HTTP {response.status_code}"
            retries_done += 1
            logger.warning(
                "%s %s: %s; retry %d of %d in %.2f s", method, path, reason, retries_done, self.max_retries, delay
            )
            await anyio.sleep(delay)

    def _status_error(self, response: httpx.Response, *, method: str) -> APIStatusError:
        body = self._decoded(response)
        text = self._no_key(response.text)
        return status_error_for(
            response.status_code,
            detail=error_detail(body, text),
            body=body if body is not None else _snippet(text),
            request_id=_request_id(response, body),
            retry_after=parse_retry_after(response.headers.get("retry-after")),
            method=method,
            url=str(response.request.url),
        )

    def _connection_error(self, exc: httpx.RequestError, *, what: str, attempts: int, method: str) -> APIError:
        host = httpx.URL(self.base_url).host
        tries = f"{attempts} attempt{'s' if attempts != 1 else ''}"
        url = str(exc.request.url) if _has_request(exc) else None
        if isinstance(exc, httpx.TimeoutException):
            return APITimeoutError(
                f"the Voicing API at {host} did not answer {what} in time ({_reason(exc)}, {tries})",
                method=method,
                url=url,
            )
        return APIConnectionError(
            f"could not reach the Voicing API at {host} for {what} ({_reason(exc)}, {tries}); "
            "check VOICING_ENV / VOICING_BASE_URL and the network",
            method=method,
            url=url,
        )

    def _outcome_unknown(
        self,
        exc: BaseException | None,
        *,
        method: str,
        path: str,
        why: str = "",
        status_code: int | None = None,
        detail: str | None = None,
    ) -> APIError:
        reason = why or (_reason(exc) if exc is not None else "no answer")
        return OutcomeUnknownError(
            f"the dial request may have reached the Voicing API, but no usable answer came back ({reason}). "
            "The call may be ringing now. It was NOT retried, so that nobody is dialled twice. "
            "Check with get_call_details or list_calls (look for a recent call to this number and assistant) "
            "before dialling again.",
            method=method,
            url=redact_url(f"{self.base_url}{path}"),
            status_code=status_code,
            detail=detail,
        )

    def _no_key(self, text: str) -> str:
        """Third-party text without the API key (an API or proxy that echoes the request)."""
        return redact_secret(text, self._api_key.get_secret_value())

    def _decoded(self, response: httpx.Response) -> Any:
        """The JSON body (None when empty or not JSON), with the API key removed from every string in it."""
        return self._redacted(_try_json(response))

    def _redacted(self, body: Any) -> Any:
        """``body`` with the API key removed from every string (records are kept whole, unknown fields included,
        so a record that quotes the key would hand it to the model otherwise)."""
        key = self._api_key.get_secret_value()
        if body is None:
            return None
        try:
            if not contains_secret(json_dumps(body, ensure_ascii=False, default=str), key):
                return body
            return redact_secret_in(body, key)
        except RecursionError:  # nested too deep to walk: not shown at all
            raise APIError("the Voicing API's answer is nested too deep to be checked for the API key") from None

    def _scrub_error(self, exc: VoicingError) -> None:
        """Remove the API key from an error leaving the client: its message, the API's detail and body, the URL."""
        key = self._api_key.get_secret_value()
        exc.message = redact_secret(exc.message, key)
        exc.args = (exc.message,)
        for name in ("detail", "url"):
            value = getattr(exc, name, None)
            if isinstance(value, str):
                setattr(exc, name, redact_secret(value, key))
        if isinstance(exc, APIStatusError) and exc.body is not None:
            try:
                exc.body = redact_secret_in(exc.body, key)
            except RecursionError:
                exc.body = None

    def _json(self, response: httpx.Response, *, what: str) -> Any:
        if not response.content:
            raise APIError(f"the Voicing API answered {what} with HTTP {response.status_code} and an empty body")
        try:
            return self._redacted(response.json())
        except (ValueError, RecursionError):  # RecursionError: nesting too deep to decode
            raise APIError(
                f"the Voicing API answered {what} with HTTP {response.status_code}, "
                f"but the body is not JSON: {_snippet(self._no_key(response.text))!r}"
            ) from None

    # ----------------------------------------------------------------------- endpoints

    @_keyless
    async def initiate_outbound_call(self, req: OutboundCallRequest) -> OutboundCallResponse:
        """POST publish-outbound-call: dials a real phone. Never resent once it may have left."""
        if not isinstance(req, OutboundCallRequest):  # pyright: ignore[reportUnnecessaryIsInstance]
            raise InvalidRequestError("initiate_outbound_call needs an OutboundCallRequest")
        try:  # re-validate: a model_construct()ed request would skip the strict checks
            checked = OutboundCallRequest.model_validate(req.model_dump())
        except ValidationError as exc:
            raise InvalidRequestError(f"invalid outbound call request: {_describe_validation(exc)}") from None
        payload = checked.model_dump(mode="json")
        logger.info(
            "dialling %s with assistant %s (provider %s)",
            mask_number(checked.phone_number),
            checked.assistant_id,
            checked.telephony_provider,
        )
        try:
            response = await self._request("dial", "POST", DIAL_PATH, what="the dial request", json=payload)
        except APIStatusError as exc:
            if dial_rejected(exc.status_code, exc.body):
                raise  # a documented rejection: no call was placed
            detail = f": {exc.detail}" if exc.detail else ""
            logger.error("POST %s: HTTP %d is no documented rejection; outcome unknown", DIAL_PATH, exc.status_code)
            raise self._outcome_unknown(
                None,
                method="POST",
                path=DIAL_PATH,
                why=f"HTTP {exc.status_code}{detail} — not one of the API's documented refusals, so it may come "
                "from a gateway that had already passed the request on",
                status_code=exc.status_code,
                detail=exc.detail,
            ) from None
        body = self._decoded(response)
        if body is None:
            why = "the answer was empty" if not response.content else "the answer was not JSON"
            raise self._outcome_unknown(None, method="POST", path=DIAL_PATH, why=f"HTTP {response.status_code}, {why}")
        if isinstance(body, dict):
            status = body.get("status")
            if body.get("success") is False or (isinstance(status, str) and status.lower() in {"error", "failed"}):
                # a 2xx is the API having handled the request; a failure reported inside it is undocumented
                # (it may come after the call was handed to the dialler): no proof that nothing rings
                detail = error_detail(body, "") or str(status or "no details")
                raise self._outcome_unknown(
                    None,
                    method="POST",
                    path=DIAL_PATH,
                    why=f"HTTP {response.status_code} reporting a failure the API does not document: {detail}",
                    status_code=response.status_code,
                    detail=detail,
                )
            source: dict[str, Any] = body
            if body.get("call_id") is None and isinstance(body.get("data"), dict):
                source = {**body, **body["data"]}
            call_id: Any = source.get("call_id")
            usable = isinstance(call_id, str | int) and not isinstance(call_id, bool) and str(call_id).strip()
            if usable and len(str(call_id).strip()) > MAX_CALL_ID:
                raise self._outcome_unknown(
                    None,
                    method="POST",
                    path=DIAL_PATH,
                    why=f"HTTP {response.status_code} with a call_id of {len(str(call_id).strip())} characters, "
                    f"longer than any id this server can look up ({MAX_CALL_ID})",
                )
            if usable:
                try:
                    result = OutboundCallResponse.model_validate({**source, "call_id": str(source["call_id"])})
                except ValidationError as exc:  # pragma: no cover - call_id is the only required field
                    raise self._outcome_unknown(None, method="POST", path=DIAL_PATH, why=str(exc)) from None
                logger.info("dial accepted: call %s", result.call_id)
                return result
        raise self._outcome_unknown(
            None, method="POST", path=DIAL_PATH, why=f"HTTP {response.status_code} without a call_id"
        )

    @_keyless
    async def get_call_details(self, call_id: str) -> CallDetails:
        """One call by id. An unknown id (404, empty answer or ``success: false``) → NotFoundError."""
        call_id = _check_id(call_id)
        what = f"get_call_details({call_id})"
        try:
            response = await self._request(
                "read", "GET", DETAILS_PATH, what=f"the details of call {call_id}", params={"call_id": call_id}
            )
        except NotFoundError as exc:
            raise _not_found(call_id, exc.detail, exc.request_id, exc.body, status_code=exc.status_code) from None
        body = self._json(response, what=what)
        if isinstance(body, dict):
            if body.get("success") is False:
                detail = error_detail(body, "")
                raise _not_found(call_id, detail, _request_id(response, body), body, status_code=response.status_code)
            if body.get("call_id") is not None or body.get("id") is not None:
                return _call_from(body, what=what)
            data = body.get("data")
            if isinstance(data, dict) and (data.get("call_id") is not None or data.get("id") is not None):
                return _call_from(data, what=what)
        if isinstance(body, dict | list):
            items = _maybe_items(body)
            for item in items:
                if isinstance(item, dict) and str(item.get("call_id", item.get("id"))) == call_id:
                    return _call_from(item, what=what)
            if items or _looks_empty(body):
                raise _not_found(call_id, None, _request_id(response, body), body, status_code=response.status_code)
        raise APIError(
            f"the Voicing API's answer to {what} has no call in it: {_snippet(self._no_key(response.text))!r}"
        )

    @_keyless
    async def list_calls(self, *, page: int = 1, limit: int = 20, filters: Mapping[str, str] | None = None) -> CallPage:
        """One page of calls. ``filters`` are passed through as query parameters."""
        if isinstance(page, bool) or not isinstance(page, int) or page < 1:  # pyright: ignore[reportUnnecessaryIsInstance]
            raise InvalidRequestError(f"page must be an integer ≥ 1, not {page!r}")
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:  # pyright: ignore[reportUnnecessaryIsInstance]
            raise InvalidRequestError(f"limit must be an integer from 1 to {MAX_LIMIT}, not {limit!r}")
        params: dict[str, str | int] = {"page": page, "limit": limit}
        for key, value in (filters or {}).items():
            if not isinstance(key, str) or not key or key in _RESERVED_FILTERS:  # pyright: ignore[reportUnnecessaryIsInstance]
                raise InvalidRequestError(f"{key!r} cannot be used as a list filter")
            if not isinstance(value, str):  # pyright: ignore[reportUnnecessaryIsInstance]
                raise InvalidRequestError(f"the value of filter {key!r} must be a string")
            params[key] = value
        what = f"list_calls(page={page}, limit={limit})"
        response = await self._request("read", "GET", DETAILS_PATH, what=f"the call list (page {page})", params=params)
        return parse_page(self._json(response, what=what), page=page, limit=limit, what=what)

    async def iter_calls(
        self, *, limit: int = 100, filters: Mapping[str, str] | None = None
    ) -> AsyncIterator[CallDetails]:
        """Every call, page after page, until the API says there is no next page.

        A call seen on an earlier page is not yielded again (a newest-first list shifts while
        new calls arrive); a page with nothing new ends the walk, so an API that ignores
        ``page`` cannot loop forever.
        """
        page = 1
        seen: set[str] = set()
        while True:
            result = await self.list_calls(page=page, limit=limit, filters=filters)
            fresh = [c for c in result.calls if c.call_id not in seen]
            if not fresh:
                if result.calls:
                    logger.warning("list page %d repeated earlier calls only; stopping", page)
                return
            for call in fresh:
                seen.add(call.call_id)
                yield call
            if result.has_next is False:
                return
            if result.has_next is None and len(result.calls) < result.limit:
                return
            page += 1

    @_keyless
    async def bulk_call_details(
        self, call_ids: Sequence[str], *, on_progress: ProgressCallback | None = None
    ) -> BulkResult:
        """Details of many calls: requests of ≤100 ids, run concurrently, results in request order."""
        if isinstance(call_ids, str | bytes):
            raise InvalidRequestError("call_ids must be a list of ids, not a single string")
        ids = [_check_id(i) for i in call_ids]
        total = len(ids)
        if not ids:
            return BulkResult(calls=[], missing=[])
        chunks = [ids[i : i + BULK_CHUNK] for i in range(0, total, BULK_CHUNK)]
        found: list[list[CallDetails]] = [[] for _ in chunks]
        limiter = anyio.CapacityLimiter(self.bulk_concurrency)
        done = 0
        failure: tuple[int, APIError] | None = None
        callback_error: Exception | None = None

        async def run(index: int, chunk: list[str], tg: TaskGroup) -> None:
            nonlocal done, failure, callback_error
            try:
                async with limiter:
                    found[index] = await self._bulk_chunk(chunk, index=index, count=len(chunks))
            except APIError as exc:
                if failure is None:
                    failure = (index, exc)
                tg.cancel_scope.cancel()
                return
            done += len(chunk)
            if on_progress is not None:
                try:
                    await on_progress(done, total)
                except Exception as exc:  # re-raised below, unwrapped: the first one wins
                    if callback_error is None:
                        callback_error = exc
                    tg.cancel_scope.cancel()

        async with anyio.create_task_group() as tg:
            for index, chunk in enumerate(chunks):
                tg.start_soon(run, index, chunk, tg)
        if callback_error is not None:
            raise callback_error
        if failure is not None:
            index, exc = failure
            start = index * BULK_CHUNK
            exc.message = (
                f"bulk request {index + 1} of {len(chunks)} (ids {start + 1}-{start + len(chunks[index])} "
                f"of {total}) failed: {exc.message}"
            )
            raise exc
        by_id: dict[str, CallDetails] = {}
        for chunk_calls in found:
            for call in chunk_calls:
                by_id.setdefault(call.call_id, call)
        calls: list[CallDetails] = []
        missing: list[str] = []
        for call_id in ids:
            call = by_id.get(call_id)
            if call is None:
                missing.append(call_id)
            else:
                calls.append(call)
        return BulkResult(calls=calls, missing=missing)

    async def _bulk_chunk(self, chunk: list[str], *, index: int, count: int) -> list[CallDetails]:
        what = f"bulk_call_details (request {index + 1} of {count})"
        response = await self._request(
            "read", "POST", BULK_PATH, what=f"bulk request {index + 1} of {count}", json={"call_ids": chunk}
        )
        body = self._json(response, what=what)
        _check_success(body, what=what)
        items, _, _ = _list_and_meta(body, what=what)
        return [_call_from(item, what=what) for item in items]

    def chat(self, assistant_id: str, *, reply_timeout: float = 30.0) -> ChatSession:
        """A chat session with an assistant: ``async with client.chat(a) as s: await s.send("hi")``."""
        from voicing_mcp.api.chat import ChatSession, ws_url

        assistant_id = _check_id(assistant_id, what="assistant_id")
        return ChatSession(
            url=ws_url(self.base_url, assistant_id),
            api_key=self._api_key,
            assistant_id=assistant_id,
            reply_timeout=reply_timeout,
            user_agent=self._user_agent,
        )


# --------------------------------------------------------------------------- small helpers


def _reason(exc: BaseException) -> str:
    text = str(exc).strip()
    name = type(exc).__name__
    return f"{name}: {_snippet(text)}" if text and text != name else name


def _has_request(exc: httpx.RequestError) -> bool:
    try:
        exc.request  # noqa: B018 - raises RuntimeError when the error was raised outside a request
    except RuntimeError:
        return False
    return True


def _check_id(value: str, *, what: str = "call id") -> str:
    if not isinstance(value, str) or not value.strip():  # pyright: ignore[reportUnnecessaryIsInstance]
        raise InvalidRequestError(f"{what} must be a non-empty string, not {value!r}")
    return value.strip()


def _maybe_items(body: dict[str, Any] | list[Any]) -> list[Any]:
    if isinstance(body, list):
        return body
    for key in LIST_KEYS:
        value = body.get(key)
        if isinstance(value, list):
            return value
    return []


def _looks_empty(body: dict[str, Any] | list[Any]) -> bool:
    """An answer that carries no call at all: ``{}``, ``[]``, ``{"data": null}``, ``{"success": true}``…"""
    if isinstance(body, list):
        return not body
    return all(body.get(key) in (None, [], {}) for key in (*LIST_KEYS, "call")) and "call_id" not in body


def _not_found(
    call_id: str, detail: str | None, request_id: str | None, body: Any, *, status_code: int
) -> NotFoundError:
    """The one error for an unknown call id, whichever way the API said so (404, empty, success: false)."""
    message = f"call {call_id} not found"
    if detail and detail.lower() != message.lower():
        message = f"{message} (the API said: {detail})"
    message += ": check the call_id, or find it with list_calls"
    return NotFoundError(message, status_code=status_code, detail=detail, request_id=request_id, body=body)
