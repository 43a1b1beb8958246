from __future__ import annotations

import pytest

from voicing_mcp.config.loading import load_settings
from voicing_mcp.errors import ConfigError


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        ("VOICING_STRICT_TEMPLATES", "maybe", "VOICING_STRICT_TEMPLATES: Input should be a valid boolean"),
        (
            "VOICING_CONFIRMATION",
            "maybe",
            "VOICING_CONFIRMATION: Input should be 'human' or 'token' (or leave it unset)",
        ),
        ("VOICING_CONFIRM_PORT", "99999", "VOICING_CONFIRM_PORT: Input should be less than or equal to 65535"),
        ("VOICING_CONFIRM_PORT", "auto", "(use a whole number such as 30)"),
        ("VOICING_MAX_CALLS_PER_HOUR", "ten", "VOICING_MAX_CALLS_PER_HOUR: Input should be a valid integer"),
        ("VOICING_MAX_CALLS_PER_HOUR", "ten", "(use a whole number such as 30)"),
        ("VOICING_ENV", "prod", "'local', 'development', 'sandbox' or 'production' (or leave it unset)"),
    ],
)
def test_a_bad_flag_number_or_env_says_what_to_write_instead(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, expected: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigError) as info:
        load_settings()
    assert expected in str(info.value)
    if variable == "VOICING_STRICT_TEMPLATES":
        assert "(use true or false)" in str(info.value)


def test_every_bad_setting_is_one_line_of_one_error_naming_the_variable_and_never_its_value(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("VOICING_CONFIRM_PORT", "port-4321-x")
    monkeypatch.setenv("VOICING_MAX_CALLS_PER_HOUR", "lots-7731")
    monkeypatch.setenv("VOICING_CONFIRMATION", "whenever-9913")
    with pytest.raises(ConfigError) as info:
        load_settings()
    text = str(info.value)
    lines = text.splitlines()
    assert lines[0] == "invalid settings:"
    named = sorted(line.strip().split(":")[0] for line in lines[1:])
    assert named == ["VOICING_CONFIRMATION", "VOICING_CONFIRM_PORT", "VOICING_MAX_CALLS_PER_HOUR"]
    assert not any(value in text for value in ("port-4321-x", "lots-7731", "whenever-9913"))
    assert "Value error, " not in text and "pydantic" not in text


def test_keyword_overrides_are_validated_like_the_environment() -> None:
    assert load_settings(max_calls_per_hour=7).max_calls_per_hour == 7
    with pytest.raises(ConfigError, match=r"VOICING_MAX_CALLS_PER_HOUR: Input should be a valid integer"):
        load_settings(max_calls_per_hour="seven")
