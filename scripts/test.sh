#!/usr/bin/env bash
# One command for the test suite: install dependencies, build, run every test (golden model,
# tokenizer and format tests read ../shared/golden), then the parser tests under ASan+UBSan.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$root/scripts/install-deps.sh"
bash "$root/scripts/build.sh"
jobs="$(nproc)"
(cd "$root/build" && ctest --output-on-failure -j "$jobs")
bash "$root/tests/sanitize.sh"
