"""``reconcile_calls``'s arithmetic and words: rows from the API's calls, the counts, the result model within the
budget, and the short readable summary that leads the result. No MCP and no I/O here.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from mcp_types import CallToolResult, ResourceLink, TextContent
from pydantic import BaseModel, Field

from voicing_mcp.redact import one_line
from voicing_mcp.server.render.reports import Report, Row, status_key
from voicing_mcp.server.render.results import RESULT_BUDGET, json_text, result_size
from voicing_mcp.server.tools.follow import TERMINAL_STATUSES

if TYPE_CHECKING:
    from voicing_mcp.api.models import CallDetails

#: every tool result, all content blocks plus structuredContent serialised, stays within this (issue 9)
#: ids in each sample of the structured result; halved until the result fits the budget
SAMPLE_SIZES = (30, 15, 8, 4, 2, 0)
#: ids named in each line of the readable summary
TEXT_IDS = 5
#: distinct statuses / ended reasons counted by name; the rest are summed under OTHER
MAX_KEYS = 20
#: with no samples left, fewer names counted when the API's names are still too wide (escape-heavy text)
KEY_SIZES = (10, 5, 2, 0)
MAX_KEY_CHARS = 64
MAX_FIELD_CHARS = 256
#: seconds: a longer duration (31 years) is no call's, and its sum could overflow; the row shows none
MAX_DURATION = 1e9
OTHER = "(other)"
NONE = "(none)"
OPEN_STATUSES = frozenset({"queued", "initiated", "ringing", "in-progress"})
NOT_REACHED = frozenset({"busy", "no-answer", "voicemail", "failed", "canceled", "cancelled"})
#: the statuses an expectation may name: those of the API guide and the emulator, and the cancelled spellings
KNOWN_STATUSES = (
    "queued",
    "initiated",
    "ringing",
    "in-progress",
    "completed",
    "busy",
    "no-answer",
    "voicemail",
    "failed",
    "canceled",
    "cancelled",
)


# ----- rows ----------------------------------------------------------------------------------
def _text(value: object, limit: int) -> str | None:
    if value is None:
        return None
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _capped(text: str | None, limit: int) -> str | None:
    return text if text is None or len(text) <= limit else _text(text, limit)


def rows_from(ids: Sequence[str], calls: Sequence[CallDetails], expected: Mapping[str, str] | str | None) -> list[Row]:
    """One compact row per requested id, in request order. Repeated texts (statuses, reasons) share one string.

    The loop is the tool's own cost per call (100,000 at most): attribute reads and tuples, no per-field calls on
    the common path."""
    by_id = {c.call_id: c for c in calls}
    shared: dict[str | None, str | None] = {None: None}
    one = expected if isinstance(expected, str) else None
    per_id = expected if isinstance(expected, Mapping) else None
    rows: list[Row] = []
    append = rows.append
    for call_id in ids:
        want = one if per_id is None else per_id.get(call_id)
        call = by_id.get(call_id)
        if call is None:
            append(Row(call_id, False, None, None, None, None, None, want))
            continue
        status = call.status
        if status is not None and len(status) > MAX_KEY_CHARS:
            status = _text(status, MAX_KEY_CHARS)
        extra = call.__pydantic_extra__
        reason = extra.get("ended_reason") if extra else None
        if reason is not None and (not isinstance(reason, str) or len(reason) > MAX_FIELD_CHARS):
            reason = _text(reason, MAX_FIELD_CHARS)
        duration = call.duration
        if duration is not None and not (math.isfinite(duration) and abs(duration) <= MAX_DURATION):
            duration = None
        append(
            Row(
                call_id,
                True,
                shared.setdefault(status, status),
                shared.setdefault(reason, reason),
                duration,
                _capped(call.started_at, MAX_KEY_CHARS),
                _capped(call.ended_at, MAX_KEY_CHARS),
                want,
            )
        )
    return rows


# ----- the counts ----------------------------------------------------------------------------
@dataclass(slots=True)
class Tally:
    """Everything the result says, with every id (the result shows samples of them)."""

    requested: int
    unique: int
    found: int = 0
    missing: list[str] = field(default_factory=list[str])
    by_status: Counter[str] = field(default_factory=Counter[str])
    by_reason: Counter[str] = field(default_factory=Counter[str])
    durations: list[float] = field(default_factory=list[float])
    mismatches: list[Row] = field(default_factory=list[Row])
    still_open: list[Row] = field(default_factory=list[Row])
    call_back: list[Row] = field(default_factory=list[Row])
    checked: int = 0
    expected_status: str | None = None


def tally(rows: Sequence[Row], *, requested: int, expected_status: str | None) -> Tally:
    """The counts in one pass over the rows. A found call is still open unless its status is a final one
    (completed, busy, no-answer, voicemail, failed, canceled): an open status (queued, initiated, ringing,
    in-progress), or a status we do not know with no end time. A mismatch is :attr:`Row.mismatch`."""
    t = Tally(requested=requested, unique=len(rows), expected_status=expected_status)
    statuses: list[str | None] = []
    reasons: list[str | None] = []
    lower: dict[str | None, str] = {None: ""}
    for row in rows:
        call_id, found, status, reason, duration, _, ended_at, want = row
        if not found:
            t.missing.append(call_id)
            continue
        statuses.append(status)
        reasons.append(reason)
        low = lower.get(status)
        if low is None:
            low = lower[status] = status_key(status)
        if want is not None:
            t.checked += 1
            if low != status_key(want):
                t.mismatches.append(row)
        if low not in TERMINAL_STATUSES and (low in OPEN_STATUSES or not ended_at):
            t.still_open.append(row)
            continue
        if duration is not None and duration >= 0:
            t.durations.append(duration)
        if low in NOT_REACHED:
            t.call_back.append(row)
    t.found = len(statuses)
    for status, n in Counter(statuses).items():
        t.by_status[status if status is not None else NONE] += n
    for reason, n in Counter(reasons).items():
        t.by_reason[_capped(reason, MAX_KEY_CHARS) or NONE] += n
    return t


def top_counts(counts: Counter[str], limit: int = MAX_KEYS) -> dict[str, int]:
    """The ``limit`` largest counts by name, most first; the rest summed under :data:`OTHER`."""
    ranked = counts.most_common()
    out = dict(ranked[:limit])
    rest = sum(n for _, n in ranked[limit:])
    if rest:
        out[OTHER] = out.get(OTHER, 0) + rest
    return out


def _rank(ordered: Sequence[float], q: float) -> float:
    return ordered[max(1, math.ceil(q * len(ordered))) - 1]


# ----- the result model ----------------------------------------------------------------------
class MissingIds(BaseModel):
    count: int = Field(description="Requested ids the API did not return.")
    first: list[str] = Field(description="The first of them, in request order (all are in the report).")


class IdSample(BaseModel):
    count: int
    sample: list[str] = Field(description="Some of the ids, in request order (all are in the report).")


class Mismatch(BaseModel):
    call_id: str
    expected: str
    actual: str | None


class Mismatches(BaseModel):
    count: int = Field(description="Found calls whose status is not the expected one (missing ids not counted).")
    sample: list[Mismatch]


class DurationSeconds(BaseModel):
    """Durations of the ended calls that have one (nearest-rank percentiles; null when there are none)."""

    total: float
    p50: float | None
    p90: float | None
    max: float | None


class ReconcileResult(BaseModel):
    """Result of ``reconcile_calls``: counts and samples; every row is in the ``report`` resource."""

    requested: int = Field(description="Ids given, duplicates included.")
    unique: int = Field(description="Distinct ids looked up (duplicates removed, first order kept).")
    duplicates_removed: int
    found: int
    missing: MissingIds
    by_status: dict[str, int] = Field(description=f"Found calls per status (top {MAX_KEYS}; the rest as {OTHER}).")
    by_ended_reason: dict[str, int] = Field(description=f"Found calls per ended_reason ({NONE}: none given).")
    duration_seconds: DurationSeconds
    expected_checked: int = Field(description="Found calls that had an expected status.")
    mismatches: Mismatches
    still_open: IdSample = Field(description="Found calls not ended yet (queued, initiated, ringing, in-progress).")
    call_back: IdSample = Field(
        description="Ended calls that did not reach the person (busy, no-answer, voicemail, failed, canceled)."
    )
    samples_cut: bool = Field(description="True when samples were shortened to keep the result within budget.")
    report: str = Field(description="URI of the report resource with every row (JSON).")
    report_csv: str = Field(description="The same report as CSV.")


def build_result(t: Tally, report: Report, n: int, keys: int = MAX_KEYS) -> ReconcileResult:
    durations = sorted(t.durations)
    return ReconcileResult(
        requested=t.requested,
        unique=t.unique,
        duplicates_removed=t.requested - t.unique,
        found=t.found,
        missing=MissingIds(count=len(t.missing), first=t.missing[:n]),
        by_status=top_counts(t.by_status, keys),
        by_ended_reason=top_counts(t.by_reason, keys),
        duration_seconds=DurationSeconds(
            total=round(math.fsum(durations), 3),
            p50=_rank(durations, 0.5) if durations else None,
            p90=_rank(durations, 0.9) if durations else None,
            max=durations[-1] if durations else None,
        ),
        expected_checked=t.checked,
        mismatches=Mismatches(
            count=len(t.mismatches),
            sample=[Mismatch(call_id=r.call_id, expected=r.expected or "", actual=r.status) for r in t.mismatches[:n]],
        ),
        still_open=IdSample(count=len(t.still_open), sample=[r.call_id for r in t.still_open[:n]]),
        call_back=IdSample(count=len(t.call_back), sample=[r.call_id for r in t.call_back[:n]]),
        samples_cut=n < SAMPLE_SIZES[0]
        and any(len(x) > n for x in (t.missing, t.mismatches, t.still_open, t.call_back)),
        report=report.uri,
        report_csv=report.csv_uri,
    )


# ----- the readable summary ------------------------------------------------------------------
def _counts_text(counts: Mapping[str, int]) -> str:
    return ", ".join(f"{one_line(k)} {n:,}" for k, n in counts.items())


def _ids_text(ids: Sequence[str], count: int, n: int) -> str:
    shown = ", ".join(one_line(i) for i in ids[: min(n, TEXT_IDS)])
    if not shown:
        return ""
    return f" (first: {shown}{' …' if count > min(n, TEXT_IDS) else ''})"


def summary_text(r: ReconcileResult, expected_status: str | None, n: int) -> str:
    head = f"Reconciled {r.unique:,} call ids"
    if r.duplicates_removed:
        head += f" ({r.duplicates_removed:,} duplicates removed from the {r.requested:,} given)"
    lines = [f"{head}: {r.found:,} found, {r.missing.count:,} missing."]
    if r.by_status:
        lines.append(f"By status: {_counts_text(r.by_status)}.")
        lines.append(f"By ended reason (API text): {_counts_text(r.by_ended_reason)}.")
    d = r.duration_seconds
    if d.p50 is not None:
        lines.append(
            f"Durations of ended calls: total {d.total:,.0f} s, median {d.p50:g} s, p90 {d.p90:g} s, max {d.max:g} s."
        )
    attention: list[str] = []
    if r.missing.count:
        attention.append(
            f"{r.missing.count:,} ids not found by the API{_ids_text(r.missing.first, r.missing.count, n)}: check "
            "them for typos, or whether they belong to another account or environment."
        )
    if r.still_open.count:
        attention.append(
            f"{r.still_open.count:,} calls still open{_ids_text(r.still_open.sample, r.still_open.count, n)}: "
            "run reconcile_calls again later for their final status."
        )
    if r.mismatches.count:
        want = f"the expected status {expected_status!r}" if expected_status else "their expected status"
        shown = [f"{m.call_id} ({m.actual or 'no status'})" for m in r.mismatches.sample]
        attention.append(
            f"{r.mismatches.count:,} of {r.expected_checked:,} calls checked did not reach {want}"
            f"{_ids_text(shown, r.mismatches.count, n)}."
        )
    elif r.expected_checked:
        attention.append(f"All {r.expected_checked:,} calls checked have their expected status: no mismatch.")
    if r.call_back.count:
        attention.append(
            f"{r.call_back.count:,} calls ended without reaching the person (busy, no-answer, voicemail, failed)"
            f"{_ids_text(r.call_back.sample, r.call_back.count, n)}: candidates to call back — ask the user "
            "before dialling any of them."
        )
    lines += ["Needs attention:", *(f"- {a}" for a in attention)] if attention else ["Nothing needs attention."]
    lines.append(
        f"Every row (status, ended_reason, duration, times, expected, mismatch, missing) is in {r.report} "
        f"(JSON in parts within the budget, each naming the next) and {r.report_csv} (CSV, whole): read it for the "
        "full lists of ids."
    )
    return "\n".join(lines)


def tool_result(r: ReconcileResult, text: str) -> CallToolResult:
    """The summary, the JSON of the structured result, a link to the report, and ``structuredContent``."""
    data = r.model_dump(mode="json")
    return CallToolResult(
        content=[
            TextContent(type="text", text=text),
            TextContent(type="text", text=json_text(data)),
            ResourceLink(
                type="resource_link",
                uri=r.report,
                name="reconcile_report",
                title="Reconciliation report",
                description=f"Every row of this reconciliation ({r.unique:,} ids) as JSON in parts (each part's next "
                f"names the following one); whole as CSV: {r.report_csv}",
                mime_type="application/json",
            ),
        ],
        structured_content=data,
    )


def fitted_result(t: Tally, report: Report) -> CallToolResult:
    """The largest samples that keep the result within :data:`RESULT_BUDGET`; without samples, the most
    statuses and ended reasons by name that do (an API's names may be escape-heavy: ``\x00`` is 8 characters
    made visible, 6 in JSON, 7 in the JSON of the JSON text block)."""
    result: CallToolResult | None = None
    for n, keys in [*((n, MAX_KEYS) for n in SAMPLE_SIZES), *((0, k) for k in KEY_SIZES)]:
        r = build_result(t, report, n, keys)
        result = tool_result(r, summary_text(r, t.expected_status, n))
        if result_size(result) <= RESULT_BUDGET:
            return result
    assert result is not None
    return result


def summary_fields(r: CallToolResult) -> dict[str, Any]:
    """The counts the report document repeats (the structured result without its samples)."""
    data = dict(r.structured_content or {})
    for key in ("missing", "mismatches", "still_open", "call_back"):
        if isinstance(data.get(key), dict):
            data[key] = {"count": data[key]["count"]}
    for key in ("samples_cut", "report", "report_csv"):
        data.pop(key, None)
    return data
