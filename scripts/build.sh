#!/usr/bin/env bash
# Configures and builds edgerun (Release) into build/. Extra arguments go to cmake.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cmake -S "$root" -B "$root/build" -G Ninja -DCMAKE_BUILD_TYPE=Release "$@" > /dev/null
ninja -C "$root/build"
