"""``python -m benchmarks._bare_server``: the baseline of the fast-path benchmarks.

A bare ``MCPServer`` of the same SDK with one trivial tool (``echo``), served over stdio: what any server
built on this SDK costs to start and to answer a tool call. With ``--get URL`` the tool instead makes one
GET to ``URL`` (``{call_id}`` in it is replaced) through a keep-alive ``httpx.AsyncClient`` and returns the
body's text: the SDK's cost plus a raw HTTP round trip, nothing of voicing-mcp but its fix of httpcore's
failed ``import sniffio`` per request (:func:`voicing_mcp.api.pool.sniffio_known`), so the baseline is not
slowed by what voicing-mcp no longer pays.
"""

from __future__ import annotations

import argparse
from typing import Any

import anyio
from mcp.server.mcpserver import MCPServer


def build(get_url: str | None = None, api_key: str = "") -> MCPServer[Any]:
    server: MCPServer[Any] = MCPServer(name="bare")

    if get_url is None:

        @server.tool()
        def echo(text: str) -> str:  # pyright: ignore[reportUnusedFunction]
            """Return the text."""
            return text

        return server

    import httpx  # noqa: PLC0415 (only the --get variant)

    from voicing_mcp.api.pool import sniffio_known  # noqa: PLC0415 (only the --get variant)

    sniffio_known()  # voicing-mcp's one-line fix of httpcore's per-request failed import: a fair baseline
    http = httpx.AsyncClient(headers={"x-api-key": api_key})

    @server.tool()
    async def get(call_id: str) -> str:  # pyright: ignore[reportUnusedFunction]
        """GET the URL for a call id and return the body."""
        response = await http.get(get_url.replace("{call_id}", call_id))
        return response.text

    return server


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--get", default=None, help="a URL with {call_id}: the tool GETs it (keep-alive)")
    p.add_argument("--api-key", default="")
    args = p.parse_args()
    anyio.run(build(args.get, args.api_key).run_stdio_async)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
