"""The do-not-call file (``guard/dnc.py``): every line is read as the number it can only mean, or the list
refuses every dial naming the line; never a silent non-match."""

from __future__ import annotations

from pathlib import Path

import phonenumbers
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from voicing_mcp.errors import GuardRefusal
from voicing_mcp.guard.dnc import DoNotCallList
from voicing_mcp.guard.phone import parse_number


def dnc_list(path: Path, text: str, region: str | None = None) -> DoNotCallList:
    path.write_text(text, encoding="utf-8")
    return DoNotCallList(path, default_region=region)


def refusal_rule(lst: DoNotCallList, number: str) -> str | None:
    """The rule that refuses dialling ``number`` with this list (None: the list lets it through)."""
    try:
        lst.check(parse_number(number, default_region=None))
    except GuardRefusal as err:
        return err.rule
    return None


@pytest.mark.parametrize("region", [None, "US", "GB"])
@pytest.mark.parametrize("line", ["17018112582.0", "+17018112582.0", "7018112582.0", "17018112582.00,John Smith"])
def test_a_number_a_spreadsheet_wrote_as_a_decimal_blocks_the_number_it_means(
    tmp_path: Path, line: str, region: str | None
) -> None:
    """A float column exported as text (pandas writes ``17018112582.0`` when the column has a gap): the ``.0`` is
    no digit of the number. Read with it, the line was 12 digits matching no dial while the file was 'read'."""
    lst = dnc_list(tmp_path / "dnc.txt", f"{line}\n", region)
    assert refusal_rule(lst, "+17018112582") == "do-not-call"


@pytest.mark.parametrize("line", ["17018112582", "1-701-811-2582", "1 (701) 811-2582", "1.701.811.2582"])
@pytest.mark.parametrize("region", [None, "US", "GB", "CN"])
def test_an_eleven_digit_line_starting_with_1_blocks_the_nanp_number_it_means(
    tmp_path: Path, line: str, region: str | None
) -> None:
    lst = dnc_list(tmp_path / "dnc.txt", f"{line},John Smith\n", region)
    assert refusal_rule(lst, "+17018112582") == "do-not-call"
    assert refusal_rule(lst, "+17018112583") is None
    entries = lst.load()
    assert "+17018112582" in entries.e164
    assert (entries.numbers, entries.read_as_nanp, entries.national_without_region) == (1, 1, 0)


def test_an_eleven_digit_line_that_is_also_a_number_of_the_default_region_blocks_both(tmp_path: Path) -> None:
    # 170 1811 2582 is a valid Chinese mobile number as well: both meanings are blocked
    lst = dnc_list(tmp_path / "dnc.txt", "17018112582\n", "CN")
    assert refusal_rule(lst, "+17018112582") == "do-not-call"
    assert refusal_rule(lst, "+8617018112582") == "do-not-call"


@pytest.mark.parametrize(
    ("line", "number"),
    [
        ("447911123456", "+447911123456"),  # the country code without '+'
        ("8 916 123-45-67", "+79161234567"),  # Russia's trunk prefix 8
        ("06 30 123 4567", "+36301234567"),  # Hungary's trunk prefix 06
        ("07911 123456", "+447911123456"),  # the trunk 0
        ("7018112582", "+17018112582"),  # the national number alone
    ],
)
def test_a_national_entry_without_a_region_blocks_the_number_however_its_country_writes_it(
    tmp_path: Path, line: str, number: str
) -> None:
    lst = dnc_list(tmp_path / "dnc.txt", f"{line}\n")
    assert refusal_rule(lst, number) == "do-not-call"
    assert refusal_rule(lst, "+12125550123") is None


def test_an_eleven_digit_line_starting_with_1_that_is_no_nanp_number_is_kept_as_digits(tmp_path: Path) -> None:
    # 11234567890: area code 123 does not exist; read as digits (blocks them in every country), not as +1
    lst = dnc_list(tmp_path / "dnc.txt", "11234567890\n13812345678\n")
    entries = lst.load()
    assert (entries.read_as_nanp, entries.national_without_region) == (0, 2)
    assert refusal_rule(lst, "+8613812345678") == "do-not-call"


NANP_AREAS = ["201", "212", "305", "415", "416", "604", "617", "701", "702", "808"]


def nanp_formats(area: str, exchange: str, line: str) -> list[str]:
    """The ways a CRM, a spreadsheet or a person writes one NANP number, with and without the +1 or the 1."""
    bodies = [
        f"{area}{exchange}{line}",
        f"{area} {exchange} {line}",
        f"{area}-{exchange}-{line}",
        f"{area}.{exchange}.{line}",
        f"({area}) {exchange}-{line}",
        f"({area}){exchange}-{line}",
        f"{area}/{exchange}-{line}",
    ]
    prefixes = ["+1", "+1 ", "1", "1 ", "1-", "1.", ""]
    return [prefix + body for prefix in prefixes for body in bodies]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    area=st.sampled_from(NANP_AREAS),
    exchange=st.from_regex(r"[2-9][0-9]{2}", fullmatch=True),
    line=st.from_regex(r"[0-9]{4}", fullmatch=True),
    region=st.sampled_from([None, "US", "CA", "GB", "IN"]),
)
def test_every_common_spelling_of_a_listed_nanp_number_blocks_it_or_refuses_every_dial(
    tmp_path: Path, area: str, exchange: str, line: str, region: str | None
) -> None:
    e164 = f"+1{area}{exchange}{line}"
    assume(phonenumbers.is_valid_number(phonenumbers.parse(e164, None)))
    assume(not exchange.endswith("11"))  # N11 codes are service numbers
    for index, spelling in enumerate(nanp_formats(area, exchange, line)):
        lst = dnc_list(tmp_path / f"dnc-{index}.txt", f"{spelling},Listed Person\n", region)
        rule = refusal_rule(lst, e164)
        with_country = spelling.startswith(("+", "1"))
        if with_country or region in (None, "US", "CA"):
            # the +1 or the trunk 1 says which number it is; without them, the region or the digits do
            assert rule == "do-not-call", (spelling, region, rule)
        else:
            # a ten-digit US number read in GB or IN is no valid number there: nobody is dialled until fixed
            assert rule in ("do-not-call", "do-not-call-file"), (spelling, region, rule)
