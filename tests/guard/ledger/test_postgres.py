"""The PostgreSQL ledger's own behaviour: replicas (independent ledgers, each its own pool) on one database, the
schema's migration, and a database that is down or refuses the login (every dial refused, the password never
shown). The rules both backends share are pinned in test_ledger.py."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import anyio
import psycopg
import pytest

from pg_support import PASSWORD, Cluster
from server_support import NUMBER, call, dial_client, dials, refusal
from voicing_mcp.api.models import OutboundCallRequest
from voicing_mcp.config import load_settings
from voicing_mcp.emulator.runner import RunningEmulator
from voicing_mcp.errors import GuardRefusal
from voicing_mcp.guard.ledger.postgres import SCHEMA_VERSION, PostgresLedger

REQ = OutboundCallRequest(assistant_id="a1", phone_number="+17015550123", input_variables={"name": "Ann"})
MODE = "legacy"


def closed_port() -> int:
    """A loopback port nothing listens on (a database that is down)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def race(ledgers: list[PostgresLedger], requests: list[OutboundCallRequest], max_per_hour: int) -> list[str]:
    """Every request claimed at once, request i by ledger i % len(ledgers); returns 'won' or the refusal's rule."""
    outcomes: list[str] = []

    async def claim(i: int, req: OutboundCallRequest) -> None:
        try:
            await ledgers[i % len(ledgers)].claim_dial(
                req, confirmation="token", environment="production", max_per_hour=max_per_hour
            )
            outcomes.append("won")
        except GuardRefusal as exc:
            outcomes.append(exc.rule)

    async with anyio.create_task_group() as tg:
        for i, req in enumerate(requests):
            tg.start_soon(claim, i, req)
    return outcomes


async def test_three_replicas_racing_for_one_number_admit_exactly_one_dial(pg_url: str) -> None:
    replicas = [PostgresLedger(pg_url, environment="production") for _ in range(3)]
    try:
        for replica in replicas:
            await replica.recent()  # each has its pool open: the race is on the claim, not the start
        # the same number: the same assistant twice on each replica, and another assistant on each
        requests = [REQ] * 6 + [REQ.model_copy(update={"assistant_id": f"b{i}"}) for i in range(3)]
        outcomes = await race(replicas, requests, max_per_hour=100)
    finally:
        for replica in replicas:
            await replica.aclose()
    assert outcomes.count("won") == 1
    assert set(outcomes) - {"won"} <= {"duplicate", "dial-in-progress"}
    with psycopg.connect(pg_url) as conn:
        assert conn.execute("SELECT COUNT(*) FROM dials").fetchone() == (1,)


async def test_replicas_share_one_rate_limit(pg_url: str) -> None:
    replicas = [PostgresLedger(pg_url, environment="production") for _ in range(3)]
    numbers = [REQ.model_copy(update={"phone_number": f"+1701555{i:04d}"}) for i in range(12)]
    try:
        outcomes = await race(replicas, numbers, max_per_hour=4)
    finally:
        for replica in replicas:
            await replica.aclose()
    assert sorted(outcomes) == ["rate-limit"] * 8 + ["won"] * 4


async def test_three_replicas_starting_together_create_the_schema_once(pg_url: str) -> None:
    replicas = [PostgresLedger(pg_url) for _ in range(3)]
    try:
        async with anyio.create_task_group() as tg:
            for replica in replicas:
                tg.start_soon(replica.recent)
    finally:
        for replica in replicas:
            await replica.aclose()
    assert [r.schema_version for r in replicas] == [SCHEMA_VERSION] * 3
    with psycopg.connect(pg_url) as conn:
        applied = conn.execute("SELECT version FROM schema_version ORDER BY version").fetchall()
        assert applied == [(v,) for v in range(1, SCHEMA_VERSION + 1)]  # each version once


async def test_a_schema_written_by_a_newer_voicing_mcp_refuses_dials_saying_upgrade(pg_url: str) -> None:
    first = PostgresLedger(pg_url)
    await first.recent()
    await first.aclose()
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("INSERT INTO schema_version (version) VALUES (%s)", (SCHEMA_VERSION + 1,))
    later = PostgresLedger(pg_url)
    with pytest.raises(GuardRefusal) as err:
        await later.claim_dial(REQ, confirmation="token", environment="production", max_per_hour=9)
    await later.aclose()
    assert err.value.rule == "ledger" and "upgrade voicing-mcp" in str(err.value)


