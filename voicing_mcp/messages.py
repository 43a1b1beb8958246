"""The words the model (or a person running ``check``) reads for any exception of this package: written here only.

Exceptions carry data (a status, the API's detail, a close code, the guard's rule and reason with its fields, the
cause of a failed dial); this module writes the prose from it:

* :func:`describe` turns any exception into the one line that says what went wrong and how to fix it;
* :func:`refusal` builds the guard's :class:`~voicing_mcp.errors.GuardRefusal` for a reason code and its fields,
  its text written by the reason's function here (the guard's modules name the reason; they write no prose).

Nothing here knows about MCP: tools and resources wrap :func:`describe` in their error
(:func:`voicing_mcp.server.render.results.tool_error`), ``check`` prints it. The module runs over 450 lines on purpose:
every refusal's words are here, one short function each, grouped by the guard module that raises it.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Sequence
from datetime import datetime, time, timedelta

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
from voicing_mcp.redact import one_line, redact_secret

__all__ = ["describe", "refusal"]


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


# ----- the guard's refusals ----------------------------------------------------------------------------
Render = Callable[..., str]
_REFUSALS: dict[str, tuple[str, Render]] = {}


def _refusal(reason: str, *, rule: str | None = None) -> Callable[[Render], Render]:
    """Register the text of a refusal ``reason`` (under ``rule``, the reason itself by default)."""

    def register(render: Render) -> Render:
        _REFUSALS[reason] = (rule or reason, render)
        return render

    return register


def refusal(reason: str, **fields: object) -> GuardRefusal:
    """The guard's refusal for ``reason``: its rule, its fields, and the text this module writes for them."""
    rule, render = _REFUSALS[reason]
    return GuardRefusal(render(**fields), rule=rule, reason=reason, fields=fields)


# the number (voicing_mcp.guard.phone)
_E164_EXAMPLE = "+17015550123"


@_refusal("emergency-number")
def _emergency_number(*, raw: str, regions: list[str], more: bool) -> str:
    also = ", …" if more else ""
    return (
        f"number: {raw!r} is an emergency number (in {', '.join(regions)}{also}); emergency services are never dialled"
    )


@_refusal("short-number")
def _short_number(*, raw: str) -> str:
    return (
        f"number: {raw!r} is a short number (service or short code); only full subscriber numbers are dialled — "
        f"give the complete number in +country format, e.g. {_E164_EXAMPLE}"
    )


@_refusal("number-no-digits", rule="number")
def _number_no_digits(*, raw: str) -> str:
    return f"number: {raw!r} has no digits; give the number in +country format, e.g. {_E164_EXAMPLE}"


@_refusal("number-format")
def _number_format(*, raw: str) -> str:
    return (
        f"number: {raw!r} is in national format and VOICING_DEFAULT_REGION is not set; give it in +country format "
        f"(e.g. {_E164_EXAMPLE}) or set VOICING_DEFAULT_REGION to an ISO code such as US or IN"
    )


@_refusal("number-unparsable", rule="number")
def _number_unparsable(*, raw: str, error: object) -> str:
    return f"number: {raw!r} is not a phone number ({error}); give it in +country format, e.g. {_E164_EXAMPLE}"


@_refusal("number-impossible", rule="number")
def _number_impossible(*, raw: str, e164: str) -> str:
    return f"number: {raw!r} ({e164}) is not a possible number (wrong length for its country); check the digits"


@_refusal("number-invalid", rule="number")
def _number_invalid(*, raw: str, e164: str) -> str:
    return f"number: {raw!r} ({e164}) is not a valid number (no such area or range); check the digits and country"


@_refusal("line-type")
def _line_type(*, number: str, line_type: str) -> str:
    return (
        f"line type: {number} is a {line_type} number; premium-rate, shared-cost, UAN and unknown-type numbers are "
        "never dialled — use the callee's ordinary fixed or mobile number"
    )


