"""The run_campaign prompt through prompts/get in a real MCP client session: the workflow quotes the real tool
names in order, names a prepared campaign's resources, and refuses bad arguments with -32602 errors."""

from __future__ import annotations

import re
from pathlib import Path

from server_support import ASSISTANT
from tests.server.test_prompts import prompt_text, refused
from tests.server.tools.campaigns_support import CID, campaign_server, make_campaign
from voicing_mcp.config import PACKAGE_PROMPTS_DIR
from voicing_mcp.server.prompts import MAX_ARGUMENT


async def test_run_campaign_walks_prepare_approval_status_and_reconcile_with_the_real_tool_names(
    tmp_path: Path, mode: str
) -> None:
    async with campaign_server(tmp_path, mode) as rig:
        tools = {t.name for t in (await rig.client.list_tools()).tools}
        text = await prompt_text(
            rig.client, "run_campaign", {"assistant_id": ASSISTANT, "recipients_file": "overdue.csv"}
        )
    named = re.findall(r"\b(prepare_campaign|campaign_status|control_campaign|reconcile_calls)\(", text)
    assert named[:2] == ["prepare_campaign", "control_campaign"]  # prepare, then start (token mode) after a yes
    order = [text.index(f"{name}(") for name in ("prepare_campaign", "campaign_status", "reconcile_calls")]
    assert order == sorted(order)
    assert {"campaign_status", "control_campaign", "reconcile_calls", "list_assistants"} <= tools
    assert "recipients_file='overdue.csv'" in text and "required input_variables: name, plan_type" in text
    assert "never approve on their behalf" in text and "never redial a row whose outcome is unknown" in text


async def test_run_campaign_for_a_prepared_campaign_starts_at_its_status_and_names_its_rows(tmp_path: Path) -> None:
    async with campaign_server(tmp_path) as rig:
        await make_campaign(rig, 3)
        text = await prompt_text(rig.client, "run_campaign", {"campaign_id": CID})
    assert f"Campaign {CID} exists; it is running. Start at step 4." in text
    assert f"campaign_status(campaign_id={CID!r})" in text
    assert f"voicing://campaigns/{CID}" in text and f"voicing://campaigns/{CID}.csv" in text


async def test_run_campaign_refuses_an_unknown_campaign_or_assistant_naming_the_argument(tmp_path: Path) -> None:
    async with campaign_server(tmp_path) as rig:
        await make_campaign(rig, 1)
        campaign = await refused(rig.client, "run_campaign", {"campaign_id": "cmp_0123456789abcdeX"})
        other = await refused(rig.client, "run_campaign", {"campaign": "x"})
    assert campaign.startswith("campaign_id: no campaign 'cmp_0123456789abcdeX'") and CID in campaign
    assert other.startswith("campaign: prompt run_campaign has no such argument")


async def test_run_campaign_quotes_a_purpose_within_its_bound_even_when_its_control_characters_are_spelled_out(
    tmp_path: Path,
) -> None:
    async with campaign_server(tmp_path) as rig:
        text = await prompt_text(rig.client, "run_campaign", {"purpose": "\x07" * MAX_ARGUMENT})
    [line] = [line for line in text.splitlines() if line.startswith("Purpose: ")]
    assert len(line) <= len("Purpose: ") + MAX_ARGUMENT and line.endswith("…")
    assert len(text) < 2 * MAX_ARGUMENT + 4_000  # the workflow's own steps and the purpose, nothing more


async def test_run_campaign_names_a_missing_template_by_its_file_name_never_a_folder_of_the_server(
    tmp_path: Path,
) -> None:
    async with campaign_server(tmp_path) as strict:
        refusal = await refused(strict.client, "run_campaign", {"assistant_id": "nobody"})
    async with campaign_server(tmp_path / "lenient", strict_templates=False) as lenient:
        text = await prompt_text(lenient.client, "run_campaign", {"assistant_id": "nobody"})
    for shown in (refusal, text):
        assert "nobody.j2 in the prompts folder (VOICING_PROMPTS_DIR)" in shown, shown
        assert str(PACKAGE_PROMPTS_DIR) not in shown and str(PACKAGE_PROMPTS_DIR.parent) not in shown, shown
