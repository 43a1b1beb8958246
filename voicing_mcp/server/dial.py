"""``initiate_outbound_call``: the one tool that makes a phone ring, and the ``voicing://ledger/recent`` resource.

The tool is a thin MCP layer over :class:`~voicing_mcp.guard.policy.DialGuard`:

1. a resolver (``Resolve(ask_the_human)``) runs the guard's checks 1-4 and, when the client declared
   elicitation and the number is not allow-listed, asks the human with the preview. The SDK carries
   that question over either protocol: a mid-call ``elicitation/create`` on 2025-11-25, an
   ``InputRequiredResult`` round on 2026-07-28;
2. the tool body runs the checks again (time passed while the human read the preview), then
   dials on an explicit accept, on an allow-listed number, on the human's click on the loopback
   confirm page (human mode, :mod:`voicing_mcp.server.confirm_page`; its URL reaches only the human),
   or on a valid single-use confirmation token (token mode, opt-in); a "no" is ``status: "declined"``;
3. the guard commits the ledger intent, POSTs once and records the outcome. An uncertain outcome
   is reported, never retried, and blocks that number until checked.

Optionally ``wait_seconds`` follows a started call with progress notifications.
"""

import dataclasses
import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal, cast

import anyio
from mcp.server.elicitation import AcceptedElicitation, ElicitationResult
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ResourceError, ToolError
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

from voicing_mcp.api.models import OutboundCallRequest
from voicing_mcp.config import Settings
from voicing_mcp.errors import ConfigError, GuardRefusal, VoicingError
from voicing_mcp.guard.ledger import Confirmation, DialRow, Ledger
from voicing_mcp.guard.policy import Clock, Decision, DialGuard, describe_local_time, variables_text
from voicing_mcp.redact import one_line
from voicing_mcp.server.confirm_page import ConfirmPages, PendingDial, open_in_browser, request_digest
from voicing_mcp.server.context import ServerContext
from voicing_mcp.server.tools import as_tool_result, json_text, tool_error

if TYPE_CHECKING:
    from voicing_mcp.api.client import VoicingClient

logger = logging.getLogger(__name__)

MAX_WAIT_SECONDS = 120
POLL_SECONDS = 1.0
TERMINAL_STATUSES = frozenset({"completed", "busy", "no-answer", "voicemail", "failed", "canceled", "cancelled"})
RECONCILE_PAGES = 3
RECENT_ROWS = 20
#: how long the tool waits for a click on the confirm page by default (a longer wait_seconds waits longer);
#: progress notifications keep the client from timing out meanwhile
CONFIRM_WAIT_SECONDS = 45.0
CONFIRM_PROGRESS_SECONDS = 2.0
AskedVia = Literal["browser", "url-elicitation"]
#: undecided confirm pages at once (each opened a browser tab): more are refused, so a model cannot flood the user
MAX_PENDING_PAGES = 5
#: how long an identical concurrent request waits for the first one to hand the URL to the human
REACH_WAIT_SECONDS = 15.0

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


# ----- the question and the results ------------------------------------------------------------
class ConfirmCall(BaseModel):
    """The form shown to the human. Strict: only a real ``true`` is a tick ("yes", 1 or "on" are not)."""

    # (the docstring is the form's description sent to the client.) An accepted answer that does not fit the
    # form ({"confirm": "yes"}) is kept as "not ticked, malformed" instead of failing inside the SDK, which
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
    """The resolver's answer when the human is not asked in this call (token flow or allow-listed number)."""

    __slots__ = ("reason",)

    def __init__(self, reason: str) -> None:
        self.reason = reason


class PreviewModel(BaseModel):
    phone_number: str = Field(description="E.164, exactly as sent to the API.")
    international: str = Field(description="The number in international format.")
    country: str
    line_type: str
    callee_local_time: str = Field(description="The callee's local time now (a range for numbers spanning zones).")
    time_zones: list[str]
    assistant_id: str
    opening_line: str | None = Field(description="The assistant's first line, rendered from the local template.")
    telephony_provider: str
    input_variables: dict[str, str | int | float | bool]
    local_mode: bool = Field(description="True with the built-in emulator: no real phone will ring.")
    note: str | None = None


class FollowedCall(BaseModel):
    status: str | None = Field(description="The call's latest status.")
    ended: bool = Field(description="True when the call reached a final status while we waited.")
    duration: float | None = None
    ended_at: str | None = None
    waited_seconds: float
    note: str | None = None


