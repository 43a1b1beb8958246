"""What a dial's outcome is when the answer is not a clean success: a gateway or proxy error after the call was
placed is 'outcome unknown' (and blocks the redial), the API's documented refusals are definite failures, and a
ledger lost during the POST does not hide a started call. A real loopback proxy in front of the emulator."""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response

from guard_support import check
from server_support import helper, ledger_cli, loopback_proxy, structured, text_of
from tests.server.test_dial import DIAL_PATH, NUMBER, Clock, call, dial_client, dials, ledger_rows, refusal
from voicing_mcp.api.client import VoicingClient
from voicing_mcp.api.models import OutboundCallRequest, OutboundCallResponse
from voicing_mcp.config import PACKAGE_PROMPTS_DIR, load_settings
from voicing_mcp.emulator.runner import RunningEmulator
from voicing_mcp.guard.ledger import Ledger
from voicing_mcp.guard.policy import DialGuard
from voicing_mcp.guard.templates import TemplateStore
from voicing_mcp.server.resources import recent_dials_document

MODE = "legacy"  # the dial path under test does not depend on the protocol version


@asynccontextmanager
async def gateway(emu: RunningEmulator, dial_answer: Callable[[], Response]) -> AsyncGenerator[RunningEmulator]:
    """A real HTTP proxy on loopback in front of the emulator. Every request is passed on; the dial POST's
    answer is replaced by ``dial_answer()`` (after the emulator placed the call)."""

    async with httpx.AsyncClient(base_url=emu.base_url) as upstream:

        async def forward(request: Request) -> Response:
            answer = await upstream.request(
                request.method,
                request.url.path,
                params=request.query_params,
                headers={"x-api-key": request.headers.get("x-api-key", "")},
                content=await request.body(),
            )
            if request.url.path == DIAL_PATH:
                return dial_answer()
            return Response(answer.content, answer.status_code, media_type=answer.headers.get("content-type"))

        async with loopback_proxy(emu, forward, api_key=emu.api_key) as proxied:
            yield proxied


async def ledger_file_rows(path: Path) -> list[dict[str, Any]]:
    """The rows ``voicing-mcp ledger list`` prints (newest first), read from the file in this process through
    another connection, as the command does; the command itself runs as a subprocess in the tests below and in
    tests/cli/test_ledger.py."""
    ledger = Ledger(path)
    try:
        return [row.public() for row in await ledger.recent()]
    finally:
        ledger.close()


async def test_a_gateway_timeout_on_the_dial_is_an_unknown_outcome_and_the_call_is_not_placed_twice(
    emu: RunningEmulator, tmp_path: Path
) -> None:
    """A proxy in front of the API passes the POST on (the call is placed) but answers 504 itself: the
    dial is recorded as unknown, so the model's natural retry finds the call instead of dialling again."""

    def timed_out() -> Response:
        return HTMLResponse("<html><body>504 Gateway Time-out</body></html>", status_code=504)

    async with (
        gateway(emu, timed_out) as proxied,
        dial_client(proxied, tmp_path, MODE, allowed_numbers=NUMBER) as client,
    ):
        first = await call(client)
        assert first.is_error and "outcome unknown (ledger #1)" in text_of(first), text_of(first)
        again = await call(client)  # what a model does after "try again later"
        placed = helper(emu, "GET", "/_emulator/dials")["calls"]
        assert f"call_id {placed[0]}" in refusal(again, "duplicate")
    assert dials(emu) == 1


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (500, "<html><body>500 Internal Server Error</body></html>"),  # not the vendor's documented body
        (500, '{"detail": "Internal server error"}'),  # JSON, but not a documented text
        (503, '{"detail": "Service temporarily unavailable"}'),
        (520, "<html>Web server is returning an unknown error</html>"),
        (524, "<html>A timeout occurred</html>"),
        (530, ""),
        (408, "<html>408 Request Time-out</html>"),
        (499, ""),
    ],
)
async def test_a_gateway_error_after_placement_is_an_unknown_outcome_that_blocks_the_redial(
    emu: RunningEmulator, tmp_path: Path, status: int, body: str
) -> None:
    """A proxy passes the dial POST on (the emulator places the call) and answers ``status`` itself: only a
    documented rejection proves no call was placed, so this is 'outcome unknown', the model is not told to
    try again, and its redial does not ring the person a second time."""

    def answered() -> Response:
        media = "application/json" if body.startswith("{") else "text/html"
        return Response(body, status_code=status, media_type=media)

    ledger = tmp_path / "ledger.sqlite3"
    async with (
        gateway(emu, answered) as proxied,
        dial_client(proxied, tmp_path, MODE, ledger=ledger, allowed_numbers=NUMBER) as client,
    ):
        first = await call(client)
        text = text_of(first)
        assert first.is_error and "outcome unknown (ledger #1)" in text and f"HTTP {status}" in text, text
        assert "try again" not in text.lower() and "retry" not in text.lower(), text
        row = (await ledger_file_rows(ledger))[0]  # the file itself (the ledger command's list, in-process)
        assert row["status"] == "unknown" and row["resolved_at"] is None, row
        again = await call(client)  # what a model does after an error
        placed = helper(emu, "GET", "/_emulator/dials")["calls"]
        assert f"call_id {placed[0]}" in refusal(again, "duplicate")
    assert dials(emu) == 1


