"""A throwaway PostgreSQL cluster for the tests, and the two ledger backends as one fixture's parameter.

The cluster is the distribution's PostgreSQL (``initdb``/``pg_ctl`` on PATH or in /usr/lib/postgresql/<ver>/bin),
started in a temp folder on a free loopback port (its unix socket in that folder too), one per pytest-xdist worker
(a session fixture), stopped and deleted at the end; each test gets a database of its own. ``initdb`` refuses to
run as root: as root the cluster runs as the ``postgres`` user (the package creates it), else ``nobody``.

Without the binaries the PostgreSQL tests skip and say how to enable them; in CI (``CI`` or
``VOICING_TEST_REQUIRE_POSTGRES`` set, as ``.ci/run`` does) they fail instead, so CI always runs them.
"""

from __future__ import annotations

import itertools
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import psycopg
from pydantic import SecretStr

from voicing_mcp.guard.ledger import DialLedger, open_ledger

#: read at import: the tests' autouse fixture clears every VOICING_* variable before each test
REQUIRED = bool(os.environ.get("CI") or os.environ.get("VOICING_TEST_REQUIRE_POSTGRES"))
USER = "voicing"
#: a distinctive password: tests search every message for it
PASSWORD = "Pg-s3cret-7f3a9c"
HOW_TO_ENABLE = (
    "PostgreSQL tests need the server's binaries (initdb, pg_ctl): `apt-get install postgresql` (Debian/Ubuntu; "
    "they go to /usr/lib/postgresql/<version>/bin, found there) or put their folder on PATH"
)


class Unavailable(Exception):
    """No PostgreSQL binaries here."""


def bin_dir() -> Path | None:
    """The folder of initdb and pg_ctl: PATH first, then the newest /usr/lib/postgresql/<version>/bin."""
    found = shutil.which("initdb")
    if found and shutil.which("pg_ctl"):
        return Path(found).resolve().parent
    candidates = sorted(
        (p for p in Path("/usr/lib/postgresql").glob("*/bin") if (p / "initdb").exists() and (p / "pg_ctl").exists()),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
        reverse=True,
    )
    return candidates[0] if candidates else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Cluster:
    root: Path
    bindir: Path
    port: int = 0
    run_as: list[str] = field(default_factory=list[str])
    _names: itertools.count[int] = field(default_factory=itertools.count)

    def url(self, database: str = "postgres", *, password: str = PASSWORD, port: int | None = None) -> str:
        return f"postgresql://{USER}:{password}@127.0.0.1:{port or self.port}/{database}"

    def _run(self, *args: str) -> subprocess.CompletedProcess[str]:
        cmd = [*self.run_as, str(self.bindir / args[0]), *args[1:]]
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False, cwd=self.root)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed ({done.returncode}): {done.stdout}\n{done.stderr}")
        return done

    def start(self) -> None:
        data = self.root / "data"
        if not data.exists():
            pwfile = self.root / "pwfile"
            pwfile.write_text(PASSWORD + "\n", encoding="utf-8")
            self._chown(pwfile)
            self._run(
                "initdb", "-D", str(data), "-U", USER, f"--pwfile={pwfile}", "--auth=scram-sha-256",
                "-E", "UTF8", "--locale=C", "--no-sync",
            )  # fmt: skip
        for attempt in range(5):  # a free port can be taken between the check and the start: try another
            if attempt or not self.port:  # a restart keeps its port (the URLs handed out stay right)
                self.port = _free_port()
            options = (
                f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off "
                "-c full_page_writes=off -c shared_buffers=16MB -c max_connections=200"
            )
            try:
                self._run(
                    "pg_ctl", "-D", str(data), "-l", str(self.root / "log"), "-w", "-t", "60", "-o", options, "start"
                )
                return
            except RuntimeError:
                continue
        raise RuntimeError(f"PostgreSQL did not start: {(self.root / 'log').read_text(errors='replace')[-2000:]}")

    def stop(self) -> None:
        if (self.root / "data" / "postmaster.pid").exists():
            # fast, not immediate: with synchronous_commit=off an immediate stop (a crash) loses the last commits
            # (the schema, a dial row), and a test restarting the cluster would find them gone
            self._run("pg_ctl", "-D", str(self.root / "data"), "-m", "fast", "-w", "stop")

    def _chown(self, path: Path) -> None:
        if self.run_as:
            user = pwd.getpwnam(self.run_as[2])
            os.chown(path, user.pw_uid, user.pw_gid)

    def admin(self, sql: str) -> None:
        with psycopg.connect(self.url(), autocommit=True, connect_timeout=10) as conn:
            conn.execute(sql.encode())

    def create_database(self) -> str:
        """A fresh database; returns its URL (with the password)."""
        name = f"t{next(self._names)}"
        self.admin(f"CREATE DATABASE {name} TEMPLATE template0")
        return self.url(name)

    def drop_database(self, url: str) -> None:
        self.admin(f"DROP DATABASE IF EXISTS {url.rsplit('/', 1)[1]} WITH (FORCE)")


def start_cluster() -> Cluster:
    bindir = bin_dir()
    if bindir is None:
        raise Unavailable(HOW_TO_ENABLE)
    root = Path(tempfile.mkdtemp(prefix="voicing-pg-"))
    run_as: list[str] = []
    if os.geteuid() == 0:  # initdb refuses root: the cluster belongs to an unprivileged user
        user = next((u for u in ("postgres", "nobody") if _user_exists(u)), None)
        if user is None:
            raise RuntimeError("running as root and there is no 'postgres' or 'nobody' user to run PostgreSQL as")
        run_as = ["runuser", "-u", user, "--"]
    cluster = Cluster(root, bindir, run_as=run_as)
    cluster._chown(root)
    cluster.start()
    return cluster


def _user_exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


def remove_cluster(cluster: Cluster) -> None:
    try:
        cluster.stop()
    finally:
        shutil.rmtree(cluster.root, ignore_errors=True)


# ----- both backends as one fixture ---------------------------------------------------------------
BACKENDS = ["sqlite", "postgresql"]


@dataclass
class LedgerStore:
    """One ledger store of a test (an SQLite file or a PostgreSQL database) and the ledger objects opened on it
    (each one its own connection or pool: another process, another replica)."""

    backend: str
    target: Path | SecretStr
    opened: list[DialLedger] = field(default_factory=list[DialLedger])

    @property
    def setting(self) -> str:
        """The value of VOICING_LEDGER that names this store."""
        return str(self.target) if isinstance(self.target, Path) else self.target.get_secret_value()

    def open(self, *, clock: Callable[[], datetime] | None = None, environment: str | None = None) -> DialLedger:
        ledger = open_ledger(self.target, clock=clock, environment=environment)
        self.opened.append(ledger)
        return ledger

    async def aclose(self) -> None:
        for ledger in self.opened:
            await ledger.aclose()
