"""voicing-mcp: a guarded MCP server for the Voicing AI calling API."""

__version__ = "0.1.0"
