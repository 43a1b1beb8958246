"""The bulk fan-out (api/bulk.py): many ids in requests of at most 100, a few at a time, answers in the caller's
order, missing ids listed, the first failure naming its chunk. Through the real client against the emulator over
loopback HTTP, and directly with fetchers whose requests finish in an order the test decides."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import anyio
import httpx
import pytest

from voicing_mcp.api.bulk import fetch_in_chunks
from voicing_mcp.api.client import VoicingClient
from voicing_mcp.api.constants import BULK_PATH, MAX_IDS_PER_BULK
from voicing_mcp.api.models import CallDetails
from voicing_mcp.emulator.runner import RunningEmulator
from voicing_mcp.emulator.state import EmulatorConfig
from voicing_mcp.errors import APIError, ServerError

KEY = "emulator-key-for-the-bulk-tests-5d1c"
SEEDED = 300


@pytest.fixture(scope="module")
def emu_config() -> EmulatorConfig:
    return EmulatorConfig(api_key=KEY, seed_calls=SEEDED)


@pytest.fixture
async def client(emu: RunningEmulator) -> AsyncIterator[VoicingClient]:
    async with VoicingClient(base_url=emu.base_url, api_key=KEY) as c:
        yield c


@pytest.fixture
def emulator(emu: RunningEmulator) -> RunningEmulator:
    """The module's emulator, reset before the test (tests/conftest.py)."""
    return emu


async def _logged(emulator: RunningEmulator, method: str, path: str) -> list[dict[str, Any]]:
    async with httpx.AsyncClient(base_url=emulator.base_url) as helper:
        response = await helper.get("/_emulator/requests")
        response.raise_for_status()
        log = response.json()
    return [r for r in log["requests"] if r["method"] == method and r["path"] == path]


async def _arm(emulator: RunningEmulator, **fault: Any) -> None:
    async with httpx.AsyncClient(base_url=emulator.base_url) as helper:
        (await helper.post("/_emulator/faults", json=fault)).raise_for_status()


# ----------------------------------------------------------------------------- through the client, over HTTP


async def test_bulk_of_250_ids_is_three_requests_in_order_with_missing_ids_reported(
    client: VoicingClient, emulator: RunningEmulator
) -> None:
    known = [c.call_id async for c in client.iter_calls(limit=100)]
    wanted = known[::-1][:240]
    wanted[7:7] = ["ghost-1"]
    wanted[150:150] = ["ghost-2"]
    wanted += [f"ghost-{n}" for n in range(3, 11)]
    assert len(wanted) == 250
    progress: list[tuple[int, int]] = []

    async def on_progress(done: int, total: int) -> None:
        progress.append((done, total))

    result = await client.bulk_call_details(wanted, on_progress=on_progress)
    assert [c.call_id for c in result.calls] == [i for i in wanted if not i.startswith("ghost-")]
    assert result.missing == [i for i in wanted if i.startswith("ghost-")]
    bulk_requests = await _logged(emulator, "POST", BULK_PATH)
    assert sorted(len(r["json"]["call_ids"]) for r in bulk_requests) == [50, 100, 100]
    sent = [
        i
        for r in sorted(bulk_requests, key=lambda r: wanted.index(r["json"]["call_ids"][0]))
        for i in r["json"]["call_ids"]
    ]
    assert sent == wanted
    assert sorted(progress) == progress
    assert progress[-1] == (250, 250)
    assert sorted(done for done, _ in progress) == sorted({d for d, _ in progress})
    assert len(progress) == 3


async def test_bulk_keeps_the_callers_duplicate_ids(client: VoicingClient) -> None:
    page = await client.list_calls(limit=2)
    a, b = (c.call_id for c in page.calls)
    result = await client.bulk_call_details([a, b, a, "ghost", "ghost"])
    assert [c.call_id for c in result.calls] == [a, b, a]
    assert result.missing == ["ghost", "ghost"]


async def test_a_bulk_chunk_that_keeps_failing_fails_the_whole_call_naming_the_chunk(emulator: RunningEmulator) -> None:
    async with VoicingClient(base_url=emulator.base_url, api_key=KEY, bulk_concurrency=1) as client:
        ids = [c.call_id async for c in client.iter_calls(limit=100)][:250]
        await _arm(emulator, fault="500", path=BULK_PATH, times=3)
        with pytest.raises(ServerError) as info:
            await client.bulk_call_details(ids)
    assert str(info.value).startswith("bulk request 1 of 3 (ids 1-100 of 250) failed: HTTP 500")
    assert len(await _logged(emulator, "POST", BULK_PATH)) == 3  # the first chunk, tried 1 + 2 times