@_refusal("fictional-number")
def _fictional_number(*, e164: str) -> str:
    return (
        f"fictional number: {e164} is in the NANP range 555-0100…0199 reserved for fiction and tests; it is "
        "dialled only in local mode (the built-in emulator) — use a real number"
    )


@_refusal("country")
def _country(*, number: str, country: str, region: str, allowed: list[str]) -> str:
    return (
        f"country: {number} is in {country} ({region}), which is not in VOICING_ALLOWED_COUNTRIES "
        f"({','.join(allowed)}); add {region} to that setting to allow it"
    )


# the do-not-call file (voicing_mcp.guard.dnc)
@_refusal("do-not-call-file-unreadable", rule="do-not-call-file")
def _dnc_file_unreadable(*, path: object, why: str) -> str:
    return (
        f"do-not-call file: VOICING_DNC_FILE {path} cannot be read ({why}); no call is placed until it can — fix "
        "the file or the path, or unset VOICING_DNC_FILE"
    )


@_refusal("do-not-call-file-lines", rule="do-not-call-file")
def _dnc_file_lines(*, path: object, count: int, shown: list[str], more_lines: list[object]) -> str:
    more = f" (and {count - 3} more line(s): {', '.join(str(n) for n in more_lines)}…)" if count > 3 else ""
    return (
        f"do-not-call file: VOICING_DNC_FILE {path} has {count} line(s) that cannot be read as numbers, so whom "
        f"they list is not known — {'; '.join(shown)}{more}. No call is placed until every line reads: one or more "
        "numbers per line in +country format, columns separated by ',', ';', '|' or tab, notes in a column of their "
        "own or after '#' (see README, The do-not-call file)"
    )


@_refusal("do-not-call")
def _do_not_call(*, number: str, path: object) -> str:
    return (
        f"do-not-call: {number} is on the do-not-call list ({path}); it is never dialled — remove it from that "
        "file only if the person asked to be called again"
    )


# the template and quiet hours (voicing_mcp.guard.policy)
@_refusal("template-unreadable", rule="template")
def _template_unreadable(*, error: object) -> str:
    return f"template: {error}; fix the template file"


@_refusal("template-missing")
def _template_missing(*, assistant_id: str, where: object) -> str:
    return (
        f"template: assistant {assistant_id!r} has no local prompt template, so its placeholders cannot be "
        f"checked; put a copy of its prompt at {where} (or set VOICING_STRICT_TEMPLATES=false to dial without the "
        "check)"
    )


@_refusal("template-variables-missing", rule="template-variables")
def _template_variables_missing(
    *, missing: list[str], assistant_id: str, template: str, optional: list[str], given: Sequence[str] = ()
) -> str:
    add = ", ".join(f'"{m}": "…"' for m in missing)
    also = f" (optional: {', '.join(optional)})" if optional else ""
    # a given name the template does not use, spelt close to a missing one, is most likely that one misspelt
    typos = [
        f"{g!r} is not a placeholder: did you mean {close[0]!r}?"
        for g in given
        if (close := difflib.get_close_matches(g, missing, n=1, cutoff=0.75))
    ]
    hint = f"; {'; '.join(typos)}" if typos else ""
    return (
        f"template: input_variables lack {', '.join(repr(m) for m in missing)}, required by the prompt of "
        f"assistant {assistant_id} ({template}); add {add}{also}{hint}"
    )


@_refusal("quiet-hours")
def _quiet_hours(
    *,
    local_time: time | datetime,
    zone: str,
    more_zones: int,
    zones: int,
    number: str,
    allowed_from: time,
    allowed_until: time,
    opens_in: str | None,
) -> str:
    more = f" (and {more_zones} more of its {zones} zones)" if more_zones > 0 else ""
    wait = f", next window opens in {opens_in}" if opens_in is not None else ""
    return (
        f"quiet hours: it is {local_time:%H:%M} in {zone}{more} for {number}; calls allowed "
        f"{allowed_from:%H:%M}–{allowed_until:%H:%M}{wait}; try again then, or change VOICING_QUIET_HOURS"
    )


