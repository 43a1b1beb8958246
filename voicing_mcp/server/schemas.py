"""Lean input schemas: the titles pydantic generates from parameter names are dropped from what ``tools/list``
shows.

Every character of the tool list is in the model's context on every turn. A generated title (``"title": "Call
Ids"`` for ``call_ids``, ``"title": "list_callsArguments"`` for the whole object) says nothing the property's name
does not, and there were 36 of them (940 characters). Arguments are still validated by the SDK's pydantic model of
the function, never by this advertised schema, so nothing about validation changes. A title written on purpose
(one that is not the generated one) stays.
"""

from __future__ import annotations

from typing import Any

from mcp.server.mcpserver import MCPServer


def _generated(name: str) -> str:
    return name.title().replace("_", " ")  # pydantic's default field title


def _strip(schema: dict[str, Any]) -> None:
    properties = schema.get("properties")
    if isinstance(properties, dict):
        for name, prop in properties.items():  # pyright: ignore[reportUnknownVariableType]
            if isinstance(prop, dict) and prop.get("title") == _generated(str(name)):  # pyright: ignore[reportUnknownMemberType]
                del prop["title"]


def drop_generated_titles(server: MCPServer[Any]) -> None:
    """Remove the generated titles from the input schema of every tool registered on ``server`` so far."""
    for tool in server._tool_manager.list_tools():  # pyright: ignore[reportPrivateUsage]  # no public hook for it
        schema = tool.parameters
        if schema.get("title") == f"{tool.name}Arguments":
            del schema["title"]
        _strip(schema)
