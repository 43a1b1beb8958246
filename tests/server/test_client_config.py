"""``claude_desktop_config.example.json`` works as written: the configured command, started with the
configured env (the repo path put where the example has its placeholder), completes initialize and
tools/list over stdio with the SDK's client — what Claude Desktop does at start-up."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from mcp import Client
from mcp.client.stdio import StdioServerParameters, get_default_environment

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "claude_desktop_config.example.json"
PLACEHOLDER = "/ABSOLUTE/PATH/TO/voicing-mcp"
READ_TOOLS = {"get_call_details", "list_calls", "bulk_call_details", "chat_with_assistant"}


def load_example() -> dict[str, Any]:
    return json.loads(EXAMPLE.read_text(encoding="utf-8"))


def test_the_example_is_minimal_valid_json_with_one_placeholder_to_fill() -> None:
    config = load_example()
    assert list(config) == ["mcpServers"]
    assert list(config["mcpServers"]) == ["voicing"]
    server = config["mcpServers"]["voicing"]
    assert set(server) <= {"command", "args", "env"}
    assert server["command"].startswith(PLACEHOLDER)
    # the templates' folder is named explicitly: clients start servers in a folder of their choosing
    assert server["env"]["VOICING_PROMPTS_DIR"] == PLACEHOLDER + "/prompts"
    assert "VOICING_API_KEY" not in server.get("env", {}), "the example works without an account (local mode)"


async def test_the_configured_command_completes_initialize_and_tools_list(tmp_path: Path) -> None:
    server = load_example()["mcpServers"]["voicing"]
    command = server["command"].replace(PLACEHOLDER, str(ROOT))
    assert Path(command).is_file(), f"{command} is what the README's install creates"
    configured = {name: value.replace(PLACEHOLDER, str(ROOT)) for name, value in server.get("env", {}).items()}
    assert Path(configured["VOICING_PROMPTS_DIR"]).is_dir(), "the checkout's prompts/ folder exists"
    env = {**get_default_environment(), **configured, "XDG_STATE_HOME": str(tmp_path / "state")}
    params = StdioServerParameters(command=command, args=server.get("args", []), env=env)
    async with Client(params, mode="legacy") as client:
        info = client.session.server_info
        names = {tool.name for tool in (await client.list_tools()).tools}
    assert info is not None and info.name == "voicing-mcp"
    assert READ_TOOLS <= names


def test_the_readme_shows_the_same_configuration() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = re.search(r"<!-- section: clients.*?-->(.*?)<!-- /section: clients -->", readme, re.S)
    assert section is not None
    blocks = [json.loads(b) for b in re.findall(r"```json\n(.*?)```", section.group(1), re.S)]
    assert load_example() in blocks
    assert PLACEHOLDER in section.group(1)
