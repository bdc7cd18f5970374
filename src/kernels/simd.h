// Runtime dispatch for hot loops: GCC builds one clone per listed x86 target and picks the best
// at load time (ifunc), so one binary runs on any x86-64 and uses AVX2/AVX-512 where present.
// Other architectures get the plain function (NEON is baseline on aarch64).
#pragma once

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(__SANITIZE_ADDRESS__)
#define EDGERUN_MULTIVERSION __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define EDGERUN_MULTIVERSION
#endif
