"""``reconcile_calls`` and its report resources through real MCP client sessions, in both protocol modes, against
an emulator with 10,000 historical calls served over loopback HTTP. The expected counts come from the emulator's
own state (its truth), never from the tool's path."""

from __future__ import annotations

import csv
import io
import json
import math
from collections import Counter
from typing import Any

import httpx
import pytest
from mcp.server.mcpserver.exceptions import ToolError
from mcp.shared.exceptions import MCPError
from mcp_types import CallToolResult, ResourceLink, TextContent

from server_support import ASSISTANT, connect, helper, structured, text_of
from tests.server.render.test_reports import parts_of
from voicing_mcp.emulator.runner import RunningEmulator
from voicing_mcp.emulator.state import EmulatorConfig
from voicing_mcp.server.render.reports import COLUMNS, ReportStore, Row
from voicing_mcp.server.render.results import RESULT_BUDGET, result_size
from voicing_mcp.server.tools.reconcile_calls import expectations

HISTORY = 10_000
OPEN_STATUSES = {"queued", "initiated", "ringing", "in-progress"}


@pytest.fixture(scope="module")
def emu_config() -> EmulatorConfig:
    """10,000 finished calls of the last week; the clock stands still, so a call dialled now stays queued."""
    return EmulatorConfig(seed_calls=HISTORY, speed=0.0)


def history_ids(emu: RunningEmulator) -> list[str]:
    return [c.call_id for c in emu.state.order]


def dial_open_calls(emu: RunningEmulator, n: int) -> list[str]:
    """Calls placed straight through the emulator's API (no guard): queued for ever on the stopped clock."""
    ids: list[str] = []
    with httpx.Client(base_url=emu.base_url, headers={"x-api-key": emu.api_key}, timeout=10) as http:
        for i in range(n):
            body = {
                "assistant_id": ASSISTANT,
                "phone_number": f"+1212555{i + 100:04d}",
                "input_variables": {"name": "Ana", "plan_type": "Basic"},
                "telephony_provider": "default",
            }
            response = http.post("/api/v1/campaigns/publish-outbound-call", json=body)
            response.raise_for_status()
            ids.append(response.json()["call_id"])
    return ids


def truth(emu: RunningEmulator, ids: list[str]) -> dict[str, dict[str, Any] | None]:
    """Each distinct id as the emulator holds it (None: unknown to it)."""
    return {i: emu.state.call_view(i, transcript=False) for i in dict.fromkeys(ids)}


def all_size(result: CallToolResult) -> int:
    return len(json.dumps(result.model_dump(mode="json", by_alias=True, exclude_none=True), ensure_ascii=False))


def error_text(result: CallToolResult) -> str:
    assert result.is_error, "expected a tool error"
    return text_of(result)


# ----- counts against the emulator's truth ----------------------------------------------------------------
async def test_reconcile_counts_missing_and_still_open_calls_at_10000_ids(emu: RunningEmulator, mode: str) -> None:
    history = history_ids(emu)
    open_ids = dial_open_calls(emu, 3)
    talking = helper(emu, "POST", "/_emulator/calls", {"call_id": "talking-1", "status": "in-progress"})["call_id"]
    unknown = [f"ghost-{i:03d}" for i in range(40)]
    ids = [*history[: HISTORY - 60], *unknown, *open_ids, talking, *history[:25]]  # 25 repeats
    known = truth(emu, ids)
    calls = [c for c in known.values() if c is not None]
    seen: list[tuple[float, float | None, str | None]] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        seen.append((progress, total, message))

    async with connect(emu, mode) as client:
        result = await client.call_tool("reconcile_calls", {"call_ids": ids}, progress_callback=on_progress)
    data = structured(result)

    assert data["requested"] == len(ids) and data["unique"] == len(known) and data["duplicates_removed"] == 25
    assert data["found"] == len(calls) == HISTORY - 60 + 4
    assert data["missing"]["count"] == 40 and data["missing"]["first"] == unknown[: len(data["missing"]["first"])]
    assert len(data["missing"]["first"]) >= 20
    assert data["by_status"] == dict(Counter(c["status"] for c in calls))
    assert data["by_ended_reason"] == dict(Counter(c.get("ended_reason") or "(none)" for c in calls))
    opened = [i for i, c in known.items() if c is not None and c["status"] in OPEN_STATUSES]
    assert sorted(opened) == sorted([*open_ids, talking])
    assert data["still_open"] == {"count": 4, "sample": opened}
    ended = sorted(float(c["duration"]) for c in calls if c["status"] not in OPEN_STATUSES)
    assert data["duration_seconds"] == {
        "total": pytest.approx(math.fsum(ended)),
        "p50": ended[math.ceil(len(ended) / 2) - 1],
        "p90": ended[math.ceil(0.9 * len(ended)) - 1],
        "max": ended[-1],
    }
    not_reached = [c for c in calls if c["status"] in {"busy", "no-answer", "voicemail", "failed"}]
    assert data["call_back"]["count"] == len(not_reached) > 1000
    assert data["mismatches"] == {"count": 0, "sample": []} and data["expected_checked"] == 0
    # a progress notification per API request of 100 ids, each with a message, the last one at the total
    assert len(seen) == math.ceil(len(known) / 100)
    assert seen[-1][:2] == (len(known), len(known)) and all(m and "call ids looked up" in m for _, _, m in seen)
    text = text_of(result)
    assert text.startswith(f"Reconciled {len(known):,} call ids (25 duplicates removed")
    assert "40 ids not found" in text and "ghost-000" in text and "4 calls still open" in text
    assert "candidates to call back" in text and "ask the user before dialling" in text
    links = [b for b in result.content if isinstance(b, ResourceLink)]
    assert [str(link.uri) for link in links] == [data["report"]] and data["report"].startswith("voicing://reports/")
    assert all_size(result) <= RESULT_BUDGET


