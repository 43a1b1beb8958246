"""Phone numbers for the dial guard: parse, normalise to E.164, classify, and refuse.

Every ``check_*`` function raises :class:`~voicing_mcp.errors.GuardRefusal` naming the rule and the value
(its words, with what would make it pass, are in :mod:`voicing_mcp.messages`); :mod:`voicing_mcp.guard.policy` calls
them in the guard's order (number checks come first).

About 620 lines, over the 450 of the layout rule, because :func:`parse_e164` (the campaign planner's fast path for
numbers written as E.164, at the end) replays :func:`parse_number`'s steps with this module's private helpers and
phonenumbers' metadata: split out, it would import a dozen private names from here.
"""

from __future__ import annotations

import functools
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from voicing_mcp.messages import refusal
from voicing_mcp.redact import mask_number

if TYPE_CHECKING:
    from phonenumbers import PhoneMetadata, PhoneNumber, PhoneNumberDesc

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
    country_code: int = 0
    """The country calling code (``1``); 0 when not known (then :attr:`national_number` parses the number)."""

    @property
    def masked(self) -> str:
        return mask_number(self.e164)

    @property
    def national_number(self) -> str:
        """The national significant number (E.164 without the country code): ``7018112582``."""
        if self.country_code:  # E.164 is "+", the code, then the national significant number
            return self.e164[1 + len(str(self.country_code)) :]
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


def _check_short(raw: str, default_region: str | None) -> PhoneNumber | None:
    """Emergency and other short numbers, tested on the raw digits (not on a parsed full number).

    Returns the parse of the cleaned number when it is in +country format and passes (else None): parse_number
    uses it when the number was given cleaned, instead of parsing the same string again."""
    import phonenumbers  # noqa: PLC0415 (~100 ms of region metadata: on the first number parsed, off the start)
    from phonenumbers import shortnumberinfo  # noqa: PLC0415 (phonenumbers: on the first number parsed)

    cleaned = _clean(raw)
    international = cleaned.startswith("+")
    digits = cleaned.lstrip("+")
    if not digits.isdigit():
        return None
    parsed = None
    candidates: list[tuple[str, str]] = []  # (digits as dialled in region, region)
    if international:
        try:
            parsed = phonenumbers.parse(cleaned, None)
        except phonenumbers.NumberParseException:
            return None
        nsn = phonenumbers.national_significant_number(parsed)
        code = parsed.country_code or 0
        regions = phonenumbers.region_codes_for_country_code(code)
        if nsn.isascii() and len(nsn) > max(MAX_SHORT_DIGITS, _longest_short_number_of(code)):
            return parsed  # longer than every short number of the code's regions: neither emergency nor short
        candidates.extend((nsn, region) for region in regions)
    else:
        regions = [default_region] if default_region else list(shortnumberinfo.SUPPORTED_SHORT_REGIONS)
        candidates.extend((digits, region) for region in regions)
    emergency = [region for number, region in candidates if _may_be_emergency(number, region)]
    if emergency:
        first = [r for r in (default_region, *_COMMON_REGIONS) if r in emergency]
        shown = list(dict.fromkeys([*first, *sorted(emergency)]))[:3]
        raise refusal("emergency-number", raw=raw, regions=shown, more=len(emergency) > len(shown))
    short = any(len(number) <= MAX_SHORT_DIGITS for number, _ in candidates) or (
        not international and len(digits) <= MAX_SHORT_DIGITS
    )
    if short:
        raise refusal("short-number", raw=raw)
    return parsed


_UNBOUNDED = sys.maxsize


