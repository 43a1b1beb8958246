"""The do-not-call file (``VOICING_DNC_FILE``): read, parsed line by line, and checked against a number.

The format (one or more numbers a line, columns, notes, a header row) is in the README, "The do-not-call
file". A file that cannot be read, or a line from which no number can be read, refuses every dial.
"""

from __future__ import annotations

import hashlib
import re
import stat
import threading
from dataclasses import dataclass
from pathlib import Path

import anyio.to_thread

from voicing_mcp.errors import GuardRefusal
from voicing_mcp.guard.phone import TEL_URI, PhoneInfo
from voicing_mcp.messages import refusal
from voicing_mcp.redact import mask_number, one_line

#: columns of a do-not-call line: CSV/TSV exports (``number,name``), several numbers (``+1…;+1…``)
_DNC_COLUMNS = re.compile(r"[,;|\t]")
#: an extension after a number (``x12``, ``ext. 12``, ``extension 12``, ``ext=12``): E.164 has none, ignored
_DNC_EXTENSION = re.compile(r"\s*(?:ext(?:ension)?\.?|x)\s*[=:]?\s*\d{1,10}\s*$", re.IGNORECASE)
#: a field that is written as a phone number: digits with ``+`` first and ``( ) - . /`` or spaces between
#: (the dashes and the full-width ``＋`` a word processor or a phone's contact list may put there included)
_DNC_PUNCTUATION = r"\s().\-/\u2010-\u2015\u2212\uff0d"
_DNC_NUMBER = re.compile(rf"\(?[+\uff0b]?[\d{_DNC_PUNCTUATION}]*\d[\d{_DNC_PUNCTUATION}]*")
#: a number a spreadsheet wrote as a decimal (``17018112582.0``: a float column exported as text). The ``.0`` is no
#: digit of the number; read with it, the entry would be 12 digits that match no dial (a listed person called)
_DNC_SPREADSHEET_FLOAT = re.compile(r"^([+\uff0b]?\d{7,15})\.0+$")
#: several ``+country`` numbers in one column separated by spaces: ``+17018112582 +17025550100``
_DNC_NEXT_INTERNATIONAL = re.compile(r"\s+(?=\(?[+\uff0b])")
#: a note that holds a phone number (``John, other phone +17018112583``) is not a note: its number would be
#: dropped. Dates and times in notes (``called 2024-01-05 10:30``) are not taken for numbers.
_DNC_DATE_OR_TIME = re.compile(
    r"\d{4}[-/.]\d{1,2}[-/.]\d{1,2}|\d{1,2}[-/.]\d{1,2}[-/.]\d{2,4}|\d{1,2}:\d{2}(?::\d{2})?"
)
_DNC_NUMBER_IN_NOTE = re.compile(r"[+\uff0b]\s*\(?\d|\d(?:[\s().\-/\u2010-\u2015\u2212]?\d){6,}")
_DNC_DIGIT_RUN = re.compile(r"[+\uff0b]?\d(?:[\s\-().]{0,2}\d){4,}")
#: words of a header row naming the phone column (``phone,name``, ``Phone Number``, ``tel``, ``msisdn``)
_DNC_HEADER_WORDS = ("phone", "number", "tel", "mobile", "cell", "msisdn", "e164", "numéro", "número", "nummer")
#: a longer file is refused rather than read into memory (a path naming a log or a device by mistake)
MAX_DNC_BYTES = 64 * 1024 * 1024
#: national digits (no country code) are at least this long; shorter ones are service codes or typos
_MIN_NATIONAL_DIGITS = 4


@dataclass(frozen=True, slots=True)
class DoNotCallEntries:
    """What a do-not-call file says: numbers by E.164, national-format entries by their digits."""

    e164: frozenset[str]
    national: frozenset[str]
    """Digits of entries written in national format, with and without their leading zeros."""
    numbers: int
    """How many numbers the file lists (each written number once)."""
    national_without_region: int
    """National-format entries read without VOICING_DEFAULT_REGION (blocked by their digits in any country)."""
    read_as_nanp: int = 0
    """Lines written without '+' as 11 digits starting with 1 (``17018112582``, ``1-701-811-2582``): the US
    trunk ``1`` before a NANP number, read as that ``+1`` number (their digits still block as written too)."""

    def blocks(self, info: PhoneInfo) -> bool:
        if info.e164 in self.e164:
            return True
        if not self.national:
            return False
        nsn = info.national_number
        return any(written in self.national for written in _written_nationally(info, nsn))


