"""What the dial workflow is asked to do, and what a human's approval binds: one request, or a batch.

:class:`DialRequest` is the model's request as one frozen value: it goes into the guard whole
(:meth:`~voicing_mcp.guard.policy.DialGuard.check`, :class:`~voicing_mcp.guard.workflow.DialWorkflow`), never
unpacked into keyword arguments. :class:`BatchRequest` is a set of them approved at once (a campaign), and
:class:`Approval` is the record a human's click leaves in the ledger, for either: bound to the digest of one
request or to the sha256 of a batch's manifest, under the ledger scope of the API the dials reach.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from types import MappingProxyType
from typing import Any

from voicing_mcp.api.models import OutboundCallRequest
from voicing_mcp.guard.tokens import canonical_request


@dataclass(frozen=True, slots=True)
class DialRequest:
    """What the model asked to dial: the tool's arguments that the guard checks, as one value."""

    assistant_id: str
    phone_number: str
    input_variables: Mapping[str, Any]
    telephony_provider: str = "default"
    confirmation_token: str | None = None

    @classmethod
    def of(
        cls,
        assistant_id: str,
        phone_number: str,
        input_variables: Mapping[str, Any] | None = None,
        telephony_provider: str = "default",
        confirmation_token: str | None = None,
    ) -> DialRequest:
        """The request from the tool's arguments (the variables copied, read-only)."""
        variables = MappingProxyType(dict(input_variables or {}))
        return cls(assistant_id, phone_number, variables, telephony_provider, confirmation_token)


def request_digest(req: OutboundCallRequest) -> str:
    """The digest an approval of one request is bound to: the exact normalised request
    (:func:`~voicing_mcp.guard.tokens.canonical_request`)."""
    canon = json.dumps(canonical_request(req), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canon.encode()).hexdigest()


def manifest_digest(requests: tuple[OutboundCallRequest, ...]) -> str:
    """The ``manifest_sha256`` of a batch: the digests of its accepted, normalised rows, in order."""
    return hashlib.sha256("\n".join(request_digest(r) for r in requests).encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class BatchRequest:
    """Many dial requests approved on one page (a campaign; issue 16). Not dialled by anything yet.

    How a batch goes through the same workflow (:mod:`voicing_mcp.guard.workflow`), without a second one:

    1. every row is checked as a single dial is (:meth:`DialGuard.check` per :class:`DialRequest`); the rows
       that pass are the accepted ones, in order, and :func:`manifest_digest` of their normalised requests is
       the batch's digest;
    2. the mode in effect is decided as for one request (never allow-list for a batch: a list is always
       shown to the human); the page asks once for the whole list;
    3. the human's click leaves one :class:`Approval` whose ``digest`` is the manifest's and whose ``rows``
       are the ticked 1-based positions; it is recorded, taken and spent under :func:`approval_key` exactly as
       a single approval (a changed list has another digest: a new approval);
    4. each ticked row is then dialled through the same re-check and
       :meth:`~voicing_mcp.guard.policy.DialGuard.place_call` (ledger intent, one POST, outcome), recorded
       with the campaign as its confirmation.
    """

    name: str | None
    rows: tuple[DialRequest, ...]


@dataclass(frozen=True, slots=True)
class Approval:
    """A human's approval as the ledger keeps it, so any replica on the ledger can complete the dial(s).

    ``key`` is :func:`~voicing_mcp.guard.workflow.approval_key` of ``digest`` (the server's ledger scope and
    the digest); ``digest`` is :func:`request_digest` of one request or :func:`manifest_digest` of a batch;
    ``nonce`` is spent once in the ledger when the approval dials; ``rows`` are the ticked positions of a
    batch (None for one request).
    """

    key: str
    digest: str
    nonce: str
    expires_at: datetime
    rows: tuple[int, ...] | None = None
