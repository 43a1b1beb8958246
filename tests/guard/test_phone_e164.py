"""A number written exactly as E.164 gets parse_number's answer from parse_e164, without phonenumbers' parser."""

from __future__ import annotations

import random

import phonenumbers
import pytest
from phonenumbers import PhoneNumberType

from voicing_mcp.errors import GuardRefusal
from voicing_mcp.guard.phone import PhoneInfo, check_line_type, parse_e164, parse_number

#: the emulator's fictional numbers (its scripted outcomes: 40-49 busy, 50-59 no-answer, 70-79 failed …)
EMULATOR = [f"+1{area}55501{n:02d}" for area in ("701", "212", "415", "617", "312") for n in range(100)]
#: numbers the guard's and the campaign tests dial, premium-rate, toll-free, shared-cost and UAN lines among them
TESTS = [
    "+12127365000",
    "+17018112582",
    "+919876543210",
    "+442079460000",
    "+6281234567890",
    "+19005550100",
    "+19002345678",
    "+18002345678",
    "+449012345678",
    "+445512345678",
    "+33884012345",
    "+33112345678",
    "+918123456789",
    "+4915123456789",
    "+5511961234567",
    "+61212345678",
    "+80012345678",
]
#: refused by parse_number (emergency, short, invalid, impossible, unknown code), read by phonenumbers' parser with a
#: leading zero (Italy) or without a national prefix (China's ``1[12]…``), or not plain E.164 text
NOT_ANSWERED = [
    "+1911",
    "+44999",
    "+112",
    "+1212736500",
    "+121273650001",
    "+11234567890",
    "+999123456789",
    "+441632960123",
    "+882345678901",
    "+390612345678",
    "+8613800000000",
    "+0123456789",
    "+1 212 736 5000",
    "+1-212-736-5000",
    "tel:+12127365000",
    "+12127365000x12",
    "+12127365000;ext=1",
    " +12127365000",
    "+12127365000\n",
    "12127365000",
    "+\u0661\u0662\u0661\u0662\u0667\u0663\u0666\u0665\u0660\u0660\u0660",
    "+\uff11\uff12\uff11\uff12\uff17\uff13\uff16\uff15\uff10\uff10\uff10",
    "+" + "1" * 21,
]


def _answer(raw: str, default_region: str | None) -> PhoneInfo | str:
    try:
        return parse_number(raw, default_region=default_region)
    except GuardRefusal as exc:
        return exc.rule


def _generated(seed: int = 16, around: int = 4) -> list[str]:
    """Every region's (and every non-geographic code's) example number of every type as E.164, and ``around``
    numbers near each: its last 1-6 digits redrawn, one digit fewer or more."""
    rng = random.Random(seed)
    kinds = [t for name, t in vars(PhoneNumberType).items() if name.isupper() and isinstance(t, int)]
    examples: list[str] = []
    for region in sorted(phonenumbers.SUPPORTED_REGIONS):
        for kind in kinds:
            example = phonenumbers.example_number_for_type(region, kind)
            if example is not None:
                examples.append(phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.E164))
    for code in sorted(phonenumbers.COUNTRY_CODES_FOR_NON_GEO_REGIONS):
        example = phonenumbers.example_number_for_non_geo_entity(code)
        if example is not None:
            examples.append(phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.E164))
    out = list(dict.fromkeys(examples))
    for example in examples:
        for _ in range(around):
            cut = rng.randint(1, 6)
            redrawn = "".join(rng.choice("0123456789") for _ in range(cut + rng.choice((-1, 0, 0, 1))))
            out.append(example[:-cut] + redrawn)
    return out


def test_every_number_parse_e164_answers_gets_exactly_parse_numbers_answer_whatever_the_default_region() -> None:
    sample = [*EMULATOR, *TESTS, *NOT_ANSWERED, *_generated()]
    answered = 0
    for raw in sample:
        fast = parse_e164(raw)
        if fast is None:
            continue
        answered += 1
        assert fast == _answer(raw, None) == _answer(raw, "GB"), raw
    assert answered > len(sample) // 3  # the fast path is the common case, not an exception
    assert all(parse_e164(raw) is not None for raw in [*EMULATOR, *TESTS])


def test_a_number_parse_number_refuses_or_that_is_not_plain_e164_text_is_left_to_parse_number() -> None:
    refused = [raw for raw in [*NOT_ANSWERED, *_generated(seed=17)] if isinstance(_answer(raw, None), str)]
    assert len(refused) > 200
    assert [raw for raw in refused if parse_e164(raw) is not None] == []
    assert [raw for raw in NOT_ANSWERED if parse_e164(raw) is not None] == []


@pytest.mark.parametrize(
    ("raw", "line_type"),
    [("+19002345678", "premium-rate"), ("+449012345678", "premium-rate"), ("+33884012345", "shared-cost")],
)
def test_a_premium_rate_or_shared_cost_line_answered_by_parse_e164_is_still_refused(raw: str, line_type: str) -> None:
    info = parse_e164(raw)
    assert info is not None and info.line_type == line_type
    with pytest.raises(GuardRefusal) as refused:
        check_line_type(info)
    assert refused.value.rule == "line-type"
