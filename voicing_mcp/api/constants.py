"""The API's paths and the client's limits and timeouts, written once.

Everything that talks to the Voicing API through :mod:`voicing_mcp.api` (the tools, the dial guard's
reconciliation, the resources, ``check``) takes its page sizes and bounds from here. The emulator keeps
its own copies on purpose: it plays the vendor, and a change on our side must not silently change what
the "vendor" accepts.
"""

from __future__ import annotations

API_PREFIX = "/api/v1/campaigns"
DIAL_PATH = f"{API_PREFIX}/publish-outbound-call"
DETAILS_PATH = f"{API_PREFIX}/get-call-details"
BULK_PATH = f"{API_PREFIX}/get-call-details/bulk-by-ids"

#: the largest ``limit`` of one list page (the API's maximum is undocumented; 100 is the guide's example)
MAX_PAGE_SIZE = 100
#: our page size when the caller does not say
DEFAULT_PAGE_SIZE = 20
#: ids per bulk request (the API's limit is undocumented; 100, as the largest page)
MAX_IDS_PER_BULK = 100
#: bulk requests in flight at once
DEFAULT_BULK_CONCURRENCY = 4
#: the longest call id the tools take back (get_call_details, the voicing://calls/{id} resource): a dial answer
#: whose call_id is longer, or not a string or integer, names no call that can be followed
MAX_CALL_ID = 256

#: seconds to open a connection / wait for a pooled one
CONNECT_TIMEOUT = 5.0
#: seconds to wait for an answer (and to send the body)
READ_TIMEOUT = 30.0
#: seconds an assistant may take to answer one chat message
CHAT_REPLY_TIMEOUT = 30.0
