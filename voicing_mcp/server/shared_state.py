"""What replicas of one shared service must agree on beyond the ledger: the key of the SDK's ``requestState``.

On the 2026-07-28 protocol a question to the human (elicitation) is a round trip through the client: the server
answers ``input_required`` with a sealed ``requestState`` and the client retries the call with the answer and
that state. Behind a load balancer the retry may reach another replica, which must unseal the state: the SDK's
default key is random per process ("Invalid or expired requestState" on every other replica). With
``VOICING_TOKEN_SECRET`` set, every replica derives the same AES-GCM key from it (a key of its own, not the token
key: one secret, two uses, separated by a label); without it the SDK's per-process key stays.
"""

from __future__ import annotations

import hashlib

from mcp.server.request_state import RequestStateSecurity

from voicing_mcp.config import Settings

_LABEL = b"voicing-mcp request state key\x00"


def request_state_security(settings: Settings) -> RequestStateSecurity | None:
    """The SDK's request-state protection keyed by VOICING_TOKEN_SECRET, or None (the SDK's per-process key)."""
    if settings.token_secret is None:
        return None
    key = hashlib.sha256(_LABEL + settings.token_secret.get_secret_value().encode()).digest()
    return RequestStateSecurity(keys=[key])
