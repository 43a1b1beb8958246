"""The MCP Apps views (extension ``io.modelcontextprotocol/ui``): campaign_status and reconcile_calls shown as
interactive pages inside a chat client that renders apps (Claude, ChatGPT, VS Code, Cursor, Goose …).

* :mod:`.views` — the two ``ui://`` resources (one self-contained HTML file each, built from ``apps/`` at the
  repository's top and shipped as package data under ``voicing_mcp/pages/apps/``) and the ``_meta.ui`` a tool
  carries to name its view. ``campaign_status`` and ``reconcile_calls`` add it where they are registered.
* :mod:`.tools` — the campaign view's buttons: ``app_pause_campaign`` and ``app_cancel_campaign``, app-only tools
  (``visibility: ["app"]``: the host keeps them from the model) that pause or cancel an approved campaign through
  ``control_campaign``'s own :func:`~voicing_mcp.server.tools.control_campaign.control`. Nothing approves,
  starts, resumes or widens a campaign from a view.
* :mod:`.extension` — :func:`~.extension.views_extension`, the SDK's ``Apps`` extension holding both (the server
  advertises the extension), and :func:`~.extension.plain_client_lists`, the middleware that shows a client which
  did not declare Apps the tool and resource lists it had before: no app-only tool, no ``ui://`` resource, no
  ``_meta.ui`` on a tool. Tool results are the same for every client.
"""

from voicing_mcp.server.apps.views import CAMPAIGN_VIEW, RECONCILE_VIEW, VIEWS_DIR, view_meta

__all__ = ["CAMPAIGN_VIEW", "RECONCILE_VIEW", "VIEWS_DIR", "view_meta"]
