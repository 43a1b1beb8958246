"""The dial workflow without MCP: the mode in effect, tokens, the confirm page's approvals and the re-check
before the one POST. The human is a tiny real channel class; the confirm page an in-memory board; the POSTs go
to the emulator through a real API client over loopback."""

from __future__ import annotations

import dataclasses
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import anyio
import pytest

from server_support import NUMBER, PAYMENT, VARS, dials
from voicing_mcp.api.client import VoicingClient
from voicing_mcp.api.models import OutboundCallRequest
from voicing_mcp.config import PACKAGE_PROMPTS_DIR, load_settings
from voicing_mcp.emulator.runner import RunningEmulator
from voicing_mcp.errors import GuardRefusal
from voicing_mcp.guard import workflow
from voicing_mcp.guard.decision import CheckedDial, Preview
from voicing_mcp.guard.ledger import DialRow, Ledger, NewCampaign, NewCampaignRow
from voicing_mcp.guard.policy import DialGuard
from voicing_mcp.guard.request import Approval, BatchRequest, DialRequest, manifest_digest, request_digest
from voicing_mcp.guard.templates import TemplateStore
from voicing_mcp.guard.workflow import (
    DialWorkflow,
    FormAnswer,
    Outcome,
    approval_key,
    confirmation_mode,
    record_approval,
)

REQUEST = DialRequest.of(PAYMENT, NUMBER, VARS)


class CountingGuard(DialGuard):
    """A real guard that counts how often checks 1-4 run."""

    checks = 0

    async def check(self, dial: DialRequest, **lookups: Any) -> CheckedDial:
        self.checks += 1
        return await super().check(dial, **lookups)


def make_guard(tmp_path: Path, **settings: Any) -> CountingGuard:
    settings.setdefault("api_key", "k")
    settings.setdefault("quiet_hours", "off")
    s = load_settings(**settings)
    return CountingGuard(s, TemplateStore(PACKAGE_PROMPTS_DIR), Ledger(tmp_path / "ledger.sqlite3"))


@dataclasses.dataclass
class Page:
    digest: str
    expires_at: datetime
    state: Literal["pending", "approved", "declined"] = "pending"
    asked_via: str | None = None
    decided: anyio.Event = dataclasses.field(default_factory=anyio.Event)
    reached: anyio.Event = dataclasses.field(default_factory=anyio.Event)
    id: str = dataclasses.field(default_factory=lambda: secrets.token_hex(8))
    closed: bool = False

    @property
    def nonce(self) -> str:
        return f"page:{self.id}"


class Board:
    """The confirm pages in memory: what the server's loopback page keeps, without the HTTP."""

    def __init__(self) -> None:
        self.pages: list[Page] = []
        self.started = False

    def find(self, digest: str) -> Page | None:
        found = [p for p in self.pages if p.digest == digest and not p.closed]
        return found[-1] if found else None

    def just_spent(self, digest: str) -> Page | None:
        return None

    def undecided(self) -> int:
        return sum(1 for p in self.pages if p.state == "pending" and not p.closed)

    def create(self, req: OutboundCallRequest, preview: Preview, warnings: list[str]) -> Page:
        page = Page(request_digest(req), datetime.now(UTC) + timedelta(minutes=5))
        self.pages.append(page)
        return page

    def close(self, pending: Page) -> None:
        pending.closed = True

    def forget(self, pending: Page) -> None:
        self.pages.remove(pending)

    def url(self, pending: Page) -> str:
        return f"http://127.0.0.1:1/confirm/{pending.id}"

    async def start(self) -> str:
        self.started = True
        return "http://127.0.0.1:1"


