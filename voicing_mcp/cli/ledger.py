"""``voicing-mcp ledger [list | resolve ID [NOTE]]``: the dial ledger, for the human operator.

``list`` (the default) prints the last dials, one JSON line each, numbers masked and the API key never shown;
``resolve ID`` releases a number blocked by an unknown outcome once a human made sure nobody was called (the
refusal names the id). ``python -m voicing_mcp.guard.ledger …`` is the same command, kept because refusal
messages written to older ledgers name it.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

import anyio

from voicing_mcp.cli import main as cli_main
from voicing_mcp.config import Settings, load_settings
from voicing_mcp.errors import ConfigError, GuardRefusal
from voicing_mcp.guard.ledger import open_ledger
from voicing_mcp.redact import redact_secret_in

DEFAULT_NOTE = "checked by a human: no call was placed"


def run_ledger(args: argparse.Namespace) -> int:
    """The ``ledger`` command; 0 on success, 1 when there is nothing to list or release, 2 on bad settings."""
    try:
        settings = load_settings()
    except ConfigError as exc:
        print(f"voicing-mcp ledger: {exc}", file=sys.stderr)
        return 2
    target = settings.resolved_ledger
    if isinstance(target, Path) and not target.is_file():
        print(
            f"voicing-mcp ledger: there is no ledger at {target} yet: a server creates it at its first dial. "
            "'voicing-mcp demo' does not write here: it runs with a temporary ledger of its own, deleted when the "
            "demo ends. If your server keeps its ledger elsewhere, set VOICING_LEDGER to the file the server uses",
            file=sys.stderr,
        )
        return 1
    try:
        return anyio.run(_run, args, settings)
    except GuardRefusal as exc:  # the ledger cannot be used: the text names it (a URL's password masked)
        print(f"voicing-mcp ledger: {exc}", file=sys.stderr)
        return 1


async def _run(args: argparse.Namespace, settings: Settings) -> int:
    ledger = open_ledger(settings.resolved_ledger)  # one event loop for a pooled (PostgreSQL) ledger's life
    try:
        if args.ledger_command == "resolve":
            row_id: int = args.id
            note = " ".join(args.note) or DEFAULT_NOTE
            ok = await ledger.resolve(row_id, resolution=note)
            outcome = "released" if ok else "nothing to release (not an open unknown row)"
            print(f"ledger #{row_id}: {outcome} in {ledger.shown}")
            return 0 if ok else 1
        # rows written before API errors were cleaned may quote the key: never shown
        from voicing_mcp.server.render.results import json_text  # noqa: PLC0415 (the MCP SDK; 'resolve' goes without)

        key = settings.api_key.get_secret_value() if settings.api_key is not None else None
        for row in await ledger.recent():
            # an API's error text is third-party: bidi and format characters escaped, like every JSON we show
            print(json_text(redact_secret_in(row.public(), key)))
        return 0
    finally:
        await ledger.aclose()


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m voicing_mcp.guard.ledger [list | resolve ID [NOTE]]``: ``voicing-mcp ledger`` by another name."""
    return cli_main(["ledger", *(sys.argv[1:] if argv is None else argv)])
