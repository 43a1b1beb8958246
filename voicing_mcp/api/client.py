"""The async client of the Voicing AI API. Knows nothing of MCP.

One :class:`VoicingClient` owns one pooled ``httpx.AsyncClient`` for its lifetime. Every request
carries ``x-api-key``, ``Content-Type: application/json`` and ``User-Agent: voicing-mcp/<version>``.
Requests are validated before anything is sent (:mod:`voicing_mcp.api.models`); answers are read
leniently by :mod:`voicing_mcp.api.parsing`. The list is walked by one iterator,
:meth:`VoicingClient.iter_pages`. Limits and timeouts are in :mod:`voicing_mcp.api.constants`, retry
rules in :mod:`voicing_mcp.api.retry`, the bulk fan-out in :mod:`voicing_mcp.api.bulk`, the key's
safety in :mod:`voicing_mcp.api.secrecy`, the chatbot framing in :mod:`voicing_mcp.api.chat`.

The dial (``initiate_outbound_call``) is never resent once it may have reached the server:
without an answer it raises :class:`~voicing_mcp.errors.OutcomeUnknownError`.
"""

from __future__ import annotations

import functools
import logging
import random
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Self, TypeVar, cast

import anyio
from pydantic import SecretStr, ValidationError

from voicing_mcp import __version__
from voicing_mcp.api.bulk import ProgressCallback, fetch_in_chunks
from voicing_mcp.api.constants import (
    BULK_PATH,
    CHAT_REPLY_TIMEOUT,
    DEFAULT_BULK_CONCURRENCY,
    DEFAULT_PAGE_SIZE,
    DETAILS_PATH,
    DIAL_PATH,
    MAX_PAGE_SIZE,
)
from voicing_mcp.api.models import (
    BulkResult,
    CallDetails,
    CallPage,
    OutboundCallRequest,
    OutboundCallResponse,
    check_id,
    encode_json_body,
    list_query,
)
from voicing_mcp.api.parsing import (
    UnusableDialAnswer,
    call_from,
    check_success,
    describe_validation,
    details_from,
    dial_answer,
    error_detail,
    has_next_page,
    list_and_meta,
    not_found,
    parse_page,
    request_id_of,
    snippet,
    try_json,
)
from voicing_mcp.api.retry import Decision, RequestKind, backoff_delay, decide, dial_rejected, parse_retry_after
from voicing_mcp.api.secrecy import checked_key, scrub_error, without_key
from voicing_mcp.errors import (
    APIError,
    APIStatusError,
    InvalidRequestError,
    NotFoundError,
    OutcomeUnknownError,
    VoicingError,
    status_error_for,
)
from voicing_mcp.redact import mask_number, redact_secret, redact_url

if TYPE_CHECKING:
    from types import TracebackType

    import httpx

    from voicing_mcp.api.chat import ChatSession, ChatValues

logger = logging.getLogger(__name__)

_Method = TypeVar("_Method", bound=Callable[..., Coroutine[Any, Any, Any]])


