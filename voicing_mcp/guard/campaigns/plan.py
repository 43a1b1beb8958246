"""The campaign planner: a submitted list → an accepted manifest, exclusions with reasons, and a schedule estimate.

A little over 450 lines: the per-row checks and the ledger adapter they read through are kept together.

:func:`plan_campaign` runs, for every submitted row in order, the single-call guard's own checks (nothing is
copied here; each is the function :meth:`~voicing_mcp.guard.policy.DialGuard.check` calls):

1. **Number** — :func:`~voicing_mcp.guard.phone.parse_number` (invalid, national format without a region, short
   and emergency numbers), :func:`~voicing_mcp.guard.phone.check_line_type` (premium-rate, shared-cost, UAN,
   unknown), :func:`~voicing_mcp.guard.phone.check_fictional` (outside local mode),
   :func:`~voicing_mcp.guard.phone.check_country` (``VOICING_ALLOWED_COUNTRIES``) and the do-not-call file
   (:class:`~voicing_mcp.guard.dnc.DoNotCallList`, read once per plan). Each distinct number is checked once
   per plan, and parsed once per process (:func:`parse_number_cached`, the last 50,000 numbers); a number written
   as E.164 is read by :func:`~voicing_mcp.guard.phone.parse_e164` (parse_number's answer, ~5x cheaper), any other
   by parse_number.
2. **Duplicate in the list** — the same E.164 number a second time is excluded (``duplicate-in-list``, "duplicate
   in list, row N", N the first row with it). The first row with a number owns it, whatever its own fate: a list
   that names a number twice is ambiguous, and the second row is never dialled instead of the first.
3. **Template** — :func:`~voicing_mcp.guard.variables.check_variables`, then
   :meth:`~voicing_mcp.guard.policy.DialGuard.check_template` (a missing required variable is named; the opening
   line is rendered in the sandbox) and :func:`~voicing_mcp.guard.variables.check_sendable`. The template is looked
   up once per plan (:meth:`~voicing_mcp.guard.policy.DialGuard.template_of`); one regex search over all the rows
   finds those whose variables hold a character check_variables may refuse (they, and any row outside its limits,
   go through it whole; the others are what it would return); the body is encoded once for the plan's ids (variables
   that passed are always sendable). tests/guard/campaigns/test_plan.py compares the result with these checks
   composed row by row.
4. **The ledger** — an open unknown outcome for the number, or a dial of the same number and assistant within
   the duplicate window, through an injected :class:`DialHistory` (:class:`LedgerHistory` over the dial ledger),
   with the ledger's own refusal texts (``outcome-unknown``, ``duplicate``).

**Quiet hours and the rate caps never exclude a row**: they only delay it (:mod:`.schedule`).

Problems of the whole campaign, not of a row — an empty assistant id or provider, a template that is missing (in
strict mode) or does not parse, a do-not-call file that cannot be read — raise
:class:`~voicing_mcp.errors.GuardRefusal` (rules in :data:`CAMPAIGN_WIDE_RULES`) instead of excluding every row.

**The manifest hash** (:func:`manifest_sha256`), which the human's approval is bound to: SHA-256 (lower-case
hex) of the UTF-8 bytes of this JSON, written with sorted keys, no whitespace (``separators=(",", ":")``),
non-ASCII characters as themselves (``ensure_ascii=False``), no NaN/Infinity::

    {"manifest": "voicing-campaign/1",
     "rows": [{"assistant_id": "...", "input_variables": {...}, "phone_number": "+1...", "position": 1,
               "telephony_provider": "default"}, ...]}

``rows`` are the accepted rows in ascending ``position`` (1-based in the submitted list); ``phone_number`` is
E.164; ``input_variables`` are the values as sent (strings, numbers, booleans, with their JSON types: ``1``,
``"1"`` and ``true`` differ). Any change to a row, its position, the assistant or the provider changes the hash;
the order of keys in the submitted objects does not.
"""

from __future__ import annotations

import bisect
import functools
import hashlib
import json
import math
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Protocol, cast

