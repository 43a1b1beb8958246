"""Phone numbers for the dial guard: parse, normalise to E.164, classify, and refuse.

Every ``check_*`` function raises :class:`~voicing_mcp.errors.GuardRefusal` naming the rule and the value
(its words, with what would make it pass, are in :mod:`voicing_mcp.messages`); :mod:`voicing_mcp.guard.policy` calls
them in the guard's order (number checks come first).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from voicing_mcp.messages import refusal
from voicing_mcp.redact import mask_number

if TYPE_CHECKING:
    from phonenumbers import PhoneNumber

_FORMATTING = re.compile(r"[\s().\-/]")
TEL_URI = re.compile(r"^\s*tel:", re.IGNORECASE)
_FICTIONAL = re.compile(r"^\+1[2-9]\d{2}55501\d{2}$")
MAX_SHORT_DIGITS = 6
_COMMON_REGIONS = ("US", "GB", "IN", "CA", "AU", "DE", "FR")

# PhoneNumberType values (phonenumbers.PhoneNumberType) by name
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
        import phonenumbers  # noqa: PLC0415 (~100 ms of region metadata: on the first number parsed, off the start)

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
    import phonenumbers  # noqa: PLC0415 (~100 ms of region metadata: on the first number parsed, off the start)
    from phonenumbers import shortnumberinfo  # noqa: PLC0415 (phonenumbers: on the first number parsed)

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
        raise refusal("emergency-number", raw=raw, regions=shown, more=len(emergency) > len(shown))
    short = any(len(number) <= MAX_SHORT_DIGITS for number, _ in candidates) or (
        not international and len(digits) <= MAX_SHORT_DIGITS
    )
    if short:
        raise refusal("short-number", raw=raw)


def parse_number(raw: str, *, default_region: str | None) -> PhoneInfo:
    """Check 1a: parse and validate; refuse short/emergency, national-without-region, impossible, invalid."""
    import phonenumbers  # noqa: PLC0415 (~100 ms of region metadata: on the first number parsed, off the start)
    from phonenumbers import geocoder, timezone  # noqa: PLC0415 (geocoder loads about 1 s of data: on the first dial)

    if not any(ch.isdigit() for ch in raw or ""):
        raise refusal("number-no-digits", raw=raw)
    given = raw
    raw = TEL_URI.sub("", raw)  # a tel: URI (RFC 3966) is read as the number it holds
    _check_short(raw, default_region)
    cleaned = _clean(raw)
    if not cleaned.startswith("+") and default_region is None:
        raise refusal("number-format", raw=raw)
    try:
        parsed = phonenumbers.parse(given, None if cleaned.startswith("+") else default_region)
    except phonenumbers.NumberParseException as exc:
        raise refusal("number-unparsable", raw=raw, error=exc) from None
    e164 = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
    if not phonenumbers.is_possible_number(parsed):
        raise refusal("number-impossible", raw=raw, e164=e164)
    if not phonenumbers.is_valid_number(parsed):
        raise refusal("number-invalid", raw=raw, e164=e164)
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
    import phonenumbers  # noqa: PLC0415 (~100 ms of region metadata: on the first number parsed, off the start)

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
    from phonenumbers.tzdata import TIMEZONE_DATA  # noqa: PLC0415 (phonenumbers: on the first number parsed)

    prefix = str(country_code)
    data: dict[str, tuple[str, ...]] = TIMEZONE_DATA
    collected = {z for key, values in data.items() if key.startswith(prefix) for z in values if z != "Etc/Unknown"}
    return tuple(sorted(collected))


def check_line_type(info: PhoneInfo) -> None:
    """Check 1b: premium-rate, shared-cost, UAN and unknown line types are refused."""
    if info.line_type_code in REFUSED_LINE_TYPES:
        raise refusal("line-type", number=info.masked, line_type=info.line_type)


def check_fictional(info: PhoneInfo, *, local: bool) -> None:
    """Check 1c: the fictional 555-0100…0199 range is for the emulator only."""
    if info.fictional and not local:
        raise refusal("fictional-number", e164=info.e164)


def check_country(info: PhoneInfo, allowed: Sequence[str]) -> None:
    """Check 1d: only countries in VOICING_ALLOWED_COUNTRIES (empty = all)."""
    if allowed and info.region not in allowed:
        raise refusal("country", number=info.masked, country=info.country, region=info.region, allowed=list(allowed))


def matches_allowed(e164: str, patterns: Sequence[str]) -> bool:
    """True when ``e164`` equals an entry of VOICING_ALLOWED_NUMBERS or starts with a ``+prefix*`` entry."""
    for pattern in patterns:
        if pattern.endswith("*"):
            if e164.startswith(pattern[:-1]):
                return True
        elif e164 == pattern:
            return True
    return False
