"""VOICING_TOKEN_SECRET: one secret for the confirmation tokens of every replica — strong, never shown."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from server_support import call, dial_client, dials, helper, refusal, structured
from voicing_mcp.api.constants import DIAL_PATH
from voicing_mcp.api.models import OutboundCallRequest
from voicing_mcp.config import load_settings, setting_lines
from voicing_mcp.emulator.runner import RunningEmulator
from voicing_mcp.errors import ConfigError, GuardRefusal
from voicing_mcp.guard.tokens import TokenSigner

SECRET = "Zq3vN8pXw2LrT6yKc1HdJ5mBf9GsAe4U-_"  # 34 random characters
OTHER = "Pm7Qx2Rv9Tz4Wb6Yc8Ud1Ef3Gh5Jk0Ln-_"
NOW = datetime(2026, 5, 4, 15, 0, tzinfo=UTC)
REQ = OutboundCallRequest(
    assistant_id="a1", phone_number="+17015550123", input_variables={}, telephony_provider="default"
)


def test_replicas_with_one_token_secret_accept_each_others_tokens() -> None:
    issuer, redeemer = TokenSigner.from_setting(SECRET), TokenSigner.from_setting(SECRET)
    token = issuer.issue(REQ, now=NOW)
    assert redeemer.verify(token.token, REQ, now=NOW).nonce == token.nonce
    assert issuer.key_id == redeemer.key_id and issuer.shared


def test_a_token_signed_with_another_secret_names_the_secret_not_a_restart() -> None:
    token = TokenSigner.from_setting(OTHER).issue(REQ, now=NOW).token
    with pytest.raises(GuardRefusal) as info:
        TokenSigner.from_setting(SECRET).verify(token, REQ, now=NOW)
    text = str(info.value)
    assert info.value.rule == "token-invalid"
    assert "another VOICING_TOKEN_SECRET" in text and "restarted since" not in text
    assert SECRET not in text and OTHER not in text


def test_without_a_secret_a_token_from_another_process_names_the_setting_that_shares_them() -> None:
    token = TokenSigner().issue(REQ, now=NOW).token
    with pytest.raises(GuardRefusal) as info:
        TokenSigner().verify(token, REQ, now=NOW)
    assert "earlier run of this server" in str(info.value) and "VOICING_TOKEN_SECRET" in str(info.value)


def test_the_signer_and_the_settings_never_show_the_secret() -> None:
    assert SECRET not in repr(TokenSigner.from_setting(SECRET))
    settings = load_settings(token_secret=SECRET)
    assert SECRET not in repr(settings) and SECRET not in str(settings.model_dump())
    # the HMAC key is derived from the setting: the key id is not a digest an attacker can compare the text with
    assert TokenSigner.from_setting(SECRET).key_id != TokenSigner(SECRET.encode()).key_id


@pytest.mark.parametrize(
    ("value", "why"),
    [
        ("short-secret-1234", "is 17 characters long; it needs at least 32"),
        ("abcabcabcabcabcabcabcabcabcabcabcabc", "only 3 different characters"),
        ("  Zq3vN8pXw2LrT6yK c1HdJ5mBf9GsAe4U ", "contains a space"),
    ],
)
def test_a_weak_or_malformed_token_secret_stops_the_start_without_echoing_it(value: str, why: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(token_secret=value)
    text = str(info.value)
    assert "VOICING_TOKEN_SECRET" in text and why in text, text
    assert value.strip() not in text
    assert "secrets.token_urlsafe(32)" in text or "space" in text


def test_an_unset_or_blank_token_secret_keeps_a_random_secret_per_process() -> None:
    assert load_settings(token_secret="  ").token_secret is None
    assert load_settings().missing_token_secret is None  # a ledger file of this machine: not required


def test_help_lists_the_token_secret_and_stateless_http_settings() -> None:
    names = dict(setting_lines())
    assert "VOICING_TOKEN_SECRET" in names and "replica" in names["VOICING_TOKEN_SECRET"]
    assert "VOICING_HTTP_STATELESS" in names and "load balancer" in names["VOICING_HTTP_STATELESS"]


async def test_a_token_issued_by_one_server_dials_on_another_that_shares_the_secret_and_the_ledger(
    emu: RunningEmulator, tmp_path: Path
) -> None:
    ledger = tmp_path / "ledger.sqlite3"
    async with dial_client(emu, tmp_path, "legacy", ledger=ledger, token_secret=SECRET) as one:
        token = structured(await call(one))["confirmation_token"]
    async with dial_client(emu, tmp_path, "legacy", ledger=ledger, token_secret=SECRET) as other:
        started = structured(await call(other, confirmation_token=token))
        replayed = refusal(await call(other, confirmation_token=token), "duplicate")
    assert started["status"] == "started" and started["confirmed_by"] == "token"
    assert "dialled" in replayed
    assert dials(emu) == 1


async def test_a_token_replayed_on_a_second_server_is_refused_as_used(emu: RunningEmulator, tmp_path: Path) -> None:
    """The nonce is spent in the shared ledger: the second server refuses the token although its own checks let
    the dial through (the first dial provably failed, so no duplicate rule blocks the number)."""
    ledger = tmp_path / "ledger.sqlite3"
    helper(emu, "POST", "/_emulator/faults", {"fault": "500", "path": DIAL_PATH, "times": 1})
    async with dial_client(emu, tmp_path, "legacy", ledger=ledger, token_secret=SECRET) as one:
        token = structured(await call(one))["confirmation_token"]
        failed = await call(one, confirmation_token=token)
    async with dial_client(emu, tmp_path, "legacy", ledger=ledger, token_secret=SECRET) as other:
        replayed = refusal(await call(other, confirmation_token=token), "token-replayed")
    assert failed.is_error and "NOT placed" in failed.content[0].text  # type: ignore[union-attr]
    assert "already used" in replayed
    assert dials(emu) == 0


PG_URL = "postgresql://voicing:Pg-pass-9d1e@127.0.0.1:5/voicing"  # never contacted: the start stops before


def test_a_shared_ledger_requires_the_token_secret() -> None:
    missing = load_settings(ledger=PG_URL).missing_token_secret
    assert missing is not None and "VOICING_TOKEN_SECRET is required" in missing and "secrets.token_urlsafe" in missing
    assert load_settings(ledger=PG_URL, token_secret=SECRET).missing_token_secret is None
