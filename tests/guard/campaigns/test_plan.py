"""The campaign planner: every row through the single-call guard's checks, exclusions named, the manifest hash."""

from __future__ import annotations

import unicodedata
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from voicing_mcp.api.models import OutboundCallRequest
from voicing_mcp.config import PACKAGE_PROMPTS_DIR, Settings, load_settings
from voicing_mcp.errors import GuardRefusal
from voicing_mcp.guard import phone as ph
from voicing_mcp.guard.campaigns import (
    CAMPAIGN_WIDE_RULES,
    DUPLICATE_IN_LIST,
    AcceptedRow,
    CampaignPlan,
    ExcludedRow,
    LedgerHistory,
    Recipient,
    check_rows,
    forget_parsed_numbers,
    manifest_bytes,
    manifest_sha256,
    plan_campaign,
    read_recipients_file,
    recipients_from_list,
)
from voicing_mcp.guard.ledger import DUPLICATE_WINDOW, Ledger, duplicate_refusal, unknown_refusal
from voicing_mcp.guard.policy import DialGuard
from voicing_mcp.guard.templates import TemplateStore
from voicing_mcp.guard.variables import check_ids, check_sendable, check_variables

PAYMENT = "019addcc-b878-7b10-85f1-49f21342f947"
# 15:00 UTC: 11:00 in New York, 20:30 in Kolkata (both outside the default quiet hours 21:00-08:00)
DAY = datetime(2026, 5, 4, 15, 0, tzinfo=UTC)
NEW_YORK = "+12127365000"
KOLKATA = "+919876543210"
DAKOTA = "+17018112582"
GOOD: dict[str, str | int | float | bool] = {"name": "Ann", "plan_type": "Gold"}


def make_guard(tmp_path: Path, now: datetime = DAY, **settings: Any) -> DialGuard:
    settings.setdefault("api_key", "k")
    s: Settings = load_settings(**settings)
    ledger = Ledger(tmp_path / "ledger.sqlite3", clock=lambda: now)
    return DialGuard(s, TemplateStore(PACKAGE_PROMPTS_DIR), ledger, clock=lambda: now)


async def plan(guard: DialGuard, rows: list[Recipient], **kwargs: Any) -> CampaignPlan:
    kwargs.setdefault("assistant_id", PAYMENT)
    return await plan_campaign(rows, guard=guard, history=LedgerHistory(guard.ledger), **kwargs)


def row(number: str, **variables: object) -> Recipient:
    return Recipient(number, variables or dict(GOOD))


async def test_good_rows_are_accepted_with_number_country_zone_and_rendered_opening_line(tmp_path: Path) -> None:
    result = await plan(make_guard(tmp_path), [row("+1 212 736 5000"), row(KOLKATA, name="Raj", plan_type="Silver")])
    assert result.excluded == ()
    assert result.accepted == (
        AcceptedRow(
            1,
            NEW_YORK,
            "US",
            "United States",
            ("America/New_York",),
            "Hi Ann, your Gold plan payment is pending.",
            GOOD,
        ),
        AcceptedRow(
            2,
            KOLKATA,
            "IN",
            "India",
            ("Asia/Calcutta",),
            "Hi Raj, your Silver plan payment is pending.",
            {"name": "Raj", "plan_type": "Silver"},
        ),
    )
    assert result.by_country == {"US": 1, "IN": 1}
    assert result.by_time_zone == {"America/New_York": 1, "Asia/Calcutta": 1}
    assert result.by_reason == {}
    assert result.submitted == 2
    assert result.schedule.earliest_dial == DAY


async def test_a_missing_variable_is_named_for_its_row_and_the_others_are_accepted(tmp_path: Path) -> None:
    rows = recipients_from_list(
        [
            {"phone_number": NEW_YORK, "input_variables": GOOD},
            {"phone_number": DAKOTA, "input_variables": {"name": "Bob"}},
        ]
    )
    result = await plan(make_guard(tmp_path), list(rows))
    assert [r.position for r in result.accepted] == [1]
    (excluded,) = result.excluded
    assert (excluded.position, excluded.phone_number, excluded.reason) == (2, DAKOTA, "template-variables")
    assert "input_variables lack 'plan_type'" in excluded.message
    assert result.by_reason == {"template-variables": 1}


