#include "kernels/matmul.h"

#include <algorithm>
#include <vector>

#include "core/error.h"
#include "kernels/simd.h"

namespace edgerun {

namespace {

// Sixteen independent partial sums let the compiler keep one vector register of lanes and
// vectorise without reassociating a single accumulator.
constexpr int kLanes = 16;

template <typename Load>
inline float dot_lanes(const float* x, int64_t n, Load load) {
  float acc[kLanes] = {};
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes)
    for (int j = 0; j < kLanes; ++j) acc[j] += load(i + j) * x[i + j];
  float tail = 0;
  for (; i < n; ++i) tail += load(i) * x[i];
  float s = 0;
  for (int j = 0; j < kLanes; ++j) s += acc[j];
  return s + tail;
}

EDGERUN_MULTIVERSION
float dot_bf16(const uint16_t* w, const float* x, int64_t n) {
  return dot_lanes(x, n, [w](int64_t i) { return bf16_to_f32(w[i]); });
}

EDGERUN_MULTIVERSION
float dot_f16(const uint16_t* w, const float* x, int64_t n) {
  return dot_lanes(x, n, [w](int64_t i) { return f16_to_f32(w[i]); });
}

EDGERUN_MULTIVERSION
float dot_f32_impl(const float* w, const float* x, int64_t n) {
  return dot_lanes(x, n, [w](int64_t i) { return w[i]; });
}

// Four tokens against one F32 weight row: each weight element is loaded once for 4 outputs.
EDGERUN_MULTIVERSION
void dot4_f32(const float* w, const float* x0, const float* x1, const float* x2, const float* x3,
              int64_t n, float* out) {
  float a0[kLanes] = {}, a1[kLanes] = {}, a2[kLanes] = {}, a3[kLanes] = {};
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes)
    for (int j = 0; j < kLanes; ++j) {
      const float wv = w[i + j];
      a0[j] += wv * x0[i + j];
      a1[j] += wv * x1[i + j];
      a2[j] += wv * x2[i + j];
      a3[j] += wv * x3[i + j];
    }
  float s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  for (; i < n; ++i) {
    s0 += w[i] * x0[i];
    s1 += w[i] * x1[i];
    s2 += w[i] * x2[i];
    s3 += w[i] * x3[i];
  }
  for (int j = 0; j < kLanes; ++j) {
    s0 += a0[j];
    s1 += a1[j];
    s2 += a2[j];
    s3 += a3[j];
  }
  out[0] = s0;
  out[1] = s1;
  out[2] = s2;
  out[3] = s3;
}

EDGERUN_MULTIVERSION
void bf16_row_to_f32(const uint16_t* src, float* dst, int64_t n) {
  for (int64_t i = 0; i < n; ++i) dst[i] = bf16_to_f32(src[i]);
}

void check_weight(const Tensor& w) {
  if (w.shape.size() != 2) fail(w.name, "expected a 2-D weight, got shape " + w.shape_string());
  if (w.dtype != DType::F32 && w.dtype != DType::F16 && w.dtype != DType::BF16)
    fail(w.name, std::string("matmul does not support weight type ") + dtype_name(w.dtype));
}

}  // namespace

void to_f32(DType type, const void* src, float* dst, int64_t n) {
  switch (type) {
    case DType::F32: std::copy_n(static_cast<const float*>(src), n, dst); return;
    case DType::BF16: bf16_row_to_f32(static_cast<const uint16_t*>(src), dst, n); return;
    case DType::F16: {
      const auto* h = static_cast<const uint16_t*>(src);
      for (int64_t i = 0; i < n; ++i) dst[i] = f16_to_f32(h[i]);
      return;
    }
    default: fail("to_f32", std::string("unsupported type ") + dtype_name(type));
  }
}

void tensor_row_to_f32(const Tensor& t, int64_t row, float* dst) {
  const int64_t cols = t.shape.back();
  to_f32(t.dtype, t.data + size_t(row) * t.row_bytes(), dst, cols);
}

float dot_f32(const float* a, const float* b, int64_t n) { return dot_f32_impl(a, b, n); }

float dot_row(DType type, const void* row, const float* x, int64_t n) {
  switch (type) {
    case DType::F32: return dot_f32_impl(static_cast<const float*>(row), x, n);
    case DType::BF16: return dot_bf16(static_cast<const uint16_t*>(row), x, n);
    case DType::F16: return dot_f16(static_cast<const uint16_t*>(row), x, n);
    default: fail("dot_row", std::string("unsupported type ") + dtype_name(type));
  }
}

void matmul(const float* x, int64_t n, const Tensor& w, float* y, ThreadPool& pool) {
  check_weight(w);
  const int64_t out = w.shape[0], in = w.shape[1];
  const size_t row_bytes = w.row_bytes();
  if (n == 1) {  // decode: stream every weight row exactly once
    pool.parallel_for(out, [&](int64_t r0, int64_t r1, int) {
      for (int64_t r = r0; r < r1; ++r) y[r] = dot_row(w.dtype, w.data + r * row_bytes, x, in);
    }, 16);
    return;
  }
  // Prefill: convert each weight row to F32 once and reuse it for every token, 4 at a time.
  pool.parallel_for(out, [&](int64_t r0, int64_t r1, int) {
    std::vector<float> wrow(w.dtype == DType::F32 ? 0 : size_t(in));
    float d4[4];
    for (int64_t r = r0; r < r1; ++r) {
      const float* wr = reinterpret_cast<const float*>(w.data + r * row_bytes);
      if (w.dtype != DType::F32) {
        to_f32(w.dtype, w.data + r * row_bytes, wrow.data(), in);
        wr = wrow.data();
      }
      int64_t t = 0;
      for (; t + 4 <= n; t += 4) {
        dot4_f32(wr, x + t * in, x + (t + 1) * in, x + (t + 2) * in, x + (t + 3) * in, in, d4);
        for (int k = 0; k < 4; ++k) y[(t + k) * out + r] = d4[k];
      }
      for (; t < n; ++t) y[t * out + r] = dot_f32_impl(wr, x + t * in, in);
    }
  }, 16);
}

void matmul_ref(const float* x, int64_t n, const Tensor& w, float* y) {
  check_weight(w);
  const int64_t out = w.shape[0], in = w.shape[1];
  std::vector<float> row(static_cast<size_t>(in));
  for (int64_t r = 0; r < out; ++r) {
    tensor_row_to_f32(w, r, row.data());
    for (int64_t t = 0; t < n; ++t) {
      double s = 0;
      for (int64_t i = 0; i < in; ++i) s += double(row[i]) * x[t * in + i];
      y[t * out + r] = float(s);
    }
  }
}

}  // namespace edgerun