class Human:
    """A human behind a client: ``form`` says whether the client asks them in a form; ``browser`` what they
    click on the page once it opens (None: no browser here); ``clicks_after`` progress notices first."""

    def __init__(
        self,
        board: Board,
        *,
        form: bool = False,
        browser: Literal["call", "decline"] | None = "call",
        clicks_after: int = 0,
    ) -> None:
        self.board = board
        self.form = form
        self.browser = browser
        self.clicks_after = clicks_after
        self.opened: list[str] = []
        self.progress_seen: list[tuple[float, float, str]] = []

    @property
    def can_ask_form(self) -> bool:
        return self.form

    async def open_url(self, url: str, message: str) -> bool | None:
        return None  # no URL elicitation: the browser is tried

    async def open_browser(self, url: str) -> bool:
        if self.browser is None:
            return False
        self.opened.append(url)
        if self.clicks_after == 0:
            self._click()
        return True

    async def progress(self, progress: float, total: float, message: str) -> None:
        self.progress_seen.append((progress, total, message))
        if len(self.progress_seen) == self.clicks_after:
            self._click()

    def _click(self) -> None:
        page = self.board.pages[-1]
        page.state = "approved" if self.browser == "call" else "declined"
        page.decided.set()


@asynccontextmanager
async def api(emu: RunningEmulator) -> AsyncIterator[VoicingClient]:
    async with VoicingClient(base_url=emu.base_url, api_key=emu.api_key) as client:
        yield client


async def run(guard: DialGuard, human: Human, client: VoicingClient, request: DialRequest = REQUEST) -> Outcome:
    flow = DialWorkflow(guard)
    prepared = await flow.prepare(request, human)
    return await flow.run(request, human, lambda: human.board, client, prepared=prepared)


async def test_an_allow_listed_number_dials_once_with_one_check_and_no_human_asked(
    emu: RunningEmulator, tmp_path: Path
) -> None:
    guard = make_guard(tmp_path, allowed_numbers="+1701811*")
    human = Human(Board())
    async with api(emu) as client:
        outcome = await run(guard, human, client)
    assert outcome.status == "started" and outcome.mode == "allow-list" and outcome.ledger_id == 1
    assert guard.checks == 1 and human.opened == [] and dials(emu) == 1


async def test_the_mode_is_the_allow_list_then_the_form_then_the_page_or_an_opt_in_token(tmp_path: Path) -> None:
    guard = make_guard(tmp_path, allowed_numbers="+1701811*")
    allowed = await guard.check(REQUEST)
    assert allowed.allow_listed
    assert confirmation_mode(guard, allowed, client_can_elicit=False) == "allow-list"
    other = await guard.check(DialRequest.of(PAYMENT, "+17028112582", VARS))
    assert confirmation_mode(guard, other, client_can_elicit=True) == "elicitation"
    # human mode (the default outside local): without a form, the confirm page
    assert guard.settings.resolved_confirmation == "human"
    assert confirmation_mode(guard, other, client_can_elicit=False) == "page"
    token = make_guard(tmp_path / "t", confirmation="token")
    assert confirmation_mode(token, other, client_can_elicit=False) == "token"
    assert confirmation_mode(token, other, client_can_elicit=True) == "elicitation"


async def test_the_form_dials_only_on_an_accept_and_checks_again_after_the_human_answered(
    emu: RunningEmulator, tmp_path: Path
) -> None:
    guard = make_guard(tmp_path)
    human = Human(Board(), form=True)
    flow = DialWorkflow(guard)
    async with api(emu) as client:
        prepared = await flow.prepare(REQUEST, human)
        assert prepared.mode == "elicitation" and prepared.decision is not None
        no = FormAnswer(accepted=False, how="The user declined the call when asked: nothing was dialled.")
        declined = await flow.run(REQUEST, human, lambda: human.board, client, prepared=prepared, answer=no)
        assert declined.status == "declined" and declined.how is not None and "declined" in declined.how
        assert dials(emu) == 0
        yes = FormAnswer(accepted=True)
        started = await flow.run(REQUEST, human, lambda: human.board, client, prepared=prepared, answer=yes)
    assert started.status == "started" and started.mode == "elicitation"
    assert guard.checks == 3  # before asking, and after each answer (time passed while the human read it)
    assert dials(emu) == 1


async def test_a_token_is_issued_then_redeemed_once_for_exactly_that_request(
    emu: RunningEmulator, tmp_path: Path
) -> None:
    guard = make_guard(tmp_path, confirmation="token")
    human = Human(Board())
    async with api(emu) as client:
        issued = await run(guard, human, client)
        assert issued.status == "confirmation_required" and issued.token is not None and dials(emu) == 0
        assert guard.checks == 1
        with_token = dataclasses.replace(REQUEST, confirmation_token=issued.token.token)
        other = dataclasses.replace(with_token, phone_number="+17028112582")
        with pytest.raises(GuardRefusal) as mismatch:
            await run(guard, human, client, other)
        started = await run(guard, human, client, with_token)
        with pytest.raises(GuardRefusal) as replayed:
            await DialWorkflow(guard).redeem_token(started.decision, issued.token.token)
    assert mismatch.value.rule == "token-mismatch"
    assert started.status == "started" and started.mode == "token" and dials(emu) == 1
    assert replayed.value.rule == "token-replayed"


