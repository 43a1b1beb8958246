"""A campaign end to end over streamable HTTP: ``voicing-mcp --transport http`` as a subprocess (local mode, its
built-in emulator, human confirmation), driven by the MCP SDK's own client over real loopback HTTP.

The human is played by the client's elicitation callback: the server hands the approval page's address over URL
elicitation (to the user, never the model), and the callback does what the user's browser would — GET the page,
untick one row, POST the form with ``choice=start`` (its CSRF token, the page's own Origin). Then the model's side:
campaign_status until the campaign completes, every ticked number dialled exactly once (the built-in emulator's
request log, read at the address the server announced on stderr, and the campaign's call ids through
bulk_call_details), reconcile_calls on those ids; and pause, resume and cancel on a second campaign.

The client speaks 2025-11-25 ("legacy"): URL elicitation is a request the server sends mid-call, which the
2026-07-28 protocol has no channel for (there the server opens the user's browser instead; docs/guard.md).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from mcp import Client
from mcp.client.session import ClientRequestContext
from mcp_types import ElicitRequestParams, ElicitRequestURLParams, ElicitResult, TextResourceContents

from benchmarks._fleet import Replica
from server_support import ASSISTANT, structured, text_of
from tests.server.web.test_transports import STARTUP_LIMIT, clean_env, stop

DIAL_PATH = "/api/v1/campaigns/publish-outbound-call"
#: the emulator's outcome table: 555-0190…99 complete after a few virtual seconds (the callee hangs up early)
QUICK = [f"+1201555019{i}" for i in range(9)]
#: 555-0180…89: long calls (minutes of virtual time): a row stays in progress while the test acts
LONG = [f"+1201555018{i}" for i in range(4)]
UNTICKED = 2  # the row the human unticks (a 1-based position in the submitted list)
WAIT_LIMIT = 60.0  # a bound against a hung campaign, not a speed expectation


def command() -> list[str]:
    """``voicing-mcp`` as installed next to this interpreter (the command clients start), else ``-m``."""
    script = shutil.which("voicing-mcp", path=str(Path(sys.executable).parent))
    return [script] if script else [sys.executable, "-m", "voicing_mcp"]


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Replica]:
    """``voicing-mcp --transport http --host 127.0.0.1 --port 0`` in local mode with human confirmation."""
    tmp = tmp_path_factory.mktemp("campaign-http")
    env = clean_env(
        tmp,
        VOICING_ENV="local",
        VOICING_CONFIRMATION="human",
        VOICING_QUIET_HOURS="off",
        VOICING_LEDGER=str(tmp / "ledger.sqlite3"),
    )
    proc = subprocess.Popen(
        [*command(), "--transport", "http", "--host", "127.0.0.1", "--port", "0", "--log-level", "INFO"],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        encoding="utf-8",
    )
    replica = Replica(proc)
    threading.Thread(target=replica.pump, daemon=True).start()
    replica.ready.wait(STARTUP_LIMIT)
    if not replica.url:
        proc.kill()
        raise AssertionError("the server did not announce its URL:\n" + "".join(replica.stderr))
    yield replica
    assert stop(replica) == "", "the HTTP server writes logs to stderr, never stdout"


class Browser:
    """The human at their browser, reached by URL elicitation: opens the page, unticks ``untick``, starts."""

    def __init__(self, untick: set[int]) -> None:
        self.untick = untick
        self.messages: list[str] = []
        self.urls: list[str] = []
        self.answers: list[tuple[int, str]] = []

    async def __call__(self, context: ClientRequestContext, params: ElicitRequestParams) -> ElicitResult:
        assert isinstance(params, ElicitRequestURLParams), "the approval page's address comes by URL elicitation"
        self.messages.append(params.message)
        self.urls.append(params.url)
        origin = re.match(r"http://127\.0\.0\.1:\d+", params.url)
        assert origin is not None, params.url
        async with httpx.AsyncClient(timeout=30) as http:
            page = await http.get(params.url)
            assert page.status_code == 200, page.text
            csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
            assert csrf is not None, page.text
            rows = re.findall(r'name="row" value="(\d+)"', page.text)
            ticked = [r for r in rows if int(r) not in self.untick]
            answer = await http.post(
                params.url,
                data={"csrf": csrf[1], "page": "1", "choice": "start", "row": ticked},
                headers={"origin": origin[0]},
                follow_redirects=True,  # as a browser: the approval page turns into the campaign's dashboard
            )
        self.answers.append((answer.status_code, answer.text))
        return ElicitResult(action="accept")


def emulator_url(replica: Replica) -> str:
    """The built-in emulator's address, as the server announced it on stderr when it started."""
    for line in replica.stderr:
        found = re.search(r"emulator at (http://127\.0\.0\.1:\d+)", line)
        if found:
            return found[1]
    raise AssertionError("the server did not announce its emulator:\n" + "".join(replica.stderr))


