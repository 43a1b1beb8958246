"""What the model reads back: the one text for every error, and the shape of every tool result.

* :func:`describe` turns any exception into the sentence a model (or a human running ``check``) reads:
  what went wrong and how to fix it. Exceptions carry data (status, detail, close code, rule, the cause of a
  failed dial); the prose is written here and nowhere else. It is a pure function: no MCP context needed.
* :func:`tool_error` wraps that text in the SDK's ``ToolError`` for tools and resources.
* :func:`as_tool_result` and :func:`json_text` build a tool's result: a short readable summary, the compact JSON
  of the structured result, and ``structuredContent``, with every invisible or reordering character escaped.
* :data:`RESULT_BUDGET` is the most characters any tool result may take, measured by :func:`result_size` (the
  budget test measures with it too); :func:`fit_items` finds how many items of a list fit in it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from typing import Any

from mcp.server.mcpserver.exceptions import ToolError
from mcp_types import CallToolResult, TextContent
from pydantic import BaseModel

from voicing_mcp.errors import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    ChatError,
    DialFailedError,
    GuardRefusal,
    InvalidRequestError,
    NotFoundError,
    RateLimitError,
)
from voicing_mcp.redact import one_line, redact_secret, visible

__all__ = [
    "RESULT_BUDGET",
    "as_tool_result",
    "describe",
    "fit_items",
    "item_cost",
    "json_text",
    "result_size",
    "tool_error",
]

RESULT_BUDGET = 25_000
"""The most characters a tool result may take: every content block plus ``structuredContent``, serialised as
JSON (:func:`result_size`). Claude Code moves a result over 50,000 characters out of the conversation; every
result of this server stays under half that, whatever the arguments."""


def describe(
    exc: BaseException, *, subject: str | None = None, secret: str | None = None, new_conversation: bool = False
) -> str:
    """The one text, on one line, that says what went wrong and how to fix it.

    ``subject`` names what was asked for (e.g. ``"call 'abc'"``) so a 404 reads "call 'abc' not found".
    ``secret`` (the API key) is removed from the text, whatever the API echoed.
    ``new_conversation`` says a chat turn tried to open a conversation (so none is open to close).
    The API's detail and the chatbot's reasons are quoted: control and format characters are made visible.
    """
    return one_line(redact_secret(_prose(exc, subject, new_conversation), secret))


def tool_error(
    exc: BaseException, *, subject: str | None = None, secret: str | None = None, new_conversation: bool = False
) -> ToolError:
    """:func:`describe` as the ``ToolError`` a tool raises."""
    return ToolError(describe(exc, subject=subject, secret=secret, new_conversation=new_conversation))


def _without_label(message: str, rule: str) -> str:
    """The refusal's text without a leading label that repeats the rule already shown in brackets
    (``[duplicate]: duplicate: …`` reads ``[duplicate]: …``)."""
    for label in (f"{rule}: ", f"{rule.replace('-', ' ')}: "):
        if message.lower().startswith(label):
            return message[len(label) :]
    return message


def _prose(exc: BaseException, subject: str | None, new_conversation: bool) -> str:
    if isinstance(exc, GuardRefusal):
        return f"refused by the dial guard [{exc.rule}]: {_without_label(exc.message, exc.rule)}. Nothing was dialled."
    if isinstance(exc, DialFailedError):
        return _dial_failed(exc)
    if isinstance(exc, AuthenticationError):
        return _rejected_key("the Voicing API", "HTTP 401", exc.detail)
    if isinstance(exc, NotFoundError):
        return _not_found(exc, subject)
    if isinstance(exc, RateLimitError):
        wait = f"retry after {exc.retry_after:g} s" if exc.retry_after is not None else "wait a little and retry"
        return f"rate limited by the Voicing API (HTTP 429: {exc.detail or 'too many requests'}); {wait}"
    if isinstance(exc, APIStatusError):
        if exc.status_code >= 500:
            advice = "the Voicing API failed on its side; try again later"
        elif exc.status_code == 422:
            advice = "a value was rejected: correct the argument the detail names"
        else:
            advice = "the request was rejected: correct the argument the detail names"
        return _with_request_id(
            f"the Voicing API answered HTTP {exc.status_code}: {exc.detail or 'no detail given'} ({advice})", exc
        )
    if isinstance(exc, APITimeoutError):
        return f"{exc.message}; try again shortly"
    if isinstance(exc, ChatError):
        return _chat_failed(exc, subject, new_conversation)
    if isinstance(exc, APIConnectionError | InvalidRequestError):
        return str(exc)  # the client names the host (or the argument) and what to check
    if isinstance(exc, Exception) and str(exc):
        return str(exc)  # a VoicingError's own message (config, outcome unknown, malformed answer, …)
    return f"unexpected {type(exc).__name__}"


def _rejected_key(who: str, how: str, detail: str | None) -> str:
    """The one sentence for a rejected API key (HTTP 401, the chatbot's close code 4401)."""
    return (
        f"{who} rejected the API key ({how}): {detail or 'Invalid API token'}. Set VOICING_API_KEY to a valid "
        "'Rest APIs' key for this VOICING_ENV; the key is not shown here"
    )


def _with_request_id(text: str, exc: APIStatusError) -> str:
    return f"{text} [request id {exc.request_id}]" if exc.request_id else text


def _not_found(exc: NotFoundError, subject: str | None) -> str:
    what = subject or "the requested item"
    if what.startswith("call"):
        hint = "Check the id; list_calls shows recent calls"
    elif what.startswith("assistant"):
        hint = "Check the assistant_id; voicing://assistants lists the local templates"
    else:
        hint = "Check the id"
    return f"{what} not found (HTTP {exc.status_code}: {exc.detail or 'not found'}). {hint}"


def _chat_failed(exc: ChatError, subject: str | None, new_conversation: bool) -> str:
    if exc.close_code == 4401 or exc.status_code == 401:
        how = f"close code {exc.close_code}" if exc.close_code is not None else f"HTTP {exc.status_code}"
        return _rejected_key("the chatbot", how, exc.detail)
    if exc.close_code == 4404:
        return f"{subject or 'the assistant'} not found: {exc.message}; voicing://assistants lists the local ones"
    if new_conversation:
        return f"the chat failed: {exc.message}. No conversation was opened; fix the cause above, then try again"
    return (
        f"the chat failed: {exc.message}. A conversation that was open is now closed; "
        "omit conversation_id to start a new one"
    )


def _dial_failed(exc: DialFailedError) -> str:
    """Why a dial provably failed, and what would make it pass. Never "try again"."""
    head = (
        f"the call was NOT placed (ledger #{exc.ledger_id}, recorded as failed)"
        if exc.ledger_id is not None
        else "the call was NOT placed"
    )
    cause = exc.cause
    if isinstance(cause, AuthenticationError):
        why = _prose(cause, None, False)
    elif isinstance(cause, APIStatusError):
        if isinstance(cause, NotFoundError):
            advice = "check the assistant_id (voicing://assistants lists the local templates)"
        elif isinstance(cause, RateLimitError):
            advice = (
                "the Voicing API is limiting requests from this key; ask the user whether the call is still "
                "wanted before placing it later"
            )
        elif cause.status_code >= 500:
            advice = "the Voicing API failed before it handed the call to its dialler, so no phone rang"
        else:
            advice = "correct the argument the detail names"
        why = _with_request_id(f"HTTP {cause.status_code}: {cause.detail or 'no detail given'} ({advice})", cause)
    elif isinstance(cause, APIConnectionError):
        why = f"{cause} — the request never left this machine"
    elif cause is not None:
        why = f"{cause} — nothing was sent"
    else:
        return exc.message
    return f"{head}: {why}"


# ----- results ---------------------------------------------------------------------------------
def as_tool_result(model: BaseModel | dict[str, Any], text: str) -> CallToolResult:
    """A short readable summary, the compact JSON of the structured result, and ``structuredContent``.

    ``model`` may be the structured result already dumped to JSON-able data (a tool that shapes rows itself)."""
    data = model if isinstance(model, dict) else model.model_dump(mode="json", by_alias=True)
    return CallToolResult(
        content=[
            TextContent(type="text", text=text),
            TextContent(type="text", text=json_text(data, compact=True)),
        ],
        structured_content=data,
    )


def json_text(data: Any, *, indent: int | None = None, compact: bool = False) -> str:
    """``data`` as JSON for a text block: readable non-ASCII text kept, but every character ``visible`` would
    show as ``<U+XXXX>`` escaped as ``\\uXXXX`` (``json.dumps`` escapes only C0 controls, so a bidi override
    in an API field would reach the reader raw). ``json.loads`` gives ``data`` back. ``compact`` leaves out the
    spaces after separators (a tool result's JSON block: every character is in the model's context)."""
    separators = (",", ":") if compact else None
    dumped = json.dumps(data, ensure_ascii=False, indent=indent, separators=separators)
    return _NOT_PRINTABLE_ASCII.sub(_json_escape, dumped)


def result_size(result: CallToolResult) -> int:
    """Characters of ``result`` as it travels: every content block plus ``structuredContent``, serialised as
    compact JSON (non-ASCII characters count once, as in the UTF-8 JSON the server sends)."""
    data = result.model_dump(mode="json", by_alias=True, exclude_none=True)
    payload = {"content": data.get("content", []), "structuredContent": data.get("structuredContent")}
    return len(json.dumps(payload, ensure_ascii=False, separators=(",", ":")))


def item_cost(value: Any) -> int:
    """Characters one more item of a list adds to a result: once in ``structuredContent`` and once in the JSON
    text block (where it is a JSON string again, so its quotes and backslashes are escaped), with its commas."""
    compact = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return len(compact) + len(json.dumps(json_text(value, compact=True), ensure_ascii=False)) - 2 + 2


def fit_items(
    build: Callable[[int], CallToolResult], costs: Iterable[int], *, budget: int = RESULT_BUDGET
) -> tuple[int, CallToolResult]:
    """The largest ``n`` for which ``build(n)`` (a result holding the first ``n`` items) fits ``budget``, and
    that result. ``costs`` are the items' :func:`item_cost`, read only as far as they fit. 0 items is the
    answer when even one does not fit (the caller keeps every single item small enough to fit alone)."""
    base = result_size(build(0))
    n, used = 0, base
    for cost in costs:
        if used + cost > budget:
            break
        used += cost
        n += 1
    result = build(n)
    while n > 0 and result_size(result) > budget:  # the summary's own words change a little with n
        n -= max(1, n // 20)
        result = build(n)
    return n, result


#: json.dumps escapes C0 controls inside strings, so a raw newline is the indentation's own
_NOT_PRINTABLE_ASCII = re.compile(r"[^\x20-\x7e\n]")


def _json_escape(match: re.Match[str]) -> str:
    ch = match.group(0)
    if visible(ch) == ch:  # readable text in any script stays as it is
        return ch
    data = ch.encode("utf-16-be", "surrogatepass")
    return "".join(f"\\u{int.from_bytes(data[i : i + 2], 'big'):04x}" for i in range(0, len(data), 2))