class DialResult(BaseModel):
    """Result of initiate_outbound_call."""

    status: Literal["started", "confirmation_required", "declined"]
    call_id: str | None = Field(default=None, description="With status started: the new call's id.")
    request: OutboundCallRequest | None = Field(
        default=None, description="With status started: the normalised request that was sent."
    )
    confirmed_by: Literal["elicitation", "page", "token", "allow-list"] | None = None
    asked_via: AskedVia | None = Field(
        default=None,
        description="Human mode: where the human was asked to confirm (the confirm page opened in their browser, "
        "or its link shown by the client). The page's address is never given to the model.",
    )
    ledger_id: int | None = Field(default=None, description="The call's row in the local dial ledger.")
    confirmation_token: str | None = Field(
        default=None, description="With confirmation_required: pass it back once the user has said yes."
    )
    expires_at: str | None = Field(
        default=None, description="With confirmation_required: when the token (or the human's page) expires."
    )
    preview: PreviewModel
    warnings: list[str] = Field(default_factory=list[str])
    next_step: str | None = None
    call: FollowedCall | None = Field(default=None, description="With wait_seconds: how the call went so far.")


# ----- the guard of one server -----------------------------------------------------------------
def guard_for(state: ServerContext) -> DialGuard:
    """The server's DialGuard, built with its ledger by the lifespan (closed with the server)."""
    return state.guard


def _state(ctx: Context[ServerContext, Any]) -> ServerContext:
    return ctx.request_context.lifespan_context


def _secret(state: ServerContext) -> str | None:
    key = state.settings.api_key
    return key.get_secret_value() if key is not None else None


def client_can_elicit(ctx: Context[ServerContext, Any]) -> bool:
    """True when the client declared form elicitation (a bare ``elicitation: {}`` counts)."""
    caps = ctx.client_capabilities
    elicitation = caps.elicitation if caps is not None else None
    return elicitation is not None and (elicitation.form is not None or elicitation.url is None)


def refusal_error(exc: GuardRefusal) -> ToolError:
    # refusals quote the API (an earlier call's status) and the model's values: one line, escapes visible
    return ToolError(f"refused by the dial guard [{exc.rule}]: {one_line(exc.message)}. Nothing was dialled.")


async def _check(
    ctx: Context[ServerContext, Any],
    assistant_id: str,
    phone_number: str,
    input_variables: dict[str, Any],
    telephony_provider: str,
    *,
    clock: Clock | None,
) -> tuple[DialGuard, Decision]:
    state = _state(ctx)
    guard = guard_for(state)
    try:
        decision = await guard.check(
            assistant_id=assistant_id,
            phone_number=phone_number,
            input_variables=input_variables,
            telephony_provider=telephony_provider,
            reconcile=lambda row: find_uncertain_call(state.client, row),
            call_status=lambda call_id: current_status(state.client, call_id),
        )
    except GuardRefusal as exc:
        raise refusal_error(exc) from None
    return guard, decision


#: the question's local time is rounded to this many minutes: on the 2026-07-28 protocol the question is
#: compared between rounds, and a preview that changed while the human read it is asked again
QUESTION_TIME_STEP = 15


def question_text(decision: Decision) -> str:
    p = decision.preview
    if decision.checked_at is not None:
        rounded = describe_local_time(tuple(p.time_zones), decision.checked_at, round_minutes=QUESTION_TIME_STEP)
        p = dataclasses.replace(p, callee_local_time=rounded)
    head = (
        "Place this phone call? (local mode: the built-in emulator answers — no real phone will ring)"
        if p.local_mode
        else "Place this phone call? A real phone will ring."
    )
    warnings = "".join(f"\nWarning: {one_line(w)}" for w in decision.warnings)  # warnings quote values
    return f"{head}\n\n{p.as_text()}{warnings}"


