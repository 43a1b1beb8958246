"""Settings, read from the environment (``VOICING_*``) and validated at start-up.

The names are a public contract (docs/settings.md, checked against the code by tests/test_docs.py).
:func:`load_settings` turns every validation problem into one :class:`~voicing_mcp.errors.ConfigError` whose
message has a line per bad setting, naming the variable and the bad part. The API key and the MCP token are secret
types: they never appear in ``repr``, logs or error messages; so is a ``postgresql://`` VOICING_LEDGER.

The package's rooms, all re-exported here (import from ``voicing_mcp.config``):

* :mod:`.settings` — the :class:`Settings` model, one field, validator and description per setting, and the values
  resolved from them (``resolved_env``, ``is_local``, ``resolved_confirmation``, the folders, the ledger);
* :mod:`.parsing` — the value parsers (quiet hours, the per-number cap, a region, a secret's strength, loopback);
* :mod:`.names` — the settings' names (``--help``, the docs) and the "did you mean" for a misspelt one;
* :mod:`.loading` — :func:`load_settings` and its one-line-per-setting error.
"""

from __future__ import annotations

from voicing_mcp.config.loading import load_settings
from voicing_mcp.config.names import did_you_mean, setting_lines, setting_names, unknown_settings
from voicing_mcp.config.parsing import (
    MAKE_A_SECRET,
    MAX_PER_NUMBER_HOURS,
    MIN_SECRET_CHARS,
    MIN_SECRET_DISTINCT,
    CallsPerNumber,
    QuietHours,
    is_loopback_url,
    parse_calls_per_number,
    parse_quiet_hours,
    secret_problem,
)
from voicing_mcp.config.settings import BASE_URLS, TOKEN_MODE_WARNING, ConfirmationMode, Env, LogLevel, Settings
from voicing_mcp.paths import PACKAGE_PROMPTS_DIR

__all__ = [
    "BASE_URLS",
    "MAKE_A_SECRET",
    "MAX_PER_NUMBER_HOURS",
    "MIN_SECRET_CHARS",
    "MIN_SECRET_DISTINCT",
    "PACKAGE_PROMPTS_DIR",
    "TOKEN_MODE_WARNING",
    "CallsPerNumber",
    "ConfirmationMode",
    "Env",
    "LogLevel",
    "QuietHours",
    "Settings",
    "did_you_mean",
    "is_loopback_url",
    "load_settings",
    "parse_calls_per_number",
    "parse_quiet_hours",
    "secret_problem",
    "setting_lines",
    "setting_names",
    "unknown_settings",
]
