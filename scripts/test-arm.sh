#!/usr/bin/env bash
# Cross-compiles the quantized-kernel tests (edgerun_kernel_tests) for aarch64 twice, for plain
# ARMv8.0 NEON and for ARMv8.2 with the dot-product extension, and runs them under qemu-user
# (the v8.0 build on an emulated Cortex-A53, which has no SDOT, so a stray dotprod instruction
# would fault). Installs the cross toolchain, qemu and arm64 -dev packages on first use.
# Usage: scripts/test-arm.sh [gtest args, e.g. --gtest_filter=QuantFormat.*]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)

need=()
command -v aarch64-linux-gnu-g++ >/dev/null || need+=(g++-aarch64-linux-gnu)
command -v qemu-aarch64 >/dev/null || need+=(qemu-user)
[ -f /usr/lib/aarch64-linux-gnu/libgtest.a ] || need+=(libgtest-dev:arm64)
[ -f /usr/lib/aarch64-linux-gnu/pkgconfig/libpcre2-8.pc ] || need+=(libpcre2-dev:arm64)
[ -f /usr/lib/aarch64-linux-gnu/pkgconfig/libutf8proc.pc ] || need+=(libutf8proc-dev:arm64)
[ -d /usr/share/cmake/nlohmann_json ] || [ -d /usr/lib/cmake/nlohmann_json ] || need+=(nlohmann-json3-dev)
command -v ninja >/dev/null || need+=(ninja-build)
if [ ${#need[@]} -gt 0 ]; then
  SUDO=$([ "$(id -u)" = 0 ] && echo "" || echo sudo)
  $SUDO dpkg --add-architecture arm64
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}"
fi

# qemu-user 7.2 hangs in pthread_create in this sandbox, so the emulated runs are single-threaded
# (the threading code is architecture-independent and covered by the native tests).
export EDGERUN_TEST_THREADS=1

for arch in armv8-a armv8.2-a+dotprod; do
  dir="$root/build-arm-${arch//+/-}"
  cpu=$([ "$arch" = armv8-a ] && echo cortex-a53 || echo max)
  echo "== aarch64 $arch (qemu -cpu $cpu)"
  start=$(date +%s)
  cmake -S "$root" -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=Release \
    -DCMAKE_TOOLCHAIN_FILE="$root/cmake/aarch64-toolchain.cmake" -DEDGERUN_ARM_ARCH="$arch" >/dev/null
  ninja -C "$dir" edgerun_kernel_tests
  built=$(date +%s)
  qemu-aarch64 -L /usr/aarch64-linux-gnu -cpu "$cpu" "$dir/edgerun_kernel_tests" "$@"
  echo "== $arch: build $((built - start)) s, tests $(( $(date +%s) - built )) s"
done
