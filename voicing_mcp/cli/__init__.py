"""The ``voicing-mcp`` command: ``[--transport stdio|sse|http] | emulator | demo | check | ledger | --version``.

Without a command it is the MCP server over stdio (what a desktop client starts). Each command is a module
of this package (``serve``, ``emulator``, ``demo``, ``check``, ``ledger``), imported only when it runs, so
``voicing-mcp --version`` and the server's start stay light. Logging goes to stderr from the first line: in
stdio mode stdout carries only the protocol.
"""

from __future__ import annotations

import argparse
import io
import logging
import os
import select
import sys
import textwrap
from collections.abc import Callable, Sequence

from voicing_mcp import __version__
from voicing_mcp.errors import VoicingError
from voicing_mcp.redact import MaskNumbersFilter, SafeFormatter

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
DEFAULT_LOG_LEVEL = "WARNING"


def setup_logging(level: str = DEFAULT_LOG_LEVEL) -> None:
    """Send every log record to stderr (never stdout)."""
    handler = logging.StreamHandler(sys.stderr)
    # confirm page links hidden from every line (the transports log whole messages at DEBUG)
    handler.setFormatter(SafeFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(MaskNumbersFilter())  # phone numbers masked whoever logs them
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # the HTTP libraries log every request at INFO: keep them for --log-level DEBUG
    quiet = logging.DEBUG if root.level <= logging.DEBUG else logging.WARNING
    for name in ("httpx", "httpcore", "websockets", "uvicorn.access"):
        logging.getLogger(name).setLevel(quiet)


def log_level_from(flag: str | None, *, default: str = DEFAULT_LOG_LEVEL) -> str:
    """``--log-level`` if given, else ``VOICING_LOG_LEVEL`` (any case), else ``default``. A bad
    ``VOICING_LOG_LEVEL`` is reported with the other settings (load_settings); logging uses the default."""
    if flag:
        return flag
    value = os.environ.get("VOICING_LOG_LEVEL", "").strip().upper()
    return value if value in LOG_LEVELS else default


def _port(text: str) -> int:
    """A TCP port for argparse: 0 (any free port) to 65535."""
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number (0-65535; 0 picks a free port)") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{port} is not a port number (0-65535; 0 picks a free port)")
    return port


DESCRIPTION = "MCP server for placing and tracking phone calls through the Voicing AI API."
EPILOG = (
    "Without a command it serves MCP over stdio: an MCP client (Claude Desktop, Claude Code, Cursor, "
    "VS Code) starts it and talks on stdin/stdout. Settings are VOICING_* environment variables (README, "
    "Settings); without VOICING_API_KEY the built-in emulator answers and no real phone rings. "
    "'voicing-mcp check' tests the settings, 'voicing-mcp demo' shows every tool."
)


class _Parser(argparse.ArgumentParser):
    """The top-level parser: its help ends with every setting, read from the Settings model only when the
    help is shown (the model's import is not paid by ``--version`` or the server's start)."""

    def format_help(self) -> str:
        return super().format_help() + "\n" + settings_help()


def settings_help() -> str:
    """One line per setting: ``VOICING_NAME  meaning (default …)``, from the Settings model."""
    from voicing_mcp.config import setting_lines  # noqa: PLC0415 (pydantic ~0.3 s: --help only)

    lines = ["settings (environment variables; a flag of the same name wins):"]
    for name, meaning in setting_lines():
        lines.append(textwrap.fill(meaning, width=100, initial_indent=f"  {name:<27} ", subsequent_indent=" " * 30))
    return "\n".join(lines) + "\n"


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="voicing-mcp", description=DESCRIPTION, epilog=EPILOG)
    p.add_argument("--version", action="version", version=f"voicing-mcp {__version__}", help="print the version")
    p.add_argument(
        "--transport",
        choices=["stdio", "sse", "http"],
        default="stdio",
        help="stdio (default: the client starts this command), or serve streamable HTTP at /mcp or SSE at /sse",
    )
    p.add_argument("--host", default="127.0.0.1", help="bind address for sse/http (default 127.0.0.1)")
    p.add_argument("--port", type=_port, default=8000, help="port for sse/http (default 8000)")
    p.add_argument(
        "--http-stateless",
        action="store_true",
        default=False,
        help="streamable HTTP without sessions: replicas behind a load balancer without sticky sessions "
        "(default: VOICING_HTTP_STATELESS, else off)",
    )
    p.add_argument(
        "--log-level",
        default=None,
        type=str.upper,
        choices=LOG_LEVELS,
        help="level of the log messages on stderr (default: VOICING_LOG_LEVEL, else WARNING)",
    )
    sub = p.add_subparsers(
        dest="command",
        title="commands (none: the MCP server over stdio)",
        metavar="[COMMAND]",
        help="'voicing-mcp COMMAND --help' shows a command's options",
        parser_class=argparse.ArgumentParser,  # the settings list ends the top-level help only
    )

    emu = sub.add_parser("emulator", help="run the Voicing API emulator alone")
    emu.add_argument("--host", dest="emu_host", default="127.0.0.1", help="bind address (default 127.0.0.1)")
    emu.add_argument("--port", dest="emu_port", type=_port, default=8787, help="port (default 8787; 0: a free one)")
    emu.add_argument("--api-key", default="emulator", help="key the emulator accepts (default: emulator)")
    emu.add_argument("--speed", type=float, default=None, help="virtual seconds per wall second (default 60)")
    emu.add_argument(
        "--seed", type=int, default=None, help="seed of the call history and the random faults (default 0)"
    )
    emu.add_argument(
        "--fault-rate", type=float, default=0.0, help="share of API requests given a random fault, 0-1 (default 0)"
    )
    emu.add_argument(
        "--latency-ms", type=float, default=0.0, help="milliseconds added to every API request (default 0)"
    )

    sub.add_parser("demo", help="guided end-to-end session against the emulator")
    sub.add_parser("check", help="check settings, prompts and API reachability")
    ledger = sub.add_parser("ledger", help="list the dial ledger, or release a dial whose outcome is unknown")
    ledger_sub = ledger.add_subparsers(dest="ledger_command", metavar="[ACTION]", help="list (the default) or resolve")
    ledger_sub.add_parser("list", help="print the last dials, one JSON line each (numbers masked)")
    resolve = ledger_sub.add_parser("resolve", help="release a number blocked by an unknown outcome")
    resolve.add_argument("id", type=int, help="the ledger id the refusal names (ledger #ID)")
    resolve.add_argument("note", nargs="*", help="what the human checked (default: no call was placed)")
    return p


