"""Phone number rules of the dial guard, each both ways."""

from __future__ import annotations

import os
import random
import re
import re._parser as sre_parse  # pyright: ignore[reportMissingImports]
from datetime import UTC, datetime
from pathlib import Path

import phonenumbers
import pytest

from guard_support import check
from tests.guard.test_policy import PAYMENT, make_guard, refused
from voicing_mcp.errors import GuardRefusal
from voicing_mcp.guard.dnc import DoNotCallList
from voicing_mcp.guard.phone import (
    _LINE_TYPES,  # pyright: ignore[reportPrivateUsage]
    TEL_URI,
    PhoneInfo,
    _may_be_emergency,  # pyright: ignore[reportPrivateUsage]
    check_country,
    check_fictional,
    check_line_type,
    country_zones,
    longest_short_number,
    matches_allowed,
    parse_number,
)


def refusal(raw: str, region: str | None = None) -> GuardRefusal:
    with pytest.raises(GuardRefusal) as info:
        parse_number(raw, default_region=region)
    return info.value


def test_international_number_is_normalised_to_e164_with_zones() -> None:
    info = parse_number("+1 (701) 811-2582", default_region=None)
    assert info.e164 == "+17018112582"
    assert info.region == "US"
    assert info.country == "United States"
    assert info.line_type == "fixed line or mobile"
    assert "America/North_Dakota/Center" in info.time_zones
    assert info.masked == "+1 701 ••• ••82"


def test_national_format_without_default_region_is_refused_with_a_hint() -> None:
    err = refusal("(701) 811-2582")
    assert err.rule == "number-format"
    assert "VOICING_DEFAULT_REGION" in str(err) and "+country" in str(err)


def test_national_format_with_default_region_is_read() -> None:
    assert parse_number("(701) 811-2582", default_region="US").e164 == "+17018112582"
    assert parse_number("020 7946 0000", default_region="GB").e164 == "+442079460000"


@pytest.mark.parametrize(
    ("raw", "region"), [("911", "US"), ("911", None), ("112", "GB"), ("999", None), ("+1 911", None)]
)
def test_emergency_numbers_are_refused(raw: str, region: str | None) -> None:
    err = refusal(raw, region)
    assert err.rule == "emergency-number"
    assert "emergency" in str(err)


@pytest.mark.parametrize(("raw", "region"), [("611", "US"), ("22222", "US"), ("+1 611", None)])
def test_short_numbers_are_refused(raw: str, region: str | None) -> None:
    err = refusal(raw, region)
    assert err.rule == "short-number"
    assert "complete number" in str(err)


def test_impossible_and_invalid_numbers_are_refused() -> None:
    assert "not a possible number" in str(refusal("+1 701 811 25"))
    assert "not a valid number" in str(refusal("+1 099 811 2582"))
    assert refusal("call me maybe").rule == "number"
    assert refusal("   ").rule == "number"


@pytest.mark.parametrize(
    ("raw", "kind"), [("+19005551234", "premium-rate"), ("+448712345678", "premium-rate"), ("+448431234567", "shared")]
)
def test_premium_rate_and_shared_cost_lines_are_refused(raw: str, kind: str) -> None:
    with pytest.raises(GuardRefusal) as info:
        check_line_type(parse_number(raw, default_region=None))
    assert info.value.rule == "line-type"
    assert kind in str(info.value)


def test_uan_lines_are_refused() -> None:
    example = phonenumbers.example_number_for_type("AR", phonenumbers.PhoneNumberType.UAN)
    assert example is not None
    e164 = phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.E164)
    info = parse_number(e164, default_region=None)
    with pytest.raises(GuardRefusal, match="UAN"):
        check_line_type(info)


def test_ordinary_mobile_and_toll_free_lines_pass() -> None:
    check_line_type(parse_number("+447400123456", default_region=None))
    toll_free = parse_number("+18005551234", default_region=None)
    check_line_type(toll_free)
    assert toll_free.line_type == "toll-free"
    assert len(toll_free.time_zones) > 5