async def test_a_token_is_refused_where_the_human_confirms_themselves(emu: RunningEmulator, tmp_path: Path) -> None:
    guard = make_guard(tmp_path)
    token = DialWorkflow(guard).issue_token(await guard.check(REQUEST)).token
    async with api(emu) as client:
        with pytest.raises(GuardRefusal) as refused:
            await run(guard, Human(Board()), client, dataclasses.replace(REQUEST, confirmation_token=token))
    assert refused.value.rule == "token-not-accepted" and dials(emu) == 0


async def test_a_click_on_the_page_is_spent_once_and_the_request_checked_again_before_the_post(
    emu: RunningEmulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(workflow, "CONFIRM_PROGRESS_SECONDS", 0.01)
    guard = make_guard(tmp_path)
    human = Human(Board(), clicks_after=3)
    async with api(emu) as client:
        outcome = await run(guard, human, client)
    assert outcome.status == "started" and outcome.mode == "page" and dials(emu) == 1
    assert guard.checks == 2  # before the page, and just before the POST
    assert human.board.started and len(human.opened) == 1
    # progress in whole seconds of the wait, with where the human is asked
    assert [(p, t) for p, t, _ in human.progress_seen] == [(0, 45), (0, 45), (0, 45)]
    assert human.progress_seen[0][2] == "waiting for you to confirm in the browser: 0 of 45 s"
    page = human.board.pages[0]
    assert page.closed and not await guard.ledger.spend_nonce(page.nonce, expires_at=page.expires_at)


async def test_a_dont_call_on_the_page_is_declined_and_declined_again_while_it_lives(
    emu: RunningEmulator, tmp_path: Path
) -> None:
    guard = make_guard(tmp_path)
    human = Human(Board(), browser="decline")
    async with api(emu) as client:
        first = await run(guard, human, client)
        again = await run(guard, human, client)
    for outcome in (first, again):
        assert outcome.status == "declined" and outcome.asked_via == "browser"
        assert outcome.how is not None and "Don't call" in outcome.how
    assert len(human.opened) == 1 and dials(emu) == 0


async def test_the_page_not_clicked_in_time_leaves_the_request_waiting_for_the_human(
    emu: RunningEmulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(workflow, "CONFIRM_WAIT_SECONDS", 0.0)
    guard = make_guard(tmp_path)
    human = Human(Board(), clicks_after=99)
    async with api(emu) as client:
        outcome = await run(guard, human, client)
    page = human.board.pages[0]
    assert outcome.status == "confirmation_required" and outcome.expires_at == page.expires_at
    assert outcome.asked_via == "browser" and page.state == "pending" and dials(emu) == 0


async def test_without_a_way_to_reach_a_human_the_dial_is_refused_and_no_page_is_left(
    emu: RunningEmulator, tmp_path: Path
) -> None:
    guard = make_guard(tmp_path)
    human = Human(Board(), browser=None)
    async with api(emu) as client:
        with pytest.raises(GuardRefusal) as refused:
            await run(guard, human, client)
    assert refused.value.rule == "confirmation-unavailable" and "no way to reach a human" in refused.value.message
    assert human.board.pages == [] and dials(emu) == 0


async def test_an_approval_a_replica_recorded_is_taken_from_the_ledger_once_within_its_scope(
    emu: RunningEmulator, tmp_path: Path
) -> None:
    guard = make_guard(tmp_path)
    other_api = make_guard(tmp_path / "other", base_url="https://proxy.example/v1")
    decision = await guard.check(REQUEST)
    digest = request_digest(decision.request)
    expires = datetime.now(UTC) + timedelta(minutes=5)
    assert approval_key(guard, digest) != approval_key(other_api, digest)  # another API: another key
    await record_approval(guard, Approval(approval_key(guard, digest), digest, "page:replica", expires))
    human = Human(Board(), browser=None)  # nobody to ask here: the approval alone must dial
    async with api(emu) as client:
        outcome = await run(guard, human, client)
        assert outcome.status == "started" and outcome.mode == "page" and dials(emu) == 1
        assert await guard.ledger.take_approval(approval_key(guard, digest)) is None  # spent


def test_a_batch_is_bound_to_the_manifest_of_its_accepted_rows_in_order() -> None:
    rows = [
        OutboundCallRequest(assistant_id=PAYMENT, phone_number=n, input_variables=VARS, telephony_provider="default")
        for n in ("+17018112582", "+17028112582")
    ]
    batch = BatchRequest(name="overdue", rows=(REQUEST, dataclasses.replace(REQUEST, phone_number="+17028112582")))
    assert len(batch.rows) == 2
    assert manifest_digest((rows[0], rows[1])) != manifest_digest((rows[1], rows[0]))
    assert manifest_digest((rows[0],)) != request_digest(rows[0])


async def test_the_lookups_given_to_the_workflow_reach_the_checks(tmp_path: Path) -> None:
    """The lookup of an uncertain dial's call lifts the block once the call is found."""
    guard = make_guard(tmp_path, allowed_numbers="+1701811*")
    row = await guard.ledger.claim_dial(
        (await guard.check(REQUEST)).request, confirmation="token", environment=guard.environment, max_per_hour=9
    )
    await guard.ledger.record_outcome(row, status="unknown", detail="no answer")
    seen: list[int] = []

    async def found(dial: DialRow) -> str | None:
        seen.append(dial.id)
        return "call-1"

    flow = DialWorkflow(guard, reconcile=found)
    with pytest.raises(GuardRefusal) as refused:  # found: the block is lifted, and the call is a recent dial
        await flow.prepare(REQUEST, Human(Board()))
    assert seen == [row] and (await guard.ledger.open_unknown(NUMBER)) is None
    assert refused.value.rule == "duplicate" and "call_id call-1" in refused.value.message


async def test_a_spent_batch_approval_says_what_the_campaign_is_and_a_conflict_spends_nothing(tmp_path: Path) -> None:
    guard = make_guard(tmp_path)
    new = NewCampaign(
        id="cmp_00000000000000ab",
        environment=guard.environment,
        assistant_id=PAYMENT,
        telephony_provider="default",
        manifest_sha256="m" * 64,
    )
    rows = [NewCampaignRow(position=i, phone_e164=f"+1701811000{i}", input_variables=VARS) for i in (1, 2)]
    await guard.ledger.create_campaign(new, rows)
    now = datetime.now(UTC)
    approval = workflow.batch_approval(guard, "m" * 64, "nonce-a", (1, 2), now=now)
    other_list = workflow.batch_approval(guard, "x" * 64, "nonce-b", (1, 2), now=now)
    # an attempt that spent its nonce and then could not apply (the ledger failed in between)
    assert await guard.ledger.spend_nonce("nonce-a", expires_at=approval.expires_at)
    with pytest.raises(GuardRefusal) as waiting:
        await workflow.apply_batch_approval(guard, new.id, approval)
    with pytest.raises(GuardRefusal) as conflict:
        await workflow.apply_batch_approval(guard, new.id, other_list)
    fresh = workflow.batch_approval(guard, "m" * 64, "nonce-c", (1, 2), now=now)
    started = await workflow.apply_batch_approval(guard, new.id, fresh)
    with pytest.raises(GuardRefusal) as decided:
        await workflow.apply_batch_approval(guard, new.id, fresh)
    assert waiting.value.rule == "token-replayed" and "still awaits approval" in str(waiting.value)
    assert "did not start cmp_00000000000000ab" in str(waiting.value) and "resume" in str(waiting.value)
    assert conflict.value.rule == "campaign" and "manifest hash differs" in str(conflict.value)
    assert await guard.ledger.spend_nonce("nonce-b", expires_at=approval.expires_at), "the refused list spent nothing"
    assert started.status == "running"
    assert decided.value.rule == "campaign" and "was decided already and is running now" in str(decided.value)
    assert "token" not in str(decided.value) and "not started" not in str(decided.value)
