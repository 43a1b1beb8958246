"""The emulator's faults: the kinds it can inject, one armed by a test, and the one chosen for a request."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, get_args

FaultKind = Literal[
    "500",
    "503",
    "429",
    "timeout",
    "reset",
    "drop-after-accept",
    "400-assistant",
    "404-user",
    "404-org",
    "accept-then-500",
    "accept-then-503",
    "accept-then-524",
    "accept-then-408",
]
FAULT_KINDS: tuple[FaultKind, ...] = get_args(FaultKind)
# what the seeded random fault injection picks from (``timeout`` would hold a request for a minute)
RANDOM_FAULTS: tuple[FaultKind, ...] = ("500", "503", "429", "reset", "drop-after-accept")
TIMEOUT_HOLD_SECONDS = 60.0


@dataclass(slots=True)
class ArmedFault:
    fault: FaultKind
    path: str
    times: int
    retry_after: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"fault": self.fault, "path": self.path, "times": self.times, "retry_after": self.retry_after}


@dataclass(frozen=True, slots=True)
class FaultChoice:
    fault: FaultKind
    retry_after: float | None
    source: Literal["header", "armed", "random"]
