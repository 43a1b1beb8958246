"""Where voicing-mcp's files are on disk: the example templates shipped in the package, the user's prompts
folder and the state folder. Nothing here depends on the working directory: a desktop client may start the
server in ``/``, Claude Code in the user's project.
"""

from __future__ import annotations

import os
import re
import stat
import sys
from collections.abc import Mapping
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
PACKAGE_PROMPTS_DIR = PACKAGE_DIR / "examples"
"""The example assistants shipped in the package: the built-in emulator's, and templates in local mode."""


MAX_TEMPLATE_BYTES = 256 * 1024
"""A prompt template larger than this is refused (an assistant's prompt is a few kilobytes)."""


def read_template_text(path: Path, limit: int = MAX_TEMPLATE_BYTES) -> str:
    """The text of a template file: a regular file of at most ``limit`` bytes, UTF-8. Raises OSError (a FIFO,
    device or folder named ``*.j2``, which would block or never end; too large) or UnicodeDecodeError. Opened
    without blocking and checked on the open descriptor, so a file swapped for a FIFO after a look cannot hang
    the server."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(handle.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise OSError(f"{path.name} is not a regular file")
        if info.st_size > limit:
            raise OSError(f"{path.name} is {info.st_size} bytes, over the {limit // 1024} KiB a template may have")
        data = handle.read(limit + 1)
    if len(data) > limit:
        raise OSError(f"{path.name} is over the {limit // 1024} KiB a template may have")
    return data.decode("utf-8")


def checkout_prompts_dir(package_dir: Path | None = None) -> Path | None:
    """The clone's ``prompts/`` when the package runs from a checkout: the package's parent folder holds a
    ``pyproject.toml`` naming voicing-mcp and a ``prompts/`` folder. None for an installed package."""
    root = (PACKAGE_DIR if package_dir is None else package_dir).parent
    prompts = root / "prompts"
    try:
        if not prompts.is_dir():
            return None
        text = (root / "pyproject.toml").read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    return prompts if re.search(r'^name\s*=\s*"voicing-mcp"', text, re.MULTILINE) else None


def user_config_dir(platform: str | None = None, environ: Mapping[str, str] | None = None) -> Path:
    """The user's config folder for voicing-mcp: ``%APPDATA%\\voicing-mcp`` on Windows,
    ``~/Library/Application Support/voicing-mcp`` on macOS, else ``$XDG_CONFIG_HOME/voicing-mcp``
    (``~/.config/voicing-mcp``)."""
    env = os.environ if environ is None else environ
    platform = sys.platform if platform is None else platform
    if platform == "win32":
        appdata = env.get("APPDATA")
        base = Path(appdata) if appdata else Path.home() / "AppData" / "Roaming"
    elif platform == "darwin":
        base = Path.home() / "Library" / "Application Support"
    else:
        xdg = env.get("XDG_CONFIG_HOME", "")
        base = Path(xdg) if os.path.isabs(xdg) else Path.home() / ".config"  # XDG: a relative value is ignored
    return base / "voicing-mcp"


def default_prompts_dir() -> Path:
    """The prompts folder without ``VOICING_PROMPTS_DIR``: the checkout's ``prompts/`` when run from a clone,
    else ``prompts`` in the user's config folder. Never the working directory."""
    return checkout_prompts_dir() or user_config_dir() / "prompts"


def default_state_dir() -> Path:
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "voicing-mcp"


def default_data_dir() -> Path:
    """The user's data folder: ``$XDG_DATA_HOME/voicing-mcp`` (``~/.local/share/voicing-mcp``; a relative
    ``XDG_DATA_HOME`` is ignored, as XDG says)."""
    xdg = os.environ.get("XDG_DATA_HOME", "")
    base = Path(xdg) if os.path.isabs(xdg) else Path.home() / ".local" / "share"
    return base / "voicing-mcp"


def default_campaigns_dir() -> Path:
    """The folder of recipient CSV files without ``VOICING_CAMPAIGNS_DIR``: ``campaigns`` in the user's data
    folder. Never the working directory."""
    return default_data_dir() / "campaigns"
