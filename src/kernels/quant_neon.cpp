// AArch64 NEON quantized kernels. A weight row is first decoded into signed 8-bit codes
// (u - zero point, which always fits: Q4_0 -8..7, Q6_K -32..31, Q4_K 0..15, Q8_0 as stored)
// plus per-group f32 scales, in a small L1-resident buffer; each token's dot product then runs
// on those codes with SDOT (vdotq_s32, with __ARM_FEATURE_DOTPROD, e.g. -march=armv8.2-a+dotprod)
// or with widening multiplies (vmull_s8 + vpadalq_s16) on plain ARMv8.0. For prefill the decoded
// row is reused by every token, so decoding costs once per row, not once per (row, token).
#if defined(__aarch64__)
#include <arm_neon.h>

#include <cstring>
#include <vector>

#include "core/quant.h"
#include "kernels/quant_kernels.h"

namespace edgerun {

namespace {

struct RowCodes {
  std::vector<int8_t> c;  // k codes
  std::vector<float> A, B;  // per group: scale, and the Q4_K min term (else 0)
};

void decode_row(const QuantWeights& w, int64_t r, RowCodes& out) {
  const int64_t k = w.k, G = quant_group(w.type);
  out.c.resize(size_t(k));
  out.A.assign(size_t(k / G), 0.0f);
  out.B.assign(size_t(k / G), 0.0f);
  const uint8_t* row = w.row(r);
  int8_t* c = out.c.data();
  switch (w.type) {
    case DType::Q4_0:
      for (int64_t b = 0; b < k / 32; ++b) {
        const auto* blk = reinterpret_cast<const BlockQ4_0*>(row) + b;
        for (int j = 0; j < 16; ++j) {
          c[32 * b + j] = int8_t((blk->qs[j] & 15) - 8);
          c[32 * b + j + 16] = int8_t((blk->qs[j] >> 4) - 8);
        }
        out.A[size_t(b)] = f16_to_f32(blk->d);
      }
      break;
    case DType::Q8_0:
      for (int64_t b = 0; b < k / 32; ++b) {
        const auto* blk = reinterpret_cast<const BlockQ8_0*>(row) + b;
        std::memcpy(c + 32 * b, blk->qs, 32);
        out.A[size_t(b)] = f16_to_f32(blk->d);
      }
      break;
    case DType::Q4_K:
      for (int64_t sb = 0; sb < k / 256; ++sb) {
        const auto* blk = reinterpret_cast<const BlockQ4_K*>(row) + sb;
        const uint8_t* s = blk->scales;
        const float d = f16_to_f32(blk->d), dmin = f16_to_f32(blk->dmin);
        for (int j = 0; j < 8; ++j) {
          const int sc = j < 4 ? s[j] & 63 : (s[j + 4] & 15) | ((s[j - 4] >> 6) << 4);
          const int m = j < 4 ? s[j + 4] & 63 : (s[j + 4] >> 4) | ((s[j] >> 6) << 4);
          out.A[size_t(8 * sb + j)] = d * float(sc);
          out.B[size_t(8 * sb + j)] = -dmin * float(m);
        }
        for (int ch = 0; ch < 4; ++ch)
          for (int l = 0; l < 32; ++l) {
            c[256 * sb + 64 * ch + l] = int8_t(blk->qs[32 * ch + l] & 15);
            c[256 * sb + 64 * ch + 32 + l] = int8_t(blk->qs[32 * ch + l] >> 4);
          }
      }
      break;
    case DType::Q6_K:
      for (int64_t sb = 0; sb < k / 256; ++sb) {
        const auto* blk = reinterpret_cast<const BlockQ6_K*>(row) + sb;
        const float d = f16_to_f32(blk->d);
        for (int g = 0; g < 16; ++g) out.A[size_t(16 * sb + g)] = d * float(blk->scales[g]);
        for (int h = 0; h < 2; ++h) {
          const uint8_t* ql = blk->ql + 64 * h;
          const uint8_t* qh = blk->qh + 32 * h;
          int8_t* o = c + 256 * sb + 128 * h;
          for (int l = 0; l < 32; ++l) {
            o[l] = int8_t(((ql[l] & 15) | ((qh[l] & 3) << 4)) - 32);
            o[l + 32] = int8_t(((ql[l + 32] & 15) | (((qh[l] >> 2) & 3) << 4)) - 32);
            o[l + 64] = int8_t(((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32);
            o[l + 96] = int8_t(((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32);
          }
        }
      }
      break;
    default: break;
  }
}

// Signed dot product of 16 byte pairs, accumulated into 4 int32 lanes.
inline int32x4_t dot16(int32x4_t acc, int8x16_t a, int8x16_t b) {
#if defined(__ARM_FEATURE_DOTPROD)
  return vdotq_s32(acc, a, b);
#else
  const int16x8_t lo = vmull_s8(vget_low_s8(a), vget_low_s8(b));
  const int16x8_t hi = vmull_high_s8(a, b);
  return vpadalq_s16(vpadalq_s16(acc, lo), hi);
#endif
}

float dot_codes(const RowCodes& rc, int G, const QuantizedActs& a, int64_t t) {
  const int8_t* q = a.q + t * a.ldq;
  const float* dx = a.d + t * a.ablocks();
  const float* fs = a.fsum + t * a.groups();
  const int64_t ng = a.groups();
  float32x4_t acc = vdupq_n_f32(0);
  float tail = 0;
  int64_t g = 0;
  // Four groups at a time so the scaling is one vector FMA.
  for (; g + 4 <= ng; g += 4) {
    int32_t s[4];
    for (int i = 0; i < 4; ++i) {
      const int8_t* c = rc.c.data() + (g + i) * G;
      const int8_t* x = q + (g + i) * G;
      int32x4_t v = dot16(vdupq_n_s32(0), vld1q_s8(c), vld1q_s8(x));
      if (G == 32) v = dot16(v, vld1q_s8(c + 16), vld1q_s8(x + 16));
      s[i] = vaddvq_s32(v);
    }
    float sc[4];
    for (int i = 0; i < 4; ++i) sc[i] = rc.A[size_t(g + i)] * dx[(g + i) * G / a.ablock];
    acc = vfmaq_f32(acc, vcvtq_f32_s32(vld1q_s32(s)), vld1q_f32(sc));
    acc = vfmaq_f32(acc, vld1q_f32(rc.B.data() + g), vld1q_f32(fs + g));
  }
  for (; g < ng; ++g) {
    int32_t s = 0;
    for (int j = 0; j < G; ++j) s += rc.c[size_t(g * G + j)] * q[g * G + j];
    tail += rc.A[size_t(g)] * dx[g * G / a.ablock] * float(s) + rc.B[size_t(g)] * fs[g];
  }
  return vaddvq_f32(acc) + tail;
}

void gemv(const QuantWeights& w, int64_t r0, int64_t r1, const QuantizedActs& a, float* y) {
  thread_local RowCodes rc;
  for (int64_t r = r0; r < r1; ++r) {
    decode_row(w, r, rc);
    y[r] = dot_codes(rc, a.group, a, 0);
  }
}

void gemm(const QuantWeights& w, int64_t r0, int64_t r1, const QuantizedActs& a, float* y, int64_t ldy) {
  thread_local RowCodes rc;
  for (int64_t r = r0; r < r1; ++r) {
    decode_row(w, r, rc);
    for (int64_t t = 0; t < a.n; ++t) y[t * ldy + r] = dot_codes(rc, a.group, a, t);
  }
}

}  // namespace

const QuantVariant& neon_variant() {
#if defined(__ARM_FEATURE_DOTPROD)
  static const QuantVariant v{"neon-dotprod", quantize_acts_ref, gemv, gemm};
#else
  static const QuantVariant v{"neon", quantize_acts_ref, gemv, gemm};
#endif
  return v;
}

}  // namespace edgerun

#endif  // __aarch64__
