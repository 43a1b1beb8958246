"""A campaign's submitted list: recipients given inline, or read from a CSV file inside ``VOICING_CAMPAIGNS_DIR``.

Two doors, one result (a tuple of :class:`Recipient` in submitted order, 1-10,000 of them):

- :func:`recipients_from_list` — the tool's ``recipients`` argument, ``[{phone_number, input_variables}, …]``;
- :func:`read_recipients_file` — the tool's ``recipients_file``, a CSV file.

**Where a file may be.** ``recipients_file`` is resolved (a relative path against the campaigns folder, then
:func:`os.path.realpath`: every symlink and ``..`` followed) and must then lie inside the campaigns folder, itself
resolved the same way; anything else is refused naming the folder, so a model cannot make the server read
arbitrary files (``/etc/passwd``, ``~/.ssh/…``, a symlink in the folder pointing out of it). The resolved file is
opened with ``O_NOFOLLOW`` and ``O_NONBLOCK`` and checked on the open descriptor (a regular file, at most
:data:`MAX_CSV_BYTES`), so a FIFO or device cannot hang the server and a last-moment symlink is not followed.

**CSV format.** UTF-8 (a byte-order mark is tolerated); the first row is the header: a ``phone_number`` column
(the name matched without case and surrounding spaces) and one column per input variable, named as the
template's placeholders (kept as written, surrounding spaces stripped); column names must be unique and not
empty. Each further row is one recipient; blank lines are skipped; a row with more or fewer cells than the
header is an error naming its line. The dialect is Excel's (``,`` separated, ``"`` quoted, quoted cells may
hold commas and line breaks).

**Empty cells are missing variables.** A cell that is empty or only whitespace gives no variable at all: a
required placeholder then excludes the row ("input_variables lack 'name'"), an optional one takes the template's
default — never an empty string sent to the assistant. Other values are kept exactly as written (no trimming: the
opening line the human approves is rendered from what is sent). Every value read from a CSV is a string.

Every problem raises :class:`RecipientsError` (a :class:`~voicing_mcp.errors.GuardRefusal`, rule ``recipients``
or ``recipients-file``) whose message names the line (1-based, as a text editor counts) and what to fix.
"""

from __future__ import annotations

import csv
import io
import os
import stat
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import cast

from voicing_mcp.errors import GuardRefusal

MAX_RECIPIENTS = 10_000
"""The most rows one campaign may submit (inline or in a file)."""
MAX_CSV_BYTES = 16 * 1024 * 1024
"""A recipients file larger than this is refused unread (10,000 rows of 50 short variables fit many times)."""
PHONE_COLUMN = "phone_number"


class RecipientsError(GuardRefusal):
    """The submitted list cannot be read. ``line`` is the CSV line (1-based) when one is to blame."""

    def __init__(self, message: str, *, rule: str = "recipients", line: int | None = None) -> None:
        super().__init__(message, rule=rule)
        self.line = line


@dataclass(frozen=True, slots=True)
class Recipient:
    """One submitted row, as given: the number is not parsed yet (the planner does it)."""

    phone_number: str
    input_variables: Mapping[str, object] = field(default_factory=dict[str, object])
    line: int | None = None
    """The CSV line the row came from (None for an inline list); its position is its index + 1."""


def recipients_from_list(items: Sequence[Mapping[str, object]]) -> tuple[Recipient, ...]:
    """The tool's ``recipients``: each item ``{"phone_number": str, "input_variables": {…}}`` (variables optional).

    Raises RecipientsError naming the 1-based position of a malformed item, or the count when outside 1-10,000.
    Variable values are checked by the planner (:func:`~voicing_mcp.guard.variables.check_variables`), per row.
    """
    _check_count(len(items), "recipients")
    out: list[Recipient] = []
    for position, item in enumerate(items, start=1):
        number = item.get("phone_number")
        if not isinstance(number, str) or not number.strip():
            raise RecipientsError(
                f'recipients: row {position} has no phone_number (a string such as "+17015550123"); every row '
                'is {"phone_number": "...", "input_variables": {...}}'
            )
        variables = item.get("input_variables", {})
        if variables is None:
            variables = {}
        if not isinstance(variables, Mapping):
            raise RecipientsError(
                f"recipients: row {position}'s input_variables is a {type(variables).__name__}; it must be an object "
                '{"name": "value", …}'
            )
        if len(item) != ("phone_number" in item) + ("input_variables" in item):  # a key of another name
            unknown = sorted(str(k) for k in item if k not in ("phone_number", "input_variables"))
            raise RecipientsError(
                f"recipients: row {position} has {', '.join(repr(k) for k in unknown)}; a row has only phone_number "
                "and input_variables (put the values for the template in input_variables)"
            )
        out.append(Recipient(number, _named(variables)))
    return tuple(out)


def _named(variables: Mapping[object, object]) -> dict[str, object]:
    """A row's variables, copied, their names as strings (they are already, from JSON)."""
    if all(type(k) is str for k in variables):
        return cast("dict[str, object]", dict(variables))
    return {str(k): v for k, v in variables.items()}


