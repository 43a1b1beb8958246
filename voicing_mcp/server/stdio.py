"""The stdio transport of the server: the SDK's ``stdio_server`` with every line answered (and SSE's POSTs).

The SDK reads each stdin line as a JSON-RPC message; a line it cannot read (not JSON, nested deeper than its
parser goes, an integer too long to convert, not a JSON-RPC message) reaches the server as an exception, which
it logs at DEBUG and drops: the client waits for an answer forever. :func:`run_stdio` reads the SDK's stream
through :class:`AnsweringReadStream`, which answers such a line with a JSON-RPC error carrying the request's id
when it can be found in the line (``null`` otherwise), as JSON-RPC 2.0 asks.

A request whose ``id`` is neither a string nor an integer (``1.5``, ``null``, an object) is another case: the SDK
reads it as a *notification* (its schema drops the unknown member), which is never answered. Only the raw line
tells the two apart, so :func:`run_stdio` reads stdin itself (:class:`CheckedLines`, on a private duplicate of fd
0 with fd 0 pointed at the null device while serving, as the SDK's own claim does) and answers such a line with
``Invalid Request`` and id ``null`` instead of passing it on.
"""

from __future__ import annotations

import io
import json
import logging
import os
import re
import sys
from collections.abc import AsyncIterator, Generator
from contextlib import contextmanager
from types import TracebackType
from typing import TYPE_CHECKING, Any, cast

import anyio
from mcp.server.stdio import stdio_server
from mcp.shared.message import SessionMessage
from mcp_types import ErrorData, JSONRPCError
from pydantic import ValidationError

if TYPE_CHECKING:
    from typing import Self

    from mcp.server.mcpserver import MCPServer
    from mcp.shared._stream_protocols import ReadStream, WriteStream

logger = logging.getLogger(__name__)

PARSE_ERROR = -32700
INVALID_REQUEST = -32600
#: a JSON-RPC id is a string or a number; a longer number is not taken for one (answered with id null)
_MAX_ID_DIGITS = 19
#: the tokens that matter when looking for the id: strings (skipped whole) and brackets (depth)
#: a string runs to its closing quote, or (possessive, unclosed) to the end of the line: one pass over any line (a
#: line of escaped quotes with no closing one made the scan restart at every quote: seconds at 10 KB)
_TOKENS = re.compile(r'"(?:[^"\\]|\\.)*+"?|[{}\[\]]')
_ID_VALUE = re.compile(rf'\s*:\s*("(?:[^"\\]|\\.)*"|-?\d{{1,{_MAX_ID_DIGITS}}}(?![\d.eE]))')
_KEY_END = re.compile(r"\s*:")
#: an id value JSON-RPC allows: a string, or an integer (no fraction, no exponent)
_GOOD_ID = re.compile(r'\s*:\s*(?:"|-?\d+(?![\d.eE]))')


def request_id(line: str) -> str | int | None:
    """The ``id`` of the JSON object on ``line`` (None when there is none or it cannot be read), found without
    parsing the values: a line nested 50,000 deep or holding an integer of 5,000 digits still gives its id."""
    depth = 0
    found: str | int | None = None
    for token in _TOKENS.finditer(line):
        text = token.group(0)
        if text in "{[":
            depth += 1
        elif text in "}]":
            depth -= 1
        elif depth == 1 and _KEY_END.match(line, token.end()):
            try:
                key = json.loads(text)
            except ValueError:
                continue
            if key == "id" and (value := _ID_VALUE.match(line, token.end())) is not None:
                try:
                    found = json.loads(value.group(1))
                except ValueError:
                    found = None
    return found if isinstance(found, str | int) and not isinstance(found, bool) else None


def _key(text: str) -> str | None:
    """A key token's name, escapes decoded (None when it is no valid JSON string)."""
    try:
        key = json.loads(text)
    except ValueError:
        return None
    return key if isinstance(key, str) else None


