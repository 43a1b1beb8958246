"""What the server and ``voicing-mcp check`` both open from the settings, opened one way for both.

* :func:`open_api`: in local mode the built-in emulator (in-process, an ephemeral 127.0.0.1 port, a random key,
  its assistants the templates the guard reads), then the one API client for the base URL;
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
from contextlib import AsyncExitStack
from dataclasses import dataclass
from typing import TYPE_CHECKING

from voicing_mcp.api.client import VoicingClient
from voicing_mcp.config import Settings
from voicing_mcp.guard.ledger import open_ledger
from voicing_mcp.guard.policy import Clock, DialGuard, ledger_environment
from voicing_mcp.guard.templates import TemplateStore
from voicing_mcp.paths import PACKAGE_PROMPTS_DIR, checkout_prompts_dir
from voicing_mcp.redact import redact_url

if TYPE_CHECKING:  # the emulator is imported only when local mode starts it
    from voicing_mcp.emulator.runner import RunningEmulator

logger = logging.getLogger(__name__)

LOCAL_BANNER = "local emulator — no real phone will ring"
DEFAULT_RETRIES = 2


@dataclass(frozen=True, slots=True)
class OpenedAPI:
    """The API as opened: its client, base URL, and the in-process emulator in local mode (else None)."""

    client: VoicingClient
    base_url: str
    emulator: RunningEmulator | None

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
    settings: Settings, stack: AsyncExitStack, *, max_retries: int = DEFAULT_RETRIES, announce: bool = True
) -> OpenedAPI:
    """Start the emulator in local mode, then open the API client; both close with ``stack``.

    ``announce`` prints the local-mode banner on stderr (the server's start; ``check`` reports it itself).
    """
    emulator: RunningEmulator | None = None
    if settings.is_local:
        # the emulator (its state ~25 ms, its uvicorn app): local mode only, not a production server's start
        from voicing_mcp.emulator.runner import serve_emulator  # noqa: PLC0415 (the emulator, local mode only)
        from voicing_mcp.emulator.state import EmulatorConfig  # noqa: PLC0415 (the emulator, local mode only)

        # the emulator's assistants are the templates the guard reads; a random key per run: the client removes
        # its key from every text the API returns, and a fixed key "emulator" turned every "emulator" in a reply
        # or record into "[redacted]"
        folders = settings.template_folders
        config = EmulatorConfig(prompts_dir=folders[0], more_prompts_dirs=folders[1:], api_key=secrets.token_hex(16))
        emulator = await stack.enter_async_context(serve_emulator(config, host="127.0.0.1", port=0))
        base_url, api_key = emulator.base_url, emulator.api_key
        if announce:
            print(f"voicing-mcp: {LOCAL_BANNER} (emulator at {base_url})", file=sys.stderr, flush=True)
    else:
        resolved = settings.resolved_base_url
        assert resolved is not None  # only local mode has no base URL
        base_url = resolved
        api_key = settings.api_key.get_secret_value() if settings.api_key is not None else ""
        logger.info("Voicing API at %s (%s)", redact_url(base_url), settings.resolved_env)
    client = await stack.enter_async_context(VoicingClient(base_url=base_url, api_key=api_key, max_retries=max_retries))
    return OpenedAPI(client, base_url, emulator)


def open_guard(
    settings: Settings, templates: TemplateStore, stack: AsyncExitStack, *, local: bool, clock: Clock | None = None
) -> DialGuard:
    """The dial guard over its ledger (``guard.ledger``); the ledger closes with ``stack``. The ledger file (or
    PostgreSQL schema) is created on the first dial, not here. ``local``: the built-in emulator answers (no real
    phone can ring)."""
    ledger = open_ledger(settings.resolved_ledger, clock=clock, environment=ledger_environment(settings, local=local))
    stack.push_async_callback(ledger.aclose)
    return DialGuard(settings, templates, ledger, clock=clock, local=local)


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
