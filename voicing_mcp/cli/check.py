"""``voicing-mcp check``: is this installation ready? One line per check, exit 1 on any failure.

Checks, in order (a check that needs valid settings is skipped when they are not):

1. ``settings``   every ``VOICING_*`` variable parses; which environment and base URL are used; a warning
                  for each ``VOICING_*`` variable that is no setting (with the setting it is closest to).
   ``confirm``    who confirms a dial (``VOICING_CONFIRMATION``): warns in token mode outside local.
   ``guard``      the dial guard's settings in effect: quiet hours, duplicate window, rate limit, the
                  per-number cap, allowed countries and numbers, do-not-call file, templates strictness.
   ``campaigns``  the folder a campaign's ``recipients_file`` may come from, and whether it exists.
2. ``prompts``    which prompts folder is used (and why), whether it holds only the shipped examples,
                  and that every ``<assistant_id>.j2`` parses (one line per template that does not).
3. ``dnc list``   the do-not-call file is readable and every line holds a valid number (only when
                  ``VOICING_DNC_FILE`` is set).
4. ``api``        the API answers and accepts the key: one cheap authenticated read
                  (``list_calls`` with ``limit=1``). The API is opened by :func:`voicing_mcp.runtime.open_api`,
                  as the server opens it (in ``local`` mode the built-in emulator, in-process).
5. ``ledger``     the audit ledger's file (or the folder it will be created in) is writable, or its PostgreSQL
                   database is reachable (schema version); nothing is created.
6. ``transports`` informational: whether SSE/HTTP need a bearer token.

The API key is never printed: every line passes through a filter that masks it, in case an
error message ever carried it.
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import tempfile
import time
import webbrowser
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import anyio

from voicing_mcp.config import TOKEN_MODE_WARNING, Settings, load_settings, unknown_settings
from voicing_mcp.errors import APIConnectionError, ConfigError, GuardRefusal, NotFoundError, VoicingError
from voicing_mcp.guard.dnc import DoNotCallList
from voicing_mcp.guard.ledger import DUPLICATE_WINDOW
from voicing_mcp.messages import describe
from voicing_mcp.redact import one_line, redact_url
from voicing_mcp.runtime import describe_prompts, open_api, template_store

Status = Literal["ok", "warn", "FAIL", "skip"]
API_TIMEOUT_SECONDS = 20.0


@dataclass(frozen=True, slots=True)
class CheckLine:
    """One line of the report."""

    status: Status
    name: str
    detail: str

    def render(self) -> str:
        return f"{self.status:<5} {self.name:<11} {self.detail}"


@dataclass(slots=True)
class Report:
    """The lines so far; prints each as it is added (stdout) with secrets masked."""

    secrets: tuple[str, ...] = ()
    lines: list[CheckLine] | None = None

    def add(self, status: Status, name: str, detail: str) -> None:
        for secret in self.secrets:
            if secret:
                detail = detail.replace(secret, "•••")
        line = CheckLine(status, name, one_line(detail))  # details quote the API's and files' text
        if self.lines is None:
            self.lines = []
        self.lines.append(line)
        print(line.render(), flush=True)

    @property
    def failed(self) -> bool:
        return any(line.status == "FAIL" for line in self.lines or [])

    @property
    def warnings(self) -> int:
        return sum(line.status == "warn" for line in self.lines or [])


def run_check(args: argparse.Namespace) -> int:
    """Run every check, print one line each; 0 when none failed, else 1."""
    return anyio.run(check_all)


async def check_all() -> int:
    report = Report()
    try:
        settings = load_settings()
    except ConfigError as exc:
        problems = [line.strip() for line in str(exc).splitlines()[1:] if line.strip()] or [str(exc)]
        for problem in problems:
            report.add("FAIL", "settings", problem)
        for note in unknown_settings():
            report.add("warn", "settings", note)
        for name in ("prompts", "api", "ledger"):
            report.add("skip", name, "needs valid settings")
        return _summary(report)

    secrets = tuple(
        s.get_secret_value() for s in (settings.api_key, settings.mcp_token, settings.token_secret) if s is not None
    )
    report.secrets = secrets
    report.add("ok", "settings", _describe_settings(settings))
    for note in unknown_settings():
        report.add("warn", "settings", note)
    check_confirmation(settings, report)
    check_guard(settings, report)
    check_campaigns(settings, report)
    check_prompts(settings, report)
    check_dnc(settings, report)
    await check_api(settings, report)
    target = settings.resolved_ledger
    if isinstance(target, Path):
        check_ledger(target, report)
    else:
        from voicing_mcp.guard.ledger.postgres import probe, url_secrets  # noqa: PLC0415 (a postgresql:// ledger)

        report.secrets += tuple(url_secrets(target.get_secret_value()))
        usable, text = await probe(target.get_secret_value())
        report.add("ok" if usable else "FAIL", "ledger", text)
    if settings.mcp_token is not None:
        report.add("ok", "transports", "VOICING_MCP_TOKEN is set: SSE/HTTP require 'Authorization: Bearer <token>'")
    else:
        report.add(
            "ok", "transports", "no VOICING_MCP_TOKEN: SSE/HTTP serve 127.0.0.1 only (set one for --host 0.0.0.0)"
        )
    check_token_secret(settings, report)
    return _summary(report)


def check_token_secret(settings: Settings, report: Report) -> None:
    """Whether confirmation tokens are signed with a shared secret (set / not set, never the value)."""
    if settings.token_secret is not None:
        report.add(
            "ok",
            "tokens",
            "VOICING_TOKEN_SECRET is set: every replica with the same secret accepts the confirmation tokens of the "
            "others, and tokens outlive a restart",
        )
    elif settings.missing_token_secret is not None:
        report.add("FAIL", "tokens", settings.missing_token_secret)
    else:
        report.add(
            "ok",
            "tokens",
            "VOICING_TOKEN_SECRET is not set: confirmation tokens are signed with a random secret per process "
            "(fine for one server; replicas need a shared one)",
        )


def _summary(report: Report) -> int:
    if report.failed:
        print("voicing-mcp check: FAILED — fix the lines marked FAIL (see README, Troubleshooting)", flush=True)
        return 1
    if report.warnings:
        print(f"voicing-mcp check: no failure, {report.warnings} warning(s) — read the lines marked warn", flush=True)
        return 0
    print("voicing-mcp check: all good", flush=True)
    return 0


def _describe_settings(settings: Settings) -> str:
    env = settings.resolved_env
    if settings.is_local:
        where = "env=local: the built-in emulator, no real phone will ring"
    else:
        where = f"env={env} at {redact_url(settings.resolved_base_url or '')}"
        if env == "production":
            where += " (real calls: phones will ring)"
    key = "API key set" if settings.api_key is not None else "no API key"
    return f"{where}; {key}"


def check_confirmation(settings: Settings, report: Report) -> None:
    """Who confirms a dial in effect; a warning when the model could confirm by itself (token mode)."""

    for note in settings.replaced_settings:
        report.add("warn", "confirm", note)
    port = f"127.0.0.1:{settings.confirm_port}" if settings.confirm_port else "127.0.0.1, a free port"
    allow = (
        f"; {len(settings.allowed_numbers)} allow-listed number(s) dial without asking"
        if settings.allowed_numbers
        else ""
    )
    if settings.resolved_confirmation == "human":
        report.add(
            "ok",
            "confirm",
            "VOICING_CONFIRMATION=human: a human confirms each dial (the client's form, else a confirm page on "
            f"{port} reached by URL elicitation or the browser; no way to a human = refused){allow}",
        )
        if not browser_available():
            report.add("warn", "confirm", NO_BROWSER)
    elif settings.is_local:
        report.add(
            "ok",
            "confirm",
            "VOICING_CONFIRMATION=token (local mode): the model relays a token, and could confirm by itself; no "
            f"real phone rings here{allow}",
        )
    else:
        report.add("warn", "confirm", f"{TOKEN_MODE_WARNING}{allow}")


def check_guard(settings: Settings, report: Report) -> None:
    """The dial guard's settings in effect, on one line (the confirmation is the ``confirm`` line's)."""
    quiet = f"quiet hours {settings.quiet_hours} in the callee's time" if settings.quiet_hours else "no quiet hours"
    window = int(DUPLICATE_WINDOW.total_seconds() // 60)
    countries = ", ".join(settings.allowed_countries) if settings.allowed_countries else "all"
    dnc = str(settings.dnc_file) if settings.dnc_file is not None else "none"
    templates = "refused" if settings.strict_templates else "dialled with a warning"
    per_number = settings.max_calls_per_number
    hours = int(per_number.window.total_seconds() // 3600)
    hourly = (
        f"at most {settings.max_calls_per_hour} dial(s) an hour"
        if settings.max_calls_per_hour
        else "no dial at all (VOICING_MAX_CALLS_PER_HOUR=0)"
    )
    report.add(
        "warn" if settings.max_calls_per_hour == 0 else "ok",
        "guard",
        f"env={settings.resolved_env}; {quiet}; the same number and assistant refused for {window} min; {hourly} "
        f"and {per_number.calls} to one number in {hours} h "
        f"(VOICING_MAX_CALLS_PER_NUMBER={per_number}); countries: {countries}; allow-listed numbers: "
        f"{len(settings.allowed_numbers)}; do-not-call file: {dnc}; an assistant without a template: {templates}; "
        f"ledger {settings.ledger_shown}",
    )


def check_campaigns(settings: Settings, report: Report) -> None:
    """Where a campaign's ``recipients_file`` may come from (``VOICING_CAMPAIGNS_DIR``), and whether it is there."""
    folder = settings.resolved_campaigns_dir
    source = "VOICING_CAMPAIGNS_DIR" if settings.campaigns_dir is not None else "default; VOICING_CAMPAIGNS_DIR unset"
    where = f"recipient files (prepare_campaign's recipients_file) only from {folder} ({source})"
    if folder.is_dir():
        report.add("ok", "campaigns", where)
    elif folder.exists():
        report.add("warn", "campaigns", f"{where}, which is not a folder: every recipients_file is refused")
    else:
        report.add("ok", "campaigns", f"{where}; it does not exist yet: create it and put the CSV files there")