def has_bad_id(line: str) -> bool:
    """True for a JSON object with a top-level ``method`` and a top-level ``id`` that is neither a string nor an
    integer: a request the SDK would take for a notification (found without parsing the values, as
    :func:`request_id`)."""
    escaped = "\\u" in line  # a key may be spelt with escapes ("i\u0064"): the SDK reads it decoded
    if not escaped and ('"id"' not in line or '"method"' not in line):
        return False
    depth = 0
    bad = method = False
    for token in _TOKENS.finditer(line):
        text = token.group(0)
        if text in "{[":
            depth += 1
        elif text in "}]":
            depth -= 1
        elif depth == 1 and _KEY_END.match(line, token.end()):
            key = _key(text) if escaped else text[1:-1]
            if key == "method":
                method = True
            elif key == "id":
                bad = _GOOD_ID.match(line, token.end()) is None
    return bad and method


BAD_ID = JSONRPCError(
    jsonrpc="2.0",
    id=None,
    error=ErrorData(code=INVALID_REQUEST, message="Invalid Request: a request's id must be a string or an integer"),
)


def answer_for(error: ValidationError) -> JSONRPCError | None:
    """The JSON-RPC error answering the line the SDK could not read (None for a malformed response of the
    client's: a response is never answered)."""
    problems = error.errors(include_url=False)
    given = next((p["input"] for p in problems if isinstance(p.get("input"), str | bytes)), None)
    line = given.decode("utf-8", "replace") if isinstance(given, bytes) else given  # bytes: an SSE POST's body
    if problems and problems[0]["type"] == "json_invalid" and isinstance(line, str):
        message_id = request_id(line)
        why = str(problems[0].get("msg", "")).removeprefix("Invalid JSON: ")
        if "recursion limit" in why:
            text = "Parse error: input too deep (JSON nested deeper than the server reads); send flatter arguments"
        elif "number out of range" in why:
            text = "Parse error: number too large (an integer too long to read); send it as a string"
        else:
            text = f"Parse error: not valid JSON ({why})"
        return JSONRPCError(jsonrpc="2.0", id=message_id, error=ErrorData(code=PARSE_ERROR, message=text))
    # valid JSON that is no JSON-RPC message: pydantic keeps the object where a field is missing
    objects = [p["input"] for p in problems if isinstance(p.get("input"), dict)]
    whole: dict[str, Any] = max(objects, key=len, default={})  # pyright: ignore[reportUnknownArgumentType]
    if "method" not in whole and ("result" in whole or "error" in whole):
        return None
    given = whole.get("id")
    message_id = given if isinstance(given, str | int) and not isinstance(given, bool) else None
    said = (f"{'.'.join(str(x) for x in p['loc'][1:]) or 'message'}: {p['msg']}" for p in problems)
    where = "; ".join(list(dict.fromkeys(said))[:3])
    text = f"Invalid Request: not a JSON-RPC 2.0 request or notification ({where})"
    return JSONRPCError(jsonrpc="2.0", id=message_id, error=ErrorData(code=INVALID_REQUEST, message=text))


class AnsweringReadStream:
    """The SDK's stdio read stream, with every line it could not read answered on the write stream."""

    def __init__(self, inner: ReadStream[SessionMessage | Exception], answers: WriteStream[SessionMessage]) -> None:
        self._inner = inner
        self._answers = answers

    @property
    def last_context(self) -> Any:
        """The sender's context of the last item (the dispatcher reads it when the stream has one)."""
        return getattr(self._inner, "last_context", None)

    async def receive(self) -> SessionMessage | Exception:
        while True:
            item = await self._inner.receive()
            if not isinstance(item, ValidationError):
                return item
            answer = answer_for(item)
            if answer is None:
                return item
            logger.warning("stdin: an unreadable message answered with %s", answer.error.message)
            await self._answers.send(SessionMessage(answer))

    async def aclose(self) -> None:
        await self._inner.aclose()

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> SessionMessage | Exception:
        try:
            return await self.receive()
        except anyio.EndOfStream:  # stdin closed: the end of the iteration, as the inner stream's own
            raise StopAsyncIteration from None

    async def __aenter__(self) -> Self:
        await self._inner.__aenter__()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc_val: BaseException | None,
        exc_tb: TracebackType | None,
    ) -> bool | None:
        return await self._inner.__aexit__(exc_type, exc_val, exc_tb)


