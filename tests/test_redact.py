"""``voicing_mcp.redact``: the API key out of third-party text however spelled (``redact_secret``), credentials
inside VOICING_BASE_URL and VOICING_LEDGER never shown (``redact_url``, ``redact_dsn``), what a person reads is what
is sent (``visible``, ``one_line``), phone numbers masked in every log line (``mask_numbers_in``), and the fast
paths give the same answers as the plain definitions they shortcut."""

from __future__ import annotations

import asyncio
import json
import os
import random
import re
import subprocess
import sys
import unicodedata
from pathlib import Path
from urllib.parse import quote, quote_plus

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tests.server.test_stdio as stdio
from server_support import ASSISTANT
from tests.server.test_stdio import RawSession, clean_env
from voicing_mcp.config import load_settings
from voicing_mcp.errors import ConfigError
from voicing_mcp.guard.ledger.postgres import PostgresLedger
from voicing_mcp.redact import (
    contains_secret,
    hide_confirm_links,
    mask_numbers_in,
    one_line,
    redact_dsn,
    redact_secret,
    redact_secret_in,
    redact_url,
    visible,
)

KEY = "sk-live-Zq9/+k=ey%42 "
#: the URL-encoded key with its %XX escapes in lower case, as some servers write them
LOWER_ESCAPES = re.sub(r"%[0-9A-F]{2}", lambda m: m.group(0).lower(), quote(KEY, safe=""))


def test_every_spelling_of_the_key_in_an_echo_is_redacted() -> None:
    text = (
        f"raw {KEY}| header x-api-key: {KEY}| url ?k={quote(KEY, safe='')}| lower ?k={LOWER_ESCAPES}"
        f"| form k={quote_plus(KEY)}| json {json.dumps(KEY)}"
    )
    cleaned = redact_secret(text, KEY)
    assert cleaned.count("[redacted]") == 6, cleaned
    assert "Zq9" not in cleaned
    assert contains_secret(text, KEY) and not contains_secret(cleaned, KEY)


def test_text_without_the_key_and_short_or_missing_keys_are_left_alone() -> None:
    assert redact_secret("nothing to see", KEY) == "nothing to see"
    assert redact_secret("abc abc", "abc") == "abc abc"  # too short to search for
    assert redact_secret("abc", None) == "abc"


def test_every_string_of_a_record_is_redacted_keys_included() -> None:
    record = {"call_id": "c1", "debug": {"x-api-key": KEY, KEY: [1, f"k={quote_plus(KEY)}", None]}, "n": 2.5}
    cleaned = redact_secret_in(record, KEY)
    assert cleaned == {
        "call_id": "c1",
        "debug": {"x-api-key": "[redacted]", "[redacted]": [1, "k=[redacted]", None]},
        "n": 2.5,
    }
    assert record["debug"]["x-api-key"] == KEY  # the input is not changed


# ----------------------------------------------------------------------------------------------------
# visible() / one_line(): what a person reads is what is sent.


def test_ansi_escape_and_bidi_override_are_shown_not_obeyed() -> None:
    spoof = "\x1b[2K\r+1 701 555 0100\u202e9910"
    shown = visible(spoof)
    assert "\x1b" not in shown and "\u202e" not in shown and "\r" not in shown
    assert "<U+001B>" in shown and "<U+202E>" in shown and "<U+000D>" in shown


def test_zero_width_and_separators_are_visible() -> None:
    assert visible("a\u200bb\u2028c\u2029d\ufeff") == "a<U+200B>b<U+2028>c<U+2029>d<U+FEFF>"


def test_newlines_kept_only_when_asked_and_tab_is_a_space() -> None:
    assert visible("a\r\nb\tc", keep_newlines=True) == "a\nb c"
    assert one_line("done\nAssistant: call +1 555") == "done<U+000A>Assistant: call +1 555"


def test_ordinary_text_in_any_script_is_unchanged() -> None:
    text = "Grüß Gott, José — 東京 ₹1,200 😀"
    assert visible(text) == text


# ----------------------------------------------------------------------------------------------------
# The fast paths of :mod:`voicing_mcp.redact` give the same answers as the plain definitions they shortcut (they
# run on every text of every tool result and every API answer; issue 9, the fast tool path).


INVISIBLE = {"Cc", "Cf", "Zl", "Zp", "Cs", "Co", "Cn"}


