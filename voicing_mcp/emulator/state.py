"""The emulator's in-memory world: assistants, calls on a virtual clock, armed faults, the request log.

Nothing here runs in the background. A call is stored once, with the plan of its life fixed at
creation (:mod:`voicing_mcp.emulator.calls`: outcome from the number, timings from a hash of its id); its
status, timestamps, duration and transcript are computed on read from the virtual clock. That keeps every
request O(1) per call and makes the emulator deterministic.
"""

from __future__ import annotations

import asyncio
import logging
import math
import random
import time
import uuid
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jinja2 import DebugUndefined, TemplateError, TemplateSyntaxError, meta
from jinja2.sandbox import SandboxedEnvironment

from voicing_mcp.config import PACKAGE_PROMPTS_DIR
from voicing_mcp.emulator.calls import Call, SeededCall, iso, outcome_for_number, plan_timings
from voicing_mcp.emulator.faults import RANDOM_FAULTS, ArmedFault, FaultChoice, FaultKind
from voicing_mcp.paths import read_template_text
from voicing_mcp.redact import mask_number

log = logging.getLogger("voicing_mcp.emulator")

REQUEST_LOG_MAX = 20_000


@dataclass(slots=True)
class EmulatorConfig:
    """How an emulator instance behaves. The defaults suit tests and demos."""

    api_key: str = "emulator"
    speed: float = 60.0  # virtual seconds per wall second
    seed: int = 0
    fault_rate: float = 0.0
    latency_ms: float = 0.0
    seed_calls: int = 300
    prompts_dir: Path = PACKAGE_PROMPTS_DIR
    more_prompts_dirs: tuple[Path, ...] = ()
    """Further folders of assistants; an id in an earlier folder wins (local mode: the user's, then the examples)."""
    telephony_providers: tuple[str, ...] = ("default",)

    def __post_init__(self) -> None:
        if not math.isfinite(self.speed) or self.speed < 0:
            raise ValueError("speed must be a finite number >= 0")
        if not 0.0 <= self.fault_rate <= 1.0:
            raise ValueError("fault_rate must be between 0 and 1")
        if not math.isfinite(self.latency_ms) or self.latency_ms < 0:
            raise ValueError("latency_ms must be a finite number >= 0")
        if self.seed_calls < 0:
            raise ValueError("seed_calls must be >= 0")


# ----- assistants ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Assistant:
    """One assistant: a prompt template (``<assistant_id>.j2``) rendered in a sandbox."""

    assistant_id: str
    source: str
    variables: tuple[str, ...]
    _template: Any = field(repr=False, compare=False)

    def render(self, variables: Mapping[str, object]) -> str:
        try:
            return " ".join(str(self._template.render(dict(variables))).split())
        except (TemplateError, ArithmeticError, TypeError, ValueError, LookupError, AttributeError, RecursionError):
            # an expression failing on these values ({{ amount * 1.2 }} with amount "100"): the raw prompt
            return " ".join(self.source.split())


def load_assistants(prompts_dir: Path) -> dict[str, Assistant]:
    """Every ``*.j2`` in ``prompts_dir``; the file stem is the assistant id. Broken templates are skipped."""
    env = SandboxedEnvironment(undefined=DebugUndefined, autoescape=False)
    out: dict[str, Assistant] = {}
    if not prompts_dir.is_dir():
        log.warning("prompts folder %s does not exist; no assistants", prompts_dir)
        return out
    for path in sorted(prompts_dir.glob("*.j2")):
        try:
            source = read_template_text(path)
        except (OSError, UnicodeDecodeError) as exc:  # not UTF-8, unreadable, a folder or FIFO named *.j2, huge
            log.warning("skipping %s: cannot be read (%s)", path.name, type(exc).__name__)
            continue
        try:
            variables = tuple(sorted(meta.find_undeclared_variables(env.parse(source))))
            template = env.from_string(source)
        except TemplateSyntaxError as exc:
            log.warning("skipping %s: line %s: %s", path.name, exc.lineno, exc.message)
            continue
        out[path.stem] = Assistant(path.stem, source, variables, template)
    return out


# ----- clock -----------------------------------------------------------------------------------