def answer_every_message(server: MCPServer[Any]) -> None:
    """Serve every connection of ``server`` through :class:`AnsweringReadStream` (the SSE transport: a POST the
    SDK cannot read gets a 400 and reaches the server as an exception; its answer goes on the event stream)."""
    lowlevel = server._lowlevel_server  # pyright: ignore[reportPrivateUsage]
    original = lowlevel.run

    async def run(
        read_stream: ReadStream[SessionMessage | Exception],
        write_stream: WriteStream[SessionMessage],
        initialization_options: Any,
        raise_exceptions: bool = False,
    ) -> None:
        answering = AnsweringReadStream(read_stream, write_stream)
        await original(answering, write_stream, initialization_options, raise_exceptions)

    lowlevel.run = run  # pyright: ignore[reportAttributeAccessIssue]


class CheckedLines:
    """stdin's lines for the SDK's reader, less the requests with an id the SDK would take for a notification:
    those are answered here (:data:`BAD_ID`) once the write stream is attached."""

    def __init__(self, lines: anyio.AsyncFile[str]) -> None:
        self._lines = lines
        self._answers: WriteStream[SessionMessage] | None = None
        self._attached = anyio.Event()

    def attach(self, answers: WriteStream[SessionMessage]) -> None:
        self._answers = answers
        self._attached.set()

    async def __aiter__(self) -> AsyncIterator[str]:
        async for line in self._lines:
            if not has_bad_id(line):
                yield line
                continue
            await self._attached.wait()
            assert self._answers is not None
            logger.warning("stdin: a request whose id is neither a string nor an integer answered with Invalid Request")
            await self._answers.send(SessionMessage(BAD_ID))


@contextmanager
def claimed_stdin() -> Generator[io.TextIOWrapper]:
    """stdin as text, read from a private duplicate of fd 0 while fd 0 points at the null device (a child process
    or a stray read gets EOF, never protocol bytes); fd 0 is restored on exit. Where descriptors cannot be
    duplicated (not a real fd, Windows), ``sys.stdin``'s buffer is read in place."""
    try:
        if sys.platform == "win32" or sys.stdin.fileno() != 0:
            raise OSError("no descriptor claim here")
        private = os.dup(0)
    except (OSError, ValueError, AttributeError):
        in_place = io.TextIOWrapper(sys.stdin.buffer, encoding="utf-8", errors="replace")
        try:
            yield in_place
        finally:
            in_place.detach()  # sys.stdin's buffer is not ours to close
        return
    os.set_inheritable(private, False)
    diverted = False
    try:
        null = os.open(os.devnull, os.O_RDONLY)
        try:
            os.dup2(null, 0)
            diverted = True
        finally:
            os.close(null)
    except OSError:  # fd 0 stays as it is; the wire is still read from the duplicate
        pass
    try:
        # never closed: a worker thread may still block on it after the transport exits
        yield io.TextIOWrapper(os.fdopen(private, "rb", closefd=False), encoding="utf-8", errors="replace")
    finally:
        if diverted:
            os.dup2(private, 0)


async def run_stdio(server: MCPServer[Any]) -> None:
    """:meth:`MCPServer.run_stdio_async`, every line answered (:class:`AnsweringReadStream`, :class:`CheckedLines`)."""
    lowlevel = server._lowlevel_server  # pyright: ignore[reportPrivateUsage]
    with claimed_stdin() as text:
        lines = CheckedLines(anyio.wrap_file(text))
        async with stdio_server(stdin=cast("anyio.AsyncFile[str]", lines)) as (read_stream, write_stream):
            lines.attach(write_stream)
            answering = AnsweringReadStream(read_stream, write_stream)
            await lowlevel.run(answering, write_stream, lowlevel.create_initialization_options())
