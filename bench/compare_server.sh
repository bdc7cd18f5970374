#!/usr/bin/env bash
# Serving throughput of `edgerun serve` and llama.cpp's llama-server on the same GGUF, side by side:
# for each concurrency, each server is started with that many slots, warmed up, and driven by
# bench/server_load.mjs (/v1/completions, greedy). Prints a Markdown table with the ratios.
#
#   LLAMA_SERVER=/path/to/llama-server bench/compare_server.sh [-t THREADS] [-n MAX_TOKENS] [-c "1 4 8"] MODEL.gguf
#
# llama-server comes from a llama.cpp you build yourself (not part of this repository).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
edgerun="${EDGERUN:-$root/build/edgerun}"
llama_server="${LLAMA_SERVER:?set LLAMA_SERVER to a llama-server binary}"
threads=2 max_tokens=32 levels="1 4 8" ctx=1024
while getopts "t:n:c:" opt; do
  case $opt in
    t) threads=$OPTARG ;; n) max_tokens=$OPTARG ;; c) levels=$OPTARG ;;
    *) exit 2 ;;
  esac
done
shift $((OPTIND - 1))
[ $# -eq 1 ] || { echo "usage: LLAMA_SERVER=... $0 [-t N] [-n N] [-c \"1 4 8\"] MODEL.gguf" >&2; exit 2; }
model="$1"
port=18931
server=""
trap '[ -n "$server" ] && kill $server 2>/dev/null; wait 2>/dev/null || true' EXIT

start_server() {  # engine slots
  if [ "$1" = edgerun ]; then
    "$edgerun" serve -m "$model" --port $port --parallel "$2" --ctx $ctx -t "$threads" 2>/dev/null &
  else  # llama-server divides its context among the slots
    "$llama_server" -m "$model" --port $port -np "$2" -c $((ctx * $2)) -t "$threads" --no-warmup --reasoning-format none >/dev/null 2>&1 &
  fi
  server=$!
  for _ in $(seq 1 600); do
    curl -sf "http://127.0.0.1:$port/health" >/dev/null 2>&1 && return 0
    sleep 0.2
  done
  echo "compare_server: $1 did not start" >&2
  exit 1
}

run_level() {  # engine concurrency → JSON line
  start_server "$1" "$2"
  node "$root/bench/server_load.mjs" "http://127.0.0.1:$port" "$2" "$2" 8 >/dev/null  # warm-up
  node "$root/bench/server_load.mjs" "http://127.0.0.1:$port" "$2" $(( $2 * 4 )) "$max_tokens"
  kill $server; wait $server 2>/dev/null || true
  server=""
}

echo "| clients | llama-server req/s | edgerun req/s | llama-server tok/s | edgerun tok/s | tok/s ratio |"
echo "|---|---|---|---|---|---|"
for c in $levels; do
  llama=$(run_level llama "$c")
  edge=$(run_level edgerun "$c")
  python3 - "$c" "$llama" "$edge" <<'PY'
import json, sys
c, llama, edge = sys.argv[1], json.loads(sys.argv[2]), json.loads(sys.argv[3])
print(f"| {c} | {llama['requests_per_s']:.2f} | {edge['requests_per_s']:.2f} | {llama['tokens_per_s']:.1f} | "
      f"{edge['tokens_per_s']:.1f} | {edge['tokens_per_s'] / llama['tokens_per_s']:.2f}× |")
PY
done
