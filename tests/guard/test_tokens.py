"""Confirmation tokens: bound to the exact request, expiring, unforgeable."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from server_support import call, dial_client, dials, helper, refusal, structured
from voicing_mcp.api.constants import DIAL_PATH
from voicing_mcp.api.models import OutboundCallRequest
from voicing_mcp.config import load_settings, setting_lines
from voicing_mcp.emulator.runner import RunningEmulator
from voicing_mcp.errors import ConfigError, GuardRefusal
from voicing_mcp.guard.tokens import CAMPAIGN_TOKEN_TTL, TOKEN_TTL, TokenSigner

NOW = datetime(2026, 5, 4, 15, 0, tzinfo=UTC)
REQ = OutboundCallRequest(
    assistant_id="a1",
    phone_number="+17015550123",
    input_variables={"name": "Ann", "n": 3},
    telephony_provider="default",
)


def refused(signer: TokenSigner, token: str, req: OutboundCallRequest, now: datetime = NOW) -> GuardRefusal:
    with pytest.raises(GuardRefusal) as info:
        signer.verify(token, req, now=now)
    return info.value


def test_a_fresh_token_verifies_for_its_request() -> None:
    signer = TokenSigner()
    issued = signer.issue(REQ, now=NOW)
    assert issued.expires_at == NOW + TOKEN_TTL
    verified = signer.verify(issued.token, REQ, now=NOW + timedelta(minutes=4))
    assert verified.nonce == issued.nonce
    assert "+17015550123" not in issued.token and "Ann" not in issued.token


def test_variable_order_does_not_matter_but_values_and_types_do() -> None:
    signer = TokenSigner()
    token = signer.issue(REQ, now=NOW).token
    same = REQ.model_copy(update={"input_variables": {"n": 3, "name": "Ann"}})
    signer.verify(token, same, now=NOW)
    as_text = REQ.model_copy(update={"input_variables": {"name": "Ann", "n": "3"}})
    assert "input_variables changed" in str(refused(signer, token, as_text))


@pytest.mark.parametrize(
    ("update", "field"),
    [
        ({"phone_number": "+17015550124"}, "phone_number"),
        ({"assistant_id": "a2"}, "assistant_id"),
        ({"input_variables": {"name": "Bob", "n": 3}}, "input_variables"),
        ({"telephony_provider": "twilio"}, "telephony_provider"),
    ],
)
def test_a_changed_field_invalidates_the_token_and_is_named(update: dict[str, object], field: str) -> None:
    signer = TokenSigner()
    token = signer.issue(REQ, now=NOW).token
    err = refused(signer, token, REQ.model_copy(update=update))
    assert err.rule == "token-mismatch"
    assert f"({field} changed)" in str(err)


def test_an_expired_token_is_refused() -> None:
    signer = TokenSigner()
    token = signer.issue(REQ, now=NOW).token
    err = refused(signer, token, REQ, now=NOW + TOKEN_TTL)
    assert err.rule == "token-expired"
    assert "expired" in str(err)


def test_a_token_from_another_secret_or_altered_is_refused_as_forged() -> None:
    token = TokenSigner(b"k1" * 16).issue(REQ, now=NOW).token
    assert refused(TokenSigner(b"k2" * 16), token, REQ).rule == "token-invalid"
    signer = TokenSigner(b"k1" * 16)
    version, body, sig = token.split(".")
    flipped = body[:-2] + ("A" if body[-2] != "A" else "B") + body[-1]
    assert refused(signer, f"{version}.{flipped}.{sig}", REQ).rule == "token-invalid"
    assert refused(signer, f"{version}.{body}.{sig[::-1]}", REQ).rule == "token-invalid"


@pytest.mark.parametrize("garbage", ["", "v1", "v1.x.y", "v2.a.b", "not a token", "v1.!!!.???"])
def test_garbage_is_refused_without_a_traceback(garbage: str) -> None:
    err = refused(TokenSigner(), garbage, REQ)
    assert err.rule == "token-invalid"
    assert "again without confirmation_token" in str(err)


def test_every_token_has_its_own_nonce() -> None:
    signer = TokenSigner()
    nonces = {signer.issue(REQ, now=NOW).nonce for _ in range(50)}
    assert len(nonces) == 50


def test_a_token_from_before_a_restart_says_so_and_an_altered_one_says_forged() -> None:
    before, after = TokenSigner(), TokenSigner()  # two runs of the server: two random secrets
    assert before.key_id != after.key_id and len(after.key_id) == 8
    token = before.issue(REQ, now=NOW).token
    err = refused(after, token, REQ)
    assert err.rule == "token-invalid"
    assert "earlier run of this server" in str(err) and "restarted" in str(err) and "forged" not in str(err)
    assert before.key_id in str(err) and "again without confirmation_token" in str(err)
    # the key id is signed: relabelling an old token with this run's id does not make it pass, it is forged
    _, body, sig = token.split(".")
    relabelled = f"v2-{after.key_id}.{body}.{sig}"
    assert "forged or altered" in str(refused(after, relabelled, REQ))
    # altered within one run: forged, not "restarted"
    flipped = body[:-2] + ("A" if body[-2] != "A" else "B") + body[-1]
    altered = refused(before, f"v2-{before.key_id}.{flipped}.{sig}", REQ)
    assert "forged or altered" in str(altered) and "restart" not in str(altered)
    # the key id reveals nothing usable: the same secret gives the same id, and the id is not the secret
    assert TokenSigner(b"k1" * 16).key_id == TokenSigner(b"k1" * 16).key_id
    assert TokenSigner(b"k1" * 16).key_id not in (b"k1" * 16).hex()


# ----- through the dial tool (a real MCP session against the emulator) ----------------------------
MODE = "legacy"  # the dial path under test does not depend on the protocol version


async def test_a_forged_token_with_a_hostile_payload_is_refused_as_invalid(
    emu: RunningEmulator, tmp_path: Path
) -> None:
    payload = b'{"exp":1e400,"nonce":"n","fields":{}}'  # int(inf) overflows: parsed before the signature was checked

    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")

    token = f"v1.{b64(payload)}.{b64(b'0' * 32)}"
    async with dial_client(emu, tmp_path, MODE) as client:
        text = refusal(await call(client, confirmation_token=token), "token-invalid")
    assert "forged" in text
    assert dials(emu) == 0


async def test_a_token_issued_before_the_server_restarted_is_refused_saying_so(
    emu: RunningEmulator, tmp_path: Path
) -> None:
    """The same ledger, a new server process: the old token fails the HMAC, and the refusal said 'forged or
    altered'. It now says the server restarted and how to get a new preview."""
    ledger = tmp_path / "ledger.sqlite3"
    async with dial_client(emu, tmp_path, MODE, ledger=ledger) as before:
        token = structured(await call(before))["confirmation_token"]
    async with dial_client(emu, tmp_path, MODE, ledger=ledger) as after:
        text = refusal(await call(after, confirmation_token=token), "token-invalid")
        fresh = structured(await call(after))
    assert "earlier run of this server" in text and "restarted" in text and "forged" not in text, text
    assert "again without confirmation_token" in text
    assert fresh["status"] == "confirmation_required"
    assert dials(emu) == 0