# the request's ids and variables (voicing_mcp.guard.variables)
@_refusal("variables-unsendable", rule="template-variables")
def _variables_unsendable(*, error: object) -> str:
    return f"template: input_variables cannot be sent: {error}"


@_refusal("assistant-empty", rule="assistant")
def _assistant_empty() -> str:
    return "template: assistant_id is empty; give the assistant's id"


@_refusal("provider-empty", rule="provider")
def _provider_empty() -> str:
    return 'telephony_provider is empty; use "default" unless told otherwise'


@_refusal("variables-too-many", rule="template-variables")
def _variables_too_many(*, count: int, limit: int) -> str:
    return f"template: {count} input_variables, at most {limit} are accepted; send only the template's placeholders"


@_refusal("variable-name-length", rule="template-variables")
def _variable_name_length(*, name: str, limit: int) -> str:
    return f"template: input variable name {name!r} must be 1-{limit} characters"


@_refusal("variable-type", rule="template-variables")
def _variable_type(*, name: str, type_name: str) -> str:
    return (
        f"template: input variable {name!r} is a {type_name}; values must be strings, numbers or booleans — pass "
        "it as text"
    )


@_refusal("variable-not-finite", rule="template-variables")
def _variable_not_finite(*, name: str, value: float) -> str:
    return (
        f"template: input variable {name!r} is {value!r}, a number JSON cannot carry (a value like 1e400 is too "
        "large and reads as infinity); give a finite number, or pass it as text"
    )


@_refusal("variable-number-too-long", rule="template-variables")
def _variable_number_too_long(*, name: str, limit: int) -> str:
    return f"template: input variable {name!r} is a number of {limit} digits or more; shorten it"


@_refusal("variable-surrogate", rule="template-variables")
def _variable_surrogate(*, name: str) -> str:
    return (
        f"template: input variable {name!r} contains an unpaired surrogate (\\ud800-\\udfff), which is not valid "
        "text; send the text without it"
    )


@_refusal("variable-too-long", rule="template-variables")
def _variable_too_long(*, name: str, length: int, limit: int) -> str:
    return f"template: input variable {name!r} is {length} characters, at most {limit}; shorten it"


@_refusal("variable-hidden-character", rule="control-characters")
def _variable_hidden_character(*, part: str, name: str, code_point: int, kind: str) -> str:
    return (
        f"template: the {part} of input variable {name!r} contains <U+{code_point:04X}> ({kind}), which could make "
        "the preview show something else than what is sent; remove it (plain text, newlines and tabs are fine)"
    )


# confirmation tokens (voicing_mcp.guard.tokens)
_AGAIN = "call initiate_outbound_call again without confirmation_token to get a new preview and token"
_RESTARTED = "was issued by an earlier run of this server: it restarted since, and tokens do not survive a restart"


@_refusal("token-old-format", rule="token-invalid")
def _token_old_format() -> str:
    return (
        "confirmation token: not valid here — it has the format of an older version of this server, so it "
        f"{_RESTARTED} (or it is forged); {_AGAIN}"
    )


@_refusal("token-foreign", rule="token-invalid")
def _token_foreign() -> str:
    return f"confirmation token: not a token issued by this server; {_AGAIN}"


@_refusal("token-other-secret", rule="token-invalid")
def _token_other_secret(*, key_id: str, ours: str) -> str:
    return (
        f"confirmation token: it was signed with another VOICING_TOKEN_SECRET (its key id is {key_id}, this "
        f"server's is {ours}): the secret was changed since, or a replica runs with a different one; {_AGAIN}"
    )


@_refusal("token-restarted", rule="token-invalid")
def _token_restarted(*, key_id: str, ours: str) -> str:
    return (
        f"confirmation token: it {_RESTARTED} (its key id is {key_id}, this run's is {ours}; replicas behind one "
        f"address accept each other's tokens only with one VOICING_TOKEN_SECRET); {_AGAIN}"
    )


@_refusal("token-malformed", rule="token-invalid")
def _token_malformed() -> str:
    return f"confirmation token: malformed or forged; {_AGAIN}"


