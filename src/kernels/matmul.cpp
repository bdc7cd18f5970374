#include "kernels/matmul.h"

#include <algorithm>
#include <cstring>
#include <vector>

#include "core/error.h"
#include "core/quant.h"
#include "kernels/gemm.h"
#include "kernels/quant_kernels.h"
#include "kernels/simd.h"

#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace edgerun {

namespace {

// Sixteen independent partial sums let the compiler keep one vector register of lanes and
// vectorise without reassociating a single accumulator.
constexpr int kLanes = 16;

// With StreamBytes > 0 (bytes per weight element), `stream` is prefetched ~8 KiB ahead into L2:
// one core's streaming bandwidth is limited by the misses it keeps in flight.
template <int Lanes = kLanes, int StreamBytes = 0, typename Load>
inline float dot_lanes(const float* x, int64_t n, Load load, const void* stream = nullptr) {
  float acc[Lanes] = {};
  int64_t i = 0;
  for (; i + Lanes <= n; i += Lanes) {
    if constexpr (StreamBytes > 0)
      for (int o = 0; o < Lanes * StreamBytes; o += 64)
        __builtin_prefetch(static_cast<const char*>(stream) + i * StreamBytes + o + 8192, 0, 2);
    for (int j = 0; j < Lanes; ++j) acc[j] += load(i + j) * x[i + j];
  }
  float tail = 0;
  for (; i < n; ++i) tail += load(i) * x[i];
  float s = 0;
  for (int j = 0; j < Lanes; ++j) s += acc[j];
  return s + tail;
}

// Branch-free f16 -> f32 that vectorises: shifting the exponent/mantissa into place and scaling
// by 2^112 rebiases normals and subnormals alike; Inf/NaN keep an all-ones exponent.
inline float f16_to_f32_fast(uint16_t h) {
  const uint32_t em = uint32_t(h & 0x7fff) << 13, sign = uint32_t(h & 0x8000) << 16;
  float f;
  std::memcpy(&f, &em, 4);
  f *= 0x1p112f;
  uint32_t bits;
  std::memcpy(&bits, &f, 4);
  bits = (em >= (0x7c00u << 13) ? em | 0x7f800000u : bits) | sign;
  std::memcpy(&f, &bits, 4);
  return f;
}

// Weight rows stream from memory: 64 lanes (several vector accumulators) keep enough loads in
// flight and hide the FMA latency.
constexpr int kWeightLanes = 64;

EDGERUN_MULTIVERSION
float dot_bf16(const uint16_t* w, const float* x, int64_t n) {
  return dot_lanes<kWeightLanes, 2>(x, n, [w](int64_t i) { return bf16_to_f32(w[i]); }, w);
}

EDGERUN_MULTIVERSION
float dot_f16(const uint16_t* w, const float* x, int64_t n) {
  return dot_lanes<kWeightLanes, 2>(x, n, [w](int64_t i) { return f16_to_f32_fast(w[i]); }, w);
}

// FP8 rows are a quarter of F32: the bandwidth win of shipping FP8 weights, decoded in registers.
EDGERUN_MULTIVERSION
float dot_f8_e4m3(const uint8_t* w, const float* x, int64_t n) {
  return dot_lanes<kWeightLanes, 1>(x, n, [w](int64_t i) { return f8_e4m3_to_f32(w[i]); }, w);
}

EDGERUN_MULTIVERSION
float dot_f32_impl(const float* w, const float* x, int64_t n) {
  return dot_lanes(x, n, [w](int64_t i) { return w[i]; });
}

void f16_row_to_f32_ref(const uint16_t* src, float* dst, int64_t n) {
  for (int64_t i = 0; i < n; ++i) dst[i] = f16_to_f32_fast(src[i]);
}

float dot_f32_lanes(const float* w, const float* x, int64_t n) { return dot_f32_impl(w, x, n); }

#if defined(__x86_64__)
// GCC does not vectorise half->float conversion loops, so x86 gets the hardware instruction
// (vcvtph2ps) explicitly, and dot_f32 a two-accumulator AVX-512 loop with a masked tail (the
// generic version's 16-lane scalar reduction dominated 128-element attention dots).
__attribute__((target("avx512f")))
void f16_row_to_f32_avx512(const uint16_t* src, float* dst, int64_t n) {
  int64_t i = 0;
  for (; i + 16 <= n; i += 16)
    _mm512_storeu_ps(dst + i, _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(src + i))));
  for (; i < n; ++i) dst[i] = f16_to_f32_fast(src[i]);
}

