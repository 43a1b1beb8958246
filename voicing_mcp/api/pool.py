"""The pooled ``httpx.AsyncClient`` of one :class:`~voicing_mcp.api.client.VoicingClient`, and how its errors read.

Made on the client's first request, not with the client: its TLS context (loading the CA bundle) and the import
of httpcore/h11 cost a server's start ~50-150 ms before its first answer, and a session may never call the API.
"""

from __future__ import annotations

import functools
import importlib.util
import os
import ssl
import sys
from collections.abc import Generator

import httpx
from pydantic import SecretStr

from voicing_mcp.api.constants import CONNECT_TIMEOUT, READ_TIMEOUT
from voicing_mcp.api.parsing import snippet
from voicing_mcp.errors import APIConnectionError, APIError, APITimeoutError

TIMEOUT = httpx.Timeout(connect=CONNECT_TIMEOUT, read=READ_TIMEOUT, write=READ_TIMEOUT, pool=CONNECT_TIMEOUT)


class ApiKeyAuth(httpx.Auth):
    """Adds ``x-api-key`` to each request; the key stays a SecretStr everywhere else."""

    def __init__(self, key: SecretStr) -> None:
        self._key = key

    def __repr__(self) -> str:
        return "ApiKeyAuth(**********)"

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["x-api-key"] = self._key.get_secret_value()
        yield request


def http_pool(
    base_url: str,
    api_key: SecretStr,
    user_agent: str,
    bulk_concurrency: int,
    transport: httpx.AsyncBaseTransport | None = None,
) -> httpx.AsyncClient:
    """One keep-alive pool for ``base_url``: ``x-api-key`` on every request, JSON headers, no redirects, enough
    connections for the bulk fan-out."""
    sniffio_known()
    return httpx.AsyncClient(
        base_url=base_url,
        auth=ApiKeyAuth(api_key),
        headers={"Content-Type": "application/json", "User-Agent": user_agent, "Accept": "application/json"},
        timeout=TIMEOUT,
        limits=httpx.Limits(
            max_connections=max(10, bulk_concurrency * 2),
            max_keepalive_connections=max(5, bulk_concurrency),
            keepalive_expiry=30.0,
        ),
        transport=transport,
        follow_redirects=False,
        verify=tls_context(),
    )


def tls_context() -> ssl.SSLContext:
    """httpx's default TLS context (certifi's CA bundle, or ``SSL_CERT_FILE`` / ``SSL_CERT_DIR``), made once a
    process for each of those settings: loading the CA bundle costs ~40 ms of CPU for every client otherwise (a
    process that opens several clients: a restart of the API client, the tests). Verification is unchanged."""
    return _tls_context(os.environ.get("SSL_CERT_FILE"), os.environ.get("SSL_CERT_DIR"))


@functools.cache
def _tls_context(cert_file: str | None, cert_dir: str | None) -> ssl.SSLContext:  # the arguments: the cache key
    return httpx.create_ssl_context()  # reads SSL_CERT_FILE / SSL_CERT_DIR itself, as a client with verify=True


def sniffio_known() -> None:
    """Make httpcore's ``import sniffio`` cheap when sniffio is not installed (anyio 4 no longer needs it).

    httpcore asks ``import sniffio`` four times per request (``current_async_library``); a module that is not
    installed is searched for on the whole ``sys.path`` every time, ~0.1-0.3 ms each: up to 1 ms of every API
    call (found with cProfile, issue 9). ``None`` in ``sys.modules`` is Python's own record of a module that is
    absent: the import fails at once with the same ``ImportError``, and httpcore assumes asyncio as before.
    """
    if "sniffio" not in sys.modules and importlib.util.find_spec("sniffio") is None:
        sys.modules["sniffio"] = None  # pyright: ignore[reportArgumentType]


def error_reason(exc: BaseException) -> str:
    """An exception in a few words: its type, and its text when that says more."""
    text = str(exc).strip()
    name = type(exc).__name__
    return f"{name}: {snippet(text)}" if text and text != name else name


def has_request(exc: httpx.RequestError) -> bool:
    """Whether the error carries its request (not when it was raised outside one)."""
    try:
        exc.request  # noqa: B018 - raises RuntimeError when the error was raised outside a request
    except RuntimeError:
        return False
    return True


def connection_error(exc: httpx.RequestError, base_url: str, *, what: str, attempts: int, method: str) -> APIError:
    """The error a request that got no answer raises: a timeout or no connection, naming the host and tries."""
    host = httpx.URL(base_url).host
    tries = f"{attempts} attempt{'s' if attempts != 1 else ''}"
    url = str(exc.request.url) if has_request(exc) else None
    if isinstance(exc, httpx.TimeoutException):
        return APITimeoutError(
            f"the Voicing API at {host} did not answer {what} in time ({error_reason(exc)}, {tries})",
            method=method,
            url=url,
        )
    return APIConnectionError(
        f"could not reach the Voicing API at {host} for {what} ({error_reason(exc)}, {tries}); "
        "check VOICING_ENV / VOICING_BASE_URL and the network",
        method=method,
        url=url,
    )