async def test_a_failing_progress_callback_surfaces_as_its_own_exception(client: VoicingClient) -> None:
    ids = [c.call_id async for c in client.iter_calls(limit=100)][:250]

    async def on_progress(done: int, total: int) -> None:
        raise RuntimeError(f"progress sink gone at {done}/{total}")

    with pytest.raises(RuntimeError, match="progress sink gone"):
        await client.bulk_call_details(ids, on_progress=on_progress)


# ----------------------------------------------------------------------------- the fan-out itself


def _ids(n: int) -> list[str]:
    return [f"call-{i:04d}" for i in range(n)]


async def test_answers_come_back_in_request_order_whatever_order_the_requests_finish_in() -> None:
    ids = _ids(250)
    finished: list[int] = []

    async def fetch(chunk: list[str], *, index: int, count: int) -> list[CallDetails]:
        await anyio.sleep(0.01 * (count - index))  # the last request finishes first
        finished.append(index)
        return [CallDetails(call_id=i, status="completed") for i in reversed(chunk)]

    result = await fetch_in_chunks(ids, fetch, concurrency=3)
    assert finished == [2, 1, 0]
    assert [c.call_id for c in result.calls] == ids
    assert result.missing == []


async def test_no_more_requests_are_in_flight_than_the_concurrency_allows() -> None:
    in_flight = peak = 0

    async def fetch(chunk: list[str], *, index: int, count: int) -> list[CallDetails]:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        await anyio.sleep(0.01)
        in_flight -= 1
        return [CallDetails(call_id=i) for i in chunk]

    result = await fetch_in_chunks(_ids(7 * MAX_IDS_PER_BULK), fetch, concurrency=2)
    assert peak == 2
    assert len(result.calls) == 7 * MAX_IDS_PER_BULK


async def test_chunks_hold_at_most_the_bulk_limit_and_know_their_place() -> None:
    seen: list[tuple[int, int, int]] = []

    async def fetch(chunk: list[str], *, index: int, count: int) -> list[CallDetails]:
        seen.append((index, count, len(chunk)))
        return []

    result = await fetch_in_chunks(_ids(MAX_IDS_PER_BULK + 1), fetch, concurrency=1)
    assert sorted(seen) == [(0, 2, MAX_IDS_PER_BULK), (1, 2, 1)]
    assert result.calls == []
    assert result.missing == _ids(MAX_IDS_PER_BULK + 1)


async def test_an_id_the_api_returns_twice_or_did_not_ask_for_is_shown_once_or_not_at_all() -> None:
    async def fetch(chunk: list[str], *, index: int, count: int) -> list[CallDetails]:
        first = CallDetails(call_id=chunk[0], status="first")
        return [first, CallDetails(call_id=chunk[0], status="second"), CallDetails(call_id="never-asked")]

    result = await fetch_in_chunks(["a", "b"], fetch, concurrency=1)
    assert [(c.call_id, c.status) for c in result.calls] == [("a", "first")]
    assert result.missing == ["b"]


async def test_the_first_failure_cancels_the_requests_still_running_and_names_its_ids() -> None:
    completed: list[int] = []

    async def fetch(chunk: list[str], *, index: int, count: int) -> list[CallDetails]:
        if index == 1:
            raise APIError("HTTP 502 from the proxy")
        await anyio.sleep(5)  # would hold the test for seconds if not cancelled
        completed.append(index)
        return []

    progress: list[tuple[int, int]] = []

    async def on_progress(done: int, total: int) -> None:
        progress.append((done, total))

    with anyio.fail_after(2):
        with pytest.raises(APIError) as info:
            await fetch_in_chunks(_ids(250), fetch, concurrency=3, on_progress=on_progress)
    assert info.value.message == "bulk request 2 of 3 (ids 101-200 of 250) failed: HTTP 502 from the proxy"
    assert completed == []
    assert progress == []


async def test_progress_counts_ids_done_after_each_request() -> None:
    async def fetch(chunk: list[str], *, index: int, count: int) -> list[CallDetails]:
        await anyio.sleep(0.01 * index)
        return [CallDetails(call_id=i) for i in chunk]

    progress: list[tuple[int, int]] = []

    async def on_progress(done: int, total: int) -> None:
        progress.append((done, total))

    await fetch_in_chunks(_ids(250), fetch, concurrency=3, on_progress=on_progress)
    assert progress == [(100, 250), (200, 250), (250, 250)]
