"""Running the emulator in-process (``serve_emulator``) and on a thread (``emulator_in_thread``)."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from voicing_mcp.emulator.runner import bind_socket, emulator_in_thread, serve_emulator
from voicing_mcp.emulator.state import EmulatorConfig, EmulatorState
from voicing_mcp.errors import ConfigError

DIAL = "/api/v1/campaigns/publish-outbound-call"
DETAILS = "/api/v1/campaigns/get-call-details"
BODY = {
    "assistant_id": "019addcc-0000-7000-8000-000000000001",
    "phone_number": "+17015550123",
    "telephony_provider": "default",
}


async def test_serve_emulator_listens_on_an_ephemeral_loopback_port_and_exposes_its_state() -> None:
    async with serve_emulator(EmulatorConfig(api_key="k1")) as emu:
        assert emu.base_url == f"http://127.0.0.1:{emu.port}"
        assert emu.port > 0
        assert emu.api_key == "k1"
        assert isinstance(emu.state, EmulatorState)
        async with httpx.AsyncClient(base_url=emu.base_url, headers={"x-api-key": "k1"}) as client:
            call_id = (await client.post(DIAL, json=BODY)).json()["call_id"]
        assert emu.state.dialled == [call_id]


async def test_the_port_is_closed_once_the_block_exits() -> None:
    async with serve_emulator(EmulatorConfig(seed_calls=0)) as emu:
        base_url = emu.base_url
    async with httpx.AsyncClient(base_url=base_url) as client:
        with pytest.raises(httpx.ConnectError):
            await client.get("/_emulator/health")


async def test_two_emulators_in_one_process_are_independent() -> None:
    async with (
        serve_emulator(EmulatorConfig(api_key="a", seed_calls=5)) as one,
        serve_emulator(EmulatorConfig(api_key="b", seed_calls=7)) as two,
    ):
        assert one.port != two.port
        async with httpx.AsyncClient() as client:
            await client.post(one.base_url + DIAL, json=BODY, headers={"x-api-key": "a"})
            wrong = await client.get(two.base_url + DETAILS, headers={"x-api-key": "a"})
            total_two = (await client.get(two.base_url + DETAILS, headers={"x-api-key": "b"})).json()["total"]
        assert wrong.status_code == 401
        assert (len(one.state.dialled), len(two.state.dialled)) == (1, 0)
        assert total_two == 7


async def test_a_busy_port_is_a_config_error_naming_it() -> None:
    taken = bind_socket("127.0.0.1", 0)
    try:
        port = taken.getsockname()[1]
        with pytest.raises(ConfigError, match=f"cannot listen on 127.0.0.1:{port}"):
            async with serve_emulator(EmulatorConfig(), port=port):
                pass
    finally:
        taken.close()


async def test_a_held_request_does_not_stop_the_emulator_from_shutting_down() -> None:
    async with serve_emulator(EmulatorConfig(seed_calls=0)) as emu:
        client = httpx.AsyncClient(base_url=emu.base_url, headers={"x-api-key": "emulator"})
        held = asyncio.create_task(client.get(DETAILS, headers={"x-emulator-fault": "timeout"}))
        await asyncio.sleep(0.2)  # let the request reach the emulator
        assert not held.done()
    with pytest.raises(httpx.TransportError):
        await held
    await client.aclose()


async def test_time_moves_on_its_own_at_the_configured_speed() -> None:
    # no clock jumps here: a call runs through its life as wall time passes (speed 2000)
    async with serve_emulator(EmulatorConfig(speed=2000, seed_calls=0)) as emu:
        async with httpx.AsyncClient(base_url=emu.base_url, headers={"x-api-key": "emulator"}) as client:
            call_id = (await client.post(DIAL, json=BODY)).json()["call_id"]
            seen: list[str] = []
            for _ in range(400):
                status = (await client.get(DETAILS, params={"call_id": call_id})).json()["status"]
                if not seen or seen[-1] != status:
                    seen.append(status)
                if status == "completed":
                    break
                await asyncio.sleep(0.01)
    lifecycle = ["queued", "initiated", "ringing", "in-progress", "completed"]
    assert seen[-1] == "completed"
    assert seen == [s for s in lifecycle if s in seen]


def test_emulator_in_thread_serves_synchronous_clients() -> None:
    with emulator_in_thread(EmulatorConfig(api_key="sync", seed_calls=3)) as emu:
        with httpx.Client(base_url=emu.base_url, headers={"x-api-key": "sync"}) as client:
            assert client.get(DETAILS).json()["total"] == 3
    with httpx.Client(base_url=emu.base_url) as client, pytest.raises(httpx.ConnectError):
        client.get("/_emulator/health")


def test_emulator_in_thread_reports_a_start_failure_in_the_callers_thread() -> None:
    taken = bind_socket("127.0.0.1", 0)
    try:
        with pytest.raises(ConfigError), emulator_in_thread(EmulatorConfig(), port=taken.getsockname()[1]):
            pass
    finally:
        taken.close()


@pytest.mark.parametrize(
    "bad",
    [{"speed": -1.0}, {"fault_rate": 1.5}, {"latency_ms": -5.0}, {"seed_calls": -1}],
)
def test_an_impossible_config_is_refused(bad: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        EmulatorConfig(**bad)  # type: ignore[arg-type]