@functools.cache
def longest_short_number(region: str) -> int:
    """The most digits a short or emergency number has in ``region``, from phonenumbers' short-number metadata
    (the possible lengths of its general and emergency descriptions; 0 for a region without short metadata).

    ``shortnumberinfo.is_emergency_number`` fully matches the region's emergency pattern, so a longer string of
    ASCII digits is never one there: :func:`_may_be_emergency` skips the test (tests/guard/test_phone.py checks the
    bound against every region's emergency pattern and the old per-region test over a large sample)."""
    from phonenumbers import PhoneMetadata  # noqa: PLC0415 (phonenumbers: on the first number parsed)

    metadata = PhoneMetadata.short_metadata_for_region(region.upper(), None)
    if metadata is None:
        return 0
    if metadata.emergency is None:
        descs = [metadata.general_desc]
    else:
        descs = [metadata.general_desc, metadata.emergency]
        if not metadata.emergency.possible_length:
            return _UNBOUNDED  # lengths not given: no bound, every number is tested
    lengths: list[int] = [n for d in descs if d is not None for n in (d.possible_length or ())]
    return max(lengths, default=0)


@functools.cache
def _longest_short_number_of(country_code: int) -> int:
    """:func:`longest_short_number` over every region of a country calling code (25 for +1), once per code."""
    import phonenumbers  # noqa: PLC0415 (~100 ms of region metadata: on the first number parsed, off the start)

    regions: Sequence[str] = phonenumbers.region_codes_for_country_code(country_code)
    return max((longest_short_number(r) for r in regions), default=0)


def _may_be_emergency(number: str, region: str) -> bool:
    """``shortnumberinfo.is_emergency_number(number, region)``, without the regex for numbers longer than any
    short number of the region."""
    from phonenumbers import shortnumberinfo  # noqa: PLC0415 (phonenumbers: on the first number parsed)

    if number.isascii() and len(number) > longest_short_number(region):
        return False
    return bool(shortnumberinfo.is_emergency_number(number, region))


def parse_number(raw: str, *, default_region: str | None) -> PhoneInfo:
    """Check 1a: parse and validate; refuse short/emergency, national-without-region, impossible, invalid."""
    import phonenumbers  # noqa: PLC0415 (~100 ms of region metadata: on the first number parsed, off the start)

    if not any(ch.isdigit() for ch in raw or ""):
        raise refusal("number-no-digits", raw=raw)
    given = raw
    raw = TEL_URI.sub("", raw)  # a tel: URI (RFC 3966) is read as the number it holds
    short_parsed = _check_short(raw, default_region)
    cleaned = _clean(raw)
    if not cleaned.startswith("+") and default_region is None:
        raise refusal("number-format", raw=raw)
    try:
        if short_parsed is not None and given == cleaned:
            parsed = short_parsed  # the same call, phonenumbers.parse(cleaned, None), made by _check_short
        else:
            parsed = phonenumbers.parse(given, None if cleaned.startswith("+") else default_region)
    except phonenumbers.NumberParseException as exc:
        raise refusal("number-unparsable", raw=raw, error=exc) from None
    e164 = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
    if not phonenumbers.is_possible_number(parsed):
        raise refusal("number-impossible", raw=raw, e164=e164)
    # is_valid_number(parsed) is number_type(parsed) != UNKNOWN (both run the region's type test on the region
    # region_code_for_number finds): the type is computed once (test_phone.py compares with the library's checks)
    code = int(phonenumbers.number_type(parsed))
    if code == phonenumbers.PhoneNumberType.UNKNOWN:
        raise refusal("number-invalid", raw=raw, e164=e164)
    return PhoneInfo(
        e164=e164,
        international=phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.INTERNATIONAL),
        region=phonenumbers.region_code_for_number(parsed) or "ZZ",
        country=_country_name(parsed) or "unknown country",
        line_type=_LINE_TYPES.get(code, "unknown"),
        line_type_code=code,
        time_zones=_zones(parsed, _time_zones(parsed, code), code),
        extension=parsed.extension or None,
        country_code=parsed.country_code or 0,
    )


_COUNTRY_NAMES: dict[int | str, str] = {}
"""``geocoder.country_name_for_number`` by country calling code (a code with one region) or by region (a number
valid in exactly that region of its code): in both cases the name depends only on that key."""
_COUNTRY_ZONES: dict[tuple[int, int], tuple[str, ...]] = {}
"""``timezone.time_zones_for_number`` of a non-geographical number type: it depends only on (code, type)."""
_TYPE_DESCS = (
    "premium_rate",
    "toll_free",
    "shared_cost",
    "voip",
    "personal_number",
    "pager",
    "uan",
    "voicemail",
    "fixed_line",
)


