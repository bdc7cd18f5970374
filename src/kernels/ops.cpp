#include "kernels/ops.h"

#include <algorithm>
#include <cmath>

#include "kernels/fast_math.h"
#include "kernels/simd.h"

#if defined(__x86_64__)
#include <immintrin.h>
#endif

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

void softmax_portable(float* x, int64_t n) {
  float mx = x[0];
  for (int64_t i = 1; i < n; ++i) mx = x[i] > mx ? x[i] : mx;
  double sum = 0;
  for (int64_t i = 0; i < n; ++i) sum += (x[i] = exp_approx(x[i] - mx));
  const float inv = float(1.0 / sum);
  for (int64_t j = 0; j < n; ++j) x[j] *= inv;
}

EDGERUN_MULTIVERSION
void softmax_groups(float* x, int64_t groups, int64_t n) {
  for (int64_t g = 0; g < groups; ++g) {
    float* r = x + g * n;
    float mx = r[0];
    for (int64_t i = 1; i < n; ++i) mx = r[i] > mx ? r[i] : mx;
    for (int64_t i = 0; i < n; ++i) r[i] -= mx;
  }
  for (int64_t i = 0; i < groups * n; ++i) x[i] = exp_approx(x[i]);
  for (int64_t g = 0; g < groups; ++g) {
    float* r = x + g * n;
    float sum = 0.0f;  // short runs: float loses nothing measurable
    for (int64_t i = 0; i < n; ++i) sum += r[i];
    const float inv = 1.0f / sum;
    for (int64_t i = 0; i < n; ++i) r[i] *= inv;
  }
}

namespace {

#if defined(__x86_64__)
// R rows of n values, rows `stride` apart, at once: a row of a few dozen values is mostly the
// latency of its two reductions and its exps, which R independent rows overlap.
template <int R>
__attribute__((target("avx512f"))) void softmax_avx512(float* x, int64_t stride, int64_t n) {
  const auto mask_of = [](int64_t left) { return left >= 16 ? __mmask16(0xffff) : __mmask16((1u << left) - 1); };
  __m512 mx[R], m[R], sum[R], inv[R];
  for (int r = 0; r < R; ++r) mx[r] = _mm512_set1_ps(-INFINITY);
  for (int64_t i = 0; i < n; i += 16)
    for (int r = 0; r < R; ++r) mx[r] = _mm512_max_ps(mx[r], _mm512_mask_loadu_ps(mx[r], mask_of(n - i), x + r * stride + i));
  for (int r = 0; r < R; ++r) {
    m[r] = _mm512_set1_ps(_mm512_reduce_max_ps(mx[r]));
    sum[r] = _mm512_setzero_ps();
  }
  for (int64_t i = 0; i < n; i += 16) {
    const __mmask16 k = mask_of(n - i);
    for (int r = 0; r < R; ++r) {
      float* p = x + r * stride + i;
      const __m512 e = exp_approx16(_mm512_sub_ps(_mm512_maskz_loadu_ps(k, p), m[r]));
      _mm512_mask_storeu_ps(p, k, e);
      sum[r] = _mm512_add_ps(sum[r], _mm512_maskz_mov_ps(k, e));
    }
  }
  for (int r = 0; r < R; ++r) inv[r] = _mm512_set1_ps(1.0f / _mm512_reduce_add_ps(sum[r]));
  for (int64_t i = 0; i < n; i += 16) {
    const __mmask16 k = mask_of(n - i);
    for (int r = 0; r < R; ++r) {
      float* p = x + r * stride + i;
      _mm512_mask_storeu_ps(p, k, _mm512_mul_ps(_mm512_maskz_loadu_ps(k, p), inv[r]));
    }
  }
}
#endif

}  // namespace

void softmax(float* x, int64_t n) {
  if (n <= 0) return;
#if defined(__x86_64__)
  static const bool avx512 = __builtin_cpu_supports("avx512f");
  if (avx512) return softmax_avx512<1>(x, n, n);
#endif
  softmax_portable(x, n);
}

void softmax_rows(float* x, int64_t rows, int64_t n, int64_t stride) {
  if (n <= 0) return;
  if (stride < 0) stride = n;
#if defined(__x86_64__)
  static const bool avx512 = __builtin_cpu_supports("avx512f");
  if (avx512) {
    int64_t r = 0;
    for (; r + 4 <= rows; r += 4) softmax_avx512<4>(x + r * stride, stride, n);
    for (; r < rows; ++r) softmax_avx512<1>(x + r * stride, stride, n);
    return;
  }
#endif
  for (int64_t r = 0; r < rows; ++r) softmax_portable(x + r * stride, n);
}

EDGERUN_MULTIVERSION
void add_inplace(float* y, const float* x, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] += x[i];
}

void scale_inplace(float* x, float factor, int64_t n) {
  for (int64_t i = 0; i < n; ++i) x[i] *= factor;
}

}  // namespace edgerun