async def test_reconcile_reports_mismatches_against_one_expected_status(emu: RunningEmulator, mode: str) -> None:
    ids = [*history_ids(emu)[:500], "ghost-1"]
    known = truth(emu, ids)
    wrong = [(i, c["status"]) for i, c in known.items() if c is not None and c["status"] != "completed"]
    async with connect(emu, mode) as client:
        result = await client.call_tool("reconcile_calls", {"call_ids": ids, "expected_status": " Completed "})
    data = structured(result)
    assert data["expected_checked"] == 500  # the missing id is counted as missing, not as a mismatch
    assert data["mismatches"]["count"] == len(wrong) > 50
    sample = data["mismatches"]["sample"]
    assert [(m["call_id"], m["actual"]) for m in sample] == wrong[: len(sample)] and len(sample) >= 20
    assert {m["expected"] for m in data["mismatches"]["sample"]} == {"completed"}
    assert f"{len(wrong):,} of 500 calls checked did not reach the expected status 'completed'" in text_of(result)


async def test_reconcile_reports_mismatches_against_a_status_per_call(emu: RunningEmulator, mode: str) -> None:
    ids = history_ids(emu)[:300]
    known = truth(emu, ids)
    # expect each call's true status, except for five where we expect "no_answer" (spelt with an underscore)
    expected = {i: c["status"] for i, c in known.items() if c is not None}
    flipped = [i for i in ids if expected[i] != "no-answer"][:5]
    expected.update(dict.fromkeys(flipped, "NO_ANSWER"))
    unchecked = ids[-10:]
    for i in unchecked:
        del expected[i]
    async with connect(emu, mode) as client:
        result = await client.call_tool("reconcile_calls", {"call_ids": ids, "expected": expected})
    data = structured(result)
    assert data["expected_checked"] == 290
    assert data["mismatches"] == {
        "count": 5,
        "sample": [{"call_id": i, "expected": "no-answer", "actual": known[i]["status"]} for i in flipped],  # type: ignore[index]
    }


# ----- the report resource ----------------------------------------------------------------------------------
async def test_the_report_holds_every_row_as_json_and_csv(emu: RunningEmulator, mode: str) -> None:
    ids = [*history_ids(emu)[:1_000], "ghost-a", *dial_open_calls(emu, 1)]
    async with connect(emu, mode) as client:
        result = await client.call_tool("reconcile_calls", {"call_ids": ids, "expected_status": "completed"})
        data = structured(result)
        doc, *rest = await parts_of(client, data["report"])  # in parts within the budget: followed to the end
        as_csv = await client.read_resource(data["report_csv"])
    (csv_part,) = as_csv.contents
    assert csv_part.mime_type == "text/csv"
    assert doc["columns"] == list(COLUMNS) and doc["csv"] == data["report_csv"]
    rows = [dict(zip(doc["columns"], r, strict=True)) for part in (doc, *rest) for r in part["rows"]]
    assert [r["call_id"] for r in rows] == ids  # every requested id, in request order
    found = [r for r in rows if not r["missing"]]
    assert len(found) == data["found"] and sum(r["missing"] for r in rows) == data["missing"]["count"] == 1
    assert dict(Counter(r["status"] for r in found)) == data["by_status"]
    assert sum(r["mismatch"] for r in rows) == data["mismatches"]["count"]
    assert doc["found"] == data["found"] and doc["by_status"] == data["by_status"]
    assert doc["missing"] == {"count": 1}
    known = truth(emu, ids)
    for r in found[:50]:
        call = known[r["call_id"]]
        assert call is not None and (r["status"], r["ended_reason"], r["ended_at"]) == (
            call["status"],
            call["ended_reason"],
            call["ended_at"],
        )
    table = list(csv.DictReader(io.StringIO(csv_part.text)))  # type: ignore[union-attr]
    assert list(table[0]) == list(COLUMNS) and len(table) == len(ids)
    assert [t["call_id"] for t in table] == ids
    assert [t["status"] for t in table] == [r["status"] or "" for r in rows]
    assert [t["mismatch"] == "true" for t in table] == [r["mismatch"] for r in rows]
    assert [t["missing"] == "true" for t in table] == [r["missing"] for r in rows]