@functools.cache
def _validity_patterns(country_code: int, region: str, length: int) -> tuple[re.Pattern[str], re.Pattern[str]] | None:
    """``phonenumbers.is_valid_number_for_region`` for national numbers of one length, as two patterns a number
    must both fully match (None: no number of that length is valid there).

    The library's rule (``_number_type_helper``): the general description matches, and then one of the type
    descriptions does (mobile too unless its pattern is the fixed line's), each only for its possible lengths."""
    from phonenumbers import PhoneMetadata  # noqa: PLC0415 (phonenumbers: on the first number parsed)

    metadata = PhoneMetadata.metadata_for_region_or_calling_code(country_code, region.upper())
    if metadata is None:
        return None

    def fits(desc: object) -> str | None:
        lengths: Sequence[int] = getattr(desc, "possible_length", None) or ()
        pattern: str | None = getattr(desc, "national_number_pattern", None)
        if desc is None or not pattern or (lengths and length not in lengths):
            return None
        return pattern

    general = fits(metadata.general_desc)
    names = [*_TYPE_DESCS, *(() if metadata.same_mobile_and_fixed_line_pattern else ("mobile",))]
    kinds = [p for p in (fits(getattr(metadata, name, None)) for name in names) if p is not None]
    if general is None or not kinds:
        return None
    return re.compile(general), re.compile("|".join(f"(?:{p})" for p in kinds))


def _country_name(parsed: PhoneNumber) -> str:
    """``geocoder.country_name_for_number(parsed, "en")``: the name of the one region of the number's code where it
    is valid ("" when it is valid in several), kept per code of one region and per region."""
    import phonenumbers  # noqa: PLC0415 (~100 ms of region metadata: on the first number parsed, off the start)
    from phonenumbers import geocoder  # noqa: PLC0415 (geocoder loads about 1 s of data: on the first dial)

    code = parsed.country_code or 0
    regions: Sequence[str] = phonenumbers.region_codes_for_country_code(code)
    key: int | str = code
    if len(regions) > 1:
        nsn = phonenumbers.national_significant_number(parsed)
        valid: list[str] = []
        for region in regions:
            tests = _validity_patterns(code, region, len(nsn))
            if tests is not None and tests[0].fullmatch(nsn) and tests[1].fullmatch(nsn):
                valid.append(region)
        if len(valid) != 1:
            return str(geocoder.country_name_for_number(parsed, "en"))
        key = valid[0]
    found = _COUNTRY_NAMES.get(key)
    if found is None:
        found = _COUNTRY_NAMES[key] = str(geocoder.country_name_for_number(parsed, "en"))
    return found


def _time_zones(parsed: PhoneNumber, line_type: int) -> Sequence[str]:
    """``timezone.time_zones_for_number(parsed)`` given the number's type (computed once by the caller): a
    geographical type is looked up by prefix; another type's zones are the country code's, kept per code."""
    import phonenumbers  # noqa: PLC0415 (~100 ms of region metadata: on the first number parsed, off the start)
    from phonenumbers import timezone  # noqa: PLC0415 (phonenumbers: on the first number parsed)

    code = parsed.country_code or 0
    if line_type == phonenumbers.PhoneNumberType.UNKNOWN:
        return timezone.time_zones_for_number(parsed)
    if phonenumbers.is_number_type_geographical(line_type, code):
        return timezone.time_zones_for_geographical_number(parsed)
    found = _COUNTRY_ZONES.get((code, line_type))
    if found is None:
        found = _COUNTRY_ZONES[(code, line_type)] = tuple(timezone.time_zones_for_number(parsed))
    return found


#: country codes whose mobile numbers carry a geographic area code, so the zone lookup by prefix holds for
#: them: North America (+1, ``fixed line or mobile``), Mexico, Argentina, Brazil, China (one zone)
_MOBILE_AREA_CODE_COUNTRIES = frozenset({1, 52, 54, 55, 86})


