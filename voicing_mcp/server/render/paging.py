"""Results within the size budget: what fits of a call, a list or a bulk lookup, and how to get the rest.

Every function here takes the whole answer a read tool fetched (the plain functions of
:mod:`~voicing_mcp.server.tools.get_call_details`, :mod:`~voicing_mcp.server.tools.list_calls` and
:mod:`~voicing_mcp.server.tools.bulk_call_details`) and returns the :class:`~mcp_types.CallToolResult` the model
reads: a short summary, the compact JSON and ``structuredContent``, together at most
:data:`~voicing_mcp.server.render.results.RESULT_BUDGET` characters
(:func:`~voicing_mcp.server.render.results.result_size`).
What does not fit is never dropped silently: ``truncated`` is true, ``next`` holds the arguments that continue,
and the summary says the same in a sentence.

* a call (``get_call_details``): every field and the transcript lines that fit; the next lines through
  ``transcript_offset``; a field too large for any result is named in ``omitted_fields`` (the
  ``voicing://calls/{call_id}`` resource has it);
* a list (``list_calls``): the rows that fit, then ``next`` = ``page`` / ``limit`` / ``offset`` of the first row
  left out;
* a bulk lookup (``bulk_call_details``): counts over every id, and the rows (or missing ids) of the ids from
  ``offset`` that fit; ``next`` = the ``offset`` of the first id left out.

A single row or transcript line that could not fit even alone is made smaller first (its largest fields named
in ``omitted_fields``; a line's text cut), so following ``next`` always moves on.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from mcp_types import CallToolResult

from voicing_mcp.server.render.results import RESULT_BUDGET, as_tool_result, fit_items, item_cost, result_size
from voicing_mcp.server.render.shaping import (
    BulkCallDetailsResult,
    CallDetailsResult,
    CallListResult,
    cap,
    count_statuses,
    next_text,
    row_of,
    shape_call,
    short,
    status_lines,
    text_for_call,
    window,
)

if TYPE_CHECKING:
    from voicing_mcp.api.models import CallDetails

ITEM_LIMIT = 10_000
"""The most one row, missing id or transcript line may add to a result (:func:`item_cost`): with the summary
and the counts, one item always fits, so following ``next`` always moves on."""
META_LIMIT = 2_000
"""``api_metadata`` (other page fields of the API) larger than this is left out, and the summary says so."""
RECONCILE_HINT = 1_000
"""From this many distinct ids, the summary points to ``reconcile_calls`` for the counts and a full report."""


# ----- one item small enough to fit ---------------------------------------------------------
def small_row(row: dict[str, Any]) -> dict[str, Any]:
    """``row`` within ITEM_LIMIT: its largest fields left out (named in ``omitted_fields``) until it fits."""
    if item_cost(row) <= ITEM_LIMIT:
        return row
    out = dict(row)
    omitted: list[str] = []
    for name in sorted((k for k in row if k != "call_id"), key=lambda k: item_cost(row[k]), reverse=True):
        out.pop(name)
        omitted.append(cap(name, 64)[0])
        if item_cost({**out, "omitted_fields": omitted}) <= ITEM_LIMIT:
            break
    out["omitted_fields"] = omitted
    if item_cost(out) > ITEM_LIMIT:  # the id alone is too large: a hostile API's, not one a tool can use
        out["call_id"], out["call_id_truncated"] = cap(str(row["call_id"]), 100)[0], True
    return out


# ----- get_call_details -----------------------------------------------------------------------
def call_result(call: CallDetailsResult) -> CallToolResult:
    """The call with every field and the transcript lines that fit; ``next`` gives the following lines."""

    def build(c: CallDetailsResult, shown: int) -> CallToolResult:
        t = c.transcript
        shaped = c if t is None else c.model_copy(update={"transcript": window(t, shown)})
        nxt = shaped.transcript.next_offset if shaped.transcript is not None else None
        shaped = shaped.model_copy(update={"next": None if nxt is None else {"transcript_offset": nxt}})
        return as_tool_result(shaped, text_for_call(shaped))

    lines = call.transcript.lines if call.transcript is not None else []
    fitted = build(call, len(lines))
    if result_size(fitted) <= RESULT_BUDGET:
        return fitted
    call = _without_large_fields(call, lambda c: build(c, 0))
    if call.transcript is not None and lines:
        lines = [ln if item_cost(ln.model_dump(mode="json")) <= ITEM_LIMIT else _short_line(ln) for ln in lines]
        call = call.model_copy(update={"transcript": call.transcript.model_copy(update={"lines": lines})})
    costs = (item_cost(ln.model_dump(mode="json")) for ln in lines)
    fitted = fit_items(lambda n: build(call, n), costs)[1]
    for limit in (1_000, 200, 40):  # a hostile API's 4,000-character status and times: cut them too
        if result_size(fitted) <= RESULT_BUDGET:
            break
        cut = {k: cap(v, limit)[0] for k in _DECLARED if isinstance(v := getattr(call, k), str) and len(v) > limit}
        call = call.model_copy(update={**cut, "cut_fields": sorted({*call.cut_fields, *cut})})
        fitted = build(call, 0)
    return fitted


_DECLARED = ("status", "started_at", "ended_at")


def _short_line(line: Any) -> Any:
    text: str = line.text
    while text and item_cost({**line.model_dump(mode="json"), "text": text}) > ITEM_LIMIT:
        text = text[: len(text) // 2]
    return line.model_copy(update={"text": text + "…", "text_truncated": True})


def _without_large_fields(
    call: CallDetailsResult, build: Callable[[CallDetailsResult], CallToolResult]
) -> CallDetailsResult:
    """The call without its largest extra fields (named in ``omitted_fields``) until ``build`` fits."""
    extra = dict(call.model_extra or {})
    omitted: list[str] = []
    for name in sorted(extra, key=lambda k: item_cost(extra[k]), reverse=True):
        if result_size(build(call)) <= RESULT_BUDGET:
            break
        del extra[name]
        omitted.append(cap(name, 64)[0])
        data = call.model_dump(mode="python", exclude=set((call.model_extra or {}).keys()))
        call = CallDetailsResult.model_validate({**data, **extra, "omitted_fields": omitted})
    return call


# ----- list_calls ---------------------------------------------------------------------------------
def list_result(listing: CallListResult, fields: Sequence[str], *, more_after: bool) -> CallToolResult:
    """The rows of ``listing`` that fit, with ``next`` at the first row left out (or, when all fit and
    ``more_after``, at the call after the last one read)."""
    rows_iter = (small_row(row_of(c, fields)) for c in listing.calls)
    rows: list[dict[str, Any]] = []
    meta = listing.api_metadata
    if meta and item_cost(meta) > META_LIMIT:
        meta = {"omitted": f"{item_cost(meta)} characters of other page fields, too large to show"}
    size = listing.limit
    start = (listing.page - 1) * size + listing.offset

    def take(n: int) -> list[dict[str, Any]]:
        while len(rows) < n:
            rows.append(next(rows_iter))
        return rows[:n]

    def build(n: int) -> CallToolResult:
        cut = n < listing.returned
        # uncut, one page goes on at the next page even when the API sent it short (or offset passed its end)
        after = start + n if cut or listing.all_pages else listing.page * size
        nxt: dict[str, Any] | None = None
        if cut or more_after:
            nxt = {"page": after // size + 1, "limit": size, "offset": after % size}
            if listing.all_pages:
                nxt["all_pages"] = False
        shown = take(n)
        model = listing.model_copy(
            update={
                "calls": [],
                "returned": n,
                "truncated": cut,
                "next": nxt,
                "next_page": nxt["page"] if nxt else None,
                "fields": list(fields),
                "api_metadata": meta,
            }
        )
        data = model.model_dump(mode="json", by_alias=True)
        data["calls"] = shown
        return as_tool_result(data, text_for_list(model, cut=cut))

    def costs() -> Iterator[int]:
        for i in range(listing.returned):
            yield item_cost(take(i + 1)[i])

    return fit_items(build, costs())[1]


def text_for_list(r: CallListResult, *, cut: bool) -> str:
    if r.all_pages:
        head = f"Read {r.counted} calls from {r.pages_fetched} page(s) starting at page {r.page}"
        if r.max_records_reached:
            head += " (stopped at max_records: the counts cover these only; raise it up to 10,000)"
    else:
        of = f" of {r.total_pages}" if r.total_pages is not None else ""
        head = f"Page {r.page}{of} (limit {r.limit}): {r.counted} calls"
        if r.offset:
            head += f" from its call {r.offset + 1}"
    if r.total is not None:
        head += f"; {r.total} calls match in total"
    if r.filters:
        head += "; filters " + ", ".join(f"{short(k)}={short(v)}" for k, v in sorted(r.filters.items()))
    lines = [head + ".", *status_lines(r.by_status, r.counted)]
    if r.returned:
        left = f", {r.counted - r.returned} more left out to fit the result size" if cut else ""
        lines.append(f"Rows: {r.returned} calls in the JSON below ({', '.join(r.fields)}){left}.")
    more = next_text("list_calls", r.next, "status, assistant_id, filters and fields")
    if more:
        lines.append(more)
    if "omitted" in r.api_metadata:
        lines.append("The API's other page fields were too large to show (api_metadata).")
    return "\n".join(lines)


# ----- bulk_call_details ---------------------------------------------------------------------------
@dataclass
class BulkLookup:
    """Every id of a bulk request, looked up: distinct ids in request order and the calls found by id."""

    ids: list[str]
    found: dict[str, CallDetails]
    requested: int
    _rows: dict[str, dict[str, Any]] = field(default_factory=dict[str, dict[str, Any]])

    def row(self, call_id: str, fields: Sequence[str]) -> dict[str, Any] | None:
        """The row of a found id (shaped once), or None for an id the API did not return."""
        details = self.found.get(call_id)
        if details is None:
            return None
        if call_id not in self._rows:
            self._rows[call_id] = small_row(row_of(shape_call(details, with_transcript=False), fields))
        return self._rows[call_id]


def bulk_result(lookup: BulkLookup, fields: Sequence[str], offset: int) -> CallToolResult:
    """Counts over every id, and the rows (or missing ids) of the ids from ``offset`` that fit."""
    ids = lookup.ids
    start = min(offset, len(ids))
    by_status = count_statuses(d.status for d in lookup.found.values())

    def item(call_id: str) -> Any:
        row = lookup.row(call_id, fields)
        return cap(call_id, 300)[0] if row is None else row

    def build(n: int) -> CallToolResult:
        window_ids = ids[start : start + n]
        calls: list[dict[str, Any]] = []
        missing: list[str] = []
        for call_id in window_ids:
            row = lookup.row(call_id, fields)
            if row is None:
                missing.append(call_id)
            else:
                calls.append(row)
        end = start + n
        model = BulkCallDetailsResult(
            calls=[],
            missing=missing,
            requested=lookup.requested,
            unique=len(ids),
            duplicates_removed=lookup.requested - len(ids),
            found=len(lookup.found),
            missing_count=len(ids) - len(lookup.found),
            by_status=by_status,
            offset=start,
            covered=n,
            truncated=end < len(ids),
            next={"offset": end} if end < len(ids) else None,
            fields=list(fields),
        )
        data = model.model_dump(mode="json", by_alias=True)
        data["calls"] = calls
        return as_tool_result(data, text_for_bulk(model, len(calls)))

    costs = (item_cost(item(call_id)) for call_id in ids[start:])
    return fit_items(build, costs)[1]


def text_for_bulk(r: BulkCallDetailsResult, rows: int) -> str:
    head = f"Looked up {r.unique} distinct call ids"
    if r.duplicates_removed:
        head += f" ({r.duplicates_removed} duplicate ids removed from the {r.requested} given)"
    lines = [f"{head}: {r.found} found, {r.missing_count} not found.", *status_lines(r.by_status, r.found)]
    if r.covered:
        span = f"ids {r.offset + 1}-{r.offset + r.covered} of {r.unique}"
        lines.append(f"This result holds {span}: {rows} rows ({', '.join(r.fields)}) in the JSON below.")
    elif r.offset >= r.unique:
        lines.append(f"offset {r.offset} is past the last of the {r.unique} ids: no rows here.")
    if r.missing:
        shown = ", ".join(short(m) for m in r.missing[:10])
        more = f" … and {len(r.missing) - 10} more (in `missing`)" if len(r.missing) > 10 else ""
        lines.append(f"Not found ({len(r.missing)}): {shown}{more}")
    more = next_text("bulk_call_details", r.next, "call_ids and fields")
    if more:
        left = r.unique - r.offset - r.covered
        lines.append(f"{more[:-1]} ({left} ids left).")
    if r.unique >= RECONCILE_HINT:
        lines.append(
            "For outcomes over many ids (counts, mismatches, still-open calls and a report of every row), "
            "reconcile_calls is the better tool."
        )
    return "\n".join(lines)