import anyio
import anyio.to_thread

from voicing_mcp.api.models import OutboundCallRequest
from voicing_mcp.errors import GuardRefusal
from voicing_mcp.guard import phone as ph
from voicing_mcp.guard.campaigns.recipients import Recipient
from voicing_mcp.guard.campaigns.schedule import (
    ASSUMED_CALL_SECONDS,
    ScheduleEstimate,
    ScheduleRow,
    estimate_schedule,
    per_number_not_before,
)
from voicing_mcp.guard.dnc import DoNotCallEntries
from voicing_mcp.guard.ledger import DUPLICATE_WINDOW, DialLedger, duplicate_refusal, unknown_refusal
from voicing_mcp.guard.policy import DialGuard
from voicing_mcp.guard.templates import AssistantTemplate, TemplateProblem
from voicing_mcp.guard.variables import (
    INT_LIMIT,
    MAX_KEY_LENGTH,
    MAX_VALUE_LENGTH,
    MAX_VARIABLES,
    check_ids,
    check_sendable,
    check_variables,
)

MANIFEST_FORMAT = "voicing-campaign/1"
DUPLICATE_IN_LIST = "duplicate-in-list"
CAMPAIGN_WIDE_RULES = frozenset({"assistant", "provider", "template", "template-missing", "do-not-call-file"})
"""Refusals that are about the campaign, not a row: they refuse the whole plan."""
MAX_WARNINGS = 20
"""Distinct warnings kept (one per kind of problem, not one per row)."""


@dataclass(frozen=True, slots=True)
class AcceptedRow:
    """A row that passed every check: what is dialled, and what the human approves."""

    position: int
    """1-based position in the submitted list (the approval page's checkbox value)."""
    phone_number: str
    """E.164, exactly as sent."""
    region: str
    """ISO country code (``US``)."""
    country: str
    """Country name (``United States``)."""
    time_zones: tuple[str, ...]
    """Every IANA zone the number may ring in; quiet hours apply in all of them."""
    opening_line: str | None
    """The assistant's first line rendered with this row's variables (None without a template, non-strict)."""
    input_variables: Mapping[str, str | int | float | bool]
    line: int | None = None
    """The CSV line the row came from (None for an inline list)."""


@dataclass(frozen=True, slots=True)
class ExcludedRow:
    """A row that will not be dialled, with the guard's rule as ``reason`` and its sentence as ``message``."""

    position: int
    phone_number: str
    """As submitted (it may not be a number at all)."""
    reason: str
    """The refusal's rule (``number``, ``do-not-call``, ``template-variables``, ``duplicate-in-list`` …)."""
    message: str
    line: int | None = None


@dataclass(frozen=True, slots=True)
class CampaignPlan:
    """The planner's result: what the approval page shows and the ledger stores."""

    assistant_id: str
    telephony_provider: str
    submitted: int
    accepted: tuple[AcceptedRow, ...]
    excluded: tuple[ExcludedRow, ...]
    by_reason: Mapping[str, int]
    """Excluded rows by reason, most frequent first."""
    by_country: Mapping[str, int]
    """Accepted rows by ISO country code, most frequent first."""
    by_time_zone: Mapping[str, int]
    """Accepted rows by :func:`zone_label`, most frequent first."""
    manifest_sha256: str
    schedule: ScheduleEstimate
    planned_at: datetime
    warnings: tuple[str, ...] = ()


class DialHistory(Protocol):
    """What the planner asks of the dial ledger. Every method takes many numbers at once, so a backend can answer
    with one query; :class:`LedgerHistory` implements it over :class:`~voicing_mcp.guard.ledger.DialLedger`."""

    async def blocks(self, numbers: Sequence[str], *, assistant_id: str, now: datetime) -> Mapping[str, GuardRefusal]:
        """The refusal of each E.164 number the ledger blocks now: an open unknown outcome (``outcome-unknown``),
        or a dial of it with ``assistant_id`` within the duplicate window (``duplicate``). Free numbers are absent."""
        ...

    async def dial_times(self, numbers: Sequence[str], *, since: datetime) -> Mapping[str, Sequence[datetime]]:
        """When each number was dialled since ``since`` (any assistant, campaigns and single calls): for the
        per-number cap. Numbers without dials may be absent."""
        ...

    async def dials_since(self, since: datetime) -> int:
        """How many dials the server made since ``since`` (for the hourly cap)."""
        ...