async def test_reading_a_report_this_server_does_not_keep_says_how_to_make_it_again(
    emu: RunningEmulator, mode: str
) -> None:
    async with connect(emu, mode) as client:
        for uri in ("voicing://reports/nosuchreport", "voicing://reports/nosuchreport.csv"):
            with pytest.raises(MCPError) as caught:
                await client.read_resource(uri)
            message = caught.value.error.message
            assert "'nosuchreport' is not kept by this server" in message
            assert "Run reconcile_calls again with the same call_ids" in message


def test_the_report_store_evicts_the_oldest_reports_beyond_its_bounds() -> None:
    store = ReportStore(max_reports=3, max_rows=10)
    first = store.add([Row("a", True)] * 4)
    second = store.add([Row("b", True)] * 4)
    third = store.add([Row("c", False)])  # 9 rows, 3 reports: all kept
    assert [store.get(r.report_id) for r in (first, second, third)] == [first, second, third]
    fourth = store.add([Row("d", True)] * 4)  # a fourth report, and 13 rows: the first goes
    assert store.get(first.report_id) is None and store.get(second.report_id) is second
    assert store.get(fourth.report_id) is fourth and len(store) == 3 and store.evicted == 1
    assert len({first.report_id, second.report_id, third.report_id, fourth.report_id}) == 4
    assert len(first.report_id) >= 20  # secrets.token_urlsafe(16): unguessable


# ----- the budget -------------------------------------------------------------------------------------------
async def test_reconcile_of_100000_ids_stays_within_the_result_budget(emu: RunningEmulator) -> None:
    """The largest request the schema accepts: 90,000 ids the API does not know (the first 100 of them 256
    characters long, the longest id the schema takes, so the samples are at their widest) and every one of the
    10,000 calls it knows; every id expected 'failed'. On the 2026-07-28 protocol only: the tool's result is the
    same in both modes (16,830 characters of content here) and this mode's envelope is the larger one (17,204
    characters in all, the legacy one 17,081); the other tests here run both modes (each run ~6 s of CPU)."""
    history = history_ids(emu)
    ids = [*history, *(f"{i:06d}-" + "x" * 249 if i < 100 else f"g{i}" for i in range(100_000 - HISTORY))]
    async with connect(emu, "2026-07-28") as client:
        result = await client.call_tool("reconcile_calls", {"call_ids": ids, "expected_status": "failed"})
    data = structured(result)
    assert data["requested"] == 100_000 and data["found"] == HISTORY and data["missing"]["count"] == 90_000
    assert data["mismatches"]["count"] > 8_000 and data["mismatches"]["sample"]
    assert data["missing"]["first"] and data["missing"]["first"][0] == ids[HISTORY]
    assert all_size(result) <= RESULT_BUDGET and result_size(result) <= RESULT_BUDGET


