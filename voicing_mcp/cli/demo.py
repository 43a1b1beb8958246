"""``voicing-mcp demo``: a guided end-to-end session, driven the way a user's MCP client drives it.

The demo spawns ``python -m voicing_mcp`` over stdio with the SDK's client and a clean
environment (no ``VOICING_API_KEY``, so the server runs its built-in emulator and no real phone
can ring; its own temporary ledger through ``VOICING_LEDGER``), then runs the steps below and
prints each one. It exits 0 when every step passed, and 1 naming the first step that failed.

Steps: tools, resources, prompts and assistants → one call's details → two pages of the call list →
250 ids looked up in bulk with progress, then reconciled → two chat turns with an assistant (its greeting
filled by input_variables) → the dial steps
(preview → confirmation → follow the call to completion; see :func:`dial_steps`).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from pathlib import Path
from typing import IO, Any

import anyio
from mcp import Client
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp_types import CallToolResult, TextContent, TextResourceContents

STEP_TIMEOUT = 120.0
"""Upper bound for one step (a hung server fails the step instead of hanging the demo)."""
DEMO_ASSISTANT = "019addcc-b878-7b10-85f1-49f21342f947"
BULK_KNOWN = 240
BULK_UNKNOWN = 10


class StepFailed(Exception):
    """A demo step did not do what it should; the message says what was seen."""


class Demo:
    """Prints the steps readably and keeps what later steps need."""

    def __init__(self, client: Client, out: IO[str]) -> None:
        self.client = client
        self.out = out
        self.tools: dict[str, Any] = {}

    def say(self, text: str = "") -> None:
        print(text, file=self.out, flush=True)

    def detail(self, text: str) -> None:
        for line in text.splitlines():
            self.say(f"     {line}")

    async def call(self, name: str, arguments: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        """Call a tool; a tool error fails the step with the server's own message."""
        result: CallToolResult = await self.client.call_tool(name, arguments, **kwargs)
        text = _first_text(result)
        if result.is_error:
            raise StepFailed(f"{name} returned an error: {text}")
        if result.structured_content is None:
            raise StepFailed(f"{name} returned no structured content")
        return dict(result.structured_content)


def _first_text(result: CallToolResult) -> str:
    for block in result.content:
        if isinstance(block, TextContent):
            return block.text
    return ""


def check(condition: bool, message: str) -> None:
    if not condition:
        raise StepFailed(message)


# ----- the steps ----------------------------------------------------------------------------
async def step_discover(demo: Demo) -> None:
    tools = (await demo.client.list_tools()).tools
    demo.tools = {t.name: t for t in tools}
    for tool in tools:
        hints = tool.annotations
        kind = (
            "read-only"
            if hints and hints.read_only_hint
            else "destructive"
            if hints and hints.destructive_hint
            else "acts"
        )
        demo.say(f"   tool      {tool.name:<24} {kind}, {tool.title or ''}")
    needed = {"get_call_details", "list_calls", "bulk_call_details", "chat_with_assistant"}
    check(needed <= demo.tools.keys(), f"tools missing: {sorted(needed - demo.tools.keys())}")
    for resource in (await demo.client.list_resources()).resources:
        demo.say(f"   resource  {resource.uri}")
    for template in (await demo.client.list_resource_templates()).resource_templates:
        demo.say(f"   resource  {template.uri_template}")
    for prompt in (await demo.client.list_prompts()).prompts:
        demo.say(f"   prompt    {prompt.name}")
    doc = await demo.call("list_assistants", {})  # what a model reads before it prepares a dial
    for a in doc["assistants"]:
        needs = ", ".join(a["required_variables"]) or "nothing"
        optional = f" (optional: {', '.join(a['optional_variables'])})" if a["optional_variables"] else ""
        demo.say(f"   assistant {a['assistant_id']} needs {needs}{optional}: {a.get('opening_line')!r}")
    check(doc["total"] >= 1, "no assistant templates were found")