def _zones(parsed: PhoneNumber, zones: Sequence[str], line_type: int) -> tuple[str, ...]:
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
    maybe_mobile = line_type in (phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE)
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


# ----- a number written exactly as E.164: parse_number's answer without phonenumbers' parser ----------------------

_E164_WRITTEN = re.compile(r"\+[1-9][0-9]{7,19}")
"""``+`` and 8-20 ASCII digits, nothing else: the only input :func:`parse_e164` answers for."""
_MAX_NSN_DIGITS = 17
"""phonenumbers' longest national significant number (``_MAX_LENGTH_FOR_NSN``); a longer one it refuses."""


@functools.cache
def _pattern(regex: str) -> re.Pattern[str]:
    return re.compile(regex)


@dataclass(frozen=True, slots=True)
class _TypeTests:
    """phonenumbers' ``_number_type_helper`` under one region's metadata for national numbers of one length: each
    description it tests, in its order, as a compiled pattern, or None where ``_is_number_matching_desc`` is false
    for every number of that length (no description, no pattern, or the length not among the description's)."""

    general: re.Pattern[str] | None
    kinds: tuple[tuple[int, re.Pattern[str]], ...]
    """Premium-rate (4), toll-free (3), shared-cost (5), VoIP (6), personal (7), pager (8), UAN (9), voicemail (10)."""
    fixed_line: re.Pattern[str] | None
    mobile: re.Pattern[str] | None
    same_mobile_and_fixed_line_pattern: bool

    def line_type(self, nsn: str) -> int:
        """The number's type (99: UNKNOWN, i.e. not valid under this metadata). A description matches when its
        pattern matches the whole number (the library's ``_match`` without prefix matches)."""
        if self.general is None or self.general.fullmatch(nsn) is None:
            return 99
        for code, pattern in self.kinds:
            if pattern.fullmatch(nsn) is not None:
                return code
        if self.fixed_line is not None and self.fixed_line.fullmatch(nsn) is not None:
            return 2 if self.same_mobile_and_fixed_line_pattern or self._mobile(nsn) else 0  # fixed line (or mobile)
        return 1 if not self.same_mobile_and_fixed_line_pattern and self._mobile(nsn) else 99

    def _mobile(self, nsn: str) -> bool:
        return self.mobile is not None and self.mobile.fullmatch(nsn) is not None


def _for_length(desc: PhoneNumberDesc | None, length: int) -> re.Pattern[str] | None:
    """``_is_number_matching_desc`` up to the pattern: None when it is false for any number of ``length`` digits."""
    if desc is None or not desc.national_number_pattern:
        return None
    if desc.possible_length and length not in desc.possible_length:
        return None
    return _pattern(desc.national_number_pattern)


@functools.cache
def _type_tests(code: int, region: str, length: int) -> _TypeTests | None:
    """The :class:`_TypeTests` of ``region``'s metadata (None: the region has none)."""
    from phonenumbers import PhoneMetadata  # noqa: PLC0415 (phonenumbers: on the first number parsed)

    metadata = PhoneMetadata.metadata_for_region_or_calling_code(code, region.upper())
    if metadata is None:
        return None
    kinds = (
        (4, metadata.premium_rate),
        (3, metadata.toll_free),
        (5, metadata.shared_cost),
        (6, metadata.voip),
        (7, metadata.personal_number),
        (8, metadata.pager),
        (9, metadata.uan),
        (10, metadata.voicemail),
    )
    return _TypeTests(
        general=_for_length(metadata.general_desc, length),
        kinds=tuple((kind, p) for kind, desc in kinds if (p := _for_length(desc, length)) is not None),
        fixed_line=_for_length(metadata.fixed_line, length),
        mobile=_for_length(metadata.mobile, length),
        same_mobile_and_fixed_line_pattern=bool(metadata.same_mobile_and_fixed_line_pattern),
    )