__attribute__((target("avx2,f16c")))
void f16_row_to_f32_f16c(const uint16_t* src, float* dst, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(src + i))));
  for (; i < n; ++i) dst[i] = f16_to_f32_fast(src[i]);
}

__attribute__((target("avx512f")))
float dot_f32_avx512(const float* a, const float* b, int64_t n) {
  __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
  int64_t i = 0;
  for (; i + 32 <= n; i += 32) {
    acc0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), acc0);
    acc1 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + 16), _mm512_loadu_ps(b + i + 16), acc1);
  }
  for (; i < n; i += 16) {
    const __mmask16 m = n - i >= 16 ? __mmask16(0xffff) : __mmask16((1u << (n - i)) - 1);
    acc0 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, a + i), _mm512_maskz_loadu_ps(m, b + i), acc0);
  }
  return _mm512_reduce_add_ps(_mm512_add_ps(acc0, acc1));
}
#endif

using F16RowFn = void (*)(const uint16_t*, float*, int64_t);
using DotFn = float (*)(const float*, const float*, int64_t);

F16RowFn pick_f16_row() {
#if defined(__x86_64__)
  if (__builtin_cpu_supports("avx512f")) return f16_row_to_f32_avx512;
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("f16c")) return f16_row_to_f32_f16c;
#endif
  return f16_row_to_f32_ref;
}

DotFn pick_dot() {
#if defined(__x86_64__)
  if (__builtin_cpu_supports("avx512f")) return dot_f32_avx512;
#endif
  return dot_f32_lanes;
}

void f16_row_to_f32(const uint16_t* src, float* dst, int64_t n) {
  static const F16RowFn fn = pick_f16_row();
  fn(src, dst, n);
}

EDGERUN_MULTIVERSION
void bf16_row_to_f32(const uint16_t* src, float* dst, int64_t n) {
  for (int64_t i = 0; i < n; ++i) dst[i] = bf16_to_f32(src[i]);
}

EDGERUN_MULTIVERSION
void f8_e4m3_row_to_f32(const uint8_t* src, float* dst, int64_t n) {
  for (int64_t i = 0; i < n; ++i) dst[i] = f8_e4m3_to_f32(src[i]);
}

bool is_quant(DType t) { return t == DType::Q8_0 || t == DType::Q4_0 || t == DType::Q4_K || t == DType::Q6_K; }

void check_weight(const Tensor& w) {
  if (w.shape.size() != 2) fail(w.name, "expected a 2-D weight, got shape " + w.shape_string());
  if (w.dtype != DType::F32 && w.dtype != DType::F16 && w.dtype != DType::BF16 && w.dtype != DType::F8_E4M3 &&
      !is_quant(w.dtype))
    fail(w.name, std::string("matmul does not support weight type ") + dtype_name(w.dtype));
  if (is_quant(w.dtype) && w.scale != 1.0f) fail(w.name, "block-quantized weights carry their own scales");
  if (is_quant(w.dtype) && (dtype_row_bytes(w.dtype, w.shape[1]) == 0 || w.nbytes < size_t(w.shape[0]) * w.row_bytes()))
    fail(w.name, std::string("bad ") + dtype_name(w.dtype) + " shape " + w.shape_string());
}

}  // namespace

void to_f32(DType type, const void* src, float* dst, int64_t n) {
  switch (type) {
    case DType::F32: std::copy_n(static_cast<const float*>(src), n, dst); return;
    case DType::BF16: bf16_row_to_f32(static_cast<const uint16_t*>(src), dst, n); return;
    case DType::F16: f16_row_to_f32(static_cast<const uint16_t*>(src), dst, n); return;
    case DType::F8_E4M3: f8_e4m3_row_to_f32(static_cast<const uint8_t*>(src), dst, n); return;
    default:
      if (is_quant(type)) return dequantize_row(type, src, dst, n);
      fail("to_f32", std::string("unsupported type ") + dtype_name(type));
  }
}

void tensor_row_to_f32(const Tensor& t, int64_t row, float* dst) {
  const int64_t cols = t.shape.back();
  to_f32(t.dtype, t.data + size_t(row) * t.row_bytes(), dst, cols);
  if (t.scale != 1.0f)
    for (int64_t i = 0; i < cols; ++i) dst[i] *= t.scale;
}

float dot_f32(const float* a, const float* b, int64_t n) {
  static const DotFn fn = pick_dot();
  return fn(a, b, n);
}

