"""The one exception tree of voicing-mcp.

::

    VoicingError                       base of everything this package raises on purpose
    ├── ConfigError                    a setting is missing or malformed (message names it)
    ├── GuardRefusal                   the dial guard refused a call; nothing left the machine
    ├── InvalidRequestError            the API client refused to send an invalid request (also a ValueError)
    └── APIError                       anything that went wrong talking to the Voicing API
        ├── APIConnectionError         no HTTP answer: connection refused/reset, DNS, protocol break
        │   └── APITimeoutError        a connect/read/write/pool timeout
        ├── OutcomeUnknownError        a dial POST may have reached the server but no answer proves what
        │                              happened; never retried, the call may or may not be ringing
        ├── DialFailedError            a dial that provably placed no call (keeps the ``cause`` and ledger row)
        ├── ChatError                  the chatbot WebSocket failed (closed, bad frame, reply timeout)
        └── APIStatusError             the API answered with an error status (keeps status + detail)
            ├── BadRequestError        400
            ├── AuthenticationError    401  (the key is never part of the message)
            ├── NotFoundError          404
            ├── UnprocessableError     422
            ├── RateLimitError         429  (``retry_after`` seconds when the API sent one)
            └── ServerError            5xx

Exceptions carry data (``status_code``, ``detail``, ``close_code``, ``rule``, the ``cause`` of a failed dial)
and a short technical message for logs; ``kind`` names the error in one word. The text a model or a user
reads is written from that data by :mod:`voicing_mcp.messages` (:func:`~voicing_mcp.messages.describe`).
``status_error_for`` is the single place that maps an HTTP status to a class.
"""

from __future__ import annotations

from typing import Any, ClassVar


class VoicingError(Exception):
    """Base class of every error voicing-mcp raises on purpose."""

    kind: ClassVar[str] = "error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class ConfigError(VoicingError):
    """A setting is missing or malformed. The message names the setting and the bad part."""

    kind: ClassVar[str] = "config"


class GuardRefusal(VoicingError):
    """The dial guard refused the call; nothing was sent. ``rule`` names the rule (shown to the model),
    ``reason`` the case within it and ``fields`` its values; the text is written from them by
    :func:`voicing_mcp.messages.refusal`."""

    kind: ClassVar[str] = "guard-refusal"

    def __init__(
        self, message: str, *, rule: str, reason: str | None = None, fields: dict[str, object] | None = None
    ) -> None:
        super().__init__(message)
        self.rule = rule
        self.reason = reason or rule
        self.fields: dict[str, object] = dict(fields or {})


class InvalidRequestError(VoicingError, ValueError):
    """The API client refused to send a request with invalid arguments; nothing was sent."""

    kind: ClassVar[str] = "invalid-request"


class APIError(VoicingError):
    """Anything that went wrong while talking to the Voicing API."""

    kind: ClassVar[str] = "api"

    def __init__(self, message: str, *, method: str | None = None, url: str | None = None) -> None:
        super().__init__(message)
        self.method = method
        self.url = url


class APIConnectionError(APIError):
    """No HTTP answer was received (refused, reset, DNS, broken protocol)."""

    kind: ClassVar[str] = "connection"


class APITimeoutError(APIConnectionError):
    """A connect, read, write or pool timeout."""

    kind: ClassVar[str] = "timeout"


class OutcomeUnknownError(APIError):
    """A dial request may have reached the server, but no answer that proves what happened came back.

    The call may be ringing. It is never retried automatically: check with
    ``get_call_details`` / ``list_calls`` before dialling again. ``status_code`` / ``detail`` are set when
    an HTTP answer came that is not a documented rejection (a gateway's 503, 520, 524, 408…).
    """

    kind: ClassVar[str] = "outcome-unknown"

    def __init__(
        self,
        message: str,
        *,
        method: str | None = None,
        url: str | None = None,
        status_code: int | None = None,
        detail: str | None = None,
    ) -> None:
        super().__init__(message, method=method, url=url)
        self.status_code = status_code
        self.detail = detail


