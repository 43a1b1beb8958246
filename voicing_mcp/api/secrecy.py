"""The API key never leaves the client: the header is added per request, and every answer and error is cleaned.

An API or proxy may echo the request (headers included) in an error body or even inside call records; the
client removes the key from every string of a decoded answer before anything reads it, and from every error
a public method raises (message, the API's detail, body and URL).
"""

from __future__ import annotations

from json import dumps as json_dumps
from typing import Any

from pydantic import SecretStr

from voicing_mcp.errors import APIError, APIStatusError, InvalidRequestError, VoicingError
from voicing_mcp.redact import contains_secret, redact_secret, redact_secret_in


def checked_key(api_key: str | SecretStr) -> SecretStr:
    """The key as a SecretStr; one an HTTP header cannot carry is refused (httpx's error would quote it)."""
    key = api_key if isinstance(api_key, SecretStr) else SecretStr(api_key)
    if any(ch.isspace() or not ch.isprintable() for ch in key.get_secret_value()):
        raise InvalidRequestError(
            "the API key contains a space, line break or control character; pass the key alone (not shown here)"
        )
    return key


def without_key(body: Any, key: str) -> Any:
    """``body`` with the API key removed from every string (records are kept whole, unknown fields included,
    so a record that quotes the key would hand it to the model otherwise)."""
    if body is None:
        return None
    try:
        if not contains_secret(json_dumps(body, ensure_ascii=False, default=str), key):
            return body
        return redact_secret_in(body, key)
    except RecursionError:  # nested too deep to walk: not shown at all
        raise APIError("the Voicing API's answer is nested too deep to be checked for the API key") from None


def scrub_error(exc: VoicingError, key: str) -> None:
    """Remove the API key from an error leaving the client: its message, the API's detail and body, the URL."""
    exc.message = redact_secret(exc.message, key)
    exc.args = (exc.message,)
    for name in ("detail", "url"):
        value = getattr(exc, name, None)
        if isinstance(value, str):
            setattr(exc, name, redact_secret(value, key))
    if isinstance(exc, APIStatusError) and exc.body is not None:
        try:
            exc.body = redact_secret_in(exc.body, key)
        except RecursionError:
            exc.body = None
