"""Phone numbers for the dial guard: parse, normalise to E.164, classify, and refuse.

Every ``check_*`` function raises :class:`~voicing_mcp.errors.GuardRefusal` with a message that
names the rule, the value and what would make it pass; :mod:`voicing_mcp.guard.policy` calls
them in the guard's order (number checks come first).
"""

from __future__ import annotations

import functools
import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from voicing_mcp.errors import GuardRefusal
from voicing_mcp.redact import mask_number

if TYPE_CHECKING:
    from phonenumbers import PhoneNumber

_FORMATTING = re.compile(r"[\s().\-/]")
_TEL_URI = re.compile(r"^\s*tel:", re.IGNORECASE)
_FICTIONAL = re.compile(r"^\+1[2-9]\d{2}55501\d{2}$")
MAX_SHORT_DIGITS = 6
_COMMON_REGIONS = ("US", "GB", "IN", "CA", "AU", "DE", "FR")

# PhoneNumberType values (phonenumbers.PhoneNumberType) by name, without importing at module level
_LINE_TYPES = {
    0: "fixed line",
    1: "mobile",
    2: "fixed line or mobile",
    3: "toll-free",
    4: "premium-rate",
    5: "shared-cost",
    6: "VoIP",
    7: "personal number",
    8: "pager",
    9: "UAN (universal access number)",
    10: "voicemail access",
    99: "unknown",
}
REFUSED_LINE_TYPES = frozenset({4, 5, 9, 99})


@dataclass(frozen=True, slots=True)
class PhoneInfo:
    """A parsed, valid number."""

    e164: str
    international: str
    region: str
    country: str
    line_type: str
    line_type_code: int
    time_zones: tuple[str, ...]
    extension: str | None = None
    """An extension given with the number (``x12``, ``;ext=12``): E.164 cannot carry it, so it is not dialled."""

    @property
    def masked(self) -> str:
        return mask_number(self.e164)

    @property
    def national_number(self) -> str:
        """The national significant number (E.164 without the country code): ``7018112582``."""
        import phonenumbers

        return phonenumbers.national_significant_number(phonenumbers.parse(self.e164, None))

    @property
    def fictional(self) -> bool:
        """True for the NANP range reserved for fiction, ``+1 NXX 555 0100…0199``."""
        return is_fictional(self.e164)


def is_fictional(e164: str) -> bool:
    return bool(_FICTIONAL.match(e164))


def _clean(raw: str) -> str:
    return _FORMATTING.sub("", raw.strip())


def _check_short(raw: str, default_region: str | None) -> None:
    """Emergency and other short numbers, tested on the raw digits (not on a parsed full number)."""
    import phonenumbers
    from phonenumbers import shortnumberinfo

    cleaned = _clean(raw)
    international = cleaned.startswith("+")
    digits = cleaned.lstrip("+")
    if not digits.isdigit():
        return
    candidates: list[tuple[str, str]] = []  # (digits as dialled in region, region)
    if international:
        try:
            parsed = phonenumbers.parse(cleaned, None)
        except phonenumbers.NumberParseException:
            return
        nsn = phonenumbers.national_significant_number(parsed)
        regions = phonenumbers.region_codes_for_country_code(parsed.country_code or 0)
        candidates.extend((nsn, region) for region in regions)
    else:
        regions = [default_region] if default_region else list(shortnumberinfo.SUPPORTED_SHORT_REGIONS)
        candidates.extend((digits, region) for region in regions)
    emergency = [region for number, region in candidates if shortnumberinfo.is_emergency_number(number, region)]
    if emergency:
        first = [r for r in (default_region, *_COMMON_REGIONS) if r in emergency]
        shown = list(dict.fromkeys([*first, *sorted(emergency)]))[:3]
        more = ", …" if len(emergency) > len(shown) else ""
        raise GuardRefusal(
            f"number: {raw!r} is an emergency number (in {', '.join(shown)}{more}); emergency services are never "
            "dialled",
            rule="emergency-number",
        )
    short = any(len(number) <= MAX_SHORT_DIGITS for number, _ in candidates) or (
        not international and len(digits) <= MAX_SHORT_DIGITS
    )
    if short:
        raise GuardRefusal(
            f"number: {raw!r} is a short number (service or short code); only full subscriber numbers are "
            "dialled — give the complete number in +country format, e.g. +17015550123",
            rule="short-number",
        )