# ----- time zones: a number whose prefix does not say where the phone is spans its whole country ---------
# 12:30 UTC: 19:30 in Jakarta (UTC+7), 20:30 in Makassar (UTC+8), 21:30 in Jayapura (UTC+9)
EVENING_IN_JAKARTA = datetime(2026, 5, 4, 12, 30, tzinfo=UTC)


async def test_an_indonesian_mobile_is_refused_when_it_is_night_in_jayapura_though_evening_in_jakarta(
    tmp_path: Path,
) -> None:
    mobile = parse_number("+62 812 345 678", default_region=None)
    assert mobile.line_type == "mobile"
    assert mobile.time_zones == ("Asia/Jakarta", "Asia/Jayapura", "Asia/Makassar")  # phonenumbers: Jakarta only
    err = await refused(make_guard(tmp_path, EVENING_IN_JAKARTA), phone_number="+62 812 345 678")
    assert err.rule == "quiet-hours"
    assert "21:30 in Asia/Jayapura" in str(err)
    # a Jakarta landline is where its area code says: 19:30 there, it may be called
    landline = parse_number("+62 21 8350123", default_region=None)
    assert landline.time_zones == ("Asia/Jakarta",)
    decision = await check(
        make_guard(tmp_path / "b", EVENING_IN_JAKARTA),
        assistant_id=PAYMENT,
        phone_number="+62 21 8350123",
        input_variables={"name": "Ann", "plan_type": "Gold"},
    )
    assert decision.preview.callee_local_time == "Mon 19:30 (Asia/Jakarta)"


@pytest.mark.parametrize("region", ["ID", "FM", "AU", "RU", "KZ", "MN", "CD", "KI", "EC", "PT", "ES", "PF", "NZ"])
def test_a_mobile_in_a_country_of_several_time_zones_spans_all_of_them(region: str) -> None:
    example = phonenumbers.example_number_for_type(region, phonenumbers.PhoneNumberType.MOBILE)
    assert example is not None
    info = parse_number(phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.E164), default_region=None)
    assert info.line_type in ("mobile", "fixed line or mobile")
    zones = country_zones(example.country_code or 0)
    assert len(zones) > 1
    assert set(info.time_zones) == set(zones)


@pytest.mark.parametrize(
    ("number", "zones"),
    [
        ("+17018112582", ("America/Denver", "America/North_Dakota/Center")),  # US: by area code, mobile or not
        ("+15062345678", ("America/Halifax",)),  # Canada (New Brunswick)
        ("+5511961234567", ("America/Sao_Paulo",)),  # a Brazilian mobile carries its area code (11)
        ("+522221234567", ("America/Mexico_City",)),  # Mexico (Puebla)
        ("+61212345678", ("Australia/Sydney",)),  # an Australian landline
        ("+351212345678", ("Europe/Lisbon",)),  # a Lisbon landline, not the Azores
    ],
)
def test_a_geographic_number_keeps_the_zone_of_its_area_code(number: str, zones: tuple[str, ...]) -> None:
    assert parse_number(number, default_region=None).time_zones == zones


def test_fictional_range_is_refused_outside_local_mode_and_allowed_in_it() -> None:
    info = parse_number("+1 701 555 0123", default_region=None)
    assert info.fictional
    with pytest.raises(GuardRefusal) as err:
        check_fictional(info, local=False)
    assert err.value.rule == "fictional-number"
    assert "local mode" in str(err.value)
    check_fictional(info, local=True)
    check_fictional(parse_number("+17015550200", default_region=None), local=False)  # 0200 is not fictional


def test_countries_outside_the_allowed_list_are_refused() -> None:
    info = parse_number("+442079460000", default_region=None)
    with pytest.raises(GuardRefusal) as err:
        check_country(info, ["US", "CA"])
    assert err.value.rule == "country"
    assert "GB" in str(err.value) and "VOICING_ALLOWED_COUNTRIES" in str(err.value)
    check_country(info, ["US", "GB"])
    check_country(info, [])


