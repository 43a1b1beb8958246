"""What the server and ``voicing-mcp check`` both open from the settings, opened one way for both.

* :func:`open_api`: the one API client for the base URL; in local mode over the built-in emulator
  (:class:`LocalEmulator`: in-process, an ephemeral 127.0.0.1 port, a random key, its assistants the templates
  the guard reads), which the server starts on first use and ``check`` at once;
* :func:`template_store`: the templates of the prompts folder, and in local mode the shipped examples after it;
* :func:`open_guard`: the dial ledger and the dial guard over them;
* :func:`describe_prompts`: which prompts folder is used, and whether it holds only the examples (said by
  ``check`` and the startup log).

Everything opened closes with the caller's ``AsyncExitStack``. The emulator is imported only in local mode.
"""

from __future__ import annotations

import logging
import secrets
import sys
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass
from typing import TYPE_CHECKING

import anyio

from voicing_mcp.api.client import VoicingClient
from voicing_mcp.config import Settings
from voicing_mcp.errors import ConfigError
from voicing_mcp.guard.ledger import open_ledger
from voicing_mcp.guard.policy import Clock, DialGuard, ledger_environment
from voicing_mcp.guard.templates import TemplateStore
from voicing_mcp.paths import PACKAGE_PROMPTS_DIR, checkout_prompts_dir
from voicing_mcp.redact import redact_url

if TYPE_CHECKING:  # the emulator is imported only when local mode starts it
    from voicing_mcp.emulator.runner import RunningEmulator

logger = logging.getLogger(__name__)

LOCAL_BANNER = "local emulator — no real phone will ring"
LAZY_BANNER = "local mode: the built-in emulator starts on the first API call — no real phone will ring"
LAZY_BASE_URL = "http://127.0.0.1"
"""Local mode's client's base URL until the emulator has started (its port is chosen then)."""
DEFAULT_RETRIES = 2


class LocalEmulator:
    """Local mode's built-in emulator (in-process, an ephemeral 127.0.0.1 port), started by :meth:`start`.

    The server starts it on first use (its client's first request), not before its first answer: the emulator
    (uvicorn, starlette, its state) would cost every start ~0.3-0.5 s that a session which never calls the API
    does not need. Two first calls at once start one emulator; the start finishes even when the call that began
    it is cancelled; :meth:`aclose` stops it (if it started). Started, it is announced on stderr.
    """

    def __init__(self, settings: Settings, *, announce: bool = True) -> None:
        # the emulator's assistants are the templates the guard reads; a random key per run: the client removes
        # its key from every text the API returns, and a fixed key "emulator" turned every "emulator" in a reply
        # or record into "[redacted]"
        self.api_key = secrets.token_hex(16)
        self.running: RunningEmulator | None = None
        self._folders = settings.template_folders
        self._announce = announce
        self._lock = anyio.Lock()
        self._stack = AsyncExitStack()
        self._closed = False

    async def start(self) -> RunningEmulator:
        """The running emulator, started now if it is not yet."""
        if self.running is not None:
            return self.running
        async with self._lock:
            if self.running is None:
                if self._closed:
                    raise ConfigError("the built-in emulator cannot start: the server is shutting down")
                # the emulator (uvicorn, starlette, its state): local mode only, on first use
                from voicing_mcp.emulator.runner import serve_emulator  # noqa: PLC0415 (the emulator, local mode)
                from voicing_mcp.emulator.state import EmulatorConfig  # noqa: PLC0415 (the emulator, local mode)

                folders = self._folders
                config = EmulatorConfig(prompts_dir=folders[0], more_prompts_dirs=folders[1:], api_key=self.api_key)
                running: RunningEmulator | None = None
                with anyio.CancelScope(shield=True):  # a cancelled first call leaves no half-started emulator
                    running = await self._stack.enter_async_context(serve_emulator(config, host="127.0.0.1", port=0))
                if running is None:  # pragma: no cover - a shielded scope is never cancelled
                    raise ConfigError("the built-in emulator did not start")
                self.running = running
                if self._announce:
                    print(f"voicing-mcp: {LOCAL_BANNER} (emulator at {running.base_url})", file=sys.stderr, flush=True)
            return self.running

    async def base_url(self) -> str:
        """The emulator's base URL, starting it if need be (a :class:`VoicingClient` ``starter``)."""
        return (await self.start()).base_url

    async def aclose(self) -> None:
        """Stop the emulator if it started; no start after this."""
        async with self._lock:
            self._closed = True
            self.running = None
            with anyio.CancelScope(shield=True):
                await self._stack.aclose()


