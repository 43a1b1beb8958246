"""The pooled HTTP client (api/pool.py): what every request carries, no redirects followed, the key hidden in its
repr, and how a request that got no answer reads. Against the emulator and a small echo server on loopback."""

from __future__ import annotations

import http.server
import json
import socket
import ssl
import threading
from collections.abc import Iterator

import certifi
import httpx
import pytest
from pydantic import SecretStr

from voicing_mcp.api import pool
from voicing_mcp.api.constants import DETAILS_PATH
from voicing_mcp.api.pool import ApiKeyAuth, connection_error, error_reason, has_request, http_pool
from voicing_mcp.emulator.runner import RunningEmulator
from voicing_mcp.emulator.state import EmulatorConfig
from voicing_mcp.errors import APIConnectionError, APITimeoutError

KEY = "pool-test-key-9b2e41"


@pytest.fixture(scope="module")
def emu_config() -> EmulatorConfig:
    return EmulatorConfig(api_key=KEY, seed_calls=3)


class _Echo(http.server.BaseHTTPRequestHandler):
    """Answers /echo with the request's headers as JSON, and /moved with a redirect to /echo."""

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        if self.path == "/moved":
            self.send_response(302)
            self.send_header("Location", "/echo")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        body = json.dumps({k.lower(): v for k, v in self.headers.items()}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture(scope="module")
def echo_url() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Echo)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


async def test_every_request_carries_the_key_json_headers_and_the_user_agent(echo_url: str) -> None:
    async with http_pool(echo_url, SecretStr(KEY), "voicing-mcp/test", 4) as pool:
        headers = (await pool.get("/echo")).json()
    assert headers["x-api-key"] == KEY
    assert headers["content-type"] == "application/json"
    assert headers["accept"] == "application/json"
    assert headers["user-agent"] == "voicing-mcp/test"


async def test_a_redirect_is_returned_not_followed(echo_url: str) -> None:
    async with http_pool(echo_url, SecretStr(KEY), "voicing-mcp/test", 4) as pool:
        response = await pool.get("/moved")
    assert response.status_code == 302
    assert response.headers["location"] == "/echo"


async def test_the_emulator_takes_the_pools_key_and_refuses_another(emu: RunningEmulator) -> None:
    async with http_pool(emu.base_url, SecretStr(KEY), "voicing-mcp/test", 1) as pool:
        assert (await pool.get(DETAILS_PATH, params={"page": 1, "limit": 1})).status_code == 200
    async with http_pool(emu.base_url, SecretStr("another-key-0000"), "voicing-mcp/test", 1) as pool:
        assert (await pool.get(DETAILS_PATH, params={"page": 1, "limit": 1})).status_code == 401


def test_the_key_is_not_in_the_auths_repr() -> None:
    assert KEY not in repr(ApiKeyAuth(SecretStr(KEY)))
    assert repr(ApiKeyAuth(SecretStr(KEY))) == "ApiKeyAuth(**********)"


def test_an_exception_reads_as_its_type_and_its_text_when_that_says_more() -> None:
    assert error_reason(httpx.ConnectError("")) == "ConnectError"
    assert error_reason(ValueError("ValueError")) == "ValueError"
    assert error_reason(httpx.ReadTimeout("  timed out \n")) == "ReadTimeout: timed out"


def test_an_error_raised_outside_a_request_is_known_to_have_none() -> None:
    assert not has_request(httpx.ConnectError("no request"))
    request = httpx.Request("GET", "http://127.0.0.1:1/x")
    assert has_request(httpx.ConnectError("with request", request=request))


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


async def test_no_connection_reads_as_a_connection_error_naming_the_host_the_tries_and_the_url() -> None:
    base = f"http://127.0.0.1:{_closed_port()}"
    async with http_pool(base, SecretStr(KEY), "voicing-mcp/test", 1) as pool:
        with pytest.raises(httpx.ConnectError) as info:
            await pool.get("/api/x")
    error = connection_error(info.value, base, what="the call list", attempts=3, method="GET")
    assert isinstance(error, APIConnectionError) and not isinstance(error, APITimeoutError)
    assert error.message.startswith("could not reach the Voicing API at 127.0.0.1 for the call list (ConnectError")
    assert error.message.endswith("3 attempts); check VOICING_ENV / VOICING_BASE_URL and the network")
    assert error.url == f"{base}/api/x"
    assert error.method == "GET"


async def test_no_answer_in_time_reads_as_a_timeout_naming_one_attempt() -> None:
    with socket.socket() as silent:  # accepts connections (the backlog) and never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        base = f"http://127.0.0.1:{silent.getsockname()[1]}"
        async with http_pool(base, SecretStr(KEY), "voicing-mcp/test", 1) as pool:
            with pytest.raises(httpx.ReadTimeout) as info:
                await pool.get("/slow", timeout=0.2)
    error = connection_error(info.value, base, what="a dial", attempts=1, method="POST")
    assert isinstance(error, APITimeoutError)
    assert error.message.startswith("the Voicing API at 127.0.0.1 did not answer a dial in time (ReadTimeout")
    assert error.message.endswith(", 1 attempt)")
    assert KEY not in error.message


def test_an_error_without_its_request_names_no_url() -> None:
    error = connection_error(
        httpx.ConnectError("refused"), "https://api.voicing.ai", what="x", attempts=2, method="GET"
    )
    assert error.url is None
    assert "at api.voicing.ai" in error.message and "2 attempts" in error.message


def test_the_tls_context_verifies_certificates_and_host_names_and_is_made_once_per_ca_setting(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    first = pool.tls_context()
    assert pool.tls_context() is first  # the CA bundle is loaded once a process
    assert first.verify_mode == ssl.CERT_REQUIRED and first.check_hostname is True
    assert first.cert_store_stats()["x509_ca"] > 0  # certifi's bundle is loaded
    monkeypatch.setenv("SSL_CERT_FILE", certifi.where())  # the variable httpx honours makes a context of its own
    other = pool.tls_context()
    assert other is not first and other.verify_mode == ssl.CERT_REQUIRED
    client = http_pool("https://api.example.test", SecretStr("k"), "ua", 4)
    assert client._transport._pool._ssl_context is other  # pyright: ignore  # the client uses it
