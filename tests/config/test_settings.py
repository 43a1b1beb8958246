from __future__ import annotations

from pathlib import Path

import pytest

from voicing_mcp import config, paths
from voicing_mcp.config import load_settings, unknown_settings
from voicing_mcp.config.settings import Settings
from voicing_mcp.errors import ConfigError


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


# ----- the prompts folder: never the working directory ---------------------------------------------
REPO = Path(__file__).resolve().parents[2]


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


def test_the_log_level_is_a_setting_read_in_any_case(monkeypatch: pytest.MonkeyPatch) -> None:
    assert load_settings().log_level == "warning"
    monkeypatch.setenv("VOICING_LOG_LEVEL", " DEBUG ")
    assert load_settings().log_level == "debug" and unknown_settings() == []
    monkeypatch.setenv("VOICING_LOG_LEVEL", "loud")
    with pytest.raises(ConfigError, match="VOICING_LOG_LEVEL"):
        load_settings()


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


def test_settings_are_frozen_once_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VOICING_MAX_CALLS_PER_HOUR", "12")
    s = load_settings()
    assert isinstance(s, Settings) and s.max_calls_per_hour == 12
    with pytest.raises(ValueError, match="frozen"):
        s.max_calls_per_hour = 99  # type: ignore[misc]
    monkeypatch.setenv("VOICING_MAX_CALLS_PER_HOUR", "40")  # a later change of the environment is a new read
    assert s.max_calls_per_hour == 12 and load_settings().max_calls_per_hour == 40


def test_a_variable_is_read_whatever_the_case_of_its_name_and_a_keyword_argument_replaces_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("VOICING_MAX_CALLS_PER_HOUR", raising=False)
    monkeypatch.setenv("voicing_max_calls_per_hour", "7")
    monkeypatch.setenv("VOICING_ALLOWED_NUMBERS", "+17015550123, +1702*")  # comma-separated, not JSON
    s = load_settings()
    assert s.max_calls_per_hour == 7 and s.allowed_numbers == ["+17015550123", "+1702*"]
    assert load_settings(max_calls_per_hour=3).max_calls_per_hour == 3


def test_an_empty_variable_is_a_value_its_setting_reads_not_an_absent_one(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VOICING_STRICT_TEMPLATES", "")
    with pytest.raises(ConfigError, match=r"VOICING_STRICT_TEMPLATES: .*use true or false"):
        load_settings()
    monkeypatch.setenv("VOICING_STRICT_TEMPLATES", "false")
    monkeypatch.setenv("VOICING_QUIET_HOURS", "")  # set and empty: the default window; only "off" switches it off
    s = load_settings()
    assert s.strict_templates is False and str(s.quiet_hours) == "21:00-08:00"
    monkeypatch.setenv("VOICING_QUIET_HOURS", " Off ")
    assert load_settings().quiet_hours is None


@pytest.mark.parametrize("url", ["ftp://user:hunter2pw@example.com/", "user:hunter2pw@example.com", "hunter2pw@host"])
def test_a_base_url_that_is_not_http_is_refused_without_showing_its_credentials(
    monkeypatch: pytest.MonkeyPatch, url: str
) -> None:
    monkeypatch.setenv("VOICING_BASE_URL", url)
    with pytest.raises(ConfigError) as refused:
        load_settings()
    text = str(refused.value)
    assert "is not an http(s) URL" in text
    assert "hunter2pw" not in text
    assert "•••@" in text
