"""``initiate_outbound_call``: the one tool that makes a phone ring (and the ``voicing://ledger/recent`` resource).

The tool is a thin MCP layer over the dial workflow (:class:`~voicing_mcp.guard.workflow.DialWorkflow`), which
owns every rule of the dial and its confirmation:

1. a resolver (``Resolve(ask_the_human)``) runs the workflow's first decision point (checks 1-4, the mode) and,
   when the mode is the client's form, asks the human with the preview. The SDK carries that question over
   either protocol: a mid-call ``elicitation/create`` on 2025-11-25, an ``InputRequiredResult`` round on
   2026-07-28;
2. the tool body hands the request, the form's answer and the human's channel (:class:`McpHuman`: URL
   elicitation, the browser, progress) to :meth:`DialWorkflow.run`, which confirms (form, confirm page, token or
   allow-list), re-checks and dials once; a "no" is ``status: "declined"``;
3. the outcome becomes the tool's result (:func:`~voicing_mcp.server.render.preview.dial_result`); a refusal or a failed
   dial the tool error the model reads.

Optionally ``wait_seconds`` follows a started call with progress notifications (:mod:`voicing_mcp.server.tools.follow`).
What the human and the model are shown is written in :mod:`voicing_mcp.server.render.preview`.
"""

from typing import Annotated, Any, cast

from mcp.server.elicitation import AcceptedElicitation, ElicitationResult
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.mcpserver.resolve import Elicit, Resolve
from mcp_types import CallToolResult, ToolAnnotations
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ModelWrapValidatorHandler,
    PrivateAttr,
    StringConstraints,
    ValidationError,
    model_validator,
)

from voicing_mcp.config import Settings
from voicing_mcp.errors import GuardRefusal, VoicingError
from voicing_mcp.guard.request import DialRequest
from voicing_mcp.guard.workflow import DialWorkflow, FormAnswer, Prepared
from voicing_mcp.server.context import ServerContext, server_context
from voicing_mcp.server.render.preview import DialResult, dial_result, dial_tool_result, question_text
from voicing_mcp.server.render.results import tool_error
from voicing_mcp.server.resources import recent_dials_document
from voicing_mcp.server.tools.follow import current_status, find_uncertain_call, follow_call

MAX_WAIT_SECONDS = 120

# ----- arguments ---------------------------------------------------------------------------------
AssistantIdArg = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=256),
    Field(description="The Voicing assistant that will speak (voicing://assistants lists the local templates)."),
]
PhoneArg = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=64),
    Field(description="The number to call, in +country format (E.164), e.g. +17015550123."),
]
VariablesArg = Annotated[
    dict[str, Any],
    Field(
        description="Values for the assistant prompt's {{placeholders}}: every required one, as strings, numbers "
        "or booleans (voicing://assistants/{id} lists them)."
    ),
]
ProviderArg = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=128),
    Field(description='Telephony provider configured for the organization; "default" unless told otherwise.'),
]
TokenArg = Annotated[
    str | None,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=2048),
    Field(
        description="Token mode only: the confirmation_token from a confirmation_required result, sent only after "
        "the user saw that preview and said yes. Valid 5 minutes, once, for exactly the same request."
    ),
]
WaitArg = Annotated[
    int,
    Field(
        ge=0,
        le=MAX_WAIT_SECONDS,
        description="Follow the started call for up to this many seconds (0-120), with progress notifications, "
        "and return its latest status; 0 returns as soon as the call is started. When the user confirms on the "
        "confirm page, the tool also waits up to this long (at least 45 s) for their click.",
    ),
]


