"""``server/render/reconcile_summary.py``: the rows and counts behind ``reconcile_calls`` — one row per requested id
in request order, found or missing, the expected status compared, finished calls that did not reach the person
to call back, open calls still open — from real API records (the models the client parses)."""

from __future__ import annotations

from collections import Counter

from voicing_mcp.api.models import CallDetails
from voicing_mcp.server.render.reconcile_summary import KNOWN_STATUSES, rows_from, tally, top_counts


def _call(call_id: str, status: str, **extra: object) -> CallDetails:
    return CallDetails.model_validate({"call_id": call_id, "status": status, **extra})


def test_every_requested_id_is_one_row_in_request_order_and_the_counts_add_up() -> None:
    calls = [
        _call("a", "completed", ended_at="2026-01-01T00:01:00Z", duration=60),
        _call("b", "busy", ended_at="2026-01-01T00:02:00Z"),
        _call("c", "ringing"),
    ]
    rows = rows_from(["c", "gone", "a", "b"], calls, "completed")
    assert [r[0] for r in rows] == ["c", "gone", "a", "b"]
    t = tally(rows, requested=5, expected_status="completed")
    assert (t.requested, t.unique, t.found) == (5, 4, 3)
    assert t.missing == ["gone"]
    assert t.by_status == {"completed": 1, "busy": 1, "ringing": 1}
    assert [r[0] for r in t.still_open] == ["c"]
    assert "b" in [r[0] for r in t.mismatches] and "a" not in [r[0] for r in t.mismatches]
    assert [r[0] for r in t.call_back] == ["b"]


def test_an_expectation_per_id_is_compared_per_id() -> None:
    calls = [_call("a", "busy", ended_at="2026-01-01T00:01:00Z"), _call("b", "busy", ended_at="2026-01-01T00:01:00Z")]
    t = tally(rows_from(["a", "b"], calls, {"a": "busy", "b": "completed"}), requested=2, expected_status=None)
    assert [r[0] for r in t.mismatches] == ["b"]


def test_the_top_counts_keep_the_largest_and_fold_the_rest() -> None:
    counts = Counter({f"s{i}": i + 1 for i in range(30)})
    top = top_counts(counts, limit=5)
    assert sum(top.values()) == sum(counts.values())
    assert len(top) <= 6 and "s29" in top
    assert "completed" in KNOWN_STATUSES and "busy" in KNOWN_STATUSES