async def ask_the_human(
    ctx: Context[ServerContext, Any],
    clock: Clock | None,
    assistant_id: str,
    phone_number: str,
    input_variables: dict[str, Any],
    telephony_provider: str,
    confirmation_token: str | None,
) -> Elicit[ConfirmCall] | NoQuestion:
    """Resolver body: run checks 1-4; ask the human with the preview when this call is confirmed by elicitation."""
    if confirmation_token is not None:
        return NoQuestion("token")
    guard, decision = await _check(ctx, assistant_id, phone_number, input_variables, telephony_provider, clock=clock)
    try:
        mode = guard.confirmation_mode(decision, client_can_elicit=client_can_elicit(ctx))
    except GuardRefusal as exc:
        raise refusal_error(exc) from None
    if mode != "elicitation":
        return NoQuestion(mode)
    return Elicit(question_text(decision), ConfirmCall)


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
    clock: Clock | None,
    *,
    assistant_id: str,
    phone_number: str,
    input_variables: dict[str, Any],
    telephony_provider: str,
    confirmation_token: str | None,
    wait_seconds: int,
    confirmation: ElicitationResult[ConfirmCall],
) -> CallToolResult:
    """The tool body: checks again, confirms (elicitation / page / token / allow-list), dials once, follows."""
    state = _state(ctx)
    guard, decision = await _check(ctx, assistant_id, phone_number, input_variables, telephony_provider, clock=clock)
    try:
        mode: Confirmation = guard.confirmation_mode(decision, client_can_elicit=client_can_elicit(ctx))
        if confirmation_token is not None:
            if state.settings.resolved_confirmation != "token":
                raise GuardRefusal(
                    "confirmation: this server does not take confirmation tokens (VOICING_CONFIRMATION=human: the "
                    "user confirms themselves, in the client's form or on the confirm page); call "
                    "initiate_outbound_call again without confirmation_token",
                    rule="token-not-accepted",
                )
            await guard.redeem_token(decision, confirmation_token)
            mode = "token"
        elif mode == "token":
            issued = guard.issue_token(decision)
            return _result(
                DialResult(
                    status="confirmation_required",
                    confirmation_token=issued.token,
                    expires_at=issued.expires_at.isoformat().replace("+00:00", "Z"),
                    preview=PreviewModel(**decision.preview.as_dict()),
                    warnings=decision.warnings,
                    next_step="Show this preview to the user and ask whether to place the call. Only if they say "
                    "yes, call initiate_outbound_call again with the same arguments and this confirmation_token "
                    "(valid 5 minutes, once). Nothing has been dialled.",
                )
            )
        elif mode == "elicitation":
            if not _accepted_by_human(confirmation):
                return _result(_declined(decision, _how_declined(confirmation)))
        elif mode == "page":
            answer = await confirm_on_page(ctx, guard, decision, wait_seconds)
            if answer is not None:
                return _result(answer)
            # approved and spent: the checks run once more (time passed while the human read the page)
            guard, decision = await _check(
                ctx, assistant_id, phone_number, input_variables, telephony_provider, clock=clock
            )
        response, row_id = await guard.place_call(decision, state.client, confirmation=mode)
    except GuardRefusal as exc:
        raise refusal_error(exc) from None
    except VoicingError as exc:
        raise tool_error(exc, secret=_secret(state)) from None
    result = DialResult(
        status="started",
        call_id=response.call_id,
        request=decision.request,
        confirmed_by=mode,
        ledger_id=row_id,
        preview=PreviewModel(**decision.preview.as_dict()),
        warnings=decision.warnings,
        next_step=f"Follow it with get_call_details(call_id={response.call_id!r}).",
    )
    if wait_seconds > 0:
        result.call = await follow_call(ctx, state.client, response.call_id, wait_seconds)
    return _result(result)


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


def _declined(decision: Decision, how: str, *, asked_via: AskedVia | None = None) -> DialResult:
    return DialResult(
        status="declined",
        asked_via=asked_via,
        preview=PreviewModel(**decision.preview.as_dict()),
        warnings=decision.warnings,
        next_step=f"{how} Do not dial this number again unless the user asks for it.",
    )


# ----- human mode: the confirm page -------------------------------------------------------------------
def pages_for(state: ServerContext, guard: DialGuard) -> ConfirmPages:
    """The server's confirm pages (created on first need, stopped with the server)."""
    pages = state.extras.get("confirm_pages")
    if not isinstance(pages, ConfirmPages):
        pages = ConfirmPages(port=state.settings.confirm_port, clock=guard.clock)
        state.extras["confirm_pages"] = pages
        state.exit_stack.push_async_callback(pages.aclose)
    return pages


def client_can_open_url(ctx: Context[ServerContext, Any]) -> bool:
    """True when the client declared URL-mode elicitation (it shows the link to the user, not to the model)."""
    caps = ctx.client_capabilities
    elicitation = caps.elicitation if caps is not None else None
    return elicitation is not None and elicitation.url is not None


