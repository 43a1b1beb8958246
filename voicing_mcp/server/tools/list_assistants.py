"""``list_assistants``: the assistants this server can dial with, read from the local prompt templates.

The Voicing API has no endpoint that lists assistants or their prompts, so "the assistants this server can dial
with" are the ``<assistant_id>.j2`` templates the dial guard reads (``guard.templates.TemplateStore``).
:func:`assistant_rows` is the one source for this tool and for the ``voicing://assistants`` resource: every
template found, sorted by id, each either parsed (its required and optional variables, its opening line with every
placeholder shown as ``{{name}}``, its human name if its first line gives one) or broken (its error; listed, never
a crash).

The result stays within :data:`BUDGET` characters whatever the folder holds: rows are capped, and a page holds as
many rows as fit; ``next_offset`` says where the rest starts.
"""

from __future__ import annotations

import inspect
import json
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any

from mcp.server.mcpserver import Context, MCPServer
from mcp_types import CallToolResult, ToolAnnotations
from pydantic import BaseModel, Field, StringConstraints

from voicing_mcp.guard.templates import SUFFIX, TemplateProblem
from voicing_mcp.redact import one_line
from voicing_mcp.runtime import describe_prompts
from voicing_mcp.server.context import ServerContext, server_context
from voicing_mcp.server.render.results import as_tool_result

if TYPE_CHECKING:
    from pathlib import Path

    from voicing_mcp.config import Settings
    from voicing_mcp.guard.templates import AssistantTemplate, TemplateStore

#: no result of any tool exceeds this many characters (content blocks plus structuredContent, as JSON; issue 9)
BUDGET = 25_000
#: what a page aims below, leaving room for the text block's paging sentence
_PAGE_TARGET = BUDGET - 1_500
MAX_LINE = 200
MAX_NAME = 64  # the dial's longest input variable name (guard.variables.MAX_KEY_LENGTH)
MAX_NAMES = 50  # the dial's most input variables (guard.variables.MAX_VARIABLES)
MAX_ERROR = 300


# ----- the one source ---------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class AssistantRow:
    """One ``<assistant_id>.j2`` file: parsed (``template``) or broken (``problem``)."""

    assistant_id: str
    path: Path
    template: AssistantTemplate | None
    problem: TemplateProblem | None
    example: bool

    @property
    def opening_line(self) -> str | None:
        return None if self.template is None else opening_line_of(self.template)


def assistant_rows(store: TemplateStore) -> list[AssistantRow]:
    """Every template of the store's folders, sorted by assistant id; a broken one carries its problem."""
    templates, problems = store.scan()
    examples = set(store.folders[1:])
    rows = [AssistantRow(t.assistant_id, t.path, t, None, t.path.parent in examples) for t in templates]
    for p in problems:
        assistant_id = p.path.name.removesuffix(SUFFIX)
        rows.append(AssistantRow(assistant_id, p.path, None, p, p.path.parent in examples))
    return sorted(rows, key=lambda r: r.assistant_id)


def opening_line_of(template: AssistantTemplate) -> str:
    """The template's first non-empty line with every input shown as ``{{name}}`` (what a dial's preview shows
    once the values are given). A template whose expressions cannot take text (``{{ amount * 1.2 }}``) shows its
    first source line instead."""
    shown = {name: _Shown(name) for name in template.placeholders}
    try:
        text = template.render(shown)
    except TemplateProblem:
        text = template.source
    line = next((ln.strip() for ln in text.splitlines() if ln.strip()), "")
    return _cap(line, MAX_LINE)


