#!/usr/bin/env bash
# Side-by-side speed of edgerun and llama.cpp on the same GGUF files, interleaved in one run so
# both see the same machine state. Prints a Markdown table with the ratio edgerun / llama.cpp.
#
#   LLAMA_BENCH=/path/to/llama-bench bench/compare_llamacpp.sh [-t THREADS] [-p 512] [-n 128] [-r 3] MODEL.gguf...
#
# llama-bench comes from a llama.cpp you build yourself (this repository does not include or
# build it). Requires python3 for reading the JSON outputs.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
edgerun="${EDGERUN:-$root/build/edgerun}"
llama_bench="${LLAMA_BENCH:?set LLAMA_BENCH to a llama-bench binary}"
threads=2 pp=512 tg=128 reps=3
while getopts "t:p:n:r:" opt; do
  case $opt in
    t) threads=$OPTARG ;; p) pp=$OPTARG ;; n) tg=$OPTARG ;; r) reps=$OPTARG ;;
    *) exit 2 ;;
  esac
done
shift $((OPTIND - 1))
[ $# -gt 0 ] || { echo "usage: LLAMA_BENCH=... $0 [-t N] [-p N] [-n N] [-r N] MODEL.gguf..." >&2; exit 2; }
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
echo "| model | size | test | llama.cpp t/s | edgerun t/s | ratio |"
echo "|---|---|---|---|---|---|"
for model in "$@"; do
  "$llama_bench" -m "$model" -t "$threads" -p "$pp" -n "$tg" -r "$reps" -o json > "$tmp/llama.json" 2> "$tmp/llama.err" ||
    { echo "llama-bench failed on $model:" >&2; tail -3 "$tmp/llama.err" >&2; continue; }
  "$edgerun" bench -m "$model" -t "$threads" -p "$pp" -n "$tg" -r "$reps" --json > "$tmp/edgerun.json" ||
    { echo "edgerun bench failed on $model" >&2; continue; }
  python3 - "$model" "$tmp/llama.json" "$tmp/edgerun.json" "$pp" "$tg" <<'PY'
import json, os, sys
model, llama_path, edge_path, pp, tg = sys.argv[1:6]
llama = json.load(open(llama_path))
edge = json.load(open(edge_path))
size = f"{os.path.getsize(model) / 2**30:.2f} GiB"
name = os.path.basename(model)
def llama_tps(n_prompt, n_gen):
    for r in llama:
        if r["n_prompt"] == n_prompt and r["n_gen"] == n_gen:
            return r["avg_ts"], r["stddev_ts"]
    return None
for test, key, lt in (("pp" + pp, "pp_tokens_per_s", llama_tps(int(pp), 0)), ("tg" + tg, "tg_tokens_per_s", llama_tps(0, int(tg)))):
    e, esd = edge[key], edge[key + "_sd"]
    if lt is None:
        continue
    print(f"| {name} | {size} | {test} | {lt[0]:.2f} ± {lt[1]:.2f} | {e:.2f} ± {esd:.2f} | {e / lt[0]:.2f}× |")
print(f"| {name} | | edgerun decode bandwidth | | {edge['achieved_bandwidth_bytes_per_s'] / 1e9:.1f} GB/s of {edge['machine_bandwidth_bytes_per_s'] / 1e9:.1f} measured | {edge['bandwidth_fraction']:.0%} |")
PY
done
