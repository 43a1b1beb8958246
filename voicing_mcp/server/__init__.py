"""voicing_mcp.server"""
