"""server/web/dashboard_view: the dashboard's outcome chart (inline SVG, no script): bars of a round width that add up
to the outcome counts, a caption saying what a bar is, an empty chart that says nothing happened yet."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from voicing_mcp.guard.ledger import CampaignRow
from voicing_mcp.server.web.dashboard_view import outcome_chart

DAY = datetime(2026, 5, 4, 16, 0, tzinfo=UTC)


def test_the_chart_has_at_most_24_bars_of_a_round_width_and_its_bars_add_up_to_the_outcome_counts() -> None:
    outcomes = ["completed", "busy", "no_answer", "voicemail", "failed", "unknown", "completed"]
    rows = [
        CampaignRow(
            campaign_id="cmp_0123456789abcdef",
            position=i,
            phone_e164=f"+1701811{i:04d}",
            phone_masked="",
            input_variables={},
            state=outcomes[i % len(outcomes)],  # type: ignore[arg-type]
            exclusion_reason=None,
            attempts=1,
            next_attempt_at=None,
            call_id=f"call-{i}",
            dial_id=None,
            last_outcome=None,
            worker_id=None,
            lease_until=None,
            updated_at=DAY + timedelta(minutes=90 * i / 299),
        )
        for i in range(300)
    ]
    chart = outcome_chart(rows, DAY - timedelta(minutes=3))
    drawn: dict[str, int] = {}
    for bar in chart.bars:
        drawn[bar.state] = drawn.get(bar.state, 0) + int(bar.title.rsplit(": ", 1)[1].split()[0])
    expected = {s: sum(1 for r in rows if r.state == s) for s in set(outcomes)}
    assert drawn == expected and {s: n for s, _, n in chart.totals} == expected
    assert len({bar.x for bar in chart.bars}) <= 24 and "One bar per 5 min, from 15:55:00" in chart.caption
    assert all(0 <= bar.y and bar.y + bar.height <= 120.01 for bar in chart.bars)
    assert outcome_chart([], None).caption.startswith("No outcome yet")
