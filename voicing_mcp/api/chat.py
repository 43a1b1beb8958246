"""The chatbot WebSocket: a conversation with an assistant without placing a call.

The vendor documents only the path and the ``assistant_id`` parameter, not the frames. The
framing lives here, in :func:`encode_message` and :func:`decode_frame`, so it can change in one
place when the vendor documents it:

- we send one text frame ``{"message": "<text>"}`` per turn;
- a reply is a text (or binary UTF-8) frame, either plain text or JSON; from JSON the text is
  taken from ``message``, ``text``, ``content`` or ``response`` (also nested under ``data``);
- a JSON frame ``{"type": "error", ...}`` or ``{"error": "..."}`` is an error; a JSON frame with
  no text (``{"type": "typing"}`` and the like) is a control frame and skipped;
- a greeting sent by the server right after the connection opens is read (short wait) and kept
  as :attr:`ChatSession.greeting`;
- the assistant's input variables travel as further query parameters next to ``assistant_id``
  (the only parameter the vendor documents; the greeting is sent before any frame of ours, so the
  URL is the one place that can fill it): ``?assistant_id=…&name=Ada&plan_type=Gold``, each value as
  the text a template prints for it (``True``, ``2.5``). The query is at most :data:`MAX_QUERY_CHARS`
  characters encoded, and is left out of the handshake's debug log (the values may be personal data).

``websockets`` is imported lazily: opening the MCP server must not pay for it.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Self
from urllib.parse import urlencode, urlsplit, urlunsplit

import anyio
from pydantic import SecretStr
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus, InvalidURI

from voicing_mcp.api.constants import CHAT_REPLY_TIMEOUT
from voicing_mcp.errors import ChatError, InvalidRequestError
from voicing_mcp.redact import redact_secret

if TYPE_CHECKING:
    from types import TracebackType

    from websockets.asyncio.client import ClientConnection

logger = logging.getLogger(__name__)

CHAT_PATH = "/api/v1/voicing/ws/platform/api/chatbot"
TEXT_KEYS = ("message", "text", "content", "response")
#: how long to wait for a greeting right after the connection opens, at most.
GREETING_TIMEOUT = 2.0
OPEN_TIMEOUT = 10.0
#: the text of an error frame is quoted up to this many characters.
MAX_ERROR_TEXT = 1_000
ERROR_FRAME_PREFIX = "the chatbot reported an error: "


def cut_error(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters, saying how many more there were. Cut only text the API key is already
    out of: a cut through the key leaves a part that no longer matches it (and would be shown)."""
    return text if len(text) <= limit else f"{text[:limit]}… ({len(text) - limit} more characters cut)"


#: the encoded query (assistant_id and the input variables) at most: many servers refuse request lines over 8 KiB
MAX_QUERY_CHARS = 6_000


class _HandshakeLog(logging.LoggerAdapter[logging.Logger]):
    """The ``websockets.client`` logger, with the ``x-api-key`` header's value hidden.

    At DEBUG, websockets logs every handshake header as ``("> %s: %s", name, value)``.
    """

    def log(self, level: int, msg: object, *args: object, **kwargs: Any) -> None:
        if len(args) >= 2 and isinstance(args[0], str) and args[0].lower() == "x-api-key":
            args = (args[0], "[redacted]", *args[2:])
        elif msg == "> GET %s HTTP/1.1" and args and isinstance(args[0], str) and "&" in args[0]:
            args = (args[0].split("&", 1)[0] + "&[input variables not logged]", *args[1:])
        super().log(level, msg, *args, **kwargs)


def encode_message(text: str) -> str:
    """The frame we send for one user turn."""
    return json.dumps({"message": text}, ensure_ascii=False)


def _text_from(value: Any) -> str | None:
    if isinstance(value, str):
        return value
    if not isinstance(value, dict):
        return None
    if value.get("type") == "error" or isinstance(value.get("error"), str):
        reason = value.get("error") if isinstance(value.get("error"), str) else None
        reason = reason or _text_from({k: v for k, v in value.items() if k != "type"}) or "no details"
        raise ChatError(f"{ERROR_FRAME_PREFIX}{reason}")  # cut by the session once the API key is out of it
    for key in TEXT_KEYS:
        found = value.get(key)
        if isinstance(found, str):
            return found
        if isinstance(found, dict):
            nested = _text_from(found)
            if nested is not None:
                return nested
    data = value.get("data")
    if isinstance(data, str | dict):
        return _text_from(data)
    return None


def decode_frame(frame: str | bytes) -> str | None:
    """The reply text of one received frame, or None for a control frame. Raises ChatError on an error frame."""
    text = frame.decode("utf-8", errors="replace") if isinstance(frame, bytes) else frame
    if not text.strip():
        return None
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):  # RecursionError: JSON nested too deep to decode
        return text  # plain text reply
    if isinstance(value, str | dict):
        return _text_from(value)
    return text  # a bare JSON number/list/bool: treat the frame as plain text


ChatValues = Mapping[str, str | int | float | bool]
"""An assistant's input variables, as the dial's guard checks them."""


