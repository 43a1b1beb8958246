from __future__ import annotations

from datetime import time
from pathlib import Path

import pytest

from voicing_mcp import config, paths
from voicing_mcp.config import load_settings, parse_quiet_hours, setting_names, unknown_settings
from voicing_mcp.errors import ConfigError
from voicing_mcp.server.app import announce_confirmation


def test_bad_quiet_hours_names_the_variable_and_the_part(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VOICING_QUIET_HOURS", "25:00-08:00")
    with pytest.raises(ConfigError) as info:
        load_settings()
    assert "VOICING_QUIET_HOURS" in str(info.value)
    assert "hour 25" in str(info.value)


def test_no_key_means_local_mode(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("VOICING_API_KEY", raising=False)
    monkeypatch.delenv("VOICING_ENV", raising=False)
    s = load_settings()
    assert s.resolved_env == "local" and s.is_local and s.resolved_base_url is None


def test_key_is_secret_and_selects_production(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VOICING_API_KEY", "sk-very-secret-123")
    monkeypatch.delenv("VOICING_ENV", raising=False)
    s = load_settings()
    assert s.resolved_base_url == "https://api.voicing.ai"
    assert "sk-very-secret-123" not in repr(s) and "sk-very-secret-123" not in str(s.model_dump())


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


@pytest.mark.parametrize("variable", ["VOICING_LEDGER", "VOICING_DNC_FILE", "VOICING_PROMPTS_DIR"])
def test_a_relative_path_is_refused_because_the_working_directory_is_the_clients_choice(
    monkeypatch: pytest.MonkeyPatch, variable: str
) -> None:
    """A relative ledger would follow the folder the client starts the server in: a restart elsewhere would open
    a fresh ledger, forget an unknown outcome and dial the number again (found by a hostile review)."""
    monkeypatch.setenv(variable, "state/ledger.sqlite3")
    with pytest.raises(ConfigError) as info:
        load_settings()
    assert f"{variable}: must be an absolute path (got 'state/ledger.sqlite3')" in str(info.value)


def test_paths_starting_with_a_tilde_are_read_from_the_home_folder(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("VOICING_PROMPTS_DIR", "~/prompts")
    monkeypatch.setenv("VOICING_DNC_FILE", "~/dnc.txt")
    monkeypatch.setenv("VOICING_LEDGER", "~/state/ledger.sqlite3")
    settings = load_settings()
    assert settings.resolved_prompts_dir == tmp_path / "prompts"
    assert settings.dnc_file == tmp_path / "dnc.txt"
    assert settings.resolved_ledger == tmp_path / "state" / "ledger.sqlite3"


def test_a_key_pasted_with_a_line_break_around_it_is_the_key_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VOICING_API_KEY", "  sk-live-abc123\n")
    monkeypatch.setenv("VOICING_MCP_TOKEN", "\ttoken-0123456789abcdef\r\n")
    settings = load_settings()
    assert settings.api_key is not None and settings.api_key.get_secret_value() == "sk-live-abc123"
    assert settings.mcp_token is not None and settings.mcp_token.get_secret_value() == "token-0123456789abcdef"


@pytest.mark.parametrize("key", ["sk-live-abc\n123", "sk-live abc123", "sk-live-\x1babc123"])
def test_a_key_with_a_break_or_control_character_inside_is_refused_without_showing_it(
    monkeypatch: pytest.MonkeyPatch, key: str
) -> None:
    monkeypatch.setenv("VOICING_API_KEY", key)
    with pytest.raises(ConfigError) as info:
        load_settings()
    text = str(info.value)
    assert "VOICING_API_KEY: contains a space, line break or control character" in text
    assert "abc" not in text and "sk-live" not in text


# ----- who confirms a dial (VOICING_CONFIRMATION) -------------------------------------------------
@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, "token"),  # local mode: the built-in emulator, no real phone rings
        ({"VOICING_API_KEY": "k"}, "human"),
        ({"VOICING_API_KEY": "k", "VOICING_ENV": "sandbox"}, "human"),
        ({"VOICING_API_KEY": "k", "VOICING_ENV": "development"}, "human"),
        ({"VOICING_BASE_URL": "http://127.0.0.1:9", "VOICING_ENV": "local"}, "human"),  # a real API behind it
        ({"VOICING_CONFIRMATION": "human"}, "human"),
        ({"VOICING_API_KEY": "k", "VOICING_CONFIRMATION": " Token "}, "token"),
    ],
)
def test_a_human_confirms_by_default_outside_local_mode_and_token_is_opt_in(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], expected: str
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    settings = load_settings()
    assert settings.resolved_confirmation == expected
    assert settings.replaced_settings == []


def test_the_replaced_require_elicitation_setting_is_named_and_true_still_means_a_human_confirms(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("VOICING_REQUIRE_ELICITATION", "true")
    settings = load_settings()  # local mode, where token would be the default
    assert settings.resolved_confirmation == "human"
    [note] = settings.replaced_settings
    assert "VOICING_REQUIRE_ELICITATION was replaced by VOICING_CONFIRMATION" in note
    monkeypatch.setenv("VOICING_CONFIRMATION", "token")
    with pytest.raises(ConfigError) as info:
        load_settings()
    assert "contradicts VOICING_CONFIRMATION=token" in str(info.value) and "remove it" in str(info.value)


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
    readme = (Path(__file__).resolve().parents[1] / "docs" / "settings.md").read_text(encoding="utf-8")
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


# ----- the prompts folder: never the working directory ---------------------------------------------
REPO = Path(__file__).resolve().parents[1]


def fake_checkout(root: Path, *, name: str = "voicing-mcp", prompts: bool = True) -> Path:
    """A folder laid out as a clone: pyproject.toml naming ``name``, ``prompts/``, the package beside them."""
    (root / "voicing_mcp").mkdir(parents=True)
    (root / "pyproject.toml").write_text(f'[project]\nname = "{name}"\nversion = "0"\n', encoding="utf-8")
    if prompts:
        (root / "prompts").mkdir()
    return root / "voicing_mcp"


def test_voicing_prompts_dir_wins_over_every_default(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("VOICING_PROMPTS_DIR", str(tmp_path / "mine"))
    assert load_settings().resolved_prompts_dir == tmp_path / "mine"


def test_run_from_a_clone_the_prompts_folder_is_the_checkouts_whatever_the_working_directory(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("VOICING_PROMPTS_DIR")
    (tmp_path / "prompts").mkdir()  # a prompts/ in the working directory is not taken
    monkeypatch.chdir(tmp_path)
    assert load_settings().resolved_prompts_dir == REPO / "prompts"
    assert paths.checkout_prompts_dir(fake_checkout(tmp_path / "clone")) == tmp_path / "clone" / "prompts"


def test_a_folder_that_is_no_voicing_mcp_checkout_is_not_taken_for_one(tmp_path: Path) -> None:
    assert paths.checkout_prompts_dir(fake_checkout(tmp_path / "other", name="other-project")) is None
    assert paths.checkout_prompts_dir(fake_checkout(tmp_path / "bare", prompts=False)) is None
    assert paths.checkout_prompts_dir(tmp_path / "site-packages" / "voicing_mcp") is None


def installed(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The package as installed (its parent folder is no checkout), run from ``tmp_path``."""
    monkeypatch.delenv("VOICING_PROMPTS_DIR")
    monkeypatch.setattr(paths, "PACKAGE_DIR", tmp_path / "site-packages" / "voicing_mcp")
    (tmp_path / "prompts").mkdir()  # a prompts/ in the working directory is not taken
    monkeypatch.chdir(tmp_path)


def test_installed_the_prompts_folder_is_in_xdg_config_home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    installed(monkeypatch, tmp_path)
    monkeypatch.setattr(paths.sys, "platform", "linux")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    assert load_settings().resolved_prompts_dir == tmp_path / "xdg" / "voicing-mcp" / "prompts"


def test_installed_without_xdg_config_home_the_prompts_folder_is_under_dot_config(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    installed(monkeypatch, tmp_path)
    monkeypatch.setattr(paths.sys, "platform", "linux")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    for value in (None, "relative/xdg"):  # XDG: a relative value is ignored
        if value is None:
            monkeypatch.delenv("XDG_CONFIG_HOME", raising=False)
        else:
            monkeypatch.setenv("XDG_CONFIG_HOME", value)
        assert load_settings().resolved_prompts_dir == tmp_path / "home" / ".config" / "voicing-mcp" / "prompts"


def test_installed_on_macos_the_prompts_folder_is_in_application_support(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    installed(monkeypatch, tmp_path)
    monkeypatch.setattr(paths.sys, "platform", "darwin")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    expected = tmp_path / "home" / "Library" / "Application Support" / "voicing-mcp" / "prompts"
    assert load_settings().resolved_prompts_dir == expected


def test_installed_on_windows_the_prompts_folder_is_in_appdata(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    installed(monkeypatch, tmp_path)
    monkeypatch.setattr(paths.sys, "platform", "win32")
    monkeypatch.setenv("APPDATA", str(tmp_path / "Roaming"))
    assert load_settings().resolved_prompts_dir == tmp_path / "Roaming" / "voicing-mcp" / "prompts"


def test_the_shipped_examples_serve_local_mode_only_after_the_users_folder(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("VOICING_PROMPTS_DIR", str(tmp_path))
    assert load_settings().template_folders == (tmp_path, config.PACKAGE_PROMPTS_DIR)
    emulator = {"VOICING_ENV": "local", "VOICING_BASE_URL": "http://127.0.0.1:8787", "VOICING_API_KEY": "emulator"}
    for name, value in emulator.items():  # `voicing-mcp emulator`'s hint: its assistants are the examples
        monkeypatch.setenv(name, value)
    assert load_settings().template_folders == (tmp_path, config.PACKAGE_PROMPTS_DIR)
    monkeypatch.setenv("VOICING_ENV", "sandbox")
    assert load_settings().template_folders == (tmp_path,)


def test_local_mode_against_a_remote_url_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VOICING_ENV", "local")
    monkeypatch.setenv("VOICING_BASE_URL", "https://user:pw@api.voicing.ai")
    with pytest.raises(ConfigError) as info:
        load_settings()
    assert "VOICING_ENV=local talks to an emulator on this machine" in str(info.value)
    assert "pw" not in str(info.value)
    monkeypatch.setenv("VOICING_BASE_URL", "http://localhost:8787")
    assert load_settings().serves_examples


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


def test_the_log_level_is_a_setting_read_in_any_case(monkeypatch: pytest.MonkeyPatch) -> None:
    assert load_settings().log_level == "warning"
    monkeypatch.setenv("VOICING_LOG_LEVEL", " DEBUG ")
    assert load_settings().log_level == "debug" and unknown_settings() == []
    monkeypatch.setenv("VOICING_LOG_LEVEL", "loud")
    with pytest.raises(ConfigError, match="VOICING_LOG_LEVEL"):
        load_settings()


# ----- campaigns: the per-number cap and the recipients folder -------------------------------------
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


def test_the_campaigns_folder_is_the_setting_else_the_users_data_folder(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("VOICING_CAMPAIGNS_DIR", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    assert load_settings().resolved_campaigns_dir == tmp_path / "data" / "voicing-mcp" / "campaigns"
    monkeypatch.setenv("XDG_DATA_HOME", "relative/data")  # XDG: a relative value is ignored
    monkeypatch.setenv("HOME", str(tmp_path))
    assert load_settings().resolved_campaigns_dir == tmp_path / ".local" / "share" / "voicing-mcp" / "campaigns"
    monkeypatch.setenv("VOICING_CAMPAIGNS_DIR", "~/lists")
    assert load_settings().resolved_campaigns_dir == tmp_path / "lists"
    monkeypatch.setenv("VOICING_CAMPAIGNS_DIR", "lists")
    with pytest.raises(ConfigError, match=r"VOICING_CAMPAIGNS_DIR: must be an absolute path \(got 'lists'\)"):
        load_settings()