async def test_a_number_too_long_to_send_excludes_its_row_and_the_plan_goes_on(tmp_path: Path) -> None:
    # 4,400 digits cannot even be written as JSON: the manifest's hash raised on it and the tool crashed
    rows = [
        row(NEW_YORK, name=10**4400, plan_type="Gold"),
        row(DAKOTA, name=-(10**2000), plan_type="Gold"),
        row(KOLKATA),
    ]
    result = await plan(make_guard(tmp_path), rows)
    assert [r.position for r in result.accepted] == [3]
    assert [(e.position, e.reason) for e in result.excluded] == [(1, "template-variables"), (2, "template-variables")]
    assert all("'name' is a number of 2000 digits or more" in e.message for e in result.excluded)


async def test_a_do_not_call_row_is_excluded_with_the_guards_reason(tmp_path: Path) -> None:
    dnc = tmp_path / "dnc.txt"
    dnc.write_text("+1 701 811 2582  # asked not to be called\n", encoding="utf-8")
    result = await plan(make_guard(tmp_path, dnc_file=str(dnc)), [row(NEW_YORK), row(DAKOTA), row(KOLKATA)])
    assert [r.position for r in result.accepted] == [1, 3]
    (excluded,) = result.excluded
    assert (excluded.position, excluded.reason) == (2, "do-not-call")
    assert "is on the do-not-call list" in excluded.message and DAKOTA not in excluded.message  # masked


async def test_an_unreadable_do_not_call_file_refuses_the_whole_campaign(tmp_path: Path) -> None:
    with pytest.raises(GuardRefusal) as info:
        await plan(make_guard(tmp_path, dnc_file=str(tmp_path / "missing.txt")), [row(NEW_YORK)])
    assert info.value.rule == "do-not-call-file"


async def test_a_number_twice_in_the_list_is_excluded_the_second_time_naming_the_first_row(tmp_path: Path) -> None:
    rows = [row(NEW_YORK), row(KOLKATA), row("+1 (212) 736-5000", name="Other", plan_type="Gold")]
    result = await plan(make_guard(tmp_path), rows)
    assert [r.position for r in result.accepted] == [1, 2]
    (excluded,) = result.excluded
    assert (excluded.position, excluded.reason, excluded.message) == (
        3,
        "duplicate-in-list",
        "duplicate in list, row 1",
    )


async def test_invalid_emergency_premium_and_disallowed_country_rows_are_excluded_by_rule(tmp_path: Path) -> None:
    guard = make_guard(tmp_path, allowed_countries="US")
    rows = [row("911"), row("+1 900 555 0100"), row("not a number"), row(KOLKATA), row(NEW_YORK), row("+12125550123")]
    result = await plan(guard, rows)
    assert [r.position for r in result.accepted] == [5]
    reasons = {r.position: r.reason for r in result.excluded}
    assert reasons == {1: "emergency-number", 2: "line-type", 3: "number", 4: "country", 6: "fictional-number"}


async def test_an_open_unknown_outcome_or_a_recent_dial_in_the_ledger_excludes_the_number(tmp_path: Path) -> None:
    guard = make_guard(tmp_path)
    unknown = await guard.ledger.claim_dial(
        OutboundCallRequest(assistant_id=PAYMENT, phone_number=DAKOTA, input_variables=GOOD),
        confirmation="page",
        environment="production",
        max_per_hour=30,
    )
    await guard.ledger.record_outcome(unknown, status="unknown", detail="timeout")
    started = await guard.ledger.claim_dial(
        OutboundCallRequest(assistant_id=PAYMENT, phone_number=KOLKATA, input_variables=GOOD),
        confirmation="page",
        environment="production",
        max_per_hour=30,
    )
    await guard.ledger.record_outcome(started, status="started", call_id="call-1")
    result = await plan(guard, [row(NEW_YORK), row(DAKOTA), row(KOLKATA)])
    assert [r.position for r in result.accepted] == [1]
    assert [(r.position, r.reason) for r in result.excluded] == [(2, "outcome-unknown"), (3, "duplicate")]
    assert "call-1" in result.excluded[1].message
    assert result.by_reason == {"outcome-unknown": 1, "duplicate": 1}