def resolve_recipients_file(recipients_file: str, campaigns_dir: Path) -> Path:
    """The real path of ``recipients_file`` (relative paths are inside ``campaigns_dir``), refused unless it lies
    inside ``campaigns_dir`` once every symlink and ``..`` is resolved.

    Raises RecipientsError (rule ``recipients-file``) naming the folder and what to do.
    """
    given = recipients_file.strip()
    if not given or "\x00" in given:
        raise RecipientsError(
            "recipients_file: give the name of a CSV file in the campaigns folder", rule="recipients-file"
        )
    root = Path(os.path.realpath(campaigns_dir))
    try:
        candidate = Path(given).expanduser()
    except RuntimeError:  # ``~nosuchuser/…``: no such home folder; the name is then a plain relative one
        candidate = Path(given)
    if not candidate.is_absolute():
        candidate = campaigns_dir / candidate
    resolved = Path(os.path.realpath(candidate))
    if resolved == root or not resolved.is_relative_to(root):
        raise RecipientsError(
            f"recipients_file: {given!r} is outside the campaigns folder {root} (VOICING_CAMPAIGNS_DIR), after "
            "following symlinks and '..'; only files in that folder can be read — put the CSV there and pass its "
            "name, or pass the rows inline as recipients",
            rule="recipients-file",
        )
    return resolved


def read_recipients_file(recipients_file: str, campaigns_dir: Path) -> tuple[Recipient, ...]:
    """Resolve (:func:`resolve_recipients_file`), read and parse a recipients CSV (format in the module docstring)."""
    path = resolve_recipients_file(recipients_file, campaigns_dir)
    return parse_recipients_csv(_read_bytes(path, recipients_file), name=path.name)


def parse_recipients_csv(data: bytes, *, name: str = "recipients_file") -> tuple[Recipient, ...]:
    """The recipients of a CSV file's bytes. Raises RecipientsError naming the line of the first problem."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise RecipientsError(
            f"{name}: line {line} is not UTF-8 text (byte {exc.start}); save the file as CSV UTF-8",
            line=line,
        ) from None
    reader = csv.reader(io.StringIO(text, newline=""), dialect="excel", strict=True)
    header: list[str] | None = None
    phone_index = 0
    names: list[str] = []
    out: list[Recipient] = []
    try:
        for cells in reader:
            line = reader.line_num
            if not cells or all(not c.strip() for c in cells):
                continue
            if header is None:
                header = cells
                phone_index, names = _read_header(cells, name)
                continue
            if len(cells) != len(header):
                raise RecipientsError(
                    f"{name}: line {line} has {len(cells)} cells, the header has {len(header)}; every row needs "
                    "one cell per column (an empty cell for a missing value; quote a value that holds a comma)",
                    line=line,
                )
            if len(out) >= MAX_RECIPIENTS:
                raise RecipientsError(
                    f"{name}: more than {MAX_RECIPIENTS:,} rows (line {line}); split the list into campaigns of at "
                    f"most {MAX_RECIPIENTS:,}",
                    line=line,
                )
            number = cells[phone_index].strip()
            if not number:
                raise RecipientsError(
                    f"{name}: line {line} has no phone number in the {PHONE_COLUMN} column; fill it or remove the row",
                    line=line,
                )
            variables = {
                key: value
                for i, (key, value) in enumerate(zip(names, cells, strict=True))
                if i != phone_index and value.strip()
            }
            out.append(Recipient(number, variables, line))
    except csv.Error as exc:
        line = reader.line_num
        raise RecipientsError(f"{name}: line {line} is not valid CSV ({exc}); check its quotes", line=line) from None
    if header is None:
        raise RecipientsError(
            f"{name}: the file is empty; it needs a header row with {PHONE_COLUMN} and one row per call"
        )
    _check_count(len(out), name)
    return tuple(out)


def _read_header(cells: list[str], name: str) -> tuple[int, list[str]]:
    names = [c.strip() for c in cells]
    phone = [i for i, n in enumerate(names) if n.casefold() == PHONE_COLUMN]
    if not phone:
        shown = ", ".join(repr(n) for n in names[:10])
        raise RecipientsError(
            f"{name}: line 1 (the header) has no {PHONE_COLUMN} column (columns: {shown}); name the numbers' column "
            f"{PHONE_COLUMN} and each other column after a template placeholder",
            line=1,
        )
    for i, n in enumerate(names, start=1):
        if not n:
            raise RecipientsError(
                f"{name}: line 1 (the header): column {i} has no name; name it after a template placeholder or "
                "remove it",
                line=1,
            )
    seen: set[str] = set()
    for n in names:
        key = PHONE_COLUMN if n.casefold() == PHONE_COLUMN else n
        if key in seen:
            raise RecipientsError(f"{name}: line 1 (the header): column {n!r} appears twice; keep one", line=1)
        seen.add(key)
    return phone[0], names


def _read_bytes(path: Path, given: str) -> bytes:
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        raise RecipientsError(
            f"recipients_file: {given!r} cannot be opened ({exc.strerror or exc}); check the name in the campaigns "
            "folder",
            rule="recipients-file",
        ) from None
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):  # checked before fdopen, which raises IsADirectoryError on a folder
        os.close(fd)
        raise RecipientsError(f"recipients_file: {given!r} is not a regular file", rule="recipients-file")
    with os.fdopen(fd, "rb") as handle:
        if info.st_size > MAX_CSV_BYTES:
            raise RecipientsError(
                f"recipients_file: {given!r} is {info.st_size:,} bytes, over the {MAX_CSV_BYTES // (1024 * 1024)} MiB "
                "a recipients file may have",
                rule="recipients-file",
            )
        data = handle.read(MAX_CSV_BYTES + 1)
    if len(data) > MAX_CSV_BYTES:
        raise RecipientsError(
            f"recipients_file: {given!r} is over the {MAX_CSV_BYTES // (1024 * 1024)} MiB a recipients file may have",
            rule="recipients-file",
        )
    return data


def _check_count(count: int, what: str) -> None:
    if count < 1:
        raise RecipientsError(f"{what}: no recipients; a campaign needs 1-{MAX_RECIPIENTS:,} rows")
    if count > MAX_RECIPIENTS:
        raise RecipientsError(f"{what}: {count:,} recipients, at most {MAX_RECIPIENTS:,} per campaign; split the list")