def test_do_not_call_file_blocks_listed_numbers_in_any_format(tmp_path: Path) -> None:
    dnc = tmp_path / "dnc.txt"
    dnc.write_text(
        "# do not call\n+1 701-811-2582\n(212) 555-0199  # national, read with the region\n", encoding="utf-8"
    )
    lst = DoNotCallList(dnc, default_region="US")
    with pytest.raises(GuardRefusal) as err:
        lst.check(parse_number("+17018112582", default_region=None))
    assert err.value.rule == "do-not-call"
    assert "+1 701 ••• ••82" in str(err.value)
    with pytest.raises(GuardRefusal):
        lst.check(parse_number("+12125550199", default_region=None))
    lst.check(parse_number("+17018112583", default_region=None))


def test_do_not_call_file_is_reloaded_and_fails_closed(tmp_path: Path) -> None:
    dnc = tmp_path / "dnc.txt"
    dnc.write_text("", encoding="utf-8")
    lst = DoNotCallList(dnc, default_region=None)
    number = parse_number("+17018112582", default_region=None)
    lst.check(number)
    dnc.write_text("+17018112582\n", encoding="utf-8")
    st = dnc.stat()
    os.utime(dnc, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
    with pytest.raises(GuardRefusal):
        lst.check(number)
    dnc.unlink()
    with pytest.raises(GuardRefusal, match="cannot be read"):
        lst.check(number)
    DoNotCallList(None, default_region=None).check(number)


# ----- the do-not-call file: every line is read or the list refuses every dial -------------------------
def dnc_list(tmp_path: Path, text: str, region: str | None = None) -> DoNotCallList:
    path = tmp_path / "dnc.txt"
    path.write_text(text, encoding="utf-8")
    return DoNotCallList(path, default_region=region)


def is_blocked(lst: DoNotCallList, number: str) -> bool:
    try:
        lst.check(parse_number(number, default_region=None))
    except GuardRefusal as err:
        assert err.rule == "do-not-call", err
        return True
    return False


def file_refusal(lst: DoNotCallList, number: str = "+12125550123") -> GuardRefusal:
    """The refusal every dial gets while the file cannot be used (any number, listed or not)."""
    with pytest.raises(GuardRefusal) as err:
        lst.check(parse_number(number, default_region=None))
    assert err.value.rule == "do-not-call-file", err.value
    return err.value


@pytest.mark.parametrize(
    ("line", "listed"),
    [
        ("+17018112582,John Smith", ["+17018112582"]),
        ("+17018112583\tJane Doe", ["+17018112583"]),
        ("+17018112584;+17025550100", ["+17018112584", "+17025550100"]),
        ("+17018112584|+17025550100", ["+17018112584", "+17025550100"]),
        ("+17018112584 +17025550100", ["+17018112584", "+17025550100"]),
        ('"+1 (701) 811-2582","Smith, John",2 calls', ["+17018112582"]),
        ("tel:+1-701-811-2582;ext=12", ["+17018112582"]),
        ("+1 701 811 2582 ext. 12\tfront desk", ["+17018112582"]),
        ("+17018112582,asked on 2024-01-05 10:30 (ticket 4411)", ["+17018112582"]),
        ("\uff0b1 701\u2013811\u20132582,pasted from a document", ["+17018112582"]),  # full-width +, en dashes
    ],
)
@pytest.mark.parametrize("region", [None, "US"])
def test_a_do_not_call_line_with_notes_or_several_numbers_blocks_each_of_its_numbers(
    tmp_path: Path, line: str, listed: list[str], region: str | None
) -> None:
    lst = dnc_list(tmp_path, f"# exported from the CRM\n{line}\n", region)
    assert sorted(lst.load().e164) == listed
    for number in listed:
        assert is_blocked(lst, number), number
    assert not is_blocked(lst, "+17018112599")


def test_a_note_in_letters_is_never_read_as_a_vanity_number(tmp_path: Path) -> None:
    # phonenumbers reads letters as keypad digits: 'Jane Doe' after a number made +170181125835263363 (so the
    # listed number was not blocked), and '+1 701 FLOWERS' is the valid +17013569377
    lst = dnc_list(tmp_path, "+17018112583\tJane Doe\n+17018112584,FLOWERS\n")
    entries = lst.load()
    assert entries.e164 == {"+17018112583", "+17018112584"}
    assert entries.national == frozenset()
    assert not is_blocked(lst, "+17013569377")
    err = file_refusal(dnc_list(tmp_path, "+17018112582\n+1 701 FLOWERS\n"), "+17013569377")
    assert "line 2 '+1 701 FLOWERS': column 1 is a note (it has letters) but holds what looks like a phone" in str(err)


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("+17018112582\ncall Jane back\n", "line 2 'call Jane back': no phone number on this line"),
        (
            "+17018112582 John Smith\n",
            "line 1 '+1 701 ••• ••82 John Smith': column 1 is a note (it has letters) but holds what looks like a "
            "phone number; give the number a column of its own",
        ),
        ("+17018112582\n# ok\n+1 701 811 258\n", "line 3 '+1 701 ••• •58': column 1 is not a valid phone number"),
        ("+1 099 811 2582,Bob\n", "line 1 '+1 099 ••• ••82,Bob': column 1 is not a valid phone number"),
        ("+17018112582*\n", "line 1 '+1 701 ••• ••82*': column 1 has digits but is not written as a phone number"),
        ("+17018112582John\n", "line 1 '+1 701 ••• ••82John': column 1 is a note"),
        ("+17018112582,John\nname,reason\n", "line 2 'name,reason': no phone number on this line"),
        ("name,reason\n+17018112582\n", "line 1 'name,reason': no phone number on this line"),
        ("12\n", "line 1 '12': column 1 has 2 digits, too few or too many"),
        (
            "+17018112582,John's other phone +17018112583\n",
            "line 1 '+1 701 ••• ••82,John's other phone +1 701 ••• ••83': column 2 is a note (it has letters) but "
            "holds what looks like a phone number",
        ),
        ("+17018112582,office (701) 811-2583\n", "column 2 is a note (it has letters) but holds what looks like"),
        ("+17018112582 x12 +17025550100\n", "column 1 is a note (it has letters) but holds what looks like"),
    ],
)
def test_a_line_from_which_no_valid_number_can_be_read_refuses_every_dial_and_names_the_line(
    tmp_path: Path, text: str, named: str
) -> None:
    lst = dnc_list(tmp_path, text)
    for number in ("+17018112582", "+12125550123"):  # listed or not: nobody is dialled
        err = file_refusal(lst, number)
        assert named in str(err)
        assert str(tmp_path / "dnc.txt") in str(err)
        assert "7018112582" not in str(err).replace("+17018112582,John", "")  # numbers in the line are masked