LEDGER_ROWS_READ_AT_ONCE = 50_000
"""Up to this many dial rows in the ledger, :class:`LedgerHistory` reads them all once to find the few numbers it
must ask about (2,000 rows: about 30 ms); a larger ledger is asked number by number (reading it would hold every
row in memory at once)."""


class LedgerHistory:
    """:class:`DialHistory` over a :class:`~voicing_mcp.guard.ledger.DialLedger`, with the queries it has today.

    ``DialLedger`` has no query for many numbers, so :meth:`blocks` reads the ledger's rows once
    (:meth:`~voicing_mcp.guard.ledger.DialLedger.recent`) and keeps the
    numbers a row could block: an unresolved ``unknown``/``pending`` row (of any scope or age), or, when
    ``count_since`` counts any dial in the duplicate window, a row created in it (any assistant or status). Only
    those numbers get the ledger's own queries (``open_unknown``, then ``last_dial``), ``limit`` at a time: a
    number with no such row can have no answer to either, so the result is the same as asking about every number.
    A ledger of more than :data:`LEDGER_ROWS_READ_AT_ONCE` rows is asked about every number (a ledger method
    answering for many numbers in one indexed query would make both cases cheap).

    :meth:`dial_times` is the ledger's one query for all the numbers
    (:meth:`~voicing_mcp.guard.ledger.DialLedger.dial_times`): the dials the per-number cap counts.
    """

    def __init__(self, ledger: DialLedger, *, limit: int = 8, read_at_once: int = LEDGER_ROWS_READ_AT_ONCE) -> None:
        self.ledger = ledger
        self.limit = limit
        self.read_at_once = read_at_once

    async def blocks(self, numbers: Sequence[str], *, assistant_id: str, now: datetime) -> Mapping[str, GuardRefusal]:
        since = now - DUPLICATE_WINDOW
        # no dial at all in the duplicate window (count_since counts every row last_dial could return): no
        # number needs its own duplicate query
        any_recent = await self.ledger.count_since(since) > 0
        asked = await self._may_block(numbers, since=since if any_recent else None)
        return await self._ask(asked, assistant_id=assistant_id, since=since, any_recent=any_recent)

    async def _may_block(self, numbers: Sequence[str], *, since: datetime | None) -> list[str]:
        """The numbers among ``numbers`` that a ledger row could block (class docstring), in one read of the
        ledger; every number when the ledger is too large to read."""
        wanted = dict.fromkeys(numbers)
        newest = await self.ledger.recent(1)
        if not newest:
            return []
        limit = newest[0].id + 64  # ids grow by one a row: the table holds at most this many (a few may arrive)
        if limit > self.read_at_once:
            return list(wanted)
        rows = await self.ledger.recent(limit)
        while len(rows) >= limit:  # more rows than ids said (or inserted meanwhile): read until none is left out
            limit *= 2
            rows = await self.ledger.recent(limit)
        oldest = since - timedelta(seconds=1) if since is not None else None  # created_at is to the second
        found: set[str] = set()
        for row in rows:
            if row.phone_e164 in wanted and (
                (row.resolved_at is None and row.status in ("unknown", "pending"))
                or (oldest is not None and _created_since(row.created_at, oldest))
            ):
                found.add(row.phone_e164)
        return [n for n in wanted if n in found]

    async def _ask(
        self, numbers: Sequence[str], *, assistant_id: str, since: datetime, any_recent: bool
    ) -> dict[str, GuardRefusal]:
        """The ledger's own per-number rules (and texts) for these numbers."""
        found: dict[str, GuardRefusal] = {}
        limiter = anyio.Semaphore(self.limit)

        async def one(number: str) -> None:
            async with limiter:
                refusal = unknown_refusal(await self.ledger.open_unknown(number))
                if refusal is None and any_recent:
                    refusal = duplicate_refusal(await self.ledger.last_dial(number, assistant_id, since=since))
            if refusal is not None:
                found[number] = refusal

        async with anyio.create_task_group() as tg:
            for number in numbers:
                tg.start_soon(one, number)
        return found

    async def dial_times(self, numbers: Sequence[str], *, since: datetime) -> Mapping[str, Sequence[datetime]]:
        return await self.ledger.dial_times(numbers, since=since)  # one query for all the numbers

    async def dials_since(self, since: datetime) -> int:
        return await self.ledger.count_since(since)


