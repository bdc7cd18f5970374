#!/usr/bin/env bash
# Installs what edgerun needs to build and test on Debian 12 (bookworm). Safe to re-run.
set -euo pipefail
packages=(
  build-essential cmake ninja-build pkg-config git   # toolchain
  nlohmann-json3-dev      # config.json / tokenizer.json / safetensors headers
  libpcre2-dev            # Unicode regex for tokenizer pre-splitting, as tokenizer.json specifies it
  libutf8proc-dev         # Unicode normalisation (NFC/NFKC) for tokenizers
  libcli11-dev            # command-line parsing
  libcpp-httplib-dev      # HTTP server for `edgerun serve`
  libstb-dev              # image decoding (PNG, JPEG, ...) and PNG writing for the vision models
  libavformat-dev libavcodec-dev libavutil-dev libswscale-dev  # FFmpeg: video decoding for SmolVLM2
  libgtest-dev libgmock-dev  # tests
  chromium                # the segmentation web page's browser test (driven by playwright-core)
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all packages present"
else
  echo "install-deps: installing ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
# The OpenAI client and playwright-core the server tests use (tests/server), pinned by package-lock.json.
if command -v npm >/dev/null; then
  (cd "$(dirname "$0")/../tests/server" && npm ci --no-audit --no-fund --prefer-offline >/dev/null) \
    && echo "install-deps: tests/server/node_modules ready" \
    || echo "install-deps: npm ci failed; the server_openai_client test will retry it" >&2
else
  echo "install-deps: npm not found; the server_openai_client test is skipped" >&2
fi
