"""What the guard's checks 1-4 produce: the normalised request, the preview a human confirms, and warnings."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from voicing_mcp.api.models import OutboundCallRequest
from voicing_mcp.guard.phone import PhoneInfo


class Preview(BaseModel):
    """What the human sees before confirming; also the ``preview`` of the dial tool's result.

    Rendered in one place, :mod:`voicing_mcp.server.render.preview` (the question, the confirm page, the result text).
    """

    model_config = ConfigDict(frozen=True)

    phone_number: str = Field(description="E.164, exactly as sent to the API.")
    international: str = Field(description="The number in international format.")
    country: str
    line_type: str
    callee_local_time: str = Field(description="The callee's local time now (a range for numbers spanning zones).")
    time_zones: list[str]
    assistant_id: str
    opening_line: str | None = Field(description="The assistant's first line, rendered from the local template.")
    telephony_provider: str
    input_variables: dict[str, str | int | float | bool]
    local_mode: bool = Field(description="True with the built-in emulator: no real phone will ring.")
    note: str | None = None


@dataclass(frozen=True, slots=True)
class CheckedDial:
    """The outcome of checks 1-4: the normalised request, its preview, and warnings. (Named apart from
    :class:`voicing_mcp.api.retry.Decision`, the retry policy's verdict: one name per meaning.)"""

    request: OutboundCallRequest
    phone: PhoneInfo
    preview: Preview
    warnings: list[str] = field(default_factory=list[str])
    allow_listed: bool = False
    checked_at: datetime | None = None