async def step_details(demo: Demo) -> None:
    page = await demo.call("list_calls", {"limit": 1, "status": "completed"})
    check(page["returned"] == 1, "list_calls found no completed call to look at")
    call_id = page["calls"][0]["call_id"]
    result = await demo.client.call_tool("get_call_details", {"call_id": call_id})
    check(not result.is_error, f"get_call_details failed: {_first_text(result)}")
    details = result.structured_content or {}
    check(details.get("call_id") == call_id, "get_call_details returned another call")
    demo.detail(_first_text(result))


async def step_pages(demo: Demo) -> None:
    first = await demo.call("list_calls", {"page": 1, "limit": 5})
    check(first["next_page"] == 2, f"page 1 should point to page 2, not {first['next_page']}")
    second = await demo.call("list_calls", {"page": 2, "limit": 5})
    for data in (first, second):
        demo.say(f"   page {data['page']} of {data['total_pages']} ({data['total']} calls in all):")
        for c in data["calls"]:
            demo.say(f"     {c['call_id']}  {c['status'] or '?':<12} {c.get('duration') or 0:>5} s")
    overlap = {c["call_id"] for c in first["calls"]} & {c["call_id"] for c in second["calls"]}
    check(not overlap, f"pages 1 and 2 overlap: {sorted(overlap)}")


async def step_bulk(demo: Demo) -> None:
    known: list[str] = []
    args: dict[str, Any] = {"all_pages": True, "max_records": BULK_KNOWN}
    while len(known) < BULK_KNOWN:  # each result holds what fits 25,000 characters; `next` goes on
        listing = await demo.call("list_calls", args)
        known += [c["call_id"] for c in listing["calls"]]
        if listing["next"] is None:
            break
        args |= listing["next"]
    known = known[:BULK_KNOWN]
    check(len(known) == BULK_KNOWN, f"expected {BULK_KNOWN} calls to reconcile, got {len(known)}")
    unknown = [f"not-a-call-{i:02d}" for i in range(BULK_UNKNOWN)]
    ids = known[:120] + unknown + known[120:]
    demo.say(f"   reconciling {len(ids)} ids ({BULK_KNOWN} real, {BULK_UNKNOWN} made up) in API-sized chunks")
    updates: list[float] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        updates.append(progress)
        width = 30
        filled = int(width * progress / total) if total else 0
        demo.say(f"   [{'#' * filled}{'.' * (width - filled)}] {message or progress}")

    data = await demo.call("bulk_call_details", {"call_ids": ids}, progress_callback=on_progress)
    rows, missing, part, parts = [c["call_id"] for c in data["calls"]], list(data["missing"]), data, 1
    while part["next"] is not None:  # the rows of the other ids, a result at a time
        part = await demo.call("bulk_call_details", {"call_ids": ids, **part["next"]})
        rows, missing, parts = rows + [c["call_id"] for c in part["calls"]], missing + part["missing"], parts + 1
    demo.say(f"   found {data['found']}, missing {data['missing_count']}: {', '.join(missing[:3])}, …")
    demo.say(f"   by status: {data['by_status']}; rows read in {parts} results (each within 25,000 characters)")
    check(data["found"] == BULK_KNOWN and missing == unknown, "bulk result does not match the ids sent")
    check(rows == known, "bulk result is not in request order")
    check(bool(updates) and updates[-1] == len(ids), f"progress did not reach {len(ids)}: {updates}")
    summary = await demo.call("reconcile_calls", {"call_ids": ids, "expected_status": "completed"})
    demo.say(
        f"   reconcile_calls: found {summary['found']}, missing {summary['missing']['count']}, "
        f"not completed {summary['mismatches']['count']}; every row in {summary['report']} (and .csv)"
    )
    check(summary["found"] == BULK_KNOWN, "reconcile_calls does not match the bulk lookup")


DEMO_VARIABLES = {"name": "Ann", "plan_type": "Gold"}


