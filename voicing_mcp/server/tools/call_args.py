"""What the call tools share: the argument types (a call id, row fields, a filter value), the status check with a
did-you-mean, the progress callback's type and the annotations of a read-only tool.

Used by :mod:`~voicing_mcp.server.tools.get_call_details`, :mod:`~voicing_mcp.server.tools.list_calls`,
:mod:`~voicing_mcp.server.tools.bulk_call_details` and :mod:`~voicing_mcp.server.tools.reconcile_calls`.
"""

from __future__ import annotations

import difflib
from collections.abc import Awaitable, Callable
from typing import Annotated

from mcp.server.mcpserver.exceptions import ToolError
from mcp_types import ToolAnnotations
from pydantic import Field, StringConstraints

from voicing_mcp.redact import one_line
from voicing_mcp.server.render.reconcile_summary import KNOWN_STATUSES

CallId = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=256),
    Field(description="A call id as returned by initiate_outbound_call or list_calls."),
]
FilterValue = str | int | float | bool
Fields = Annotated[
    list[Annotated[str, StringConstraints(max_length=64)]],
    Field(max_length=50, description='More row fields (e.g. ["input_variables"]), or ["all"].'),
]

ProgressFn = Callable[[int, int], Awaitable[None]]
"""``(ids done, ids total)`` after each finished API request, as ``VoicingClient.bulk_call_details`` calls it."""


def check_status(value: str, *, where: str) -> str:
    """``value`` as the status the API reports (lower case, ``-`` between words), or a ToolError with a
    did-you-mean and the statuses there are: ``list_calls``'s filter and ``reconcile_calls``'s expectations,
    checked before any request."""
    normal = "-".join(value.strip().lower().replace("_", " ").replace("-", " ").split())
    if normal in KNOWN_STATUSES:
        return normal
    guess = difflib.get_close_matches(normal, KNOWN_STATUSES, n=1, cutoff=0.6)
    hint = f"did you mean {guess[0]!r}? " if guess else ""
    raise ToolError(
        f"{where}: {one_line(value)!r} is not a call status the Voicing API reports; {hint}"
        f"use one of: {', '.join(KNOWN_STATUSES)}"
    )


def read_only(title: str) -> ToolAnnotations:
    """The annotations of a tool that only reads from the API: it changes nothing and can be repeated."""
    return ToolAnnotations(
        title=title, read_only_hint=True, destructive_hint=False, idempotent_hint=True, open_world_hint=True
    )