float dot_row(DType type, const void* row, const float* x, int64_t n) {
  switch (type) {
    case DType::F32: return dot_f32_impl(static_cast<const float*>(row), x, n);
    case DType::BF16: return dot_bf16(static_cast<const uint16_t*>(row), x, n);
    case DType::F16: return dot_f16(static_cast<const uint16_t*>(row), x, n);
    case DType::F8_E4M3: return dot_f8_e4m3(static_cast<const uint8_t*>(row), x, n);
    default:
      if (is_quant(type)) {  // not a hot path: the quantized matmul has its own kernels
        std::vector<float> tmp(static_cast<size_t>(n));
        dequantize_row(type, row, tmp.data(), n);
        return dot_f32_impl(tmp.data(), x, n);
      }
      fail("dot_row", std::string("unsupported type ") + dtype_name(type));
  }
}

void matmul(const float* x, int64_t n, const Tensor& w, float* y, ThreadPool& pool) {
  check_weight(w);
  const int64_t out = w.shape[0], in = w.shape[1];
  const size_t row_bytes = w.row_bytes();
  if (is_quant(w.dtype)) {
    thread_local QuantizedActs acts;
    quantize_acts(x, n, in, w.dtype, acts, pool);
    matmul_quantized(acts, QuantWeights{w.dtype, w.data, row_bytes, out, in}, y, pool);
    return;
  }
  if (n == 1) {  // decode: stream every weight row exactly once
    pool.parallel_for(out, [&](int64_t r0, int64_t r1, int) {
      for (int64_t r = r0; r < r1; ++r) y[r] = dot_row(w.dtype, w.data + r * row_bytes, x, in) * w.scale;
    }, 16);
    return;
  }
  if (n >= kGemmMinRows) return gemm_f32(x, n, w, y, pool);  // prefill, vision: blocked GEMM
  // A few rows: convert each weight row to F32 once (scale included) and reuse it for every token.
  const bool convert = w.dtype != DType::F32 || w.scale != 1.0f;
  pool.parallel_for(out, [&](int64_t r0, int64_t r1, int) {
    std::vector<float> wrow(convert ? size_t(in) : 0);
    for (int64_t r = r0; r < r1; ++r) {
      const float* wr = reinterpret_cast<const float*>(w.data + r * row_bytes);
      if (convert) {
        tensor_row_to_f32(w, r, wrow.data());
        wr = wrow.data();
      }
      for (int64_t t = 0; t < n; ++t) y[t * out + r] = dot_f32_impl(wr, x + t * in, in);
    }
  }, 16);
}

void matmul_shared_input(const float* x, int64_t n, std::initializer_list<MatmulTarget> targets, ThreadPool& pool) {
  const MatmulTarget* first = targets.begin();
  bool same_quant = is_quant(first->w->dtype);
  for (const MatmulTarget& t : targets) {
    check_weight(*t.w);
    same_quant = same_quant && t.w->dtype == first->w->dtype && t.w->shape[1] == first->w->shape[1];
  }
  if (!same_quant) {
    for (const MatmulTarget& t : targets) matmul(x, n, *t.w, t.y, pool);
    return;
  }
  // A thread_local is not captured by the lambda below (each worker would see its own), so the
  // workers are handed a plain reference to the caller's.
  thread_local QuantizedActs caller_acts;
  QuantizedActs& acts = caller_acts;
  const int64_t in = first->w->shape[1];
  quantize_acts(x, n, in, first->w->dtype, acts, pool);
  auto weights_of = [&](const MatmulTarget& t) {
    return QuantWeights{t.w->dtype, t.w->data, t.w->row_bytes(), t.w->shape[0], in};
  };
  if (n >= 4) {  // prefill: each GEMM is big enough to fill the pool on its own
    for (const MatmulTarget& t : targets) matmul_quantized(acts, weights_of(t), t.y, pool);
    return;
  }
  // Decode: one region over the rows of all weights laid end to end.
  int64_t total = 0;
  for (const MatmulTarget& t : targets) total += t.w->shape[0];
  pool.parallel_for(total, [&](int64_t b, int64_t e, int) {
    int64_t base = 0;
    for (const MatmulTarget& t : targets) {
      const int64_t rows = t.w->shape[0];
      const int64_t r0 = std::max<int64_t>(b - base, 0), r1 = std::min<int64_t>(e - base, rows);
      if (r0 < r1) gemv_tokens(acts, weights_of(t), r0, r1, t.y);
      base += rows;
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