NO_BROWSER = (
    "no browser can be opened here ($BROWSER unset, no display, no console browser): with a client that has "
    "neither form nor URL elicitation every dial is refused [confirmation-unavailable]; use a client with "
    "elicitation, set $BROWSER, or put test phones in VOICING_ALLOWED_NUMBERS (README, Troubleshooting)"
)


def browser_available() -> bool:
    """Whether Python's ``webbrowser`` (what opens the confirm page; honours ``$BROWSER``) finds a browser."""
    try:
        webbrowser.get()
    except webbrowser.Error:
        return False
    return True


def check_prompts(settings: Settings, report: Report) -> None:
    """Which prompts folder is used and why, whether it holds only the shipped examples (they serve local mode
    only), and that every template found parses (one FAIL line per template that does not)."""
    templates = template_store(settings)
    prompts = describe_prompts(settings, templates)
    folder = templates.prompts_dir
    if folder.exists() and not folder.is_dir():
        report.add("FAIL", "prompts", f"prompts folder {folder} is not a folder: set VOICING_PROMPTS_DIR to a folder")
        return
    if not folder.is_dir() and (settings.prompts_dir is not None or not prompts.examples):
        report.add(
            "FAIL",
            "prompts",
            f"prompts folder {folder} ({prompts.source}) does not exist: create it and put your <assistant_id>.j2 "
            "templates in it, or set VOICING_PROMPTS_DIR to a folder of .j2 files",
        )
        return
    found, problems = templates.scan()
    for problem in problems:
        report.add("FAIL", "prompts", str(problem))
    if not found and not problems:  # outside local mode the examples are not looked in: only the user's count
        status: Status = "FAIL" if settings.strict_templates else "warn"
        report.add(status, "prompts", prompts.text())
        return
    if found:
        names = ", ".join(
            f"{t.assistant_id} ({len(t.required)} required, {len(t.optional)} optional)" for t in found[:5]
        )
        more = f" and {len(found) - 5} more" if len(found) > 5 else ""
        broken = f"; {len(problems)} do not (above): those assistants are refused" if problems else ""
        status = "FAIL" if problems else "ok"  # never an ok line right under a template that failed
        report.add(status, "prompts", f"{prompts.text()}; {len(found)} template(s) parse: {names}{more}{broken}")


