"""Confirmation tokens: HMAC-SHA256 over the canonical normalised request, an expiry and a nonce.

A token is ``v2-<key id>.<payload>.<signature>`` (base64url). The payload carries the expiry, a
random nonce and, per field, a keyed digest of the value it was issued for, so a mismatch can say
which field changed without revealing the values. The secret is random per process (a restart
invalidates outstanding tokens) unless ``VOICING_TOKEN_SECRET`` gives one: then every replica that shares
it verifies the tokens of the others, and tokens survive a restart (:meth:`TokenSigner.from_setting`).
The key id — 8 hex digits of a hash of the key, not secret itself, covered by the signature — lets the
refusal of a token from before a restart (or signed with another shared secret) say so instead of
"forged". Single use is enforced by spending the nonce in the ledger, which replicas share.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from voicing_mcp.api.models import OutboundCallRequest
from voicing_mcp.messages import refusal

TOKEN_TTL = timedelta(minutes=5)
_VERSION = "v2"
#: the format before key ids: such a token can only come from a run before a restart (or a forger)
_OLD_VERSION = "v1"
_KEY_ID = re.compile(r"[0-9a-f]{8}")
FIELDS = ("phone_number", "assistant_id", "input_variables", "telephony_provider")
#: a campaign token (token mode) binds these: the campaign and the manifest of its accepted rows
CAMPAIGN_FIELDS = ("campaign_id", "manifest_sha256")
CAMPAIGN_TOKEN_TTL = timedelta(minutes=15)
"""A campaign token lives longer than a dial's (5 minutes): the user reads a list's summary (counts, exclusions,
schedule) before saying yes. It stays single-use and bound to the exact manifest; an expired one is re-issued by
asking again (the campaign keeps waiting for its approval)."""


def canonical_request(req: OutboundCallRequest) -> dict[str, str]:
    """Each field of the request as canonical text (JSON with sorted keys)."""
    return {
        "phone_number": req.phone_number,
        "assistant_id": req.assistant_id,
        "input_variables": json.dumps(req.input_variables, sort_keys=True, separators=(",", ":"), ensure_ascii=False),
        "telephony_provider": req.telephony_provider,
    }


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(frozen=True, slots=True)
class IssuedToken:
    token: str
    nonce: str
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class VerifiedToken:
    nonce: str
    expires_at: datetime


class TokenSigner:
    """Issues and verifies confirmation tokens with one secret (random per process unless given).

    ``shared``: the secret is VOICING_TOKEN_SECRET, common to every replica (a key id that differs then means
    another secret, not a restart)."""

    def __init__(self, secret: bytes | None = None, *, ttl: timedelta = TOKEN_TTL, shared: bool = False) -> None:
        self._secret = secret if secret is not None else secrets.token_bytes(32)
        self.ttl = ttl
        self.shared = shared
        #: names the secret without revealing it: tokens of another run carry another id
        self.key_id = hashlib.sha256(b"voicing-mcp token key id\x00" + self._secret).hexdigest()[:8]

    @classmethod
    def from_setting(cls, secret: str | None, *, ttl: timedelta = TOKEN_TTL) -> TokenSigner:
        """The signer of VOICING_TOKEN_SECRET (the key derived from it, so the setting's text is used for
        nothing else), or a random per-process one when it is not set."""
        if secret is None:
            return cls(ttl=ttl)
        key = hashlib.sha256(b"voicing-mcp confirmation token key\x00" + secret.encode()).digest()
        return cls(key, ttl=ttl, shared=True)

    def __repr__(self) -> str:  # never the secret
        return f"TokenSigner(key_id={self.key_id!r}, shared={self.shared})"

    @property
    def _head(self) -> str:
        return f"{_VERSION}-{self.key_id}"

    def _mac(self, data: bytes) -> bytes:
        return hmac.new(self._secret, data, hashlib.sha256).digest()

    def _field_digest(self, name: str, value: str) -> str:
        return _b64(self._mac(f"field\x00{name}\x00{value}".encode()))[:22]

    def issue(self, req: OutboundCallRequest, *, now: datetime | None = None) -> IssuedToken:
        return self._issue(canonical_request(req), FIELDS, now=now, ttl=self.ttl)

    def verify(self, token: str, req: OutboundCallRequest, *, now: datetime | None = None) -> VerifiedToken:
        """Check signature, expiry and binding to ``req``; a refusal's rule is ``token-invalid``, ``token-expired``
        or ``token-mismatch``."""
        return self._verify(token, canonical_request(req), FIELDS, now=now, ttl=self.ttl)

    # ----- campaigns (token mode): one token starts one prepared campaign ---------------------------------
    def issue_campaign(self, campaign_id: str, manifest_sha256: str, *, now: datetime | None = None) -> IssuedToken:
        """A token that starts campaign ``campaign_id`` with exactly this manifest (:data:`CAMPAIGN_TOKEN_TTL`).
        Its fields are not a dial's: it never confirms a single call, and a dial's token never starts a campaign."""
        canon = {"campaign_id": campaign_id, "manifest_sha256": manifest_sha256}
        return self._issue(canon, CAMPAIGN_FIELDS, now=now, ttl=CAMPAIGN_TOKEN_TTL)

    def verify_campaign(
        self, token: str, campaign_id: str, manifest_sha256: str, *, now: datetime | None = None
    ) -> VerifiedToken:
        """Check a campaign token's signature, expiry and binding to this campaign and manifest."""
        canon = {"campaign_id": campaign_id, "manifest_sha256": manifest_sha256}
        return self._verify(token, canon, CAMPAIGN_FIELDS, now=now, ttl=CAMPAIGN_TOKEN_TTL)

    def _issue(
        self, canon: dict[str, str], fields: tuple[str, ...], *, now: datetime | None, ttl: timedelta
    ) -> IssuedToken:
        now = now or datetime.now(UTC)
        expires_at = (now + ttl).replace(microsecond=0)
        nonce = secrets.token_hex(16)
        payload = {
            "exp": int(expires_at.timestamp()),
            "nonce": nonce,
            "fields": {name: self._field_digest(name, canon[name]) for name in fields},
        }
        body = _b64(json.dumps(payload, sort_keys=True, separators=(",", ":")).encode())
        signature = _b64(self._mac(f"{self._head}.{body}".encode()))
        return IssuedToken(token=f"{self._head}.{body}.{signature}", nonce=nonce, expires_at=expires_at)

    def _verify(
        self, token: str, canon: dict[str, str], fields: tuple[str, ...], *, now: datetime | None, ttl: timedelta
    ) -> VerifiedToken:
        now = now or datetime.now(UTC)
        parts = token.strip().split(".")
        if len(parts) == 3 and parts[0] == _OLD_VERSION:
            raise refusal("token-old-format")
        version, _, key_id = parts[0].partition("-") if len(parts) == 3 else ("", "", "")
        if version != _VERSION or not _KEY_ID.fullmatch(key_id):
            raise refusal("token-foreign")
        if key_id != self.key_id and self.shared:
            raise refusal("token-other-secret", key_id=key_id, ours=self.key_id)
        if key_id != self.key_id:
            raise refusal("token-restarted", key_id=key_id, ours=self.key_id)
        head, body, signature = parts
        try:
            given_sig = _unb64(signature)
        except (ValueError, binascii.Error):
            raise refusal("token-malformed") from None
        # the signature first: only a payload this server wrote is ever parsed
        if not hmac.compare_digest(given_sig, self._mac(f"{head}.{body}".encode())):
            raise refusal("token-forged")
        try:
            payload = json.loads(_unb64(body))
            exp = int(payload["exp"])
            nonce = str(payload["nonce"])
            digests = payload["fields"]
            if not isinstance(digests, dict):
                raise TypeError("fields")
        except (ValueError, KeyError, TypeError, binascii.Error, UnicodeDecodeError):
            raise refusal("token-malformed") from None
        expires_at = datetime.fromtimestamp(exp, UTC)
        if now >= expires_at:
            raise refusal("token-expired", expired_at=expires_at, ttl_seconds=int(ttl.total_seconds()))
        changed = [name for name in fields if digests.get(name) != self._field_digest(name, canon[name])]
        if changed:
            raise refusal("token-mismatch", changed=changed)
        return VerifiedToken(nonce=nonce, expires_at=expires_at)
