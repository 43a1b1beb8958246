"""Bulk details: many ids fanned out in requests of at most :data:`MAX_IDS_PER_BULK`, a few at a time.

Results come back in request order whatever order the requests finish in; an id the API did not return is
listed as missing. The first failing request cancels the others and its error names the ids it covered.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Protocol

import anyio

from voicing_mcp.api.constants import MAX_IDS_PER_BULK
from voicing_mcp.api.models import BulkResult, CallDetails
from voicing_mcp.errors import APIError

if TYPE_CHECKING:
    from anyio.abc import TaskGroup

ProgressCallback = Callable[[int, int], Awaitable[None]]


class ChunkFetcher(Protocol):
    """Fetches one request's worth of ids (request ``index`` of ``count``)."""

    def __call__(self, chunk: list[str], *, index: int, count: int) -> Awaitable[list[CallDetails]]: ...


async def fetch_in_chunks(
    ids: list[str], fetch: ChunkFetcher, *, concurrency: int, on_progress: ProgressCallback | None = None
) -> BulkResult:
    """``ids`` (checked, non-empty) fetched with ``fetch`` in chunks, at most ``concurrency`` at once."""
    total = len(ids)
    chunks = [ids[i : i + MAX_IDS_PER_BULK] for i in range(0, total, MAX_IDS_PER_BULK)]
    found: list[list[CallDetails]] = [[] for _ in chunks]
    limiter = anyio.CapacityLimiter(concurrency)
    done = 0
    failure: tuple[int, APIError] | None = None
    callback_error: Exception | None = None

    async def run(index: int, chunk: list[str], tg: TaskGroup) -> None:
        nonlocal done, failure, callback_error
        try:
            async with limiter:
                found[index] = await fetch(chunk, index=index, count=len(chunks))
        except APIError as exc:
            if failure is None:
                failure = (index, exc)
            tg.cancel_scope.cancel()
            return
        done += len(chunk)
        if on_progress is not None:
            try:
                await on_progress(done, total)
            except Exception as exc:  # re-raised below, unwrapped: the first one wins
                if callback_error is None:
                    callback_error = exc
                tg.cancel_scope.cancel()

    async with anyio.create_task_group() as tg:
        for index, chunk in enumerate(chunks):
            tg.start_soon(run, index, chunk, tg)
    if callback_error is not None:
        raise callback_error
    if failure is not None:
        index, exc = failure
        start = index * MAX_IDS_PER_BULK
        exc.message = (
            f"bulk request {index + 1} of {len(chunks)} (ids {start + 1}-{start + len(chunks[index])} "
            f"of {total}) failed: {exc.message}"
        )
        raise exc
    by_id: dict[str, CallDetails] = {}
    for chunk_calls in found:
        for call in chunk_calls:
            by_id.setdefault(call.call_id, call)
    calls: list[CallDetails] = []
    missing: list[str] = []
    for call_id in ids:
        call = by_id.get(call_id)
        if call is None:
            missing.append(call_id)
        else:
            calls.append(call)
    return BulkResult(calls=calls, missing=missing)