async def step_chat(demo: Demo) -> None:
    first = await demo.call(
        "chat_with_assistant", {"assistant_id": DEMO_ASSISTANT, "message": "Hello", "input_variables": DEMO_VARIABLES}
    )
    demo.say(f"   assistant greets (input_variables {DEMO_VARIABLES} fill it): {first.get('greeting')!r}")
    demo.say(f"   you: 'Hello'  →  assistant: {first['reply']!r}")
    second = await demo.call(
        "chat_with_assistant",
        {
            "assistant_id": DEMO_ASSISTANT,
            "message": "When is the payment due?",
            "conversation_id": first["conversation_id"],
        },
    )
    demo.say(f"   you: 'When is the payment due?'  →  assistant: {second['reply']!r}")
    check(second["conversation_id"] == first["conversation_id"], "the second turn opened a new conversation")
    check(second["turn"] == 2, f"the second turn is numbered {second['turn']}")


DEMO_NUMBER = "+1 701 555 0123"
"""In the NANP range reserved for fiction: dialled only in local mode, where the emulator answers it."""


async def dial_steps(demo: Demo) -> None:
    """Place a call through the confirmation flow and follow it to completion.

    The guard refuses a request missing a template variable; the complete request comes back as
    ``confirmation_required`` with a preview (this client declares no elicitation, so the token
    flow is used); the demo plays the user saying yes and sends the token, with ``wait_seconds`` so
    the server follows the call to its end with progress notifications.
    """
    check("initiate_outbound_call" in demo.tools, "the server does not offer initiate_outbound_call")
    base = {"assistant_id": DEMO_ASSISTANT, "phone_number": DEMO_NUMBER}

    refused = await demo.client.call_tool("initiate_outbound_call", {**base, "input_variables": {"name": "Ann"}})
    check(refused.is_error, "a request missing a template variable was not refused")
    demo.say("   a request without plan_type is refused by the guard:")
    demo.detail(_first_text(refused).removeprefix("Error executing tool initiate_outbound_call: "))

    request = {**base, "input_variables": DEMO_VARIABLES}
    first = await demo.client.call_tool("initiate_outbound_call", request)
    check(not first.is_error, f"the preview failed: {_first_text(first)}")
    preview = first.structured_content or {}
    check(preview.get("status") == "confirmation_required", f"expected a preview, got {preview.get('status')}")
    demo.say("   the complete request returns a preview and a one-time token (nothing dialled yet):")
    demo.detail(_first_text(first).split("confirmation_token")[0].rstrip())
    demo.say("   the user reads the preview and says yes: the token goes back with the same request")

    updates: list[str] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        if message and (not updates or updates[-1] != message):
            updates.append(message)
            demo.say(f"   [{progress:5.1f} s] {message}")

    started = await demo.call(
        "initiate_outbound_call",
        {**request, "confirmation_token": preview["confirmation_token"], "wait_seconds": 60},
        progress_callback=on_progress,
    )
    check(started["status"] == "started", f"the confirmed call did not start: {started['status']}")
    followed = started.get("call") or {}
    demo.say(
        f"   call {started['call_id']} (confirmed by {started['confirmed_by']}): {followed.get('status')}, "
        f"{followed.get('duration') or 0:g} s"
    )
    check(followed.get("ended") is True, f"the call did not end within 60 s: {followed.get('status')}")

    again = await demo.client.call_tool(
        "initiate_outbound_call", {**request, "confirmation_token": preview["confirmation_token"]}
    )
    check(again.is_error, "a used confirmation token dialled again")
    # the duplicate guard (check 4) answers before the token's single-use check (5) would
    reason = _first_text(again).removeprefix("Error executing tool initiate_outbound_call: ")
    demo.say("   sending the same request and token again dials nothing; the guard says:")
    demo.detail(reason)
    demo.say("   the demo's temporary ledger (deleted when the demo ends) has one dial:")
    contents = (await demo.client.read_resource("voicing://ledger/recent")).contents
    check(bool(contents) and isinstance(contents[0], TextResourceContents), "voicing://ledger/recent is empty")
    ledger = contents[0]
    assert isinstance(ledger, TextResourceContents)
    rows = json.loads(ledger.text)["dials"]
    check(len(rows) == 1, f"the ledger has {len(rows)} dials, expected 1")
    row = rows[0]
    demo.say(f"   ledger #{row['id']}: {row['phone_masked']} {row['status']} {row['call_id']} ({row['confirmation']})")