# ----- the question ----------------------------------------------------------------------------
class ConfirmCall(BaseModel):
    """Tick the box to place this call; leave it unticked or decline, and nothing is dialled."""

    # The docstring above is the form's description: the client shows it to the human, so it speaks to them.
    # Strict: only a real ``true`` is a tick ("yes", 1 or "on" are not). An accepted answer that does not fit
    # the form ({"confirm": "yes"}) is kept as "not ticked, malformed" instead of failing inside the SDK, which
    # would show the model an internal resolver name.
    model_config = ConfigDict(strict=True)

    confirm: bool = Field(default=False, title="Place this call now?", description="Tick to dial this number now.")
    _malformed: bool = PrivateAttr(default=False)

    @model_validator(mode="wrap")
    @classmethod
    def _not_a_tick(cls, data: Any, handler: ModelWrapValidatorHandler["ConfirmCall"]) -> "ConfirmCall":
        try:
            return handler(data)
        except ValidationError:
            answer = cls(confirm=False)
            answer._malformed = True
            return answer

    @property
    def malformed(self) -> bool:
        return self._malformed


class NoQuestion:
    """The resolver's answer when the human is not asked in this call: what the workflow prepared (the checks
    still hold: nobody was asked since)."""

    __slots__ = ("prepared",)

    def __init__(self, prepared: Prepared) -> None:
        self.prepared = prepared


def _workflow(state: ServerContext) -> DialWorkflow:
    """The dial workflow of this server's guard, with the API lookups its checks use."""
    return DialWorkflow(
        state.guard,
        reconcile=lambda row: find_uncertain_call(state.client, row),
        call_status=lambda call_id: current_status(state.client, call_id),
    )


async def ask_the_human(ctx: Context[ServerContext, Any], request: DialRequest) -> Elicit[ConfirmCall] | NoQuestion:
    """Resolver body: the workflow's first decision point; the question is asked when the mode is the form."""
    from voicing_mcp.server.web.confirm_flow import McpHuman  # noqa: PLC0415 (the confirm page's server: off the cold start)

    state = server_context(ctx)
    try:
        prepared = await _workflow(state).prepare(request, McpHuman(ctx))
    except GuardRefusal as exc:
        raise tool_error(exc) from None
    if prepared.mode != "elicitation" or prepared.decision is None:
        return NoQuestion(prepared)
    return Elicit(question_text(prepared.decision), ConfirmCall)


TOOL_DESCRIPTION = """Place a phone call: a Voicing assistant calls `phone_number` and speaks its prompt, filled with \
`input_variables`. A REAL PHONE RINGS (except in local mode). Every call passes the dial guard (number validity, \
do-not-call list, template variables, quiet hours in the callee's time zone, rate limit, no repeat of the same number \
and assistant within 10 minutes) and needs the human's confirmation:
- if your client can ask the user, they are shown a preview and only their explicit yes dials;
- otherwise the user confirms on a confirm page this server opens for them (in their browser, or through a link \
your client shows them); the tool waits for their click, or returns status "confirmation_required": tell the user, \
and once they have clicked, call again with the same arguments. A "Don't call" returns status "declined";
- in token mode (VOICING_CONFIRMATION=token) the result is "confirmation_required" with a preview and a \
confirmation_token: SHOW THE PREVIEW TO THE USER and ask them; only if they say yes, call again with the same \
arguments plus confirmation_token. Never confirm on the user's behalf.
A dial is never retried. If the outcome is uncertain, the error says how to check before dialling again. To test an \
assistant without a call, use chat_with_assistant."""


async def dial(
    ctx: Context[ServerContext, Any],
    request: DialRequest,
    *,
    wait_seconds: int,
    confirmation: ElicitationResult[ConfirmCall],
) -> CallToolResult:
    """The tool body: the workflow confirms (form / page / token / allow-list) and dials once; then follows."""
    from voicing_mcp.server.web.confirm_flow import McpHuman, pages_for  # noqa: PLC0415 (the confirm page's server: off the cold start)

    state = server_context(ctx)
    # the resolver's NoQuestion comes back as an accepted outcome carrying it (the SDK wraps plain values)
    data: object = cast(object, confirmation.data) if isinstance(confirmation, AcceptedElicitation) else None
    prepared = data.prepared if isinstance(data, NoQuestion) else None
    answer = None if isinstance(data, NoQuestion) else _form_answer(confirmation)
    try:
        outcome = await _workflow(state).run(
            request,
            McpHuman(ctx),
            lambda: pages_for(state),
            state.client,
            prepared=prepared,
            answer=answer,
            wait_seconds=wait_seconds,
        )
    except VoicingError as exc:  # a refusal, or a dial that failed
        raise tool_error(exc) from None  # the registration wrapper removes the key
    result = dial_result(outcome)
    if outcome.response is not None and wait_seconds > 0:
        result.call = await follow_call(ctx, state.client, outcome.response.call_id, wait_seconds)
    return _result(result)


