"""Security of the network transports (SSE and streamable HTTP).

Two rules, applied by :class:`SecurityMiddleware` to every HTTP request before the MCP app sees it:

1. **DNS-rebinding protection, always on.** The ``Host`` header must name this server (loopback
   names when bound to loopback; the bound address, this machine's names and addresses otherwise),
   else ``421``; an ``Origin`` header, when a browser sends one, must name the same hosts, else
   ``403``. A web page on another site therefore cannot drive a local server through the victim's
   browser, even when its DNS name resolves to 127.0.0.1.
2. **Bearer token.** When ``VOICING_MCP_TOKEN`` is set, every request needs
   ``Authorization: Bearer <token>`` (compared in constant time), else ``401`` with a
   ``WWW-Authenticate`` challenge.

:func:`policy_for` builds the policy for a bind address and refuses (``ConfigError``) to serve a
non-loopback address without a token: anyone who can reach the port could read call records and
talk to assistants, and ring phones. The same allow-lists are also handed
to the SDK's own transport checks (:meth:`HttpPolicy.transport_security`), as a second line.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import re
import socket
from dataclasses import dataclass
from typing import TYPE_CHECKING

from mcp.server.transport_security import TransportSecuritySettings
from starlette.datastructures import Headers
from starlette.responses import PlainTextResponse

from voicing_mcp.errors import ConfigError

if TYPE_CHECKING:
    from pydantic import SecretStr
    from starlette.types import ASGIApp, Receive, Scope, Send

logger = logging.getLogger(__name__)

LOOPBACK_NAMES: tuple[str, ...] = ("127.0.0.1", "localhost", "::1")
MIN_TOKEN_LENGTH = 16
REALM = "voicing-mcp"


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and any loopback IP address (``127.0.0.0/8``, ``::1``)."""
    name = host.strip().strip("[]").lower()
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def _is_wildcard(host: str) -> bool:
    return host.strip().strip("[]") in ("", "0.0.0.0", "::")


def _machine_names() -> set[str]:
    """This machine's host names and the addresses they resolve to (for a wildcard bind)."""
    names: set[str] = set()
    for name in {socket.gethostname(), socket.getfqdn()}:
        if not name:
            continue
        names.add(name.lower())
        try:
            infos = socket.getaddrinfo(name, None, proto=socket.IPPROTO_TCP)
        except OSError:
            continue
        names.update(str(info[4][0]).lower() for info in infos)
    return names


#: a ``Host`` value (RFC 9110 uri-host [":" port]): a bracketed IPv6 literal or a name/IPv4 address of letters,
#: digits, '.', '-', '_', then an optional port of digits. Userinfo (``127.0.0.1:80@evil.example``), a path,
#: spaces or any other character make it no host of this server's.
_HOST_VALUE = re.compile(
    r"(?:\[(?P<v6>[0-9a-f:.]+(?:%25[0-9a-z._~-]+)?)\]|(?P<name>[0-9a-z._-]+))(?::(?P<port>\d{0,5}))?"
)


def split_host(value: str) -> str | None:
    """The host name of a ``Host`` header value (``example.com:8000`` → ``example.com``, ``[::1]:80`` → ``::1``),
    or None when the value is not a valid host[:port] (userinfo, a path, a character a host cannot hold)."""
    text = value.strip().lower()
    found = _HOST_VALUE.fullmatch(text)
    if found is not None:
        return found["v6"] or found["name"]
    try:  # a bare IPv6 address without brackets (``::1``): not valid in a Host, but some clients send it
        return str(ipaddress.IPv6Address(text))
    except ValueError:
        return None


def origin_host(origin: str) -> str | None:
    """The host of an ``Origin`` header value, or None when it is not an http(s) origin (e.g. ``null``)."""
    text = origin.strip().lower()
    for scheme in ("http://", "https://"):
        if text.startswith(scheme):
            rest = text[len(scheme) :]
            if not rest or "/" in rest or "@" in rest:
                return None
            return split_host(rest)
    return None


