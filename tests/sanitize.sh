#!/usr/bin/env bash
# Builds the test suite with AddressSanitizer + UndefinedBehaviorSanitizer (Debug) and runs the
# parser tests under it: every bad-input, truncation and mutation-fuzz test of the GGUF,
# safetensors and PyTorch checkpoint readers, the tokenizer's bad-input tests, and the image
# decoders (stb compiled into the instrumented build) with their damaged-file fuzz test, the video reader
# (FFmpeg) with its damaged-clip fuzz test, and the mmproj reader. Exits non-zero on any failure or
# sanitizer report. Runs from any directory.
#   tests/sanitize.sh                 # default filter
#   tests/sanitize.sh 'Gguf*'         # another gtest filter
# Env: EDGERUN_ASAN_BUILD (build dir, default <repo>/build-asan), EDGERUN_JOBS (default 2).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(dirname "$here")"
build="${EDGERUN_ASAN_BUILD:-$root/build-asan}"
filter="${1:-Gguf*:Safetensors*:Pytorch*:Tokenizer*Bad*:ImageIo*:SamDecoder.Bad*:SegmentReply*:Video*:SmolVlmGolden.Mmproj*}"
jobs="${EDGERUN_JOBS:-2}"

generator=()
if [[ ! -f "$build/CMakeCache.txt" ]] && command -v ninja >/dev/null; then
  generator=(-G Ninja)  # only when configuring fresh: cmake refuses a generator change
fi
cmake -S "$root" -B "$build" "${generator[@]}" -DEDGERUN_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug
cmake --build "$build" --target edgerun_tests -j "$jobs"

# Any report is fatal: ASan aborts by itself, UBSan is built with -fno-sanitize-recover.
export ASAN_OPTIONS="${ASAN_OPTIONS:-abort_on_error=1:detect_leaks=1:strict_string_checks=1:check_initialization_order=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
cd "$build"
./edgerun_tests --gtest_filter="$filter"
echo "sanitize.sh: '$filter' passed under ASan+UBSan"
