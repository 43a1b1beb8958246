"""The names of the settings: the list ``--help`` and the docs show, and the "did you mean" for a misspelt one."""

from __future__ import annotations

import difflib
import os
from collections.abc import Mapping

from voicing_mcp.config.settings import Settings


def setting_names() -> list[str]:
    """Every ``VOICING_*`` variable the server reads."""
    return [f"VOICING_{name.upper()}" for name in Settings.model_fields]


def setting_lines() -> list[tuple[str, str]]:
    """``(VOICING_NAME, meaning)`` for every setting, as ``voicing-mcp --help`` lists them."""
    return [
        (f"VOICING_{name.upper()}", field.description or "")
        for name, field in Settings.model_fields.items()
        if name != "require_elicitation"  # replaced; still read, no longer offered
    ]


def did_you_mean(name: str, known: list[str]) -> str | None:
    """The setting(s) ``name`` most likely means: the settings it is the start of (``VOICING_DNC`` is
    ``VOICING_DNC_FILE``, although ``VOICING_ENV`` is spelt closer; ``VOICING_CONFIRM`` is
    ``VOICING_CONFIRMATION or VOICING_CONFIRM_PORT``), else a close spelling (``VOICING_QUIET_HOUR``,
    ``VOICING_DNC_FIEL``), else None."""
    extended = [k for k in known if k.startswith(name) or name.startswith(k + "_")]
    if 1 <= len(extended) <= 3:
        return " or ".join(sorted(extended))
    close = difflib.get_close_matches(name, known, n=1, cutoff=0.75)
    return close[0] if close else None


def unknown_settings(environ: Mapping[str, str] | None = None) -> list[str]:
    """One note per ``VOICING_*`` variable in the environment that is no setting (a typo is otherwise ignored
    in silence: ``VOICING_DNC_FIEL`` would leave the do-not-call list off). Names only, never values."""
    known = setting_names()
    notes: list[str] = []
    for name in sorted(os.environ if environ is None else environ):
        upper = name.upper()
        if not upper.startswith("VOICING_") or upper in known:
            continue
        meant = did_you_mean(upper, known)
        hint = f"did you mean {meant}?" if meant else "see README, Settings, for the names"
        notes.append(f"{name} is not a voicing-mcp setting and is ignored ({hint})")
    return notes
