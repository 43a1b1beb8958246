"""The dial guard: the ordered checks every ``initiate_outbound_call`` passes before anything leaves.

A little over 450 lines: the checks stay in one class, in the order of the numbered list below, with the
per-number cap's and the rate cap's "when does it free" beside them.

:meth:`DialGuard.check` reads as the list of checks, in this order (the README's dial guard table):

1. **Number** — parse, normalise to E.164, refuse short/emergency numbers, national formats
   without ``VOICING_DEFAULT_REGION``, impossible/invalid numbers, premium-rate, shared-cost,
   UAN and unknown line types, the fictional 555-01XX range outside local mode, countries
   outside ``VOICING_ALLOWED_COUNTRIES`` (:mod:`~voicing_mcp.guard.phone`) and do-not-call entries
   (:mod:`~voicing_mcp.guard.dnc`).
2. **Template** — the assistant's ``.j2`` file: required placeholders present, extras warned,
   values scalar and bounded (:mod:`~voicing_mcp.guard.variables`), opening line rendered in the sandbox.
3. **Quiet hours** — in every time zone of the number (warn only in local mode;
   :mod:`~voicing_mcp.guard.quiet_hours`).
4. **Rate limit, unknown outcomes and duplicates** — counted in the ledger.
5. **Confirmation** — the workflow (:mod:`~voicing_mcp.guard.workflow`): the mode, tokens, page approvals.
6. **Ledger** — :meth:`place_call` commits the intent, POSTs once, records the outcome.

Every refusal is a :class:`~voicing_mcp.errors.GuardRefusal` naming the rule and its values; its words, saying
what would make it pass, are written in :mod:`voicing_mcp.messages`. Nothing here knows about MCP.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Protocol

import anyio

from voicing_mcp.api.models import OutboundCallRequest, OutboundCallResponse
from voicing_mcp.api.retry import dial_rejected
from voicing_mcp.config import Settings
from voicing_mcp.errors import (
    APIConnectionError,
    APIStatusError,
    DialFailedError,
    GuardRefusal,
    InvalidRequestError,
    OutcomeUnknownError,
    VoicingError,
)
from voicing_mcp.guard import phone as ph
from voicing_mcp.guard.decision import CheckedDial, Preview
from voicing_mcp.guard.dnc import DoNotCallList
from voicing_mcp.guard.ledger import (
    DUPLICATE_WINDOW,
    CampaignDial,
    DialConfirmation,
    DialLedger,
    DialRow,
    Status,
    duplicate_refusal,
    in_flight_refusal,
    number_cap_refusal,
    rate_refusal,
    unknown_refusal,
)
from voicing_mcp.guard.quiet_hours import describe_local_time, format_delta, next_window_opening, zones_in_window
from voicing_mcp.guard.request import DialRequest
from voicing_mcp.guard.scope import ledger_environment
from voicing_mcp.guard.templates import AssistantTemplate, TemplateProblem, TemplateStore
from voicing_mcp.guard.tokens import TokenSigner
from voicing_mcp.guard.variables import check_ids, check_sendable, check_variables, variables_text
from voicing_mcp.messages import refusal
from voicing_mcp.redact import redact_secret

__all__ = [
    "LOCAL_NOTE",
    "CheckedDial",
    "Clock",
    "DialClient",
    "DialGuard",
    "Preview",
    "describe_local_time",
    "dial_not_placed",
    "format_delta",
    "ledger_environment",
    "variables_text",
]

logger = logging.getLogger(__name__)

MAX_OPENING_LINE = 300
RATE_WINDOW = timedelta(hours=1)
LOCAL_NOTE = "local mode: the built-in emulator answers — no real phone will ring"

Clock = Callable[[], datetime]


class DialClient(Protocol):
    async def initiate_outbound_call(self, req: OutboundCallRequest) -> OutboundCallResponse: ...


def _now_utc() -> datetime:
    return datetime.now(UTC)


class DialGuard:
    """The guard of one server: settings, templates, ledger, token signer and a clock."""

    def __init__(
        self,
        settings: Settings,
        templates: TemplateStore,
        ledger: DialLedger,
        *,
        signer: TokenSigner | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.settings = settings
        self.templates = templates
        self.ledger = ledger
        secret = settings.token_secret.get_secret_value() if settings.token_secret is not None else None
        self.signer = signer or TokenSigner.from_setting(secret)  # VOICING_TOKEN_SECRET: shared by replicas
        self.clock: Clock = clock or _now_utc
        self.dnc = DoNotCallList(settings.dnc_file, default_region=settings.default_region)

    @property
    def local(self) -> bool:
        """Local mode (the built-in emulator: no real phone can ring), as :attr:`Settings.is_local` decides it."""
        return self.settings.is_local

    # ----- checks 1-4 --------------------------------------------------------------------------
    @property
    def environment(self) -> str:
        """Where this server's dials go, as its ledger rows and approvals name it (:mod:`~voicing_mcp.guard.scope`)."""
        return self.ledger.environment or ledger_environment(self.settings)

    async def check(
        self,
        dial: DialRequest,
        *,
        reconcile: Callable[[DialRow], Awaitable[str | None]] | None = None,
        call_status: Callable[[str], Awaitable[str | None]] | None = None,
        ledger_rules: bool = True,
    ) -> CheckedDial:
        """Run checks 1-4 in order on the whole request. Raises GuardRefusal; returns the decision otherwise.

        ``ledger_rules=False`` leaves the ledger's rules (unknown outcomes, the rate and per-number caps,
        duplicates, dials in flight) to :meth:`place_call`'s claim, which checks every one of them atomically
        with the intent anyway, with the same refusals: a campaign's dial, which neither reconciles nor asks a
        human in between, pays one ledger round trip for them instead of six."""
        warnings: list[str] = []
        now = self.clock()

        # 1. Number
        number = ph.parse_number(dial.phone_number, default_region=self.settings.default_region)
        if number.extension:
            warnings.append(
                f"extension {number.extension} is not dialled: the API calls {number.international} itself (E.164 "
                "has no extensions), so the assistant reaches whoever answers that line"
            )
        ph.check_line_type(number)
        ph.check_fictional(number, local=self.local)
        ph.check_country(number, self.settings.allowed_countries)
        await self.dnc.check_async(number)

        # 2. Template
        variables = check_variables(dial.input_variables)
        given = dial.assistant_id.strip()
        assistant_id, telephony_provider = check_ids(dial.assistant_id, dial.telephony_provider)
        template_id = assistant_id
        if given != assistant_id:  # a template file named with the id as spelled (upper case…) still counts
            try:
                if self.templates.get(assistant_id) is None and self.templates.get(given) is not None:
                    template_id = given
            except TemplateProblem:
                pass  # check_template says what is wrong with it
        opening_line = self.check_template(template_id, variables, warnings)

        # 3. Quiet hours
        self.check_quiet_hours(number, now, warnings)

        # 4. Rate limit, unknown outcomes, duplicates
        request = OutboundCallRequest(
            assistant_id=assistant_id,
            phone_number=number.e164,
            input_variables=variables,
            telephony_provider=telephony_provider,
        )
        check_sendable(request)
        if ledger_rules:
            await self.check_unknown_outcomes(number, reconcile)
            await self.check_rate_limit(now)
            await self.check_number_cap(number, now)
            await self.check_duplicate(request, now, call_status)
            await self.check_in_flight(number, assistant_id)

        preview = Preview(
            phone_number=number.e164,
            international=number.international,
            country=f"{number.country} ({number.region})",
            line_type=number.line_type,
            callee_local_time=describe_local_time(number.time_zones, now),
            time_zones=list(number.time_zones),
            assistant_id=assistant_id,
            opening_line=opening_line,
            telephony_provider=telephony_provider,
            input_variables=dict(variables),
            local_mode=self.local,
            note=LOCAL_NOTE if self.local else None,
        )
        allow_listed = ph.matches_allowed(number.e164, self.settings.allowed_numbers)
        return CheckedDial(
            request=request,
            phone=number,
            preview=preview,
            warnings=warnings,
            allow_listed=allow_listed,
            checked_at=now,
        )

    def check_template(self, assistant_id: str, variables: Mapping[str, object], warnings: list[str]) -> str | None:
        return self.check_template_of(self.template_of(assistant_id), assistant_id, variables, warnings)

    def template_of(self, assistant_id: str) -> AssistantTemplate | None:
        """The template :meth:`check_template` checks against (None: none, and VOICING_STRICT_TEMPLATES is off).
        Raises the refusal of a template that does not parse, or of a missing one in strict mode. A campaign looks
        it up once for all its rows."""
        try:
            template = self.templates.get(assistant_id)
        except TemplateProblem as exc:
            raise refusal("template-unreadable", error=exc) from None
        if template is None and self.settings.strict_templates:
            raise refusal("template-missing", assistant_id=assistant_id, where=self.templates.path_for(assistant_id))
        return template

    def check_template_of(
        self,
        template: AssistantTemplate | None,
        assistant_id: str,
        variables: Mapping[str, object],
        warnings: list[str],
    ) -> str | None:
        """:meth:`check_template` with the template already looked up (:meth:`template_of`)."""
        if template is None:
            where = self.templates.path_for(assistant_id)
            warnings.append(
                f"assistant {assistant_id!r} has no local template ({where}); placeholders were not checked "
                "(VOICING_STRICT_TEMPLATES=false)"
            )
            return None
        missing = [name for name in template.required if name not in variables]
        unused = set(variables).difference(template.required, template.optional)  # a campaign's every row: no sort
        if missing:
            raise refusal(
                "template-variables-missing",
                missing=missing,
                assistant_id=assistant_id,
                template=template.path.name,
                optional=list(template.optional),
                given=sorted(unused),
            )
        extra = sorted(unused)
        if extra:
            known = ", ".join(template.placeholders) or "none"
            warnings.append(
                f"input_variables {', '.join(extra)} are not used by the template of {assistant_id} "
                f"(its placeholders: {known})"
            )
        return render_opening_line(template, variables, warnings)

    def check_quiet_hours(self, number: ph.PhoneInfo, now: datetime, warnings: list[str]) -> None:
        window = self.settings.quiet_hours
        if window is None:
            return
        inside = zones_in_window(number.time_zones, window, now)
        if not inside:
            return
        zone, local_time = inside[0]
        more = f" (and {len(inside) - 1} more of its {len(number.time_zones)} zones)" if len(inside) > 1 else ""
        if self.local:
            # no minutes in a warning: it is part of the human's question, which must not change while they read
            warnings.append(
                f"quiet hours: it is inside VOICING_QUIET_HOURS ({window.start:%H:%M}–{window.end:%H:%M}) in {zone}"
                f"{more} for {number.masked}; a real call would be refused now (local mode: not enforced)"
            )
            return
        opens = next_window_opening(number.time_zones, window, now)
        raise refusal(
            "quiet-hours",
            local_time=local_time,
            zone=zone,
            more_zones=len(inside) - 1,
            zones=len(number.time_zones),
            number=number.masked,
            allowed_from=window.end,
            allowed_until=window.start,
            opens_in=format_delta(opens - now) if opens is not None else None,
        )

    async def check_unknown_outcomes(
        self, number: ph.PhoneInfo, reconcile: Callable[[DialRow], Awaitable[str | None]] | None
    ) -> None:
        row = await self.ledger.open_unknown(number.e164)
        if row is None:
            return
        if reconcile is not None:
            call_id = await reconcile(row)
            if call_id is not None and await self.ledger.resolve(
                row.id, resolution="found in the API's call list", call_id=call_id
            ):
                logger.info("ledger #%d (%s): uncertain dial found as call %s", row.id, row.phone_masked, call_id)
                return
        refusal = unknown_refusal(row)
        assert refusal is not None
        raise refusal

    async def check_rate_limit(self, now: datetime) -> None:
        cap = self.settings.max_calls_per_hour
        # counted up to the cap only: the check costs the same however many dials the hour holds
        refusal = rate_refusal(await self.ledger.count_since(now - RATE_WINDOW, at_most=cap), cap)
        if refusal is not None:
            raise refusal

    async def check_number_cap(self, number: ph.PhoneInfo, now: datetime) -> None:
        """VOICING_MAX_CALLS_PER_NUMBER: at most N dials to one number in the window, campaigns and single calls
        alike (the ledger re-checks it atomically in ``claim_dial``). The refusal says when the number frees."""
        cap = self.settings.max_calls_per_number
        count = await self.ledger.count_dials_to(number.e164, since=now - cap.window, at_most=cap.calls)
        refused = number_cap_refusal(number.masked, count, (cap.calls, cap.window))
        if refused is None:
            return
        frees = await self.number_cap_frees_at(number.e164, now)
        text = refused.message.removesuffix("; wait, or raise the setting")
        raise GuardRefusal(
            f"{text}; it may be dialled again from {frees:%Y-%m-%d %H:%M} UTC (in {format_delta(frees - now)}): "
            "wait until then, or raise the setting",
            rule="number-cap",
            fields={"number": number.masked, "count": count, "cap": str(cap), "frees_at": frees},
        )

    async def rate_frees_at(self, now: datetime) -> datetime:
        """When the hourly rate cap lets a dial through again (now if it does): once the cap-th newest dial of the
        last hour is an hour old."""
        cap = self.settings.max_calls_per_hour
        return await frees_at(lambda since: self.ledger.count_since(since, at_most=cap), cap, RATE_WINDOW, now)

    async def number_cap_frees_at(self, phone_e164: str, now: datetime) -> datetime:
        """When the per-number cap lets a dial to this number through again (now if it does)."""
        cap = self.settings.max_calls_per_number
        return await frees_at(
            lambda since: self.ledger.count_dials_to(phone_e164, since=since, at_most=cap.calls),
            cap.calls,
            cap.window,
            now,
        )

    async def check_duplicate(
        self, req: OutboundCallRequest, now: datetime, call_status: Callable[[str], Awaitable[str | None]] | None
    ) -> None:
        row = await self.ledger.last_dial(req.phone_number, req.assistant_id, since=now - DUPLICATE_WINDOW)
        if row is None:
            return
        status = await call_status(row.call_id) if call_status is not None and row.call_id else None
        refusal = duplicate_refusal(row, status)
        assert refusal is not None
        raise refusal

    async def check_in_flight(self, number: ph.PhoneInfo, assistant_id: str) -> None:
        """A dial of this number that has no outcome yet (in flight, or its process died) blocks every other
        assistant: that call may be ringing. (The same assistant is refused by the duplicate rule.)"""
        refusal = in_flight_refusal(await self.ledger.in_flight(number.e164, assistant_id))
        if refusal is not None:
            raise refusal

    # ----- 6. ledger and the one POST ----------------------------------------------------------
    async def place_call(
        self,
        decision: CheckedDial,
        client: DialClient,
        *,
        confirmation: DialConfirmation,
        campaign: CampaignDial | None = None,
    ) -> tuple[OutboundCallResponse, int]:
        """Commit the intent, POST once, record the outcome. Returns the API's answer and the ledger row id.

        The claim re-checks the ledger's rules atomically, the per-number cap (VOICING_MAX_CALLS_PER_NUMBER)
        included. ``campaign``: the dial is that campaign row's attempt (``confirmation="campaign"``): the claim
        is refused unless the row is still claimed (``dialling``) and its campaign running.

        Only an answer that proves no call was placed (:func:`dial_not_placed`) is recorded as ``failed``;
        anything else after the intent — an undocumented status, no answer, an unexpected exception, a
        cancellation — is ``unknown`` and blocks redials of the number until it is checked. Every error
        raised is a VoicingError whose text the model can read; none advises a retry.
        """
        req = decision.request
        # a body that cannot be sent is refused before the intent exists: nothing written, nothing blocked
        check_sendable(req)
        cap = self.settings.max_calls_per_number
        row_id = await self.ledger.claim_dial(
            req,
            confirmation=confirmation,
            environment=self.environment,
            max_per_hour=self.settings.max_calls_per_hour,
            number_cap=(cap.calls, cap.window),
            campaign=campaign,
        )
        logger.info("ledger #%d: dialling %s (%s, %s)", row_id, decision.phone.masked, req.assistant_id, confirmation)
        try:
            response = await client.initiate_outbound_call(req)
        except BaseException as exc:
            if isinstance(exc, Exception) and dial_not_placed(exc):
                with anyio.CancelScope(shield=True):
                    await self._record(row_id, status="failed", detail=self._scrub(str(exc)))
                # the model's text (why, and what would make it pass) is written from the cause by describe()
                raise DialFailedError(
                    self._scrub(f"the call was NOT placed (ledger #{row_id}, recorded as failed): {exc}"),
                    status_code=getattr(exc, "status_code", None),
                    cause=exc,
                    ledger_id=row_id,
                ) from None
            what = str(exc) if isinstance(exc, VoicingError) else f"{type(exc).__name__}: {exc}".rstrip(": ")
            if not isinstance(exc, Exception):  # cancelled or stopped mid-request
                what = "interrupted during the request"
            with anyio.CancelScope(shield=True):
                await self._record(row_id, status="unknown", detail=self._scrub(what))
            logger.warning("ledger #%d: outcome unknown for %s", row_id, decision.phone.masked)
            if not isinstance(exc, Exception):
                raise
            if not isinstance(exc, OutcomeUnknownError):
                logger.error("ledger #%d: unexpected error during the dial", row_id, exc_info=exc)
            why = (
                ""
                if isinstance(exc, OutcomeUnknownError)
                else "The dial stopped on an unexpected error after the request may have been sent. "
            )
            raise OutcomeUnknownError(
                self._scrub(
                    f"outcome unknown (ledger #{row_id}): {what} {why}The call may have been placed, so it is NOT "
                    f"dialled again: redials of {decision.phone.masked} are blocked until this is checked. The next "
                    "initiate_outbound_call to this number looks the call up in the API first and lifts the block "
                    "if it is found; if it is not, a human releases it with "
                    f"`voicing-mcp ledger resolve {row_id}` after making sure nobody was called."
                ),
                method=getattr(exc, "method", None),
                url=getattr(exc, "url", None),
                status_code=getattr(exc, "status_code", None),
            ) from None
        problem: str | None = None
        with anyio.CancelScope(shield=True):
            problem = await self._record(row_id, status="started", call_id=response.call_id)
        if problem is not None:
            decision.warnings.append(
                f"the call was started, but the ledger could not record it ({problem}); its row #{row_id} stays "
                "'pending' and blocks redials of this number until a human releases it"
            )
        logger.info("ledger #%d: call %s started", row_id, response.call_id)
        return response, row_id

    def _scrub(self, text: str) -> str:
        """Third-party text (the API's error detail) without the API key, whatever the API echoed."""
        key = self.settings.api_key
        return redact_secret(text, key.get_secret_value() if key is not None else None)

    async def _record(
        self, row_id: int, *, status: Status, call_id: str | None = None, detail: str | None = None
    ) -> str | None:
        """Record a dial's outcome after the POST. A ledger failure here must not hide what happened to the
        call (it was sent): it is logged and returned, never raised."""
        try:
            await self.ledger.record_outcome(row_id, status=status, call_id=call_id, detail=detail)
        except GuardRefusal as exc:
            logger.error("ledger #%d: outcome %r could not be recorded: %s", row_id, status, exc.message)
            return exc.message
        return None


