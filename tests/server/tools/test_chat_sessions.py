"""server/tools/chat_sessions.py: the open conversations of one server (idle sweep, bound, shutdown, the rules of
continuing one) against the emulator's real WebSocket, on a clock the tests move."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from typing import Any

import anyio
import pytest

from server_support import ASSISTANT, CLINIC
from voicing_mcp.api.client import VoicingClient
from voicing_mcp.emulator.runner import RunningEmulator
from voicing_mcp.server.tools.chat_sessions import ChatLike, ChatSessions, ConversationError, Variables


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Recorder:
    """Opens real chat sessions through the client and remembers them, to look at them afterwards."""

    def __init__(self, client: VoicingClient) -> None:
        self.client = client
        self.opened: list[Any] = []

    def __call__(self, assistant_id: str, variables: Variables) -> AbstractAsyncContextManager[ChatLike]:
        session = self.client.chat(assistant_id, reply_timeout=10, input_variables=variables)
        self.opened.append(session)
        return session


async def test_idle_conversations_are_closed_by_the_sweep_and_cannot_be_continued(emu: RunningEmulator) -> None:
    clock = Clock()
    async with VoicingClient(base_url=emu.base_url, api_key=emu.api_key) as client:
        opener = Recorder(client)
        chats = ChatSessions(opener, idle_timeout=300, clock=clock)
        old = await chats.send(ASSISTANT, "hi")
        clock.now += 200
        fresh = await chats.send(CLINIC, "hi")
        clock.now += 150  # old: 350 s idle, fresh: 150 s
        assert await chats.sweep() == 1
        assert not chats.is_open(old.conversation_id) and chats.is_open(fresh.conversation_id)
        assert opener.opened[0].is_open is False and opener.opened[1].is_open is True
        with pytest.raises(ConversationError, match="not found"):
            await chats.send(ASSISTANT, "still there?", old.conversation_id)
        again = await chats.send(CLINIC, "thanks", fresh.conversation_id)
        assert again.turn == 2
        await chats.aclose()


async def test_every_turn_sweeps_idle_conversations_first(emu: RunningEmulator) -> None:
    clock = Clock()
    async with VoicingClient(base_url=emu.base_url, api_key=emu.api_key) as client:
        chats = ChatSessions(Recorder(client), idle_timeout=300, max_sessions=1, clock=clock)
        await chats.send(ASSISTANT, "hi")
        clock.now += 301
        turn = await chats.send(ASSISTANT, "hi")  # the idle one is closed first, freeing the only slot
        assert turn.new and len(chats) == 1
        await chats.aclose()


async def test_shutdown_closes_every_conversation_and_refuses_new_turns(emu: RunningEmulator) -> None:
    async with VoicingClient(base_url=emu.base_url, api_key=emu.api_key) as client:
        opener = Recorder(client)
        chats = ChatSessions(opener)
        await chats.send(ASSISTANT, "hi")
        await chats.send(CLINIC, "hi")
        await chats.aclose()
        assert len(chats) == 0 and [s.is_open for s in opener.opened] == [False, False]
        with pytest.raises(ConversationError, match="shutting down"):
            await chats.send(ASSISTANT, "hi")


async def test_the_background_reaper_closes_idle_conversations(emu: RunningEmulator) -> None:
    clock = Clock()
    async with VoicingClient(base_url=emu.base_url, api_key=emu.api_key) as client:
        opener = Recorder(client)
        chats = ChatSessions(opener, idle_timeout=300, clock=clock)
        turn = await chats.send(ASSISTANT, "hi")
        async with anyio.create_task_group() as tg:
            tg.start_soon(chats.run_reaper, 0.01)
            clock.now += 301
            with anyio.fail_after(10):
                while chats.is_open(turn.conversation_id):
                    await anyio.sleep(0.01)
            tg.cancel_scope.cancel()
        assert opener.opened[0].is_open is False
        await chats.aclose()


async def test_the_bound_refuses_one_conversation_too_many_and_says_how_to_go_on(emu: RunningEmulator) -> None:
    async with VoicingClient(base_url=emu.base_url, api_key=emu.api_key) as client:
        opener = Recorder(client)
        chats = ChatSessions(opener, max_sessions=2, idle_timeout=300)
        await chats.send(ASSISTANT, "hi")
        await chats.send(CLINIC, "hi")
        with pytest.raises(ConversationError, match=r"too many open chat conversations \(2 at most\)"):
            await chats.send(ASSISTANT, "one more")
        assert len(chats) == 2 and len(opener.opened) == 2  # no third socket was opened
        await chats.aclose()


async def test_a_conversation_continues_only_with_its_assistant_and_its_first_variables(emu: RunningEmulator) -> None:
    async with VoicingClient(base_url=emu.base_url, api_key=emu.api_key) as client:
        chats = ChatSessions(Recorder(client))
        first = await chats.send(ASSISTANT, "hi", input_variables={"name": "Ada", "plan_type": "gold"})
        with pytest.raises(ConversationError, match=f"belongs to assistant {ASSISTANT!r}"):
            await chats.send(CLINIC, "hi", first.conversation_id)
        with pytest.raises(ConversationError, match=r"started with \['name', 'plan_type'\]"):
            await chats.send(
                ASSISTANT, "hi", first.conversation_id, input_variables={"name": "Eve", "plan_type": "gold"}
            )
        same = await chats.send(
            ASSISTANT, "again", first.conversation_id, input_variables={"name": "Ada", "plan_type": "gold"}
        )
        assert same.turn == 2 and not same.new and same.greeting is None
        assert first.new and first.turn == 1
        await chats.aclose()


def test_a_server_keeps_at_least_one_conversation() -> None:
    async def never(assistant_id: str, variables: Variables) -> Any:
        raise AssertionError("not opened")

    with pytest.raises(ValueError, match="at least 1"):
        ChatSessions(never, max_sessions=0)  # type: ignore[arg-type]
