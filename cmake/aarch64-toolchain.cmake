# Cross-compiling for 64-bit ARM Linux with Debian's g++-aarch64-linux-gnu; target libraries come
# from Debian multiarch (apt-get install libfoo-dev:arm64), found through the aarch64 library
# directory that CMake derives from the compiler. Binaries run on x86 under qemu-user:
#   cmake -S . -B build-arm -G Ninja -DCMAKE_TOOLCHAIN_FILE=cmake/aarch64-toolchain.cmake \
#         -DEDGERUN_ARM_ARCH=armv8.2-a+dotprod      (or armv8-a for plain NEON)
# scripts/test-arm.sh does all of it.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(CMAKE_C_COMPILER aarch64-linux-gnu-gcc)
set(CMAKE_CXX_COMPILER aarch64-linux-gnu-g++)
set(CMAKE_ASM_COMPILER aarch64-linux-gnu-gcc)

if(NOT EDGERUN_ARM_ARCH)
  set(EDGERUN_ARM_ARCH armv8.2-a+dotprod)
endif()
list(APPEND CMAKE_TRY_COMPILE_PLATFORM_VARIABLES EDGERUN_ARM_ARCH)
set(CMAKE_C_FLAGS_INIT "-march=${EDGERUN_ARM_ARCH}")
set(CMAKE_CXX_FLAGS_INIT "-march=${EDGERUN_ARM_ARCH}")

# Never pick up host (x86) libraries or pkg-config files.
set(CMAKE_FIND_ROOT_PATH /usr/aarch64-linux-gnu)
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_IGNORE_PATH /usr/lib/x86_64-linux-gnu /lib/x86_64-linux-gnu)
set(ENV{PKG_CONFIG_LIBDIR} /usr/lib/aarch64-linux-gnu/pkgconfig:/usr/share/pkgconfig)
set(ENV{PKG_CONFIG_PATH} "")

set(CMAKE_CROSSCOMPILING_EMULATOR qemu-aarch64 -L /usr/aarch64-linux-gnu)
