"""voicing_mcp.guard"""
