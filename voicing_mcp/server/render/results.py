"""What the model reads back: every error as a tool error, and the shape of every tool result.

* :func:`tool_error` wraps the one text of an exception (:func:`voicing_mcp.messages.describe`, written outside
  ``server/`` so ``check`` reads the same words without the MCP SDK) in the SDK's ``ToolError``.
* :func:`as_tool_result` and :func:`json_text` build a tool's result: a short readable summary, the compact JSON
  of the structured result, and ``structuredContent``, with every invisible or reordering character escaped.
* :data:`RESULT_BUDGET` is the most characters any tool result may take, measured by :func:`result_size` (the
  budget test measures with it too); :func:`fit_items` finds how many items of a list fit in it.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable, Iterable
from typing import Any

from mcp.server.mcpserver.exceptions import ToolError
from mcp_types import CallToolResult, TextContent
from pydantic import BaseModel

from voicing_mcp.messages import describe
from voicing_mcp.redact import visible

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


def tool_error(
    exc: BaseException, *, subject: str | None = None, secret: str | None = None, new_conversation: bool = False
) -> ToolError:
    """:func:`describe` as the ``ToolError`` a tool raises."""
    return ToolError(describe(exc, subject=subject, secret=secret, new_conversation=new_conversation))


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
    return _escaped(match.group(0))


@functools.lru_cache(maxsize=4096)  # per distinct character: 4,000 escapes in a field cost one check each, not 4,000
def _escaped(ch: str) -> str:
    if visible(ch) == ch:  # readable text in any script stays as it is
        return ch
    data = ch.encode("utf-16-be", "surrogatepass")
    return "".join(f"\\u{int.from_bytes(data[i : i + 2], 'big'):04x}" for i in range(0, len(data), 2))
