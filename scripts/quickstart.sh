#!/usr/bin/env bash
# One command for a newcomer: install dependencies, build, and generate a story with the
# built-in stories260K model.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$root/scripts/install-deps.sh"
bash "$root/scripts/build.sh"
"$root/build/edgerun" run "$@"
