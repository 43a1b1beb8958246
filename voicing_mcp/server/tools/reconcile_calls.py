"""``reconcile_calls``: up to 100,000 call ids looked up and summarised for a model, every row kept in a report.

The ids are de-duplicated (first order kept), fetched through
:meth:`~voicing_mcp.api.client.VoicingClient.bulk_call_details` (requests of 100 ids, 4 at a time, a progress
notification per request), compared with the expected status when one is given, and counted
(:mod:`~voicing_mcp.server.render.reconcile_summary`). The rows go to the server's
:class:`~voicing_mcp.server.render.reports.ReportStore`; the result links to ``voicing://reports/{report_id}``.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Annotated, Any

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp_types import CallToolResult, ToolAnnotations
from pydantic import Field, StringConstraints

from voicing_mcp.errors import VoicingError
from voicing_mcp.messages import describe
from voicing_mcp.redact import one_line
from voicing_mcp.server.apps.views import RECONCILE_VIEW, view_meta
from voicing_mcp.server.context import ServerContext, server_context
from voicing_mcp.server.render.reconcile_summary import (
    ReconcileResult,
    fitted_result,
    rows_from,
    summary_fields,
    tally,
)
from voicing_mcp.server.render.reports import COLUMNS, REPORT_PREFIX, not_kept, part_offset, report_csv, report_json
from voicing_mcp.server.tools.call_args import CallId, check_status

if TYPE_CHECKING:
    from voicing_mcp.api.client import VoicingClient
    from voicing_mcp.server.render.reports import Report, ReportStore
    from voicing_mcp.server.tools.call_args import ProgressFn

MAX_RECONCILE_IDS = 100_000

Status = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]


def expectations(
    ids: Sequence[str], expected_status: str | None, expected: Mapping[str, str] | None
) -> str | dict[str, str] | None:
    """The checked expectation: one status for every id, a status per id, or none. Raises ToolError."""
    if expected_status is not None and expected is not None:
        raise ToolError(
            "give expected_status (one status every call should have reached) or expected (call_id -> status), "
            "not both; to expect one status of only some calls, put them in expected"
        )
    if expected_status is not None:
        return check_status(expected_status, where="expected_status")
    if expected is None:
        return None
    wanted = set(ids)
    per_id: dict[str, str] = {}
    unknown: list[str] = []
    for key, value in expected.items():
        call_id = key.strip()
        if call_id not in wanted:
            unknown.append(call_id)
            continue
        per_id[call_id] = check_status(value, where=f"expected[{one_line(call_id)!r}]")
    if unknown:
        shown = ", ".join(repr(one_line(u[:80])) for u in unknown[:3])
        raise ToolError(
            f"expected names {len(unknown):,} id(s) that are not in call_ids ({shown}"
            f"{' …' if len(unknown) > 3 else ''}): add them to call_ids or leave them out of expected"
        )
    return per_id


async def reconcile(
    client: VoicingClient,
    store: ReportStore,
    call_ids: Sequence[str],
    *,
    expected_status: str | None = None,
    expected: Mapping[str, str] | None = None,
    on_progress: ProgressFn | None = None,
) -> tuple[CallToolResult, Report]:
    """``reconcile_calls`` without MCP: look up, count, keep the report, answer within the budget."""
    ids = list(dict.fromkeys(call_ids))
    want = expectations(ids, expected_status, expected)
    found = await client.bulk_call_details(ids, on_progress=on_progress)
    rows = rows_from(ids, found.calls, want)
    counts = tally(rows, requested=len(call_ids), expected_status=want if isinstance(want, str) else None)
    report = store.add(rows)
    result = fitted_result(counts, report)
    report.summary = summary_fields(result)
    return result, report


async def reconcile_calls(
    call_ids: Annotated[
        list[CallId],
        Field(
            min_length=1,
            max_length=MAX_RECONCILE_IDS,
            description="1 to 100,000 call ids (duplicates removed).",
        ),
    ],
    ctx: Context[ServerContext, Any],
    expected_status: Annotated[
        Status | None, Field(description="Status every call should have reached, e.g. completed.")
    ] = None,
    expected: Annotated[
        dict[str, Status] | None,
        Field(
            max_length=MAX_RECONCILE_IDS,
            description="Or: call_id -> expected status (ids from call_ids).",
        ),
    ] = None,
) -> Annotated[CallToolResult, ReconcileResult]:
    """Reconcile many calls' outcomes in one small answer: counts by status and ended reason, durations, missing
    ids, calls still open or to call back, mismatches against an expected status. Every row goes to a linked
    report resource (JSON; CSV at its URI + .csv). Progress per 100 ids. Read-only."""
    state = server_context(ctx)
    looked_up = 0

    async def progress(done: int, total: int) -> None:
        nonlocal looked_up
        looked_up = done
        await ctx.report_progress(done, total, f"{done:,} of {total:,} call ids looked up")

    try:
        result, _ = await reconcile(
            state.client,
            state.reports,
            call_ids,
            expected_status=expected_status,
            expected=expected,
            on_progress=progress,
        )
    except VoicingError as exc:
        what = describe(exc, subject="a call in the request")  # the key is removed where tools are registered
        raise ToolError(
            f"{what} — {looked_up:,} of {len(set(call_ids)):,} ids had been looked up when it failed; no report "
            "was kept. reconcile_calls is read-only: run it again, or with fewer ids at a time."
        ) from None
    return result


def register_reconcile(server: MCPServer[ServerContext]) -> None:
    """Add ``reconcile_calls`` and the ``voicing://reports/{report_id}`` resources to ``server``."""
    title = "Reconcile calls"
    server.add_tool(
        reconcile_calls,
        title=title,
        description=inspect.cleandoc(reconcile_calls.__doc__ or ""),
        annotations=ToolAnnotations(
            title=title, read_only_hint=True, destructive_hint=False, idempotent_hint=True, open_world_hint=True
        ),
        meta=view_meta(RECONCILE_VIEW),  # MCP Apps: the reconciliation view renders its result
    )
    register_report_resources(server)


def register_report_resources(server: MCPServer[ServerContext]) -> None:
    """Add ``voicing://reports/{report_id}.csv`` and ``voicing://reports/{report_id}`` (CSV first: the SDK tries
    templates in order, and the JSON template would also match a name ending in ``.csv``)."""

    @server.resource(
        f"{REPORT_PREFIX}{{report_id}}.csv",
        name="reconcile_report_csv",
        title="Reconciliation report (CSV)",
        description="Every row of a reconcile_calls report as CSV: " + ", ".join(COLUMNS) + ".",
        mime_type="text/csv",
    )
    def report_as_csv(report_id: str, ctx: Context[ServerContext, Any]) -> str:
        store = server_context(ctx).reports
        report = store.get(report_id)
        if report is None:
            raise not_kept(report_id, store)
        return report_csv(report)

    @server.resource(
        f"{REPORT_PREFIX}{{report_id}}{{?offset}}",
        name="reconcile_report",
        title="Reconciliation report",
        description="Every row of a reconcile_calls report as JSON (columns + rows, request order), in parts within "
        "the result budget: the first part has the counts; each part has rows_total and next, the URI of the next "
        "part (?offset=N; null on the last). The whole report as one read: the .csv.",
        mime_type="application/json",
    )
    def report_as_json(report_id: str, ctx: Context[ServerContext, Any], offset: str | None = None) -> str:
        store = server_context(ctx).reports
        report = store.get(report_id)
        if report is None:
            raise not_kept(report_id, store)
        return report_json(report, part_offset(offset))