@dataclass(frozen=True, slots=True)
class _BadLine:
    number: int
    text: str
    reason: str

    def describe(self) -> str:
        # every run of 5 or more digits masked, glued to letters or not (``+17018112582John``)
        shown = _DNC_DIGIT_RUN.sub(
            lambda m: mask_number(m.group(0)), one_line(self.text.replace("\t", "<TAB>").strip())
        )
        if len(shown) > 80:
            shown = shown[:79] + "…"
        return f"line {self.number} '{shown}': {self.reason}"


class DoNotCallList:
    """The VOICING_DNC_FILE (format in README, "The do-not-call file"), re-read at every check.

    Fails closed: a configured file that cannot be read, or with a line from which no valid number can be
    read, refuses every dial (rule ``do-not-call-file``) naming what to fix. The file's bytes are read and
    hashed at every check and parsed again only when the hash changes, so any change is seen at once,
    including one that keeps the size and modification time.
    """

    def __init__(self, path: Path | None, *, default_region: str | None) -> None:
        self.path = path
        self.default_region = default_region
        self._digest: bytes | None = None
        self._loaded: DoNotCallEntries | GuardRefusal | None = None
        self._lines: dict[str, list[list[tuple[str, str]]] | str] = {}
        """Each line's reading (or why it cannot be read) by its text: an edit re-reads only changed lines."""
        self._lock = threading.Lock()

    def load(self) -> DoNotCallEntries:
        """The file's entries; raises GuardRefusal (``do-not-call-file``) when it cannot be used."""
        if self.path is None:
            return DoNotCallEntries(frozenset(), frozenset(), 0, 0)
        data = self._read(self.path)
        digest = hashlib.sha256(data).digest()
        with self._lock:
            if digest != self._digest or self._loaded is None:
                try:
                    self._loaded = self._parse(data.decode("utf-8-sig"))
                except UnicodeDecodeError as exc:
                    self._loaded = self._unreadable(f"it is not UTF-8 text: byte {exc.start} is not UTF-8")
                except GuardRefusal as exc:
                    self._loaded = exc
                self._digest = digest
            loaded = self._loaded
        if isinstance(loaded, GuardRefusal):
            raise GuardRefusal(loaded.message, rule=loaded.rule, reason=loaded.reason, fields=loaded.fields)
        return loaded

    def numbers(self) -> frozenset[str]:
        """Every E.164 number and national digit string the file blocks."""
        entries = self.load()
        return entries.e164 | entries.national

    def _unreadable(self, why: str) -> GuardRefusal:
        return refusal("do-not-call-file-unreadable", path=self.path, why=why)

    def _read(self, path: Path) -> bytes:
        try:
            st = path.stat()
            if stat.S_ISDIR(st.st_mode):
                raise self._unreadable("it is a folder; give the path of a text file")
            if not stat.S_ISREG(st.st_mode):
                raise self._unreadable("it is not a regular file")
            if st.st_size > MAX_DNC_BYTES:
                raise self._unreadable(f"it is larger than {MAX_DNC_BYTES // (1024 * 1024)} MB")
            return path.read_bytes()
        except OSError as exc:
            raise self._unreadable(f"{exc.__class__.__name__}: {exc.strerror or exc}") from None

    def _parse(self, text: str) -> DoNotCallEntries:
        e164: set[str] = set()
        national: set[str] = set()
        written: set[str] = set()
        without_region = 0
        nanp = 0
        bad: list[_BadLine] = []
        first = True
        previous, self._lines = self._lines, {}
        for number, line in enumerate(text.split("\n"), start=1):
            content = line.rstrip("\r").split("#", 1)[0]
            if not content.strip():
                continue
            header, first = first and _is_header(content), False
            if header:
                continue
            found = previous.get(content)
            if found is None:
                try:
                    found = self._parse_line(content)
                except ValueError as exc:
                    found = str(exc)
            self._lines[content] = found
            if isinstance(found, str):
                bad.append(_BadLine(number, line, found))
                continue
            for group in found:
                kind, value = group[0]
                if f"{kind}:{value}" not in written:
                    written.add(f"{kind}:{value}")
                    without_region += 1 if kind == "digits" else 0
                    nanp += 1 if kind == "nanp" else 0
                for kind, value in group:
                    if kind in ("e164", "nanp"):
                        e164.add(value)
                    else:
                        national.update({value, value.lstrip("0")})
        if bad:
            raise refusal(
                "do-not-call-file-lines",
                path=self.path,
                count=len(bad),
                shown=[b.describe() for b in bad[:3]],
                more_lines=[b.number for b in bad[3:8]],
            )
        return DoNotCallEntries(frozenset(e164), frozenset(national), len(written), without_region, nanp)

    def _parse_line(self, content: str) -> list[list[tuple[str, str]]]:
        """One ``[(kind, value), …]`` per number on the line, the number as written first; kinds are ``e164``,
        ``national`` (digits of an entry read with the region) or ``digits`` (an entry read without one).

        Raises ValueError saying why the line cannot be used.
        """
        found: list[list[tuple[str, str]]] = []
        unreadable: list[str] = []
        for column, raw in enumerate(_DNC_COLUMNS.split(content), start=1):
            field = raw.strip().strip("\"'").strip()
            if not field:
                continue
            candidate = TEL_URI.sub("", field)
            candidate = _DNC_EXTENSION.sub("", candidate) if _DNC_EXTENSION.search(candidate) else candidate
            candidate = _DNC_SPREADSHEET_FLOAT.sub(r"\1", candidate.strip())
            parts = _DNC_NEXT_INTERNATIONAL.split(candidate.strip())
            if all(_DNC_NUMBER.fullmatch(part) for part in parts):
                found.extend(self._parse_number(part, column) for part in parts)
            elif any(ch.isalpha() for ch in field):
                # a note (a name, a reason): never read as a number, letters are not digits here
                if _DNC_NUMBER_IN_NOTE.search(_DNC_DATE_OR_TIME.sub(" ", field)):
                    unreadable.append(
                        f"column {column} is a note (it has letters) but holds what looks like a phone number; "
                        "give the number a column of its own, or move the note after '#'"
                    )
            elif any(ch.isdigit() for ch in field):
                unreadable.append(
                    f"column {column} has digits but is not written as a phone number (a number is digits with "
                    "'+' first and spaces or ( ) - . / between)"
                )
        if unreadable:
            raise ValueError("; ".join(unreadable))
        if not found:
            raise ValueError(
                "no phone number on this line (a column with letters is a note; a note needs a column of its own "
                "after a ',' or tab, e.g. '+17018112582,John Smith'; a header row is allowed only as the first "
                "line and must name the phone column, e.g. 'phone,name')"
            )
        return found

    def _parse_number(self, text: str, column: int) -> list[tuple[str, str]]:
        nanp = None if text.lstrip("(").startswith(("+", "\uff0b")) else _nanp_reading(text)
        if nanp is None:
            return self._read_number(text, column)
        # ``1-701-811-2582``: the US trunk 1 before a valid NANP number can only mean that +1 number, with or
        # without VOICING_DEFAULT_REGION; what the line reads as otherwise (its digits, or another region's
        # number when that differs) blocks as well, the safe side of a rarer meaning
        try:
            other = self._read_number(text, column)
        except ValueError:
            other = []
        return [("nanp", nanp), *(item for item in other if item != ("e164", nanp))]

    def _read_number(self, text: str, column: int) -> list[tuple[str, str]]:
        import phonenumbers  # noqa: PLC0415 (~100 ms of region metadata: on the first do-not-call read, off the start)

        international = text.lstrip("(").startswith(("+", "\uff0b"))
        region = None if international else self.default_region
        if international or region is not None:
            try:
                parsed = phonenumbers.parse(text, region)
            except phonenumbers.NumberParseException:
                parsed = None
            if parsed is not None and phonenumbers.is_valid_number(parsed):
                e164 = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
                if international:
                    return [("e164", e164)]
                digits = phonenumbers.normalize_digits_only(text)
                # national format read with VOICING_DEFAULT_REGION; its digits also block in other countries
                return [("e164", e164), ("national", digits)]
            where = "" if international else f" in VOICING_DEFAULT_REGION={region}"
            raise ValueError(
                f"column {column} is not a valid phone number{where} (wrong length, or no such area or range); "
                "correct it, or write it in +country format"
            )
        # national format without a region: blocked by its digits in every country; an international call
        # prefix (00, 011) in front of a valid +country number also blocks that number
        digits = phonenumbers.normalize_digits_only(text)
        out: list[tuple[str, str]] = []
        for idd in ("00", "011"):
            if digits.startswith(idd):
                try:
                    parsed = phonenumbers.parse("+" + digits[len(idd) :], None)
                except phonenumbers.NumberParseException:
                    continue
                if phonenumbers.is_valid_number(parsed):
                    out.append(("e164", phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)))
        if not _MIN_NATIONAL_DIGITS <= len(digits.lstrip("0")) <= 15:
            if out:
                return out
            raise ValueError(
                f"column {column} has {len(digits)} digits, too few or too many for a phone number; correct it, "
                "or write it in +country format"
            )
        return [*out, ("digits", digits)]

    async def check_async(self, info: PhoneInfo) -> None:
        """:meth:`check` in a worker thread: reading a long file the first time (about 0.1 ms a line) does not
        stop the server's event loop."""
        await anyio.to_thread.run_sync(self.check, info)

    def check(self, info: PhoneInfo) -> None:
        """Check 1e: numbers on the do-not-call file are never dialled."""
        if self.load().blocks(info):
            raise refusal("do-not-call", number=info.masked, path=self.path)


