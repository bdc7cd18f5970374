#include "kernels/ops.h"

#include <algorithm>
#include <cmath>

#include "kernels/fast_math.h"
#include "kernels/simd.h"

namespace edgerun {

EDGERUN_MULTIVERSION
void rmsnorm(const float* x, const float* w, float eps, int64_t n, float* y) {
  double ss = 0;  // double: the sum of squares of a long row must not lose low bits
  for (int64_t i = 0; i < n; ++i) ss += double(x[i]) * x[i];
  const float scale = 1.0f / std::sqrt(float(ss / double(n)) + eps);
  for (int64_t i = 0; i < n; ++i) y[i] = w[i] * (x[i] * scale);
}

void silu_mul(float* gate, const float* up, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    const float g = gate[i];
    gate[i] = g / (1.0f + std::exp(-g)) * up[i];
  }
}

EDGERUN_MULTIVERSION
void softmax(float* x, int64_t n) {
  if (n <= 0) return;
  float mx = x[0];
  for (int64_t i = 1; i < n; ++i) mx = x[i] > mx ? x[i] : mx;
  constexpr int kLanes = 16;  // independent partial sums: the loop vectorises
  float lanes[kLanes] = {};
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes)
    for (int j = 0; j < kLanes; ++j) lanes[j] += (x[i + j] = exp_approx(x[i + j] - mx));
  double sum = 0;
  for (; i < n; ++i) sum += (x[i] = exp_approx(x[i] - mx));
  for (float l : lanes) sum += l;
  const float inv = float(1.0 / sum);
  for (int64_t j = 0; j < n; ++j) x[j] *= inv;
}

EDGERUN_MULTIVERSION
void add_inplace(float* y, const float* x, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] += x[i];
}

void scale_inplace(float* x, float factor, int64_t n) {
  for (int64_t i = 0; i < n; ++i) x[i] *= factor;
}

}  // namespace edgerun
