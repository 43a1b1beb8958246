"""The ``ui://`` views and the ``_meta`` that names one on a tool.

A view is one self-contained HTML document (script, style and the ``@modelcontextprotocol/ext-apps`` view library
inlined; no external request) built by ``apps/build.sh`` and committed under ``voicing_mcp/pages/apps/``. It is
read from the package on each ``resources/read`` (a host reads it once per tool call it renders), not held in
memory.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mcp.server.apps import APP_MIME_TYPE
from mcp.server.mcpserver.resources import FileResource

#: the built views (package data)
VIEWS_DIR = Path(__file__).resolve().parents[2] / "pages" / "apps"
CAMPAIGN_VIEW = "ui://voicing-mcp/campaign.html"
RECONCILE_VIEW = "ui://voicing-mcp/reconcile.html"


def view_meta(uri: str) -> dict[str, Any]:
    """The ``_meta`` of a tool whose result ``uri`` renders (the shape the SDK's ``Apps.tool`` stamps)."""
    return {"ui": {"resourceUri": uri}}


def view_resources() -> list[FileResource]:
    """The two views as resources, served as ``text/html;profile=mcp-app``."""
    return [
        FileResource(
            uri=CAMPAIGN_VIEW,
            name="campaign_view",
            title="Campaign view",
            description="MCP Apps view of campaign_status: progress, counts by state, last changes, Pause and Cancel.",
            mime_type=APP_MIME_TYPE,
            path=VIEWS_DIR / "campaign.html",
            encoding="utf-8",
        ),
        FileResource(
            uri=RECONCILE_VIEW,
            name="reconcile_view",
            title="Reconciliation view",
            description="MCP Apps view of reconcile_calls: statuses and ended reasons as bar charts, mismatches, "
            "the report as CSV.",
            mime_type=APP_MIME_TYPE,
            path=VIEWS_DIR / "reconcile.html",
            encoding="utf-8",
        ),
    ]