def query_value(value: str | int | float | bool) -> str:
    """An input variable's value as a query parameter: the text a template prints for it (``True``, ``10``,
    ``2.5``), so the greeting reads as the dial's preview of the same values does."""
    return str(value)


def ws_url(base_url: str, assistant_id: str, input_variables: ChatValues | None = None) -> str:
    """``http(s)://host[/prefix]`` → ``ws(s)://host[/prefix]/api/v1/voicing/ws/platform/api/chatbot?assistant_id=…``,
    with the input variables as further query parameters. Raises InvalidRequestError when they cannot go there."""
    parts = urlsplit(base_url)
    scheme = {"http": "ws", "https": "wss", "ws": "ws", "wss": "wss"}.get(parts.scheme.lower())
    if scheme is None:
        raise InvalidRequestError(f"the base URL {base_url!r} is not http(s)://")
    variables = dict(input_variables or {})
    if "assistant_id" in variables:
        raise InvalidRequestError(
            "input_variables: a variable named 'assistant_id' cannot be sent to the chatbot (its URL's own parameter)"
        )
    query = urlencode({"assistant_id": assistant_id, **{k: query_value(v) for k, v in variables.items()}})
    if len(query) > MAX_QUERY_CHARS:
        longest = max(variables, key=lambda k: len(query_value(variables[k])))
        raise InvalidRequestError(
            f"input_variables take {len(query)} characters in the chatbot's URL, at most {MAX_QUERY_CHARS}: shorten "
            f"the longest values (e.g. {longest!r}, {len(query_value(variables[longest]))} characters) for the chat; "
            "a dial sends them in its body and has no such limit"
        )
    path = parts.path.rstrip("/") + CHAT_PATH
    return urlunsplit((scheme, parts.netloc, path, query, ""))


def close_message(code: int | None, reason: str, *, assistant_id: str) -> str:
    """A message a model can act on, for a close code from the chatbot."""
    if code == 4401:
        text = "the chatbot rejected the API key (close code 4401): check VOICING_API_KEY (a 'Rest APIs' key)"
    elif code == 4403:
        text = f"the API key may not use assistant {assistant_id} (close code 4403)"
    elif code == 4404:
        text = f"unknown assistant {assistant_id} (close code 4404): check the assistant_id"
    elif code == 4400:
        text = "the chatbot rejected the request (close code 4400)"
    elif code == 4429:
        text = "the chatbot is rate limiting this key (close code 4429): wait and try again"
    elif code in (1000, 1001):
        text = f"the chatbot closed the conversation (close code {code})"
    elif code == 1011:
        text = "the chatbot failed on its side (close code 1011)"
    elif code is None or code == 1006:
        text = "the connection to the chatbot broke without a close frame"
    else:
        text = f"the chatbot closed the connection (close code {code})"
    return f"{text}: {reason}" if reason else text


def _status_message(exc: InvalidStatus, assistant_id: str) -> str:
    status = exc.response.status_code
    body = exc.response.body or b""
    detail = ""
    try:
        parsed = json.loads(body.decode("utf-8", errors="replace")) if body else None
    except (ValueError, RecursionError):
        parsed = None
    if isinstance(parsed, dict) and isinstance(parsed.get("detail"), str):
        detail = parsed["detail"]
    if status in _REDIRECTS:
        text = (
            f"the chatbot answered with a redirect (HTTP {status}) instead of accepting the connection; redirects "
            "are not followed, so the API key is never sent to another address: check VOICING_BASE_URL"
        )
    elif status == 401:
        text = "the chatbot rejected the API key (HTTP 401): check VOICING_API_KEY (a 'Rest APIs' key)"
    elif status == 403:
        text = f"the chatbot refused the connection (HTTP 403): check VOICING_API_KEY and assistant {assistant_id}"
    elif status == 404:
        text = f"unknown assistant {assistant_id} or no chatbot at this base URL (HTTP 404)"
    else:
        text = f"the chatbot refused the connection (HTTP {status})"
    return f"{text}: {detail}" if detail else text


_REDIRECTS = frozenset({300, 301, 302, 303, 307, 308})


def _connect_without_redirects() -> Any:
    """``websockets``' ``connect`` that never follows a redirect.

    websockets follows redirects by default (up to 10), also to another host, and strips only
    ``Authorization``/``Cookie`` there: our ``x-api-key`` header would go to whatever host the redirect names.
    The vendor documents no redirect, so none is followed: the 3xx is reported as an error.
    """

    class NoRedirectConnect(connect):
        def process_redirect(self, exc: Exception) -> Exception | str:
            return exc

    return NoRedirectConnect