class DialFailedError(APIError):
    """The API refused a dial in a way that proves no call was placed (a documented rejection, or the
    request never left this machine). The message says why and names the ledger row; it never advises a
    blind retry."""

    kind: ClassVar[str] = "dial-failed"

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        cause: Exception | None = None,
        ledger_id: int | None = None,
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.cause = cause
        """The error that proves no call was placed (a rejection, a refused connection, …)."""
        self.ledger_id = ledger_id
        """The dial's row in the ledger, recorded as failed."""


class ChatError(APIError):
    """The chatbot WebSocket failed: refused, closed, malformed frame or reply timeout."""

    kind: ClassVar[str] = "chat"

    def __init__(
        self,
        message: str,
        *,
        close_code: int | None = None,
        status_code: int | None = None,
        detail: str | None = None,
    ) -> None:
        super().__init__(message)
        self.close_code = close_code
        self.status_code = status_code
        """The HTTP status when the WebSocket handshake was refused."""
        self.detail = detail
        """The chatbot's own reason (the close frame's), when it gave one."""


class APIStatusError(APIError):
    """The API answered with an error status. ``detail`` is the API's own text."""

    kind: ClassVar[str] = "status"

    def __init__(
        self,
        message: str,
        *,
        status_code: int,
        detail: str | None = None,
        request_id: str | None = None,
        body: Any = None,
        method: str | None = None,
        url: str | None = None,
    ) -> None:
        super().__init__(message, method=method, url=url)
        self.status_code = status_code
        self.detail = detail
        self.request_id = request_id
        self.body = body


class BadRequestError(APIStatusError):
    """400: invalid JSON, missing fields, or an assistant lookup failure."""

    kind: ClassVar[str] = "bad-request"


class AuthenticationError(APIStatusError):
    """401: missing or wrong API key. The key itself is never part of the message."""

    kind: ClassVar[str] = "authentication"


class NotFoundError(APIStatusError):
    """404: unknown assistant or call."""

    kind: ClassVar[str] = "not-found"


class UnprocessableError(APIStatusError):
    """422: a well-formed request with invalid values (for example ``limit`` out of range)."""

    kind: ClassVar[str] = "unprocessable"


class RateLimitError(APIStatusError):
    """429: too many requests. ``retry_after`` is the server's hint in seconds, if any."""

    kind: ClassVar[str] = "rate-limit"

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class ServerError(APIStatusError):
    """5xx: the API failed on its side."""

    kind: ClassVar[str] = "server"


_BY_STATUS: dict[int, type[APIStatusError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    404: NotFoundError,
    422: UnprocessableError,
    429: RateLimitError,
}

#: the status's name when the API gave no detail (technical: the advice is ``describe``'s)
_REASONS: dict[type[APIStatusError], str] = {
    BadRequestError: "bad request",
    AuthenticationError: "unauthorized",
    NotFoundError: "not found",
    UnprocessableError: "unprocessable request",
    RateLimitError: "too many requests",
    ServerError: "server error",
    APIStatusError: "error status",
}


def status_error_for(
    status_code: int,
    *,
    detail: str | None,
    body: Any = None,
    request_id: str | None = None,
    retry_after: float | None = None,
    method: str | None = None,
    url: str | None = None,
) -> APIStatusError:
    """Build the exception for an HTTP error status. The one place statuses map to classes."""
    cls: type[APIStatusError]
    if status_code in _BY_STATUS:
        cls = _BY_STATUS[status_code]
    elif status_code >= 500:
        cls = ServerError
    else:
        cls = APIStatusError
    message = f"HTTP {status_code}: {detail or _REASONS[cls]}"
    if request_id:
        message = f"{message} [request id {request_id}]"
    kwargs: dict[str, Any] = {
        "status_code": status_code,
        "detail": detail,
        "request_id": request_id,
        "body": body,
        "method": method,
        "url": url,
    }
    if cls is RateLimitError:
        return RateLimitError(message, retry_after=retry_after, **kwargs)
    return cls(message, **kwargs)