NO_HUMAN = (
    "confirmation: no way to reach a human here — this MCP client cannot ask the user (no form or URL "
    "elicitation) and no browser could be opened on this machine for the confirm page. Options: use a client "
    "with elicitation; run the server where a browser can open (or set $BROWSER to a command that opens URLs for "
    "the user); put the operator's test phones in VOICING_ALLOWED_NUMBERS; or set VOICING_CONFIRMATION=token "
    "(the model then relays a token and could confirm a call by itself)"
)


async def confirm_on_page(
    ctx: Context[ServerContext, Any], guard: DialGuard, decision: Decision, wait_seconds: int
) -> DialResult | None:
    """Human mode without form elicitation. None when the human approved (and the approval is now spent);
    else the result to return: ``confirmation_required`` (still waiting) or ``declined``."""
    state = _state(ctx)
    pages = pages_for(state, guard)
    pending = pages.find(request_digest(decision.request))
    if pending is None and pages.just_spent(request_digest(decision.request)) is not None:
        raise GuardRefusal(
            "confirmation: this exact request was approved on the confirm page moments ago, and that approval was "
            "taken by an identical request sent at the same time (one click confirms one call); its result says "
            "how the call went (voicing://ledger/recent lists it). Nothing more was dialled and the user was not "
            "asked again",
            rule="confirmation-used",
        )
    if pending is None:
        if pages.undecided() >= MAX_PENDING_PAGES:
            raise GuardRefusal(
                f"confirmation: {MAX_PENDING_PAGES} confirm pages are already waiting for the user; let them "
                "answer those (or let them expire, 5 minutes) before asking about another call",
                rule="confirmation-pending",
            )
        # registered before the first await: a concurrent identical request finds it instead of opening a tab
        pending = pages.create(decision.request, decision.preview, decision.warnings)
        try:
            await pages.start()
        except (ConfigError, OSError) as exc:
            pages.forget(pending)
            raise GuardRefusal(
                f"confirmation: the confirm page could not start: {exc}. Until then a human can confirm only "
                "through a client with elicitation (or put test phones in VOICING_ALLOWED_NUMBERS)",
                rule="confirmation-unavailable",
            ) from None
        try:
            pending.asked_via = await reach_the_human(ctx, pages, pending)
        finally:
            pending.reached.set()  # a concurrent identical request waits for this
        if pending.asked_via is None:
            pages.forget(pending)
            raise GuardRefusal(NO_HUMAN, rule="confirmation-unavailable")
        logger.info("confirmation asked via %s for %s", pending.asked_via, decision.phone.masked)
    else:
        with anyio.move_on_after(REACH_WAIT_SECONDS):
            await pending.reached.wait()
        if pending.reached.is_set() and pending.asked_via is None:
            raise GuardRefusal(NO_HUMAN, rule="confirmation-unavailable")
    if pending.state == "pending":
        await wait_for_click(ctx, pending, max(float(wait_seconds), CONFIRM_WAIT_SECONDS))
    via = cast(AskedVia | None, pending.asked_via)
    if pending.state == "declined":
        # kept until it expires: the same request asked again within the 5 minutes is declined again, so a
        # model cannot nag the human with new pages
        until = pending.expires_at.strftime("%H:%M:%S UTC")
        return _declined(
            decision,
            f'The user chose "Don\'t call" on the confirm page: nothing was dialled. The same request is '
            f"declined until {until}.",
            asked_via=via,
        )
    if pending.state == "approved":
        pages.close(pending)
        if not await guard.ledger.spend_nonce(pending.nonce, expires_at=pending.expires_at):
            raise GuardRefusal(
                "confirmation: this approval has already placed its call (one click confirms one call); call "
                "initiate_outbound_call again for a new confirmation",
                rule="confirmation-used",
            )
        return None
    where = {"browser": "in their browser", "url-elicitation": "through the link your client showed them"}.get(
        via or "", "(the link is on its way to them)"
    )
    return DialResult(
        status="confirmation_required",
        asked_via=via,
        expires_at=pending.expires_at.isoformat().replace("+00:00", "Z"),
        preview=PreviewModel(**decision.preview.as_dict()),
        warnings=decision.warnings,
        next_step=f"The user was asked to confirm this call on a confirm page {where}; nothing has been dialled. "
        'Tell them; once they have clicked "Call now", call initiate_outbound_call again with the same '
        "arguments (within 5 minutes). Only the user can confirm it.",
    )