@dataclass(frozen=True, slots=True)
class _CallingCode:
    """What :func:`parse_e164` needs of a country calling code, looked up once per code."""

    regions: tuple[str, ...]
    leading_digits: tuple[re.Pattern[str] | None, ...]
    """Each region's ``leading_digits`` pattern (None: the region has none, or no metadata: see ``has_metadata``)."""
    has_metadata: tuple[bool, ...]
    main: PhoneMetadata
    """The metadata phonenumbers parses and formats the code's numbers with (its main region's, or non-geographic)."""
    national_prefix: re.Pattern[str] | None
    """``national_prefix_for_parsing``: a number it matches at the start may be read without it (not answered)."""
    longest_short: int


@functools.cache
def _calling_code(code: int) -> _CallingCode | None:
    import phonenumbers  # noqa: PLC0415 (~100 ms of region metadata: on the first number parsed, off the start)
    from phonenumbers import PhoneMetadata  # noqa: PLC0415 (phonenumbers: on the first number parsed)

    regions = phonenumbers.COUNTRY_CODE_TO_REGION_CODE.get(code)
    if not regions:
        return None
    main = PhoneMetadata.metadata_for_region_or_calling_code(code, regions[0].upper())
    if main is None:
        return None
    each = [PhoneMetadata.metadata_for_region(r.upper(), None) for r in regions]
    prefix = main.national_prefix_for_parsing
    return _CallingCode(
        regions=tuple(regions),
        leading_digits=tuple(
            _pattern(m.leading_digits) if m is not None and m.leading_digits is not None else None for m in each
        ),
        has_metadata=tuple(m is not None for m in each),
        main=main,
        national_prefix=re.compile(prefix) if prefix else None,
        longest_short=max(MAX_SHORT_DIGITS, _longest_short_number_of(code)),
    )


@functools.cache
def _possible(code: int, length: int) -> bool:
    """``phonenumbers.is_possible_number`` of a number of this code whose national significant number has this many
    digits: the library tests only the length against the code's main metadata."""
    import phonenumbers  # noqa: PLC0415 (~100 ms of region metadata: on the first number parsed, off the start)

    number = phonenumbers.PhoneNumber(country_code=code, national_number=10 ** (length - 1))
    return bool(phonenumbers.is_possible_number(number))


def _region_and_type(nsn: str, code: int, facts: _CallingCode) -> tuple[str, int] | None:
    """``phonenumbers.region_code_for_number`` and ``phonenumbers.number_type`` (which finds the region again), once:
    the first region of the code whose leading digits start the number or under which it is valid. None: no region,
    or the number is invalid there (type UNKNOWN)."""
    region: str | None = None
    if len(facts.regions) == 1:
        region = facts.regions[0]
    else:
        for candidate, leading, known in zip(facts.regions, facts.leading_digits, facts.has_metadata, strict=True):
            if not known:
                continue
            if leading is not None:
                if leading.match(nsn):
                    region = candidate
                    break
            else:
                tests = _type_tests(code, candidate, len(nsn))
                line_type = tests.line_type(nsn) if tests is not None else 99
                if line_type != 99:
                    return candidate, line_type  # number_type reads the same metadata: the same answer
    tests = _type_tests(code, region, len(nsn)) if region is not None else None
    line_type = tests.line_type(nsn) if tests is not None else 99
    return (region, line_type) if region is not None and line_type != 99 else None


@functools.cache
def _valid_elsewhere(code: int, region: str, length: int) -> re.Pattern[str] | None:
    """One pattern that fully matches a national number of this length exactly when it is valid in a region of the
    code other than ``region`` (each region's two :func:`_validity_patterns` as one branch; None: no other region has
    numbers of that length)."""
    import phonenumbers  # noqa: PLC0415 (~100 ms of region metadata: on the first number parsed, off the start)

    branches: list[str] = []
    for other in phonenumbers.region_codes_for_country_code(code):
        tests = _validity_patterns(code, other, length) if other != region else None
        if tests is not None:
            branches.append(f"(?:(?=(?:{tests[0].pattern})\\Z)(?:{tests[1].pattern}))")
    return re.compile("|".join(branches)) if branches else None


