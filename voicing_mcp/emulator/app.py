"""The emulator's HTTP and WebSocket surface (Starlette), exact to the vendor's guide as ``docs/voicing-api.md``
summarises it, with our decisions where the guide is silent.

Every API path runs through :func:`_api`: injected latency, the key check (401), the request
log, then a fault (header ``x-emulator-fault``, an armed fault, or a seeded random one), then
the handler. Test helpers live under ``/_emulator/`` (no key, loopback clients only).
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import socket
import struct
from collections.abc import Awaitable, Callable
from typing import Any, cast

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.types import Receive, Scope, Send

from voicing_mcp.emulator.calls import STATUSES, iso
from voicing_mcp.emulator.chat import CHAT_PATH, chatbot
from voicing_mcp.emulator.faults import FAULT_KINDS, TIMEOUT_HOLD_SECONDS, ArmedFault, FaultChoice, FaultKind
from voicing_mcp.emulator.state import EmulatorConfig, EmulatorState

log = logging.getLogger("voicing_mcp.emulator")

API = "/api/v1/campaigns"
DIAL_PATH = f"{API}/publish-outbound-call"
DETAILS_PATH = f"{API}/get-call-details"
BULK_PATH = f"{API}/get-call-details/bulk-by-ids"
MAX_BULK = 100
MAX_LIMIT = 100
DEFAULT_LIMIT = 20
MAX_CLOCK_ADVANCE = 315_576_000
"""Seconds one ``/_emulator/clock/advance`` may jump (ten years)."""
_TRANSPORT_KEY = "voicing_emulator.transport"
_LOOPBACK = ("127.", "::1", "localhost")

Handler = Callable[[Request, EmulatorState], Awaitable[Response]]


def _detail(status: int, detail: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"detail": detail}, status_code=status, headers=headers)


class EmulatorApp(Starlette):
    """A Starlette app that remembers each HTTP connection's transport, so faults can break it."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        owner = getattr(receive, "__self__", None)  # uvicorn's request cycle
        transport = getattr(owner, "transport", None)
        if transport is not None:
            scope[_TRANSPORT_KEY] = transport
        await super().__call__(scope, receive, send)


class _DropConnection(Exception):
    """Raised only when the server gives no handle on the connection (not under uvicorn)."""


def state_of(request: Request) -> EmulatorState:
    return cast(EmulatorState, request.app.state.emulator)


async def _break_connection(request: Request, *, hard: bool) -> Response:
    """Close the client's connection without an answer (``hard``: TCP reset instead of FIN)."""
    transport = cast(asyncio.Transport | None, request.scope.get(_TRANSPORT_KEY))
    if transport is None:
        raise _DropConnection("the emulator cannot break a connection outside uvicorn")
    if hard:
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()
    # wait until the server has noticed, so it does not try to answer on the dead connection
    while (await request.receive())["type"] != "http.disconnect":
        pass
    return Response(status_code=204)


async def _until_disconnect(request: Request) -> None:
    while (await request.receive())["type"] != "http.disconnect":
        pass


async def _until_closing(state: EmulatorState) -> None:
    await state.closing.wait()


async def _hold(request: Request, state: EmulatorState) -> Response:
    """The ``timeout`` fault: answer only after the client has surely given up (bounded).

    Ends early when the client goes away, and breaks the connection when the emulator stops.
    """
    gone = asyncio.ensure_future(_until_disconnect(request))
    closing = asyncio.ensure_future(_until_closing(state))
    done, pending = await asyncio.wait({gone, closing}, timeout=TIMEOUT_HOLD_SECONDS, return_when="FIRST_COMPLETED")
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
    if gone in done:
        return Response(status_code=204)
    if closing in done:
        return await _break_connection(request, hard=False)
    return _detail(504, "Gateway timeout")