async def test_many_odd_statuses_and_reasons_from_the_api_are_counted_within_the_budget(emu: RunningEmulator) -> None:
    """Hostile API data: 60 distinct 300-character statuses and 4,000-character ended reasons."""
    ids = [
        helper(
            emu,
            "POST",
            "/_emulator/calls",
            {"call_id": f"odd-{i}", "status": f"s{i}-" + "z" * 300, "ended_reason": f"=r{i}\n" + "=" * 4_000},
        )["call_id"]
        for i in range(60)
    ]
    async with connect(emu, "legacy") as client:
        result = await client.call_tool("reconcile_calls", {"call_ids": ids})
        data = structured(result)
        parts = await parts_of(client, data["report"])
        table = (await client.read_resource(data["report_csv"])).contents[0].text  # type: ignore[union-attr]
    assert len(data["by_status"]) == 21 and data["by_status"]["(other)"] == 40
    assert sum(data["by_status"].values()) == sum(data["by_ended_reason"].values()) == 60
    assert all(len(k) <= 64 for k in [*data["by_status"], *data["by_ended_reason"]])
    assert all_size(result) <= RESULT_BUDGET
    reasons = [r[COLUMNS.index("ended_reason")] for part in parts for r in part["rows"]]
    assert all(len(r) <= 256 for r in reasons)
    # a cell a spreadsheet would run as a formula starts with an apostrophe in the CSV
    assert all(r.startswith("=r") for r in reasons)
    assert all(row["ended_reason"].startswith("'=r") for row in csv.DictReader(io.StringIO(table)))


async def test_an_api_failure_is_a_tool_error_naming_the_ids_and_keeps_no_report(
    emu: RunningEmulator, mode: str
) -> None:
    helper(
        emu,
        "POST",
        "/_emulator/faults",
        {"fault": "500", "path": "/api/v1/campaigns/get-call-details/bulk-by-ids", "times": 50},
    )
    async with connect(emu, mode) as client:
        result = await client.call_tool("reconcile_calls", {"call_ids": history_ids(emu)[:250]})
    text = error_text(result)
    assert "HTTP 500" in text and "try again later" in text
    assert "of 250 ids had been looked up when it failed; no report was kept" in text
    assert "voicing://reports/" not in text


# ----- bad input -----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("arguments", "says"),
    [
        ({"call_ids": ["a"], "expected_status": "completed", "expected": {"a": "completed"}}, "not both"),
        ({"call_ids": []}, "call_ids"),
        ({"call_ids": [f"c{i}" for i in range(100_001)]}, "call_ids: at most 100,000 items (got 100,001)"),
        ({"call_ids": ["a"], "expected_status": "complted"}, "did you mean 'completed'?"),
        ({"call_ids": ["a"], "expected": {"a": "no answr"}}, "did you mean 'no-answer'?"),
        ({"call_ids": ["a"], "expected_status": "done"}, "use one of: queued, initiated, ringing"),
        ({"call_ids": ["a"], "expected": {"b": "completed"}}, "not in call_ids ('b')"),
    ],
    ids=["both", "empty", "too-many", "typo", "typo-per-call", "unknown-status", "expected-id-not-asked"],
)
async def test_reconcile_refuses_bad_input_with_a_clear_error(
    emu: RunningEmulator, mode: str, arguments: dict[str, Any], says: str
) -> None:
    async with connect(emu, mode) as client:
        result = await client.call_tool("reconcile_calls", arguments)
    assert says in error_text(result)
    log = helper(emu, "GET", "/_emulator/requests")["requests"]
    assert not any(r.get("path", "").endswith("bulk-by-ids") for r in log)  # refused before any lookup


async def test_the_summary_leads_and_the_json_block_equals_the_structured_result(emu: RunningEmulator) -> None:
    async with connect(emu, "legacy") as client:
        result = await client.call_tool("reconcile_calls", {"call_ids": history_ids(emu)[:10]})
    blocks = result.content
    assert isinstance(blocks[0], TextContent) and blocks[0].text.startswith("Reconciled 10 call ids: 10 found")
    assert isinstance(blocks[1], TextContent) and json.loads(blocks[1].text) == result.structured_content
    assert isinstance(blocks[2], ResourceLink) and blocks[2].mime_type == "application/json"


# ----------------------------------------------------------------------------------------------------
# ``reconcile_calls`` against hostile input and a hostile API, through real MCP sessions against the emulator:
# escape-heavy ids and API texts must not take a result over the budget.


def sent_size(result: CallToolResult) -> int:
    """Characters of the result as sent: content blocks plus structuredContent, serialised as JSON."""
    return len(json.dumps(result.model_dump(mode="json", by_alias=True, exclude_none=True), ensure_ascii=False))


