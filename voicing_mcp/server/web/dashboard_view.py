"""What the campaign dashboard shows, MCP-free and HTTP-free: the labels, the outcomes chart, the rows and the
sentences a person reads, built from ``campaign_status``'s result and the ledger's rows
(:mod:`voicing_mcp.server.web.dashboard_page` serves them; ``dashboard_parts.html`` draws them).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Final

from voicing_mcp.guard.campaigns.control import approval_valid
from voicing_mcp.guard.ledger.campaigns import ROW_STATES
from voicing_mcp.redact import one_line
from voicing_mcp.server.web.campaign_page import international

if TYPE_CHECKING:
    from voicing_mcp.guard.ledger import Campaign, CampaignRow, RowState
    from voicing_mcp.server.tools.campaign_status import CampaignStatusResult

CHART_BARS: Final = 24
"""The chart has at most this many bars (time buckets)."""
#: bucket widths the chart may use, in seconds (the smallest that fits the span in CHART_BARS bars)
BUCKETS: Final = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400)
#: the chart's drawing box (the bars are stretched to the page's width)
CHART_W: Final = 480
CHART_H: Final = 120

#: the outcome states the chart draws, in the order of the stack (bottom first)
OUTCOMES: Final[tuple[RowState, ...]] = ("completed", "voicemail", "busy", "no_answer", "failed", "unknown")
#: the count tiles, grouped as a person reads them
GROUPS: Final[tuple[tuple[str, tuple[RowState, ...]], ...]] = (
    ("Outcomes", OUTCOMES),
    ("Still to do", ("queued", "waiting", "dialling", "in_progress")),
    ("Not dialled", ("excluded", "removed", "cancelled")),
)
STATE_LABELS: Final[dict[str, str]] = {
    "queued": "Queued",
    "waiting": "Waiting",
    "dialling": "Dialling",
    "in_progress": "In progress",
    "completed": "Completed",
    "busy": "Busy",
    "no_answer": "No answer",
    "voicemail": "Voicemail",
    "failed": "Failed",
    "unknown": "Unknown outcome",
    "excluded": "Excluded",
    "removed": "Removed",
    "cancelled": "Cancelled",
}
STATUS_LABELS: Final[dict[str, str]] = {
    "awaiting_approval": "Awaiting approval",
    "scheduled": "Scheduled",
    "running": "Running",
    "paused": "Paused",
    "completed": "Completed",
    "cancelled": "Cancelled",
    "declined": "Declined",
    "expired": "Expired",
}
assert set(STATE_LABELS) == set(ROW_STATES), "every row state has a label"
assert {s for _, states in GROUPS for s in states} == set(ROW_STATES), "every row state has a tile"


@dataclass(frozen=True, slots=True)
class Bar:
    """One rectangle of the chart: an outcome's share of one time bucket."""

    x: float
    y: float
    width: float
    height: float
    state: str
    title: str


@dataclass(frozen=True, slots=True)
class Chart:
    """Outcomes over time: stacked bars per time bucket, their totals by outcome (equal to the counts)."""

    bars: tuple[Bar, ...]
    totals: tuple[tuple[str, str, int], ...]
    """(state, label, rows) of every outcome state."""
    caption: str