@_refusal("token-forged", rule="token-invalid")
def _token_forged() -> str:
    return f"confirmation token: signature is invalid (forged or altered); {_AGAIN}"


@_refusal("token-expired")
def _token_expired(*, expired_at: datetime, ttl_seconds: int) -> str:
    return f"confirmation token: expired at {expired_at:%H:%M:%S} UTC (tokens live {ttl_seconds} s); {_AGAIN}"


@_refusal("token-mismatch")
def _token_mismatch(*, changed: list[str]) -> str:
    return (
        f"confirmation token: it was issued for a different request ({', '.join(changed)} changed); a token "
        f"confirms exactly one request — {_AGAIN} and show the user the new preview"
    )


# the dial workflow's confirmation (voicing_mcp.guard.workflow)
@_refusal("token-not-accepted")
def _token_not_accepted() -> str:
    return (
        "confirmation: this server does not take confirmation tokens (VOICING_CONFIRMATION=human: the user "
        "confirms themselves, in the client's form or on the confirm page); call initiate_outbound_call again "
        "without confirmation_token"
    )


@_refusal("token-replayed")
def _token_replayed() -> str:
    return (
        "confirmation token: already used — a token confirms one call only; call initiate_outbound_call again "
        "without confirmation_token to get a new preview and token"
    )


@_refusal("approval-taken-by-twin", rule="confirmation-used")
def _approval_taken_by_twin() -> str:
    return (
        "confirmation: this exact request was approved on the confirm page moments ago, and that approval was "
        "taken by an identical request sent at the same time (one click confirms one call); its result says how "
        "the call went (voicing://ledger/recent lists it). Nothing more was dialled and the user was not asked "
        "again"
    )


@_refusal("approval-spent", rule="confirmation-used")
def _approval_spent() -> str:
    return (
        "confirmation: this approval has already placed its call (one click confirms one call); call "
        "initiate_outbound_call again for a new confirmation"
    )


@_refusal("confirmation-pending")
def _confirmation_pending(*, pages: int) -> str:
    return (
        f"confirmation: {pages} confirm pages are already waiting for the user; let them answer those (or let "
        "them expire, 5 minutes) before asking about another call"
    )


@_refusal("page-not-started", rule="confirmation-unavailable")
def _page_not_started(*, error: object) -> str:
    return (
        f"confirmation: the confirm page could not start: {error}. Until then a human can confirm only through "
        "a client with elicitation (or put test phones in VOICING_ALLOWED_NUMBERS)"
    )


@_refusal("no-human", rule="confirmation-unavailable")
def _no_human() -> str:
    return (
        "confirmation: no way to reach a human here — this MCP client cannot ask the user (no form or URL "
        "elicitation) and no browser could be opened on this machine for the confirm page. Options: use a client "
        "with elicitation; run the server where a browser can open (or set $BROWSER to a command that opens URLs "
        "for the user); put the operator's test phones in VOICING_ALLOWED_NUMBERS; or set "
        "VOICING_CONFIRMATION=token (the model then relays a token and could confirm a call by itself)"
    )


# the dial ledger (voicing_mcp.guard.ledger): its rules (base.py) and a ledger that cannot be used
@_refusal("campaign-row-not-dialling", rule="campaign")
def _campaign_row_not_dialling(*, position: int, campaign_id: str, state: str | None, status: str | None) -> str:
    what = (
        "is not in this ledger"
        if state is None
        else f"is {state}, not dialling"
        if state != "dialling"
        else f"belongs to a {status} campaign"
    )
    return f"campaign: row {position} of campaign {campaign_id} {what}; it is not dialled"


@_refusal("number-cap")
def _number_cap(*, masked: str, count: int, calls: int, window: timedelta) -> str:
    hours = f"{window.total_seconds() / 3600:g}h"
    return (
        f"per-number cap: {masked} was dialled {count} times in the last {hours} (campaigns and single calls), "
        f"VOICING_MAX_CALLS_PER_NUMBER is {calls}/{hours}; wait, or raise the setting"
    )