@pytest.mark.parametrize("problem", ["database down", "wrong password", "no such database"])
async def test_an_unusable_database_refuses_with_ledger_naming_the_masked_url(
    pg_cluster: Cluster, pg_url: str, problem: str
) -> None:
    url = {
        "database down": pg_cluster.url("t", port=closed_port()),
        "wrong password": pg_cluster.url(pg_url.rsplit("/", 1)[1], password="Wr0ng-" + PASSWORD),
        "no such database": pg_cluster.url("no_such_db"),
    }[problem]
    ledger = PostgresLedger(url, environment="production")
    with pytest.raises(GuardRefusal) as err:
        await ledger.claim_dial(REQ, confirmation="token", environment="production", max_per_hour=9)
    await ledger.aclose()
    text = str(err.value)
    assert err.value.rule == "ledger" and "no call is placed" in text
    assert "postgresql://•••@127.0.0.1:" in text and "VOICING_LEDGER" in text
    assert PASSWORD not in text and "Wr0ng" not in text


async def test_a_ledger_recovers_when_the_database_drops_its_connections(pg_cluster: Cluster, pg_url: str) -> None:
    """A database restart (every connection closed by the server): the next operation reconnects."""
    ledger = PostgresLedger(pg_url)
    first = await ledger.claim_dial(REQ, confirmation="token", environment="production", max_per_hour=9)
    db = pg_url.rsplit("/", 1)[1]
    pg_cluster.admin(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{db}'")
    row = await ledger.get(first)
    await ledger.aclose()
    assert row is not None and row.status == "pending"


# ----- through the dial tool and the commands -------------------------------------------------------
async def test_a_database_that_is_down_refuses_the_dial_and_nothing_is_dialled(
    emu: RunningEmulator, tmp_path: Path, pg_cluster: Cluster
) -> None:
    url = pg_cluster.url("voicing", port=closed_port())
    async with dial_client(emu, tmp_path, MODE, ledger=url, allowed_numbers=NUMBER) as client:
        text = refusal(await call(client), "ledger")
        resource_error = None
        try:
            await client.read_resource("voicing://ledger/recent")
        except Exception as exc:  # the resource says the ledger cannot be read
            resource_error = str(exc)
    assert "postgresql://•••@127.0.0.1:" in text and PASSWORD not in text
    assert resource_error is not None and "cannot be read" in resource_error and PASSWORD not in resource_error
    assert dials(emu) == 0


async def test_the_ledger_resource_reads_the_postgresql_ledger(
    emu: RunningEmulator, tmp_path: Path, pg_url: str
) -> None:
    async with dial_client(emu, tmp_path, MODE, ledger=pg_url, allowed_numbers=NUMBER) as client:
        started = await call(client)
        assert not started.is_error
        res = await client.read_resource("voicing://ledger/recent")
    text = res.contents[0].text  # pyright: ignore[reportAttributeAccessIssue]
    assert '"count": 1' in text and "postgresql://•••@127.0.0.1:" in text and PASSWORD not in text
    assert dials(emu) == 1


@pytest.mark.parametrize("state", ["fresh", "migrated", "down"])
async def test_check_names_the_postgresql_ledger_its_schema_and_masks_the_password(
    pg_cluster: Cluster, pg_url: str, state: str
) -> None:
    url = pg_cluster.url("voicing", port=closed_port()) if state == "down" else pg_url
    if state == "migrated":
        ledger = PostgresLedger(url)
        await ledger.recent()
        await ledger.aclose()
    env = {k: v for k, v in os.environ.items() if not k.startswith("VOICING_")}
    # replicas of a shared ledger share one token secret (required: check fails its tokens line without it)
    env.update(VOICING_LEDGER=url, VOICING_ENV="local", VOICING_TOKEN_SECRET="Zq3vN8pXw2LrT6yKc1HdJ5mBf9GsAe4U-_")
    exe = Path(sys.executable).parent / "voicing-mcp"
    done = subprocess.run([str(exe), "check"], env=env, capture_output=True, text=True, timeout=120, check=False)
    out = done.stdout + done.stderr
    ledger_line = next(line for line in out.splitlines() if "ledger" in line and "PostgreSQL" in line)
    assert PASSWORD not in out
    if state == "down":
        assert "not usable" in ledger_line and "FAIL" in ledger_line and "postgresql://•••@127.0.0.1:" in ledger_line
        assert done.returncode != 0
        return
    assert "reachable" in ledger_line and "FAIL" not in ledger_line and done.returncode == 0, out
    expected = "no ledger schema yet" if state == "fresh" else f"schema version {SCHEMA_VERSION}"
    assert expected in ledger_line
    if state == "fresh":
        assert not schema_exists(url)  # check creates nothing


def test_a_postgresql_url_is_a_valid_ledger_setting_and_never_shown_with_its_password() -> None:
    for url in (f"postgresql://voicing:{PASSWORD}@db:5432/v", f"postgres://db/v?user=u&password={PASSWORD}"):
        settings = load_settings(ledger=url)
        assert settings.ledger_is_shared
        assert PASSWORD not in settings.ledger_shown and PASSWORD not in repr(settings)
        assert "db" in settings.ledger_shown


def run_python(code: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VOICING_")}
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)


def test_psycopg_is_imported_only_when_a_postgresql_ledger_is_first_used() -> None:
    """Cold start: a server on SQLite, or one whose PostgreSQL ledger was not used yet, never loads psycopg."""
    done = run_python(
        "import sys\n"
        "from voicing_mcp.config import load_settings\n"
        "from voicing_mcp.guard.ledger import open_ledger\n"
        "import voicing_mcp.server.app, voicing_mcp.runtime, voicing_mcp.cli.check, voicing_mcp.cli.ledger\n"
        "open_ledger(load_settings().resolved_ledger)\n"
        "open_ledger(load_settings(ledger='postgresql://u:p@127.0.0.1:1/x').resolved_ledger)\n"
        "print(sorted(m for m in sys.modules if m.startswith('psycopg')))\n"
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_without_psycopg_a_postgresql_ledger_refuses_saying_how_to_install_it() -> None:
    done = run_python(
        "import sys, anyio\n"
        "sys.modules['psycopg'] = None  # not installed\n"
        "from voicing_mcp.errors import GuardRefusal\n"
        "from voicing_mcp.guard.ledger.postgres import PostgresLedger\n"
        f"ledger = PostgresLedger('postgresql://u:{PASSWORD}@127.0.0.1:1/x')\n"
        "try:\n"
        "    anyio.run(ledger.recent)\n"
        "except GuardRefusal as exc:\n"
        "    print(exc.rule, exc)\n"
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("ledger ") and "pip install 'psycopg[binary]>=3.2' 'psycopg-pool>=3.2'" in done.stdout
    assert PASSWORD not in done.stdout


async def test_a_database_that_goes_down_while_serving_refuses_dials_and_they_resume_when_it_is_back(
    emu: RunningEmulator, tmp_path: Path, pg_cluster: Cluster, pg_url: str
) -> None:
    numbers = ["+17018112583", "+17018112584", "+17018112585"]
    async with dial_client(emu, tmp_path, MODE, ledger=pg_url, allowed_numbers=",".join(numbers)) as client:
        assert not (await call(client, phone_number=numbers[0])).is_error
        pg_cluster.stop()
        try:
            text = refusal(await call(client, phone_number=numbers[1]), "ledger")
        finally:
            pg_cluster.start()  # the same port: the other tests' URLs stay right
        assert dials(emu) == 1  # nothing dialled without a row
        assert "postgresql://•••@127.0.0.1:" in text and PASSWORD not in text
        assert not (await call(client, phone_number=numbers[2])).is_error
    assert dials(emu) == 2


def schema_exists(url: str) -> bool:
    with psycopg.connect(url) as conn:
        found = conn.execute("SELECT to_regclass('schema_version') IS NOT NULL").fetchone()
    return bool(found and found[0])


async def test_a_server_creates_the_postgresql_schema_at_start_before_any_dial(
    emu: RunningEmulator, tmp_path: Path, pg_url: str
) -> None:
    assert not schema_exists(pg_url)
    async with dial_client(emu, tmp_path, MODE, ledger=pg_url):
        with anyio.fail_after(60):  # created in the background at start: wait for it, no request is made
            while not await anyio.to_thread.run_sync(schema_exists, pg_url):
                await anyio.sleep(0.05)
    assert dials(emu) == 0


async def test_a_ledger_is_usable_at_the_first_use_after_its_database_comes_back_from_a_long_outage(
    pg_cluster: Cluster, pg_url: str
) -> None:
    # the pool retries a lost connection 1, 2, 4, 8 s apart (at ~1, 3, 7, 15 s, each delay +-10%): after an outage
    # of ~9-11 s its next try would be at ~15 s, after the 2 s a request waits here; the database is back, so the
    # request must be served. A request waits pool_timeout (5 s in a server, 2 s here: the same rule, bounded by
    # it, in half the outage)
    ledger = PostgresLedger(pg_url, environment="production", pool_timeout=2.0)
    try:
        await ledger.recent()
        pg_cluster.stop()
        try:
            with pytest.raises(GuardRefusal):
                await ledger.recent()  # ~2 s
            await anyio.sleep(6.5)  # the outage goes on (the pool's retries back off meanwhile)
        finally:
            pg_cluster.start()  # the same port
        assert await ledger.recent() == []
    finally:
        await ledger.aclose()


@pytest.mark.parametrize("scheme", ["POSTGRESQL", "Postgres"])
async def test_a_postgresql_url_with_its_scheme_in_capitals_is_the_same_ledger(pg_url: str, scheme: str) -> None:
    # the setting accepts the scheme in any case (URL schemes are case-insensitive); libpq only the lower case
    ledger = PostgresLedger(pg_url)
    try:
        await ledger.claim_dial(REQ, confirmation="token", environment="local", max_per_hour=9)
    finally:
        await ledger.aclose()
    env = {**os.environ, "VOICING_LEDGER": scheme + pg_url.removeprefix("postgresql")}
    exe = Path(sys.executable).parent / "voicing-mcp"
    listed = subprocess.run([str(exe), "ledger"], env=env, capture_output=True, text=True, timeout=60)
    assert listed.returncode == 0, listed.stderr
    assert '"status": "pending"' in listed.stdout and PASSWORD not in listed.stdout + listed.stderr


@pytest.mark.parametrize("state", ["up", "down"])
async def test_the_client_key_passphrase_in_a_postgresql_url_is_never_shown(
    pg_cluster: Cluster, pg_url: str, state: str
) -> None:
    # libpq's sslpassword (the passphrase of the client's TLS key) is as secret as the password
    passphrase = "Key-pass-9d2e41"
    url = pg_cluster.url("voicing", port=closed_port()) if state == "down" else pg_url
    url += f"?sslmode=disable&sslpassword={passphrase}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("VOICING_")}
    env.update(VOICING_LEDGER=url, VOICING_ENV="local", VOICING_TOKEN_SECRET="Zq3vN8pXw2LrT6yKc1HdJ5mBf9GsAe4U-_")
    exe = Path(sys.executable).parent / "voicing-mcp"
    done = subprocess.run([str(exe), "check"], env=env, capture_output=True, text=True, timeout=120, check=False)
    out = done.stdout + done.stderr
    assert "PostgreSQL ledger" in out and "sslpassword=•••" in out
    assert passphrase not in out
    ledger = PostgresLedger(url)
    try:
        if state == "down":
            with pytest.raises(GuardRefusal) as err:
                await ledger.recent()
            assert passphrase not in str(err.value) and "sslpassword=•••" in str(err.value)
        else:
            assert await ledger.recent() == []
    finally:
        await ledger.aclose()
    assert passphrase not in ledger.shown and passphrase not in load_settings(ledger=url).ledger_shown


@pytest.mark.parametrize(
    "value",
    [
        f"postgresql+psycopg://voicing:{PASSWORD}@db:5432/v",  # SQLAlchemy's spelling
        f"mysql://voicing:{PASSWORD}@db/v",
        f"postgresql:/voicing:{PASSWORD}@db/v",  # a slash missing
    ],
)
def test_a_ledger_url_the_server_cannot_use_is_refused_without_showing_its_password(value: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VOICING_")}
    env.update(VOICING_LEDGER=value, VOICING_ENV="local")
    exe = Path(sys.executable).parent / "voicing-mcp"
    done = subprocess.run([str(exe), "check"], env=env, capture_output=True, text=True, timeout=120, check=False)
    out = done.stdout + done.stderr
    assert done.returncode != 0 and "VOICING_LEDGER" in out
    assert PASSWORD not in out


@pytest.mark.parametrize("password", ["Wr0ng#pass-51c", "Wr0ng?pass-51c"])
async def test_a_password_with_a_hash_or_question_mark_is_never_shown(pg_url: str, password: str) -> None:
    # libpq reads user:password up to the '@' (a '#' or '?' in it unencoded is part of the password), where
    # urllib ends the host part at the '#' or '?' and found no credentials to mask
    url = pg_url.replace(PASSWORD, password)
    env = {k: v for k, v in os.environ.items() if not k.startswith("VOICING_")}
    env.update(VOICING_LEDGER=url, VOICING_ENV="local", VOICING_TOKEN_SECRET="Zq3vN8pXw2LrT6yKc1HdJ5mBf9GsAe4U-_")
    exe = Path(sys.executable).parent / "voicing-mcp"
    done = subprocess.run([str(exe), "check"], env=env, capture_output=True, text=True, timeout=120, check=False)
    out = done.stdout + done.stderr
    assert "password authentication failed" in out  # libpq took it as the password
    assert password not in out and "Wr0ng" not in out
    ledger = PostgresLedger(url)
    try:
        with pytest.raises(GuardRefusal) as err:
            await ledger.recent()
    finally:
        await ledger.aclose()
    assert "Wr0ng" not in str(err.value) and "Wr0ng" not in ledger.shown
