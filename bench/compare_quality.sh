#!/usr/bin/env bash
# Quality cost of each quantized file, measured by edgerun and by llama.cpp on the same text:
# perplexity, mean KL divergence and top-1 agreement against the unquantized BASE model.
#
#   LLAMA_PERPLEXITY=/path/to/llama-perplexity bench/compare_quality.sh [-c 512] [-t 2] TEXT BASE.gguf QUANT.gguf...
#
# llama-perplexity comes from a llama.cpp you build yourself (not part of this repository).
# Both tools score the second half of each chunk of -c tokens, so their figures are comparable.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
edgerun="${EDGERUN:-$root/build/edgerun}"
llama_ppl="${LLAMA_PERPLEXITY:?set LLAMA_PERPLEXITY to a llama-perplexity binary}"
ctx=512 threads=2
while getopts "c:t:" opt; do
  case $opt in
    c) ctx=$OPTARG ;; t) threads=$OPTARG ;; *) exit 2 ;;
  esac
done
shift $((OPTIND - 1))
[ $# -ge 3 ] || { echo "usage: LLAMA_PERPLEXITY=... $0 [-c N] [-t N] TEXT BASE.gguf QUANT.gguf..." >&2; exit 2; }
text=$1 base=$2
shift 2
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
"$llama_ppl" -m "$base" -f "$text" -c "$ctx" -t "$threads" --kl-divergence-base "$tmp/base.kld" > "$tmp/base.log" 2>&1 ||
  { echo "llama-perplexity failed on $base" >&2; tail -3 "$tmp/base.log" >&2; exit 1; }
echo "| model | llama.cpp PPL | llama.cpp mean KL | llama.cpp top-1 | edgerun PPL | edgerun mean KL | edgerun top-1 |"
echo "|---|---|---|---|---|---|---|"
for model in "$@"; do
  "$llama_ppl" -m "$model" -f "$text" -c "$ctx" -t "$threads" --kl-divergence-base "$tmp/base.kld" --kl-divergence \
    > "$tmp/llama.log" 2>&1 || { echo "llama-perplexity failed on $model" >&2; tail -3 "$tmp/llama.log" >&2; continue; }
  "$edgerun" perplexity -m "$model" -f "$text" -c "$ctx" -t "$threads" --kl-base "$base" > "$tmp/edgerun.log" 2>&1 ||
    { echo "edgerun perplexity failed on $model" >&2; tail -3 "$tmp/edgerun.log" >&2; continue; }
  python3 - "$model" "$tmp/llama.log" "$tmp/edgerun.log" <<'PY'
import os, re, sys
model, llama_log, edge_log = sys.argv[1:4]
llama = open(llama_log, errors="replace").read()
edge = open(edge_log, errors="replace").read()
def grab(pattern, text):
    m = re.search(pattern, text, re.M)
    return m.group(1) if m else "?"
l_ppl = grab(r"^Mean PPL\(Q\)\s*:\s*([0-9.]+)", llama)
l_kl = grab(r"^Mean\s+KLD:\s*([-0-9.e]+)", llama)
l_top = grab(r"^Same top p:\s*([0-9.]+\s*±\s*[0-9.]+\s*%)", llama)
e_ppl = grab(r"^perplexity:\s*([0-9.]+)", edge)
e_kl = grab(r"^mean KL divergence:\s*([-0-9.e]+)", edge)
e_top = grab(r"^top-1 agreement:\s*([0-9.]+\s*%)", edge)
print(f"| {os.path.basename(model)} | {l_ppl} | {l_kl} | {l_top} | {e_ppl} | {e_kl} | {e_top} |")
PY
done
