"""Resources: the local assistant templates and single calls, as JSON documents.

* ``voicing://assistants`` — every template found, with its display name (``{# name: … #}``, or null) and its
  required and optional variables;
* ``voicing://assistants/{assistant_id}`` — one template's text and variables;
* ``voicing://calls/{call_id}`` — one call's details (as ``get_call_details``);
* ``voicing://ledger/recent`` — the last dials (:func:`recent_dials_document`, registered with the dial tool).

A resource that is not there is a ``ResourceNotFoundError`` (JSON-RPC -32602) whose message says
what was missing and where to look.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ResourceError, ResourceNotFoundError
from pydantic import SecretStr

from voicing_mcp.errors import GuardRefusal, NotFoundError, VoicingError
from voicing_mcp.guard.ledger import DialRow, Ledger, open_ledger
from voicing_mcp.messages import describe
from voicing_mcp.server.context import ServerContext, server_context
from voicing_mcp.server.render.results import json_text
from voicing_mcp.server.tools.get_call_details import fetch_call
from voicing_mcp.server.tools.list_assistants import assistant_rows

if TYPE_CHECKING:
    from voicing_mcp.guard.templates import AssistantTemplate, TemplateStore

JSON = "application/json"
#: the same bound as the tools' call_id argument
MAX_CALL_ID = 256
#: dials listed by voicing://ledger/recent
RECENT_ROWS = 20


def _template_summary(t: AssistantTemplate) -> dict[str, Any]:
    return {
        "assistant_id": t.assistant_id,
        "display_name": t.display_name,
        "uri": f"voicing://assistants/{t.assistant_id}",
        "file": t.path.name,
        "required_variables": list(t.required),
        "optional_variables": list(t.optional),
    }


def assistants_document(store: TemplateStore) -> dict[str, Any]:
    """The ``voicing://assistants`` document, from the rows ``list_assistants`` reads (one source for both)."""
    rows = assistant_rows(store)
    return {
        "prompts_dir": str(store.prompts_dir),
        "count": sum(1 for r in rows if r.template is not None),
        "assistants": [
            {**_template_summary(r.template), "opening_line": r.opening_line} for r in rows if r.template is not None
        ],
        "problems": [
            {"file": r.problem.path.name, "line": r.problem.line, "error": r.problem.message}
            for r in rows
            if r.problem is not None
        ],
        "note": "Variables are the {{placeholders}} of each template; initiate_outbound_call needs every required one.",
    }


def assistant_document(store: TemplateStore, assistant_id: str) -> dict[str, Any]:
    """The ``voicing://assistants/{assistant_id}`` document."""
    try:
        template = store.get(assistant_id)
    except VoicingError as exc:
        raise ResourceError(str(exc)) from None
    if template is None:
        raise ResourceNotFoundError(
            f"assistant {assistant_id!r} has no local template (<assistant_id>.j2 in the prompts folder); "
            "read voicing://assistants for the ones there are"
        )
    return {**_template_summary(template), "template": template.source}


def register_resources(server: MCPServer[ServerContext], store: TemplateStore) -> None:
    """Add the three resources to ``server``; ``store`` is the server's own TemplateStore."""

    @server.resource(
        "voicing://assistants",
        name="assistants",
        title="Assistant templates",
        description="The assistants with a local prompt template, each with its required and optional variables.",
        mime_type=JSON,
    )
    def assistants() -> str:
        return json.dumps(assistants_document(store), ensure_ascii=False, indent=2)

    @server.resource(
        "voicing://assistants/{assistant_id}",
        name="assistant",
        title="Assistant template",
        description="One assistant's prompt template: its text and its required and optional variables.",
        mime_type=JSON,
    )
    def assistant(assistant_id: str) -> str:
        return json.dumps(assistant_document(store, assistant_id), ensure_ascii=False, indent=2)

    @server.resource(
        "voicing://calls/{call_id}",
        name="call",
        title="Call details",
        description="One call's details, as get_call_details returns them (the transcript is third-party text).",
        mime_type=JSON,
    )
    async def call(call_id: str, ctx: Context[ServerContext, Any]) -> str:
        state = server_context(ctx)
        if not call_id.strip() or len(call_id) > MAX_CALL_ID:
            raise ResourceNotFoundError(
                f"call id of {len(call_id)} characters is not valid (1-{MAX_CALL_ID}); "
                "list_calls shows the calls there are"
            )
        try:
            result = await fetch_call(state.client, call_id)
        except NotFoundError:
            raise ResourceNotFoundError(f"call {call_id!r} not found; list_calls shows the calls there are") from None
        except VoicingError as exc:
            raise ResourceError(describe(exc, secret=state.secret, subject=f"call {call_id!r}")) from None
        return json_text(result.model_dump(mode="json"), indent=2)  # third-party text: invisible characters escaped


async def recent_dials_document(target: Path | SecretStr) -> str:
    """The ``voicing://ledger/recent`` document, read with a short-lived connection of its own (``target``:
    ``Settings.resolved_ledger``, the SQLite file or the PostgreSQL URL)."""
    if isinstance(target, SecretStr):
        ledger = open_ledger(target)
        try:
            rows = await ledger.recent(RECENT_ROWS)
        except GuardRefusal as exc:  # names the URL with its password masked
            raise ResourceError(f"the dial ledger cannot be read: {exc}") from None
        finally:
            await ledger.aclose()
        return _recent_document(ledger.shown, rows)
    path = target
    rows: list[DialRow] = []
    blocked = next((folder for folder in path.parents if folder.exists() and not folder.is_dir()), None)
    if not path.exists() and blocked is not None:
        # not "no dials yet": every dial is refused with [ledger] until this is fixed, and the resource says so
        raise ResourceError(
            f"the dial ledger {path} cannot be created: {blocked} is a file, not a folder; every dial is refused "
            "until VOICING_LEDGER names a usable path"
        )
    if path.exists():
        ledger = Ledger(path)
        try:
            rows = await ledger.recent(RECENT_ROWS)
        except (sqlite3.Error, GuardRefusal) as exc:
            raise ResourceError(f"the dial ledger {path} cannot be read: {exc}") from None
        finally:
            ledger.close()
    return _recent_document(str(path), rows)


def _recent_document(shown: str, rows: list[DialRow]) -> str:
    document = {
        "ledger": shown,
        "count": len(rows),
        "dials": [row.public() for row in rows],
        "note": "status: pending (intent written, no answer yet), started, failed (API error, no call), or "
        "unknown (no answer: the call may have been placed; the number is blocked until checked)",
    }
    return json_text(document, indent=2)  # the API's error texts are third-party: invisible characters escaped
