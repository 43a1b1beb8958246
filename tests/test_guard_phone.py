"""Phone number rules of the dial guard, each both ways."""

from __future__ import annotations

from pathlib import Path

import pytest

from voicing_mcp.errors import GuardRefusal
from voicing_mcp.guard.phone import (
    DoNotCallList,
    check_country,
    check_fictional,
    check_line_type,
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
    import phonenumbers

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
    import os

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


def test_allowed_numbers_match_exactly_or_by_prefix() -> None:
    assert matches_allowed("+17015550123", ["+17015550123"])
    assert matches_allowed("+17015550123", ["+1701*"])
    assert not matches_allowed("+17015550124", ["+17015550123", "+1702*"])
    assert not matches_allowed("+17015550123", [])