def _tolerant_stdout() -> None:
    """Report commands print arrows and dashes: a console or file in a legacy code page (cp1252 on
    Windows when redirected) shows them escaped instead of stopping the command with UnicodeEncodeError."""
    if isinstance(sys.stdout, io.TextIOWrapper):
        sys.stdout.reconfigure(errors="backslashreplace")


def main(argv: Sequence[str] | None = None) -> int:
    """The console script ``voicing-mcp`` (and ``python -m voicing_mcp``). Returns the exit status."""
    return run_printing(lambda: _main(argv))


def _main(argv: Sequence[str] | None) -> int:
    setup_logging(log_level_from(None))
    args = _parser().parse_args(argv)
    # the emulator alone is a development tool whose request log is the point: INFO unless asked otherwise
    setup_logging(log_level_from(args.log_level, default="INFO" if args.command == "emulator" else DEFAULT_LOG_LEVEL))
    if args.command in ("demo", "check", "ledger"):
        _tolerant_stdout()
    try:
        return _run(args)
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # top level: one readable line, never a traceback
        if stdout_closed(exc):
            raise  # `| head`: run_printing ends quietly
        if isinstance(exc, VoicingError):
            print(f"voicing-mcp: {exc}", file=sys.stderr)
            return 2
        logging.getLogger("voicing_mcp").exception("unexpected error")
        return 1


def _run(args: argparse.Namespace) -> int:
    """Run the command ``args`` names; each command's module is imported only here, so ``--version`` and
    ``--help`` pay for none of them, and each command only for its own."""
    if args.command == "emulator":
        from voicing_mcp.cli.emulator import run_emulator  # noqa: PLC0415 (the emulator: uvicorn, starlette)

        return run_emulator(args)
    if args.command == "demo":
        from voicing_mcp.cli.demo import run_demo  # noqa: PLC0415 (the MCP SDK's client)

        return run_demo(args)
    if args.command == "check":
        from voicing_mcp.cli.check import run_check  # noqa: PLC0415 (pydantic settings, httpx, the guard)

        return run_check(args)
    if args.command == "ledger":
        from voicing_mcp.cli.ledger import run_ledger  # noqa: PLC0415 (pydantic settings, the ledger)

        return run_ledger(args)
    from voicing_mcp.cli.serve import run_server  # noqa: PLC0415 (the MCP SDK: the stdio server's cold start)

    return run_server(args)


# ----- stdout closed early (`voicing-mcp check | head -3`) ----------------------------------------------
#: the exit status of a process stopped by SIGPIPE in a shell (128 + 13), as `yes | head` gives
STDOUT_CLOSED_EXIT = 141


def run_printing(command: Callable[[], int]) -> int:
    """Run a command that prints to stdout; when the reader closes stdout early (``| head``), stop at once,
    quietly, with :data:`STDOUT_CLOSED_EXIT` instead of a BrokenPipeError traceback — as ``yes | head`` does.

    Every entry point that prints (``voicing-mcp …``, ``python -m voicing_mcp.guard.ledger``) uses it:
    ``raise SystemExit(run_printing(main))``.
    """
    try:
        code = command()
    except Exception as exc:
        if not stdout_closed(exc):
            raise
        return _silence_stdout()
    try:
        sys.stdout.flush()  # what is still buffered would fail at exit, after main returned
    except BrokenPipeError:
        return _silence_stdout()
    return code


def stdout_closed(exc: BaseException) -> bool:
    """True when ``exc`` is a BrokenPipeError (alone or inside an exception group, as a task group raises it)
    and stdout is in fact closed: a broken pipe to a socket is a real error, reported as such."""
    if isinstance(exc, BaseExceptionGroup):
        group: BaseExceptionGroup[BaseException] = exc
        return any(stdout_closed(inner) for inner in group.exceptions)
    return isinstance(exc, BrokenPipeError) and _stdout_gone()


def _stdout_gone() -> bool:
    try:
        fd = sys.__stdout__.fileno() if sys.__stdout__ is not None else -1
    except (OSError, ValueError):
        return True
    if fd < 0:
        return True
    if not hasattr(select, "poll"):  # Windows: no poll on pipes; a broken pipe while printing is stdout's
        return True
    poller = select.poll()
    poller.register(fd, select.POLLOUT)
    return any(events & (select.POLLERR | select.POLLHUP) for _, events in poller.poll(0))


def _silence_stdout() -> int:
    """Point fd 1 at the null device, so the interpreter's last flush of stdout at exit does not fail too."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.__stdout__.fileno() if sys.__stdout__ is not None else 1)
        os.close(devnull)
    except (OSError, ValueError):
        pass
    return STDOUT_CLOSED_EXIT
