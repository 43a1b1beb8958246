"""What a dial shows: the preview's one renderer, the question asked before dialling, and the tool's result.

:func:`preview_rows` is the only place a :class:`~voicing_mcp.guard.policy.Preview` becomes text. The
elicitation question (:func:`question_text`), the confirm page (:mod:`voicing_mcp.server.web.confirm_page`) and the
result text (:func:`text_for_dial`) all use it. Every model-supplied, template-derived or API string is made
visible and kept on its line (:func:`~voicing_mcp.redact.one_line`); variable values are quoted
(:func:`~voicing_mcp.guard.policy.variables_text`): an ANSI escape or a bidi override in a variable cannot make
the human read another number, or another value, than the one dialled.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from mcp_types import CallToolResult
from pydantic import BaseModel, Field

from voicing_mcp.api.models import OutboundCallRequest
from voicing_mcp.guard.policy import CheckedDial, Preview, describe_local_time, variables_text
from voicing_mcp.guard.workflow import AskedVia, Outcome
from voicing_mcp.redact import one_line
from voicing_mcp.server.render.results import RESULT_BUDGET, as_tool_result, result_size

#: the question's local time is rounded to this many minutes: on the 2026-07-28 protocol the question is
#: compared between rounds, and a preview that changed while the human read it is asked again
QUESTION_TIME_STEP = 15


def preview_rows(p: Preview) -> list[tuple[str, str]]:
    """The preview as (label, text) rows, every value already made visible and kept on one line."""
    return [
        ("Number", f"{one_line(p.international)} ({one_line(p.country)}, {one_line(p.line_type)})"),
        ("Callee's local time", one_line(p.callee_local_time)),
        ("Assistant", f"{one_line(p.assistant_id)} (provider {one_line(p.telephony_provider)})"),
        ("Opening line", f'"{one_line(p.opening_line)}"' if p.opening_line is not None else "(none)"),
        ("Variables", variables_text(p.input_variables) or "(none)"),
    ]


def preview_text(p: Preview, *, indent: str = "") -> str:
    """The preview as lines of text: ``Call <number>`` first, on a line of its own, then the other rows."""
    (_, number), *rest = preview_rows(p)
    lines = [f"Call {number}", *(f"{label}: {value}" for label, value in rest)]
    if p.note:
        lines.append(one_line(p.note))
    return "\n".join(indent + line for line in lines)


def question_text(decision: CheckedDial) -> str:
    """The question the human answers in the client's form (elicitation)."""
    p = decision.preview
    if decision.checked_at is not None:
        rounded = describe_local_time(tuple(p.time_zones), decision.checked_at, round_minutes=QUESTION_TIME_STEP)
        p = p.model_copy(update={"callee_local_time": rounded})
    head = (
        "Place this phone call? (local mode: the built-in emulator answers — no real phone will ring)"
        if p.local_mode
        else "Place this phone call? A real phone will ring."
    )
    warnings = "".join(f"\nWarning: {one_line(w)}" for w in decision.warnings)  # warnings quote values
    return f"{head}\n\n{preview_text(p)}{warnings}"


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
    preview: Preview
    warnings: list[str] = Field(default_factory=list[str])
    next_step: str | None = None
    call: FollowedCall | None = Field(default=None, description="With wait_seconds: how the call went so far.")


def dial_result(outcome: Outcome) -> DialResult:
    """The tool's result for what the dial workflow did."""
    decision = outcome.decision
    if outcome.status == "started":
        assert outcome.response is not None
        call_id = outcome.response.call_id
        return DialResult(
            status="started",
            call_id=call_id,
            request=decision.request,
            confirmed_by=outcome.mode,
            ledger_id=outcome.ledger_id,
            preview=decision.preview,
            warnings=decision.warnings,
            next_step=f"Follow it with get_call_details(call_id={call_id!r}).",
        )
    if outcome.status == "declined":
        return DialResult(
            status="declined",
            asked_via=outcome.asked_via,
            preview=decision.preview,
            warnings=decision.warnings,
            next_step=f"{outcome.how} Do not dial this number again unless the user asks for it.",
        )
    expires = _utc(outcome.expires_at)
    if outcome.token is not None:
        return DialResult(
            status="confirmation_required",
            confirmation_token=outcome.token.token,
            expires_at=expires,
            preview=decision.preview,
            warnings=decision.warnings,
            next_step="Show this preview to the user and ask whether to place the call. Only if they say "
            "yes, call initiate_outbound_call again with the same arguments and this confirmation_token "
            "(valid 5 minutes, once). Nothing has been dialled.",
        )
    where = {"browser": "in their browser", "url-elicitation": "through the link your client showed them"}.get(
        outcome.asked_via or "", "(the link is on its way to them)"
    )
    return DialResult(
        status="confirmation_required",
        asked_via=outcome.asked_via,
        expires_at=expires,
        preview=decision.preview,
        warnings=decision.warnings,
        next_step=f"The user was asked to confirm this call on a confirm page {where}; nothing has been dialled. "
        'Tell them; once they have clicked "Call now", call initiate_outbound_call again with the same '
        "arguments (within 5 minutes). Only the user can confirm it.",
    )


def _utc(when: datetime | None) -> str | None:
    return when.isoformat().replace("+00:00", "Z") if when is not None else None


def text_for_dial(result: DialResult) -> str:
    """The readable text block; the structured result keeps every string as sent."""
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
            preview_text(p, indent="  "),
        ]
        if result.confirmation_token is not None:
            lines.append(f"confirmation_token (expires {result.expires_at}): {result.confirmation_token}")
    lines.extend(f"Warning: {one_line(w)}" for w in result.warnings)
    if result.next_step:
        lines.append(one_line(result.next_step))
    return "\n".join(lines)


#: characters of each long variable value (and warning) shown when a dial's result would not fit the budget;
#: the opening line keeps four times as many
SHOWN_VALUE_STEPS = (500, 200, 60, 16)


def dial_tool_result(result: DialResult) -> CallToolResult:
    """The dial's result within RESULT_BUDGET. 50 variables of 2,000 characters, echoed in the request, the
    preview and the text, would take 400,000: long values are then shown cut (``…``) in this result only, and
    a warning names them and says the call sends them in full. The human's own question is not cut."""
    fitted = as_tool_result(result, text_for_dial(result))
    for limit in SHOWN_VALUE_STEPS:
        if result_size(fitted) <= RESULT_BUDGET:
            break
        shown = _with_values_cut(result, limit)
        fitted = as_tool_result(shown, text_for_dial(shown))
    return fitted


def _cut(value: Any, limit: int) -> Any:
    return value[: limit - 1] + "…" if isinstance(value, str) and len(value) > limit else value


def _with_values_cut(result: DialResult, limit: int) -> DialResult:
    p = result.preview
    long = sorted(k for k, v in p.input_variables.items() if isinstance(v, str) and len(v) > limit)
    preview = p.model_copy(
        update={
            "input_variables": {k: _cut(v, limit) for k, v in p.input_variables.items()},
            "opening_line": _cut(p.opening_line, limit * 4),
        }
    )
    request = result.request
    if request is not None:
        cut = {k: _cut(v, limit) for k, v in request.input_variables.items()}
        request = request.model_copy(update={"input_variables": cut})
    note = (
        f"to fit this result, the values of {len(long)} input variable(s) ({', '.join(long)}) and long warnings "
        f"are shown cut to {limit} characters (…), the opening line to {limit * 4}; the call sends every value in full"
    )
    warnings = [_cut(w, limit) for w in result.warnings] + [note]
    return result.model_copy(update={"preview": preview, "request": request, "warnings": warnings})
