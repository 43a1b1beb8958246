from __future__ import annotations

from datetime import time

import pytest

from voicing_mcp.config import load_settings
from voicing_mcp.config.parsing import is_loopback_url, parse_quiet_hours, secret_problem
from voicing_mcp.errors import ConfigError


def test_bad_quiet_hours_names_the_variable_and_the_part(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VOICING_QUIET_HOURS", "25:00-08:00")
    with pytest.raises(ConfigError) as info:
        load_settings()
    assert "VOICING_QUIET_HOURS" in str(info.value)
    assert "hour 25" in str(info.value)


def test_lists_and_regions_are_parsed_and_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VOICING_ALLOWED_NUMBERS", "+17015550123, +1701*")
    monkeypatch.setenv("VOICING_ALLOWED_COUNTRIES", "us,ca")
    monkeypatch.setenv("VOICING_QUIET_HOURS", "off")
    s = load_settings()
    assert s.allowed_numbers == ["+17015550123", "+1701*"]
    assert s.allowed_countries == ["US", "CA"]
    assert s.quiet_hours is None
    monkeypatch.setenv("VOICING_ALLOWED_COUNTRIES", "US,XX")
    with pytest.raises(ConfigError, match=r"VOICING_ALLOWED_COUNTRIES.*'XX'"):
        load_settings()


def test_quiet_window_wraps_midnight() -> None:
    q = parse_quiet_hours("21:00-08:00")
    assert q is not None
    assert q.contains(time(22, 14)) and q.contains(time(7, 59)) and not q.contains(time(8, 0))
    assert not q.contains(time(12, 0))


def test_the_per_number_cap_defaults_to_three_a_day_and_reads_n_per_hours(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("VOICING_MAX_CALLS_PER_NUMBER", raising=False)
    assert str(load_settings().max_calls_per_number) == "3/24h"
    monkeypatch.setenv("VOICING_MAX_CALLS_PER_NUMBER", " 1 / 48H ")
    cap = load_settings().max_calls_per_number
    assert (cap.calls, cap.window.total_seconds()) == (1, 48 * 3600)


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ("3", "'3' is not of the form N/<hours>h, e.g. 3/24h"),
        ("3/24", "'3/24' is not of the form N/<hours>h"),
        ("three/24h", "'three/24h' is not of the form N/<hours>h"),
        ("0/24h", "'0/24h': the number of calls must be at least 1"),
        ("3/0h", "'3/0h': the window must be 1-720 hours"),
        ("3/1000h", "'3/1000h': the window must be 1-720 hours"),
    ],
)
def test_a_bad_per_number_cap_is_named_with_the_form_to_write(
    monkeypatch: pytest.MonkeyPatch, value: str, says: str
) -> None:
    monkeypatch.setenv("VOICING_MAX_CALLS_PER_NUMBER", value)
    with pytest.raises(ConfigError) as info:
        load_settings()
    assert f"VOICING_MAX_CALLS_PER_NUMBER: {says}" in str(info.value)


@pytest.mark.parametrize(
    ("url", "loopback"),
    [
        ("http://127.0.0.1:8000", True),
        ("http://127.8.9.10", True),
        ("http://[::1]:9000/x", True),
        ("http://LocalHost.", True),
        ("http://127.0.0.1.evil.example", False),
        ("https://api.voicing.ai", False),
        ("http://[not-an-address", False),
    ],
)
def test_only_this_machine_is_loopback(url: str, loopback: bool) -> None:
    assert is_loopback_url(url) is loopback


def test_a_weak_token_secret_is_refused_without_quoting_it() -> None:
    short, pattern = "s3cret-but-short", "ab" * 20
    assert "needs at least 32" in (secret_problem(short) or "") and short not in (secret_problem(short) or "")
    assert "repeated pattern" in (secret_problem(pattern) or "") and pattern not in (secret_problem(pattern) or "")
    assert secret_problem("kQ3v9Zr7Xw2Lp8Hn5Tb1Yc6Md4Fg0Js_Ua-Ve") is None
