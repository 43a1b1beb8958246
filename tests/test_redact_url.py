"""Credentials inside VOICING_BASE_URL and VOICING_LEDGER are never shown."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from server_support import ASSISTANT
from tests.server.test_stdio import RawSession, clean_env
from voicing_mcp.config import load_settings
from voicing_mcp.errors import ConfigError
from voicing_mcp.guard.ledger.postgres import PostgresLedger
from voicing_mcp.redact import redact_dsn, redact_url


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


def test_the_host_and_database_stay_visible_when_the_password_holds_a_slash_or_an_at_sign() -> None:
    assert redact_dsn("postgresql://u:Xy7/Kq9+Zt3=@db.example/ledger") == "postgresql://•••@db.example/ledger"
    assert redact_dsn("postgresql://u:Xy7@Kq9@db.example:5432/l?sslmode=require") == (
        "postgresql://•••@db.example:5432/l?sslmode=require"
    )
    assert redact_dsn("host=db password='a b\\' c' dbname=l") == "host=db password=••• dbname=l"
    assert redact_dsn("/var/lib/voicing/ledger.sqlite3") == "/var/lib/voicing/ledger.sqlite3"


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
