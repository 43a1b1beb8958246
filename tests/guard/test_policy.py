"""The policy's checks in order, without MCP: each refuses with the rule named, and passes."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from guard_support import check
from server_support import dials
from voicing_mcp.api.client import VoicingClient
from voicing_mcp.api.models import OutboundCallRequest
from voicing_mcp.config import PACKAGE_PROMPTS_DIR, Settings, load_settings
from voicing_mcp.emulator.runner import RunningEmulator
from voicing_mcp.errors import DialFailedError, GuardRefusal, InvalidRequestError, OutcomeUnknownError
from voicing_mcp.guard.ledger import Ledger
from voicing_mcp.guard.policy import DialGuard, describe_local_time, format_delta
from voicing_mcp.guard.templates import TemplateStore

PAYMENT = "019addcc-b878-7b10-85f1-49f21342f947"
REMINDER = "019addcc-0000-7000-8000-000000000002"
# 15:00 UTC = 09:00/10:00 in North Dakota: outside the default quiet hours
DAY = datetime(2026, 5, 4, 15, 0, tzinfo=UTC)
# 04:14 UTC = 22:14 in America/Chicago (CDT, UTC-5)
NIGHT = datetime(2026, 5, 5, 3, 14, tzinfo=UTC)


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def make_guard(tmp_path: Path, now: datetime = DAY, *, local: bool = False, **settings: Any) -> DialGuard:
    if not local:  # local mode is the built-in emulator's: no key
        settings.setdefault("api_key", "k")
    s: Settings = load_settings(**settings)
    clock = Clock(now)
    return DialGuard(
        s,
        TemplateStore(s.prompts_dir or PACKAGE_PROMPTS_DIR),
        Ledger(tmp_path / "ledger.sqlite3", clock=clock),
        clock=clock,
    )


async def refused(guard: DialGuard, **kwargs: Any) -> GuardRefusal:
    kwargs.setdefault("assistant_id", PAYMENT)
    kwargs.setdefault("input_variables", {"name": "Ann", "plan_type": "Gold"})
    with pytest.raises(GuardRefusal) as info:
        await check(guard, **kwargs)
    return info.value


async def test_a_good_request_passes_with_a_normalised_request_and_preview(tmp_path: Path) -> None:
    guard = make_guard(tmp_path)
    d = await check(
        guard,
        assistant_id=PAYMENT,
        phone_number="+1 701-811-2582",
        input_variables={"name": "Ann", "plan_type": "Gold"},
    )
    assert d.request.phone_number == "+17018112582"
    assert d.request.model_dump() == {
        "assistant_id": PAYMENT,
        "phone_number": "+17018112582",
        "input_variables": {"name": "Ann", "plan_type": "Gold"},
        "telephony_provider": "default",
    }
    assert d.preview.opening_line == "Hi Ann, your Gold plan payment is pending."
    assert d.preview.country == "United States (US)"
    assert d.preview.callee_local_time.startswith("Mon ")
    assert d.preview.note is None
    assert d.warnings == []
    assert not d.allow_listed


async def test_missing_required_placeholders_are_all_named(tmp_path: Path) -> None:
    err = await refused(make_guard(tmp_path), phone_number="+17018112582", input_variables={})
    assert err.rule == "template-variables"
    assert "'name'" in str(err) and "'plan_type'" in str(err)


async def test_a_misspelt_variable_is_named_with_the_placeholder_it_most_likely_means(tmp_path: Path) -> None:
    err = await refused(
        make_guard(tmp_path), phone_number="+17018112582", input_variables={"name": "Ann", "plan_typ": "Gold"}
    )
    assert err.rule == "template-variables"
    assert "lack 'plan_type'" in str(err)
    assert "'plan_typ' is not a placeholder: did you mean 'plan_type'?" in str(err)
    unrelated = await refused(
        make_guard(tmp_path), phone_number="+17018112582", input_variables={"name": "Ann", "colour": "red"}
    )
    assert "did you mean" not in str(unrelated)


async def test_optional_placeholders_may_be_left_out_and_extras_are_warned(tmp_path: Path) -> None:
    d = await check(
        make_guard(tmp_path),
        assistant_id=REMINDER,
        phone_number="+17018112582",
        input_variables={"name": "Ann", "date": "May 3", "x": 1},
    )
    assert d.preview.opening_line is not None and "our main clinic" in d.preview.opening_line
    assert any("x are not used" in w for w in d.warnings)


@pytest.mark.parametrize(
    "variables",
    [{"name": ["A"], "plan_type": "Gold"}, {"name": None, "plan_type": "G"}, {"name": {"a": 1}, "plan_type": "G"}],
)
async def test_non_scalar_values_are_refused(tmp_path: Path, variables: dict[str, Any]) -> None:
    err = await refused(make_guard(tmp_path), phone_number="+17018112582", input_variables=variables)
    assert err.rule == "template-variables" and "'name'" in str(err)


async def test_oversized_variables_are_refused(tmp_path: Path) -> None:
    guard = make_guard(tmp_path)
    long_value = {"name": "A" * 5000, "plan_type": "Gold"}
    assert "at most" in str(await refused(guard, phone_number="+17018112582", input_variables=long_value))
    many = {f"k{i}": i for i in range(60)}
    assert "at most" in str(await refused(guard, phone_number="+17018112582", input_variables=many))


async def test_an_assistant_without_template_is_refused_in_strict_mode_and_warned_otherwise(tmp_path: Path) -> None:
    err = await refused(make_guard(tmp_path), assistant_id="no-such-assistant", phone_number="+17018112582")
    assert err.rule == "template-missing"
    assert "no-such-assistant.j2" in str(err) and "VOICING_STRICT_TEMPLATES" in str(err)
    d = await check(
        make_guard(tmp_path, strict_templates=False),
        assistant_id="no-such-assistant",
        phone_number="+17018112582",
        input_variables={"a": 1},
    )
    assert d.preview.opening_line is None
    assert any("no local template" in w for w in d.warnings)


async def test_a_template_that_does_not_parse_refuses_naming_file_and_line(tmp_path: Path) -> None:
    prompts = tmp_path / "prompts"
    prompts.mkdir()
    (prompts / "b1.j2").write_text("Hi\n{{ name ", encoding="utf-8")
    guard = make_guard(tmp_path, prompts_dir=prompts)
    err = await refused(guard, assistant_id="b1", phone_number="+17018112582")
    assert err.rule == "template" and "b1.j2" in str(err) and "line 2" in str(err)


async def test_quiet_hours_refuse_with_local_time_and_next_window(tmp_path: Path) -> None:
    # +1 312 is Chicago
    err = await refused(make_guard(tmp_path, NIGHT), phone_number="+13125550200")
    assert err.rule == "quiet-hours"
    assert "it is 22:14 in America/Chicago for +1 312 ••• ••00" in str(err)
    assert "calls allowed 08:00–21:00, next window opens in 9 h 46 min" in str(err)


async def test_quiet_hours_pass_by_day_and_when_off(tmp_path: Path) -> None:
    await check(
        make_guard(tmp_path / "a", DAY),
        assistant_id=PAYMENT,
        phone_number="+13125550200",
        input_variables={"name": "A", "plan_type": "B"},
    )
    await check(
        make_guard(tmp_path / "b", NIGHT, quiet_hours="off"),
        assistant_id=PAYMENT,
        phone_number="+13125550200",
        input_variables={"name": "A", "plan_type": "B"},
    )


async def test_quiet_hours_only_warn_in_local_mode(tmp_path: Path) -> None:
    d = await check(
        make_guard(tmp_path, NIGHT, local=True),
        assistant_id=PAYMENT,
        phone_number="+13125550123",
        input_variables={"name": "A", "plan_type": "B"},
    )
    assert any("quiet hours" in w and "not enforced" in w for w in d.warnings)
    assert d.preview.note is not None and "no real phone will ring" in d.preview.note


async def test_a_toll_free_number_must_be_outside_quiet_hours_in_all_its_zones(tmp_path: Path) -> None:
    # 15:00 UTC: daytime on the mainland, but 05:00 in Honolulu and 01:00 in Guam
    err = await refused(make_guard(tmp_path, DAY), phone_number="+18005551234")
    assert err.rule == "quiet-hours"
    assert "more of its" in str(err)


async def test_national_numbers_use_the_default_region(tmp_path: Path) -> None:
    err = await refused(make_guard(tmp_path), phone_number="701 811 2582")
    assert err.rule == "number-format"
    d = await check(
        make_guard(tmp_path, default_region="US"),
        assistant_id=PAYMENT,
        phone_number="701 811 2582",
        input_variables={"name": "A", "plan_type": "B"},
    )
    assert d.request.phone_number == "+17018112582"


async def test_the_rate_limit_refuses_once_reached(tmp_path: Path) -> None:
    guard = make_guard(tmp_path, max_calls_per_hour=1)
    kwargs: dict[str, Any] = {"assistant_id": PAYMENT, "input_variables": {"name": "A", "plan_type": "B"}}
    d = await check(guard, phone_number="+17018112582", **kwargs)
    await guard.ledger.claim_dial(d.request, confirmation="token", environment="production", max_per_hour=1)
    err = await refused(guard, phone_number="+17018112583")
    assert err.rule == "rate-limit" and "VOICING_MAX_CALLS_PER_HOUR is 1" in str(err)


async def test_the_duplicate_guard_names_the_earlier_call_and_expires(tmp_path: Path) -> None:
    guard = make_guard(tmp_path)
    kwargs: dict[str, Any] = {"assistant_id": PAYMENT, "input_variables": {"name": "A", "plan_type": "B"}}
    d = await check(guard, phone_number="+17018112582", **kwargs)
    row = await guard.ledger.claim_dial(d.request, confirmation="token", environment="production", max_per_hour=9)
    await guard.ledger.record_outcome(row, status="started", call_id="call-42")

    async def status(call_id: str) -> str | None:
        return "in-progress" if call_id == "call-42" else None

    with pytest.raises(GuardRefusal) as info:
        await check(guard, phone_number="+17018112582", call_status=status, **kwargs)
    assert info.value.rule == "duplicate"
    assert "call_id call-42, status in-progress" in str(info.value)
    # another assistant may call the same number
    await check(guard, phone_number="+17018112582", assistant_id=REMINDER, input_variables={"name": "A", "date": "x"})
    assert isinstance(guard.clock, Clock)
    guard.clock.now += timedelta(minutes=10, seconds=1)
    await check(guard, phone_number="+17018112582", **kwargs)


def test_durations_are_written_in_hours_and_minutes() -> None:
    assert format_delta(timedelta(hours=9, minutes=46)) == "9 h 46 min"
    assert format_delta(timedelta(seconds=30)) == "1 min"
    assert format_delta(timedelta(minutes=5)) == "5 min"


def test_the_callees_local_time_is_one_time_or_a_range_across_zones() -> None:
    now = datetime(2026, 5, 4, 16, 0, tzinfo=UTC)
    assert describe_local_time(("America/Chicago",), now) == "Mon 11:00 (America/Chicago)"
    assert describe_local_time(("America/Denver", "America/North_Dakota/Center"), now) == (
        "Mon 10:00–11:00 across 2 time zones"
    )
    assert describe_local_time(("Pacific/Guam", "America/New_York"), now) == "Mon 12:00–Tue 02:00 across 2 time zones"


@pytest.mark.parametrize(
    "variables",
    [
        {"amount": float("inf")},  # JSON 1e400
        {"amount": float("-inf")},
        {"amount": float("nan")},
        {"note": "half a pair \ud800"},
        {"bad\udfff": "x"},
    ],
    ids=["inf", "-inf", "nan", "surrogate-value", "surrogate-key"],
)
async def test_values_json_cannot_carry_are_refused_by_the_guard(tmp_path: Path, variables: dict[str, Any]) -> None:
    err = await refused(
        make_guard(tmp_path),
        phone_number="+17018112582",
        input_variables={"name": "Ann", "plan_type": "Gold"} | variables,
    )
    assert err.rule == "template-variables"
    assert "JSON cannot carry" in str(err) or "unpaired surrogate" in str(err)


class RecordingDialClient:
    """A DialClient that records what it was asked and answers with ``outcome`` (an exception to raise)."""

    def __init__(self, outcome: BaseException) -> None:
        self.outcome = outcome
        self.sent: list[Any] = []

    async def initiate_outbound_call(self, req: Any) -> Any:
        self.sent.append(req)
        raise self.outcome


async def _decision(guard: DialGuard) -> Any:
    return await check(
        guard, assistant_id=PAYMENT, phone_number="+17018112582", input_variables={"name": "Ann", "plan_type": "Gold"}
    )


async def test_a_request_that_cannot_be_encoded_is_refused_before_the_intent_is_written(tmp_path: Path) -> None:
    guard = make_guard(tmp_path)
    decision = await _decision(guard)
    bad = OutboundCallRequest(
        assistant_id=PAYMENT, phone_number="+17018112582", input_variables={"name": "Ann", "plan_type": float("inf")}
    )
    client = RecordingDialClient(AssertionError("must not be called"))
    with pytest.raises(GuardRefusal) as info:
        await guard.place_call(dataclasses.replace(decision, request=bad), client, confirmation="token")
    assert info.value.rule == "template-variables" and client.sent == []
    assert await guard.ledger.recent() == []


async def test_an_unexpected_exception_during_the_dial_is_an_unknown_outcome_the_model_can_read(
    tmp_path: Path,
) -> None:
    guard = make_guard(tmp_path)
    client = RecordingDialClient(RuntimeError("the transport broke in an odd way"))
    with pytest.raises(OutcomeUnknownError) as info:
        await guard.place_call(await _decision(guard), client, confirmation="token")
    text = str(info.value)
    assert "outcome unknown (ledger #1)" in text and "RuntimeError" in text and "resolve 1" in text
    assert "try again" not in text.lower() and "retry" not in text.lower()
    [row] = await guard.ledger.recent()
    assert row.status == "unknown"


async def test_a_request_the_client_refused_before_sending_is_a_definite_failure(tmp_path: Path) -> None:
    guard = make_guard(tmp_path)
    client = RecordingDialClient(InvalidRequestError("the request could not be built; nothing was sent"))
    with pytest.raises(DialFailedError) as info:
        await guard.place_call(await _decision(guard), client, confirmation="token")
    assert "NOT placed (ledger #1" in str(info.value)
    [row] = await guard.ledger.recent()
    assert row.status == "failed"
    assert await guard.ledger.open_unknown("+17018112582") is None


async def test_a_pending_dial_with_one_assistant_refuses_the_number_for_another_naming_the_row(
    tmp_path: Path,
) -> None:
    guard = make_guard(tmp_path)
    crashed = OutboundCallRequest(assistant_id=PAYMENT, phone_number="+17018112582", input_variables={"name": "Ann"})
    row = await guard.ledger.claim_dial(crashed, confirmation="token", environment="development", max_per_hour=9)
    err = await refused(
        guard, assistant_id=REMINDER, phone_number="+17018112582", input_variables={"name": "Ann", "date": "May 5"}
    )
    assert err.rule == "dial-in-progress"
    assert f"ledger #{row}" in str(err) and PAYMENT in str(err)
    # the same assistant is the duplicate rule, as before
    assert (await refused(guard, phone_number="+17018112582")).rule == "duplicate"


async def test_a_fourth_dial_to_one_number_within_24_hours_is_refused_naming_the_cap_and_when_it_frees(
    tmp_path: Path, emu: RunningEmulator
) -> None:
    guard = make_guard(tmp_path, max_calls_per_hour=100)
    assert isinstance(guard.clock, Clock)
    kwargs: dict[str, Any] = {"assistant_id": PAYMENT, "input_variables": {"name": "A", "plan_type": "B"}}
    async with VoicingClient(base_url=emu.base_url, api_key=emu.api_key) as client:
        for _ in range(2):
            await guard.place_call(
                await check(guard, phone_number="+17018112582", **kwargs), client, confirmation="token"
            )
            guard.clock.now += timedelta(hours=1)
        # two checks pass before the third dial; the claim of the second re-counts and refuses it
        third = await check(guard, phone_number="+17018112582", **kwargs)
        other = await check(
            guard, phone_number="+17018112582", assistant_id=REMINDER, input_variables={"name": "A", "date": "x"}
        )
        await guard.place_call(third, client, confirmation="token")
        with pytest.raises(GuardRefusal) as claim:
            await guard.place_call(other, client, confirmation="token")
        assert claim.value.rule == "number-cap"
        guard.clock.now += timedelta(hours=1)
        err = await refused(guard, phone_number="+17018112582")
        assert err.rule == "number-cap"
        assert "VOICING_MAX_CALLS_PER_NUMBER is 3/24h" in str(err) and "dialled 3 times in the last 24h" in str(err)
        # when the first dial is 24 hours old
        assert "it may be dialled again from 2026-05-05 15:00 UTC (in 21 h 0 min): wait until then" in str(err)
        frees = err.fields["frees_at"]
        assert isinstance(frees, datetime) and DAY + timedelta(hours=24) <= frees <= DAY + timedelta(
            hours=24, seconds=1
        )
        # another number is not capped; this one frees when its first dial is 24 hours old
        await check(guard, phone_number="+17018112583", **kwargs)
        guard.clock.now = DAY + timedelta(hours=24, seconds=1)
        await check(guard, phone_number="+17018112582", **kwargs)
    assert dials(emu) == 3


async def test_the_hourly_count_stops_at_the_cap(tmp_path: Path) -> None:
    guard = make_guard(tmp_path, max_calls_per_hour=2)
    kwargs: dict[str, Any] = {"assistant_id": PAYMENT, "input_variables": {"name": "A", "plan_type": "B"}}
    d = await check(guard, phone_number="+17018112580", **kwargs)
    for n in range(4):
        req = d.request.model_copy(update={"phone_number": f"+1701811258{n}"})
        await guard.ledger.claim_dial(req, confirmation="token", environment="production", max_per_hour=9)
    assert await guard.ledger.count_since(DAY - timedelta(hours=1)) == 4
    err = await refused(guard, phone_number="+17018112589")
    assert err.rule == "rate-limit" and "2 dials in the last hour" in str(err)
    frees = await guard.rate_frees_at(DAY)
    assert DAY + timedelta(hours=1) <= frees <= DAY + timedelta(hours=1, seconds=1)
