#!/usr/bin/env bash
# Runs the `edgerun serve` tests through the official OpenAI client, and the SAM web page in headless
# Chromium through playwright-core (ctest: server_openai_client).
# Usage: run_tests.sh EDGERUN_BINARY MODEL_DIR
# Installs the client from package-lock.json when node_modules is missing, starts the server on a
# free port, waits for /health, runs `node --test`, and stops the server whatever happens.
set -euo pipefail
binary=$(realpath "$1")
model=$(realpath "$2")
here=$(cd "$(dirname "$0")" && pwd)
cd "$here"
if [ ! -d node_modules/openai ] || [ ! -d node_modules/playwright-core ]; then
  npm ci --no-audit --no-fund --prefer-offline >/dev/null
fi
log=$(mktemp)
"$binary" serve -m "$model" --port 0 --parallel 2 --ctx 2048 -t 2 2>"$log" &
server=$!
trap 'kill $server 2>/dev/null || true; wait $server 2>/dev/null || true; rm -f "$log"' EXIT
port=""
for _ in $(seq 1 300); do
  port=$(sed -n 's|.*on http://[^:]*:\([0-9]*\) .*|\1|p' "$log")
  [ -n "$port" ] && break
  kill -0 $server 2>/dev/null || { cat "$log"; echo "run_tests: the server exited" >&2; exit 1; }
  sleep 0.1
done
[ -n "$port" ] || { cat "$log"; echo "run_tests: the server did not start" >&2; exit 1; }
export EDGERUN_URL="http://127.0.0.1:$port"
# For tests that start a server of their own (another model): the binary and the golden data.
export EDGERUN_BINARY="$binary"
export EDGERUN_GOLDEN="$(realpath "$model/../../..")"
for _ in $(seq 1 100); do
  node -e "fetch(process.env.EDGERUN_URL + '/health').then(r => process.exit(r.ok ? 0 : 1), () => process.exit(1))" && break
  sleep 0.1
done
node --test --test-concurrency=1 "$here"/*.test.mjs
kill -0 $server || { cat "$log"; echo "run_tests: the server died during the tests" >&2; exit 1; }
