"""Reconciliation reports: every row of a ``reconcile_calls`` run, kept while the server runs, read as a resource.

* ``voicing://reports/{report_id}`` — the report as JSON, in parts that each fit :data:`RESULT_BUDGET` (a client
  that follows resource links must not take a 700,000-character read into its context): the first part has the
  run's counts; every part has ``columns``, its ``rows`` (one array per requested id, request order), the totals
  (``rows_total``, ``offset``, ``returned``) and ``next``, the URI of the next part
  (``voicing://reports/{report_id}?offset=N``), null on the last. Following ``next`` reads every row exactly once;
* ``voicing://reports/{report_id}.csv`` — all the rows as CSV with a header line, whole, for people, spreadsheets
  and download-style use.

A report id is ``secrets.token_urlsafe`` (unguessable, letters, digits, ``-`` and ``_``). The store is per server
(:class:`~voicing_mcp.server.context.ServerContext`), so a report lives as long as the server (for stdio: the
session). Memory is bounded: at most :data:`MAX_REPORTS` reports and :data:`MAX_REPORT_ROWS` rows in all; the oldest
report is evicted first. A row is a tuple of the few fields the report shows (about 350 bytes), not the API's record.
"""

from __future__ import annotations

import csv
import io
import json
import secrets
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, NamedTuple

from mcp.server.mcpserver.exceptions import ResourceError, ResourceNotFoundError

from voicing_mcp.server.render.results import RESULT_BUDGET, json_text

#: reports kept per server; the oldest goes first
MAX_REPORTS = 20
#: rows kept in all reports together (about 100 MB at most); a new report evicts the oldest ones until it fits
MAX_REPORT_ROWS = 300_000
REPORT_PREFIX = "voicing://reports/"
COLUMNS = (
    "call_id",
    "status",
    "ended_reason",
    "duration",
    "started_at",
    "ended_at",
    "expected",
    "mismatch",
    "missing",
)


def status_key(status: str | None) -> str:
    """A status as compared with an expectation and the known statuses, read as an expectation is: without case,
    ``-`` between words (``NO_ANSWER``, ``No Answer`` → ``no-answer``), ``cancelled`` as ``canceled``."""
    if status is None:
        return ""
    key = "-".join(status.lower().replace("_", " ").replace("-", " ").split())
    return "canceled" if key == "cancelled" else key


class Row(NamedTuple):
    """One requested id as the API reported it (``found`` False: the API did not return it)."""

    call_id: str
    found: bool
    status: str | None = None
    ended_reason: str | None = None
    duration: float | None = None
    started_at: str | None = None
    ended_at: str | None = None
    expected: str | None = None

    @property
    def mismatch(self) -> bool:
        """An expected status that the call has not reached (a missing call is counted as missing instead)."""
        if self.expected is None or not self.found:
            return False
        return status_key(self.status) != status_key(self.expected)

    def cells(self) -> list[Any]:
        return [
            self.call_id,
            self.status,
            self.ended_reason,
            self.duration,
            self.started_at,
            self.ended_at,
            self.expected,
            self.mismatch,
            not self.found,
        ]


@dataclass(slots=True)
class Report:
    """One run's rows (request order) and its summary counts (the tool's structured result, without samples)."""

    report_id: str
    created_at: str
    rows: list[Row]
    summary: dict[str, Any] = field(default_factory=dict[str, Any])

    @property
    def uri(self) -> str:
        return f"{REPORT_PREFIX}{self.report_id}"

    @property
    def csv_uri(self) -> str:
        return f"{self.uri}.csv"


