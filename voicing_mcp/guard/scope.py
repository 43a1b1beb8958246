"""Where dials go, as the ledger names it: ``local``, an environment's name, or a normalised base URL.

Rows count against each other (rate limit, duplicates, unknown outcomes) when their scopes are equal, so
two servers on one ledger that reach the same API, however their base URL is spelt, see each other's dials.
"""

from __future__ import annotations

import functools
from urllib.parse import urlsplit

from voicing_mcp.config import BASE_URLS, Settings


def ledger_environment(settings: Settings) -> str:
    """The ledger's name for where dials go: ``local``, the env name, or the normalised base URL.

    Named by the API the dials reach: a ``VOICING_BASE_URL`` is normalised (no credentials, host lowercase
    without a trailing dot, no default port or trailing ``/``; :func:`canonical_base_url`),
    and one that is a known environment's URL — in any spelling, ``http://`` or ``https://`` — gets that
    environment's name, so servers configured either way count each other's dials. The env name is not part
    of a base URL's scope: the URL alone says where the dials go.
    """
    if settings.is_local:  # the built-in emulator's dials
        return "local"
    if settings.base_url is not None:
        shown = canonical_base_url(settings.base_url)[0]
        key = scope_key(shown)
        return key if not key.startswith("url:") else shown
    return settings.resolved_env


def canonical_base_url(url: str) -> tuple[str, str]:
    """``(shown, key)`` for a base URL: how the ledger shows it, and the scope key it counts under.

    Both drop userinfo (credentials are never stored), lowercase the host and strip its trailing dot, drop
    the scheme's default port, a trailing ``/``, a query and a fragment. The key also drops the scheme:
    ``http://`` and ``https://`` of one host reach the same API (a non-default port or a path prefix other
    than ``/`` stays). ``https://user:pw@API.voicing.ai.:443/`` → ``("https://api.voicing.ai", "api.voicing.ai")``.
    """
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return "<unreadable URL>", url.strip().lower()
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").rstrip(".")
    if ":" in host:  # IPv6
        host = f"[{host}]"
    if port is not None and (scheme, port) not in (("http", 80), ("https", 443)):
        host = f"{host}:{port}"
    path = parts.path.rstrip("/")
    return f"{scheme}://{host}{path}", f"{host}{path}"


def scope_key(environment: str) -> str:
    """The scope a stored ``environment`` counts in, whatever its spelling.

    ``local`` and environment names stay; a base URL (also the older ``<env>:<url>`` spelling, so rows
    written before this rule still count) becomes the known environment it belongs to, or ``url:<key>``
    (:func:`canonical_base_url`). Two servers on one ledger that reach the same API count each other's dials.
    Never raises (it runs inside SQLite queries).
    """
    try:
        if "://" not in environment:
            return environment
        _, sep, rest = environment.partition(":")
        url = rest if sep and not rest.startswith("//") else environment
        _, key = canonical_base_url(url)
        return _known_scopes().get(key, f"url:{key}")
    except Exception:
        return environment


@functools.cache
def _known_scopes() -> dict[str, str]:
    return {canonical_base_url(url)[1]: name for name, url in BASE_URLS.items()}


def shown_environment(environment: str) -> str:
    """A stored ``environment`` as shown to a person or the model: credentials of a URL in it removed (rows
    written before URLs were normalised may carry ``user:password@``)."""
    if "://" not in environment:
        return environment
    head, sep, rest = environment.partition(":")
    if sep and not rest.startswith("//"):
        return f"{head}:{canonical_base_url(rest)[0]}"
    return canonical_base_url(environment)[0]