def dialled(emulator: str) -> list[str]:
    """Every number the emulator was asked to dial, in order (its request log)."""
    log = httpx.get(f"{emulator}/_emulator/requests", timeout=10).json()["requests"]
    return [r["json"]["phone_number"] for r in log if r["path"] == DIAL_PATH and r["method"] == "POST"]


def advance(emulator: str, seconds: float) -> None:
    """Move the emulator's virtual clock: calls in progress reach their end."""
    httpx.post(f"{emulator}/_emulator/clock/advance", json={"seconds": seconds}, timeout=10).raise_for_status()


def recipients(numbers: list[str]) -> list[dict[str, Any]]:
    return [
        {"phone_number": n, "input_variables": {"name": f"Ann {i}", "plan_type": "Gold"}} for i, n in enumerate(numbers)
    ]


async def status_of(client: Client, campaign_id: str) -> dict[str, Any]:
    return structured(await client.call_tool("campaign_status", {"campaign_id": campaign_id}))


async def until(client: Client, campaign_id: str, done: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
    """campaign_status every half second until ``done(status)`` (bounded by WAIT_LIMIT)."""
    deadline = time.monotonic() + WAIT_LIMIT
    while True:
        status = await status_of(client, campaign_id)
        if done(status) or time.monotonic() > deadline:
            return status
        await anyio.sleep(0.5)


async def rows_of(client: Client, uri: str) -> list[dict[str, Any]]:
    """Every row of a campaign's resource, following each part's ``next``."""
    rows: list[dict[str, Any]] = []
    next_uri: str | None = uri
    while next_uri is not None:
        [content] = (await client.read_resource(next_uri)).contents
        assert isinstance(content, TextResourceContents)
        part = json.loads(content.text)
        rows += [dict(zip(part["columns"], row, strict=True)) for row in part["rows"]]
        next_uri = part["next"]
    return rows


async def test_a_campaign_is_approved_on_its_page_and_dialled_once_per_ticked_number_over_streamable_http(
    served: Replica,
) -> None:
    submitted = [*QUICK[:3], "911", *QUICK[3:8], QUICK[0]]  # 10 rows: an emergency number, a repeated one
    human = Browser(untick={UNTICKED})
    async with Client(served.url, mode="legacy", elicitation_callback=human) as client:
        result = await client.call_tool(
            "prepare_campaign",
            {
                "assistant_id": ASSISTANT,
                "recipients": recipients(submitted),
                "name": "overdue over http",
                "max_concurrent": 4,
                "wait_seconds": 30,
            },
        )
        prepared = structured(result)
        status = await until(client, prepared["campaign_id"], lambda s: s["status"] != "running")
        rows = await rows_of(client, status["resource"])
        call_ids = [r["call_id"] for r in rows if r["call_id"]]
        bulk = structured(await client.call_tool("bulk_call_details", {"call_ids": call_ids}))
        reconciled = structured(
            await client.call_tool("reconcile_calls", {"call_ids": call_ids, "expected_status": "completed"})
        )
        listed = structured(await client.call_tool("list_campaigns", {}))
    emulator = emulator_url(served)
    ticked = [n for i, n in enumerate(submitted[:-1], start=1) if n != "911" and i != UNTICKED]
    assert len(ticked) == 7
    # the human was asked once, by URL elicitation; the page's address never reached the model
    assert len(human.urls) == 1 and human.answers[0][0] == 200, human.answers
    assert "Approved: 7 calls" in human.answers[0][1]
    seen = text_of(result) + json.dumps(result.structured_content)
    assert human.urls[0] not in seen and human.urls[0].rsplit("/", 1)[1] not in seen
    assert prepared["status"] == "running" and prepared["asked_via"] == "url-elicitation"
    assert prepared["submitted"] == 10 and prepared["accepted"] == 8 and prepared["excluded"]["count"] == 2
    by_position = {row["position"]: row["reason"] for row in prepared["excluded"]["sample"]}
    assert by_position == {4: "emergency-number", 10: "duplicate-in-list"}, prepared["excluded"]
    assert status["status"] == "completed", status
    assert status["counts"]["completed"] == 7 and status["counts"]["removed"] == 1, status["counts"]
    assert status["counts"]["excluded"] == 2 and status["done"] == status["total"] == 10
    # each ticked number dialled exactly once; the unticked and the excluded rows never
    assert sorted(n for n in dialled(emulator) if n in QUICK) == sorted(ticked)  # (the other test dials LONG)
    assert sorted(c["phone_number"] for c in bulk["calls"]) == sorted(ticked) and bulk["found"] == 7
    assert len(call_ids) == 7 == len(set(call_ids))
    assert reconciled["found"] == 7 and reconciled["by_status"] == {"completed": 7}
    assert reconciled["mismatches"]["count"] == 0 and reconciled["missing"]["count"] == 0
    assert prepared["campaign_id"] in json.dumps(listed)


async def test_pause_resume_and_cancel_steer_a_second_campaign_over_streamable_http(served: Replica) -> None:
    human = Browser(untick=set())
    async with Client(served.url, mode="legacy", elicitation_callback=human) as client:
        prepared = structured(
            await client.call_tool(
                "prepare_campaign",
                {"assistant_id": ASSISTANT, "recipients": recipients(LONG), "max_concurrent": 1, "wait_seconds": 30},
            )
        )
        cid = prepared["campaign_id"]
        emulator = emulator_url(served)
        paused = structured(await client.call_tool("control_campaign", {"campaign_id": cid, "action": "pause"}))
        again = structured(await client.call_tool("control_campaign", {"campaign_id": cid, "action": "pause"}))
        # a row whose dial was under way when the pause was written goes on (its POST may land just after)
        await until(client, cid, lambda s: s["counts"]["dialling"] == 0)
        at_pause = [n for n in dialled(emulator) if n in LONG]
        advance(emulator, 3_600)  # the call in progress ends; a paused campaign dials nothing more
        await anyio.sleep(3)
        while_paused = [n for n in dialled(emulator) if n in LONG]
        resumed = structured(await client.call_tool("control_campaign", {"campaign_id": cid, "action": "resume"}))
        moving = await until(client, cid, lambda s: len([n for n in dialled(emulator) if n in LONG]) > len(at_pause))
        cancelled = structured(await client.call_tool("control_campaign", {"campaign_id": cid, "action": "cancel"}))
        await until(client, cid, lambda s: s["counts"]["dialling"] == 0)
        at_cancel = [n for n in dialled(emulator) if n in LONG]
        advance(emulator, 3_600)
        await anyio.sleep(3)
        final = await status_of(client, cid)
    assert prepared["status"] == "running" and human.answers[0][0] == 200
    assert paused["changed"] is True and paused["status"] == "paused"
    assert again["changed"] is False and again["status"] == "paused"
    assert len(at_pause) <= 1  # max_concurrent 1: at most the row already being dialled
    assert while_paused == at_pause, "nothing dialled while paused"
    assert resumed["changed"] is True and resumed["status"] == "running" and resumed["confirmation_token"] is None
    assert moving["status"] in {"running", "completed"}
    assert cancelled["changed"] is True and cancelled["status"] == "cancelled"
    assert [n for n in dialled(emulator) if n in LONG] == at_cancel, "nothing dialled after the cancel"
    assert final["status"] == "cancelled" and final["counts"]["queued"] == 0
    assert final["counts"]["cancelled"] == len(LONG) - len(at_cancel) and len(at_cancel) == len(set(at_cancel))
