// y = x · Wᵀ for a Linear weight W [out, in] stored as F32, F16 or BF16 (read in place from the
// mapped file), x [n, in] and y [n, out] in F32. Work is split over output rows across the pool.
#pragma once
#include <cstdint>
#include <initializer_list>

#include "core/tensor.h"
#include "core/thread_pool.h"

namespace edgerun {

void matmul(const float* x, int64_t n, const Tensor& w, float* y, ThreadPool& pool);

// Several weights applied to the same input (q/k/v, gate/up): y_i = x · W_iᵀ. For quantized
// weights of one type the input is quantized once, and a decode step runs all of them as one
// parallel region instead of one per weight.
struct MatmulTarget {
  const Tensor* w;
  float* y;
};
void matmul_shared_input(const float* x, int64_t n, std::initializer_list<MatmulTarget> targets, ThreadPool& pool);

// Plain reference (one row at a time, f64 accumulation) used by the tests.
void matmul_ref(const float* x, int64_t n, const Tensor& w, float* y);

// Row `row` of a 2-D tensor converted to F32 (embedding lookup). dst has shape.back() floats.
void tensor_row_to_f32(const Tensor& t, int64_t row, float* dst);

// Converts `n` elements of a plain-typed buffer to F32.
void to_f32(DType type, const void* src, float* dst, int64_t n);

// Dot products of an F32 vector with a row stored in `type` (the decode hot loop).
float dot_f32(const float* a, const float* b, int64_t n);
float dot_row(DType type, const void* row, const float* x, int64_t n);

}  // namespace edgerun
