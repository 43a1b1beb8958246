"""Where voicing-mcp's files are on disk (paths.py): template files read safely, the user's config folder per
platform, the state folder, the checkout's prompts folder. Real files in a temporary folder; platform and
environment passed in, not patched. (How the settings choose among these is pinned in config/test_settings.py.)"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from voicing_mcp import paths

REPO = Path(__file__).resolve().parents[1]


def test_a_template_file_is_read_as_utf8_text(tmp_path: Path) -> None:
    template = tmp_path / "a.j2"
    template.write_text("Hi {{ name }}, Zoë here.", encoding="utf-8")
    assert paths.read_template_text(template) == "Hi {{ name }}, Zoë here."


def test_a_fifo_named_like_a_template_is_refused_at_once_instead_of_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "a.j2"
    os.mkfifo(fifo)
    with pytest.raises(OSError, match=r"a\.j2 is not a regular file"):
        paths.read_template_text(fifo)


def test_a_folder_named_like_a_template_is_refused(tmp_path: Path) -> None:
    (tmp_path / "b.j2").mkdir()
    with pytest.raises(IsADirectoryError):  # from the open itself, before the regular-file check
        paths.read_template_text(tmp_path / "b.j2")


def test_a_template_over_the_limit_is_refused_saying_the_limit_and_one_at_it_is_read(tmp_path: Path) -> None:
    template = tmp_path / "big.j2"
    template.write_bytes(b"x" * 2048)
    assert paths.read_template_text(template, limit=2048) == "x" * 2048
    with pytest.raises(OSError, match=r"big\.j2 is 2048 bytes, over the 1 KiB a template may have"):
        paths.read_template_text(template, limit=1024)
    assert paths.MAX_TEMPLATE_BYTES == 256 * 1024


def test_a_template_that_is_not_utf8_is_a_decode_error(tmp_path: Path) -> None:
    template = tmp_path / "latin.j2"
    template.write_bytes("Zoë".encode("latin-1"))
    with pytest.raises(UnicodeDecodeError):
        paths.read_template_text(template)


def test_the_config_folder_follows_each_platforms_convention() -> None:
    home = Path.home()
    assert paths.user_config_dir("win32", {"APPDATA": r"C:\Users\a\AppData\Roaming"}) == (
        Path(r"C:\Users\a\AppData\Roaming") / "voicing-mcp"
    )
    assert paths.user_config_dir("win32", {}) == home / "AppData" / "Roaming" / "voicing-mcp"
    assert paths.user_config_dir("darwin", {"XDG_CONFIG_HOME": "/x"}) == (
        home / "Library" / "Application Support" / "voicing-mcp"
    )
    assert paths.user_config_dir("linux", {"XDG_CONFIG_HOME": "/srv/xdg"}) == Path("/srv/xdg/voicing-mcp")
    assert paths.user_config_dir("linux", {"XDG_CONFIG_HOME": "relative"}) == home / ".config" / "voicing-mcp"
    assert paths.user_config_dir("linux", {}) == home / ".config" / "voicing-mcp"


def test_the_state_folder_is_under_xdg_state_home_or_dot_local_state(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", "/srv/state")
    assert paths.default_state_dir() == Path("/srv/state/voicing-mcp")
    monkeypatch.delenv("XDG_STATE_HOME")
    assert paths.default_state_dir() == Path.home() / ".local" / "state" / "voicing-mcp"


def test_run_from_this_checkout_the_prompts_folder_is_the_checkouts_and_the_examples_ship_in_the_package() -> None:
    assert paths.checkout_prompts_dir() == REPO / "prompts"
    assert paths.default_prompts_dir() == REPO / "prompts"
    assert paths.PACKAGE_PROMPTS_DIR == REPO / "voicing_mcp" / "examples"
    assert sorted(paths.PACKAGE_PROMPTS_DIR.glob("*.j2")) != []


def test_a_checkout_whose_pyproject_cannot_be_read_is_not_taken_for_one(tmp_path: Path) -> None:
    (tmp_path / "prompts").mkdir()
    (tmp_path / "voicing_mcp").mkdir()
    (tmp_path / "pyproject.toml").write_bytes(b'name = "voicing-mcp"\n\xff')
    assert paths.checkout_prompts_dir(tmp_path / "voicing_mcp") is None
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "voicing-mcp"\n', encoding="utf-8")
    assert paths.checkout_prompts_dir(tmp_path / "voicing_mcp") == tmp_path / "prompts"