@dataclass(frozen=True, slots=True)
class HttpPolicy:
    """What the HTTP transports accept: the allowed host names and, optionally, a bearer token."""

    bind_host: str
    allowed_hosts: frozenset[str]
    token: SecretStr | None = None

    @property
    def loopback_only(self) -> bool:
        return is_loopback(self.bind_host)

    def host_allowed(self, host_header: str | None) -> bool:
        host = split_host(host_header) if host_header else None
        return host is not None and host in self.allowed_hosts

    def origin_allowed(self, origin: str | None) -> bool:
        if origin is None:  # not a browser (or a same-origin request without the header)
            return True
        host = origin_host(origin)
        return host is not None and host in self.allowed_hosts

    def token_accepted(self, authorization: str | None) -> bool:
        if self.token is None:
            return True
        if not authorization:
            return False
        scheme, _, credentials = authorization.strip().partition(" ")
        if scheme.lower() != "bearer":
            return False
        expected = self.token.get_secret_value().encode("utf-8")
        return hmac.compare_digest(credentials.strip().encode("utf-8"), expected)

    def transport_security(self) -> TransportSecuritySettings:
        """The same allow-lists in the SDK's form, for its own per-transport checks."""
        hosts: list[str] = []
        origins: list[str] = []
        for name in sorted(self.allowed_hosts):
            shown = f"[{name}]" if ":" in name else name
            hosts += [shown, f"{shown}:*"]
            origins += [f"{scheme}://{shown}{port}" for scheme in ("http", "https") for port in ("", ":*")]
        return TransportSecuritySettings(
            enable_dns_rebinding_protection=True, allowed_hosts=hosts, allowed_origins=origins
        )


def policy_for(bind_host: str, token: SecretStr | None) -> HttpPolicy:
    """The policy for serving on ``bind_host``; refuses a non-loopback address without a token."""
    if is_loopback(bind_host):
        hosts = set(LOOPBACK_NAMES)
    else:
        if token is None:
            raise ConfigError(
                f"refusing to listen on {bind_host} without a token: anyone who can reach this address "
                "could use the server, read call records and talk to your assistants.\n"
                "  Fix: set VOICING_MCP_TOKEN to a long random secret, e.g.\n"
                "    export VOICING_MCP_TOKEN=$(python3 -c 'import secrets; print(secrets.token_urlsafe(32))')\n"
                "  and have clients send 'Authorization: Bearer <token>'; "
                "or serve on 127.0.0.1 (the default) and leave out --host."
            )
        hosts = set(LOOPBACK_NAMES)
        if _is_wildcard(bind_host):
            hosts |= _machine_names()
        else:
            hosts.add(bind_host.strip().strip("[]").lower())
    if token is not None and len(token.get_secret_value()) < MIN_TOKEN_LENGTH:
        logger.warning("VOICING_MCP_TOKEN is shorter than %d characters: use a long random secret", MIN_TOKEN_LENGTH)
    return HttpPolicy(bind_host=bind_host, allowed_hosts=frozenset(hosts), token=token)


class SecurityMiddleware:
    """ASGI middleware enforcing an :class:`HttpPolicy` on every HTTP and WebSocket request."""

    def __init__(self, app: ASGIApp, policy: HttpPolicy) -> None:
        self.app = app
        self.policy = policy

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        refusal: tuple[int, str, dict[str, str]] | None = None
        if not self.policy.host_allowed(headers.get("host")):
            logger.warning("refused a request with Host %r (DNS-rebinding protection)", headers.get("host"))
            refusal = (421, "Invalid Host header: this server only answers to its own names", {})
        elif not self.policy.origin_allowed(headers.get("origin")):
            logger.warning("refused a request with Origin %r (DNS-rebinding protection)", headers.get("origin"))
            refusal = (403, "Invalid Origin header: cross-site requests are not allowed", {})
        elif not self.policy.token_accepted(headers.get("authorization")):
            given = headers.get("authorization") is not None
            challenge = f'Bearer realm="{REALM}"' + (', error="invalid_token"' if given else "")
            logger.warning("refused a request without a valid bearer token (%s)", "wrong" if given else "missing")
            refusal = (
                401,
                "Unauthorized: send 'Authorization: Bearer <VOICING_MCP_TOKEN>'",
                {"WWW-Authenticate": challenge},
            )
        if refusal is None:
            await self.app(scope, receive, send)
        elif scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008, "reason": refusal[1]})
        else:
            status, text, extra = refusal
            await PlainTextResponse(text, status, headers=extra)(scope, receive, send)
