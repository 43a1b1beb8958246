"""The Voicing API client: knows nothing of MCP."""
