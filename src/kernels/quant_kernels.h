// Internal interface of the quantized matmul kernels (Q8_0, Q4_0, Q4_K, Q6_K weights).
//
// Every weight type is viewed the same way by the kernels: a row is cut into groups of G
// elements (32; 16 for Q6_K) and each weight is  A[g] * u + B[g]  with u an unsigned small
// integer (Q4_0: nibble, zero point 8; Q8_0: q+128, zero point 128; Q6_K: 6-bit, zero point 32;
// Q4_K: nibble with a float min B = -dmin*m). Activations are quantized once per matmul to
// symmetric int8 with one f32 scale per 32 (partner of Q4_0/Q8_0, like ggml's Q8_0) or per 256
// (partner of the K-quants, like Q8_K) elements, plus per-group sums that turn Σ u*q into
// Σ (u - zero_point) * q without touching the weights again.
//
// Variants (scalar reference, AVX2, AVX-512 VNNI, NEON) are plain function tables chosen once at
// run time; each SIMD file compiles its functions for its own target, so one binary runs on any
// CPU of its architecture.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/dtype.h"

namespace edgerun {

// Activations of n tokens quantized for one weight type.
struct QuantizedActs {
  DType wtype = DType::F32;
  int64_t n = 0, k = 0;
  int64_t ldq = 0;     // bytes between token rows of q (k rounded up to 64)
  int group = 32;      // weight elements per weight scale (16 for Q6_K)
  int ablock = 32;     // activation elements per activation scale (32 or 256)
  int zero_point = 0;  // offset of the unsigned weight codes (8, 128, 32 or 0)
  int8_t* q = nullptr;       // [n][ldq]
  float* d = nullptr;        // [n][k / ablock]
  int32_t* icorr = nullptr;  // [n][k / group]  -zero_point * Σ q over the group
  float* fsum = nullptr;     // [n][k / group]  d * Σ q over the group
  int64_t groups() const { return k / group; }
  int64_t ablocks() const { return k / ablock; }

  // Sets the shape and (re)allocates; contents are filled by a variant's quantize().
  void reset(DType weight_type, int64_t tokens, int64_t cols);

 private:
  std::unique_ptr<uint8_t[]> storage_;
  size_t capacity_ = 0;
};

// A quantized Linear weight [rows, k] read in place from the mapped file.
struct QuantWeights {
  DType type;
  const uint8_t* data;
  size_t row_bytes;
  int64_t rows, k;
  const uint8_t* row(int64_t r) const { return data + size_t(r) * row_bytes; }
};

struct QuantVariant {
  const char* name;
  // Quantizes token row t of x (k floats) into a (already reset for the weight type).
  void (*quantize)(const float* x, QuantizedActs& a, int64_t t);
  // One token: y[r] for rows [r0, r1), token 0 of a.
  void (*gemv)(const QuantWeights& w, int64_t r0, int64_t r1, const QuantizedActs& a, float* y);
  // All tokens of a: y[t * ldy + r] for rows [r0, r1); r0 is a multiple of 16.
  void (*gemm)(const QuantWeights& w, int64_t r0, int64_t r1, const QuantizedActs& a, float* y, int64_t ldy);
};

// Scalar reference implementations (always available; also used by the other variants for
// row tails).
void quantize_acts_ref(const float* x, QuantizedActs& a, int64_t t);
float dot_ref(const QuantWeights& w, int64_t r, const QuantizedActs& a, int64_t t);

const QuantVariant& scalar_variant();
#if defined(__x86_64__)
bool avx2_supported();
const QuantVariant& avx2_variant();
bool avx512_supported();
const QuantVariant& avx512_variant();
#endif
#if defined(__aarch64__)
const QuantVariant& neon_variant();
#endif

// Variants usable on this CPU, best last; "scalar" is always first.
std::vector<std::string> quant_variant_names();
// Forces a variant by name (tests, benchmarks); "" restores the automatic choice. Returns false
// if the name is unknown or unsupported here.
bool set_quant_variant(const std::string& name);
const QuantVariant& active_quant_variant();

// The pieces of matmul() for quantized weights, exposed so a model can quantize one input once
// and reuse it for several weights of the same type (q/k/v, gate/up).
void quantize_acts(const float* x, int64_t n, int64_t k, DType wtype, QuantizedActs& a, class ThreadPool& pool);
void matmul_quantized(const QuantizedActs& a, const QuantWeights& w, float* y, class ThreadPool& pool);
// Rows [r0, r1) of y = W · x for each token of a, one row-streaming pass per token (decode).
void gemv_tokens(const QuantizedActs& a, const QuantWeights& w, int64_t r0, int64_t r1, float* y);

// Zero point and group size of each weight type in the kernels' common view.
int quant_zero_point(DType t);
int quant_group(DType t);
int quant_act_block(DType t);

// Per-thread scratch of at least `bytes`, 64-byte aligned (kept between calls).
uint8_t* quant_scratch(size_t bytes);

}  // namespace edgerun
