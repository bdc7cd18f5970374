// Deterministic random data for kernel tests and benchmarks, and F32 tensor views of it.
#pragma once
#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "core/tensor.h"

namespace edgerun::test {

// n values from N(0, scale²), the same for the same seed.
inline std::vector<float> gaussian(size_t n, uint32_t seed, float scale = 1.0f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> d(0.0f, scale);
  std::vector<float> v(n);
  for (float& x : v) x = d(rng);
  return v;
}

// An F32 tensor viewing v (which must outlive it).
inline Tensor f32_tensor(const std::vector<float>& v, std::vector<int64_t> shape, const char* name = "w") {
  Tensor t;
  t.name = name;
  t.dtype = DType::F32;
  t.shape = std::move(shape);
  t.data = reinterpret_cast<const uint8_t*>(v.data());
  t.nbytes = v.size() * sizeof(float);
  return t;
}

// Threads for kernel tests: 2, or EDGERUN_TEST_THREADS (scripts/test-arm.sh sets 1: qemu-user
// cannot create threads in some sandboxes).
inline int max_threads() {
  const char* env = std::getenv("EDGERUN_TEST_THREADS");
  return env ? std::max(1, std::atoi(env)) : 2;
}

}  // namespace edgerun::test