def parse_number(raw: str, *, default_region: str | None) -> PhoneInfo:
    """Check 1a: parse and validate; refuse short/emergency, national-without-region, impossible, invalid."""
    import phonenumbers
    from phonenumbers import geocoder, timezone

    if not any(ch.isdigit() for ch in raw or ""):
        raise GuardRefusal(
            f"number: {raw!r} has no digits; give the number in +country format, e.g. +17015550123", rule="number"
        )
    given = raw
    raw = _TEL_URI.sub("", raw)  # a tel: URI (RFC 3966) is read as the number it holds
    _check_short(raw, default_region)
    cleaned = _clean(raw)
    if not cleaned.startswith("+") and default_region is None:
        raise GuardRefusal(
            f"number: {raw!r} is in national format and VOICING_DEFAULT_REGION is not set; give it in +country "
            "format (e.g. +17015550123) or set VOICING_DEFAULT_REGION to an ISO code such as US or IN",
            rule="number-format",
        )
    try:
        parsed = phonenumbers.parse(given, None if cleaned.startswith("+") else default_region)
    except phonenumbers.NumberParseException as exc:
        raise GuardRefusal(
            f"number: {raw!r} is not a phone number ({exc}); give it in +country format, e.g. +17015550123",
            rule="number",
        ) from None
    e164 = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
    if not phonenumbers.is_possible_number(parsed):
        raise GuardRefusal(
            f"number: {raw!r} ({e164}) is not a possible number (wrong length for its country); check the digits",
            rule="number",
        )
    if not phonenumbers.is_valid_number(parsed):
        raise GuardRefusal(
            f"number: {raw!r} ({e164}) is not a valid number (no such area or range); check the digits and country",
            rule="number",
        )
    code = int(phonenumbers.number_type(parsed))
    return PhoneInfo(
        e164=e164,
        international=phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.INTERNATIONAL),
        region=phonenumbers.region_code_for_number(parsed) or "ZZ",
        country=geocoder.country_name_for_number(parsed, "en") or "unknown country",
        line_type=_LINE_TYPES.get(code, "unknown"),
        line_type_code=code,
        time_zones=_zones(parsed, timezone.time_zones_for_number(parsed)),
        extension=parsed.extension or None,
    )


#: country codes whose mobile numbers carry a geographic area code, so the zone lookup by prefix holds for
#: them: North America (+1, ``fixed line or mobile``), Mexico, Argentina, Brazil, China (one zone)
_MOBILE_AREA_CODE_COUNTRIES = frozenset({1, 52, 54, 55, 86})


def _zones(parsed: PhoneNumber, zones: Sequence[str]) -> tuple[str, ...]:
    """IANA zones the callee may be in: the zones phonenumbers gives for the number's prefix, or every zone
    of its country code where that lookup does not say where the phone is.

    phonenumbers looks mobile numbers up by prefix in a few countries (Indonesia among them) whose mobile
    ranges are not geographic: ``+62 812…`` gives only Asia/Jakarta, though the phone may be in Jayapura,
    two hours ahead. A mobile, or a number that may be one (``fixed line or mobile``), is therefore given
    every zone of its country unless mobile numbers there carry an area code.
    """
    import phonenumbers

    known = tuple(z for z in zones if z != "Etc/Unknown")
    code = parsed.country_code or 0
    maybe_mobile = phonenumbers.number_type(parsed) in (
        phonenumbers.PhoneNumberType.MOBILE,
        phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE,
    )
    if known and not (maybe_mobile and code not in _MOBILE_AREA_CODE_COUNTRIES):
        return known
    return country_zones(code) or known or ("UTC",)


@functools.cache
def country_zones(country_code: int) -> tuple[str, ...]:
    """Every IANA zone phonenumbers' data lists under a country calling code (all its prefixes), sorted."""
    from phonenumbers.tzdata import TIMEZONE_DATA

    prefix = str(country_code)
    data: dict[str, tuple[str, ...]] = TIMEZONE_DATA
    collected = {z for key, values in data.items() if key.startswith(prefix) for z in values if z != "Etc/Unknown"}
    return tuple(sorted(collected))


def check_line_type(info: PhoneInfo) -> None:
    """Check 1b: premium-rate, shared-cost, UAN and unknown line types are refused."""
    if info.line_type_code in REFUSED_LINE_TYPES:
        raise GuardRefusal(
            f"line type: {info.masked} is a {info.line_type} number; premium-rate, shared-cost, UAN and "
            "unknown-type numbers are never dialled — use the callee's ordinary fixed or mobile number",
            rule="line-type",
        )


def check_fictional(info: PhoneInfo, *, local: bool) -> None:
    """Check 1c: the fictional 555-0100…0199 range is for the emulator only."""
    if info.fictional and not local:
        raise GuardRefusal(
            f"fictional number: {info.e164} is in the NANP range 555-0100…0199 reserved for fiction and tests; it "
            "is dialled only in local mode (the built-in emulator) — use a real number",
            rule="fictional-number",
        )


