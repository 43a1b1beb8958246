"""Reading the settings: :func:`load_settings` turns every validation problem into one
:class:`~voicing_mcp.errors.ConfigError` with a line per bad setting, naming the variable and never its value."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from voicing_mcp.config.settings import Settings
from voicing_mcp.errors import ConfigError

_HINTS = {
    "bool_parsing": "use true or false",
    "bool_type": "use true or false",
    "int_parsing": "use a whole number such as 30",
    "literal_error": "or leave it unset",
}
"""What to write instead, by pydantic error type (the bad value itself is never echoed: it may be a secret)."""


def _describe(err: ValidationError) -> str:
    lines: list[str] = []
    for e in err.errors(include_url=False, include_input=False):
        loc = [str(p) for p in e.get("loc", ()) if not isinstance(p, int)]
        msg = str(e.get("msg", "invalid value"))
        msg = msg.removeprefix("Value error, ")
        hint = _HINTS.get(str(e.get("type", "")))
        # a problem of one variable is named by it; one between variables names them itself
        name = f"VOICING_{loc[0].upper()}: " if loc else ""
        lines.append(f"{name}{msg}" + (f" ({hint})" if hint else ""))
    return "invalid settings:\n  " + "\n  ".join(lines)


def load_settings(**overrides: Any) -> Settings:
    """Read and validate the settings; raise ConfigError with one line per bad setting."""
    try:
        return Settings(**overrides)
    except ValidationError as err:
        raise ConfigError(_describe(err)) from None