# ----- campaign tokens (token mode's start of a campaign) ------------------------------------------
MANIFEST = "a" * 64


def test_a_campaign_token_starts_only_its_campaign_and_manifest_for_fifteen_minutes() -> None:
    signer = TokenSigner()
    issued = signer.issue_campaign("cmp_0123456789abcdef", MANIFEST, now=NOW)
    assert issued.expires_at == NOW + CAMPAIGN_TOKEN_TTL == NOW + timedelta(minutes=15)
    assert signer.verify_campaign(issued.token, "cmp_0123456789abcdef", MANIFEST, now=NOW).nonce == issued.nonce
    with pytest.raises(GuardRefusal) as other_campaign:
        signer.verify_campaign(issued.token, "cmp_ffffffffffffffff", MANIFEST, now=NOW)
    assert other_campaign.value.rule == "token-mismatch" and "campaign_id" in str(other_campaign.value)
    with pytest.raises(GuardRefusal) as other_list:
        signer.verify_campaign(issued.token, "cmp_0123456789abcdef", "b" * 64, now=NOW)
    assert "manifest_sha256" in str(other_list.value)
    with pytest.raises(GuardRefusal) as late:
        signer.verify_campaign(issued.token, "cmp_0123456789abcdef", MANIFEST, now=issued.expires_at)
    assert late.value.rule == "token-expired"


def test_a_dial_token_never_starts_a_campaign_and_a_campaign_token_never_confirms_a_dial() -> None:
    signer = TokenSigner()
    dial = signer.issue(REQ, now=NOW)
    campaign = signer.issue_campaign("cmp_0123456789abcdef", MANIFEST, now=NOW)
    with pytest.raises(GuardRefusal) as as_campaign:
        signer.verify_campaign(dial.token, "cmp_0123456789abcdef", MANIFEST, now=NOW)
    with pytest.raises(GuardRefusal) as as_dial:
        signer.verify(campaign.token, REQ, now=NOW)
    assert as_campaign.value.rule == as_dial.value.rule == "token-mismatch"


# ----------------------------------------------------------------------------------------------------
# VOICING_TOKEN_SECRET: one secret for the confirmation tokens of every replica — strong, never shown.


SECRET = "Zq3vN8pXw2LrT6yKc1HdJ5mBf9GsAe4U-_"  # 34 random characters
OTHER = "Pm7Qx2Rv9Tz4Wb6Yc8Ud1Ef3Gh5Jk0Ln-_"
NO_VARIABLES = OutboundCallRequest(
    assistant_id="a1", phone_number="+17015550123", input_variables={}, telephony_provider="default"
)


def test_replicas_with_one_token_secret_accept_each_others_tokens() -> None:
    issuer, redeemer = TokenSigner.from_setting(SECRET), TokenSigner.from_setting(SECRET)
    token = issuer.issue(NO_VARIABLES, now=NOW)
    assert redeemer.verify(token.token, NO_VARIABLES, now=NOW).nonce == token.nonce
    assert issuer.key_id == redeemer.key_id and issuer.shared


def test_a_token_signed_with_another_secret_names_the_secret_not_a_restart() -> None:
    token = TokenSigner.from_setting(OTHER).issue(NO_VARIABLES, now=NOW).token
    with pytest.raises(GuardRefusal) as info:
        TokenSigner.from_setting(SECRET).verify(token, NO_VARIABLES, now=NOW)
    text = str(info.value)
    assert info.value.rule == "token-invalid"
    assert "another VOICING_TOKEN_SECRET" in text and "restarted since" not in text
    assert SECRET not in text and OTHER not in text


def test_without_a_secret_a_token_from_another_process_names_the_setting_that_shares_them() -> None:
    token = TokenSigner().issue(NO_VARIABLES, now=NOW).token
    with pytest.raises(GuardRefusal) as info:
        TokenSigner().verify(token, NO_VARIABLES, now=NOW)
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