def _created_since(created_at: str, oldest: datetime) -> bool:
    """A row's ``created_at`` (ISO 8601) is at or after ``oldest``; a time that does not parse counts as recent."""
    try:
        created = datetime.fromisoformat(created_at)
    except ValueError:
        return True
    if created.tzinfo is None:
        created = created.replace(tzinfo=UTC)
    return created >= oldest


def zone_label(zones: Sequence[str]) -> str:
    """How :attr:`CampaignPlan.by_time_zone` names a row's zones: the zone, or ``first … last (n zones)`` for a
    number that may ring in several."""
    if len(zones) == 1:
        return zones[0]
    return f"{zones[0]} … {zones[-1]} ({len(zones)} zones)"


def manifest_rows(
    rows: Iterable[AcceptedRow], *, assistant_id: str, telephony_provider: str
) -> list[dict[str, object]]:
    """The manifest's rows, in position order (the hashed content; format in the module docstring)."""
    return [
        {
            "assistant_id": assistant_id,
            "input_variables": dict(r.input_variables),
            "phone_number": r.phone_number,
            "position": r.position,
            "telephony_provider": telephony_provider,
        }
        for r in sorted(rows, key=lambda r: r.position)
    ]


def manifest_bytes(rows: Iterable[AcceptedRow], *, assistant_id: str, telephony_provider: str) -> bytes:
    """The canonical JSON the manifest hash is taken over (module docstring)."""
    document = {
        "manifest": MANIFEST_FORMAT,
        "rows": manifest_rows(rows, assistant_id=assistant_id, telephony_provider=telephony_provider),
    }
    text = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    return text.encode("utf-8")


def manifest_sha256(rows: Iterable[AcceptedRow], *, assistant_id: str, telephony_provider: str) -> str:
    """SHA-256 (hex) of :func:`manifest_bytes`: what the human's approval is bound to."""
    return hashlib.sha256(
        manifest_bytes(rows, assistant_id=assistant_id, telephony_provider=telephony_provider)
    ).hexdigest()


@dataclass(slots=True)
class _Checked:
    accepted: list[AcceptedRow] = field(default_factory=list[AcceptedRow])
    excluded: list[ExcludedRow] = field(default_factory=list[ExcludedRow])
    warnings: dict[str, None] = field(default_factory=dict[str, None])

    def warn(self, texts: Iterable[str]) -> None:
        for text in texts:
            if len(self.warnings) < MAX_WARNINGS:
                self.warnings.setdefault(text)


PARSED_NUMBERS_KEPT = 50_000
"""How many parsed numbers the process keeps (about 25 MB): a list submitted again — corrected, or re-checked
when a campaign is resumed — is not parsed again."""


@functools.lru_cache(maxsize=PARSED_NUMBERS_KEPT)
def _parsed(raw: str, default_region: str | None) -> ph.PhoneInfo | GuardRefusal:
    """:func:`~voicing_mcp.guard.phone.parse_number`'s answer, cached: it depends only on these two values (and
    phonenumbers' metadata, fixed while the process runs). A number written as E.164 takes
    :func:`~voicing_mcp.guard.phone.parse_e164`, the same answer about 6x faster; anything else parse_number."""
    found = ph.parse_e164(raw)
    if found is not None:
        return found
    try:
        return ph.parse_number(raw, default_region=default_region)
    except GuardRefusal as exc:
        return exc