async def test_escape_heavy_statuses_and_reasons_from_the_api_stay_within_the_budget(emu: RunningEmulator) -> None:
    """60 distinct 64-character statuses of NUL characters and ended reasons of bidi overrides: each is 8
    characters in the summary (<U+0000>), 6 in structuredContent and 7 in the JSON text block."""
    ids = [
        helper(
            emu,
            "POST",
            "/_emulator/calls",
            {
                "call_id": f"odd-{i}",
                "status": "\x00" * 62 + chr(0x4E00 + i),
                "ended_reason": "\u202e" * 62 + chr(0x4E00 + i),
                "ended_at": "2026-01-01T00:00:00Z",
            },
        )["call_id"]
        for i in range(60)
    ]
    async with connect(emu, "legacy") as client:
        result = await client.call_tool("reconcile_calls", {"call_ids": ids, "expected_status": "completed"})
    data = structured(result)
    assert sent_size(result) <= RESULT_BUDGET
    assert sum(data["by_status"].values()) == sum(data["by_ended_reason"].values()) == 60
    assert data["mismatches"]["count"] == 60


async def test_absurd_durations_from_the_api_are_shown_as_none_not_a_crash(emu: RunningEmulator) -> None:
    """Two finite durations of 1e308 seconds overflowed the sum of durations: the tool failed with an unexpected
    error. A duration over 10^9 seconds (31 years) is no call's: the row shows none."""
    ids = [
        helper(
            emu,
            "POST",
            "/_emulator/calls",
            {"call_id": f"long-{i}", "status": "completed", "ended_at": "2026-01-01T00:00:00Z", "duration": d},
        )["call_id"]
        for i, d in enumerate([1e308, 1e308, 42.0])
    ]
    async with connect(emu, "legacy") as client:
        result = await client.call_tool("reconcile_calls", {"call_ids": ids})
        data = structured(result)
        doc = json.loads((await client.read_resource(data["report"])).contents[0].text)  # type: ignore[union-attr]
    assert data["found"] == 3
    assert data["duration_seconds"] == {"total": 42.0, "p50": 42.0, "p90": 42.0, "max": 42.0}
    assert [row[3] for row in doc["rows"]] == [None, None, 42.0]


async def test_an_api_status_is_compared_as_an_expectation_is_read(emu: RunningEmulator) -> None:
    """An expectation is read without case, with '_' or ' ' for '-', and either cancelled spelling; the API's own
    status was only lower-cased: 'NO_ANSWER' mismatched the expected 'no-answer' and, without an end time, counted
    as a call still open instead of one to call back."""
    statuses = {"a": "NO_ANSWER", "b": "No Answer", "c": "cancelled", "d": "In_Progress"}
    for call_id, status in statuses.items():
        helper(emu, "POST", "/_emulator/calls", {"call_id": call_id, "status": status})
    expected = {"a": "no-answer", "b": "no-answer", "c": "canceled", "d": "in-progress"}
    async with connect(emu, "legacy") as client:
        result = await client.call_tool("reconcile_calls", {"call_ids": list(statuses), "expected": expected})
        data = structured(result)
        doc = json.loads((await client.read_resource(data["report"])).contents[0].text)  # type: ignore[union-attr]
    assert data["expected_checked"] == 4 and data["mismatches"]["count"] == 0
    assert data["call_back"] == {"count": 3, "sample": ["a", "b", "c"]}
    assert data["still_open"] == {"count": 1, "sample": ["d"]}
    assert data["by_status"] == {"NO_ANSWER": 1, "No Answer": 1, "cancelled": 1, "In_Progress": 1}  # API text kept
    assert [row[COLUMNS.index("mismatch")] for row in doc["rows"]] == [False] * 4


# ----- the expectations, checked before any request ------------------------------------------------
def test_expectations_are_one_status_for_all_a_status_per_id_or_none_and_never_both() -> None:
    ids = ["call-1", "call-2"]
    assert expectations(ids, " Completed ", None) == "completed"
    assert expectations(ids, None, {" call-1 ": "no_answer"}) == {"call-1": "no-answer"}
    assert expectations(ids, None, None) is None
    with pytest.raises(ToolError, match="not both"):
        expectations(ids, "completed", {"call-1": "busy"})


def test_an_expectation_for_an_id_not_in_call_ids_is_named_before_any_request() -> None:
    with pytest.raises(ToolError) as info:
        expectations(["call-1"], None, {"call-9": "busy", "call-8": "busy", "call-7": "busy", "call-6": "busy"})
    text = str(info.value)
    assert text.startswith("expected names 4 id(s) that are not in call_ids ('call-9', 'call-8', 'call-7' …)")
    with pytest.raises(ToolError, match=r"expected\['call-1'\]: 'bussy' is not a call status.*did you mean 'busy'"):
        expectations(["call-1"], None, {"call-1": "bussy"})