class ReportStore:
    """The reports of one server: the newest :data:`MAX_REPORTS`, at most :data:`MAX_REPORT_ROWS` rows in all."""

    def __init__(self, *, max_reports: int = MAX_REPORTS, max_rows: int = MAX_REPORT_ROWS) -> None:
        self.max_reports = max_reports
        self.max_rows = max_rows
        self._reports: OrderedDict[str, Report] = OrderedDict()
        self._rows = 0
        self.evicted = 0

    def __len__(self) -> int:
        return len(self._reports)

    def add(self, rows: list[Row]) -> Report:
        """Keep ``rows`` as a new report, evicting the oldest reports until the bounds hold."""
        report = Report(secrets.token_urlsafe(16), datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"), rows)
        while self._reports and (len(self._reports) >= self.max_reports or self._rows + len(rows) > self.max_rows):
            _, old = self._reports.popitem(last=False)
            self._rows -= len(old.rows)
            self.evicted += 1
        self._reports[report.report_id] = report
        self._rows += len(rows)
        return report

    def get(self, report_id: str) -> Report | None:
        return self._reports.get(report_id)


def not_kept(report_id: str, store: ReportStore) -> ResourceNotFoundError:
    shown = report_id if len(report_id) <= 64 and report_id.isascii() and report_id.isprintable() else "given"
    return ResourceNotFoundError(
        f"report {shown!r} is not kept by this server: reports live while the server runs (they are lost at a "
        f"restart), and only the newest {store.max_reports} (at most {store.max_rows:,} rows in all) are kept, the "
        "oldest evicted first. Run reconcile_calls again with the same call_ids to make a new report."
    )


def part_offset(offset: str | None) -> int:
    """The row a part starts at, from the ``offset`` of its URI (none: the first part)."""
    if offset is None or offset == "":
        return 0
    if not (offset.isascii() and offset.isdigit()) or len(offset) > 9:
        shown = offset if len(offset) <= 20 and offset.isascii() and offset.isprintable() else "given"
        raise ResourceError(
            f"offset {shown!r} is not a row number: follow the next URI a part gives, or read the report's URI "
            "without ?offset for the first part"
        )
    return int(offset)


def part_uri(report: Report, offset: int) -> str:
    """The URI of the part of ``report`` that starts at row ``offset`` (the first part: the report's own URI)."""
    return report.uri if offset == 0 else f"{report.uri}?offset={offset}"


#: what a part's text may take: the budget less the read's envelope around it (its uri, mimeType, keys)
PART_BUDGET = RESULT_BUDGET - 500


def report_json(report: Report, offset: int = 0, *, budget: int = PART_BUDGET) -> str:
    """One part of the ``voicing://reports/{report_id}`` document: the rows from ``offset`` (an array of ``columns``
    each) that keep the part within ``budget`` characters as it travels (the text JSON-encoded in the read's
    answer), at least one row; the counts on the first part; the totals and ``next`` on every part."""
    total = len(report.rows)
    head: dict[str, Any] = {"report_id": report.report_id, "created_at": report.created_at}
    if offset == 0:
        head.update(report.summary)
    head |= {"csv": report.csv_uri, "columns": list(COLUMNS), "rows_total": total, "offset": offset}
    if offset > total:
        return json_text(
            {
                **head,
                "returned": 0,
                "next": None,
                "note": f"offset {offset} is past the last row ({total}): read {report.uri} for the first part",
                "rows": [],
            },
            compact=True,
        )
    # what the part costs without rows: the longest next URI and returned a row count could take
    frame = _wire_size(
        json_text({**head, "returned": total, "next": part_uri(report, total), "rows": []}, compact=True)
    )
    room = budget - frame
    cells: list[str] = []
    for row in report.rows[offset:]:
        cell = json_text(row.cells(), compact=True)  # API text: invisible and reordering characters escaped
        cost = _wire_size(cell) - 2 + 1  # without the quotes of a string of its own; the comma between rows
        if cells and cost > room:
            break
        room -= cost
        cells.append(cell)
    end = offset + len(cells)
    document = {**head, "returned": len(cells), "next": part_uri(report, end) if end < total else None}
    text = json_text({**document, "rows": []}, compact=True)
    return f"{text[:-3]}[{','.join(cells)}]}}"  # the rows, measured one by one, spliced in (the same JSON)


def _wire_size(text: str) -> int:
    """Characters of ``text`` as a JSON string in the read's answer (quotes and backslashes escaped)."""
    return len(json.dumps(text, ensure_ascii=False))


def report_csv(report: Report) -> str:
    """The ``voicing://reports/{report_id}.csv`` document: a header line, then one line per requested id."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    writer.writerows(_csv_row(row) for row in report.rows)
    return out.getvalue()


#: first characters that make a spreadsheet run a cell as a formula: such a text cell gets a leading apostrophe
_FORMULA_START = frozenset("=+-@\t\r")


def _text_cell(text: str | None) -> str:
    if text is None:
        return ""
    return "'" + text if text[:1] in _FORMULA_START else text


def _csv_row(row: Row) -> tuple[str, ...]:
    call_id, found, status, reason, duration, started_at, ended_at, expected = row
    if duration is None:
        seconds = ""
    elif duration.is_integer() and abs(duration) < 1e15:
        seconds = str(int(duration))
    else:
        seconds = repr(duration)
    return (
        _text_cell(call_id),
        _text_cell(status),
        _text_cell(reason),
        seconds,
        _text_cell(started_at),
        _text_cell(ended_at),
        _text_cell(expected),
        "true" if row.mismatch else "false",
        "false" if found else "true",
    )