def check_dnc(settings: Settings, report: Report) -> None:
    """The do-not-call file is read exactly as the dial guard reads it: a file that cannot be read, or a line
    from which no valid number can be read, fails here as it refuses every dial there (naming the lines)."""

    path = settings.dnc_file
    if path is None:
        return
    try:
        entries = DoNotCallList(path, default_region=settings.default_region).load()
    except GuardRefusal as exc:
        report.add("FAIL", "dnc list", str(exc))
        return
    nanp = entries.read_as_nanp
    read = f"; {nanp} line(s) read as +1 numbers (11 digits starting with 1, no '+')" if nanp else ""
    report.add("ok", "dnc list", f"{entries.numbers} number(s) in {path}{read}")
    national = entries.national_without_region
    if national:
        report.add(
            "warn",
            "dnc list",
            f"{national} {'entry is' if national == 1 else 'entries are'} in national format and "
            "VOICING_DEFAULT_REGION is not set: each blocks its digits in every country (as the national number, after "
            "the country's trunk prefix, or after its country code), but a wrong digit cannot "
            "be noticed; write them in +country format or set VOICING_DEFAULT_REGION",
        )


async def check_api(settings: Settings, report: Report) -> None:
    """One authenticated read against the API, opened as the server opens it (the built-in emulator in local
    mode), without retries and within :data:`API_TIMEOUT_SECONDS`."""
    async with AsyncExitStack() as stack:
        try:
            api = await open_api(settings, stack, max_retries=0, announce=False)
        except VoicingError as exc:
            what = "the built-in emulator did not start" if settings.is_local else "the API client could not open"
            report.add("FAIL", "api", f"{what}: {exc}")
            return
        started = time.perf_counter()
        try:
            with anyio.fail_after(API_TIMEOUT_SECONDS):
                page = await api.client.list_calls(page=1, limit=1)
        except (TimeoutError, VoicingError) as exc:
            key = settings.api_key.get_secret_value() if settings.api_key is not None else None
            report.add("FAIL", "api", api_failure(api.where, exc, secret=key))
            return
        ms = (time.perf_counter() - started) * 1000
        total = f", {page.total} call(s) on record" if page.total is not None else ""
        accepted = (
            "answered (no key needed: local mode)" if settings.api_key is None else "answered and accepted the key"
        )
        report.add("ok", "api", f"{api.where} {accepted} in {ms:.0f} ms{total}")


