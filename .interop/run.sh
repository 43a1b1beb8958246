#!/usr/bin/env bash
# Interop with independent MCP clients (run by .ci/run):
#   (a) the official TypeScript SDK client drives the stdio server through every tool, then a campaign over
#       streamable HTTP approved on its page by URL elicitation (ts-client.mjs);
#   (b) the official conformance suite runs its server scenarios against the streamable HTTP transport,
#       with Node 22 from the pinned `node` npm package; expected-failures.yml lists the fixture-only ones.
# Packages come from package-lock.json (npm ci, once); after that the run is offline.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(dirname "$HERE")"
SERVER="$ROOT/.venv/bin/voicing-mcp"
cd "$HERE"

if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "interop: npm ci (pinned packages from package-lock.json)"
  npm ci --no-audit --no-fund --loglevel=error
fi
NODE22="$HERE/node_modules/node/bin/node"
"$NODE22" --version | grep -q '^v22\.' || { echo "interop: $NODE22 is not Node 22" >&2; exit 1; }

echo "interop (a): TypeScript SDK client over stdio and streamable HTTP ($(node --version))"
node ts-client.mjs "$SERVER"

echo "interop (b): conformance suite against streamable HTTP ($("$NODE22" --version))"
WORK="$(mktemp -d)"
SERVER_PID=""
cleanup() {
  if [ -n "$SERVER_PID" ]; then kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT
# local mode (no key: built-in emulator), an isolated state folder, no token (the suite's DNS-rebinding
# scenario is defined for unauthenticated localhost servers)
env -u VOICING_API_KEY -u VOICING_ENV -u VOICING_BASE_URL -u VOICING_MCP_TOKEN XDG_STATE_HOME="$WORK/state" \
  "$SERVER" --transport http --host 127.0.0.1 --port 0 --log-level WARNING 2>"$WORK/server.err" &
SERVER_PID=$!
URL=""
for _ in $(seq 1 150); do
  URL="$(grep -o 'http://127\.0\.0\.1:[0-9]*/mcp' "$WORK/server.err" | head -n1 || true)"
  [ -n "$URL" ] && break
  kill -0 "$SERVER_PID" 2>/dev/null || { cat "$WORK/server.err" >&2; echo "interop: the server exited" >&2; exit 1; }
  sleep 0.1
done
[ -n "$URL" ] || { cat "$WORK/server.err" >&2; echo "interop: the server did not announce its URL" >&2; exit 1; }
set +e
"$NODE22" node_modules/@modelcontextprotocol/conformance/dist/index.js server \
  --url "$URL" --expected-failures expected-failures.yml -o "$WORK/results" >"$WORK/conformance.log" 2>&1
STATUS=$?
set -e
# the suite's own "Total: N passed, M failed" line is reworded: CI reads such lines as a test summary
sed -n '/=== SUMMARY ===/,$p' "$WORK/conformance.log" \
  | sed -E -e 's/^Total: ([0-9]+) passed, ([0-9]+) failed/conformance scenarios: \1 pass, \2 do not (see expected-failures.yml)/' \
      -e 's/([0-9]+) passed, ([0-9]+) failed/\1 checks ok, \2 checks not ok/'
if [ "$STATUS" -ne 0 ]; then
  echo "interop: conformance FAILED (exit $STATUS); full log follows" >&2
  cat "$WORK/conformance.log" >&2
  exit "$STATUS"
fi
echo "interop: PASS"
