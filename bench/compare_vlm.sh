#!/usr/bin/env bash
# Vision-language side by side: `edgerun describe` and llama.cpp's llama-mtmd-cli on the same text
# GGUF + mmproj GGUF (as `edgerun quantize SMOLVLM_DIR OUT.gguf` writes them), the same image
# and question, one generated token, alternating engines for REPEATS rounds. Reports time to
# first token (wall time of the whole command: load, image preprocessing, vision tower, prompt)
# and the vision tower's time per tile, as a Markdown table with the ratios.
#
#   MTMD_CLI=/path/to/llama-mtmd-cli bench/compare_vlm.sh [-t THREADS] [-r REPEATS] MODEL.gguf MMPROJ.gguf IMAGE
#
# llama-mtmd-cli comes from a llama.cpp you build yourself (not part of this repository).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
edgerun="${EDGERUN:-$root/build/edgerun}"
mtmd="${MTMD_CLI:?set MTMD_CLI to a llama-mtmd-cli binary}"
threads=2 repeats=1
while getopts "t:r:" opt; do
  case $opt in
    t) threads=$OPTARG ;; r) repeats=$OPTARG ;;
    *) exit 2 ;;
  esac
done
shift $((OPTIND - 1))
[ $# -eq 3 ] || { echo "usage: MTMD_CLI=... $0 [-t N] [-r N] MODEL.gguf MMPROJ.gguf IMAGE" >&2; exit 2; }
model="$1" mmproj="$2" image="$3"
question="What is in this image?"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
now() { date +%s.%N; }
e_ttft=() l_ttft=() e_tile=() l_tile=()
for _ in $(seq 1 "$repeats"); do
  t0=$(now)
  "$edgerun" describe -m "$model" --mmproj "$mmproj" --image "$image" -p "$question" --temp 0 -n 1 -t "$threads" >/dev/null 2>"$log"
  e_ttft+=("$(echo "$(now) - $t0" | bc -l)")
  e_tile+=("$(sed -n 's|.*vision tower \([0-9.]*\) ms/tile.*|\1|p' "$log")")
  t0=$(now)
  "$mtmd" -m "$model" --mmproj "$mmproj" --image "$image" -p "$question" --temp 0 -n 1 -t "$threads" >/dev/null 2>"$log"
  l_ttft+=("$(echo "$(now) - $t0" | bc -l)")
  # llama.cpp logs one "encoding done in N ms" per tile it runs through the vision tower.
  l_tile+=("$(sed -n 's|.*batch encoding done in \([0-9]*\) ms.*|\1|p' "$log" | awk '{s += $1; n++} END {if (n) printf "%.1f", s / n}')")
done
mean() { printf '%s\n' "$@" | awk '{s += $1; n++} END {printf "%.2f", s / n}'; }
et=$(mean "${e_ttft[@]}") lt=$(mean "${l_ttft[@]}") ep=$(mean "${e_tile[@]}") lp=$(mean "${l_tile[@]}")
echo "| $(basename "$model") | llama.cpp | edgerun | ratio |"
echo "|---|---|---|---|"
echo "| time to first token (s) | $lt | $et | $(echo "$lt / $et" | bc -l | xargs printf '%.2f')× |"
echo "| vision tower per tile (ms) | $lp | $ep | $(echo "$lp / $ep" | bc -l | xargs printf '%.2f')× |"