@_refusal("dial-in-progress")
def _dial_in_progress(
    *, phone_masked: str, ledger_id: int, created_at: str, assistant_id: str, stale_after: timedelta
) -> str:
    return (
        f"dial in progress: an earlier dial to {phone_masked} (ledger #{ledger_id}, {created_at}, assistant "
        f"{assistant_id}) has no outcome yet — it is in flight, or its server stopped mid-dial, so that call "
        "may be ringing now and no assistant dials this number meanwhile. Check with list_calls for a call to this "
        f"number after {created_at}; once that dial records an outcome the number is free again. If its server "
        f"died, the row counts as an unknown outcome after {int(stale_after.total_seconds() // 60)} minutes: a "
        f"human releases it with `voicing-mcp ledger resolve {ledger_id}` after making sure nobody "
        "was called"
    )


@_refusal("outcome-unknown")
def _outcome_unknown(*, phone_masked: str, ledger_id: int, created_at: str, assistant_id: str, status: str) -> str:
    what = "got no answer from the API" if status == "unknown" else "never recorded an outcome"
    return (
        f"outcome unknown: an earlier dial to {phone_masked} (ledger #{ledger_id}, {created_at}, assistant "
        f"{assistant_id}) {what} — that call may have been placed, so this number is blocked. Check first: "
        f"call list_calls and look for a call to this number after {created_at} (or ask the person). Calling "
        "initiate_outbound_call again re-checks the API and lifts the block if the call is found there; if it is "
        f"not, a human releases it with `voicing-mcp ledger resolve {ledger_id}`"
    )


@_refusal("rate-limit")
def _rate_limit(*, count: int, max_per_hour: int) -> str:
    if max_per_hour == 0:  # waiting never helps: the setting stops every dial
        return "rate limit: VOICING_MAX_CALLS_PER_HOUR is 0, so this server dials no number; raise the setting to dial"
    return (
        f"rate limit: {count} dials in the last hour, VOICING_MAX_CALLS_PER_HOUR is {max_per_hour}; wait until the "
        "oldest of them is an hour old, or raise the setting"
    )


@_refusal("duplicate")
def _duplicate(
    *,
    phone_masked: str,
    assistant_id: str,
    created_at: str,
    ledger_id: int,
    call_id: str | None,
    status: str,
    window: timedelta,
) -> str:
    call = f"call_id {call_id}" if call_id else f"ledger #{ledger_id} (no call_id yet)"
    if call_id:
        advice = (
            "check that call with get_call_details, and try again after the window if a second call is really wanted"
        )
    else:  # pending or unknown: the block does not lift with the window, only when the call is found or released
        advice = (
            "its outcome is not known, so the block stays after the window: a human checks the Voicing dashboard "
            f"and, if no call was placed, releases it with `voicing-mcp ledger resolve {ledger_id}`"
        )
    return (
        f"duplicate: {phone_masked} was dialled with assistant {assistant_id} at {created_at} ({call}, "
        f"status {status}); the same number and assistant are not dialled twice within "
        f"{int(window.total_seconds() // 60)} minutes — {advice}"
    )


#: what to do about a ledger that cannot be used, by its cause (the ledger's fields carry no secret: the
#: PostgreSQL backend masks the URL and scrubs the driver's error before it names them)
_LEDGER_ADVICE = {
    "file": "move that file aside or point VOICING_LEDGER at a writable file",
    "file-locked": "another process holds it (another voicing-mcp server on the same VOICING_LEDGER?): try "
    "again in a moment; do not move the file aside, it records dials whose outcome is unknown",
    "database": "check that the PostgreSQL server is running and reachable from here, and that VOICING_LEDGER's "
    "host, port, database, user and password are right",
    "database-locked": "another replica holds the ledger's claim lock: try again in a moment",
}