def check_country(info: PhoneInfo, allowed: Sequence[str]) -> None:
    """Check 1d: only countries in VOICING_ALLOWED_COUNTRIES (empty = all)."""
    if allowed and info.region not in allowed:
        raise GuardRefusal(
            f"country: {info.masked} is in {info.country} ({info.region}), which is not in VOICING_ALLOWED_COUNTRIES "
            f"({','.join(allowed)}); add {info.region} to that setting to allow it",
            rule="country",
        )


def matches_allowed(e164: str, patterns: Sequence[str]) -> bool:
    """True when ``e164`` equals an entry of VOICING_ALLOWED_NUMBERS or starts with a ``+prefix*`` entry."""
    for pattern in patterns:
        if pattern.endswith("*"):
            if e164.startswith(pattern[:-1]):
                return True
        elif e164 == pattern:
            return True
    return False


# ----- the do-not-call file ----------------------------------------------------------------------------
#: columns of a do-not-call line: CSV/TSV exports (``number,name``), several numbers (``+1…;+1…``)
_DNC_COLUMNS = re.compile(r"[,;|\t]")
#: an extension after a number (``x12``, ``ext. 12``, ``extension 12``, ``ext=12``): E.164 has none, ignored
_DNC_EXTENSION = re.compile(r"\s*(?:ext(?:ension)?\.?|x)\s*[=:]?\s*\d{1,10}\s*$", re.IGNORECASE)
#: a field that is written as a phone number: digits with ``+`` first and ``( ) - . /`` or spaces between
#: (the dashes and the full-width ``＋`` a word processor or a phone's contact list may put there included)
_DNC_PUNCTUATION = r"\s().\-/\u2010-\u2015\u2212\uff0d"
_DNC_NUMBER = re.compile(rf"\(?[+\uff0b]?[\d{_DNC_PUNCTUATION}]*\d[\d{_DNC_PUNCTUATION}]*")
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

    def blocks(self, info: PhoneInfo) -> bool:
        nsn = info.national_number
        return info.e164 in self.e164 or nsn in self.national or nsn.lstrip("0") in self.national


@dataclass(frozen=True, slots=True)
class _BadLine:
    number: int
    text: str
    reason: str

    def describe(self) -> str:
        from voicing_mcp.redact import one_line

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
        import hashlib

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
            raise GuardRefusal(str(loaded), rule=loaded.rule)
        return loaded

    def numbers(self) -> frozenset[str]:
        """Every E.164 number and national digit string the file blocks."""
        entries = self.load()
        return entries.e164 | entries.national

    def _unreadable(self, why: str) -> GuardRefusal:
        return GuardRefusal(
            f"do-not-call file: VOICING_DNC_FILE {self.path} cannot be read ({why}); no call is placed until it "
            "can — fix the file or the path, or unset VOICING_DNC_FILE",
            rule="do-not-call-file",
        )

    def _read(self, path: Path) -> bytes:
        import stat

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
                for kind, value in group:
                    if kind == "e164":
                        e164.add(value)
                    else:
                        national.update({value, value.lstrip("0")})
        if bad:
            shown = "; ".join(b.describe() for b in bad[:3])
            more = f" (and {len(bad) - 3} more line(s): {', '.join(str(b.number) for b in bad[3:8])}…)"
            raise GuardRefusal(
                f"do-not-call file: VOICING_DNC_FILE {self.path} has {len(bad)} line(s) that cannot be read as "
                f"numbers, so whom they list is not known — {shown}{more if len(bad) > 3 else ''}. "
                "No call is placed until every line reads: one or more numbers per line in +country format, "
                "columns separated by ',', ';', '|' or tab, notes in a column of their own or after '#' "
                "(see README, The do-not-call file)",
                rule="do-not-call-file",
            )
        return DoNotCallEntries(frozenset(e164), frozenset(national), len(written), without_region)

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
            candidate = _TEL_URI.sub("", field)
            candidate = _DNC_EXTENSION.sub("", candidate) if _DNC_EXTENSION.search(candidate) else candidate
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
        import phonenumbers

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
        import anyio

        await anyio.to_thread.run_sync(self.check, info)

    def check(self, info: PhoneInfo) -> None:
        """Check 1e: numbers on the do-not-call file are never dialled."""
        if self.load().blocks(info):
            raise GuardRefusal(
                f"do-not-call: {info.masked} is on the do-not-call list ({self.path}); it is never dialled — "
                "remove it from that file only if the person asked to be called again",
                rule="do-not-call",
            )


def _is_header(content: str) -> bool:
    """A first line without digits whose columns name the phone column: ``phone,name``, ``Phone Number``."""
    if any(ch.isdigit() for ch in content):
        return False
    words = [field.strip().strip("\"'").casefold() for field in _DNC_COLUMNS.split(content)]
    return any(word in field for field in words for word in _DNC_HEADER_WORDS)