def test_a_national_entry_that_is_not_valid_in_the_default_region_refuses_every_dial(tmp_path: Path) -> None:
    lst = dnc_list(tmp_path, "(701) 811-2582\n07911 123456\n", region="US")
    err = file_refusal(lst)
    assert "line 2" in str(err) and "not a valid phone number in VOICING_DEFAULT_REGION=US" in str(err)
    assert "line 1" not in str(err)


def test_a_header_row_is_skipped_only_as_the_first_line_naming_the_phone_column(tmp_path: Path) -> None:
    lst = dnc_list(tmp_path, "\ufeffPhone Number,Name,Added\n+17018112582,John,\n")  # Excel's CSV, with a BOM
    assert lst.load().e164 == {"+17018112582"}
    assert lst.load().numbers == 1
    assert is_blocked(lst, "+17018112582")


def test_a_do_not_call_file_change_that_keeps_its_size_and_mtime_is_seen(tmp_path: Path) -> None:
    path = tmp_path / "dnc.txt"
    path.write_text("+17018112582\n", encoding="utf-8")
    lst = DoNotCallList(path, default_region=None)
    assert is_blocked(lst, "+17018112582") and not is_blocked(lst, "+17018112583")
    before = path.stat()
    path.write_text("+17018112583\n", encoding="utf-8")  # same length
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    after = path.stat()
    assert (after.st_size, after.st_mtime_ns) == (before.st_size, before.st_mtime_ns)
    assert is_blocked(lst, "+17018112583") and not is_blocked(lst, "+17018112582")
    path.write_text("+17018112583\nJohn!\n", encoding="utf-8")  # broken, then fixed: both seen at once
    file_refusal(lst)
    path.write_text("+17018112583\n#John\n", encoding="utf-8")
    assert is_blocked(lst, "+17018112583") and not is_blocked(lst, "+17018112582")


