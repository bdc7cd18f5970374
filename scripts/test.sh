#!/usr/bin/env bash
# One command for the test suite: install dependencies, build, run every test (golden model,
# tokenizer and format tests read ../shared/golden), then the parser tests under ASan+UBSan,
# then the quantized-kernel tests cross-built for aarch64 under qemu-user.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$root/scripts/install-deps.sh"
bash "$root/scripts/build.sh"
jobs="$(nproc)"
(cd "$root/build" && ctest --output-on-failure -j "$jobs")
bash "$root/tests/sanitize.sh"
# The quantized kernels' NEON paths, cross-compiled for aarch64 and run under qemu-user.
bash "$root/scripts/test-arm.sh"