@pytest.mark.parametrize("fault", ["500", "429"])
async def test_the_vendors_documented_500_body_is_a_definite_failure_and_the_redial_goes_through(
    emu: RunningEmulator, tmp_path: Path, fault: str
) -> None:
    """``500 {"detail": "Failed to publish outbound call"}`` is the API's own documented refusal (and a 429 a
    refusal to process, sent once, Retry-After or not): nothing was placed, the row is 'failed', the number is
    not blocked, and neither the model's text nor the ledger row advises a retry."""

    ledger = tmp_path / "ledger.sqlite3"
    helper(emu, "POST", "/_emulator/faults", {"fault": fault, "path": DIAL_PATH, "times": 1, "retry_after": 0})
    detail = "Failed to publish outbound call" if fault == "500" else "Too many requests"
    async with dial_client(emu, tmp_path, MODE, ledger=ledger, allowed_numbers=NUMBER) as client:
        failed = await call(client)
        text = text_of(failed)
        assert failed.is_error and "NOT placed (ledger #1" in text and f"HTTP {fault}: {detail}" in text, text
        assert "try again" not in text.lower() and "retry" not in text.lower(), text
        stored = (await ledger_rows(client))[0]["detail"]
        assert detail in stored and "try again" not in stored.lower(), stored
        assert dials(emu) == 0
        again = structured(await call(client))
    assert again["status"] == "started" and again["ledger_id"] == 2
    rows = [json.loads(line) for line in ledger_cli(ledger, "list").stdout.splitlines()]
    assert [r["status"] for r in rows] == ["started", "failed"]
    assert dials(emu) == 1


async def test_an_api_error_that_echoes_the_number_is_masked_in_the_ledger_resource_and_listing(
    emu: RunningEmulator, tmp_path: Path
) -> None:
    def rejected() -> Response:
        return JSONResponse({"detail": "Invalid phone number +17018112582 for this provider"}, status_code=400)

    ledger = tmp_path / "ledger.sqlite3"
    async with (
        gateway(emu, rejected) as proxied,
        dial_client(proxied, tmp_path, MODE, ledger=ledger, allowed_numbers=NUMBER) as client,
    ):
        result = await call(client)
    assert result.is_error and "HTTP 400" in text_of(result)
    document = await recent_dials_document(ledger)  # the text of voicing://ledger/recent
    listed = ledger_cli(ledger, "list")
    assert listed.returncode == 0
    for text in (document, listed.stdout):
        assert "Invalid phone number" in text and "8112582" not in text, text
    row = json.loads(listed.stdout.splitlines()[0])
    assert row["status"] == "failed" and "+1 701 ••• ••82" in row["detail"]


async def test_a_ledger_that_fails_after_the_post_does_not_hide_the_started_call(
    emu: RunningEmulator, tmp_path: Path
) -> None:
    """The call was sent: the result says started (with a warning), never "refused, nothing was dialled"."""

    path = tmp_path / "ledger.sqlite3"
    ledger = Ledger(path, clock=Clock())
    settings = load_settings(base_url=emu.base_url, api_key=emu.api_key, env="development", quiet_hours="off")
    guard = DialGuard(settings, TemplateStore(PACKAGE_PROMPTS_DIR), ledger, clock=Clock())

    class LedgerLostDuringThePost:
        """The real API client; while the POST is out, the ledger file is replaced by a folder."""

        def __init__(self, client: VoicingClient) -> None:
            self.client = client

        async def initiate_outbound_call(self, req: OutboundCallRequest) -> OutboundCallResponse:
            response = await self.client.initiate_outbound_call(req)
            ledger.close()
            for leftover in tmp_path.glob("ledger.sqlite3*"):
                leftover.unlink()
            path.mkdir()
            return response

    decision = await check(
        guard,
        assistant_id="019addcc-b878-7b10-85f1-49f21342f947",
        phone_number=NUMBER,
        input_variables={"name": "Ann", "plan_type": "Gold"},
    )
    async with VoicingClient(base_url=emu.base_url, api_key=emu.api_key) as api:
        response, row_id = await guard.place_call(decision, LedgerLostDuringThePost(api), confirmation="token")
    ledger.close()
    assert response.call_id == helper(emu, "GET", "/_emulator/dials")["calls"][0]
    assert row_id == 1 and dials(emu) == 1
    assert any("the call was started, but the ledger could not record it" in w for w in decision.warnings)
