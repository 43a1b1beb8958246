"""The Apps extension as clients see it, through real MCP client sessions (both protocol modes, and over stdio): a
client that declares Apps gets ``campaign_status`` and ``reconcile_calls`` naming their view and the campaign
view's app-only buttons; a client that declares nothing gets the tool and resource lists it had before (no view, no
app-only tool, no ``_meta.ui``); the results are the same for both."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path
from typing import Any

from mcp import Client
from mcp.client.stdio import StdioServerParameters, get_default_environment
from mcp.server.apps import APP_MIME_TYPE

from server_support import structured, text_of
from tests.server.apps.apps_support import apps_client_extensions, apps_server
from tests.server.tools.campaigns_support import CID, dial_rows, make_campaign
from voicing_mcp.server.apps import CAMPAIGN_VIEW, RECONCILE_VIEW

APP_TOOLS = {"app_pause_campaign", "app_cancel_campaign"}


async def test_an_apps_client_sees_campaign_status_and_reconcile_calls_name_their_views_and_the_buttons_app_only(
    tmp_path: Path, mode: str
) -> None:
    async with apps_server(tmp_path, mode, apps=True) as rig:
        tools = {t.name: t for t in (await rig.client.list_tools()).tools}
    assert (tools["campaign_status"].meta or {})["ui"] == {"resourceUri": CAMPAIGN_VIEW}
    assert (tools["reconcile_calls"].meta or {})["ui"] == {"resourceUri": RECONCILE_VIEW}
    for name in APP_TOOLS:
        assert (tools[name].meta or {})["ui"] == {"resourceUri": CAMPAIGN_VIEW, "visibility": ["app"]}
        assert list(tools[name].input_schema["properties"]) == ["campaign_id"]
    assert "ui" not in (tools["control_campaign"].meta or {})  # the model's own tool is not the view's


async def test_a_client_without_apps_lists_no_view_no_app_only_tool_and_no_ui_metadata(
    tmp_path: Path, mode: str
) -> None:
    async with apps_server(tmp_path, mode, apps=False) as rig:
        tools = (await rig.client.list_tools()).tools
        resources = (await rig.client.list_resources()).resources
    names = {t.name for t in tools}
    assert "campaign_status" in names and "reconcile_calls" in names
    assert not names & APP_TOOLS
    assert all("ui" not in (t.meta or {}) and "ui/resourceUri" not in (t.meta or {}) for t in tools)
    assert not [r for r in resources if str(r.uri).startswith("ui://") or r.mime_type == APP_MIME_TYPE]
    assert any(str(r.uri) == "voicing://ledger/recent" for r in resources)  # the other resources stay


async def test_campaign_status_answers_the_same_text_and_structured_result_with_or_without_apps(
    tmp_path: Path, mode: str
) -> None:
    results: dict[bool, Any] = {}
    for apps in (True, False):
        async with apps_server(tmp_path / str(apps), mode, apps=apps) as rig:
            await make_campaign(rig, 4)
            await dial_rows(rig.ledger, CID, ["completed"])
            results[apps] = await rig.client.call_tool("campaign_status", {"campaign_id": CID})
    with_apps, without = results[True], results[False]
    assert structured(with_apps) == structured(without)
    assert [text_of(with_apps)] == [text_of(without)]
    assert with_apps.meta == without.meta
    assert structured(with_apps)["counts"]["completed"] == 1


async def test_over_stdio_as_a_client_starts_it_only_a_client_that_declares_apps_lists_the_views(
    tmp_path: Path,
) -> None:
    env = {**get_default_environment(), "VOICING_ENV": "local", "XDG_STATE_HOME": str(tmp_path / "state")}
    command = shutil.which("voicing-mcp", path=str(Path(sys.executable).parent)) or "voicing-mcp"
    params = StdioServerParameters(command=command, args=["--log-level", "WARNING"], env=env)
    seen: dict[bool, tuple[set[str], set[str], Any]] = {}
    for apps in (False, True):
        extensions = apps_client_extensions() if apps else []
        async with Client(params, mode="legacy", extensions=extensions) as client:
            tools = {t.name: t for t in (await client.list_tools()).tools}
            uris = {str(r.uri) for r in (await client.list_resources()).resources}
        seen[apps] = (set(tools), uris, tools["campaign_status"].meta)
    plain_tools, plain_uris, plain_meta = seen[False]
    apps_tools, apps_uris, apps_meta = seen[True]
    assert apps_tools - plain_tools == APP_TOOLS
    assert apps_uris - plain_uris == {CAMPAIGN_VIEW, RECONCILE_VIEW}
    assert plain_meta is None and apps_meta == {"ui": {"resourceUri": CAMPAIGN_VIEW}}
