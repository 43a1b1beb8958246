"""Where dials go, as the ledger names and counts it (guard/scope.py): one scope per API however its base URL is
spelled, known environments by name, older ``<env>:<url>`` rows still counted, credentials never shown."""

from __future__ import annotations

import pytest

from voicing_mcp.config import load_settings
from voicing_mcp.guard.scope import canonical_base_url, ledger_environment, scope_key, shown_environment


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://user:pw@API.voicing.ai.:443/", ("https://api.voicing.ai", "api.voicing.ai")),
        ("http://api.voicing.ai:80", ("http://api.voicing.ai", "api.voicing.ai")),
        ("HTTP://Example.COM:8443/prefix/?q=1#top", ("http://example.com:8443/prefix", "example.com:8443/prefix")),
        ("https://example.com:80/", ("https://example.com:80", "example.com:80")),
        ("http://[::1]:9000/", ("http://[::1]:9000", "[::1]:9000")),
        ("  https://example.com  ", ("https://example.com", "example.com")),
    ],
    ids=["credentials-case-dot-port", "http-default-port", "port-path-query", "other-schemes-port", "ipv6", "spaces"],
)
def test_a_base_url_is_shown_and_keyed_without_credentials_default_port_or_trailing_slash(
    url: str, expected: tuple[str, str]
) -> None:
    assert canonical_base_url(url) == expected


def test_an_unreadable_base_url_is_shown_as_such_and_keyed_by_its_text() -> None:
    assert canonical_base_url(" HTTP://host:port ") == ("<unreadable URL>", "http://host:port")


@pytest.mark.parametrize(
    ("stored", "scope"),
    [
        ("local", "local"),
        ("production", "production"),
        ("https://api.voicing.ai", "production"),
        ("http://API.voicing.ai./", "production"),
        ("https://u:p@api.sandbox.voicing.ai:443", "sandbox"),
        ("sandbox:https://api.sandbox.voicing.ai/", "sandbox"),
        ("production:https://api-dev.backend.voicing.ai", "development"),
        ("https://proxy.example:8443/voicing/", "url:proxy.example:8443/voicing"),
        ("custom:http://proxy.example:8443/voicing", "url:proxy.example:8443/voicing"),
    ],
)
def test_a_stored_environment_counts_in_the_scope_of_the_api_it_reaches(stored: str, scope: str) -> None:
    assert scope_key(stored) == scope


def test_an_unreadable_stored_url_counts_under_its_own_text_and_does_not_raise() -> None:
    assert scope_key("https://host:port") == "url:https://host:port"


def test_the_ledger_names_the_built_in_emulators_dials_local_and_an_emulator_at_a_url_by_it() -> None:
    assert ledger_environment(load_settings()) == "local"
    assert ledger_environment(load_settings(env="local")) == "local"
    # 'voicing-mcp emulator' on a loopback URL may be a tunnel to a real API: its dials count under the URL
    assert ledger_environment(load_settings(env="local", base_url="http://127.0.0.1:8765")) == "http://127.0.0.1:8765"


def test_the_ledger_names_a_known_apis_base_url_by_its_environment_in_any_spelling() -> None:
    for url in ("https://api.voicing.ai", "http://API.voicing.ai:80/", "https://key:secret@api.voicing.ai."):
        settings = load_settings(api_key="k" * 20, env="sandbox", base_url=url)
        assert ledger_environment(settings) == "production", url


def test_the_ledger_names_another_base_url_by_its_shown_form_and_an_env_by_its_name() -> None:
    proxy = load_settings(api_key="k" * 20, base_url="https://user:pw@Proxy.Example:8443/v/")
    assert ledger_environment(proxy) == "https://proxy.example:8443/v"
    assert ledger_environment(load_settings(api_key="k" * 20, env="sandbox")) == "sandbox"
    assert ledger_environment(load_settings(api_key="k" * 20)) == "production"


@pytest.mark.parametrize(
    ("stored", "shown"),
    [
        ("production", "production"),
        ("https://user:pw@proxy.example/", "https://proxy.example"),
        ("custom:https://user:pw@proxy.example:8443", "custom:https://proxy.example:8443"),
    ],
)
def test_a_stored_environment_is_shown_without_the_credentials_an_older_row_may_carry(stored: str, shown: str) -> None:
    assert shown_environment(stored) == shown
    assert "pw" not in shown_environment(stored)