STEPS: list[tuple[str, Callable[[Demo], Awaitable[None]]]] = [
    ("tools and resources", step_discover),
    ("a call's details", step_details),
    ("two pages of the call list", step_pages),
    ("250 ids looked up in bulk and reconciled", step_bulk),
    ("two chat turns with an assistant", step_chat),
    ("a call placed through the confirmation flow", dial_steps),
]


# ----- running ------------------------------------------------------------------------------
def server_parameters(workdir: Path) -> Any:
    """How the demo starts the server: as a desktop client would, with a clean environment."""
    return StdioServerParameters(
        command=sys.executable,
        args=["-m", "voicing_mcp", "--log-level", "WARNING"],
        # The SDK passes only a safe base (HOME, PATH, …) plus this: no VOICING_API_KEY, so local mode.
        env={"VOICING_LEDGER": str(workdir / "ledger.sqlite3"), "PYTHONUNBUFFERED": "1"},
        cwd=str(workdir),
    )


async def run_steps(out: IO[str]) -> tuple[int, int, str | None]:
    """Run every step; return (passed, total, name of the failed step or None)."""
    with tempfile.TemporaryDirectory(prefix="voicing-demo-") as tmp:
        workdir = Path(tmp)
        log_path = workdir / "server.log"
        with log_path.open("w", encoding="utf-8") as errlog:
            failed: str | None = None
            passed = 0
            try:
                async with AsyncExitStack() as stack:
                    client = await stack.enter_async_context(
                        Client(stdio_client(server_parameters(workdir), errlog=errlog))
                    )
                    demo = Demo(client, out)
                    info = client.server_info
                    demo.say(
                        f"Connected to {info.name if info else 'the server'} {info.version if info else ''} over "
                        f"stdio (protocol {client.protocol_version})"
                    )
                    banner = False  # the server starts its emulator on the first API call, and says so then
                    for number, (name, step) in enumerate(STEPS, start=1):
                        demo.say()
                        demo.say(f"{number}. {name}")
                        try:
                            with anyio.fail_after(STEP_TIMEOUT):
                                await step(demo)
                            banner = banner or _say_banner(demo, log_path)
                        except StepFailed as exc:
                            failed = name
                            demo.say(f"   FAILED: {exc}")
                            break
                        except TimeoutError:
                            failed = name
                            demo.say(f"   FAILED: no answer within {STEP_TIMEOUT:g} s")
                            break
                        passed += 1
                        demo.say("   ok")
            except OSError as exc:
                print(f"demo: could not start the server: {exc}", file=out)
                return passed, len(STEPS), failed or "starting the server"
            if failed is not None:
                errlog.flush()
                tail = log_path.read_text(encoding="utf-8").splitlines()[-15:]
                if tail:
                    print("   server log (last lines):", file=out)
                    for line in tail:
                        print(f"     {line}", file=out)
            return passed, len(STEPS), failed


def _say_banner(demo: Demo, log_path: Path) -> bool:
    """Show the server's local-emulator line once it is in its log; True when shown."""
    for line in log_path.read_text(encoding="utf-8").splitlines():
        if "local emulator — no real phone will ring" in line:
            demo.say(f"   server: {line.removeprefix('voicing-mcp: ')}")
            return True
    return False


def run_demo(args: argparse.Namespace | None = None, *, out: IO[str] | None = None) -> int:
    """The ``demo`` command. Returns the exit code: 0 when every step passed."""
    stream = out if out is not None else sys.stdout
    print(
        "voicing-mcp demo — a real MCP client drives the server over stdio against the built-in emulator.", file=stream
    )
    print("No real phone will ring.", file=stream)
    passed, total, failed = anyio.run(run_steps, stream)
    print(file=stream)
    if failed is None:
        print(f"All {total} steps passed.", file=stream)
        print(
            "The demo's ledger was temporary and is deleted now: 'voicing-mcp ledger' lists the dials of your own "
            "server (its VOICING_LEDGER), not the demo's.",
            file=stream,
        )
        return 0
    print(f"Demo failed at step {passed + 1} of {total}: {failed}.", file=stream)
    return 1