def api_failure(what: str, exc: TimeoutError | VoicingError, *, secret: str | None = None) -> str:
    """The ``api`` line's text for an exception of the read: ``what`` (the API as opened) and the server's one
    description of the error (:func:`~voicing_mcp.messages.describe`), the text a tool would give.

    Two cases are check's own: the time limit is check's, not an API error; and a 404 to a list of calls
    cannot mean a missing id, only a base URL that is not the Voicing API.
    """
    if isinstance(exc, TimeoutError):
        return f"{what} did not answer within {API_TIMEOUT_SECONDS:.0f} s"
    if isinstance(exc, NotFoundError):
        return f"{what} has no call-details endpoint ({exc}): check VOICING_BASE_URL/VOICING_ENV"
    text = describe(exc, secret=secret)
    if isinstance(exc, APIConnectionError):
        return f"cannot reach {what}: {text}"
    return f"{what}: {text}"


def _not_sqlite(path: Path) -> str | None:
    """Why an existing file cannot be opened as an SQLite database (read-only, nothing changed), or None."""
    try:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
        try:
            conn.execute("PRAGMA schema_version").fetchone()
        finally:
            conn.close()
    except sqlite3.Error as exc:
        return f"{type(exc).__name__}: {exc}"
    return None


def check_ledger(path: Path, report: Report) -> None:
    """The ledger file, or the folder it will be created in, must be writable (nothing is left behind)."""
    if path.exists():
        if path.is_dir():
            report.add("FAIL", "ledger", f"VOICING_LEDGER {path} is a folder: give a file path")
        elif not os.access(path, os.W_OK):
            report.add("FAIL", "ledger", f"{path} is not writable: fix its permissions or set VOICING_LEDGER")
        elif problem := _not_sqlite(path):
            report.add(
                "FAIL",
                "ledger",
                f"VOICING_LEDGER {path} is not an SQLite ledger ({problem}): every dial would be refused; "
                "move that file aside or point VOICING_LEDGER at another file",
            )
        else:
            report.add("ok", "ledger", f"{path} exists and is writable")
        return
    folder = path.parent
    if folder.is_dir():
        try:
            with tempfile.NamedTemporaryFile(dir=folder, prefix=".voicing-check-"):
                pass
        except OSError as exc:
            report.add("FAIL", "ledger", f"cannot write in {folder}: {exc.strerror or exc}: set VOICING_LEDGER")
            return
        report.add("ok", "ledger", f"{path} will be created (folder writable)")
        return
    ancestor = folder
    while not ancestor.exists() and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    if ancestor.is_dir() and os.access(ancestor, os.W_OK | os.X_OK):
        report.add("ok", "ledger", f"{path} will be created (with its folder, under {ancestor})")
    else:
        report.add("FAIL", "ledger", f"cannot create {folder}: {ancestor} is not a writable folder; set VOICING_LEDGER")