async def test_quiet_hours_delay_rows_but_never_exclude_them(tmp_path: Path) -> None:
    night_in_new_york = datetime(2026, 5, 5, 3, 0, tzinfo=UTC)  # 23:00 in New York, 08:30 in Kolkata
    result = await plan(make_guard(tmp_path, night_in_new_york), [row(NEW_YORK), row(KOLKATA)])
    assert [r.position for r in result.accepted] == [1, 2]
    assert result.schedule.earliest_dial == night_in_new_york  # Kolkata first
    assert result.schedule.waiting_for_quiet_hours == 1
    assert result.schedule.estimated_finish == datetime(2026, 5, 5, 12, 2, tzinfo=UTC)  # New York's 08:00 + 2 min


async def test_a_missing_template_in_strict_mode_refuses_the_whole_campaign(tmp_path: Path) -> None:
    with pytest.raises(GuardRefusal) as info:
        await plan(make_guard(tmp_path), [row(NEW_YORK)], assistant_id="no-such-assistant")
    assert info.value.rule == "template-missing"


def accepted(position: int, number: str, variables: dict[str, str | int | float | bool]) -> AcceptedRow:
    return AcceptedRow(position, number, "US", "United States", ("America/New_York",), None, variables)


def test_the_manifest_hash_is_stable_under_key_order_and_changed_by_any_change() -> None:
    base = [accepted(1, NEW_YORK, {"name": "Ann", "plan_type": "Gold"}), accepted(3, DAKOTA, {"name": "Bob"})]
    digest = manifest_sha256(base, assistant_id=PAYMENT, telephony_provider="default")
    reordered = [accepted(3, DAKOTA, {"name": "Bob"}), accepted(1, NEW_YORK, {"plan_type": "Gold", "name": "Ann"})]
    assert manifest_sha256(reordered, assistant_id=PAYMENT, telephony_provider="default") == digest
    changes = [
        ([accepted(1, NEW_YORK, {"name": "Ann", "plan_type": "Gold"})], PAYMENT, "default"),  # a row removed
        ([accepted(2, NEW_YORK, {"name": "Ann", "plan_type": "Gold"}), base[1]], PAYMENT, "default"),  # position
        ([accepted(1, KOLKATA, {"name": "Ann", "plan_type": "Gold"}), base[1]], PAYMENT, "default"),  # number
        ([accepted(1, NEW_YORK, {"name": "Ann", "plan_type": "Gold "}), base[1]], PAYMENT, "default"),  # a value
        ([accepted(1, NEW_YORK, {"name": "Ann", "plan_type": "Gold", "x": 1}), base[1]], PAYMENT, "default"),
        (
            [accepted(1, NEW_YORK, {"name": "Ann", "plan_type": "Gold"}), accepted(3, DAKOTA, {"name": 1})],
            PAYMENT,
            "default",
        ),
        (
            [accepted(1, NEW_YORK, {"name": "Ann", "plan_type": "Gold"}), accepted(3, DAKOTA, {"name": "1"})],
            PAYMENT,
            "default",
        ),
        (base, "019addcc-0000-7000-8000-000000000002", "default"),  # assistant
        (base, PAYMENT, "twilio"),  # provider
    ]
    digests = {manifest_sha256(rows, assistant_id=a, telephony_provider=p) for rows, a, p in changes}
    assert digest not in digests and len(digests) == len(changes)