def _keyless(method: _Method) -> _Method:
    """Every error a public method raises leaves without the API key in it, whatever the API echoed."""

    @functools.wraps(method)
    async def wrapper(self: VoicingClient, *args: Any, **kwargs: Any) -> Any:
        try:
            return await method(self, *args, **kwargs)
        except VoicingError as exc:
            scrub_error(exc, self._api_key.get_secret_value())  # pyright: ignore[reportPrivateUsage]
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
        bulk_concurrency: int = DEFAULT_BULK_CONCURRENCY,
        transport: httpx.AsyncBaseTransport | None = None,
        starter: Callable[[], Awaitable[str]] | None = None,
    ) -> None:
        """``starter``: an API that starts on first use (local mode's emulator), awaited before the first request;
        it returns the real base URL (until then ``base_url`` is a placeholder)."""
        if not base_url.lower().startswith(("http://", "https://")):
            raise InvalidRequestError(f"the base URL {redact_url(base_url)!r} must start with http:// or https://")
        if max_retries < 0:
            raise InvalidRequestError("max_retries must be 0 or more")
        if bulk_concurrency < 1:
            raise InvalidRequestError("bulk_concurrency must be at least 1")
        self.base_url = base_url.rstrip("/")
        self.max_retries = max_retries
        self.bulk_concurrency = bulk_concurrency
        self._api_key = checked_key(api_key)
        self._user_agent = f"voicing-mcp/{__version__}"
        self._rng = random.Random()
        self._transport = transport
        self._starter = starter
        self._pool: httpx.AsyncClient | None = None

    @property
    def _http(self) -> httpx.AsyncClient:
        """The pooled HTTP client, made on the first request (:mod:`voicing_mcp.api.pool` says why)."""
        if self._pool is None:
            from voicing_mcp.api.pool import http_pool  # noqa: PLC0415 (httpx ~30-40 ms with pygments/rich: on the first API request, not at start)

            self._pool = http_pool(
                self.base_url, self._api_key, self._user_agent, self.bulk_concurrency, self._transport
            )
        return self._pool

    async def ready(self) -> None:
        """Start the API if it starts on first use (``starter``): every request awaits it, and :meth:`chat` needs
        it awaited first (a chat's URL is fixed when it is made)."""
        starter = self._starter
        if starter is not None:
            self.base_url = (await starter()).rstrip("/")  # before the pool is made: only a request makes it
            self._starter = None

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
        if self._pool is not None:
            await self._pool.aclose()

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
        import httpx  # noqa: PLC0415 (httpx ~30-40 ms with pygments/rich: on the first API request, not at start)

        from voicing_mcp.api.pool import connection_error, error_reason  # noqa: PLC0415 (httpx: on the first request)

        if self._starter is not None:
            await self.ready()
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
                    logger.error("%s %s: no answer (%s); outcome unknown, NOT retried", method, path, error_reason(exc))
                    raise self._outcome_unknown(exc, method=method, path=path) from exc
                if decision is Decision.GIVE_UP:
                    raise connection_error(
                        exc, self.base_url, what=what, attempts=retries_done + 1, method=method
                    ) from exc
                delay = backoff_delay(retries_done, retry_after=None, rng=self._rng)
                reason = error_reason(exc)
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
            body=body if body is not None else snippet(text),
            request_id=request_id_of(response, body),
            retry_after=parse_retry_after(response.headers.get("retry-after")),
            method=method,
            url=str(response.request.url),
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
        from voicing_mcp.api.pool import error_reason  # noqa: PLC0415 (httpx: on the first API request)

        reason = why or (error_reason(exc) if exc is not None else "no answer")
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
        return without_key(try_json(response), self._api_key.get_secret_value())

    def _json(self, response: httpx.Response, *, what: str) -> Any:
        if not response.content:
            raise APIError(f"the Voicing API answered {what} with HTTP {response.status_code} and an empty body")
        try:
            return without_key(response.json(), self._api_key.get_secret_value())
        except (ValueError, RecursionError):  # RecursionError: nesting too deep to decode
            raise APIError(
                f"the Voicing API answered {what} with HTTP {response.status_code}, "
                f"but the body is not JSON: {snippet(self._no_key(response.text))!r}"
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
            raise InvalidRequestError(f"invalid outbound call request: {describe_validation(exc)}") from None
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
        answer = dial_answer(self._decoded(response), status_code=response.status_code, empty=not response.content)
        if isinstance(answer, UnusableDialAnswer):
            raise self._outcome_unknown(
                None,
                method="POST",
                path=DIAL_PATH,
                why=answer.why,
                status_code=answer.status_code,
                detail=answer.detail,
            )
        logger.info("dial accepted: call %s", answer.call_id)
        return answer

    @_keyless
    async def get_call_details(self, call_id: str) -> CallDetails:
        """One call by id. An unknown id (404, empty answer or ``success: false``) → NotFoundError."""
        call_id = check_id(call_id)
        what = f"get_call_details({call_id})"
        try:
            response = await self._request(
                "read", "GET", DETAILS_PATH, what=f"the details of call {call_id}", params={"call_id": call_id}
            )
        except NotFoundError as exc:
            raise not_found(call_id, exc.detail, exc.request_id, exc.body, status_code=exc.status_code) from None
        body = self._json(response, what=what)
        text = lambda: self._no_key(response.text)  # noqa: E731 (only for an answer with no call in it)
        return details_from(body, call_id=call_id, what=what, response=response, text=text)

    @_keyless
    async def list_calls(
        self, *, page: int = 1, limit: int = DEFAULT_PAGE_SIZE, filters: Mapping[str, str] | None = None
    ) -> CallPage:
        """One page of calls. ``filters`` are passed through as query parameters."""
        params = list_query(page=page, limit=limit, filters=filters)
        what = f"list_calls(page={page}, limit={limit})"
        response = await self._request("read", "GET", DETAILS_PATH, what=f"the call list (page {page})", params=params)
        return parse_page(self._json(response, what=what), page=page, limit=limit, what=what)

    async def iter_pages(
        self,
        *,
        start: int = 1,
        limit: int = MAX_PAGE_SIZE,
        filters: Mapping[str, str] | None = None,
        max_pages: int | None = None,
    ) -> AsyncIterator[CallPage]:
        """The list, page after page from ``start``: the one paging loop of the project.

        The next page is asked for only when the caller takes it, and only while the last one says a page follows
        (:func:`~voicing_mcp.api.parsing.has_next_page`: the API's word, else a full page; never after an empty
        one), at most ``max_pages`` pages. A page whose calls all came on earlier pages ends the walk unyielded:
        an API that ignores ``page`` cannot loop forever.
        """
        seen: set[str] = set()
        number = start
        read = 0
        while max_pages is None or read < max_pages:
            result = await self.list_calls(page=number, limit=limit, filters=filters)
            read += 1
            ids = {c.call_id for c in result.calls}
            if ids and ids <= seen:
                logger.warning("list page %d repeated earlier calls only; stopping", number)
                return
            seen |= ids
            yield result
            if not has_next_page(result):
                return
            number += 1

    async def iter_calls(
        self, *, limit: int = MAX_PAGE_SIZE, filters: Mapping[str, str] | None = None
    ) -> AsyncIterator[CallDetails]:
        """Every call, page after page (:meth:`iter_pages`), each once.

        A call seen on an earlier page is not yielded again (a newest-first list shifts while new calls arrive).
        """
        seen: set[str] = set()
        async for result in self.iter_pages(limit=limit, filters=filters):
            for call in result.calls:
                if call.call_id not in seen:
                    seen.add(call.call_id)
                    yield call

    @_keyless
    async def bulk_call_details(
        self, call_ids: Sequence[str], *, on_progress: ProgressCallback | None = None
    ) -> BulkResult:
        """Details of many calls: requests of ≤100 ids, run concurrently, results in request order."""
        if isinstance(call_ids, str | bytes):
            raise InvalidRequestError("call_ids must be a list of ids, not a single string")
        ids = [check_id(i) for i in call_ids]
        if not ids:
            return BulkResult(calls=[], missing=[])
        return await fetch_in_chunks(ids, self._bulk_chunk, concurrency=self.bulk_concurrency, on_progress=on_progress)

    async def _bulk_chunk(self, chunk: list[str], *, index: int, count: int) -> list[CallDetails]:
        what = f"bulk_call_details (request {index + 1} of {count})"
        response = await self._request(
            "read", "POST", BULK_PATH, what=f"bulk request {index + 1} of {count}", json={"call_ids": chunk}
        )
        body = self._json(response, what=what)
        check_success(body, what=what)
        items, _, _ = list_and_meta(body, what=what)
        return [call_from(item, what=what) for item in items]

    def chat(
        self, assistant_id: str, *, reply_timeout: float = CHAT_REPLY_TIMEOUT, input_variables: ChatValues | None = None
    ) -> ChatSession:
        """A chat session with an assistant (``input_variables`` fill its placeholders, see :mod:`api.chat`):
        ``async with client.chat(a) as s: await s.send("hi")``."""
        from voicing_mcp.api.chat import ChatSession, ws_url  # noqa: PLC0415 (websockets, only when a chat opens)

        assistant_id = check_id(assistant_id, what="assistant_id")
        if self._starter is not None:
            raise InvalidRequestError("the API starts on first use: await client.ready() before opening a chat")
        return ChatSession(
            url=ws_url(self.base_url, assistant_id, input_variables),
            api_key=self._api_key,
            assistant_id=assistant_id,
            reply_timeout=reply_timeout,
            user_agent=self._user_agent,
        )