def _form_answer(confirmation: ElicitationResult[ConfirmCall]) -> FormAnswer:
    if _accepted_by_human(confirmation):
        return FormAnswer(accepted=True)
    return FormAnswer(accepted=False, how=_how_declined(confirmation))


def _accepted_by_human(confirmation: ElicitationResult[ConfirmCall]) -> bool:
    """Only an explicit accept with the box ticked dials; a no is a normal result; a malformed yes is an error."""
    if isinstance(confirmation, AcceptedElicitation):
        data: object = cast(object, confirmation.data)
        if isinstance(data, ConfirmCall) and data.confirm:
            return True
        if isinstance(data, ConfirmCall):
            what = " (the answer was not a yes/no tick)" if data.malformed else ""
            raise ToolError(
                f"the user's answer did not tick 'Place this call now?'{what}: nothing was dialled; call "
                "initiate_outbound_call again to ask them once more"
            )
        raise ToolError("the user was not asked to confirm this call: nothing was dialled; call again")
    return False


def _how_declined(confirmation: ElicitationResult[ConfirmCall]) -> str:
    done = {"decline": "declined", "cancel": "cancelled"}.get(confirmation.action, confirmation.action)
    return f"The user {done} the call when asked: nothing was dialled."


def _result(result: DialResult) -> CallToolResult:
    return dial_tool_result(result)  # within the result budget (long variable values shown cut)


# ----- the tool ----------------------------------------------------------------------------------
# Both are module functions (no closure): the server registers the same function object every time, so a process
# that builds several servers builds the tool's schemas once (VoicingServer.add_tool). Their annotations are real
# objects (this module has no ``from __future__ import annotations``), which the SDK reads to find ``Resolve``.
async def confirm_with_human(
    ctx: Context[ServerContext, Any],
    assistant_id: str,
    phone_number: str,
    input_variables: dict[str, Any],
    telephony_provider: str,
    confirmation_token: str | None,
) -> Elicit[ConfirmCall] | NoQuestion:
    request = DialRequest.of(assistant_id, phone_number, input_variables, telephony_provider, confirmation_token)
    return await ask_the_human(ctx, request)


async def initiate_outbound_call(
    assistant_id: AssistantIdArg,
    phone_number: PhoneArg,
    ctx: Context[ServerContext, Any],
    confirmation: Annotated[ElicitationResult[ConfirmCall], Resolve(confirm_with_human)],
    input_variables: VariablesArg = {},  # noqa: B006 - pydantic copies defaults; the public signature says {}
    telephony_provider: ProviderArg = "default",
    confirmation_token: TokenArg = None,
    wait_seconds: WaitArg = 0,
) -> Annotated[CallToolResult, DialResult]:
    request = DialRequest.of(assistant_id, phone_number, input_variables, telephony_provider, confirmation_token)
    return await dial(ctx, request, wait_seconds=wait_seconds, confirmation=confirmation)


def register_dial_tool(server: MCPServer[ServerContext], settings: Settings, *, resource: bool = True) -> None:
    """Add ``initiate_outbound_call`` (and the ``voicing://ledger/recent`` resource) to ``server``."""
    server.add_tool(
        initiate_outbound_call,
        title="Place a phone call",
        description=TOOL_DESCRIPTION,
        annotations=ToolAnnotations(
            title="Place a phone call",
            read_only_hint=False,
            destructive_hint=True,
            idempotent_hint=False,
            open_world_hint=True,
        ),
    )
    if not resource:
        return

    async def ledger_recent() -> str:
        return await recent_dials_document(settings.resolved_ledger)

    server.resource(
        "voicing://ledger/recent",
        name="ledger-recent",
        title="Recent dials",
        description="The last dials this server placed (numbers masked), with how each was confirmed and its outcome.",
        mime_type="application/json",
    )(ledger_recent)