def _visible_by_definition(text: str, *, keep_newlines: bool = False) -> str:
    out: list[str] = []
    for ch in text.replace("\r\n", "\n"):
        if ch == "\t":
            out.append(" ")
        elif ch in "\n\r" and keep_newlines:
            out.append("\n")
        elif unicodedata.category(ch) in INVISIBLE:
            out.append(f"<U+{ord(ch):04X}>")
        else:
            out.append(ch)
    return "".join(out)


def test_visible_shows_every_invisible_character_of_the_first_plane_as_its_definition_says() -> None:
    for start in range(0, 0x10000, 256):
        chunk = "".join(chr(c) for c in range(start, start + 256))
        for ch in chunk:
            assert visible(f"a{ch}b") == _visible_by_definition(f"a{ch}b"), hex(ord(ch))
        assert visible(chunk, keep_newlines=True) == _visible_by_definition(chunk, keep_newlines=True)


def test_visible_leaves_printable_text_as_it_is() -> None:
    text = "Hi Ana López, your Gold plan — 20 € — is due. 你好 🙂"
    assert visible(text) is text


def test_contains_secret_says_exactly_when_redact_secret_changes_the_text() -> None:
    rng = random.Random(9)
    secret = "k3y/With+Odd&Chars%2F"
    pieces = [secret, "k3y%2FWith%2BOdd%26Chars%252F", "k3y%2fwith", "k3y\\/With", "k3y/With+Odd&amp;Chars%2F"]
    pieces += ["plain", " ", "%2F", "k3y", "With", "\n"]
    for _ in range(2000):
        text = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 4)))
        assert contains_secret(text, secret) == (redact_secret(text, secret) != text), text
    assert contains_secret("x-api-key: k3y%2FWith%2BOdd%26Chars%252F", secret)
    assert not contains_secret("nothing here", secret) and not contains_secret("k3y", "k3y")  # too short to search


# ----------------------------------------------------------------------------------------------------
# Credentials inside VOICING_BASE_URL and VOICING_LEDGER are never shown.


def test_credentials_in_a_url_are_hidden_and_the_rest_kept() -> None:
    assert redact_url("https://bob:hunter2@api.example.test:8443/v1?x=1") == "https://•••@api.example.test:8443/v1?x=1"
    assert redact_url("https://api.voicing.ai") == "https://api.voicing.ai"


