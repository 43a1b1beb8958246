"""``server/shared_state.py``: replicas sharing VOICING_TOKEN_SECRET derive the same ``requestState`` key (a key of
its own, not the secret), so an elicitation round started on one replica can finish on another; without the
secret the SDK keeps its per-process key."""

from __future__ import annotations

import pytest
from mcp.server.request_state import AESGCMRequestStateCodec, InvalidRequestState

from voicing_mcp.config import load_settings
from voicing_mcp.server.shared_state import request_state_security

SECRET = "Zq3vN8pXw2LrT6yKc1HdJ5mBf9GsAe4U-_"
OTHER = "Yp2uM7oWv1KqS5xJb0GcI4lAe8FrZd3T-_"


def test_without_a_token_secret_the_sdk_keeps_its_per_process_key() -> None:
    assert request_state_security(load_settings()) is None


def test_replicas_with_one_secret_seal_and_unseal_each_others_request_state() -> None:
    one = request_state_security(load_settings(token_secret=SECRET))
    two = request_state_security(load_settings(token_secret=SECRET))
    other = request_state_security(load_settings(token_secret=OTHER))
    assert one is not None and two is not None and other is not None
    sealed = one.codec.seal(b"elicitation round 1")
    assert two.codec.unseal(sealed) == b"elicitation round 1"
    assert SECRET not in sealed
    with pytest.raises(InvalidRequestState):
        other.codec.unseal(sealed)
    with pytest.raises(InvalidRequestState):  # the key is derived, not the secret itself
        AESGCMRequestStateCodec([SECRET.encode()[:32]]).unseal(sealed)