def _fault_response(choice: FaultChoice, path: str, body: Any) -> Response | None:
    """The answer for a fault that is just an error status (None for the connection-level ones)."""
    headers = {"retry-after": f"{choice.retry_after:g}"} if choice.retry_after is not None else None
    assistant_id = body.get("assistant_id") if isinstance(body, dict) else None
    match choice.fault:
        case "500":
            text = "Failed to publish outbound call" if path == DIAL_PATH else "Internal server error"
            return _detail(500, text)
        case "503":
            return _detail(503, "Service temporarily unavailable", headers)
        case "429":
            return _detail(429, "Too many requests", headers)
        case "400-assistant":
            return _detail(400, f"Error fetching assistant: lookup of assistant {assistant_id} failed")
        case "404-user":
            return _detail(404, f"User ID not found for assistant with ID {assistant_id}")
        case "404-org":
            return _detail(404, f"Organization ID not found for assistant with ID {assistant_id}")
        case _:
            return None


async def _read_json(request: Request) -> tuple[Any, bool]:
    """(parsed body, ok). An empty body is not valid JSON."""
    raw = await request.body()
    try:
        return json.loads(raw), True
    except (ValueError, UnicodeDecodeError, RecursionError):  # RecursionError: nested too deep to decode
        return None, False


def _api(handler: Handler, *, with_body: bool) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        state = state_of(request)
        if state.config.latency_ms > 0:
            await asyncio.sleep(state.config.latency_ms / 1000)
        path = request.url.path
        body: Any = None
        if with_body:
            body, ok = await _read_json(request)
            request.state.body = body
            request.state.body_ok = ok
        entry: dict[str, Any] = {
            "method": request.method,
            "path": path,
            "query": dict(request.query_params),
            "json": body,
            "status": None,
            "fault": None,
        }
        state.requests.append(entry)
        response = await _dispatch(request, state, handler, path, body, entry)
        entry["status"] = response.status_code if entry["status"] is None else entry["status"]
        return response

    return endpoint


async def _dispatch(
    request: Request, state: EmulatorState, handler: Handler, path: str, body: Any, entry: dict[str, Any]
) -> Response:
    if request.headers.get("x-api-key") != state.config.api_key:
        return _detail(401, "Invalid API token")
    header = request.headers.get("x-emulator-fault")
    fault: FaultKind | None = None
    if header is not None:
        if header not in FAULT_KINDS:
            return _detail(400, f"Unknown x-emulator-fault {header!r}; one of: {', '.join(FAULT_KINDS)}")
        fault = header
    retry_after = _number(request.headers.get("x-emulator-retry-after"))
    choice = state.choose_fault(path, fault, retry_after)
    if choice is None:
        return await handler(request, state)
    entry["fault"] = choice.fault
    log.info("%s fault (%s) on %s %s", choice.fault, choice.source, request.method, path)
    if choice.fault == "reset":
        entry["status"] = 0
        return await _break_connection(request, hard=True)
    if choice.fault == "timeout":
        held = await _hold(request, state)
        entry["status"] = held.status_code if held.status_code == 504 else 0
        return held
    if choice.fault == "drop-after-accept":
        response = await handler(request, state)
        if response.status_code >= 300:
            return response
        entry["status"] = 0
        return await _break_connection(request, hard=False)
    if choice.fault.startswith("accept-then-"):
        # processed (a dial is recorded and counted), then a gateway in front answers with its own page
        response = await handler(request, state)
        if response.status_code >= 300:
            return response
        status = int(choice.fault.removeprefix("accept-then-"))
        page = f"<html><body><h1>{status}</h1><p>upstream answered too late</p></body></html>"
        return Response(page, status_code=status, media_type="text/html")
    return _fault_response(choice, path, body) or _detail(500, "Internal server error")


def _number(text: str | None) -> float | None:
    if text is None:
        return None
    try:
        value = float(text)
    except ValueError:
        return None
    return value if value >= 0 else None


# ----- API handlers ------------------------------------------------------------------------------

_REQUIRED = ("assistant_id", "phone_number", "telephony_provider")