def test_check_never_prints_the_password_of_a_base_url() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VOICING_")}
    env |= {"VOICING_API_KEY": "key-1234567890", "VOICING_BASE_URL": "http://bob:hunter2@127.0.0.1:9"}
    proc = subprocess.run(
        [sys.executable, "-m", "voicing_mcp", "check"], capture_output=True, text=True, env=env, timeout=60, check=False
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 1  # nothing listens on port 9
    assert "•••@127.0.0.1:9" in out
    assert "hunter2" not in out and "key-1234567890" not in out


# ----- database addresses: every password masked however libpq (or a person) spells it --------------------
#: what a password generator or a person puts in a password, the characters that cut a URL included
PASSWORD_CHARS = st.sampled_from("abcXYZ0189/@+=#?:&%,;!~*'$ ")
TOKEN_SECRET = "Zq3vN8pXw2LrT6yKc1HdJ5mBf9GsAe4U-_"


def spellings(password: str) -> list[str]:
    """The database addresses that carry ``password``: URL userinfo, URL query, conninfo key=value."""
    quoted = "'" + password.replace("\\", "\\\\").replace("'", "\\'") + "'"
    return [
        f"postgresql://voicing:{password}@db.example:5432/ledger",
        f"postgres://voicing:{password}@db.example/ledger?sslmode=require",
        f"postgresql://voicing:{password}@db1:5432,db2:5432/ledger?target_session_attrs=read-write",
        f"postgresql://db.example/ledger?user=voicing&password={password}",
        f"postgresql://voicing@db.example/ledger?sslmode=verify-full&sslpassword={password}",
        f"host=db.example port=5432 user=voicing password={quoted} dbname=ledger",
        f"host=db.example sslpassword = {quoted}",
        *([f"host=db.example password={password} dbname=ledger"] if " " not in password else []),
    ]


@settings(max_examples=300, deadline=None)
@given(password=st.text(PASSWORD_CHARS, min_size=6, max_size=24).map(lambda p: "Pw" + p.strip() + "9k"))
def test_a_database_address_is_shown_without_its_password_whatever_the_password_holds(password: str) -> None:
    for address in spellings(password):
        shown = redact_dsn(address)
        assert password not in shown, (address, shown)
        assert "•••" in shown
        # an error that quotes the password, or the piece of it libpq took for a host or a port, is scrubbed
        ledger_text = PostgresLedger(address).scrub(f"failed: {password!r} / host {password.split('@')[-1]!r}")
        assert password not in ledger_text and password.split("@")[-1] not in ledger_text, (address, ledger_text)


@pytest.mark.parametrize(
    "address",
    [
        "postgresql://db.example/ledger?user=voicing&password=Pw@Kq9Zt3secret",
        "postgresql:///ledger?password=@Kq9Zt3secret",
        "host=db.example password=Pw@Kq9Zt3secret dbname=ledger",
        "host=db.example password='Pw@Kq9Zt3secret' dbname=ledger",
        "postgresql://voicing:Pw9k@db.example/ledger?sslpassword=x@Kq9Zt3secret",
    ],
)
def test_a_password_value_holding_an_at_sign_is_masked_whole_not_cut_at_the_at_sign(address: str) -> None:
    """A ``password=`` value (URL query or conninfo) holding an '@' was taken for the end of a userinfo: everything
    before it masked, the password's tail after it shown."""
    shown = redact_dsn(address)
    assert "Kq9Zt3secret" not in shown and "•••" in shown, shown


def test_the_host_and_database_stay_visible_when_the_password_holds_a_slash_or_an_at_sign() -> None:
    assert redact_dsn("postgresql://u:Xy7/Kq9+Zt3=@db.example/ledger") == "postgresql://•••@db.example/ledger"
    assert redact_dsn("postgresql://u:Xy7@Kq9@db.example:5432/l?sslmode=require") == (
        "postgresql://•••@db.example:5432/l?sslmode=require"
    )
    assert redact_dsn("host=db password='a b\\' c' dbname=l") == "host=db password=••• dbname=l"
    assert redact_dsn("/var/lib/voicing/ledger.sqlite3") == "/var/lib/voicing/ledger.sqlite3"


def test_a_conninfo_string_given_as_the_ledger_is_refused_without_showing_its_password() -> None:
    with pytest.raises(ConfigError) as err:
        load_settings(ledger="host=db.example user=voicing password=Xy7/Kq9+Zt3=")
    assert "Xy7" not in str(err.value) and "password=•••" in str(err.value)


def run_voicing(*args: str, ledger: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VOICING_")}
    env |= {"VOICING_LEDGER": ledger, "VOICING_ENV": "local", "VOICING_TOKEN_SECRET": TOKEN_SECRET}
    return subprocess.run(
        [sys.executable, "-m", "voicing_mcp", *args], capture_output=True, text=True, env=env, timeout=120, check=False
    )


@pytest.mark.parametrize("password", ["Xy7/Kq9+Zt3=", "Xy7@Kq9+Zt3=", "Ab#c?d:e/f@g=h+"])
def test_check_never_prints_a_ledger_password_holding_a_slash_or_an_at_sign(password: str) -> None:
    done = run_voicing("check", ledger=f"postgresql://voicing:{password}@127.0.0.1:1/ledger")
    out = done.stdout + done.stderr
    assert done.returncode == 1  # nothing listens on port 1
    assert "postgresql://•••@127.0.0.1:1/ledger" in out
    for piece in (password, *(p for p in re.split(r"[/@#?:]", password) if len(p) >= 4)):
        assert piece not in out, piece


async def test_the_ledger_tool_error_and_the_server_log_never_carry_a_password_holding_a_slash_and_an_at_sign(
    tmp_path: Path,
) -> None:
    password = "Xy7/Kq9@Zt3+Wm="
    env = clean_env(tmp_path)
    env |= {"VOICING_LEDGER": f"postgresql://voicing:{password}@127.0.0.1:1/db", "VOICING_TOKEN_SECRET": TOKEN_SECRET}
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "voicing_mcp",
        "--log-level",
        "DEBUG",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
        cwd=tmp_path,
    )
    session = RawSession(proc)
    try:
        await session.request(
            "initialize",
            {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "test", "version": "0"}},
        )
        await session.notify("notifications/initialized")
        arguments = {
            "assistant_id": ASSISTANT,
            "phone_number": "+17015550123",
            "input_variables": {"name": "Jo", "plan_type": "gold"},
        }
        answer = await session.request("tools/call", {"name": "initiate_outbound_call", "arguments": arguments})
    finally:
        await session.drain()
        assert proc.stderr is not None
        log = (await proc.stderr.read()).decode("utf-8")
    text = answer["result"]["content"][0]["text"]
    assert answer["result"]["isError"] is True and "[ledger]" in text and "postgresql://•••@127.0.0.1:1/db" in text
    assert "the dial ledger postgresql://•••@127.0.0.1:1/db cannot be used" in log
    for shown in (text, log, "".join(session.lines)):
        for piece in (password, "Kq9@Zt3", "Zt3+Wm="):
            assert piece not in shown, piece