# ----- helpers (pure) ------------------------------------------------------------------------------


async def frees_at(
    count_since: Callable[[datetime], Awaitable[int]], cap: int, window: timedelta, now: datetime
) -> datetime:
    """When a window cap (at most ``cap`` dials in any ``window``) lets one more through, to the second: ``now``
    if it does already, else when the cap-th newest dial in the window leaves it. ``count_since(t)`` counts the
    dials since ``t`` (capped counts do: only "at least cap?" is asked), so the time is found by bisection, about
    17 indexed counts for a day's window; only a refused dial pays for it."""
    if cap <= 0:
        return now + window
    low, high = now - window, now
    if await count_since(low) < cap:
        return now
    # count_since(low) >= cap > count_since(high): the cap-th newest dial is in [low, high)
    while high - low > timedelta(seconds=1):
        middle = low + (high - low) / 2
        if await count_since(middle) >= cap:
            low = middle
        else:
            high = middle
    return high + window


def dial_not_placed(exc: Exception) -> bool:
    """True only when the dial's error proves that no call was placed.

    - the client refused the request before sending it (:class:`InvalidRequestError`);
    - the request never left this machine (:class:`APIConnectionError`: the client raises it for a dial only
      after a refused connection, a connect or pool timeout — anything later is ``OutcomeUnknownError``);
    - a documented rejection (:func:`~voicing_mcp.api.retry.dial_rejected`: a standard 4xx other than 408,
      or the vendor's ``500 {"detail": "Failed to publish outbound call"}``).

    Everything else — ``OutcomeUnknownError``, any other status (a gateway's 502, 503, 520, 524, 530, 408,
    499…), an unexpected exception — may have placed the call.
    """
    if isinstance(exc, InvalidRequestError | APIConnectionError):
        return True
    if isinstance(exc, APIStatusError):
        return dial_rejected(exc.status_code, exc.body)
    return False


def render_opening_line(template: AssistantTemplate, variables: Mapping[str, object], warnings: list[str]) -> str:
    try:
        text = template.render(variables)
    except TemplateProblem as exc:
        warnings.append(f"the preview could not be rendered: {exc}")
        return "(could not be rendered)"
    line = next((ln.strip() for ln in text.splitlines() if ln.strip()), "")
    return line if len(line) <= MAX_OPENING_LINE else line[: MAX_OPENING_LINE - 1] + "…"
