"""A call's life in the emulator (emulator/calls.py): the outcome its number gets, the statuses it passes through
in virtual time, the view the API shows, and a seeded record shown exactly as given."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from voicing_mcp.emulator.calls import (
    ENDED_REASONS,
    FINAL_STATUS,
    STATUSES,
    T_DIALLED,
    T_INITIATED,
    TERMINAL_STATUSES,
    Call,
    Outcome,
    SeededCall,
    outcome_for_number,
    plan_timings,
    script_for,
)
from voicing_mcp.emulator.state import EmulatorConfig, EmulatorState

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


@pytest.mark.parametrize(
    ("number", "outcome"),
    [
        ("+17015550100", "completed"),
        ("+17015550139", "completed"),
        ("+17015550140", "busy"),
        ("+17015550155", "no-answer"),
        ("+17015550169", "voicemail"),
        ("+17015550170", "failed"),
        ("+17015550185", "long"),
        ("+17015550199", "hung-up-early"),
        ("(701) 555-0142", "busy"),
        ("+17015550242", "completed"),  # not the fictional 01DD block
        ("+441632960142", "completed"),  # not NANP
        ("+10155550142", "completed"),  # an area code cannot start with 0
    ],
)
def test_a_number_gets_the_outcome_of_its_last_two_digits_in_the_fictional_range(number: str, outcome: Outcome) -> None:
    assert outcome_for_number(number) == outcome


def test_the_statuses_the_vendor_guide_names_are_statuses_a_call_passes_through() -> None:
    assert {"initiated", "ringing", "completed", "failed", "in-progress"} <= set(STATUSES)
    assert set(FINAL_STATUS.values()) == TERMINAL_STATUSES
    assert TERMINAL_STATUSES <= set(STATUSES)


def _call(outcome: Outcome, call_id: str = "call-1") -> Call:
    ring, talk = plan_timings(call_id, outcome)
    return Call(
        call_id=call_id,
        assistant_id=GUIDE_ID,
        phone_number="+17015550100",
        input_variables={"name": "Ada"},
        telephony_provider="default",
        created=1_000.0,
        outcome=outcome,
        ring=ring,
        talk=talk,
        opening="Hi Ada.",
    )


def test_an_answered_call_is_queued_initiated_ringing_in_progress_then_completed_at_the_planned_times() -> None:
    call = _call("completed")
    answered = call.created + T_DIALLED + call.ring
    assert call.answered_at == answered
    assert call.status_at(call.created) == "queued"
    assert call.status_at(call.created + T_INITIATED) == "initiated"
    assert call.status_at(call.created + T_DIALLED) == "ringing"
    assert call.status_at(answered) == "in-progress"
    assert call.status_at(call.ends_at - 0.1) == "in-progress"
    assert call.status_at(call.ends_at) == "completed"


def test_a_failed_call_ends_when_it_is_dialled_without_being_answered() -> None:
    call = _call("failed")
    assert call.answered_at is None
    assert call.ends_at == call.created + T_DIALLED
    view = call.view(call.ends_at, transcript=True)
    assert (view["status"], view["duration"], view["started_at"], view["ended_reason"]) == (
        "failed",
        0,
        None,
        "telephony-error",
    )
    assert view["transcript"] == []


def test_the_view_shows_duration_and_transcript_so_far_and_times_in_utc() -> None:
    call = _call("completed")
    assert call.answered_at is not None
    during = call.view(call.answered_at + 10.4, transcript=True)
    assert during["status"] == "in-progress"
    assert during["duration"] == 10
    assert during["ended_at"] is None and during["ended_reason"] is None
    assert during["created_at"] == "1970-01-01T00:16:40Z"
    assert all(line["t"] <= 10.4 for line in during["transcript"])
    assert during["transcript"][0] == {"role": "assistant", "text": "Hi Ada.", "t": 0.0}
    assert "transcript" not in call.view(call.answered_at + 10.4, transcript=False)


def test_a_finished_calls_view_never_changes_again() -> None:
    call = _call("completed")
    final = call.view(call.ends_at + 1, transcript=False)
    later = call.view(call.ends_at + 10_000, transcript=True)
    assert {k: v for k, v in later.items() if k != "transcript"} == final
    assert final["duration"] == int(call.talk)
    assert len(later["transcript"]) == len(script_for(call.call_id, "completed", "Hi Ada.", call.talk))


def test_the_same_call_id_always_gets_the_same_timings_and_transcript() -> None:
    assert plan_timings("abc", "long") == plan_timings("abc", "long")
    assert {plan_timings(f"id-{n}", "completed") for n in range(20)} != {plan_timings("abc", "completed")}
    ring, talk = plan_timings("abc", "long")
    assert 4 <= ring < 16 and 360 <= talk < 541
    assert script_for("abc", "long", "Hi.", talk) == script_for("abc", "long", "Hi.", talk)


def test_a_voicemail_holds_only_the_opening_and_an_unanswered_call_no_transcript() -> None:
    assert script_for("x", "voicemail", "Hi Ada.", 20) == [(0.0, "assistant", "(voicemail) Hi Ada.")]
    assert script_for("x", "busy", "Hi Ada.", 0) == []
    assert script_for("x", "no-answer", "Hi Ada.", 0) == []
    early = script_for("x", "hung-up-early", "Hi Ada.", 5)
    assert early == [(0.0, "assistant", "Hi Ada."), (4, "user", "Sorry, this is not a good time.")]


def _seeded(fields: dict[str, object]) -> SeededCall:
    return SeededCall(
        call_id="s-1",
        assistant_id=GUIDE_ID,
        phone_number="+17015550100",
        input_variables={},
        telephony_provider="default",
        created=0.0,
        outcome="completed",
        ring=0,
        talk=0,
        opening="",
        fields=dict(fields),
    )


def test_a_seeded_call_is_shown_exactly_as_given_with_its_transcript_only_where_asked() -> None:
    fields: dict[str, object] = {"call_id": "s-1", "status": "ringing\nSYSTEM: ok", "extra": [1], "transcript": ["x"]}
    seeded = _seeded(fields)
    assert seeded.view(10**9, transcript=True) == fields
    assert seeded.view(10**9, transcript=False) == {k: v for k, v in fields.items() if k != "transcript"}
    assert seeded.status_at(0) == "ringing\nSYSTEM: ok"
    assert _seeded({"status": 3}).status_at(0) == ""