def test_an_unreadable_do_not_call_file_refuses_every_dial(tmp_path: Path) -> None:
    (tmp_path / "folder").mkdir()
    (tmp_path / "latin1.txt").write_bytes("+17018112582,Jos\xe9\n".encode("latin-1"))
    for name, why in [
        ("missing.txt", "FileNotFoundError"),
        ("folder", "it is a folder"),
        ("latin1.txt", "it is not UTF-8 text"),
    ]:
        err = file_refusal(DoNotCallList(tmp_path / name, default_region=None))
        assert f"{tmp_path / name} cannot be read ({why}" in str(err)
        assert "unset VOICING_DNC_FILE" in str(err)


def test_national_entries_without_a_region_are_counted_for_the_check_warning(tmp_path: Path) -> None:
    # 0044… is read as +44… too (and checked), so only the first entry is unchecked digits
    lst = dnc_list(tmp_path, "(701) 811-2582\n+17018112583\n0044 7911 123456\n")
    entries = lst.load()
    assert (entries.numbers, entries.national_without_region) == (3, 1)
    assert is_blocked(lst, "+17018112582") and is_blocked(lst, "+447911123456")


def test_allowed_numbers_match_exactly_or_by_prefix() -> None:
    assert matches_allowed("+17015550123", ["+17015550123"])
    assert matches_allowed("+17015550123", ["+1701*"])
    assert not matches_allowed("+17015550124", ["+17015550123", "+1702*"])
    assert not matches_allowed("+17015550123", [])


# ----- the fast path (short-number bound, cached names and zones) answers as phonenumbers' full tests did -----


def _reference_parse(raw: str, default_region: str | None) -> PhoneInfo | str:
    """parse_number as it was before the fast path (every region's emergency test, the library's country name and
    time zones): the accepted number, or the refused rule."""
    from phonenumbers import geocoder, shortnumberinfo, timezone  # noqa: PLC0415 (the reference only)

    if not any(ch.isdigit() for ch in raw or ""):
        return "number"
    given = raw
    raw = TEL_URI.sub("", raw)
    cleaned = re.sub(r"[\s().\-/]", "", raw.strip())
    international = cleaned.startswith("+")
    digits = cleaned.lstrip("+")
    if digits.isdigit():
        candidates: list[tuple[str, str]] = []
        parsed_ok = True
        if international:
            try:
                short_parsed = phonenumbers.parse(cleaned, None)
            except phonenumbers.NumberParseException:
                parsed_ok = False
            else:
                nsn = phonenumbers.national_significant_number(short_parsed)
                codes = phonenumbers.region_codes_for_country_code(short_parsed.country_code or 0)
                candidates.extend((nsn, r) for r in codes)
        else:
            codes = [default_region] if default_region else list(shortnumberinfo.SUPPORTED_SHORT_REGIONS)
            candidates.extend((digits, r) for r in codes)
        if parsed_ok:
            if any(shortnumberinfo.is_emergency_number(n, r) for n, r in candidates):
                return "emergency-number"
            if any(len(n) <= 6 for n, _ in candidates) or (not international and len(digits) <= 6):
                return "short-number"
    if not international and default_region is None:
        return "number-format"
    try:
        parsed = phonenumbers.parse(given, None if international else default_region)
    except phonenumbers.NumberParseException:
        return "number"
    if not phonenumbers.is_possible_number(parsed) or not phonenumbers.is_valid_number(parsed):
        return "number"
    code = int(phonenumbers.number_type(parsed))
    zones = tuple(z for z in timezone.time_zones_for_number(parsed) if z != "Etc/Unknown")
    mobile = phonenumbers.number_type(parsed) in (1, 2)
    if not zones or (mobile and (parsed.country_code or 0) not in {1, 52, 54, 55, 86}):
        zones = country_zones(parsed.country_code or 0) or zones or ("UTC",)
    return PhoneInfo(
        e164=phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164),
        international=phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.INTERNATIONAL),
        region=phonenumbers.region_code_for_number(parsed) or "ZZ",
        country=geocoder.country_name_for_number(parsed, "en") or "unknown country",
        line_type=_LINE_TYPES.get(code, "unknown"),
        line_type_code=code,
        time_zones=zones,
        extension=parsed.extension or None,
        country_code=parsed.country_code or 0,
    )