async def reach_the_human(
    ctx: Context[ServerContext, Any], pages: ConfirmPages, pending: PendingDial
) -> AskedVia | None:
    """Give the page's URL to the human: URL-mode elicitation, else the browser. None when neither can."""
    import secrets

    url = pages.url(pending)
    if client_can_open_url(ctx):
        elicitation_id = secrets.token_hex(8)  # not the page's id
        try:
            answer = await ctx.elicit_url(
                "Confirm or decline this phone call on the confirm page (it shows who will be called).",
                url,
                elicitation_id,
            )
        except Exception as exc:  # no back-channel on this transport, or the client failed: try the browser
            logger.info("URL elicitation unavailable (%s); opening the browser", type(exc).__name__)
        else:
            if answer.action != "accept":
                pending.state = "declined"
                pending.decided.set()
            return "url-elicitation"
    if await open_in_browser(url):
        return "browser"
    return None


async def wait_for_click(ctx: Context[ServerContext, Any], pending: PendingDial, limit: float) -> None:
    """Wait for the human's decision up to ``limit`` seconds, reporting progress meanwhile."""
    start = anyio.current_time()
    while pending.state == "pending" and not pending.decided.is_set():
        elapsed = anyio.current_time() - start
        remaining = limit - elapsed
        if remaining <= 0:
            return
        await ctx.report_progress(elapsed, limit, "waiting for the user to confirm the call on the confirm page")
        with anyio.move_on_after(min(CONFIRM_PROGRESS_SECONDS, remaining)):
            await pending.decided.wait()


def _result(result: DialResult) -> CallToolResult:
    return as_tool_result(result, text_for_dial(result))


def text_for_dial(result: DialResult) -> str:
    """The readable text block. Model-supplied, template-derived and API strings are made visible and kept on
    their line (``one_line``); the structured result keeps them as sent."""
    p = result.preview
    lines: list[str]
    if result.status == "started":
        lines = [
            f"Call started: call_id {one_line(result.call_id or '')} to {one_line(p.international)} "
            f"(confirmed by {result.confirmed_by})."
        ]
        if result.call is not None:
            c = result.call
            state = "ended" if c.ended else "still going"
            lines.append(f"Status after {c.waited_seconds:.0f} s: {one_line(str(c.status))} ({state}).")
    elif result.status == "declined":
        lines = [
            f"DECLINED — nothing was dialled. Call to {one_line(p.international)} "
            f"(assistant {one_line(p.assistant_id)})."
        ]
    else:
        lines = [
            "CONFIRMATION REQUIRED — nothing has been dialled. Show the user this preview and ask before confirming:"
            if result.confirmation_token is not None
            else "CONFIRMATION REQUIRED — nothing has been dialled. The user was asked to confirm this call:",
        ]
        opening = f'"{one_line(p.opening_line)}"' if p.opening_line is not None else "(none)"
        lines.append(
            "\n".join(
                [
                    f"  Number: {one_line(p.international)} ({one_line(p.country)}, {one_line(p.line_type)})",
                    f"  Callee's local time: {one_line(p.callee_local_time)}",
                    f"  Assistant: {one_line(p.assistant_id)} (provider {one_line(p.telephony_provider)})",
                    f"  Opening line: {opening}",
                    f"  Variables: {variables_text(p.input_variables) or '(none)'}",
                ]
            )
        )
        if p.note:
            lines.append(f"  {one_line(p.note)}")
        if result.confirmation_token is not None:
            lines.append(f"confirmation_token (expires {result.expires_at}): {result.confirmation_token}")
    lines.extend(f"Warning: {one_line(w)}" for w in result.warnings)
    if result.next_step:
        lines.append(one_line(result.next_step))
    return "\n".join(lines)