class _Shown:
    """A placeholder's stand-in: printed as ``{{name}}``; arithmetic, loops or attributes on it fail (the template
    then shows its source line), where text would give ``{{amount}}{{amount}}`` for ``{{ amount * 2 }}``."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __str__(self) -> str:
        return f"{{{{{self.name}}}}}"


def _cap(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


# ----- the tool's result ------------------------------------------------------------------------
class AssistantEntry(BaseModel):
    """One assistant in ``list_assistants``."""

    assistant_id: str
    display_name: str | None = Field(
        default=None, description="The assistant's human name ({# name: … #} on its template's first line)."
    )
    required_variables: list[str] = Field(description="Every one must be in a dial's input_variables.")
    optional_variables: list[str] = Field(description="May be left out (the template has a default or a guard).")
    opening_line: str | None = Field(description="The template's first line, each variable shown as {{name}}.")
    example: bool = Field(description="A shipped example (local mode: the built-in emulator's assistant).")
    error: str | None = Field(default=None, description="Why the template cannot be used; dials are refused.")


class ListAssistantsResult(BaseModel):
    """Result of ``list_assistants``."""

    assistants: list[AssistantEntry]
    total: int = Field(description="Templates found (parsed and broken).")
    broken: int = Field(description="Templates that do not parse: dials with them are refused until fixed.")
    offset: int
    returned: int
    next_offset: int | None = Field(description="Call list_assistants(offset=next_offset) for the rest; null: done.")
    prompts_dir: str = Field(description="The folder your templates are read from (<assistant_id>.j2).")
    prompts_dir_source: str
    only_examples: bool = Field(description="No template of yours: only the shipped examples (local mode) or none.")
    strict_templates: bool = Field(description="VOICING_STRICT_TEMPLATES: true refuses dials without a template.")
    dialling: str = Field(description="Which assistant ids a dial accepts, given strict_templates.")
    next_step: str


def _entry(row: AssistantRow) -> AssistantEntry:
    def names(values: list[str]) -> list[str]:
        shown = [_cap(v, MAX_NAME + 1) for v in values[:MAX_NAMES]]
        return shown + ([f"… {len(values) - MAX_NAMES} more"] if len(values) > MAX_NAMES else [])

    if row.template is None:
        error = _cap(one_line(str(row.problem) if row.problem else "cannot be read"), MAX_ERROR)
        return AssistantEntry(
            assistant_id=row.assistant_id,
            required_variables=[],
            optional_variables=[],
            opening_line=None,
            example=row.example,
            error=error,
        )
    return AssistantEntry(
        assistant_id=row.assistant_id,
        display_name=row.template.display_name,
        required_variables=names(row.template.required),
        optional_variables=names(row.template.optional),
        opening_line=row.opening_line,
        example=row.example,
    )


def dialling_rule(settings: Settings, folder: str) -> str:
    if settings.strict_templates:
        return (
            "VOICING_STRICT_TEMPLATES=true: only the assistants listed here (without error) can be dialled; a dial "
            f"with any other assistant_id is refused until its template is put in {folder} as <assistant_id>.j2"
        )
    return (
        "VOICING_STRICT_TEMPLATES=false: the assistants listed here get their variables checked before a dial; "
        "another assistant_id is dialled with a warning and its variables unchecked"
    )


def _next_step(settings: Settings, total: int, only_examples: bool, folder: str, source: str) -> str:
    refused = " Until then every dial is refused (VOICING_STRICT_TEMPLATES=true)." if settings.strict_templates else ""
    if total == 0:
        return (
            f"No template in {folder} ({source}). Put a copy of each assistant's prompt there as <assistant_id>.j2 "
            "(its text with its {{placeholders}}), or set VOICING_PROMPTS_DIR to the folder that has them; then call "
            f"list_assistants again.{refused} `voicing-mcp check` reports the folder."
        )
    if only_examples:
        return (
            f"Only the shipped examples (local mode: no real phone rings). Your own templates go in {folder} as "
            "<assistant_id>.j2. To place a call: pick an assistant, give every required variable in input_variables "
            "of initiate_outbound_call; to test one first, chat_with_assistant with the same input_variables."
        )
    return (
        "To place a call: pick an assistant, give every required variable in input_variables of "
        "initiate_outbound_call; to test one first, chat_with_assistant with the same input_variables."
    )


def list_assistants_result(
    settings: Settings, store: TemplateStore, *, offset: int = 0, assistant_id: str | None = None
) -> ListAssistantsResult:
    """``list_assistants`` without MCP: one page of rows that fits the budget."""
    report = describe_prompts(settings, store)
    rows = assistant_rows(store)
    if assistant_id is not None:
        wanted = {assistant_id, _canonical(assistant_id)}
        rows = [r for r in rows if r.assistant_id in wanted]
    head = ListAssistantsResult(
        assistants=[],
        total=len(rows),
        broken=sum(1 for r in rows if r.template is None),
        offset=offset,
        returned=0,
        next_offset=None,
        prompts_dir=report.folder,
        prompts_dir_source=report.source,
        only_examples=report.only_examples,
        strict_templates=settings.strict_templates,
        dialling=dialling_rule(settings, report.folder),
        next_step=_next_step(settings, len(rows), report.only_examples, report.folder, report.source),
    )
    # the rows appear twice (the JSON text block and structuredContent): each costs twice its JSON
    room = _PAGE_TARGET - 2 * _json_size(head.model_dump(mode="json"))
    page: list[AssistantEntry] = []
    for row in rows[offset:]:
        entry = _entry(row)  # rendered only as far as the page goes
        cost = 2 * (_json_size(entry.model_dump(mode="json")) + 2)
        if cost > room:
            break
        room -= cost
        page.append(entry)
    more = offset + len(page) < len(rows)
    return head.model_copy(
        update={"assistants": page, "returned": len(page), "next_offset": offset + len(page) if more else None}
    )


def _canonical(assistant_id: str) -> str:
    try:
        return str(uuid.UUID(assistant_id))
    except ValueError:
        return assistant_id


def _json_size(data: Any) -> int:
    return len(json.dumps(data))  # ASCII-escaped: never less than what the wire carries


def text_for_assistants(r: ListAssistantsResult, *, assistant_id: str | None = None) -> str:
    """The short readable summary; the rows are in the JSON."""
    if assistant_id is not None and r.total == 0:
        lines = [
            f"Assistant {one_line(assistant_id)!r} has no template in {r.prompts_dir} ({r.prompts_dir_source}).",
            r.dialling + ".",
        ]
        return "\n".join(lines)
    where = f"{r.prompts_dir} ({r.prompts_dir_source})"
    kind = "only the shipped examples" if r.only_examples and r.total else "templates"
    lines = [f"{r.total} assistant template(s) from {where}: {kind}; {r.broken} broken."]
    if r.returned:
        lines.append(
            f"Showing {r.offset + 1}-{r.offset + r.returned} in the JSON below: id, display name (if its template "
            "gives one), required and optional variables, opening line (each variable shown as {{name}})."
        )
    elif r.offset and r.offset >= r.total:
        lines.append(f"offset {r.offset} is past the end ({r.total}): call list_assistants() for the first page.")
    if r.next_offset is not None:
        lines.append(f"More: call list_assistants(offset={r.next_offset}) for the next page.")
    if r.broken:
        lines.append("A template with `error` cannot be used until its file is fixed (`voicing-mcp check` lists them).")
    lines += [r.dialling + ".", r.next_step]
    return "\n".join(lines)


# ----- the tool -----------------------------------------------------------------------------------
async def list_assistants(
    ctx: Context[ServerContext, Any],
    offset: Annotated[int, Field(ge=0, le=1_000_000, description="Skip this many (from next_offset).")] = 0,
    assistant_id: Annotated[
        str | None,
        StringConstraints(strip_whitespace=True, min_length=1, max_length=256),
        Field(description="Only this assistant."),
    ] = None,
) -> Annotated[CallToolResult, ListAssistantsResult]:
    """The assistants you can dial with: each one's required and optional input_variables and opening line
    ({{name}} marks a variable), where the templates come from, what to do if there are none. Read-only."""
    state = server_context(ctx)
    result = list_assistants_result(state.settings, state.templates, offset=offset, assistant_id=assistant_id)
    return fitted(result, assistant_id=assistant_id)


def fitted(result: ListAssistantsResult, *, assistant_id: str | None = None) -> CallToolResult:
    """The tool result, measured as sent; rows the estimate let in but that do not fit go to the next page."""
    while True:
        tool_result = as_tool_result(result, text_for_assistants(result, assistant_id=assistant_id))
        if result_size(tool_result) <= BUDGET or not result.assistants:
            return tool_result
        page = result.assistants[:-1]
        result = result.model_copy(
            update={"assistants": page, "returned": len(page), "next_offset": result.offset + len(page)}
        )


def result_size(result: CallToolResult) -> int:
    """Every content block plus structuredContent, serialised as JSON (issue 9's measure)."""
    blocks = [b.model_dump(mode="json", by_alias=True, exclude_none=True) for b in result.content]
    return len(json.dumps(blocks)) + len(json.dumps(result.structured_content))


def register_assistants_tool(server: MCPServer[ServerContext]) -> None:
    """Add ``list_assistants`` to ``server``."""
    server.add_tool(
        list_assistants,
        title="List assistants",
        description=inspect.cleandoc(list_assistants.__doc__ or ""),
        annotations=ToolAnnotations(
            title="List assistants",
            read_only_hint=True,
            destructive_hint=False,
            idempotent_hint=True,
            open_world_hint=False,  # local template files only: no API request
        ),
    )
