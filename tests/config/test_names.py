from __future__ import annotations

from pathlib import Path

import pytest

from voicing_mcp.config import load_settings
from voicing_mcp.config.names import did_you_mean, setting_names, unknown_settings
from voicing_mcp.server.app import announce_confirmation


def test_every_voicing_variable_that_is_no_setting_is_named_with_the_closest_setting() -> None:
    environ = {
        "VOICING_CONFIRMATON": "human",
        "voicing_quiet_hour": "off",
        "VOICING_ENV": "local",
        "voicing_env": "local",  # the settings are read whatever the case
        "VOICING_NOTHING_LIKE_IT": "1",
        "OTHER_VOICING_THING": "1",
    }
    assert unknown_settings(environ) == [
        "VOICING_CONFIRMATON is not a voicing-mcp setting and is ignored (did you mean VOICING_CONFIRMATION?)",
        "VOICING_NOTHING_LIKE_IT is not a voicing-mcp setting and is ignored (see README, Settings, for the names)",
        "voicing_quiet_hour is not a voicing-mcp setting and is ignored (did you mean VOICING_QUIET_HOURS?)",
    ]
    assert unknown_settings(dict.fromkeys(setting_names(), "x")) == []


def test_every_setting_the_server_reads_is_in_the_readme_settings_table() -> None:
    readme = (Path(__file__).resolve().parents[2] / "docs" / "settings.md").read_text(encoding="utf-8")
    table = readme.split("<!-- section: settings", 1)[1].split("<!-- /section: settings -->", 1)[0]
    missing = [name for name in setting_names() if f"| `{name}` |" not in table]
    assert missing == []


def test_the_startup_log_names_a_misspelt_setting(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("VOICING_ALLOWED_NUMBER", "+17018112582")
    with caplog.at_level("INFO", logger="voicing_mcp"):
        announce_confirmation(load_settings())
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert warnings == [
        "VOICING_ALLOWED_NUMBER is not a voicing-mcp setting and is ignored (did you mean VOICING_ALLOWED_NUMBERS?)"
    ]


@pytest.mark.parametrize(
    ("typo", "meant"),
    [
        ("VOICING_DNC", "VOICING_DNC_FILE"),
        ("VOICING_QUIET_HOUR", "VOICING_QUIET_HOURS"),
        ("VOICING_PROMPTS", "VOICING_PROMPTS_DIR"),
        ("VOICING_LOGLEVEL", "VOICING_LOG_LEVEL"),
        # the start of several settings names them all, not the one spelt closest (CONFIRM_PORT)
        ("VOICING_CONFIRM", "VOICING_CONFIRMATION or VOICING_CONFIRM_PORT"),
        ("VOICING_ALLOWED", "VOICING_ALLOWED_COUNTRIES or VOICING_ALLOWED_NUMBERS"),
    ],
)
def test_a_misspelt_setting_is_named_with_the_one_meant(typo: str, meant: str) -> None:
    [note] = unknown_settings({typo: "x"})
    assert note == f"{typo} is not a voicing-mcp setting and is ignored (did you mean {meant}?)"


@pytest.mark.parametrize(
    ("written", "meant"),
    [
        ("VOICING_DNC", "VOICING_DNC_FILE"),  # the start of one setting beats a closer spelling (VOICING_ENV)
        ("VOICING_CONFIRM", "VOICING_CONFIRMATION or VOICING_CONFIRM_PORT"),
        ("VOICING_QUIET_HOUR", "VOICING_QUIET_HOURS"),
        ("VOICING_COMPLETELY_DIFFERENT", None),
    ],
)
def test_did_you_mean_prefers_the_settings_a_name_starts_then_a_close_spelling(written: str, meant: str | None) -> None:
    assert did_you_mean(written, setting_names()) == meant