# ----- following a call, checking an uncertain one ------------------------------------------------
async def follow_call(
    ctx: Context[ServerContext, Any], client: "VoicingClient", call_id: str, wait_seconds: int
) -> FollowedCall:
    """Poll the call until it ends or ``wait_seconds`` pass, reporting progress. Never raises for the call."""
    start = anyio.current_time()
    deadline = start + wait_seconds
    status: str | None = None
    while True:
        elapsed = anyio.current_time() - start
        try:
            details = await client.get_call_details(call_id)
        except VoicingError as exc:
            return FollowedCall(
                status=status,
                ended=False,
                waited_seconds=round(elapsed, 1),
                note=f"stopped following: {exc}. The call was started; check it with get_call_details.",
            )
        status = details.status
        shown = f"call {one_line(call_id)}: {one_line(str(status))}"  # the client shows it: the API's text, one line
        await ctx.report_progress(min(elapsed, wait_seconds), wait_seconds, shown)
        if status is not None and status.lower() in TERMINAL_STATUSES:
            return FollowedCall(
                status=status,
                ended=True,
                duration=details.duration,
                ended_at=details.ended_at,
                waited_seconds=round(elapsed, 1),
            )
        remaining = deadline - anyio.current_time()
        if remaining <= 0:
            return FollowedCall(
                status=status,
                ended=False,
                waited_seconds=round(elapsed, 1),
                note="still going; follow it with get_call_details",
            )
        await anyio.sleep(min(POLL_SECONDS, remaining))


async def current_status(client: "VoicingClient", call_id: str) -> str | None:
    try:
        return (await client.get_call_details(call_id)).status
    except VoicingError:
        return None


async def find_uncertain_call(client: "VoicingClient", row: DialRow) -> str | None:
    """Look for the call an uncertain dial may have placed: same number and assistant, created after the intent.

    Only a positive match lifts the block; not finding it (or the list lacking the fields) keeps it.
    """
    since = datetime.fromisoformat(row.created_at.replace("Z", "+00:00")) - timedelta(minutes=1)
    try:
        for page in range(1, RECONCILE_PAGES + 1):
            listing = await client.list_calls(page=page, limit=100)
            for call in listing.calls:
                extra = call.extra_fields()
                if extra.get("phone_number") != row.phone_e164 or extra.get("assistant_id") != row.assistant_id:
                    continue
                created = _parse_time(extra.get("created_at") or call.started_at)
                if created is not None and created >= since:
                    return call.call_id
            if not listing.has_next:
                break
    except VoicingError as exc:
        logger.info("could not check the uncertain dial (ledger #%d): %s", row.id, exc)
    return None


def _parse_time(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        t = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return t if t.tzinfo is not None else t.replace(tzinfo=UTC)


# ----- registration ------------------------------------------------------------------------------
def register_dial_tool(
    server: MCPServer[ServerContext], settings: Settings, *, clock: Clock | None = None, resource: bool = True
) -> None:
    """Add ``initiate_outbound_call`` (and the ``voicing://ledger/recent`` resource) to ``server``.

    ``clock`` (UTC ``datetime`` callable) is for tests that move time; the guard of this server uses it.
    The tool and its resolver are closures over it; their annotations are real objects (this module
    has no ``from __future__ import annotations``), which the SDK reads to find ``Resolve``.
    """

    async def confirm_with_human(
        ctx: Context[ServerContext, Any],
        assistant_id: str,
        phone_number: str,
        input_variables: dict[str, Any],
        telephony_provider: str,
        confirmation_token: str | None,
    ) -> Elicit[ConfirmCall] | NoQuestion:
        return await ask_the_human(
            ctx, clock, assistant_id, phone_number, input_variables, telephony_provider, confirmation_token
        )

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
        return await dial(
            ctx,
            clock,
            assistant_id=assistant_id,
            phone_number=phone_number,
            input_variables=input_variables,
            telephony_provider=telephony_provider,
            confirmation_token=confirmation_token,
            wait_seconds=wait_seconds,
            confirmation=confirmation,
        )

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


async def recent_dials_document(path: Path) -> str:
    """The ``voicing://ledger/recent`` document, read with a short-lived connection of its own."""
    import sqlite3

    rows: list[DialRow] = []
    if path.exists():
        ledger = Ledger(path)
        try:
            rows = await ledger.recent(RECENT_ROWS)
        except (sqlite3.Error, GuardRefusal) as exc:
            raise ResourceError(f"the dial ledger {path} cannot be read: {exc}") from None
        finally:
            ledger.close()
    document = {
        "ledger": str(path),
        "count": len(rows),
        "dials": [row.public() for row in rows],
        "note": "status: pending (intent written, no answer yet), started, failed (API error, no call), or "
        "unknown (no answer: the call may have been placed; the number is blocked until checked)",
    }
    return json_text(document, indent=2)  # the API's error texts are third-party: invisible characters escaped