class ChatSession:
    """One conversation with an assistant over the chatbot WebSocket. Usable for several turns.

    ``async with client.chat(assistant_id) as session:`` opens it and reads the greeting;
    ``await session.send(text)`` returns the reply text; ``await session.aclose()`` ends it.
    """

    def __init__(
        self,
        *,
        url: str,
        api_key: SecretStr,
        assistant_id: str,
        reply_timeout: float = CHAT_REPLY_TIMEOUT,
        user_agent: str = "voicing-mcp",
        greeting_timeout: float = GREETING_TIMEOUT,
    ) -> None:
        if reply_timeout <= 0:
            raise InvalidRequestError("reply_timeout must be positive")
        self.url = url
        self.assistant_id = assistant_id
        self.reply_timeout = reply_timeout
        self.greeting: str | None = None
        self._api_key = api_key
        self._user_agent = user_agent
        self._greeting_timeout = min(greeting_timeout, reply_timeout)
        self._ws: ClientConnection | None = None
        self._closed = False

    def __repr__(self) -> str:
        state = "closed" if self._closed else ("open" if self._ws is not None else "new")
        return f"ChatSession(assistant_id={self.assistant_id!r}, {state})"

    @property
    def is_open(self) -> bool:
        return self._ws is not None and not self._closed

    async def __aenter__(self) -> Self:
        await self.open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def open(self) -> None:
        """Connect and read the greeting if the server sends one first."""
        if self._ws is not None or self._closed:
            raise ChatError("this chat session was already opened; start a new one")
        connect = _connect_without_redirects()
        try:
            self._ws = await connect(
                self.url,
                additional_headers={"x-api-key": self._api_key.get_secret_value()},
                user_agent_header=self._user_agent,
                open_timeout=OPEN_TIMEOUT,
                close_timeout=5,
                max_size=2**22,
                logger=_HandshakeLog(logging.getLogger("websockets.client")),
            )
        except InvalidStatus as exc:
            message = cut_error(self._no_key(_status_message(exc, self.assistant_id)), 2 * MAX_ERROR_TEXT)
            raise ChatError(message, status_code=exc.response.status_code) from None
        except InvalidURI:
            raise ChatError("the chatbot URL is not valid: check VOICING_BASE_URL") from None
        except InvalidHandshake as exc:
            raise ChatError(f"the chatbot WebSocket handshake failed: {type(exc).__name__}") from None
        except TimeoutError:
            raise ChatError(f"the chatbot did not accept the connection within {OPEN_TIMEOUT:g} s") from None
        except OSError as exc:
            reason = exc.strerror or type(exc).__name__
            raise ChatError(f"could not connect to the chatbot: {reason}") from None
        logger.info("chat opened with assistant %s", self.assistant_id)
        self.greeting = await self._receive(self._greeting_timeout, waiting_for="greeting")

    def _no_key(self, text: str) -> str:
        """Third-party text (a reply, an error frame, a close reason) without the API key."""
        return redact_secret(text, self._api_key.get_secret_value())

    async def send(self, text: str) -> str:
        """Send one user message and return the assistant's reply."""
        if not isinstance(text, str) or not text.strip():  # pyright: ignore[reportUnnecessaryIsInstance]
            raise InvalidRequestError("the chat message must be a non-empty string")
        ws = self._require_open()
        try:
            await ws.send(encode_message(text))
        except ConnectionClosed as exc:
            raise self._closed_error(exc) from None
        reply = await self._receive(self.reply_timeout, waiting_for="reply")
        if reply is None:  # pragma: no cover - _receive raises on timeout for replies
            raise ChatError("no reply from the chatbot")
        return reply

    async def aclose(self) -> None:
        """Close the WebSocket (idempotent)."""
        ws, self._ws = self._ws, None
        self._closed = True
        if ws is not None:
            await ws.close()

    def _require_open(self) -> ClientConnection:
        if self._closed:
            raise ChatError("this chat session is closed; start a new one")
        if self._ws is None:
            raise ChatError("this chat session is not open: use 'async with client.chat(...)'")
        return self._ws

    def _closed_error(self, exc: ConnectionClosed) -> ChatError:
        self._closed = True
        close = exc.rcvd
        code = close.code if close is not None else None
        reason = close.reason if close is not None else ""
        message = self._no_key(close_message(code, reason, assistant_id=self.assistant_id))
        return ChatError(message, close_code=code, detail=self._no_key(reason) or None)

    async def _receive(self, timeout: float, *, waiting_for: str) -> str | None:
        """The next frame with text. For the greeting, None after the short wait; for a reply, ChatError."""
        ws = self._require_open()
        ignored = 0
        try:
            with anyio.fail_after(timeout):
                while True:
                    try:
                        frame = await ws.recv()
                    except ConnectionClosed as exc:
                        raise self._closed_error(exc) from None
                    try:
                        text = decode_frame(frame)
                    except ChatError as exc:  # an error frame's text is the chatbot's
                        text = cut_error(self._no_key(exc.message), len(ERROR_FRAME_PREFIX) + MAX_ERROR_TEXT)
                        raise ChatError(text, close_code=exc.close_code) from None
                    if text is not None:
                        return self._no_key(text)
                    ignored += 1
        except TimeoutError:
            if waiting_for == "greeting":
                return None
            # a late reply would be taken for the answer to the next message: end the session
            await self.aclose()
            extra = f" ({ignored} frames without text were skipped)" if ignored else ""
            raise ChatError(
                f"no reply from the chatbot within {timeout:g} s{extra}; the session was closed, start a new one"
            ) from None