async def publish_outbound_call(request: Request, state: EmulatorState) -> Response:
    if not request.state.body_ok:
        return _detail(400, "Invalid JSON body")
    body: Any = request.state.body
    if not isinstance(body, dict):
        return _detail(400, "Request body must be a JSON object")
    fields = cast(dict[str, Any], body)
    missing = [name for name in _REQUIRED if fields.get(name) in (None, "")]
    if missing:
        return _detail(400, f"Missing required fields: {', '.join(missing)}")
    for name in _REQUIRED:
        if not isinstance(fields[name], str):
            return _detail(400, f"{name} must be a string")
    variables = fields.get("input_variables")
    if variables is None:
        variables = {}
    if not isinstance(variables, dict):
        return _detail(400, "input_variables must be an object")
    assistant_id: str = fields["assistant_id"]
    assistant = state.assistants.get(assistant_id)
    if assistant is None:
        return _detail(404, f"Assistant with ID {assistant_id} not found")
    provider: str = fields["telephony_provider"]
    if provider not in state.config.telephony_providers:
        return _detail(400, f"Telephony provider '{provider}' is not configured for this organization")
    call = state.dial(assistant, fields["phone_number"], cast(dict[str, Any], variables), provider)
    return JSONResponse({"status": "success", "message": "Outbound call started successfully", "call_id": call.call_id})


def _call_response(state: EmulatorState, call_id: str) -> Response:
    view = state.call_view(call_id)
    if view is None:
        return _detail(404, f"Call with ID {call_id} not found")
    return JSONResponse({"success": True, **view})


def _int_param(request: Request, name: str, default: int) -> int | None:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    try:
        return int(raw.strip())
    except ValueError:
        return None


async def get_call_details(request: Request, state: EmulatorState) -> Response:
    params = request.query_params
    if "call_id" in params:
        call_id = params["call_id"].strip()
        if not call_id:
            return _detail(422, "call_id must not be empty")
        return _call_response(state, call_id)
    page = _int_param(request, "page", 1)
    if page is None or page < 1:
        return _detail(422, "page must be an integer of at least 1")
    limit = _int_param(request, "limit", DEFAULT_LIMIT)
    if limit is None or not 1 <= limit <= MAX_LIMIT:
        return _detail(422, f"limit must be an integer between 1 and {MAX_LIMIT}")
    status = params.get("status") or None
    if status is not None and status not in STATUSES:
        return _detail(422, f"status must be one of: {', '.join(STATUSES)}")
    assistant_id = params.get("assistant_id") or None
    return JSONResponse(state.page(page=page, limit=limit, status=status, assistant_id=assistant_id))


async def get_call_details_by_path(request: Request, state: EmulatorState) -> Response:
    return _call_response(state, str(request.path_params["call_id"]))


async def bulk_by_ids(request: Request, state: EmulatorState) -> Response:
    if not request.state.body_ok:
        return _detail(400, "Invalid JSON body")
    body: Any = request.state.body
    if not isinstance(body, dict) or "call_ids" not in body:
        return _detail(400, "Missing required field: call_ids")
    ids: Any = cast(dict[str, Any], body)["call_ids"]
    if not isinstance(ids, list) or not ids or not all(isinstance(i, str) for i in cast(list[Any], ids)):
        return _detail(400, "call_ids must be a non-empty list of strings")
    call_ids = cast(list[str], ids)
    if len(call_ids) > MAX_BULK:
        return _detail(400, f"call_ids may hold at most {MAX_BULK} ids (got {len(call_ids)})")
    return JSONResponse({"success": True, "data": state.bulk(call_ids)})


# ----- test helpers --------------------------------------------------------------------------------


def _helper(func: Callable[[Request, EmulatorState], Awaitable[Response]]) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        host = request.client.host if request.client else ""
        if not host.startswith(_LOOPBACK):
            return _detail(403, "emulator helpers answer loopback clients only")
        return await func(request, state_of(request))

    return endpoint


async def _json_object(request: Request) -> dict[str, Any] | None:
    body, ok = await _read_json(request)
    if not ok or not isinstance(body, dict):
        return None
    return cast(dict[str, Any], body)


async def helper_reset(request: Request, state: EmulatorState) -> Response:
    state.reset()
    return JSONResponse({"ok": True, **state.health()})


async def helper_requests(request: Request, state: EmulatorState) -> Response:
    return JSONResponse({"count": len(state.requests), "requests": list(state.requests)})


async def helper_dials(request: Request, state: EmulatorState) -> Response:
    return JSONResponse(state.dials())


async def helper_health(request: Request, state: EmulatorState) -> Response:
    return JSONResponse(state.health())