def _answer(found: ph.PhoneInfo | GuardRefusal) -> ph.PhoneInfo:
    """A cached answer: the number, or its refusal raised as a new exception (a cached one raised again and again
    would chain every raise's traceback onto one object) with the same rule, reason, fields and text."""
    if isinstance(found, GuardRefusal):
        raise GuardRefusal(found.message, rule=found.rule, reason=found.reason, fields=found.fields)
    return found


def parse_number_cached(raw: str, *, default_region: str | None) -> ph.PhoneInfo:
    """:func:`~voicing_mcp.guard.phone.parse_number` through the process's cache of parsed numbers."""
    return _answer(_parsed(raw, default_region))


def forget_parsed_numbers() -> None:
    """Empty the process's cache of parsed numbers (a benchmark's cold start)."""
    _parsed.cache_clear()


class _NumberChecks:
    """Check 1 for each distinct number once: the guard's number functions, in its order."""

    def __init__(self, guard: DialGuard) -> None:
        self.guard = guard
        self.entries: DoNotCallEntries = guard.dnc.load()  # an unreadable file refuses the whole plan
        self.cache: dict[str, ph.PhoneInfo | GuardRefusal] = {}

    def check(self, raw: str) -> ph.PhoneInfo:
        found = self.cache.get(raw)
        if found is None:
            try:
                found = self._check(raw)
            except GuardRefusal as exc:
                found = exc
            self.cache[raw] = found
        return _answer(found)

    def _check(self, raw: str) -> ph.PhoneInfo:
        settings = self.guard.settings
        number = parse_number_cached(raw, default_region=settings.default_region)
        ph.check_line_type(number)
        ph.check_fictional(number, local=self.guard.local)
        ph.check_country(number, settings.allowed_countries)
        # an empty list blocks nothing (blocks() would parse the number again to find its national digits)
        if (self.entries.e164 or self.entries.national) and self.entries.blocks(number):
            self.guard.dnc.check(number)  # the guard's own refusal text (re-reads the file only for these rows)
        return number


def _template_id(guard: DialGuard, given: str, assistant_id: str) -> str:
    """The template of an assistant id spelled otherwise than its canonical form (as DialGuard.check does)."""
    if given == assistant_id:
        return assistant_id
    try:
        if guard.templates.get(assistant_id) is None and guard.templates.get(given) is not None:
            return given
    except TemplateProblem:
        pass  # check_template says what is wrong with it
    return assistant_id


#: a character :func:`~voicing_mcp.guard.variables.check_variables` may refuse in a name or value: a C0/C1 control
#: (Unicode category Cc is exactly these two ranges), a bidi embedding/override/isolate, a lone surrogate
_SUSPECT = re.compile("[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")
_PLAIN_VALUES = (str, int, float, bool)


def _suspect_rows(recipients: Sequence[Recipient]) -> set[int]:
    """The 0-based indexes of the rows whose variables' names or text values hold a :data:`_SUSPECT` character:
    one search over all of them joined (a row's texts each end with a space, so no match spans two rows)."""
    starts: list[int] = []
    parts: list[str] = []
    size = 0
    for recipient in recipients:
        starts.append(size)
        for key, value in recipient.input_variables.items():
            text = f"{key} {value} " if isinstance(value, str) else f"{key} "
            parts.append(text)
            size += len(text)
    found = {bisect.bisect_right(starts, m.start()) - 1 for m in _SUSPECT.finditer("".join(parts))}
    return found


