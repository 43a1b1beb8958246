"""Phone numbers for the dial guard: parse, normalise to E.164, classify, and refuse.

Every ``check_*`` function raises :class:`~voicing_mcp.errors.GuardRefusal` with a message that
names the rule, the value and what would make it pass; :mod:`voicing_mcp.guard.policy` calls
them in the order of issue 4 §2.
"""

from __future__ import annotations

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


def _zones(parsed: PhoneNumber, zones: Sequence[str]) -> tuple[str, ...]:
    """Known IANA zones of the number; falls back to every zone of its country code."""
    from phonenumbers.tzdata import TIMEZONE_DATA

    known = tuple(z for z in zones if z != "Etc/Unknown")
    if known:
        return known
    prefix = str(parsed.country_code)
    data: dict[str, tuple[str, ...]] = TIMEZONE_DATA
    collected = {z for key, values in data.items() if key.startswith(prefix) for z in values if z != "Etc/Unknown"}
    return tuple(sorted(collected)) or ("UTC",)


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


class DoNotCallList:
    """The VOICING_DNC_FILE, one number per line (``#`` comments allowed), reloaded when the file changes.

    Fails closed: a configured file that cannot be read refuses every dial.
    """

    def __init__(self, path: Path | None, *, default_region: str | None) -> None:
        self.path = path
        self.default_region = default_region
        self._stamp: tuple[int, int] | None = None
        self._numbers: frozenset[str] = frozenset()
        self._lock = threading.Lock()

    def numbers(self) -> frozenset[str]:
        if self.path is None:
            return frozenset()
        try:
            st = self.path.stat()
            stamp = (st.st_mtime_ns, st.st_size)
            with self._lock:
                if stamp != self._stamp:
                    text = self.path.read_text(encoding="utf-8")
                    self._numbers = frozenset(self._parse(text))
                    self._stamp = stamp
                return self._numbers
        except (OSError, UnicodeDecodeError) as exc:
            raise GuardRefusal(
                f"do-not-call: VOICING_DNC_FILE {self.path} cannot be read ({exc.__class__.__name__}); no call is "
                "placed until it can — fix the path or unset VOICING_DNC_FILE",
                rule="do-not-call",
            ) from None

    def _parse(self, text: str) -> set[str]:
        import phonenumbers

        out: set[str] = set()
        for line in text.splitlines():
            entry = line.split("#", 1)[0].strip()
            if not entry:
                continue
            cleaned = _clean(entry)
            try:
                region = None if cleaned.startswith("+") else self.default_region
                parsed = phonenumbers.parse(cleaned, region)
                out.add(phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164))
            except phonenumbers.NumberParseException:
                pass
            # also keep the bare digits, so an entry that cannot be parsed still blocks an exact match
            out.add("+" + cleaned.lstrip("+") if cleaned.startswith("+") else cleaned)
            if not cleaned.startswith("+"):
                # a national-format entry ("701 811 2582", "07911 123456") is also matched on the callee's
                # national number, whatever VOICING_DEFAULT_REGION says: blocking too much is safe, too little not
                out.add(cleaned.lstrip("0"))
        return out

    def check(self, info: PhoneInfo) -> None:
        """Check 1e: numbers on the do-not-call file are never dialled."""
        numbers = self.numbers()
        if info.e164 in numbers or info.e164.lstrip("+") in numbers or info.national_number in numbers:
            raise GuardRefusal(
                f"do-not-call: {info.masked} is on the do-not-call list ({self.path}); it is never dialled — "
                "remove it from that file only if the person asked to be called again",
                rule="do-not-call",
            )
