// Scalar reference of the quantized kernels: activation quantization and integer dot products
// written exactly as the math in quant_kernels.h, one weight row and one token at a time.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/error.h"
#include "core/quant.h"
#include "kernels/quant_kernels.h"

namespace edgerun {

int quant_zero_point(DType t) {
  switch (t) {
    case DType::Q4_0: return 8;
    case DType::Q8_0: return 128;
    case DType::Q6_K: return 32;
    default: return 0;
  }
}
int quant_group(DType t) { return t == DType::Q6_K ? 16 : 32; }
int quant_act_block(DType t) { return t == DType::Q4_K || t == DType::Q6_K ? 256 : 32; }

void QuantizedActs::reset(DType weight_type, int64_t tokens, int64_t cols) {
  wtype = weight_type;
  n = tokens;
  k = cols;
  group = quant_group(weight_type);
  ablock = quant_act_block(weight_type);
  zero_point = quant_zero_point(weight_type);
  if (k % ablock != 0) fail("matmul", "inner dimension " + std::to_string(k) + " is not a multiple of " + std::to_string(ablock));
  ldq = (k + 63) / 64 * 64;
  const size_t bq = size_t(n * ldq), bd = size_t(n * ablocks()) * 4, bg = size_t(n * groups()) * 4;
  const auto up = [](size_t b) { return (b + 63) / 64 * 64; };
  const size_t need = up(bq) + up(bd) + 2 * up(bg) + 64;
  if (need > capacity_) {
    storage_.reset(new uint8_t[need]);
    capacity_ = need;
  }
  uint8_t* p = storage_.get();
  p += (64 - reinterpret_cast<uintptr_t>(p) % 64) % 64;
  q = reinterpret_cast<int8_t*>(p);
  d = reinterpret_cast<float*>(p + up(bq));
  icorr = reinterpret_cast<int32_t*>(p + up(bq) + up(bd));
  fsum = reinterpret_cast<float*>(p + up(bq) + up(bd) + up(bg));
}

// Scale so that the block's largest magnitude maps to ±127; round half to even (what the SIMD
// conversions do) so every variant produces identical codes.
void quantize_acts_ref(const float* x, QuantizedActs& a, int64_t t) {
  int8_t* q = a.q + t * a.ldq;
  float* d = a.d + t * a.ablocks();
  for (int64_t b = 0; b < a.ablocks(); ++b) {
    const float* xb = x + b * a.ablock;
    float amax = 0;
    for (int j = 0; j < a.ablock; ++j) amax = std::max(amax, std::fabs(xb[j]));
    const float db = amax / 127.0f;
    const float id = db != 0 ? 1.0f / db : 0.0f;
    d[b] = db;
    for (int j = 0; j < a.ablock; ++j) q[b * a.ablock + j] = int8_t(std::nearbyint(xb[j] * id));
  }
  std::memset(q + a.k, 0, size_t(a.ldq - a.k));
  for (int64_t g = 0; g < a.groups(); ++g) {
    int32_t s = 0;
    for (int j = 0; j < a.group; ++j) s += q[g * a.group + j];
    a.icorr[t * a.groups() + g] = -a.zero_point * s;
    a.fsum[t * a.groups() + g] = d[g * a.group / a.ablock] * float(s);
  }
}

namespace {

inline float h2f(uint16_t h) { return f16_to_f32(h); }

float dot_q4_0(const uint8_t* row, const QuantizedActs& a, int64_t t) {
  const auto* b = reinterpret_cast<const BlockQ4_0*>(row);
  const int8_t* q = a.q + t * a.ldq;
  float s = 0;
  for (int64_t i = 0; i < a.k / 32; ++i) {
    int32_t is = a.icorr[t * a.groups() + i];
    for (int j = 0; j < 16; ++j) is += (b[i].qs[j] & 15) * q[32 * i + j] + (b[i].qs[j] >> 4) * q[32 * i + j + 16];
    s += h2f(b[i].d) * a.d[t * a.ablocks() + i] * float(is);
  }
  return s;
}

float dot_q8_0(const uint8_t* row, const QuantizedActs& a, int64_t t) {
  const auto* b = reinterpret_cast<const BlockQ8_0*>(row);
  const int8_t* q = a.q + t * a.ldq;
  float s = 0;
  for (int64_t i = 0; i < a.k / 32; ++i) {
    int32_t is = 0;
    for (int j = 0; j < 32; ++j) is += b[i].qs[j] * q[32 * i + j];
    s += h2f(b[i].d) * a.d[t * a.ablocks() + i] * float(is);
  }
  return s;
}

float dot_q4_k(const uint8_t* row, const QuantizedActs& a, int64_t t) {
  const auto* b = reinterpret_cast<const BlockQ4_K*>(row);
  const int8_t* q = a.q + t * a.ldq;
  float s = 0;
  for (int64_t i = 0; i < a.k / 256; ++i) {
    uint8_t sc[8], m[8];
    for (int j = 0; j < 4; ++j) {
      sc[j] = b[i].scales[j] & 63;
      m[j] = b[i].scales[j + 4] & 63;
      sc[j + 4] = uint8_t((b[i].scales[j + 8] & 15) | ((b[i].scales[j] >> 6) << 4));
      m[j + 4] = uint8_t((b[i].scales[j + 8] >> 4) | ((b[i].scales[j + 4] >> 6) << 4));
    }
    const float d = h2f(b[i].d), dmin = h2f(b[i].dmin);
    const int8_t* qi = q + 256 * i;
    int32_t total = 0;
    for (int c = 0; c < 4; ++c) {
      int32_t lo = 0, hi = 0;
      for (int l = 0; l < 32; ++l) {
        lo += (b[i].qs[32 * c + l] & 15) * qi[64 * c + l];
        hi += (b[i].qs[32 * c + l] >> 4) * qi[64 * c + 32 + l];
      }
      total += sc[2 * c] * lo + sc[2 * c + 1] * hi;
    }
    float mins = 0;
    for (int j = 0; j < 8; ++j) mins += float(m[j]) * a.fsum[t * a.groups() + 8 * i + j];
    s += d * a.d[t * a.ablocks() + i] * float(total) - dmin * mins;
  }
  return s;
}

float dot_q6_k(const uint8_t* row, const QuantizedActs& a, int64_t t) {
  const auto* b = reinterpret_cast<const BlockQ6_K*>(row);
  const int8_t* q = a.q + t * a.ldq;
  float s = 0;
  for (int64_t i = 0; i < a.k / 256; ++i) {
    int32_t total = 0;
    for (int h = 0; h < 2; ++h) {
      const uint8_t* ql = b[i].ql + 64 * h;
      const uint8_t* qh = b[i].qh + 32 * h;
      const int8_t* qx = q + 256 * i + 128 * h;
      int32_t g[8] = {};
      for (int l = 0; l < 32; ++l) {
        const int is = l / 16;
        g[is + 0] += ((ql[l] & 15) | ((qh[l] & 3) << 4)) * qx[l];
        g[is + 2] += ((ql[l + 32] & 15) | (((qh[l] >> 2) & 3) << 4)) * qx[l + 32];
        g[is + 4] += ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) * qx[l + 64];
        g[is + 6] += ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) * qx[l + 96];
      }
      for (int j = 0; j < 8; ++j)
        total += b[i].scales[8 * h + j] * (g[j] + a.icorr[t * a.groups() + 16 * i + 8 * h + j]);
    }
    s += h2f(b[i].d) * a.d[t * a.ablocks() + i] * float(total);
  }
  return s;
}

