"""Properties of the emulator's call lifecycle (the in-memory state, without HTTP)."""

from __future__ import annotations

import os
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from voicing_mcp.emulator.calls import ENDED_REASONS, FINAL_STATUS, TERMINAL_STATUSES, outcome_for_number
from voicing_mcp.emulator.state import EmulatorConfig, EmulatorState, load_assistants

LIFECYCLE = ["queued", "initiated", "ringing", "in-progress"]
GUIDE_ID = "019addcc-b878-7b10-85f1-49f21342f947"

numbers = st.one_of(
    st.integers(0, 99).map(lambda dd: f"+1212555 01{dd:02d}".replace(" ", "")),
    st.from_regex(r"\A\+[1-9]\d{7,13}\Z"),
)


@settings(max_examples=200, deadline=None)
@given(number=numbers, steps=st.lists(st.floats(0.1, 90.0), min_size=1, max_size=40))
def test_a_call_only_moves_forward_through_its_lifecycle(number: str, steps: list[float]) -> None:
    state = EmulatorState(EmulatorConfig(speed=0.0, seed_calls=0))
    call = state.dial(state.assistants[GUIDE_ID], number, {"name": "Ada", "plan_type": "Gold"}, "default")
    now = call.created
    views = [call.view(now, transcript=True)]
    for step in [*steps, 10_000.0]:
        now += step
        views.append(call.view(now, transcript=True))
    statuses = [v["status"] for v in views]
    ranks = [LIFECYCLE.index(s) if s in LIFECYCLE else len(LIFECYCLE) for s in statuses]
    assert ranks == sorted(ranks)
    assert [s for s in statuses if s in TERMINAL_STATUSES] == statuses[statuses.index(statuses[-1]) :]
    durations = [v["duration"] for v in views]
    assert durations == sorted(durations)
    lengths = [len(v["transcript"]) for v in views]
    assert lengths == sorted(lengths)
    final = views[-1]
    outcome = outcome_for_number(number)
    assert (final["status"], final["ended_reason"]) == (FINAL_STATUS[outcome], ENDED_REASONS[outcome])
    assert final["ended_at"] is not None and final["ended_at"] >= final["created_at"]
    if final["started_at"] is not None:
        assert final["created_at"] <= final["started_at"] <= final["ended_at"]
    assert all(v["ended_reason"] is None for v in views if v["status"] not in TERMINAL_STATUSES)


@settings(max_examples=100, deadline=None)
@given(dd=st.integers(0, 99), area=st.sampled_from(["212", "701", "415"]))
def test_the_outcome_is_the_same_in_e164_and_national_form(dd: int, area: str) -> None:
    national = f"{area}55501{dd:02d}"
    assert outcome_for_number(f"+1{national}") == outcome_for_number(national) == outcome_for_number(f"1{national}")


def test_the_seeded_history_is_the_same_for_the_same_seed_and_differs_for_another() -> None:
    def ids(seed: int) -> list[str]:
        return [c.call_id for c in EmulatorState(EmulatorConfig(seed=seed, seed_calls=50)).order]

    assert ids(1) == ids(1)
    assert ids(1) != ids(2)
    assert len(set(ids(1))) == 50


def test_the_emulator_skips_a_fifo_named_like_a_template_instead_of_hanging(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "019addcc-b878-7b10-85f1-49f21342f947.j2")
    (tmp_path / "my-assistant.j2").write_text("Hi {{ name }}", encoding="utf-8")
    assert set(load_assistants(tmp_path)) == {"my-assistant"}