def _variables(given: Mapping[str, object], *, suspect: bool) -> dict[str, str | int | float | bool]:
    """:func:`~voicing_mcp.guard.variables.check_variables`'s answer. A row with no suspect character whose names
    and values are within its limits is what it would return unchanged; any other row goes through it, which
    refuses it (or answers the same)."""
    if suspect or len(given) > MAX_VARIABLES:
        return check_variables(given)
    for key, value in given.items():
        if (
            type(key) is not str  # pyright: ignore[reportUnnecessaryComparison]
            or not key
            or len(key) > MAX_KEY_LENGTH
            or type(value) not in _PLAIN_VALUES  # exactly these types (so isinstance below is exact too)
            or (isinstance(value, float) and not math.isfinite(value))
            or (type(value) is int and not -INT_LIMIT < value < INT_LIMIT)
            or (isinstance(value, str) and len(value) > MAX_VALUE_LENGTH)
        ):
            return check_variables(given)
    return cast("dict[str, str | int | float | bool]", dict(given))


class _Sendable:
    """:func:`~voicing_mcp.guard.variables.check_sendable` of each row's request. Variables
    :func:`_variables` passed without a suspect character always encode (plain strings without lone surrogates,
    numbers, booleans; no NaN/Infinity), so such a row's body encodes exactly when the plan's ids do: that is
    checked once, with the first such row. Every other row is checked whole."""

    def __init__(self, assistant_id: str, telephony_provider: str) -> None:
        self.assistant_id = assistant_id
        self.telephony_provider = telephony_provider
        self.ids_checked = False
        self.ids_sendable = False

    def check(self, e164: str, variables: Mapping[str, str | int | float | bool], *, suspect: bool) -> None:
        if not suspect and not self.ids_checked:
            self.ids_checked = True
            try:
                check_sendable(self._request(e164, {}))
                self.ids_sendable = True
            except GuardRefusal:
                self.ids_sendable = False
        if suspect or not self.ids_sendable:
            check_sendable(self._request(e164, variables))  # the row's own check (and refusal text)

    def _request(self, e164: str, variables: Mapping[str, str | int | float | bool]) -> OutboundCallRequest:
        return OutboundCallRequest(
            assistant_id=self.assistant_id,
            phone_number=e164,
            input_variables=dict(variables),
            telephony_provider=self.telephony_provider,
        )


class _Template:
    """The assistant's template, looked up once per plan when the first row needs it (as DialGuard.check_template
    would at that row: a template refused then refuses the whole plan), then each row checked against it."""

    def __init__(self, guard: DialGuard, template_id: str) -> None:
        self.guard = guard
        self.template_id = template_id
        self.looked_up = False
        self.template: AssistantTemplate | None = None

    def check(self, variables: Mapping[str, object], warnings: list[str]) -> str | None:
        if not self.looked_up:
            self.template = self.guard.template_of(self.template_id)
            self.looked_up = True
        return self.guard.check_template_of(self.template, self.template_id, variables, warnings)


def check_rows(
    recipients: Sequence[Recipient], *, guard: DialGuard, assistant_id: str, telephony_provider: str = "default"
) -> tuple[list[AcceptedRow], list[ExcludedRow], list[str]]:
    """Checks 1-3 of the module docstring on every row (no ledger, no clock): ``(accepted, excluded, warnings)``.

    Synchronous and CPU-bound (mostly parsing numbers the first time: see benchmarks/campaign_plan.py):
    :func:`plan_campaign` runs it in a worker thread, so the event loop keeps serving meanwhile.
    Raises GuardRefusal for a problem of the whole campaign (:data:`CAMPAIGN_WIDE_RULES`).
    """
    given = assistant_id.strip()
    assistant_id, telephony_provider = check_ids(assistant_id, telephony_provider)
    template = _Template(guard, _template_id(guard, given, assistant_id))
    numbers = _NumberChecks(guard)
    sendable = _Sendable(assistant_id, telephony_provider)
    suspects = _suspect_rows(recipients)
    out = _Checked()
    first_row: dict[str, int] = {}
    for position, recipient in enumerate(recipients, start=1):
        raw = recipient.phone_number
        suspect = position - 1 in suspects
        try:
            number = numbers.check(raw)
            if number.extension:
                out.warn([f"extensions are not dialled (E.164 has none): row {position} and any others with one"])
            first = first_row.setdefault(number.e164, position)
            if first != position:
                out.excluded.append(
                    ExcludedRow(position, raw, DUPLICATE_IN_LIST, f"duplicate in list, row {first}", recipient.line)
                )
                continue
            variables = _variables(recipient.input_variables, suspect=suspect)
            row_warnings: list[str] = []
            opening_line = template.check(variables, row_warnings)
            sendable.check(number.e164, variables, suspect=suspect)
        except GuardRefusal as exc:
            if exc.rule in CAMPAIGN_WIDE_RULES:
                raise
            out.excluded.append(ExcludedRow(position, raw, exc.rule, exc.message, recipient.line))
            continue
        out.warn(row_warnings)
        out.accepted.append(
            AcceptedRow(
                position=position,
                phone_number=number.e164,
                region=number.region,
                country=number.country,
                time_zones=number.time_zones,
                opening_line=opening_line,
                input_variables=variables,
                line=recipient.line,
            )
        )
    return out.accepted, out.excluded, list(out.warnings)


