"""The emulator's calls: the outcome a number gets, the plan of a call's life, and its view at a virtual time.

Outcomes by number (NANP fictional range ``+1 NXX 555 01DD``, by ``DD``)::

    00-39 completed          60-69 voicemail        90-99 completed, callee hung up early
    40-49 busy               70-79 failed           any other number: completed
    50-59 no-answer          80-89 completed (long call)

Life of a call, in virtual seconds after it was accepted: ``queued`` (0-1), ``initiated`` (1-3),
then ``failed`` at 3, or ``ringing`` for a few seconds, then ``busy``/``no-answer``, or
``in-progress`` while talking, then ``completed``/``voicemail``. Timings and the transcript come from a
hash of the call's id, so the same call always lives the same life.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

Outcome = Literal["completed", "long", "hung-up-early", "busy", "no-answer", "voicemail", "failed"]
TERMINAL_STATUSES = frozenset({"completed", "busy", "no-answer", "voicemail", "failed"})
STATUSES = ("queued", "initiated", "ringing", "in-progress", "completed", "busy", "no-answer", "voicemail", "failed")

ENDED_REASONS: dict[Outcome, str] = {
    "completed": "assistant-ended-call",
    "long": "assistant-ended-call",
    "hung-up-early": "customer-ended-call",
    "busy": "customer-busy",
    "no-answer": "customer-did-not-answer",
    "voicemail": "voicemail",
    "failed": "telephony-error",
}
FINAL_STATUS: dict[Outcome, str] = {
    "completed": "completed",
    "long": "completed",
    "hung-up-early": "completed",
    "busy": "busy",
    "no-answer": "no-answer",
    "voicemail": "voicemail",
    "failed": "failed",
}

T_INITIATED = 1.0
T_DIALLED = 3.0  # ringing starts (or the call fails) this long after it was accepted


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


_DIGITS = re.compile(r"\D")


def outcome_for_number(phone_number: str) -> Outcome:
    """The outcome table: ``+1 NXX 555 01DD`` (or the same ten digits without ``+1``) by ``DD``."""
    text = phone_number.strip()
    digits = _DIGITS.sub("", text)
    if text.startswith("+"):
        if not digits.startswith("1"):
            return "completed"
        digits = digits[1:]
    elif len(digits) == 11 and digits.startswith("1"):
        digits = digits[1:]
    if len(digits) != 10 or digits[0] in "01" or digits[3:8] != "55501":
        return "completed"
    dd = int(digits[8:])
    if dd < 40:
        return "completed"
    if dd < 50:
        return "busy"
    if dd < 60:
        return "no-answer"
    if dd < 70:
        return "voicemail"
    if dd < 80:
        return "failed"
    if dd < 90:
        return "long"
    return "hung-up-early"


def _id_hash(call_id: str) -> int:
    return int.from_bytes(hashlib.blake2b(call_id.encode("utf-8"), digest_size=8).digest(), "big")


def plan_timings(call_id: str, outcome: Outcome) -> tuple[float, float]:
    """(ring seconds, talk seconds) for a call, from a hash of its id."""
    h = _id_hash(call_id)
    a, b = h & 0xFFFFFFFF, h >> 32
    match outcome:
        case "completed":
            return 4 + a % 12, 30 + b % 211
        case "long":
            return 4 + a % 12, 360 + b % 181
        case "hung-up-early":
            return 4 + a % 8, 2 + b % 7
        case "busy":
            return 2 + a % 3, 0
        case "no-answer":
            return 30 + a % 15, 0
        case "voicemail":
            return 15 + a % 10, 15 + b % 26
        case "failed":
            return 0, 0


_USER_OPENERS = (
    "Yes, speaking. What is this about?",
    "Oh, hello. Okay, go on.",
    "Hi. Sure, I have a minute.",
    "Yes? Who is calling?",
)
_USER_REPLIES = (
    "Okay, thanks for letting me know.",
    "I see. I will take care of it this week.",
    "Right, that makes sense.",
    "Good to know, thank you.",
)
_LONG_MIDDLE = (
    ("user", "Actually, I have a few questions about that."),
    ("assistant", "Of course. Let me go through the details with you."),
    ("user", "Can you repeat the last part?"),
    ("assistant", "Certainly. I will summarise it again."),
)


def script_for(call_id: str, outcome: Outcome, opening: str, talk: float) -> list[tuple[float, str, str]]:
    """The whole transcript of an answered call: (seconds after answer, role, text)."""
    if outcome == "voicemail":
        return [(0.0, "assistant", f"(voicemail) {opening}")]
    if outcome not in ("completed", "long", "hung-up-early"):
        return []
    h = _id_hash(call_id)
    if outcome == "hung-up-early":
        lines = [(0.0, "assistant", opening)]
        if talk >= 4:
            lines.append((talk - 1, "user", "Sorry, this is not a good time."))
        return lines
    lines_text: list[tuple[str, str]] = [
        ("assistant", opening),
        ("user", _USER_OPENERS[h % len(_USER_OPENERS)]),
    ]
    if outcome == "long":
        lines_text += list(_LONG_MIDDLE)
    lines_text += [
        ("assistant", "Is there anything else I can help you with today?"),
        ("user", _USER_REPLIES[(h >> 8) % len(_USER_REPLIES)]),
        ("assistant", "Thank you for your time. Goodbye!"),
    ]
    n = len(lines_text)
    return [(round(talk * i / n, 1), role, text) for i, (role, text) in enumerate(lines_text)]


@dataclass(slots=True)
class Call:
    """A call as stored. Everything that changes with time is derived in :meth:`view`."""

    call_id: str
    assistant_id: str
    phone_number: str
    input_variables: dict[str, Any]
    telephony_provider: str
    created: float  # virtual epoch seconds
    outcome: Outcome
    ring: float
    talk: float
    opening: str
    _final: dict[str, Any] | None = field(default=None, repr=False, compare=False)

    @property
    def answered_at(self) -> float | None:
        if self.outcome in ("failed", "busy", "no-answer"):
            return None
        return self.created + T_DIALLED + self.ring

    @property
    def ends_at(self) -> float:
        if self.outcome == "failed":
            return self.created + T_DIALLED
        return self.created + T_DIALLED + self.ring + self.talk

    def status_at(self, now: float) -> str:
        elapsed = now - self.created
        if elapsed < T_INITIATED:
            return "queued"
        if elapsed < T_DIALLED:
            return "initiated"
        if now >= self.ends_at:
            return FINAL_STATUS[self.outcome]
        answered = self.answered_at
        if answered is None or now < answered:
            return "ringing"
        return "in-progress"

    def view(self, now: float, *, transcript: bool) -> dict[str, Any]:
        """The call as the API shows it at virtual time ``now`` (a finished call's view is cached)."""
        if self._final is not None:
            return self._with_transcript(self._final, self.talk) if transcript else self._final
        status = self.status_at(now)
        answered = self.answered_at
        ended = status in TERMINAL_STATUSES
        picked_up = answered is not None and now >= answered
        talked = min(now, self.ends_at) - answered if answered is not None and picked_up else 0.0
        out: dict[str, Any] = {
            "call_id": self.call_id,
            "status": status,
            "duration": int(talked),
            "started_at": iso(answered) if answered is not None and picked_up else None,
            "ended_at": iso(self.ends_at) if ended else None,
            "created_at": iso(self.created),
            "assistant_id": self.assistant_id,
            "phone_number": self.phone_number,
            "input_variables": self.input_variables,
            "telephony_provider": self.telephony_provider,
            "ended_reason": ENDED_REASONS[self.outcome] if ended else None,
        }
        if ended:
            self._final = out  # nothing changes once a call has ended (the clock never goes back)
        if transcript:
            return self._with_transcript(out, talked if picked_up else -1.0)
        return out

    def _with_transcript(self, base: dict[str, Any], talked: float) -> dict[str, Any]:
        lines = script_for(self.call_id, self.outcome, self.opening, self.talk)
        return {**base, "transcript": [{"role": role, "text": text, "t": t} for t, role, text in lines if t <= talked]}


@dataclass(slots=True)
class SeededCall(Call):
    """A call record put in by a test (``POST /_emulator/calls``): the API shows exactly its fields, whatever
    they hold (a hostile ``ended_reason``, a transcript line with newlines and escapes, unknown fields). Its
    ``transcript`` is shown only where the API shows transcripts (one call's details), like any call's."""

    fields: dict[str, Any] = field(default_factory=dict[str, Any])

    def status_at(self, now: float) -> str:
        status = self.fields.get("status")
        return status if isinstance(status, str) else ""

    def view(self, now: float, *, transcript: bool) -> dict[str, Any]:
        return {k: v for k, v in self.fields.items() if transcript or k != "transcript"}
