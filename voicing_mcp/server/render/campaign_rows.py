"""A campaign's rows as resources: every row of the submitted list, read from the ledger.

* ``voicing://campaigns/{campaign_id}`` — JSON in parts that each fit the result budget, as the reconcile reports
  (:mod:`~voicing_mcp.server.render.reports`): the first part has the campaign's status and counts; every part has
  ``columns``, its ``rows`` (one array per row, by position), ``rows_total``, ``offset``, ``returned`` and ``next``,
  the URI of the next part (``?offset=N``), null on the last. Following ``next`` reads every row exactly once.
* ``voicing://campaigns/{campaign_id}.csv`` — every row as CSV with a header line, whole; a text cell a spreadsheet
  would run as a formula (``=``, ``+``, ``-``, ``@``, tab, carriage return first) gets a leading ``'``.

The numbers are shown in E.164 as they were submitted (the model gave them; ``list_calls`` shows numbers the same
way). The rows are the ledger's, so the resource outlives a restart and is the same on every replica.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime
from typing import TYPE_CHECKING, Any

from voicing_mcp.guard.ledger.base import iso
from voicing_mcp.server.render.results import RESULT_BUDGET, json_text

if TYPE_CHECKING:
    from voicing_mcp.guard.ledger import Campaign, CampaignRow

CAMPAIGN_PREFIX = "voicing://campaigns/"
COLUMNS = (
    "position",
    "phone_number",
    "state",
    "attempts",
    "call_id",
    "last_outcome",
    "next_attempt_at",
    "exclusion_reason",
)
#: what a part's text may take: the budget less the read's envelope around it (its uri, mimeType, keys)
PART_BUDGET = RESULT_BUDGET - 500
#: rows read from the ledger for one part: more than ever fit (a row takes at least ~40 characters)
PART_READ = 700


def campaign_uri(campaign_id: str) -> str:
    return f"{CAMPAIGN_PREFIX}{campaign_id}"


def campaign_csv_uri(campaign_id: str) -> str:
    return f"{campaign_uri(campaign_id)}.csv"


def part_uri(campaign_id: str, offset: int) -> str:
    """The part that starts at row ``offset`` (the first: the campaign's own URI)."""
    return campaign_uri(campaign_id) if offset == 0 else f"{campaign_uri(campaign_id)}?offset={offset}"


def _when(t: datetime | None) -> str | None:
    return iso(t) if t is not None else None


def row_cells(row: CampaignRow) -> list[Any]:
    return [
        row.position,
        row.phone_e164,
        row.state,
        row.attempts,
        row.call_id,
        row.last_outcome,
        _when(row.next_attempt_at),
        row.exclusion_reason,
    ]


def rows_json(
    campaign: Campaign,
    rows: list[CampaignRow],
    *,
    offset: int,
    rows_total: int,
    counts: dict[str, int] | None = None,
    budget: int = PART_BUDGET,
) -> str:
    """One part of ``voicing://campaigns/{campaign_id}``: from ``rows`` (the rows from ``offset`` on, read from the
    ledger), as many as keep the part within ``budget`` characters as it travels, at least one; the campaign's
    status and ``counts`` on the first part; the totals and ``next`` on every part."""
    head: dict[str, Any] = {"campaign_id": campaign.id, "name": campaign.name, "status": campaign.status}
    if offset == 0 and counts is not None:
        head |= {"pause_reason": campaign.pause_reason, "counts": counts}
    head |= {"csv": campaign_csv_uri(campaign.id), "columns": list(COLUMNS), "rows_total": rows_total}
    head["offset"] = offset
    if offset > 0 and offset >= rows_total:
        return json_text(
            {
                **head,
                "returned": 0,
                "next": None,
                "note": f"offset {offset} is past the last row ({rows_total}): read {campaign_uri(campaign.id)} "
                "for the first part",
                "rows": [],
            },
            compact=True,
        )
    frame = _wire_size(
        json_text({**head, "returned": rows_total, "next": part_uri(campaign.id, rows_total), "rows": []}, compact=True)
    )
    room = budget - frame
    cells: list[str] = []
    for row in rows:
        cell = json_text(row_cells(row), compact=True)
        cost = _wire_size(cell) - 2 + 1  # without the quotes of a string of its own; the comma between rows
        if cells and cost > room:
            break
        room -= cost
        cells.append(cell)
    end = offset + len(cells)
    document = {**head, "returned": len(cells), "next": part_uri(campaign.id, end) if end < rows_total else None}
    text = json_text({**document, "rows": []}, compact=True)
    return f"{text[:-3]}[{','.join(cells)}]}}"  # the rows, measured one by one, spliced in (the same JSON)


def _wire_size(text: str) -> int:
    """Characters of ``text`` as a JSON string in the read's answer (quotes and backslashes escaped)."""
    return len(json.dumps(text, ensure_ascii=False))


#: first characters that make a spreadsheet run a cell as a formula (as the reconcile reports' CSV)
_FORMULA_START = frozenset("=+-@\t\r")


def _text_cell(text: str | None) -> str:
    if text is None:
        return ""
    return "'" + text if text[:1] in _FORMULA_START else text


def rows_csv(rows: list[CampaignRow]) -> str:
    """``voicing://campaigns/{campaign_id}.csv``: a header line, then one line per row by position. The number
    starts with ``+``, so it gets the leading ``'`` too (a spreadsheet keeps it as text, with its ``+``)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    for row in rows:
        writer.writerow(
            (
                str(row.position),
                _text_cell(row.phone_e164),
                row.state,
                str(row.attempts),
                _text_cell(row.call_id),
                _text_cell(row.last_outcome),
                _when(row.next_attempt_at) or "",
                _text_cell(row.exclusion_reason),
            )
        )
    return out.getvalue()