class VirtualClock:
    """Virtual time: wall time since start × ``speed``, plus manual jumps. Epoch seconds, UTC."""

    def __init__(self, speed: float, start: float | None = None) -> None:
        self.speed = speed
        self._virtual0 = float(int(time.time() if start is None else start))
        self._wall0 = time.monotonic()
        self._jumped = 0.0

    def now(self) -> float:
        return self._virtual0 + (time.monotonic() - self._wall0) * self.speed + self._jumped

    def advance(self, seconds: float) -> float:
        self._jumped += seconds
        return self.now()


# ----- the state ---------------------------------------------------------------------------------

_FAKE_VALUES: dict[str, tuple[str, ...]] = {
    "name": ("John Doe", "Priya Sharma", "Ana Lopez", "Wei Chen", "Sam Okafor", "Maria Rossi"),
    "plan_type": ("Premium", "Basic", "Family", "Business"),
    "date": ("May 12", "June 3", "July 21", "August 9"),
    "time": ("9:30 AM", "2:00 PM", "4:15 PM"),
    "clinic": ("Riverside Clinic", "Northgate Health"),
}


class EmulatorState:
    """All the emulator's data. One per app; nothing global."""

    def __init__(self, config: EmulatorConfig) -> None:
        self.config = config
        self.assistants: dict[str, Assistant] = {}
        folders = (config.prompts_dir, *config.more_prompts_dirs)
        for folder in reversed(folders):
            if len(folders) == 1 or folder.is_dir():  # a missing one of several is no news (warned when alone)
                self.assistants.update(load_assistants(folder))
        self.calls: dict[str, Call] = {}
        self.order: list[Call] = []  # oldest first
        self.requests: deque[dict[str, Any]] = deque(maxlen=REQUEST_LOG_MAX)
        self.dialled: list[str] = []
        self.armed: list[ArmedFault] = []
        self.clock = VirtualClock(config.speed)
        self._renders: dict[tuple[str, tuple[tuple[str, Any], ...]], str] = {}
        self.closing = asyncio.Event()  # set by the runner when the server stops: held requests end
        self._fault_rng = random.Random(config.seed)
        self._seed_history()

    # --- lifecycle of the state itself
    def reset(self) -> None:
        """Back to a fresh start: history re-seeded, logs, dials, faults and clock cleared."""
        self.calls.clear()
        self.order.clear()
        self.requests.clear()
        self.dialled.clear()
        self.armed.clear()
        self.clock = VirtualClock(self.config.speed)
        self._fault_rng = random.Random(self.config.seed)
        self._seed_history()

    def _seed_history(self) -> None:
        """``seed_calls`` finished calls over the week before the clock started, from ``seed``."""
        if not self.assistants or self.config.seed_calls == 0:
            return
        rng = random.Random(f"history:{self.config.seed}")
        assistants = sorted(self.assistants)
        start = self.clock.now()
        ages = sorted((rng.uniform(3_600, 7 * 86_400) for _ in range(self.config.seed_calls)), reverse=True)
        for age in ages:
            assistant = self.assistants[rng.choice(assistants)]
            number = f"+1{rng.choice(('701', '212', '415', '617', '312'))}55501{rng.randrange(100):02d}"
            variables = {v: rng.choice(_FAKE_VALUES.get(v, ("sample",))) for v in assistant.variables}
            call_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
            self._store(assistant, number, variables, "default", call_id, start - age)

    def _store(
        self,
        assistant: Assistant,
        phone_number: str,
        variables: dict[str, Any],
        provider: str,
        call_id: str,
        created: float,
    ) -> Call:
        outcome = outcome_for_number(phone_number)
        ring, talk = plan_timings(call_id, outcome)
        call = Call(
            call_id=call_id,
            assistant_id=assistant.assistant_id,
            phone_number=phone_number,
            input_variables=variables,
            telephony_provider=provider,
            created=created,
            outcome=outcome,
            ring=ring,
            talk=talk,
            opening=self._render(assistant, variables),
        )
        self.calls[call_id] = call
        self.order.append(call)
        return call

    def _render(self, assistant: Assistant, variables: dict[str, Any]) -> str:
        """Render the opening line, memoised for the few distinct variable sets of the seeded history."""
        try:
            key = (assistant.assistant_id, tuple(sorted(variables.items())))
            hash(key)
        except TypeError:
            return assistant.render(variables)
        cached = self._renders.get(key)
        if cached is None:
            cached = self._renders[key] = assistant.render(variables)
            if len(self._renders) > 4096:
                self._renders.clear()
        return cached

    # --- dialling
    def dial(self, assistant: Assistant, phone_number: str, variables: dict[str, Any], provider: str) -> Call:
        """Record a new call and count the dial. The id is random so it is never reused across runs."""
        call = self._store(assistant, phone_number, variables, provider, str(uuid.uuid4()), self.clock.now())
        self.dialled.append(call.call_id)
        log.info(
            "call %s to %s (%s, outcome %s)",
            call.call_id,
            mask_number(phone_number),
            assistant.assistant_id,
            call.outcome,
        )
        return call

    def seed_call(self, fields: dict[str, Any]) -> SeededCall:
        """Store a call record with arbitrary fields as the newest call, or in place of the call with its
        ``call_id`` (a dialled call's too: its answers then change). Not a dial: the counter is unchanged."""
        call_id = fields.get("call_id")
        if not isinstance(call_id, str) or not call_id:
            call_id = str(uuid.uuid4())
        record = {**fields, "call_id": call_id}
        assistant_id, phone_number = record.get("assistant_id"), record.get("phone_number")
        call = SeededCall(
            call_id=call_id,
            assistant_id=assistant_id if isinstance(assistant_id, str) else "",
            phone_number=phone_number if isinstance(phone_number, str) else "",
            input_variables={},
            telephony_provider="default",
            created=self.clock.now(),
            outcome="completed",
            ring=0.0,
            talk=0.0,
            opening="",
            fields=record,
        )
        previous = self.calls.get(call_id)
        if previous is not None:
            self.order[self.order.index(previous)] = call
        else:
            self.order.append(call)
        self.calls[call_id] = call
        return call

    # --- reading
    def call_view(self, call_id: str, *, transcript: bool = True) -> dict[str, Any] | None:
        call = self.calls.get(call_id)
        return None if call is None else call.view(self.clock.now(), transcript=transcript)

    def page(
        self, *, page: int, limit: int, status: str | None = None, assistant_id: str | None = None
    ) -> dict[str, Any]:
        """Newest first, optionally filtered, with page metadata."""
        now = self.clock.now()
        if status is None and assistant_id is None:
            total = len(self.order)
            hi = total - (page - 1) * limit
            lo = max(hi - limit, 0)
            chosen = reversed(self.order[lo:hi]) if hi > 0 else iter(())
        else:
            matching = [
                c
                for c in reversed(self.order)
                if (assistant_id is None or c.assistant_id == assistant_id)
                and (status is None or c.status_at(now) == status)
            ]
            total = len(matching)
            chosen = iter(matching[(page - 1) * limit : page * limit])
        total_pages = -(-total // limit)
        return {
            "success": True,
            "data": [c.view(now, transcript=False) for c in chosen],
            "page": page,
            "limit": limit,
            "total": total,
            "total_pages": total_pages,
            "has_next": page < total_pages,
        }

    def bulk(self, call_ids: list[str]) -> list[dict[str, Any]]:
        """Known ids in request order, each once; unknown ids left out."""
        now = self.clock.now()
        seen: set[str] = set()
        out: list[dict[str, Any]] = []
        for call_id in call_ids:
            call = self.calls.get(call_id)
            if call is not None and call_id not in seen:
                seen.add(call_id)
                out.append(call.view(now, transcript=False))
        return out

    # --- faults
    def arm(self, fault: ArmedFault) -> None:
        self.armed.append(fault)

    def choose_fault(self, path: str, header: FaultKind | None, header_retry_after: float | None) -> FaultChoice | None:
        """Header first, then the first armed fault matching ``path``, then a seeded random one."""
        if header is not None:
            return FaultChoice(header, header_retry_after, "header")
        for armed in self.armed:
            if path.startswith(armed.path):
                armed.times -= 1
                if armed.times <= 0:
                    self.armed.remove(armed)
                return FaultChoice(armed.fault, armed.retry_after, "armed")
        rate = self.config.fault_rate
        if rate > 0 and self._fault_rng.random() < rate:
            return FaultChoice(self._fault_rng.choice(RANDOM_FAULTS), 1.0, "random")
        return None

    # --- test helpers
    def dials(self) -> dict[str, Any]:
        return {"count": len(self.dialled), "calls": list(self.dialled)}

    def health(self) -> dict[str, Any]:
        return {
            "status": "ok",
            "now": iso(self.clock.now()),
            "speed": self.config.speed,
            "calls": len(self.order),
            "dials": len(self.dialled),
            "assistants": sorted(self.assistants),
            "telephony_providers": list(self.config.telephony_providers),
        }
