"""Open chatbot conversations, kept per server: one WebSocket per ``conversation_id``.

A conversation starts when ``chat_with_assistant`` is called without ``conversation_id``; the
WebSocket stays open so later turns continue it. Conversations are bounded in number
(``max_sessions``), closed after ``idle_timeout`` seconds without use (by :meth:`ChatSessions.sweep`,
which the server's lifespan runs periodically and every call runs first), and all closed at
shutdown. A conversation whose socket fails (closed by the peer, reply timeout, bad frame) is
closed and forgotten: the next turn must start a new one, because a late reply could otherwise
be read as the answer to the wrong message. Input variables are given when a conversation starts (they fill
the greeting); a later turn may repeat the same ones, but not change them.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Mapping
from contextlib import AbstractAsyncContextManager, AsyncExitStack
from dataclasses import dataclass, field
from typing import Protocol

import anyio

from voicing_mcp.errors import VoicingError

logger = logging.getLogger(__name__)

DEFAULT_MAX_SESSIONS = 16
DEFAULT_IDLE_TIMEOUT = 300.0


class ConversationError(VoicingError):
    """A conversation cannot be used: unknown or expired id, another assistant's id, or too many open."""


class ChatLike(Protocol):
    """What a conversation needs from ``VoicingClient.chat(...)``'s session."""

    @property
    def greeting(self) -> str | None: ...

    async def send(self, text: str) -> str: ...


Variables = Mapping[str, str | int | float | bool]
ChatOpener = Callable[[str, Variables], AbstractAsyncContextManager[ChatLike]]
"""``(assistant_id, input_variables) -> async context manager yielding an open chat session``."""


@dataclass(frozen=True, slots=True)
class ChatTurn:
    """One exchange: the assistant's reply, and the greeting when the conversation is new."""

    conversation_id: str
    assistant_id: str
    reply: str
    turn: int
    new: bool
    greeting: str | None = None


@dataclass(slots=True)
class _Conversation:
    id: str
    assistant_id: str
    session: ChatLike
    stack: AsyncExitStack
    last_used: float
    greeting: str | None
    variables: dict[str, str | int | float | bool] = field(default_factory=dict[str, str | int | float | bool])
    turns: int = 0
    closed: bool = False
    lock: anyio.Lock = field(default_factory=anyio.Lock)