@dataclass(frozen=True, slots=True)
class OpenedAPI:
    """The API as opened: its client, and the built-in emulator in local mode (else None)."""

    client: VoicingClient
    emulator: LocalEmulator | None

    @property
    def base_url(self) -> str:
        """The API's base URL (in local mode a placeholder until the emulator has started)."""
        return self.client.base_url

    @property
    def where(self) -> str:
        """The API for a human: the built-in emulator and its URL, or the base URL without credentials."""
        if self.emulator is not None:
            return f"the built-in emulator at {self.base_url}"
        return redact_url(self.base_url)


def template_store(settings: Settings) -> TemplateStore:
    """The templates the guard reads: the user's folder, then (local mode only) the shipped examples."""
    return TemplateStore(*settings.template_folders)


async def open_api(
    settings: Settings,
    stack: AsyncExitStack,
    *,
    max_retries: int = DEFAULT_RETRIES,
    announce: bool = True,
    lazy: bool = False,
) -> OpenedAPI:
    """Open the API client, in local mode over the built-in emulator; both close with ``stack``.

    ``lazy`` (the server): the emulator starts on the client's first request, not here. ``announce`` prints the
    local-mode banner on stderr when the emulator starts (the server's; ``check`` reports it itself).
    """
    emulator: LocalEmulator | None = None
    starter: Callable[[], Awaitable[str]] | None = None
    if settings.is_local:
        emulator = LocalEmulator(settings, announce=announce)
        stack.push_async_callback(emulator.aclose)  # closes after the client and everything opened later
        api_key = emulator.api_key
        if lazy:
            base_url, starter = LAZY_BASE_URL, emulator.base_url
            if announce:  # at once, before the emulator's own line: the user knows no phone rings from the start
                print(f"voicing-mcp: {LAZY_BANNER}", file=sys.stderr, flush=True)
        else:
            base_url = await emulator.base_url()
    else:
        resolved = settings.resolved_base_url
        assert resolved is not None  # only local mode has no base URL
        base_url = resolved
        api_key = settings.api_key.get_secret_value() if settings.api_key is not None else ""
        logger.info("Voicing API at %s (%s)", redact_url(base_url), settings.resolved_env)
    client = await stack.enter_async_context(
        VoicingClient(base_url=base_url, api_key=api_key, max_retries=max_retries, starter=starter)
    )
    return OpenedAPI(client, emulator)


def open_guard(
    settings: Settings, templates: TemplateStore, stack: AsyncExitStack, *, clock: Clock | None = None
) -> DialGuard:
    """The dial guard over its ledger (``guard.ledger``); the ledger closes with ``stack``. The ledger file (or
    PostgreSQL schema) is created on the first dial, not here."""
    ledger = open_ledger(settings.resolved_ledger, clock=clock, environment=ledger_environment(settings))
    stack.push_async_callback(ledger.aclose)
    return DialGuard(settings, templates, ledger, clock=clock)


@dataclass(frozen=True, slots=True)
class PromptsReport:
    """Which prompts folder is used and what it holds, for ``check`` and the startup log."""

    folder: str
    source: str
    own: list[str]
    examples: list[str]
    exists: bool
    is_examples: bool = False

    @property
    def only_examples(self) -> bool:
        """True when no template but the shipped examples is found (the folder is empty, missing, or is them)."""
        return self.is_examples or not self.own

    def text(self) -> str:
        where = f"prompts folder {self.folder} ({self.source})"
        if self.is_examples:
            return f"{where}: the shipped examples themselves, {len(self.own)} template(s)"
        if not self.exists:
            where += ", which does not exist"
        if self.examples:
            mine = f"{len(self.own)} template(s) of yours" if self.own else "no template of yours"
            return f"{where}: {mine}, plus the {len(self.examples)} shipped example(s) (local mode)"
        if self.own:
            return f"{where}: {len(self.own)} template(s)"
        return (
            f"{where}: no <assistant_id>.j2 template; the shipped examples serve local mode only, so every dial "
            "to an assistant without a template here would be refused (VOICING_STRICT_TEMPLATES)"
        )


def describe_prompts(settings: Settings, templates: TemplateStore) -> PromptsReport:
    """Which folder holds the user's templates, how it was chosen, and what is in it (and in the examples)."""
    folder = templates.prompts_dir
    if settings.prompts_dir is not None:
        source = "VOICING_PROMPTS_DIR"
    elif folder == checkout_prompts_dir():
        source = "this checkout's prompts/"
    else:
        source = "your config folder"
    is_examples = folder == PACKAGE_PROMPTS_DIR
    examples = templates.ids_in(PACKAGE_PROMPTS_DIR) if PACKAGE_PROMPTS_DIR in templates.folders[1:] else []
    return PromptsReport(str(folder), source, templates.ids_in(folder), examples, folder.is_dir(), is_examples)
