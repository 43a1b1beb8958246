"""The tools, one module per tool (named as the tool), and the helpers only a tool uses (``follow``, ``chat_sessions``).

Each module holds a plain async function that can be tested without MCP, the thin tool over it, and its
registration; :mod:`voicing_mcp.server.app` registers them all in one list.
"""