def _outcome(raw: str, default_region: str | None) -> PhoneInfo | str:
    try:
        return parse_number(raw, default_region=default_region)
    except GuardRefusal as exc:
        return exc.rule


def _sample_numbers() -> list[tuple[str, str | None]]:
    """(raw, default region): every region's example number of every type, every region's short and emergency
    examples (national, and with the country code), and random digit strings of every length from 1 to 15."""
    from phonenumbers import PhoneMetadata, PhoneNumberType, shortnumberinfo  # noqa: PLC0415

    rng = random.Random(16)
    out: list[tuple[str, str | None]] = []
    types = [t for name, t in vars(PhoneNumberType).items() if name.isupper() and isinstance(t, int)]
    for region in sorted(phonenumbers.SUPPORTED_REGIONS):
        for kind in types:
            example = phonenumbers.example_number_for_type(region, kind)
            if example is not None:
                e164 = phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.E164)
                national = phonenumbers.national_significant_number(example)
                out += [(e164, None), (national, region), (e164[:-2], None), (e164 + "9", None)]
    for region in sorted(shortnumberinfo.SUPPORTED_SHORT_REGIONS):
        metadata = PhoneMetadata.short_metadata_for_region(region)
        assert metadata is not None
        code = phonenumbers.country_code_for_region(region)
        for desc in (metadata.emergency, metadata.short_code, metadata.toll_free, metadata.standard_rate):
            example = desc.example_number if desc is not None else None
            if example:
                out += [(example, region), (example, None), (f"+{code}{example}", None), (f"+{code} {example}", "US")]
    codes = sorted(phonenumbers.COUNTRY_CODE_TO_REGION_CODE)
    for length in range(1, 16):
        for _ in range(40):
            digits = "".join(rng.choice("0123456789") for _ in range(length))
            out += [(f"+{rng.choice(codes)}{digits}", None), (digits, rng.choice(["US", "GB", "IN", "DE"]))]
    return out


def test_the_fast_path_refuses_and_accepts_exactly_what_the_full_region_by_region_checks_did() -> None:
    sample = _sample_numbers()
    assert len(sample) > 5000
    got = [_outcome(raw, region) for raw, region in sample]  # once: ~0.3 ms a number (three passes took ~9 s)
    differ = [(raw, region) for (raw, region), o in zip(sample, got, strict=True) if o != _reference_parse(raw, region)]
    assert differ == []
    outcomes = {o if isinstance(o, str) else "accepted" for o in got}
    assert {"accepted", "emergency-number", "short-number", "number"} <= outcomes  # every path was taken
    for (raw, _), info in zip(sample, got, strict=True):  # the national number read off E.164 is the one it parses to
        if isinstance(info, PhoneInfo):
            again = phonenumbers.parse(info.e164, None)
            assert info.national_number == phonenumbers.national_significant_number(again), raw


def test_no_emergency_number_is_longer_than_the_short_number_bound_of_its_region() -> None:
    """The bound the emergency test is skipped by holds for every pattern: no match is longer than it."""
    from phonenumbers import PhoneMetadata, shortnumberinfo  # noqa: PLC0415

    for region in sorted(shortnumberinfo.SUPPORTED_SHORT_REGIONS):
        metadata = PhoneMetadata.short_metadata_for_region(region)
        assert metadata is not None
        if metadata.emergency is not None and metadata.emergency.national_number_pattern:
            widest = sre_parse.parse(metadata.emergency.national_number_pattern).getwidth()[1]
            assert widest <= longest_short_number(region), region
    assert longest_short_number("US") == 6


def test_a_long_number_is_tested_as_an_emergency_number_exactly_as_phonenumbers_does() -> None:
    from phonenumbers import shortnumberinfo  # noqa: PLC0415

    rng = random.Random(7)
    for region in sorted(shortnumberinfo.SUPPORTED_SHORT_REGIONS):
        for length in (3, 4, 6, 8, 12):
            number = "".join(rng.choice("0123456789") for _ in range(length))
            for candidate in (number, "112", "911", "112" + number, "٩١١"):
                assert _may_be_emergency(candidate, region) == shortnumberinfo.is_emergency_number(candidate, region)
