"""Fault injection and test helpers of the emulator, over real loopback HTTP with raw httpx."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from voicing_mcp.emulator.runner import RunningEmulator, serve_emulator
from voicing_mcp.emulator.state import EmulatorConfig

KEY = "fault-test-key"
GUIDE_ASSISTANT = "019addcc-b878-7b10-85f1-49f21342f947"
DIAL = "/api/v1/campaigns/publish-outbound-call"
DETAILS = "/api/v1/campaigns/get-call-details"
BULK = "/api/v1/campaigns/get-call-details/bulk-by-ids"
BODY: dict[str, Any] = {
    "assistant_id": GUIDE_ASSISTANT,
    "phone_number": "+17015550123",
    "input_variables": {"name": "John Doe", "plan_type": "Premium"},
    "telephony_provider": "default",
}


@pytest.fixture(scope="module")
def emu_config() -> EmulatorConfig:
    return EmulatorConfig(api_key=KEY, speed=0.0)


@pytest.fixture
def api(emu: RunningEmulator) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=emu.base_url, headers={"x-api-key": KEY}, timeout=10) as client:
        assert client.post("/_emulator/reset").status_code == 200
        yield client


def fault(name: str, **extra: str) -> dict[str, str]:
    return {"x-emulator-fault": name, **extra}


def total_calls(api: httpx.Client) -> int:
    return int(api.get(DETAILS).json()["total"])


def dials(api: httpx.Client) -> dict[str, Any]:
    return api.get("/_emulator/dials").json()


# ----- faults by header -----------------------------------------------------------------------------


def test_a_500_on_the_dial_path_is_the_guides_publish_failure_and_nothing_is_dialled(api: httpx.Client) -> None:
    before = total_calls(api)
    response = api.post(DIAL, json=BODY, headers=fault("500"))
    assert response.status_code == 500
    assert response.json() == {"detail": "Failed to publish outbound call"}
    assert dials(api)["count"] == 0
    assert total_calls(api) == before


def test_a_500_on_a_read_path_is_a_generic_server_error(api: httpx.Client) -> None:
    response = api.get(DETAILS, headers=fault("500"))
    assert (response.status_code, response.json()) == (500, {"detail": "Internal server error"})


@pytest.mark.parametrize(
    ("name", "status", "detail"), [("503", 503, "Service temporarily unavailable"), ("429", 429, "Too many requests")]
)
def test_a_503_or_429_carries_retry_after_when_asked(api: httpx.Client, name: str, status: int, detail: str) -> None:
    with_hint = api.get(DETAILS, headers=fault(name, **{"x-emulator-retry-after": "2"}))
    assert (with_hint.status_code, with_hint.json()) == (status, {"detail": detail})
    assert with_hint.headers["retry-after"] == "2"
    without = api.post(BULK, json={"call_ids": ["x"]}, headers=fault(name))
    assert without.status_code == status
    assert "retry-after" not in without.headers


@pytest.mark.parametrize(
    ("name", "status", "detail"),
    [
        ("404-user", 404, f"User ID not found for assistant with ID {GUIDE_ASSISTANT}"),
        ("404-org", 404, f"Organization ID not found for assistant with ID {GUIDE_ASSISTANT}"),
        ("400-assistant", 400, f"Error fetching assistant: lookup of assistant {GUIDE_ASSISTANT} failed"),
    ],
)
def test_the_guides_other_dial_errors_come_by_fault(api: httpx.Client, name: str, status: int, detail: str) -> None:
    response = api.post(DIAL, json=BODY, headers=fault(name))
    assert (response.status_code, response.json()) == (status, {"detail": detail})
    assert dials(api)["count"] == 0


def test_reset_closes_the_connection_without_an_answer(api: httpx.Client) -> None:
    with pytest.raises(httpx.TransportError):
        api.get(DETAILS, headers=fault("reset"))
    last = api.get("/_emulator/requests").json()["requests"][-1]
    assert (last["path"], last["fault"]) == (DETAILS, "reset")
    assert api.get(DETAILS).status_code == 200  # the next request gets a fresh connection


def test_reset_on_the_dial_path_records_no_call(api: httpx.Client) -> None:
    with pytest.raises(httpx.TransportError):
        api.post(DIAL, json=BODY, headers=fault("reset"))
    assert dials(api)["count"] == 0


def test_drop_after_accept_records_the_call_counts_one_dial_and_gives_no_answer(api: httpx.Client) -> None:
    before = total_calls(api)
    with pytest.raises(httpx.TransportError):
        api.post(DIAL, json=BODY, headers=fault("drop-after-accept"))
    counted = dials(api)
    assert counted["count"] == 1
    newest = api.get(DETAILS, params={"limit": 1}).json()
    assert newest["total"] == before + 1
    assert newest["data"][0]["call_id"] == counted["calls"][0]
    assert newest["data"][0]["phone_number"] == BODY["phone_number"]


@pytest.mark.parametrize("status", [500, 503, 524, 408])
def test_accept_then_status_records_the_call_and_answers_with_a_gateways_page(api: httpx.Client, status: int) -> None:
    response = api.post(DIAL, json=BODY, headers=fault(f"accept-then-{status}"))
    assert response.status_code == status
    assert response.headers["content-type"].startswith("text/html") and "detail" not in response.text
    counted = dials(api)
    assert counted["count"] == 1
    assert api.get(DETAILS, params={"limit": 1}).json()["data"][0]["call_id"] == counted["calls"][0]


def test_accept_then_status_on_a_refused_dial_answers_the_refusal(api: httpx.Client) -> None:
    response = api.post(DIAL, json={**BODY, "assistant_id": "nope"}, headers=fault("accept-then-503"))
    assert response.status_code == 404 and dials(api)["count"] == 0


def test_drop_after_accept_on_a_refused_dial_answers_the_refusal(api: httpx.Client) -> None:
    response = api.post(DIAL, json={**BODY, "assistant_id": "nope"}, headers=fault("drop-after-accept"))
    assert (response.status_code, response.json()) == (404, {"detail": "Assistant with ID nope not found"})
    assert dials(api)["count"] == 0


def test_timeout_holds_the_answer_past_the_clients_read_timeout(api: httpx.Client) -> None:
    with pytest.raises(httpx.ReadTimeout):
        api.get(DETAILS, headers=fault("timeout"), timeout=httpx.Timeout(5, read=0.3))
    assert api.get("/_emulator/health").json()["status"] == "ok"


def test_an_unknown_fault_name_is_a_400_listing_the_known_ones(api: httpx.Client) -> None:
    response = api.get(DETAILS, headers=fault("explode"))
    assert response.status_code == 400
    assert response.json()["detail"].startswith("Unknown x-emulator-fault 'explode'; one of: 500, 503, 429")


def test_a_fault_header_without_the_key_is_still_a_401(emu: RunningEmulator) -> None:
    with httpx.Client(base_url=emu.base_url) as anonymous:
        response = anonymous.get(DETAILS, headers=fault("503"))
    assert (response.status_code, response.json()) == (401, {"detail": "Invalid API token"})


# ----- armed faults -----------------------------------------------------------------------------------


def test_an_armed_fault_hits_the_next_n_matching_requests_only(api: httpx.Client) -> None:
    armed = api.post("/_emulator/faults", json={"fault": "503", "path": DETAILS, "times": 2, "retry_after": 1})
    assert armed.json() == {"armed": [{"fault": "503", "path": DETAILS, "times": 2, "retry_after": 1.0}]}
    assert api.post(DIAL, json=BODY).status_code == 200  # another path: untouched
    first, second, third = (api.get(DETAILS) for _ in range(3))
    assert (first.status_code, second.status_code, third.status_code) == (503, 503, 200)
    assert first.headers["retry-after"] == "1"
    assert api.get("/_emulator/faults").json() == {"armed": []}


def test_an_armed_drop_after_accept_on_the_dial_counts_exactly_one_dial(api: httpx.Client) -> None:
    api.post("/_emulator/faults", json={"fault": "drop-after-accept", "path": DIAL})
    with pytest.raises(httpx.TransportError):
        api.post(DIAL, json=BODY)
    assert dials(api)["count"] == 1
    assert api.post(DIAL, json=BODY).status_code == 200
    assert dials(api)["count"] == 2


def test_an_armed_fault_is_not_used_up_by_unauthenticated_requests(emu: RunningEmulator, api: httpx.Client) -> None:
    api.post("/_emulator/faults", json={"fault": "500", "path": "/api/"})
    with httpx.Client(base_url=emu.base_url, headers={"x-api-key": "wrong"}) as stranger:
        assert stranger.get(DETAILS).status_code == 401
    assert api.get(DETAILS).status_code == 500
    assert api.get(DETAILS).status_code == 200


def test_armed_faults_can_be_listed_and_cleared(api: httpx.Client) -> None:
    api.post("/_emulator/faults", json={"fault": "429", "path": BULK, "times": 3})
    api.post("/_emulator/faults", json={"fault": "timeout", "path": DIAL})
    assert [a["fault"] for a in api.get("/_emulator/faults").json()["armed"]] == ["429", "timeout"]
    assert api.delete("/_emulator/faults").json() == {"armed": []}
    assert api.post(DIAL, json=BODY).status_code == 200


@pytest.mark.parametrize(
    "body",
    [
        {"fault": "boom"},
        {"fault": "503", "path": "api/no-slash"},
        {"fault": "503", "times": 0},
        {"fault": "503", "times": "2"},
        {"fault": "429", "retry_after": "soon"},
        [],
    ],
)
def test_arming_a_malformed_fault_is_a_400(api: httpx.Client, body: Any) -> None:
    response = api.post("/_emulator/faults", json=body)
    assert response.status_code == 400
    assert api.get("/_emulator/faults").json() == {"armed": []}


# ----- random faults ----------------------------------------------------------------------------------


async def _outcomes(client: httpx.AsyncClient, n: int) -> list[str]:
    out: list[str] = []
    for _ in range(n):
        try:
            out.append(str((await client.get(DETAILS)).status_code))
        except httpx.TransportError:
            out.append("no answer")
    return out


async def test_random_faults_follow_the_seed_and_reset_replays_them() -> None:
    config = EmulatorConfig(api_key=KEY, fault_rate=0.5, seed=7, seed_calls=10)
    async with serve_emulator(config) as emu:
        async with httpx.AsyncClient(base_url=emu.base_url, headers={"x-api-key": KEY}) as client:
            first = await _outcomes(client, 40)
            await client.post("/_emulator/reset")
            again = await _outcomes(client, 40)
    assert first == again
    assert "200" in first
    assert set(first) - {"200"} <= {"500", "503", "429", "no answer"}
    assert len(set(first) - {"200"}) >= 2


async def test_a_fault_rate_of_1_faults_every_api_request_but_no_helper() -> None:
    async with serve_emulator(EmulatorConfig(api_key=KEY, fault_rate=1.0, seed_calls=0)) as emu:
        async with httpx.AsyncClient(base_url=emu.base_url, headers={"x-api-key": KEY}) as client:
            assert "200" not in await _outcomes(client, 10)
            assert (await client.get("/_emulator/health")).status_code == 200


async def test_latency_is_added_to_api_requests() -> None:
    # a lower bound only: the injected delay is the behaviour under test, not the emulator's speed
    async with serve_emulator(EmulatorConfig(api_key=KEY, latency_ms=300, seed_calls=0)) as emu:
        async with httpx.AsyncClient(base_url=emu.base_url, headers={"x-api-key": KEY}) as client:
            response = await client.get(DETAILS)
    assert response.status_code == 200
    assert response.elapsed.total_seconds() >= 0.3


# ----- test helpers -------------------------------------------------------------------------------------


def test_the_request_log_keeps_method_path_query_and_body_but_never_the_key(api: httpx.Client) -> None:
    api.post(DIAL, json=BODY)
    api.get(DETAILS, params={"page": 2, "limit": 5})
    api.post(BULK, json={"call_ids": ["a"]}, headers=fault("503"))
    raw = api.get("/_emulator/requests")
    log = raw.json()
    assert log["count"] == 3
    assert [(r["method"], r["path"], r["status"]) for r in log["requests"]] == [
        ("POST", DIAL, 200),
        ("GET", DETAILS, 200),
        ("POST", BULK, 503),
    ]
    assert log["requests"][0]["json"] == BODY
    assert log["requests"][1]["query"] == {"page": "2", "limit": "5"}
    assert log["requests"][2]["fault"] == "503"
    assert KEY not in raw.text


def test_reset_clears_calls_dials_log_and_faults(api: httpx.Client) -> None:
    base = total_calls(api)
    api.post(DIAL, json=BODY)
    api.post("/_emulator/faults", json={"fault": "503", "path": "/nowhere"})
    api.post("/_emulator/clock/advance", json={"seconds": 86_400})
    reset = api.post("/_emulator/reset").json()
    assert reset["ok"] is True
    assert dials(api) == {"count": 0, "calls": []}
    assert api.get("/_emulator/faults").json() == {"armed": []}
    assert total_calls(api) == base
    assert api.get("/_emulator/requests").json()["count"] == 1  # only the list request just made


def test_health_describes_the_emulator_without_a_key(emu: RunningEmulator, api: httpx.Client) -> None:
    with httpx.Client(base_url=emu.base_url) as anonymous:
        health = anonymous.get("/_emulator/health").json()
    assert health["status"] == "ok"
    assert health["speed"] == 0.0
    assert GUIDE_ASSISTANT in health["assistants"]
    assert len(health["assistants"]) >= 3
    assert health["telephony_providers"] == ["default"]


def test_clock_advance_moves_the_virtual_clock(api: httpx.Client) -> None:
    before = api.get("/_emulator/health").json()["now"]
    after = api.post("/_emulator/clock/advance", json={"seconds": 3600}).json()["now"]
    assert after > before
    assert api.get("/_emulator/health").json()["now"] == after  # speed 0: only advances move it


def _outward_address() -> str | None:
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        probe.connect(("192.0.2.1", 9))  # no packet is sent; this only picks the outward interface
        address = str(probe.getsockname()[0])
    except OSError:
        return None
    finally:
        probe.close()
    return None if address.startswith("127.") or address == "0.0.0.0" else address


async def test_helpers_answer_only_loopback_clients() -> None:
    address = _outward_address()
    if address is None:
        pytest.skip("this machine has no non-loopback IPv4 address")
    async with serve_emulator(EmulatorConfig(api_key=KEY, seed_calls=0), host="0.0.0.0") as emu:
        async with httpx.AsyncClient(base_url=f"http://{address}:{emu.port}", headers={"x-api-key": KEY}) as remote:
            refused = await remote.post("/_emulator/reset")
            assert (refused.status_code, refused.json()) == (
                403,
                {"detail": "emulator helpers answer loopback clients only"},
            )
            assert (await remote.get(DETAILS)).status_code == 200
        async with httpx.AsyncClient(base_url=emu.base_url) as local:
            assert (await local.get("/_emulator/health")).status_code == 200
