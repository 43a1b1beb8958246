"""``server/security.py``: a Host header that is not exactly one of this server's host[:port] is refused."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.server.web.test_transports import INIT, MCP_HEADERS, Served, serve, stop
from voicing_mcp.server.web.security import policy_for, split_host

#: Host values that start with an allowed name but are not it: userinfo, a path, a space, a second host
FOREIGN_SPELLINGS = [
    "127.0.0.1:{port}@evil.example",
    "localhost:{port}@evil.example",
    "evil.example@127.0.0.1:{port}",
    "127.0.0.1:{port}/evil.example",
    "127.0.0.1:{port} evil.example",
    "127.0.0.1:{port},evil.example",
    "127.0.0.1:{port}#@evil.example",
    "127.0.0.1:{port}?@evil.example",
    "127.0.0.1:{port}\\@evil.example",
]


@pytest.fixture(scope="module", params=["http", "sse"])
def served(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    server = serve(tmp_path_factory.mktemp(request.param), request.param)
    yield server
    assert stop(server) == ""


def port_of(served: Served) -> str:
    return served.origin.rsplit(":", 1)[1]


def sse_status(served: Served, host: str) -> int:
    with httpx.stream("GET", served.url, headers={"Host": host}, timeout=10) as response:
        return response.status_code


def status(served: Served, host: str) -> int:
    if served.url.endswith("/sse"):
        return sse_status(served, host)
    return httpx.post(served.url, json=INIT, headers={**MCP_HEADERS, "Host": host}, timeout=10).status_code


@pytest.mark.parametrize("spelling", FOREIGN_SPELLINGS)
def test_a_host_with_userinfo_or_any_character_a_host_cannot_hold_is_refused_like_a_foreign_host(
    served: Served, spelling: str
) -> None:
    port = port_of(served)
    assert status(served, "evil.example") == 421  # a foreign Host, for comparison
    assert status(served, spelling.format(port=port)) == 421


def test_this_servers_own_host_spellings_are_still_accepted(served: Served) -> None:
    port = port_of(served)
    for host in (f"127.0.0.1:{port}", f"localhost:{port}", "127.0.0.1"):
        assert status(served, host) == 200, host


def test_a_host_value_is_read_as_a_host_and_port_or_not_at_all() -> None:
    policy = policy_for("127.0.0.1", None)
    assert split_host("127.0.0.1:8000@evil.example") is None
    assert split_host("[::1]:8000") == "::1" and split_host("[fe80::1%25eth0]:80") == "fe80::1%25eth0"
    assert split_host("127.0.0.1:123456") is None  # a port has at most 5 digits
    assert policy.host_allowed("[::1]:8000") and policy.host_allowed("localhost")
    assert not policy.host_allowed("localhost:8000@evil.example") and not policy.host_allowed("")
    assert not policy.host_allowed(None)


def test_an_origin_with_userinfo_is_refused() -> None:
    policy = policy_for("127.0.0.1", None)
    assert not policy.origin_allowed("http://127.0.0.1:8000@evil.example")
    assert policy.origin_allowed("http://127.0.0.1:8000")