def outcome_chart(rows: list[CampaignRow], start: datetime | None) -> Chart:
    """Stacked bars of the rows in an outcome state by the time they reached it (``updated_at``), from ``start``
    (the approval) or the first outcome; at most :data:`CHART_BARS` bars of a round width."""
    totals = tuple((s, STATE_LABELS[s], sum(1 for r in rows if r.state == s)) for s in OUTCOMES)
    if not rows:
        return Chart((), totals, "No outcome yet: the chart fills in as calls end.")
    times = [r.updated_at for r in rows]
    first = min(min(times), start) if start is not None else min(times)
    last = max(times)
    span = (last - first).total_seconds()
    width = next((w for w in BUCKETS if span / w < CHART_BARS - 1), BUCKETS[-1])  # -1: the first bar starts earlier
    origin = first.timestamp() // width * width
    n = min(CHART_BARS, int((last.timestamp() - origin) // width) + 1)
    buckets: list[dict[str, int]] = [dict.fromkeys(OUTCOMES, 0) for _ in range(n)]
    for r in rows:
        k = min(n - 1, int((r.updated_at.timestamp() - origin) // width))
        buckets[k][r.state] += 1
    tallest = max(sum(b.values()) for b in buckets)
    slot = CHART_W / max(n, 1)
    bars: list[Bar] = []
    for k, bucket in enumerate(buckets):
        since = datetime.fromtimestamp(origin + k * width, UTC)
        y = float(CHART_H)
        for state in OUTCOMES:
            count = bucket[state]
            if not count:
                continue
            h = CHART_H * count / tallest
            y -= h
            title = f"{since:%H:%M:%S} UTC, {bucket_label(width)}: {count} {STATE_LABELS[state].lower()}"
            bars.append(
                Bar(round(k * slot + slot * 0.1, 2), round(y, 2), round(slot * 0.8, 2), round(h, 2), state, title)
            )
    begin = datetime.fromtimestamp(origin, UTC)
    end = datetime.fromtimestamp(origin + n * width, UTC)
    caption = (
        f"One bar per {bucket_label(width)}, from {begin:%H:%M:%S} to {end:%H:%M:%S} UTC"
        f"{'' if begin.date() == end.date() else f' ({begin:%Y-%m-%d} to {end:%Y-%m-%d})'}; "
        f"the tallest bar has {tallest} outcome{'s' if tallest != 1 else ''}."
    )
    return Chart(tuple(bars), totals, caption)


def bucket_label(seconds: int) -> str:
    if seconds % 3600 == 0:
        return f"{seconds // 3600} h"
    if seconds % 60 == 0:
        return f"{seconds // 60} min"
    return f"{seconds} s"


def row_view(row: CampaignRow, campaign: Campaign, now: datetime) -> dict[str, Any]:
    if row.state in ("queued", "waiting"):
        if campaign.status in ("running", "scheduled"):
            due = row.next_attempt_at
            next_dial = "now" if due is None or due <= now else format_time(due, now)
        elif campaign.status == "paused":
            next_dial = "when resumed"
        else:
            next_dial = "—"
    else:
        next_dial = "—"
    detail = row.exclusion_reason or row.last_outcome
    return {
        "position": row.position,
        "number": one_line(international(row.phone_e164)),
        "state": row.state,
        "state_label": STATE_LABELS.get(row.state, row.state),
        "attempts": row.attempts,
        "next_dial": next_dial,
        "call_id": one_line(row.call_id) if row.call_id else "—",
        "detail": one_line(detail.replace("_", " ")) if detail else "—",
    }


def what_now(campaign: Campaign, status: CampaignStatusResult, now: datetime) -> str:
    """One sentence for a person: what happens next."""
    match campaign.status:
        case "awaiting_approval":
            return "Nothing is dialled until you approve the list on its approval page."
        case "scheduled" | "running":
            nxt = next_dial(status, now)
            busy = status.counts.get("dialling", 0) + status.counts.get("in_progress", 0)
            if nxt is None:
                return "No row is due: it completes when the calls in progress end."
            return f"Next dial: {nxt}. {busy} call{'s' if busy != 1 else ''} in progress now."
        case "paused":
            if approval_valid(campaign, now):
                return "Nothing is dialled until you resume it (or cancel it)."
            return "Nothing is dialled. Its approval lapsed: only a new approval, asked by the assistant, resumes it."
        case "completed":
            return "Every row is done; nothing more will be dialled."
        case "cancelled":
            return "Cancelled: nothing more will be dialled (calls already in progress were not hung up)."
        case "declined":
            return "Declined: nothing was dialled and nothing will be."
        case _:
            return "Its approval lapsed before it was dialled: nothing more will be dialled."


def next_dial(status: CampaignStatusResult, now: datetime) -> str | None:
    if status.next_dial_at is None:
        return None
    due = datetime.fromisoformat(status.next_dial_at)
    return "now" if due <= now else format_time(due, now)


def format_time(t: datetime, now: datetime) -> str:
    """UTC, with the date when it is not today's."""
    u = t.astimezone(UTC)
    if u.date() == now.astimezone(UTC).date() and abs(u - now) < timedelta(days=1):
        return f"{u:%H:%M:%S} UTC"
    return f"{u:%Y-%m-%d %H:%M} UTC"
