#!/usr/bin/env bash
# Rebuild the MCP Apps views (voicing_mcp/pages/apps/*.html and THIRD_PARTY_LICENSES.txt) from apps/src with the
# packages pinned in apps/package-lock.json. Needs Node 20+ and npm; the server and ./test never do (the built
# files are committed). tests/server/apps/test_views.py checks the committed files against this source.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$HERE"
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund --loglevel=error
fi
node build.mjs