def _country_of(parsed: PhoneNumber, nsn: str, code: int, region: str, regions: int) -> str:
    """:func:`_country_name` of a number valid in ``region``: the name kept for that region, unless the number is
    valid in another region of its code as well (or the name is not kept yet: _country_name then keeps it)."""
    if regions > 1:
        elsewhere = _valid_elsewhere(code, region, len(nsn))
        known = _COUNTRY_NAMES.get(region)
        if known is not None and (elsewhere is None or elsewhere.fullmatch(nsn) is None):
            return known
    return _country_name(parsed)


def _international(nsn: str, code: int, metadata: PhoneMetadata) -> str | None:
    """``format_number(…, INTERNATIONAL)`` of a number without extension: the first of the code's international
    formats (else its national ones) whose last leading-digits pattern starts the number and whose pattern matches it
    whole, applied as the library applies it (None: a format without pattern or rule, which the library would not
    survive; never in its metadata)."""
    for candidate in metadata.intl_number_format or metadata.number_format:
        leading = candidate.leading_digits_pattern
        if not leading or _pattern(leading[-1]).match(nsn):
            if not candidate.pattern or candidate.format is None:
                return None
            pattern = _pattern(candidate.pattern)
            if pattern.fullmatch(nsn):
                return f"+{code} {pattern.sub(candidate.format, nsn)}"
    return f"+{code} {nsn}"


@functools.cache
def _library() -> tuple[dict[int, tuple[str, ...]], type[PhoneNumber]]:
    """phonenumbers' calling codes and number class, imported on the first number (not at every one)."""
    from phonenumbers import COUNTRY_CODE_TO_REGION_CODE, PhoneNumber  # noqa: PLC0415 (on the first number parsed)

    return COUNTRY_CODE_TO_REGION_CODE, PhoneNumber


def parse_e164(raw: str) -> PhoneInfo | None:
    """:func:`parse_number`'s answer for a number written exactly as E.164 — ``+`` and 8-20 ASCII digits, nothing
    else — that it accepts, computed without phonenumbers' parser and with each of its tests made once; None for
    anything else (a formatted, short, emergency, impossible or invalid number, one read with a national prefix or a
    leading zero): :func:`parse_number` then answers (and refuses) as ever. The default region plays no part in
    either for such a number.

    Equal to parse_number's :class:`PhoneInfo` field by field, phonenumbers' own steps replayed with its metadata:
    ``tests/guard/test_phone_e164.py`` compares both on every region's example numbers of every type, numbers
    around them, random digits and the emulator's and tests' numbers. About 6x faster than parse_number (which
    parses, then finds the number's region three times): a 10,000-row campaign's numbers are mostly such."""
    if _E164_WRITTEN.fullmatch(raw) is None:
        return None
    codes, phone_number = _library()
    digits = raw[1:]
    # the library's _extract_country_code: the first 1-3 digits that are a calling code (no code is another's prefix)
    code = next((int(digits[:n]) for n in (1, 2, 3) if int(digits[:n]) in codes), 0)
    facts = _calling_code(code) if code else None
    if facts is None:
        return None
    nsn = digits[len(str(code)) :]
    if (
        len(nsn) > _MAX_NSN_DIGITS
        or nsn.startswith("0")  # an Italian leading zero (or a prefix to strip): phonenumbers' parser decides
        or len(nsn) <= facts.longest_short  # may be a short or emergency number: tested region by region
        or (facts.national_prefix is not None and facts.national_prefix.match(nsn))
        or not _possible(code, len(nsn))
    ):
        return None
    found = _region_and_type(nsn, code, facts)
    international = _international(nsn, code, facts.main) if found is not None else None
    if found is None or international is None:
        return None  # invalid: refused by parse_number
    region, line_type = found
    parsed = phone_number(country_code=code, national_number=int(nsn))
    return PhoneInfo(
        e164=raw,
        international=international,
        region=region,
        country=_country_of(parsed, nsn, code, region, len(facts.regions)) or "unknown country",
        line_type=_LINE_TYPES.get(line_type, "unknown"),
        line_type_code=line_type,
        time_zones=_zones(parsed, _time_zones(parsed, line_type), line_type),
        extension=None,
        country_code=code,
    )
