"""The dial request's values before anything is sent (guard/variables.py): ids in one spelling, input variables
capped and typed, hidden characters refused, and values shown so that a preview is what is sent."""

from __future__ import annotations

import pytest

from voicing_mcp.api.models import OutboundCallRequest
from voicing_mcp.errors import GuardRefusal
from voicing_mcp.guard.variables import (
    MAX_KEY_LENGTH,
    MAX_VALUE_LENGTH,
    MAX_VARIABLES,
    check_ids,
    check_sendable,
    check_variables,
    refuse_hidden_characters,
    shown_value,
)

UUID = "019addcc-b878-7b10-85f1-49f21342f947"


def refusal(variables: dict[str, object]) -> GuardRefusal:
    with pytest.raises(GuardRefusal) as info:
        check_variables(variables)
    return info.value


@pytest.mark.parametrize(
    "spelling",
    [UUID, UUID.upper(), f"{{{UUID}}}", f"urn:uuid:{UUID}", UUID.replace("-", ""), f"  {UUID}\n"],
    ids=["canonical", "upper", "braces", "urn", "no-dashes", "spaces"],
)
def test_an_assistant_id_written_as_a_uuid_in_any_spelling_is_the_canonical_uuid(spelling: str) -> None:
    assert check_ids(spelling, " default ") == (UUID, "default")


def test_an_assistant_id_that_is_not_a_uuid_is_kept_as_given_but_stripped() -> None:
    assert check_ids("  Payment-Bot ", "twilio") == ("Payment-Bot", "twilio")


def test_an_empty_assistant_or_provider_is_refused_under_its_own_rule() -> None:
    with pytest.raises(GuardRefusal) as assistant:
        check_ids("  ", "default")
    assert assistant.value.rule == "assistant"
    with pytest.raises(GuardRefusal) as provider:
        check_ids(UUID, " ")
    assert provider.value.rule == "provider"
    assert '"default"' in provider.value.message


def test_strings_numbers_and_booleans_pass_unchanged() -> None:
    values: dict[str, object] = {"name": "Ann", "amount": 12.5, "count": 3, "vip": True, "note": "two\nlines\tok"}
    assert check_variables(values) == values


def test_more_variables_than_the_cap_are_refused_saying_how_many() -> None:
    at_cap = {f"v{i}": i for i in range(MAX_VARIABLES)}
    assert check_variables(at_cap) == at_cap
    refused = refusal({f"v{i}": i for i in range(MAX_VARIABLES + 1)})
    assert refused.rule == "template-variables"
    assert f"{MAX_VARIABLES + 1} input_variables, at most {MAX_VARIABLES}" in refused.message


def test_a_name_that_is_empty_or_too_long_is_refused() -> None:
    assert check_variables({"k" * MAX_KEY_LENGTH: 1}) == {"k" * MAX_KEY_LENGTH: 1}
    for key in ("", "k" * (MAX_KEY_LENGTH + 1)):
        refused = refusal({key: 1})
        assert refused.rule == "template-variables"
        assert f"must be 1-{MAX_KEY_LENGTH} characters" in refused.message


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ([1, 2], "is a list; values must be strings, numbers or booleans"),
        ({"a": 1}, "is a dict; values must be strings, numbers or booleans"),
        (None, "is a NoneType; values must be strings, numbers or booleans"),
        (float("inf"), "is inf, a number JSON cannot carry"),
        (float("nan"), "is nan, a number JSON cannot carry"),
        ("half \ud800", "contains an unpaired surrogate"),
        ("x" * (MAX_VALUE_LENGTH + 1), f"is {MAX_VALUE_LENGTH + 1} characters, at most {MAX_VALUE_LENGTH}"),
        (10**MAX_VALUE_LENGTH, f"is a number of {MAX_VALUE_LENGTH} digits or more"),
        (-(10**4400), f"is a number of {MAX_VALUE_LENGTH} digits or more"),  # past what JSON can be written with
    ],
    ids=["list", "dict", "none", "inf", "nan", "surrogate", "too-long", "long-number", "unwritable-number"],
)
def test_a_value_that_cannot_be_sent_is_refused_naming_the_variable_and_why(value: object, says: str) -> None:
    refused = refusal({"amount": value})
    assert refused.rule == "template-variables"
    assert "'amount'" in refused.message
    assert says in refused.message


def test_a_value_at_the_length_cap_passes() -> None:
    assert check_variables({"note": "x" * MAX_VALUE_LENGTH}) == {"note": "x" * MAX_VALUE_LENGTH}
    longest = 10**MAX_VALUE_LENGTH - 1  # MAX_VALUE_LENGTH nines
    assert check_variables({"n": longest, "m": -longest}) == {"n": longest, "m": -longest}


@pytest.mark.parametrize(
    ("key", "value", "where", "code"),
    [
        ("name", "Ann \u202e0010", "value", "<U+202E> (a bidi override/isolate)"),
        ("name", "\x1b[2Kspoof", "value", "<U+001B> (a control character)"),
        ("name", "line\rover", "value", "<U+000D> (a control character)"),
        ("na\tme", "Ann", "name", "<U+0009> (a control character)"),
        ("name\u2066", "Ann", "name", "<U+2066> (a bidi override/isolate)"),
    ],
)
def test_a_control_or_bidi_override_character_is_refused_naming_the_variable_and_the_character(
    key: str, value: str, where: str, code: str
) -> None:
    with pytest.raises(GuardRefusal) as info:
        refuse_hidden_characters(key, value)
    assert info.value.rule == "control-characters"
    assert f"the {where} of input variable" in info.value.message
    assert code in info.value.message


def test_newlines_tabs_crlf_and_joiners_in_a_value_are_allowed() -> None:
    for value in ("two\nlines", "a\tb", "windows\r\nline", "👩\u200d💻", "שלום\u200f"):
        refuse_hidden_characters("note", value)  # no refusal
    assert check_variables({"note": "windows\r\nline"}) == {"note": "windows\r\nline"}


def test_a_value_is_shown_quoted_with_quotes_backslashes_and_line_breaks_visible() -> None:
    assert shown_value('say "hi"\\') == '"say \\"hi\\"\\\\"'
    assert shown_value("a\nb") == '"a<U+000A>b"'
    assert shown_value('x", other="y') == '"x\\", other=\\"y"'  # cannot fake a second variable
    assert shown_value(12.5) == "12.5"
    assert shown_value(True) == "True"


def test_a_request_json_cannot_carry_is_refused_before_anything_is_written() -> None:
    request = OutboundCallRequest(assistant_id=UUID, phone_number="+17015550100", input_variables={"n": float("nan")})
    with pytest.raises(GuardRefusal) as info:
        check_sendable(request)
    assert info.value.rule == "template-variables"
    assert info.value.message.startswith("template: input_variables cannot be sent:")
    check_sendable(OutboundCallRequest(assistant_id=UUID, phone_number="+17015550100", input_variables={"n": 1.5}))