void gemv_scalar(const QuantWeights& w, int64_t r0, int64_t r1, const QuantizedActs& a, float* y) {
  for (int64_t r = r0; r < r1; ++r) y[r] = dot_ref(w, r, a, 0);
}

void gemm_scalar(const QuantWeights& w, int64_t r0, int64_t r1, const QuantizedActs& a, float* y, int64_t ldy) {
  for (int64_t r = r0; r < r1; ++r)
    for (int64_t t = 0; t < a.n; ++t) y[t * ldy + r] = dot_ref(w, r, a, t);
}

}  // namespace

float dot_ref(const QuantWeights& w, int64_t r, const QuantizedActs& a, int64_t t) {
  switch (w.type) {
    case DType::Q4_0: return dot_q4_0(w.row(r), a, t);
    case DType::Q8_0: return dot_q8_0(w.row(r), a, t);
    case DType::Q4_K: return dot_q4_k(w.row(r), a, t);
    case DType::Q6_K: return dot_q6_k(w.row(r), a, t);
    default: fail("matmul", std::string("no quantized kernel for ") + dtype_name(w.type));
  }
}

const QuantVariant& scalar_variant() {
  static const QuantVariant v{"scalar", quantize_acts_ref, gemv_scalar, gemm_scalar};
  return v;
}

}  // namespace edgerun
