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

import anyio

from voicing_mcp.cli import main as cli_main
from voicing_mcp.config import load_settings
from voicing_mcp.errors import ConfigError, GuardRefusal
from voicing_mcp.guard.ledger import Ledger
from voicing_mcp.redact import redact_secret_in

DEFAULT_NOTE = "checked by a human: no call was placed"


def run_ledger(args: argparse.Namespace) -> int:
    """The ``ledger`` command; 0 on success, 1 when there is nothing to list or release, 2 on bad settings."""
    try:
        settings = load_settings()
    except ConfigError as exc:
        print(f"voicing-mcp ledger: {exc}", file=sys.stderr)
        return 2
    path = settings.resolved_ledger
    if not path.is_file():
        print(
            f"voicing-mcp ledger: there is no ledger at {path}; set VOICING_LEDGER to the file the server uses",
            file=sys.stderr,
        )
        return 1
    ledger = Ledger(path)
    try:
        if args.ledger_command == "resolve":
            row_id: int = args.id
            note = " ".join(args.note) or DEFAULT_NOTE
            ok = anyio.run(lambda: ledger.resolve(row_id, resolution=note))
            outcome = "released" if ok else "nothing to release (not an open unknown row)"
            print(f"ledger #{row_id}: {outcome} in {path}")
            return 0 if ok else 1
        # rows written before API errors were cleaned may quote the key: never shown
        from voicing_mcp.server.results import json_text  # noqa: PLC0415 (the MCP SDK; 'resolve' goes without)

        key = settings.api_key.get_secret_value() if settings.api_key is not None else None
        for row in anyio.run(ledger.recent):
            # an API's error text is third-party: bidi and format characters escaped, like every JSON we show
            print(json_text(redact_secret_in(row.public(), key)))
        return 0
    except GuardRefusal as exc:
        print(f"voicing-mcp ledger: {exc}", file=sys.stderr)
        return 1
    finally:
        ledger.close()


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m voicing_mcp.guard.ledger [list | resolve ID [NOTE]]``: ``voicing-mcp ledger`` by another name."""
    return cli_main(["ledger", *(sys.argv[1:] if argv is None else argv)])