#: the NANP's national (trunk) prefix and the length of a NANP number's digits written after it
_NANP_TRUNK = "1"
_NANP_DIGITS_WITH_TRUNK = 11


def _nanp_reading(text: str) -> str | None:
    """The ``+1`` number an 11-digit ``1…`` entry written without ``+`` means (``17018112582``,
    ``1 (701) 811-2582``), or None when it is not that shape or not a valid NANP number."""
    import phonenumbers  # noqa: PLC0415 (region metadata: on the first do-not-call read, off the start)

    digits = phonenumbers.normalize_digits_only(text)
    if len(digits) != _NANP_DIGITS_WITH_TRUNK or not digits.startswith(_NANP_TRUNK):
        return None
    try:
        parsed = phonenumbers.parse("+" + digits, None)
    except phonenumbers.NumberParseException:
        return None
    if parsed.country_code != 1 or not phonenumbers.is_valid_number(parsed):
        return None
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def _written_nationally(info: PhoneInfo, nsn: str) -> tuple[str, ...]:
    """The digit strings a national-format entry may hold for ``info``: its national number with or without
    leading zeros, after its country's trunk prefix (``8`` in Russia, ``06`` in Hungary, ``1`` in the NANP;
    ``0`` is covered by the zeros), or after its country code without the ``+`` (``447911123456``)."""
    import phonenumbers  # noqa: PLC0415 (region metadata: loaded by the dial's own parse before this)

    trunk = phonenumbers.ndd_prefix_for_region(info.region, True) if info.region else None
    country = info.e164.lstrip("+")
    return (nsn, nsn.lstrip("0"), country, *((trunk + nsn,) if trunk else ()))


def _is_header(content: str) -> bool:
    """A first line without digits whose columns name the phone column: ``phone,name``, ``Phone Number``."""
    if any(ch.isdigit() for ch in content):
        return False
    words = [field.strip().strip("\"'").casefold() for field in _DNC_COLUMNS.split(content)]
    return any(word in field for field in words for word in _DNC_HEADER_WORDS)