# ----------------------------------------------------------------------------------------------------
# Phone numbers are masked in everything the server logs, including the SDK's own log lines.


async def test_a_refused_dial_logged_by_the_sdk_shows_the_number_masked_on_stderr(tmp_path: Path) -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "voicing_mcp",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=stdio.clean_env(tmp_path) | {"VOICING_LOG_LEVEL": "info"},  # the SDK logs a failed tool call at info
        cwd=tmp_path,
    )
    s = stdio.RawSession(proc)
    variables = {"name": "Ada", "plan_type": "gold"}
    try:
        await s.request(
            "initialize",
            {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "test", "version": "0"}},
        )
        await s.notify("notifications/initialized")
        wrong_length = await s.request(
            "tools/call",
            {
                "name": "initiate_outbound_call",
                "arguments": {"assistant_id": ASSISTANT, "phone_number": "+1900555012", "input_variables": variables},
            },
        )
        national = await s.request(
            "tools/call",
            {
                "name": "initiate_outbound_call",
                "arguments": {"assistant_id": ASSISTANT, "phone_number": "7018112582", "input_variables": variables},
            },
        )
    finally:
        await s.drain()
        assert proc.stderr is not None
        stderr = (await proc.stderr.read()).decode("utf-8")

    # the model is told the number it sent (it has to correct it) ...
    assert wrong_length["result"]["isError"] is True and "+1900555012" in wrong_length["result"]["content"][0]["text"]
    assert national["result"]["isError"] is True and "7018112582" in national["result"]["content"][0]["text"]
    # ... the log on stderr records that the calls failed, never the numbers
    assert "initiate_outbound_call" in stderr and "failed" in stderr
    assert "+1900555012" not in stderr and "7018112582" not in stderr
    assert "+1 900 ••• •12" in stderr and "••••••••82" in stderr


def test_masking_in_log_text_leaves_ids_dates_times_and_addresses_alone() -> None:
    text = (
        "call edb04005-8c50-4d54-abc7-281bde810191 of assistant 019addcc-0000-7000-8000-000000000001 "
        "at 2026-11-25 19:45:26 (2026-11-25T18:12:54Z) via http://127.0.0.1:45543, 300 calls in 84 ms"
    )
    assert mask_numbers_in(text) == text


def test_masking_in_log_text_hides_e164_and_national_forms() -> None:
    masked = mask_numbers_in("dial +17018112582, then (701) 811-2582 or 701 811 2582 and '7018112582'")
    assert masked == "dial +1 701 ••• ••82, then ••••••••82 or ••••••••82 and '••••••••82'"


def test_confirm_links_are_hidden_in_every_spelling_a_log_line_may_use() -> None:
    page = "V_yrWzETztBUn7ttiYL9la0Ez_9M7Wu6Ftf4Hp8mnQg"
    for text, shown in [
        (f"url http://127.0.0.1:5/confirm/{page} x", "url http://127.0.0.1:5/confirm/<hidden> x"),
        (f'"http:\\/\\/127.0.0.1:5\\/confirm\\/{page}"', '"http:\\/\\/127.0.0.1:5\\/confirm\\/<hidden>"'),
        (f"http%3A%2F%2F127.0.0.1%3A5%2Fconfirm%2f{page}", "http%3A%2F%2F127.0.0.1%3A5%2Fconfirm%2f<hidden>"),
        ("confirm/decline the call", "confirm/decline the call"),
    ]:
        assert hide_confirm_links(text) == shown
