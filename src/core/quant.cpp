// Reference (plain C++) conversions between F32 and the GGUF block formats of quant.h.
// The quantizers follow the ideas of ggml's reference quantizers (max-magnitude scaling for
// Q8_0/Q4_0/Q8_K, a weighted least-squares search over candidate scales for the K-quants) so the
// files we write decode to the same kind of values llama.cpp expects; the code is our own.
#include "core/quant.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>

#include "core/error.h"

namespace edgerun {

namespace {

// Round half to even, as the vector conversions (cvtps2dq) do, so the SIMD activation
// quantizers can reproduce these results bit for bit.
inline int round_int(float v) { return int(std::nearbyint(v)); }

void check_len(DType type, int64_t n) {
  const int64_t be = int64_t(dtype_block_elems(type));
  if (n < 0 || n % be != 0)
    fail("quantize", std::string(dtype_name(type)) + " rows must be a multiple of " + std::to_string(be) +
                         " elements, got " + std::to_string(n));
}

// ---- Q8_0 / Q4_0 -------------------------------------------------------------------------

void quantize_q8_0(const float* x, BlockQ8_0* y, int64_t nb) {
  for (int64_t b = 0; b < nb; ++b, x += kQK) {
    float amax = 0;
    for (int j = 0; j < kQK; ++j) amax = std::max(amax, std::fabs(x[j]));
    const float d = amax / 127.0f;
    const float id = d != 0 ? 1.0f / d : 0.0f;
    y[b].d = f32_to_f16(d);
    for (int j = 0; j < kQK; ++j) y[b].qs[j] = int8_t(round_int(x[j] * id));
  }
}

// The element of largest magnitude maps exactly to -8 (the asymmetric end of the 4-bit range),
// which keeps its sign information and gives 16 usable levels.
void quantize_q4_0(const float* x, BlockQ4_0* y, int64_t nb) {
  for (int64_t b = 0; b < nb; ++b, x += kQK) {
    float amax = 0, vmax = 0;
    for (int j = 0; j < kQK; ++j)
      if (std::fabs(x[j]) > amax) { amax = std::fabs(x[j]); vmax = x[j]; }
    const float d = vmax / -8.0f;
    const float id = d != 0 ? 1.0f / d : 0.0f;
    y[b].d = f32_to_f16(d);
    for (int j = 0; j < kQK / 2; ++j) {
      const int lo = std::clamp(round_int(x[j] * id) + 8, 0, 15);
      const int hi = std::clamp(round_int(x[j + kQK / 2] * id) + 8, 0, 15);
      y[b].qs[j] = uint8_t(lo | (hi << 4));
    }
  }
}

// ---- K-quant scale search ----------------------------------------------------------------

// Fits x ≈ scale * L + min with L in [0, nmax] (min <= 0) minimising Σ w (scale L + min - x)².
// Starts from the plain min/max mapping, then tries a range of slightly different inverse
// scales; for each rounding pattern the optimal (scale, min) is the 2x2 least-squares solution.
// Returns scale and writes -min (a non-negative offset) to *neg_min.
float fit_scale_min(const float* x, const float* w, int n, int nmax, uint8_t* L, float* neg_min) {
  float lo = x[0], hi = x[0], sw = 0, swx = 0;
  for (int i = 0; i < n; ++i) {
    lo = std::min(lo, x[i]);
    hi = std::max(hi, x[i]);
    sw += w[i];
    swx += w[i] * x[i];
  }
  lo = std::min(lo, 0.0f);
  if (hi == lo) {
    std::fill(L, L + n, 0);
    *neg_min = -lo;
    return 0;
  }
  float scale = (hi - lo) / nmax, min = lo, best = 0;
  for (int i = 0; i < n; ++i) {
    L[i] = uint8_t(std::clamp(round_int((x[i] - lo) / scale), 0, nmax));
    const float e = scale * L[i] + lo - x[i];
    best += w[i] * e * e;
  }
  uint8_t trial[32];
  for (int step = 0; step <= 20; ++step) {
    const float iscale = (nmax - 1.0f + 0.1f * step) / (hi - lo);
    float sl = 0, sl2 = 0, sxl = 0;
    for (int i = 0; i < n; ++i) {
      trial[i] = uint8_t(std::clamp(round_int(iscale * (x[i] - lo)), 0, nmax));
      sl += w[i] * trial[i];
      sl2 += w[i] * trial[i] * trial[i];
      sxl += w[i] * trial[i] * x[i];
    }
    const float det = sw * sl2 - sl * sl;
    if (det <= 0) continue;
    float s = (sw * sxl - swx * sl) / det, m = (sl2 * swx - sl * sxl) / det;
    if (m > 0) {  // the format only has non-positive minimums
      m = 0;
      s = sxl / sl2;
    }
    float err = 0;
    for (int i = 0; i < n; ++i) {
      const float e = s * trial[i] + m - x[i];
      err += w[i] * e * e;
    }
    if (err < best) {
      best = err;
      scale = s;
      min = m;
      std::copy(trial, trial + n, L);
    }
  }
  *neg_min = -min;
  return scale;
}

// Symmetric fit x ≈ scale * L with L in [-nmax, nmax-1], weighted by x² so that large values
// (which dominate the dot products) are represented best. Tries inverse scales around the one
// that maps the extreme element to -nmax and keeps the best least-squares scale.
float fit_scale_symmetric(const float* x, int n, int nmax) {
  float amax = 0, vmax = 0;
  for (int i = 0; i < n; ++i)
    if (std::fabs(x[i]) > amax) { amax = std::fabs(x[i]); vmax = x[i]; }
  if (amax < 1e-15f) return 0;
  float best_scale = 0, best = -1;
  for (int step = -9; step <= 9; ++step) {
    const float iscale = -(nmax + 0.1f * step) / vmax;
    float sxl = 0, sl2 = 0;
    for (int i = 0; i < n; ++i) {
      const int l = std::clamp(round_int(iscale * x[i]), -nmax, nmax - 1);
      const float w = x[i] * x[i];
      sxl += w * x[i] * l;
      sl2 += w * float(l) * l;
    }
    // Maximising sxl²/sl2 minimises the weighted error for the optimal scale sxl/sl2.
    if (sl2 > 0 && (best < 0 || sxl * sxl > best * sl2)) {
      best_scale = sxl / sl2;
      best = best_scale * sxl;
    }
  }
  return best_scale;
}

// ---- Q4_K --------------------------------------------------------------------------------

void unpack_q4k_scales(const uint8_t* s, uint8_t* sc, uint8_t* m) {
  for (int j = 0; j < 4; ++j) {
    sc[j] = s[j] & 63;
    m[j] = s[j + 4] & 63;
    sc[j + 4] = uint8_t((s[j + 8] & 0x0F) | ((s[j] >> 6) << 4));
    m[j + 4] = uint8_t((s[j + 8] >> 4) | ((s[j + 4] >> 6) << 4));
  }
}

void quantize_q4_k(const float* x, BlockQ4_K* y, int64_t nb) {
  for (int64_t b = 0; b < nb; ++b, x += kQKK) {
    uint8_t L[kQKK];
    float scales[8], mins[8], w[32];
    float max_scale = 0, max_min = 0;
    for (int j = 0; j < 8; ++j) {
      const float* xs = x + 32 * j;
      float ss = 0;
      for (int i = 0; i < 32; ++i) ss += xs[i] * xs[i];
      const float rms = std::sqrt(ss / 32);
      // Weight errors by magnitude plus the block's rms, so outliers count but small values
      // are not ignored.
      for (int i = 0; i < 32; ++i) w[i] = rms + std::fabs(xs[i]);
      scales[j] = fit_scale_min(xs, w, 32, 15, L + 32 * j, &mins[j]);
      max_scale = std::max(max_scale, scales[j]);
      max_min = std::max(max_min, mins[j]);
    }
    // Sub-block scales and mins become 6-bit multiples of two f16 super-block scales.
    const float is = max_scale > 0 ? 63.0f / max_scale : 0.0f;
    const float im = max_min > 0 ? 63.0f / max_min : 0.0f;
    uint8_t sc[8], mn[8];
    for (int j = 0; j < 8; ++j) {
      sc[j] = uint8_t(std::min(63, round_int(is * scales[j])));
      mn[j] = uint8_t(std::min(63, round_int(im * mins[j])));
    }
    std::memset(y[b].scales, 0, 12);
    for (int j = 0; j < 4; ++j) {
      y[b].scales[j] = uint8_t(sc[j] | ((sc[j + 4] >> 4) << 6));
      y[b].scales[j + 4] = uint8_t(mn[j] | ((mn[j + 4] >> 4) << 6));
      y[b].scales[j + 8] = uint8_t((sc[j + 4] & 0x0F) | ((mn[j + 4] & 0x0F) << 4));
    }
    y[b].d = f32_to_f16(max_scale / 63.0f);
    y[b].dmin = f32_to_f16(max_min / 63.0f);
    // Requantize against the scales that were actually stored.
    const float d = f16_to_f32(y[b].d), dmin = f16_to_f32(y[b].dmin);
    for (int j = 0; j < 8; ++j) {
      const float ds = d * sc[j], dm = dmin * mn[j];
      if (ds == 0) continue;
      for (int i = 0; i < 32; ++i) L[32 * j + i] = uint8_t(std::clamp(round_int((x[32 * j + i] + dm) / ds), 0, 15));
    }
    for (int c = 0; c < 4; ++c)
      for (int l = 0; l < 32; ++l) y[b].qs[32 * c + l] = uint8_t(L[64 * c + l] | (L[64 * c + 32 + l] << 4));
  }
}

void dequantize_q4_k(const BlockQ4_K* x, float* y, int64_t nb) {
  for (int64_t b = 0; b < nb; ++b) {
    const float d = f16_to_f32(x[b].d), dmin = f16_to_f32(x[b].dmin);
    uint8_t sc[8], m[8];
    unpack_q4k_scales(x[b].scales, sc, m);
    for (int c = 0; c < 4; ++c) {
      const uint8_t* q = x[b].qs + 32 * c;
      const float d0 = d * sc[2 * c], m0 = dmin * m[2 * c];
      const float d1 = d * sc[2 * c + 1], m1 = dmin * m[2 * c + 1];
      for (int l = 0; l < 32; ++l) {
        y[64 * c + l] = d0 * (q[l] & 0x0F) - m0;
        y[64 * c + 32 + l] = d1 * (q[l] >> 4) - m1;
      }
    }
    y += kQKK;
  }
}

// ---- Q6_K --------------------------------------------------------------------------------

void quantize_q6_k(const float* x, BlockQ6_K* y, int64_t nb) {
  for (int64_t b = 0; b < nb; ++b, x += kQKK) {
    float scales[16], max_scale = 0, amax = 0;
    for (int g = 0; g < 16; ++g) {
      scales[g] = fit_scale_symmetric(x + 16 * g, 16, 32);
      if (std::fabs(scales[g]) > amax) { amax = std::fabs(scales[g]); max_scale = scales[g]; }
    }
    std::memset(&y[b], 0, sizeof(BlockQ6_K));
    if (amax < 1e-15f) continue;
    // 8-bit signed sub-block scales relative to one f16 scale; the largest maps to -128.
    const float iscale = -128.0f / max_scale;
    y[b].d = f32_to_f16(1 / iscale);
    const float d = f16_to_f32(y[b].d);
    uint8_t L[kQKK];
    for (int g = 0; g < 16; ++g) {
      y[b].scales[g] = int8_t(std::min(127, round_int(iscale * scales[g])));
      const float ds = d * y[b].scales[g];
      for (int i = 0; i < 16; ++i)
        L[16 * g + i] = uint8_t(ds == 0 ? 32 : std::clamp(round_int(x[16 * g + i] / ds), -32, 31) + 32);
    }
    for (int h = 0; h < 2; ++h) {
      uint8_t* ql = y[b].ql + 64 * h;
      uint8_t* qh = y[b].qh + 32 * h;
      const uint8_t* Lh = L + 128 * h;
      for (int l = 0; l < 32; ++l) {
        ql[l] = uint8_t((Lh[l] & 0x0F) | ((Lh[l + 64] & 0x0F) << 4));
        ql[l + 32] = uint8_t((Lh[l + 32] & 0x0F) | ((Lh[l + 96] & 0x0F) << 4));
        qh[l] = uint8_t((Lh[l] >> 4) | ((Lh[l + 32] >> 4) << 2) | ((Lh[l + 64] >> 4) << 4) | ((Lh[l + 96] >> 4) << 6));
      }
    }
  }
}

void dequantize_q6_k(const BlockQ6_K* x, float* y, int64_t nb) {
  for (int64_t b = 0; b < nb; ++b) {
    const float d = f16_to_f32(x[b].d);
    for (int h = 0; h < 2; ++h) {
      const uint8_t* ql = x[b].ql + 64 * h;
      const uint8_t* qh = x[b].qh + 32 * h;
      const int8_t* sc = x[b].scales + 8 * h;
      float* yh = y + 128 * h;
      for (int l = 0; l < 32; ++l) {
        const int is = l / 16;
        const int q1 = (ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4);
        const int q2 = (ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4);
        const int q3 = (ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4);
        const int q4 = (ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4);
        yh[l] = d * sc[is] * (q1 - 32);
        yh[l + 32] = d * sc[is + 2] * (q2 - 32);
        yh[l + 64] = d * sc[is + 4] * (q3 - 32);
        yh[l + 96] = d * sc[is + 6] * (q4 - 32);
      }
    }
    y += kQKK;
  }
}

}  // namespace

void dequantize_row(DType type, const void* src, float* dst, int64_t n) {
  check_len(type, n);
  switch (type) {
    case DType::F32: std::memcpy(dst, src, size_t(n) * 4); return;
    case DType::F16: {
      const auto* h = static_cast<const uint16_t*>(src);
      for (int64_t i = 0; i < n; ++i) dst[i] = f16_to_f32(h[i]);
      return;
    }
    case DType::BF16: {
      const auto* h = static_cast<const uint16_t*>(src);
      for (int64_t i = 0; i < n; ++i) dst[i] = bf16_to_f32(h[i]);
      return;
    }
    case DType::Q8_0: {
      const auto* b = static_cast<const BlockQ8_0*>(src);
      for (int64_t i = 0; i < n / kQK; ++i) {
        const float d = f16_to_f32(b[i].d);
        for (int j = 0; j < kQK; ++j) dst[i * kQK + j] = d * b[i].qs[j];
      }
      return;
    }
    case DType::Q4_0: {
      const auto* b = static_cast<const BlockQ4_0*>(src);
      for (int64_t i = 0; i < n / kQK; ++i) {
        const float d = f16_to_f32(b[i].d);
        for (int j = 0; j < kQK / 2; ++j) {
          dst[i * kQK + j] = d * ((b[i].qs[j] & 0x0F) - 8);
          dst[i * kQK + j + kQK / 2] = d * ((b[i].qs[j] >> 4) - 8);
        }
      }
      return;
    }
    case DType::Q4_K: dequantize_q4_k(static_cast<const BlockQ4_K*>(src), dst, n / kQKK); return;
    case DType::Q6_K: dequantize_q6_k(static_cast<const BlockQ6_K*>(src), dst, n / kQKK); return;
    default: fail("dequantize", std::string("unsupported type ") + dtype_name(type));
  }
}

void quantize_row(DType type, const float* src, void* dst, int64_t n) {
  check_len(type, n);
  switch (type) {
    case DType::F32: std::memcpy(dst, src, size_t(n) * 4); return;
    case DType::F16: {
      auto* h = static_cast<uint16_t*>(dst);
      for (int64_t i = 0; i < n; ++i) h[i] = f32_to_f16(src[i]);
      return;
    }
    case DType::BF16: {
      auto* h = static_cast<uint16_t*>(dst);
      for (int64_t i = 0; i < n; ++i) h[i] = f32_to_bf16(src[i]);
      return;
    }
    case DType::Q8_0: quantize_q8_0(src, static_cast<BlockQ8_0*>(dst), n / kQK); return;
    case DType::Q4_0: quantize_q4_0(src, static_cast<BlockQ4_0*>(dst), n / kQK); return;
    case DType::Q4_K: quantize_q4_k(src, static_cast<BlockQ4_K*>(dst), n / kQKK); return;
    case DType::Q6_K: quantize_q6_k(src, static_cast<BlockQ6_K*>(dst), n / kQKK); return;
    default: fail("quantize", std::string("unsupported type ") + dtype_name(type));
  }
}

// Activation side of K-quant dot products: symmetric 8-bit with the extreme element at -127
// (not -128) so every value fits in [-127, 127] and sign tricks in the kernels stay exact.
void quantize_row_q8_k(const float* src, BlockQ8_K* dst, int64_t n) {
  if (n % kQKK != 0) fail("quantize", "Q8_K rows must be a multiple of 256 elements");
  for (int64_t b = 0; b < n / kQKK; ++b, src += kQKK) {
    float amax = 0, vmax = 0;
    for (int j = 0; j < kQKK; ++j)
      if (std::fabs(src[j]) > amax) { amax = std::fabs(src[j]); vmax = src[j]; }
    BlockQ8_K& y = dst[b];
    if (amax == 0) {
      std::memset(&y, 0, sizeof y);
      continue;
    }
    const float iscale = -127.0f / vmax;
    for (int j = 0; j < kQKK; ++j) y.qs[j] = int8_t(std::min(127, round_int(iscale * src[j])));
    for (int g = 0; g < kQKK / 16; ++g) {
      int s = 0;
      for (int i = 0; i < 16; ++i) s += y.qs[16 * g + i];
      y.bsums[g] = int16_t(s);
    }
    y.d = 1 / iscale;
  }
}

}  // namespace edgerun