def test_the_manifest_is_the_documented_canonical_json() -> None:
    rows = [accepted(1, NEW_YORK, {"plan_type": "Gold", "name": "Zoë"})]
    assert (
        manifest_bytes(rows, assistant_id=PAYMENT, telephony_provider="default")
        == (
            '{"manifest":"voicing-campaign/1","rows":[{"assistant_id":"019addcc-b878-7b10-85f1-49f21342f947",'
            '"input_variables":{"name":"Zoë","plan_type":"Gold"},"phone_number":"+12127365000","position":1,'
            '"telephony_provider":"default"}]}'
        ).encode()
    )


async def test_the_plans_hash_follows_its_accepted_rows_and_the_canonical_assistant_id(tmp_path: Path) -> None:
    guard = make_guard(tmp_path)
    first = await plan(guard, [row(NEW_YORK), row(DAKOTA, name="Bob")])
    again = await plan(guard, [row(NEW_YORK), row(DAKOTA, name="Bob")], assistant_id=PAYMENT.upper())
    assert first.assistant_id == again.assistant_id == PAYMENT
    assert first.manifest_sha256 == again.manifest_sha256
    assert first.manifest_sha256 == manifest_sha256(first.accepted, assistant_id=PAYMENT, telephony_provider="default")
    changed = await plan(guard, [row(NEW_YORK), row(DAKOTA, name="Bob", plan_type="Gold")])
    assert changed.manifest_sha256 != first.manifest_sha256


async def test_the_schedule_counts_earlier_dials_of_the_hour_against_the_rate_cap(tmp_path: Path) -> None:
    guard = make_guard(tmp_path, max_calls_per_hour="2")
    done = await guard.ledger.claim_dial(
        OutboundCallRequest(assistant_id="other", phone_number="+12127365999"),
        confirmation="page",
        environment="production",
        max_per_hour=30,
    )
    await guard.ledger.record_outcome(done, status="started", call_id="c")
    result = await plan(guard, [row(NEW_YORK), row(DAKOTA)])  # one dial now, the next once the earlier one is 1 h old
    assert result.schedule.earliest_dial == DAY
    assert result.schedule.estimated_finish == DAY + timedelta(hours=1, minutes=2)