async def helper_advance(request: Request, state: EmulatorState) -> Response:
    body = await _json_object(request)
    seconds = body.get("seconds") if body is not None else None
    if (
        isinstance(seconds, bool)
        or not isinstance(seconds, int | float)
        or not math.isfinite(seconds)
        or not 0 <= seconds <= MAX_CLOCK_ADVANCE
    ):
        return _detail(400, f'send {{"seconds": N}} with 0 <= N <= {MAX_CLOCK_ADVANCE} (ten years)')
    try:  # a clock past year 9999 would break every later answer: refuse the jump instead
        iso(state.clock.now() + float(seconds))
    except (OverflowError, ValueError, OSError):
        return _detail(400, "the virtual clock cannot pass the year 9999; POST /_emulator/reset to start over")
    return JSONResponse({"now": iso(state.clock.advance(float(seconds)))})


async def helper_seed_call(request: Request, state: EmulatorState) -> Response:
    body = await _json_object(request)
    call_id = body.get("call_id") if body is not None else None
    if body is None or (call_id is not None and (not isinstance(call_id, str) or not call_id)):
        return _detail(400, 'send the call record as a JSON object, e.g. {"call_id": "c1", "status": "completed"}')
    return JSONResponse({"call_id": state.seed_call(body).call_id})


async def helper_faults(request: Request, state: EmulatorState) -> Response:
    if request.method == "DELETE":
        state.armed.clear()
    elif request.method == "POST":
        body = await _json_object(request)
        if body is None:
            return _detail(400, 'send {"fault": "503", "path": "/api/v1/...", "times": 1, "retry_after": 1}')
        fault, path, times, retry_after = body.get("fault"), body.get("path", "/"), body.get("times", 1), None
        if fault not in FAULT_KINDS:
            return _detail(400, f"fault must be one of: {', '.join(FAULT_KINDS)}")
        if not isinstance(path, str) or not path.startswith("/"):
            return _detail(400, "path must be a path prefix starting with /")
        if isinstance(times, bool) or not isinstance(times, int) or times < 1:
            return _detail(400, "times must be an integer of at least 1")
        if body.get("retry_after") is not None:
            retry_after = _number(str(body["retry_after"]))
            if retry_after is None:
                return _detail(400, "retry_after must be a number of seconds >= 0")
        state.arm(ArmedFault(fault, path, times, retry_after))
    return JSONResponse({"armed": [a.as_dict() for a in state.armed]})


# ----- the app ---------------------------------------------------------------------------------------


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    return _detail(exc.status_code, str(exc.detail), dict(exc.headers) if exc.headers else None)


async def _server_error(request: Request, exc: Exception) -> Response:
    log.error("unexpected %s on %s", type(exc).__name__, request.url.path)
    return _detail(500, "Internal Server Error")


def create_app(config: EmulatorConfig | None = None) -> Starlette:
    """Build the emulator app; its state is ``app.state.emulator``."""
    config = config or EmulatorConfig()
    routes = [
        Route(DIAL_PATH, _api(publish_outbound_call, with_body=True), methods=["POST"]),
        Route(BULK_PATH, _api(bulk_by_ids, with_body=True), methods=["POST"]),
        Route(DETAILS_PATH, _api(get_call_details, with_body=False), methods=["GET"]),
        Route(DETAILS_PATH + "/{call_id}", _api(get_call_details_by_path, with_body=False), methods=["GET"]),
        WebSocketRoute(CHAT_PATH, chatbot),
        Route("/_emulator/reset", _helper(helper_reset), methods=["POST"]),
        Route("/_emulator/requests", _helper(helper_requests), methods=["GET"]),
        Route("/_emulator/dials", _helper(helper_dials), methods=["GET"]),
        Route("/_emulator/health", _helper(helper_health), methods=["GET"]),
        Route("/_emulator/clock/advance", _helper(helper_advance), methods=["POST"]),
        Route("/_emulator/faults", _helper(helper_faults), methods=["GET", "POST", "DELETE"]),
        Route("/_emulator/calls", _helper(helper_seed_call), methods=["POST"]),
    ]
    app = EmulatorApp(routes=routes, exception_handlers={HTTPException: _http_error, Exception: _server_error})
    app.state.emulator = EmulatorState(config)
    return app
