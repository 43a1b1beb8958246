"""The HTML pages a person sees in a browser (the confirm page; the campaign pages reuse the same base).

Every page is a Jinja2 template in ``templates/`` (package data, shipped in the wheel) that extends
``base.html``: one look for all pages — readable from 320 px to a desktop, keyboard-usable (visible focus),
sufficient contrast in light and dark mode (``prefers-color-scheme``), inline CSS and no external request of
any kind. Autoescaping is on for every template: a value is text, never markup, and nothing here builds HTML
by hand.

jinja2 is imported when the first page is rendered, not when the server starts (cold start).
"""

from __future__ import annotations

import functools
import secrets
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # jinja2 (~50-140 ms) is imported on the first page rendered, not at start
    from jinja2 import Environment

TEMPLATES = Path(__file__).resolve().parent / "templates"


@functools.cache
def environment() -> Environment:
    """The pages' Jinja2 environment: the shipped templates only, autoescaped, a missing value an error."""
    from jinja2 import Environment, FileSystemLoader, StrictUndefined  # noqa: PLC0415 (jinja2: on the first page)

    return Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=False,
    )


def render_page(name: str, **context: Any) -> tuple[str, str]:
    """``(html, script_nonce)``: the template ``name`` rendered with ``context`` and a fresh nonce that its inline
    script (if any) carries, for the response's Content-Security-Policy."""
    nonce = secrets.token_urlsafe(16)
    return environment().get_template(name).render(script_nonce=nonce, **context), nonce


def security_headers(nonce: str) -> dict[str, str]:
    """The headers every page is sent with: nothing loads from anywhere (no CDN, no font, no image), only the
    page's own inline style and its one nonce'd script run, no framing, no caching, no sniffing."""
    return {
        "Content-Security-Policy": f"default-src 'none'; style-src 'unsafe-inline'; script-src 'nonce-{nonce}'; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        "X-Frame-Options": "DENY",
        "X-Content-Type-Options": "nosniff",
        "Cache-Control": "no-store",
        # same-origin (not no-referrer): with no-referrer a browser sends "Origin: null" on a form's POST
        "Referrer-Policy": "same-origin",
    }
