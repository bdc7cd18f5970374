// Element-wise and row-wise operations of the decoder: norms, activations, softmax.
#pragma once
#include <cstdint>

namespace edgerun {

// y = w ⊙ x / sqrt(mean(x²) + eps), one row of length n (statistics in f32, as HF computes them).
void rmsnorm(const float* x, const float* w, float eps, int64_t n, float* y);

// gate[i] = silu(gate[i]) * up[i]  (SwiGLU).
void silu_mul(float* gate, const float* up, int64_t n);

// In-place softmax of x[0..n): subtract max, exp, normalise.
void softmax(float* x, int64_t n);
// softmax of the first n values of each of `rows` rows `stride` apart (stride < 0: n, i.e.
// consecutive rows), several rows in flight at once.
void softmax_rows(float* x, int64_t rows, int64_t n, int64_t stride = -1);
// The portable loop softmax's SIMD paths are tested against.
void softmax_portable(float* x, int64_t n);
// A softmax over each of `groups` consecutive runs of n values, the exps computed across runs
// (for many short rows: SAM's image-to-token attention has a handful of tokens per head).
void softmax_groups(float* x, int64_t groups, int64_t n);

// y += x
void add_inplace(float* y, const float* x, int64_t n);

// x *= factor
void scale_inplace(float* x, float factor, int64_t n);

}  // namespace edgerun
