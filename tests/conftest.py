"""Shared fixtures. Every test starts with no VOICING_* variables from the outer environment."""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from jsonschema.validators import Draft202012Validator
from pydantic import SecretStr

import pg_support
from server_support import MODES, helper
from voicing_mcp.config import PACKAGE_PROMPTS_DIR
from voicing_mcp.emulator.runner import RunningEmulator, emulator_in_thread
from voicing_mcp.emulator.state import EmulatorConfig


def _check_each_schema_once() -> None:
    """The SDK's client checks a tool's output schema against the JSON Schema metaschema once per session, before it
    validates the tool's first result (``ClientSession._output_schema_validator``); our output schemas are large
    and a test opens a session of its own, so that check of the same few schemas was ~15% of the CPU of an
    in-process test. Here a schema that passed the check passes again without being walked again (a pure function
    of the schema; one that fails is checked, and fails, every time). Every result is still validated against its
    schema, as before."""
    check = Draft202012Validator.check_schema
    passed: set[str] = set()

    def check_once(schema: Any, *args: Any, **kwargs: Any) -> None:
        key = json.dumps(schema, sort_keys=True, default=repr)
        if key not in passed:
            check(schema, *args, **kwargs)
            passed.add(key)

    Draft202012Validator.check_schema = staticmethod(check_once)  # type: ignore[method-assign]


_check_each_schema_once()


@pytest.fixture(autouse=True)
def _clean_voicing_env(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    for name in list(os.environ):
        if name.startswith("VOICING_"):
            monkeypatch.delenv(name, raising=False)
    # never open a real browser from a test (human-mode confirm pages): no $BROWSER, no display
    for name in ("BROWSER", "DISPLAY", "WAYLAND_DISPLAY"):
        monkeypatch.delenv(name, raising=False)
    # never touch the user's real ledger from a test
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path_factory.mktemp("state")))
    # the test user keeps the example assistants' templates (the emulator's assistants) in their prompts folder:
    # outside local mode only that folder counts (tests of the folder's resolution unset this)
    monkeypatch.setenv("VOICING_PROMPTS_DIR", str(PACKAGE_PROMPTS_DIR))
    yield


# ----- the emulator and the protocol modes, shared by the server and dial tests -----------------


@pytest.fixture(scope="module")
def emu_config() -> EmulatorConfig:
    """The configuration of the module's emulator (the shipped defaults). A module that needs another — its own
    key, no seeded history, instant calls — overrides this fixture, module-scoped::

        @pytest.fixture(scope="module")
        def emu_config() -> EmulatorConfig:
            return EmulatorConfig(api_key=KEY, speed=0.0)

    Faults are armed per test through the loopback helper (``helper(emu, "POST", "/_emulator/faults", ...)``);
    the ``emu`` fixture disarms them before each test."""
    return EmulatorConfig()


@pytest.fixture(scope="module")
def emu_module(emu_config: EmulatorConfig) -> Iterator[RunningEmulator]:
    """The one place tests start an emulator: one per test module (``emu_config``), on a thread, over real
    loopback HTTP and WebSocket, on a free port the OS picks (parallel workers never collide)."""
    with emulator_in_thread(emu_config) as emu:
        yield emu


@pytest.fixture
def emu(emu_module: RunningEmulator) -> RunningEmulator:
    """The module's emulator, reset (history, clock, request log, dial counter, armed faults)."""
    helper(emu_module, "POST", "/_emulator/reset")
    return emu_module


@pytest.fixture(params=list(MODES.values()), ids=list(MODES.keys()))
def mode(request: pytest.FixtureRequest) -> str:
    """Both protocol modes the SDK's client offers."""
    return str(request.param)


# ----- PostgreSQL (tests/pg_support.py) and the two ledger backends --------------------------------


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[pg_support.Cluster]:
    """This worker's throwaway PostgreSQL cluster. Without PostgreSQL binaries: skipped, saying how to enable it;
    in CI (CI or VOICING_TEST_REQUIRE_POSTGRES set) a failure instead."""
    try:
        cluster = pg_support.start_cluster()
    except pg_support.Unavailable as exc:
        if pg_support.REQUIRED:
            pytest.fail(f"{exc} (CI requires the PostgreSQL tests: CI / VOICING_TEST_REQUIRE_POSTGRES is set)")
        pytest.skip(str(exc))
    try:
        yield cluster
    finally:
        pg_support.remove_cluster(cluster)


@pytest.fixture
def pg_url(pg_cluster: pg_support.Cluster) -> Iterator[str]:
    """A fresh database of its own for the test: its URL, with the password."""
    url = pg_cluster.create_database()
    yield url
    pg_cluster.drop_database(url)


@pytest.fixture(params=pg_support.BACKENDS)
async def ledger_store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[pg_support.LedgerStore]:
    """The test's ledger store on each backend: an SQLite file, then a PostgreSQL database of its own."""
    if request.param == "sqlite":
        store = pg_support.LedgerStore("sqlite", tmp_path / "ledger.sqlite3")
    else:
        store = pg_support.LedgerStore("postgresql", SecretStr(request.getfixturevalue("pg_url")))
    try:
        yield store
    finally:
        await store.aclose()


@pytest.fixture(params=pg_support.BACKENDS)
def ledger_setting(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """VOICING_LEDGER for a server under test, on each backend (a file, then a database of its own)."""
    if request.param == "sqlite":
        return str(tmp_path / "ledger.sqlite3")
    return str(request.getfixturevalue("pg_url"))


# ----- the order modules are handed to the parallel workers ---------------------------------------------------
#: modules of few tests that take longest (subprocess suites, clusters, browsers): handed out first. pytest-xdist's
#: loadscope orders modules by their number of tests, so these went last and one worker ended the run alone with
#: them (the benchmarks' smoke test alone ~80 s); ./test passes --no-loadscope-reorder and this order is used instead
SLOW_MODULES = (
    "tests/test_benchmarks_smoke.py",
    "tests/guard/test_campaigns_replicas.py",
    "tests/test_replicas.py",
    "tests/server/web/test_dashboard_page.py",
    "tests/guard/ledger/test_postgres.py",
    "tests/test_packaging.py",
    "tests/server/apps/test_views_in_chromium.py",
    "tests/server/web/test_campaign_over_http.py",
    "tests/server/test_dial_property.py",  # 2 tests, ~15 s: last, it alone kept one worker busy for its 15 s
    "tests/server/web/test_campaign_page.py",  # 3 tests, ~11 s
    "tests/cli/test_demo.py",  # 5 tests, ~12 s
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The slow modules first, then the others by their number of tests (most first), each module's tests in their
    own order: the same order on every worker, as pytest-xdist requires."""
    modules = [item.nodeid.split("::", 1)[0] for item in items]
    sizes: dict[str, int] = {}
    for module in modules:
        sizes[module] = sizes.get(module, 0) + 1
    slow = {module: rank for rank, module in enumerate(SLOW_MODULES)}
    first_seen = {module: index for index, module in enumerate(dict.fromkeys(modules))}
    keyed = sorted(
        zip(modules, items, strict=True),
        key=lambda pair: (pair[0] not in slow, slow.get(pair[0], 0), -sizes[pair[0]], first_seen[pair[0]]),
    )
    items[:] = [item for _, item in keyed]