class ChatSessions:
    """The open conversations of one server. Not shared between servers."""

    def __init__(
        self,
        open_chat: ChatOpener,
        *,
        max_sessions: int = DEFAULT_MAX_SESSIONS,
        idle_timeout: float = DEFAULT_IDLE_TIMEOUT,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_sessions < 1:
            raise ValueError("max_sessions must be at least 1")
        self._open_chat = open_chat
        self.max_sessions = max_sessions
        self.idle_timeout = idle_timeout
        self._clock = clock
        self._conversations: dict[str, _Conversation] = {}
        self._opening = 0
        self._closed = False

    def __len__(self) -> int:
        return len(self._conversations)

    def is_open(self, conversation_id: str) -> bool:
        return conversation_id in self._conversations

    async def send(
        self,
        assistant_id: str,
        message: str,
        conversation_id: str | None = None,
        input_variables: Variables | None = None,
    ) -> ChatTurn:
        """Send ``message``; start a conversation when ``conversation_id`` is None, with ``input_variables``.
        Continuing one, ``input_variables`` must be omitted or the ones it started with."""
        if self._closed:
            raise ConversationError("the server is shutting down; no new chat turns are accepted")
        await self.sweep()
        if conversation_id is None:
            conv = await self._start(assistant_id, dict(input_variables or {}))
            new = True
        else:
            conv = self._get(conversation_id, assistant_id)
            if input_variables is not None and dict(input_variables) != conv.variables:
                raise ConversationError(
                    f"input_variables fill the greeting when a conversation starts; conversation {conversation_id!r} "
                    f"started with {sorted(conv.variables) or 'none'}: omit input_variables to continue it, or omit "
                    "conversation_id to start a new conversation with these values"
                )
            new = False
        async with conv.lock:
            if conv.closed:
                raise ConversationError(_expired(conv.id))
            try:
                reply = await conv.session.send(message)
            except VoicingError:
                await self._close(conv)
                raise
            except BaseException:
                # cancelled mid-turn: the reply may still arrive later, so the socket is unusable
                with anyio.CancelScope(shield=True):
                    await self._close(conv)
                raise
            conv.turns += 1
            conv.last_used = self._clock()
        return ChatTurn(
            conversation_id=conv.id,
            assistant_id=conv.assistant_id,
            reply=reply,
            turn=conv.turns,
            new=new,
            greeting=conv.greeting if new else None,
        )

    async def sweep(self) -> int:
        """Close every conversation idle for longer than ``idle_timeout``; return how many."""
        now = self._clock()
        idle = [
            c
            for c in list(self._conversations.values())
            if not c.lock.locked() and now - c.last_used > self.idle_timeout
        ]
        for conv in idle:
            logger.debug("closing idle chat conversation %s", conv.id)
            await self._close(conv)
        return len(idle)

    async def run_reaper(self, interval: float = 30.0) -> None:
        """Sweep every ``interval`` seconds until cancelled (run by the server's lifespan)."""
        while True:
            await anyio.sleep(interval)
            await self.sweep()

    async def aclose(self) -> None:
        """Close every conversation (server shutdown). Later sends are refused."""
        self._closed = True
        with anyio.CancelScope(shield=True):
            for conv in list(self._conversations.values()):
                await self._close(conv)

    # ----- internals --------------------------------------------------------------------
    def _get(self, conversation_id: str, assistant_id: str) -> _Conversation:
        conv = self._conversations.get(conversation_id)
        if conv is None:
            raise ConversationError(_expired(conversation_id))
        if conv.assistant_id != assistant_id:
            raise ConversationError(
                f"conversation {conversation_id!r} belongs to assistant {conv.assistant_id!r}, not {assistant_id!r}: "
                "pass the same assistant_id, or omit conversation_id to start a new conversation"
            )
        return conv

    async def _start(self, assistant_id: str, variables: dict[str, str | int | float | bool]) -> _Conversation:
        if len(self._conversations) + self._opening >= self.max_sessions:
            raise ConversationError(
                f"too many open chat conversations ({self.max_sessions} at most): continue one of them with its "
                f"conversation_id, or wait until idle ones close ({self.idle_timeout:.0f} s without use)"
            )
        self._opening += 1
        stack = AsyncExitStack()
        try:
            session = await stack.enter_async_context(self._open_chat(assistant_id, variables))
        except BaseException:
            with anyio.CancelScope(shield=True):
                await stack.aclose()
            raise
        finally:
            self._opening -= 1
        conv = _Conversation(
            id=f"conv-{uuid.uuid4().hex}",
            assistant_id=assistant_id,
            session=session,
            stack=stack,
            last_used=self._clock(),
            greeting=session.greeting,
            variables=variables,
        )
        if self._closed:
            with anyio.CancelScope(shield=True):
                await stack.aclose()
            raise ConversationError("the server is shutting down; no new chat turns are accepted")
        self._conversations[conv.id] = conv
        return conv

    async def _close(self, conv: _Conversation) -> None:
        if conv.closed:
            return
        conv.closed = True
        self._conversations.pop(conv.id, None)
        try:
            await conv.stack.aclose()
        except (VoicingError, OSError) as exc:  # closing a socket the peer already dropped
            logger.debug("closing chat conversation %s: %s", conv.id, exc)


def _expired(conversation_id: str) -> str:
    return (
        f"conversation {conversation_id!r} not found: it was never opened here, has been closed after an error, "
        "or expired after idle time; omit conversation_id to start a new conversation"
    )
