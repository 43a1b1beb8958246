"""voicing_mcp.emulator"""