@_refusal("ledger-unusable", rule="ledger")
def _ledger_unusable(
    *, ledger: str, error: str, cause: str, pool_max: int | None = None, pool_timeout: float | None = None
) -> str:
    if cause == "pool-busy":
        advice = f"all {pool_max} connections of this server were busy for {pool_timeout:g} s: try again"
    else:
        advice = _LEDGER_ADVICE[cause]
    return f"ledger: the dial ledger {ledger} cannot be used ({error}); no call is placed without it — {advice}"


@_refusal("ledger-driver-missing", rule="ledger")
def _ledger_driver_missing(*, install: str) -> str:
    return (
        "ledger: VOICING_LEDGER is a PostgreSQL URL but psycopg is not installed; no call is placed without "
        f"the ledger — install it with `{install}`"
    )


@_refusal("ledger-schema-newer", rule="ledger")
def _ledger_schema_newer(*, found: int, known: int) -> str:
    return (
        f"ledger: the database's ledger schema is version {found}, newer than this voicing-mcp knows "
        f"({known}); no call is placed — upgrade voicing-mcp on this server (a replica never "
        "downgrades the schema)"
    )


# campaigns: prepare_campaign and its approval (voicing_mcp.server.tools.prepare_campaign)
@_refusal("campaign-recipients", rule="recipients")
def _campaign_recipients(*, given: str) -> str:
    return (
        f"recipients: {given}; give exactly one of recipients (a list of 1-10,000 "
        '{"phone_number": "...", "input_variables": {...}}) or recipients_file (a CSV in VOICING_CAMPAIGNS_DIR)'
    )


@_refusal("campaign-nothing-to-dial", rule="campaign")
def _campaign_nothing_to_dial(*, submitted: int, by_reason: str, sample: str) -> str:
    return (
        f"campaign: none of the {submitted} rows can be dialled ({by_reason}; e.g. {sample}); nothing was "
        "created — correct the rows and call prepare_campaign again"
    )


@_refusal("campaign-unknown", rule="campaign")
def _campaign_unknown(*, campaign_id: str) -> str:
    return f"campaign: no campaign {campaign_id!r} on this server's ledger; list_campaigns lists them"


@_refusal("campaign-not-awaiting", rule="campaign")
def _campaign_not_awaiting(*, campaign_id: str, status: str) -> str:
    return (
        f"campaign: {campaign_id} is {status}, not awaiting approval: nothing was asked or started "
        "(campaign_status says what happens next)"
    )


@_refusal("campaign-pages-pending", rule="confirmation-pending")
def _campaign_pages_pending(*, pages: int) -> str:
    return (
        f"confirmation: {pages} campaign approval pages are already waiting for the user; let them decide those "
        "first (control_campaign can cancel a campaign)"
    )


@_refusal("campaign-token-not-accepted", rule="token-not-accepted")
def _campaign_token_not_accepted() -> str:
    return (
        "confirmation: this server does not take confirmation tokens (VOICING_CONFIRMATION=human): the user "
        "approves a campaign on its approval page; prepare_campaign asks them"
    )


@_refusal("campaign-token-replayed", rule="token-replayed")
def _campaign_token_replayed(*, campaign_id: str) -> str:
    return (
        f"approval: already used by an earlier attempt that did not start {campaign_id} (it still awaits "
        "approval); ask the user again: control_campaign(action='resume') opens a new approval page (token mode: "
        "gives a new token)"
    )


#: a refused campaign token's next step (a single call's is "initiate_outbound_call again"): this campaign's
_CAMPAIGN_AGAIN = (
    'call control_campaign(action="resume") for a new token for this campaign; show the user its summary '
    "(campaign_status) and start it only after their yes"
)


def campaign_token_refusal(exc: GuardRefusal) -> GuardRefusal:
    """A token refusal met while starting a campaign, with the campaign's next step instead of a single call's."""
    return GuardRefusal(str(exc).replace(_AGAIN, _CAMPAIGN_AGAIN), rule=exc.rule, reason=exc.reason, fields=exc.fields)