async def test_rows_read_from_a_csv_keep_their_line_and_an_empty_required_cell_is_a_missing_variable(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "campaigns"
    folder.mkdir()
    (folder / "overdue.csv").write_text(
        f"phone_number,name,plan_type\n{NEW_YORK},Ann,Gold\n\n{DAKOTA},Bob,\n", encoding="utf-8"
    )
    guard = make_guard(tmp_path, campaigns_dir=str(folder))
    rows = read_recipients_file("overdue.csv", guard.settings.resolved_campaigns_dir)
    result = await plan(guard, list(rows))
    assert [(r.position, r.line) for r in result.accepted] == [(1, 2)]
    (excluded,) = result.excluded
    assert (excluded.position, excluded.line, excluded.reason) == (2, 4, "template-variables")
    assert "input_variables lack 'plan_type'" in excluded.message


async def _per_number(ledger: Ledger, numbers: list[str], now: datetime) -> dict[str, tuple[str, str]]:
    """What the ledger's own per-number queries say of each number (the rules claim_dial applies)."""
    out: dict[str, tuple[str, str]] = {}
    for number in numbers:
        refusal = unknown_refusal(await ledger.open_unknown(number)) or duplicate_refusal(
            await ledger.last_dial(number, PAYMENT, since=now - DUPLICATE_WINDOW)
        )
        if refusal is not None:
            out[number] = (refusal.rule, refusal.message)
    return out


@pytest.mark.parametrize("environment", [None, "production"])
async def test_the_ledger_is_asked_in_bulk_and_blocks_exactly_the_numbers_its_per_number_queries_block(
    tmp_path: Path, environment: str | None
) -> None:
    """Rows of every kind — unknown, stale and fresh pending, released, failed, started, another assistant, another
    environment — at times around the duplicate window's edge: the bulk read, and the number-by-number path of a
    ledger too large to read, block the same numbers with the same texts as the ledger's own queries."""
    path = tmp_path / "ledger.sqlite3"
    numbers = [f"+1212736{i:04d}" for i in range(200)]  # one row each (claim_dial refuses a second), 32 free
    ages = [timedelta(hours=2), timedelta(minutes=11), DUPLICATE_WINDOW + timedelta(seconds=0.5), DUPLICATE_WINDOW]
    ages += [DUPLICATE_WINDOW - timedelta(seconds=0.4), timedelta(minutes=3), timedelta(minutes=1), timedelta(0)]
    outcomes: list[tuple[str, str | None, bool]] = [  # (status, call_id, released by a human)
        ("started", "call-x", False),
        ("failed", None, False),
        ("unknown", None, False),
        ("unknown", None, True),
        ("pending", None, False),
        ("pending", None, True),
        ("unknown", "call-y", True),
    ]
    i = 0
    for age in ages:
        for status, call_id, released in outcomes:
            for assistant, env in ((PAYMENT, "production"), ("other", "production"), (PAYMENT, "local")):
                writer = Ledger(path, clock=lambda age=age: DAY - age)
                row_id = await writer.claim_dial(
                    OutboundCallRequest(assistant_id=assistant, phone_number=numbers[i]),
                    confirmation="page",
                    environment=env,
                    max_per_hour=10_000,
                )
                if status != "pending":
                    await writer.record_outcome(row_id, status=status, call_id=call_id)  # type: ignore[arg-type]
                if released:
                    await writer.resolve(row_id, resolution="checked", call_id=call_id)
                await writer.aclose()
                i += 1
    now = DAY + timedelta(seconds=0.3)  # the window opens mid-second: created_at (to the second) is earlier
    ledger = Ledger(path, clock=lambda: now, environment=environment)
    expected = await _per_number(ledger, numbers, now)
    assert {rule for rule, _ in expected.values()} == {"outcome-unknown", "duplicate"}
    assert len(expected) < len(numbers)  # some numbers are free
    for history in (LedgerHistory(ledger), LedgerHistory(ledger, read_at_once=10)):
        found = await history.blocks(numbers, assistant_id=PAYMENT, now=now)
        assert {n: (r.rule, r.message) for n, r in found.items()} == expected
    await ledger.aclose()


# ----- the planner's shortcuts (parse_e164, the template once, one scan for hidden characters, the ids' body checked
# once) answer exactly as the single-call guard's checks composed row by row -----


def _reference_rows(
    recipients: list[Recipient], guard: DialGuard, assistant_id: str
) -> tuple[list[AcceptedRow], list[ExcludedRow], list[str]]:
    """Checks 1-3 the plain way: for every row, the functions DialGuard.check calls, in its order (the number parsed
    by parse_number, the do-not-call file's own check, the template looked up, the body encoded)."""
    assistant_id, provider = check_ids(assistant_id, "default")
    accepted: list[AcceptedRow] = []
    excluded: list[ExcludedRow] = []
    warnings: dict[str, None] = {}
    first_row: dict[str, int] = {}
    for position, recipient in enumerate(recipients, start=1):
        raw = recipient.phone_number
        row_warnings: list[str] = []
        try:
            number = ph.parse_number(raw, default_region=guard.settings.default_region)
            ph.check_line_type(number)
            ph.check_fictional(number, local=guard.local)
            ph.check_country(number, guard.settings.allowed_countries)
            guard.dnc.check(number)
            if number.extension:
                warnings.setdefault(
                    f"extensions are not dialled (E.164 has none): row {position} and any others with one"
                )
            first = first_row.setdefault(number.e164, position)
            if first != position:
                excluded.append(ExcludedRow(position, raw, DUPLICATE_IN_LIST, f"duplicate in list, row {first}"))
                continue
            variables = check_variables(recipient.input_variables)
            opening_line = guard.check_template(assistant_id, variables, row_warnings)
            check_sendable(
                OutboundCallRequest(
                    assistant_id=assistant_id,
                    phone_number=number.e164,
                    input_variables=variables,
                    telephony_provider=provider,
                )
            )
        except GuardRefusal as exc:
            if exc.rule in CAMPAIGN_WIDE_RULES:
                raise
            excluded.append(ExcludedRow(position, raw, exc.rule, exc.message))
            continue
        for text in row_warnings:
            warnings.setdefault(text)
        accepted.append(
            AcceptedRow(
                position, number.e164, number.region, number.country, number.time_zones, opening_line, variables
            )
        )
    return accepted, excluded, list(warnings)[:20]


def _mixed_rows() -> list[Recipient]:
    """Numbers of every kind (plain E.164 of several countries, formatted, with an extension, emergency, short,
    national without a region, premium-rate, shared-cost, UAN, toll-free, fictional, on the do-not-call list, twice in
    the list) and variables of every kind (missing, unused, control and bidi characters where allowed and where not, a
    lone surrogate, too long, too many, not finite, not a plain value, an opening line that does not render)."""
    ok: dict[str, object] = {"name": "Ann"}
    numbers = [
        "+12127365000", "+919876543210", "+442079460001", "+4915123456789", "+33112345678", "+5511961234567",
        "+61212345678", "+6281234567890", "+390612345678", "+8613800000000", "+1 (212) 736-5001",
        "tel:+12127365002", "+1 212 736 5003 x12", "+12127365000", "+1 212 736 5000", "911", "+1 911", "112",
        "+44 123", "12127365004", "not a number", "+19002345678", "+33884012345", "+445512345678", "+18002345678",
        "+12125550123", "+17018112582", "+442079460000", "+1 701 811 2582",
    ]  # fmt: skip
    rows = [Recipient(n, dict(ok)) for n in numbers]
    variables: list[dict[str, object]] = [
        {},
        {"name": "Ann", "unused": "x"},
        {"name": "Ann\nSmith\tJr"},
        {"name": "Ann\r\nSmith"},
        {"name": "Ann\rSmith"},
        {"name": "\x1b[31mAnn"},
        {"name": "Ann\x85"},
        {"name": "Ann\u202e"},
        {"name": "Ann\u200f"},
        {"name": "Ann\ud800"},
        {"na\u2066me": "Ann"},
        {"name": "x" * 2001},
        {"name": "x" * 2000},
        {"name": "Ann", **{f"v{i}": i for i in range(50)}},
        {"name": float("inf")},
        {"name": float("nan")},
        {"name": 1.5, "amount": 2},
        {"name": True},
        {"name": ["Ann"]},
        {"name": "Ann", "": "x"},
        {"name": "Ann", "k" * 65: "x"},
        {"name": "Ann", "amount": "5"},
        {"name": "Zoë 😀", "amount": 7},
    ]
    rows += [Recipient(f"+1212736{6000 + i:04d}", v) for i, v in enumerate(variables)]
    return rows


@pytest.mark.parametrize(
    ("assistant", "settings"),
    [
        ("acme-reminder", {}),
        ("acme-reminder", {"allowed_countries": "US,IN"}),
        (PAYMENT.upper(), {}),
        ("no-template-here", {"strict_templates": "false"}),
        ("no-template-here", {}),
    ],
)
def test_the_planners_checks_exclude_accept_and_warn_exactly_as_the_single_call_checks_row_by_row(
    tmp_path: Path, assistant: str, settings: dict[str, str]
) -> None:
    prompts = tmp_path / "prompts"
    prompts.mkdir()
    for name in ("acme-reminder", PAYMENT):
        (prompts / f"{name}.j2").write_text(
            "{# name: Reminder #}\nHi {{ name }}{% if amount is defined %}, you owe {{ amount + 1 }}{% endif %}.\n",
            encoding="utf-8",
        )
    dnc = tmp_path / "dnc.txt"
    dnc.write_text("+1 701 811 2582\n+44 20 7946 0000\n", encoding="utf-8")
    guard = DialGuard(
        load_settings(api_key="k", dnc_file=str(dnc), **settings),
        TemplateStore(prompts),
        Ledger(tmp_path / "ledger.sqlite3", clock=lambda: DAY),
        clock=lambda: DAY,
    )
    rows = _mixed_rows()
    forget_parsed_numbers()

    try:
        expected = _reference_rows(rows, guard, assistant)
    except GuardRefusal as exc:  # a missing template in strict mode refuses the whole campaign
        assert exc.rule == "template-missing"
        with pytest.raises(GuardRefusal) as refused:
            check_rows(rows, guard=guard, assistant_id=assistant)
        assert (refused.value.rule, refused.value.reason, refused.value.message) == (exc.rule, exc.reason, exc.message)
        return
    assert check_rows(rows, guard=guard, assistant_id=assistant) == expected
    assert check_rows(rows, guard=guard, assistant_id=assistant) == expected  # numbers cached, refusals too
    accepted, excluded, warnings = expected
    reasons = {e.reason for e in excluded}
    assert {"number", "emergency-number", "short-number", "line-type", "fictional-number", "do-not-call"} <= reasons
    assert {"duplicate-in-list", "template-variables", "control-characters"} <= reasons
    assert len(accepted) > 10 and warnings
    if assistant != "no-template-here":
        assert "(could not be rendered)" in {r.opening_line for r in accepted}


def test_the_one_scan_for_hidden_characters_finds_every_character_check_variables_may_refuse() -> None:
    """Its pattern matches exactly the C0/C1 controls (category Cc), the bidi embeddings, overrides and isolates,
    and the lone surrogates: a row it finds nothing in has nothing check_variables' character rules refuse."""
    from voicing_mcp.guard.campaigns.plan import _SUSPECT  # pyright: ignore[reportPrivateUsage]  # noqa: PLC0415
    from voicing_mcp.guard.variables import BIDI_CONTROLS  # noqa: PLC0415

    for code in range(0x110000):
        ch = chr(code)
        refusable = unicodedata.category(ch) in ("Cc", "Cs") or ch in BIDI_CONTROLS
        assert (_SUSPECT.fullmatch(ch) is not None) == refusable, hex(code)


async def test_the_estimate_waits_for_a_number_whose_earlier_dials_reached_the_per_number_cap(tmp_path: Path) -> None:
    """Dials by other assistants, outside the duplicate window, delay the row (never exclude it) until the oldest of
    them leaves the cap's window; the ledger is asked once for all the numbers."""
    guard = make_guard(tmp_path, max_calls_per_number="2/24h", quiet_hours="off")
    for hours in (3, 2):
        writer = Ledger(tmp_path / "ledger.sqlite3", clock=lambda hours=hours: DAY - timedelta(hours=hours))
        row_id = await writer.claim_dial(
            OutboundCallRequest(assistant_id="other", phone_number=NEW_YORK),
            confirmation="page",
            environment="production",
            max_per_hour=30,
        )
        await writer.record_outcome(row_id, status="started", call_id=f"call-{hours}")
        await writer.aclose()
    result = await plan(guard, [row(NEW_YORK), row(KOLKATA)])
    assert [r.position for r in result.accepted] == [1, 2]
    assert result.schedule.waiting_for_number_cap == 1
    assert result.schedule.earliest_dial == DAY  # Kolkata now
    # New York once its 3 hours old dial is 24 hours old, plus the call
    assert result.schedule.estimated_finish == DAY + timedelta(hours=21, minutes=2)
    once = await plan(make_guard(tmp_path, max_calls_per_number="3/24h", quiet_hours="off"), [row(NEW_YORK)])
    assert once.schedule.waiting_for_number_cap == 0 and once.schedule.estimated_finish == DAY + timedelta(minutes=2)
