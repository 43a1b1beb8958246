"""Benchmarks of voicing-mcp: scripts that measure and print tables (see benchmarks/README.md)."""