async def plan_campaign(
    recipients: Sequence[Recipient],
    *,
    guard: DialGuard,
    history: DialHistory,
    assistant_id: str,
    telephony_provider: str = "default",
    max_concurrent: int = 2,
    call_seconds: int = ASSUMED_CALL_SECONDS,
    now: datetime | None = None,
) -> CampaignPlan:
    """Plan a campaign (module docstring): every row checked now, the manifest hashed, the schedule estimated.

    ``now`` defaults to ``guard.clock()``. Quiet hours (``guard.settings.quiet_hours``) are applied to the
    estimate in local mode too: a rehearsed campaign shows the schedule a real one would have.
    Raises GuardRefusal for a problem of the whole campaign.
    """
    now = guard.clock() if now is None else now
    canonical_id, canonical_provider = check_ids(assistant_id, telephony_provider)
    accepted, excluded, warnings = await anyio.to_thread.run_sync(
        lambda: check_rows(recipients, guard=guard, assistant_id=assistant_id, telephony_provider=telephony_provider)
    )

    # 4. the ledger: open unknown outcomes and recent dials exclude; earlier dials delay (per-number cap)
    blocked = await history.blocks([r.phone_number for r in accepted], assistant_id=canonical_id, now=now)
    if blocked:
        for r in accepted:
            refusal = blocked.get(r.phone_number)
            if refusal is not None:
                excluded.append(ExcludedRow(r.position, r.phone_number, refusal.rule, refusal.message, r.line))
        accepted = [r for r in accepted if r.phone_number not in blocked]
        excluded.sort(key=lambda r: r.position)
    cap = guard.settings.max_calls_per_number
    times = await history.dial_times([r.phone_number for r in accepted], since=now - cap.window)
    dials_last_hour = await history.dials_since(now - timedelta(hours=1))

    schedule_rows = [
        ScheduleRow(r.position, r.time_zones, per_number_not_before(times.get(r.phone_number, ()), cap, now))
        for r in accepted
    ]
    schedule = estimate_schedule(
        schedule_rows,
        now=now,
        quiet_hours=guard.settings.quiet_hours,
        max_concurrent=max_concurrent,
        max_per_hour=guard.settings.max_calls_per_hour,
        dials_last_hour=dials_last_hour,
        call_seconds=call_seconds,
    )
    return CampaignPlan(
        assistant_id=canonical_id,
        telephony_provider=canonical_provider,
        submitted=len(recipients),
        accepted=tuple(accepted),
        excluded=tuple(excluded),
        by_reason=dict(Counter(r.reason for r in excluded).most_common()),
        by_country=dict(Counter(r.region for r in accepted).most_common()),
        by_time_zone=dict(Counter(zone_label(r.time_zones) for r in accepted).most_common()),
        manifest_sha256=manifest_sha256(accepted, assistant_id=canonical_id, telephony_provider=canonical_provider),
        schedule=schedule,
        planned_at=now,
        warnings=tuple(warnings),
    )
