"""What the server and ``check`` open from the settings (runtime.py): the API client (over the built-in emulator
in local mode, on real loopback HTTP), the templates, the guard's ledger, and the report on the prompts folder."""

from __future__ import annotations

from contextlib import AsyncExitStack
from pathlib import Path

import httpx
import pytest

from voicing_mcp.config import PACKAGE_PROMPTS_DIR, load_settings
from voicing_mcp.errors import ConfigError
from voicing_mcp.runtime import (
    LAZY_BANNER,
    LAZY_BASE_URL,
    LOCAL_BANNER,
    LocalEmulator,
    PromptsReport,
    describe_prompts,
    open_api,
    open_guard,
    template_store,
)

EXAMPLE_ASSISTANT = "019addcc-b878-7b10-85f1-49f21342f947"


async def test_local_mode_opens_the_client_over_a_started_emulator_that_closes_with_the_stack(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = load_settings(prompts_dir=tmp_path)
    async with AsyncExitStack() as stack:
        opened = await open_api(settings, stack)
        assert opened.emulator is not None and opened.emulator.running is not None
        assert opened.base_url.startswith("http://127.0.0.1:") and opened.base_url != LAZY_BASE_URL
        assert opened.where == f"the built-in emulator at {opened.base_url}"
        page = await opened.client.list_calls(limit=1)
        assert page.page == 1
        base_url = opened.base_url
    assert f"voicing-mcp: {LOCAL_BANNER} (emulator at {base_url})" in capsys.readouterr().err
    with pytest.raises(httpx.ConnectError):  # the emulator stopped with the stack
        httpx.get(f"{base_url}/_emulator/health", timeout=2)


async def test_a_lazy_local_client_says_so_at_once_and_starts_the_emulator_on_its_first_request(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    async with AsyncExitStack() as stack:
        opened = await open_api(load_settings(prompts_dir=tmp_path), stack, lazy=True)
        assert opened.emulator is not None and opened.emulator.running is None
        assert opened.base_url == LAZY_BASE_URL
        assert capsys.readouterr().err == f"voicing-mcp: {LAZY_BANNER}\n"
        await opened.client.list_calls(limit=1)
        assert opened.emulator.running is not None
        assert LOCAL_BANNER in capsys.readouterr().err


async def test_without_announce_local_mode_prints_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    async with AsyncExitStack() as stack:
        opened = await open_api(load_settings(prompts_dir=tmp_path), stack, announce=False, lazy=True)
        await opened.client.list_calls(limit=1)
    assert capsys.readouterr().err == ""


async def test_with_a_key_the_client_goes_to_the_base_url_and_is_shown_without_credentials(tmp_path: Path) -> None:
    settings = load_settings(api_key="k" * 24, base_url="https://user:pw@proxy.example/voicing", prompts_dir=tmp_path)
    async with AsyncExitStack() as stack:
        opened = await open_api(settings, stack)
        assert opened.emulator is None
        assert opened.base_url == "https://user:pw@proxy.example/voicing"
        assert "pw" not in opened.where and "proxy.example/voicing" in opened.where


async def test_each_local_emulator_has_its_own_random_key_and_none_starts_after_it_is_closed(tmp_path: Path) -> None:
    settings = load_settings(prompts_dir=tmp_path)
    first, second = LocalEmulator(settings, announce=False), LocalEmulator(settings, announce=False)
    assert first.api_key != second.api_key
    assert len(first.api_key) == 32 and set(first.api_key) <= set("0123456789abcdef")
    await first.aclose()
    with pytest.raises(ConfigError, match="cannot start: the server is shutting down"):
        await first.start()


def test_local_mode_reads_the_users_templates_then_the_shipped_examples_and_a_keyed_server_only_the_users(
    tmp_path: Path,
) -> None:
    (tmp_path / "mine.j2").write_text("Hi {{ name }}", encoding="utf-8")
    local = template_store(load_settings(prompts_dir=tmp_path))
    assert local.folders == (tmp_path, PACKAGE_PROMPTS_DIR)
    assert local.get("mine") is not None and local.get(EXAMPLE_ASSISTANT) is not None
    keyed = template_store(load_settings(api_key="k" * 24, env="sandbox", prompts_dir=tmp_path))
    assert keyed.folders == (tmp_path,)
    assert keyed.get(EXAMPLE_ASSISTANT) is None


async def test_the_guards_ledger_file_is_created_on_the_first_dial_not_when_opened(tmp_path: Path) -> None:
    ledger = tmp_path / "state" / "ledger.sqlite3"
    settings = load_settings(prompts_dir=tmp_path, ledger=str(ledger))
    async with AsyncExitStack() as stack:
        guard = open_guard(settings, template_store(settings), stack)
        assert guard.local
        assert not ledger.exists()


def test_the_prompts_report_names_the_folder_its_source_and_what_it_holds(tmp_path: Path) -> None:
    (tmp_path / "mine.j2").write_text("Hi", encoding="utf-8")
    local = load_settings(prompts_dir=tmp_path)
    report = describe_prompts(local, template_store(local))
    assert (report.folder, report.source, report.own) == (str(tmp_path), "VOICING_PROMPTS_DIR", ["mine"])
    assert EXAMPLE_ASSISTANT in report.examples and not report.only_examples
    assert report.text() == (
        f"prompts folder {tmp_path} (VOICING_PROMPTS_DIR): 1 template(s) of yours, plus the "
        f"{len(report.examples)} shipped example(s) (local mode)"
    )


def test_an_empty_prompts_folder_outside_local_mode_warns_that_every_dial_would_be_refused(tmp_path: Path) -> None:
    keyed = load_settings(api_key="k" * 24, env="sandbox", prompts_dir=tmp_path / "missing")
    report = describe_prompts(keyed, template_store(keyed))
    assert report.only_examples and not report.exists and report.examples == []
    assert report.text().startswith(
        f"prompts folder {tmp_path / 'missing'} (VOICING_PROMPTS_DIR), which does not exist"
    )
    assert "every dial to an assistant without a template here would be refused" in report.text()


def test_the_shipped_examples_as_the_prompts_folder_are_said_to_be_them() -> None:
    settings = load_settings(prompts_dir=PACKAGE_PROMPTS_DIR)
    report = describe_prompts(settings, template_store(settings))
    assert report.is_examples and report.only_examples
    assert report.text().endswith(f": the shipped examples themselves, {len(report.own)} template(s)")


def test_a_report_of_a_folder_with_templates_outside_local_mode_counts_them() -> None:
    report = PromptsReport("/p", "your config folder", ["a", "b"], [], exists=True)
    assert report.text() == "prompts folder /p (your config folder): 2 template(s)"
    assert not report.only_examples