@_refusal("campaign-decided", rule="campaign")
def _campaign_decided(*, campaign_id: str, status: str) -> str:
    return (
        f"campaign: {campaign_id} was decided already and is {status} now (one decision per approval, given here "
        "or elsewhere); this changed nothing — campaign_status says what happens next"
    )


@_refusal("campaign-approval-refused", rule="campaign")
def _campaign_approval_refused(*, campaign_id: str, why: str) -> str:
    return f"campaign: {campaign_id} was not started: {why}; nothing was dialled"


# ----- describe's prose ----------------------------------------------------------------------------------
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


# ----- campaigns (server/tools/campaign_status.py, control_campaign.py, list_campaigns.py) ---------------------
#: what every campaign result says about where the dialling happens (DESIGN: over stdio, while the server runs)
CAMPAIGN_DIALLING_NOTE = "dialling continues while this server runs; it resumes when the client starts the server again"


def campaign_unknown(campaign_id: str, close: list[str]) -> str:
    """No campaign ``campaign_id`` in this server's ledger; ``close``: known ids that look like it."""
    guess = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    return (
        f"no campaign {one_line(campaign_id[:80])!r} in this server's ledger.{guess} list_campaigns shows the "
        "campaigns there are; prepare_campaign creates one"
    )


def campaign_other_scope(campaign_id: str, environment: str, ours: str) -> str:
    """The campaign exists in the ledger but dials another API than this server."""
    return (
        f"campaign {campaign_id} dials through {environment!r}, and this server through {ours!r}: it is not this "
        "server's campaign. Use a server configured for that environment (VOICING_ENV / VOICING_BASE_URL)"
    )


def campaign_action_refused(campaign_id: str, status: str, action: str, allowed: list[str]) -> str:
    """``control_campaign`` asked for an action the campaign's status does not allow."""
    why = {
        "completed": "a completed campaign never changes",
        "cancelled": "a cancelled campaign never changes; prepare_campaign makes a new one",
        "declined": "the human declined it; prepare_campaign makes a new one to ask again",
        "expired": "its approval lapsed before it ran; prepare_campaign makes a new one",
        "awaiting_approval": "nothing dials until the human approves it",
    }.get(status, "")
    can = f"; the actions it allows now: {', '.join(allowed)}" if allowed else ""
    return f"campaign {campaign_id} is {status}: {action} is not possible{f' ({why})' if why else ''}{can}"


def campaign_token_misplaced(action: str) -> str:
    return (
        f"confirmation_token is only for action 'start' (token mode), not {action!r}: call control_campaign again "
        "without it"
    )


def campaign_start_needs_token() -> str:
    return (
        "action 'start' needs the confirmation_token prepare_campaign returned (token mode): show the user the "
        "campaign's preview, ask them, then call control_campaign(campaign_id, action='start', confirmation_token=…)"
    )


def campaign_start_human_mode() -> str:
    return (
        "action 'start' with a token is for token mode (VOICING_CONFIRMATION=token); here a human approves a "
        "campaign on its approval page: ask the user to answer it, then call campaign_status"
    )


def campaign_dashboard_unreachable(campaign_id: str, error: object = None) -> str:
    """``open_dashboard`` found no way to show the page to a human (its address is never given to the model);
    ``error``: why the page server could not start, if it could not."""
    why = (
        f"the page server could not start ({error})"
        if error is not None
        else "this MCP client cannot show the user a link (no URL elicitation) and no browser could be opened on "
        "this machine"
    )
    return (
        f"open_dashboard: no way to show campaign {campaign_id}'s dashboard to a human here — {why}. "
        "campaign_status gives the same counts and what happens next, and the resource "
        f"voicing://campaigns/{campaign_id} lists every row"
    )


def campaign_dashboard_shown(via: str, accepted: bool) -> str:
    """Where ``open_dashboard`` showed the dashboard (never its address)."""
    if via == "browser":
        return "Its live dashboard was opened in the user's browser (the address is for the human only)."
    if accepted:
        return "Its live dashboard was shown to the user through the client (the address is for the human only)."
    return "The user was offered its live dashboard through the client and did not open it."
