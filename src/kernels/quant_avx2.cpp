// AVX2 + FMA + F16C quantized kernels (Haswell and later, Zen 1-3): the fallback for x86 CPUs
// without AVX-512 VNNI. Integer dot products use vpmaddubsw (u8 x s8 -> s16 pairs) followed by
// vpmaddwd, whose second operand is either ones or the sub-block scales (K-quants). Codes are
// unsigned and small (<= 63) so two vpmaddubsw results can be added in 16 bits without
// saturation; Q8_0 weights are signed, so they use the sign trick (|w| x sign(x, w)).
// Prefill uses the same packed 16-row panels as the AVX-512 kernels, as two 8-row halves.
#if defined(__x86_64__)
#include <immintrin.h>

#include <cstring>
#include <type_traits>

#include "core/quant.h"
#include "kernels/quant_kernels.h"

namespace edgerun {

bool avx2_supported() {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c");
}

#pragma GCC push_options
#pragma GCC target("avx2,fma,f16c,bmi,bmi2")
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

namespace {

inline int64_t imin(int64_t a, int64_t b) { return a < b ? a : b; }
inline int32_t load_i32(const void* p) {
  int32_t v;
  std::memcpy(&v, p, 4);
  return v;
}
inline float h2f(uint16_t h) { return _cvtsh_ss(h); }
inline __m256i loadu(const void* p) { return _mm256_loadu_si256(static_cast<const __m256i*>(p)); }
inline float hsum(__m256 v) {
  const __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  const __m128 t = _mm_add_ps(s, _mm_movehl_ps(s, s));
  return _mm_cvtss_f32(_mm_add_ss(t, _mm_movehdup_ps(t)));
}
inline int32_t hsum_i32(__m256i v) {
  const __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
  const __m128i t = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4e));
  return _mm_cvtsi128_si32(_mm_add_epi32(t, _mm_shuffle_epi32(t, 0xb1)));
}
inline float hmax(__m256 v) {
  __m128 s = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_max_ps(s, _mm_movehl_ps(s, s));
  return _mm_cvtss_f32(_mm_max_ss(s, _mm_movehdup_ps(s)));
}
// Signed 8-bit dot of 32 pairs, as 8 int32 partial sums.
inline __m256i dot_s8(__m256i w, __m256i x) {
  return _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_sign_epi8(w, w), _mm256_sign_epi8(x, w)), _mm256_set1_epi16(1));
}

// ---- activation quantization (bit-identical to quantize_acts_ref) ------------------------

void quantize(const float* x, QuantizedActs& a, int64_t t) {
  int8_t* q = a.q + t * a.ldq;
  float* d = a.d + t * a.ablocks();
  int32_t* ic = a.icorr + t * a.groups();
  float* fs = a.fsum + t * a.groups();
  const int ab = a.ablock, G = a.group;
  const __m256 sign = _mm256_set1_ps(-0.0f);
  const __m256i order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
  for (int64_t b = 0; b < a.ablocks(); ++b) {
    const float* xb = x + b * ab;
    __m256 m = _mm256_setzero_ps();
    for (int j = 0; j < ab; j += 8) m = _mm256_max_ps(m, _mm256_andnot_ps(sign, _mm256_loadu_ps(xb + j)));
    const float db = hmax(m) / 127.0f;
    const float id = db != 0 ? 1.0f / db : 0.0f;
    d[b] = db;
    const __m256 vid = _mm256_set1_ps(id);
    __m256i gs = _mm256_setzero_si256();
    for (int j = 0; j < ab; j += 32) {
      __m256i v[4];
      for (int i = 0; i < 4; ++i) v[i] = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(xb + j + 8 * i), vid));
      const __m256i p = _mm256_packs_epi16(_mm256_packs_epi32(v[0], v[1]), _mm256_packs_epi32(v[2], v[3]));
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(q + b * ab + j), _mm256_permutevar8x32_epi32(p, order));
      for (int h = 0; h < 2; ++h) {  // group sums: 32 elements, or two groups of 16 (Q6_K)
        gs = _mm256_add_epi32(gs, _mm256_add_epi32(v[2 * h], v[2 * h + 1]));
        if (G == 16 || h == 1) {
          const int32_t sum = hsum_i32(gs);
          const int64_t gi = (b * ab + j + (G == 16 ? 16 * h : 0)) / G;
          ic[gi] = -a.zero_point * sum;
          fs[gi] = db * float(sum);
          gs = _mm256_setzero_si256();
        }
      }
    }
  }
  for (int64_t j = a.k; j < a.ldq; ++j) q[j] = 0;
}

// ---- decode -------------------------------------------------------------------------------

inline __m256i nibbles(const uint8_t* p) {  // 16 bytes -> 32 codes in element order
  const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
  const __m128i m4 = _mm_set1_epi8(0x0f);
  return _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_and_si128(v, m4)), _mm_and_si128(_mm_srli_epi16(v, 4), m4), 1);
}

// Eight blocks per step: their f16 scales come in with one gather, so each block costs a
// lane broadcast instead of a scalar conversion, and the -8 offset is one FMA per 8 blocks.
float dot_q4_0(const uint8_t* row, const QuantizedActs& a) {
  const auto* blk = reinterpret_cast<const BlockQ4_0*>(row);
  const __m256i ones = _mm256_set1_epi16(1), lo16 = _mm256_set1_epi32(0xffff);
  const __m256i offs = _mm256_setr_epi32(0, 18, 36, 54, 72, 90, 108, 126);
  const int64_t nb = a.k / 32, nb8 = nb / 8 * 8;
  // Four accumulators: one FMA chain would cap the loop at one block per FMA latency.
  __m256 acc4[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
  __m256 accc = _mm256_setzero_ps();
  for (int64_t b = 0; b < nb8; b += 8) {
    const __m256i g = _mm256_and_si256(_mm256_i32gather_epi32(reinterpret_cast<const int*>(blk + b), offs, 1), lo16);
    const __m256 dw = _mm256_cvtph_ps(_mm256_castsi256_si128(_mm256_permute4x64_epi64(_mm256_packus_epi32(g, g), 0x08)));
    const __m256 s = _mm256_mul_ps(dw, _mm256_loadu_ps(a.d + b));
    accc = _mm256_fmadd_ps(dw, _mm256_loadu_ps(a.fsum + b), accc);
    for (int j = 0; j < 8; ++j) {
      const __m256i p = _mm256_madd_epi16(_mm256_maddubs_epi16(nibbles(blk[b + j].qs), loadu(a.q + 32 * (b + j))), ones);
      acc4[j % 4] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p), _mm256_permutevar8x32_ps(s, _mm256_set1_epi32(j)), acc4[j % 4]);
    }
  }
  __m256 acc = _mm256_add_ps(_mm256_add_ps(acc4[0], acc4[1]), _mm256_add_ps(acc4[2], acc4[3]));
  float corr = hsum(accc);
  for (int64_t b = nb8; b < nb; ++b) {
    const __m256i p = _mm256_madd_epi16(_mm256_maddubs_epi16(nibbles(blk[b].qs), loadu(a.q + 32 * b)), ones);
    const float dw = h2f(blk[b].d);
    acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p), _mm256_set1_ps(dw * a.d[b]), acc);
    corr += dw * a.fsum[b];
  }
  return hsum(acc) - 8 * corr;
}

float dot_q8_0(const uint8_t* row, const QuantizedActs& a) {
  const auto* blk = reinterpret_cast<const BlockQ8_0*>(row);
  __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
  for (int64_t b = 0; b < a.k / 32; ++b) {
    const __m256i p = dot_s8(loadu(blk[b].qs), loadu(a.q + 32 * b));
    acc[b % 4] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p), _mm256_set1_ps(h2f(blk[b].d) * a.d[b]), acc[b % 4]);
  }
  return hsum(_mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), _mm256_add_ps(acc[2], acc[3])));
}

inline void q4k_scales(const uint8_t* s, uint8_t* out) {  // sc[0..7], m[0..7]
  uint32_t u[3], v[4];
  std::memcpy(u, s, 12);
  v[0] = u[0] & 0x3f3f3f3f;
  v[1] = (u[2] & 0x0f0f0f0f) | (((u[0] >> 6) & 0x03030303) << 4);
  v[2] = u[1] & 0x3f3f3f3f;
  v[3] = ((u[2] >> 4) & 0x0f0f0f0f) | (((u[1] >> 6) & 0x03030303) << 4);
  std::memcpy(out, v, 16);
}

float dot_q4_k(const uint8_t* row, const QuantizedActs& a) {
  const auto* blk = reinterpret_cast<const BlockQ4_K*>(row);
  const __m256i m4 = _mm256_set1_epi8(0x0f);
  __m256 acc = _mm256_setzero_ps(), accm = _mm256_setzero_ps();
  for (int64_t sb = 0; sb < a.k / 256; ++sb) {
    alignas(16) uint8_t sm[16];
    q4k_scales(blk[sb].scales, sm);
    const int8_t* xq = a.q + 256 * sb;
    __m256i is = _mm256_setzero_si256();
    for (int c = 0; c < 4; ++c) {
      const __m256i v = loadu(blk[sb].qs + 32 * c);
      const __m256i plo = _mm256_maddubs_epi16(_mm256_and_si256(v, m4), loadu(xq + 64 * c));
      const __m256i phi = _mm256_maddubs_epi16(_mm256_and_si256(_mm256_srli_epi16(v, 4), m4), loadu(xq + 64 * c + 32));
      is = _mm256_add_epi32(is, _mm256_madd_epi16(plo, _mm256_set1_epi16(sm[2 * c])));
      is = _mm256_add_epi32(is, _mm256_madd_epi16(phi, _mm256_set1_epi16(sm[2 * c + 1])));
    }
    acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(is), _mm256_set1_ps(h2f(blk[sb].d) * a.d[sb]), acc);
    const __m256 mins = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(sm + 8))));
    accm = _mm256_fmadd_ps(_mm256_mul_ps(mins, _mm256_set1_ps(h2f(blk[sb].dmin))), _mm256_loadu_ps(a.fsum + 8 * sb), accm);
  }
  return hsum(acc) - hsum(accm);
}

float dot_q6_k(const uint8_t* row, const QuantizedActs& a) {
  const auto* blk = reinterpret_cast<const BlockQ6_K*>(row);
  const __m256i m4 = _mm256_set1_epi8(0x0f), m30 = _mm256_set1_epi8(0x30);
  __m256 acc = _mm256_setzero_ps();
  for (int64_t sb = 0; sb < a.k / 256; ++sb) {
    const int8_t* sc = blk[sb].scales;
    const __m128i sc8 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(sc));
    __m256i is = _mm256_add_epi32(
        _mm256_mullo_epi32(_mm256_cvtepi8_epi32(sc8), loadu(a.icorr + 16 * sb)),
        _mm256_mullo_epi32(_mm256_cvtepi8_epi32(_mm_srli_si128(sc8, 8)), loadu(a.icorr + 16 * sb + 8)));
    for (int h = 0; h < 2; ++h) {
      const __m256i ql0 = loadu(blk[sb].ql + 64 * h), ql1 = loadu(blk[sb].ql + 64 * h + 32);
      const __m256i qh = loadu(blk[sb].qh + 32 * h);
      const __m256i q[4] = {
          _mm256_or_si256(_mm256_and_si256(ql0, m4), _mm256_and_si256(_mm256_slli_epi16(qh, 4), m30)),
          _mm256_or_si256(_mm256_and_si256(ql1, m4), _mm256_and_si256(_mm256_slli_epi16(qh, 2), m30)),
          _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql0, 4), m4), _mm256_and_si256(qh, m30)),
          _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql1, 4), m4), _mm256_and_si256(_mm256_srli_epi16(qh, 2), m30))};
      for (int j = 0; j < 4; ++j) {
        const __m256i p = _mm256_maddubs_epi16(q[j], loadu(a.q + 256 * sb + 128 * h + 32 * j));
        const __m256i s = _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_set1_epi16(sc[8 * h + 2 * j])),
                                                  _mm_set1_epi16(sc[8 * h + 2 * j + 1]), 1);
        is = _mm256_add_epi32(is, _mm256_madd_epi16(p, s));
      }
    }
    acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(is), _mm256_set1_ps(h2f(blk[sb].d) * a.d[sb]), acc);
  }
  return hsum(acc);
}

void gemv(const QuantWeights& w, int64_t r0, int64_t r1, const QuantizedActs& a, float* y) {
  float (*dot)(const uint8_t*, const QuantizedActs&) = nullptr;
  switch (w.type) {
    case DType::Q4_0: dot = dot_q4_0; break;
    case DType::Q8_0: dot = dot_q8_0; break;
    case DType::Q4_K: dot = dot_q4_k; break;
    case DType::Q6_K: dot = dot_q6_k; break;
    default: return;
  }
  for (int64_t r = r0; r < r1; ++r) y[r] = dot(w.row(r), a);
}

// ---- prefill GEMM ---------------------------------------------------------------------------

constexpr int64_t kKC = 2048;

// Rows [rs, rs + rv) x columns [k0, k0 + kc) -> unsigned codes tmp[16][kcp] and scales A/B[g][16].
void unpack_strip(const QuantWeights& w, int64_t rs, int rv, int64_t k0, int64_t kc, int64_t kcp, uint8_t* tmp,
                  float* A, float* B) {
  const int G = quant_group(w.type);
  const int64_t ng = kc / G;
  const __m256i m4 = _mm256_set1_epi8(0x0f), m30 = _mm256_set1_epi8(0x30);
  for (int r = 0; r < 16; ++r) {
    uint8_t* dst = tmp + r * kcp;
    if (r >= rv) {
      std::memset(dst, 0, size_t(kcp));
      for (int64_t g = 0; g < ng; ++g) A[g * 16 + r] = B[g * 16 + r] = 0;
      continue;
    }
    for (int64_t j = kc; j < kcp; ++j) dst[j] = 0;
    const uint8_t* row = w.row(rs + r);
    auto store = [](uint8_t* p, __m256i v) { _mm256_storeu_si256(reinterpret_cast<__m256i*>(p), v); };
    if (w.type == DType::Q4_0 || w.type == DType::Q8_0) {
      const bool q4 = w.type == DType::Q4_0;
      for (int64_t g = 0; g < ng; ++g) {
        const uint8_t* p = row + (q4 ? 18 : 34) * (k0 / 32 + g);
        store(dst + 32 * g, q4 ? nibbles(p + 2) : _mm256_xor_si256(loadu(p + 2), _mm256_set1_epi8(char(0x80))));
        A[g * 16 + r] = h2f(uint16_t(p[0] | (p[1] << 8)));
      }
    } else if (w.type == DType::Q4_K) {
      for (int64_t sb = 0; sb < kc / 256; ++sb) {
        const auto* blk = reinterpret_cast<const BlockQ4_K*>(row) + k0 / 256 + sb;
        alignas(16) uint8_t sm[16];
        q4k_scales(blk->scales, sm);
        for (int c = 0; c < 4; ++c) {
          const __m256i v = loadu(blk->qs + 32 * c);
          store(dst + 256 * sb + 64 * c, _mm256_and_si256(v, m4));
          store(dst + 256 * sb + 64 * c + 32, _mm256_and_si256(_mm256_srli_epi16(v, 4), m4));
        }
        for (int j = 0; j < 8; ++j) {
          A[(8 * sb + j) * 16 + r] = h2f(blk->d) * sm[j];
          B[(8 * sb + j) * 16 + r] = -h2f(blk->dmin) * sm[8 + j];
        }
      }
    } else {  // Q6_K
      for (int64_t sb = 0; sb < kc / 256; ++sb) {
        const auto* blk = reinterpret_cast<const BlockQ6_K*>(row) + k0 / 256 + sb;
        for (int h = 0; h < 2; ++h) {
          const __m256i ql0 = loadu(blk->ql + 64 * h), ql1 = loadu(blk->ql + 64 * h + 32), qh = loadu(blk->qh + 32 * h);
          uint8_t* o = dst + 256 * sb + 128 * h;
          store(o, _mm256_or_si256(_mm256_and_si256(ql0, m4), _mm256_and_si256(_mm256_slli_epi16(qh, 4), m30)));
          store(o + 32, _mm256_or_si256(_mm256_and_si256(ql1, m4), _mm256_and_si256(_mm256_slli_epi16(qh, 2), m30)));
          store(o + 64, _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql0, 4), m4), _mm256_and_si256(qh, m30)));
          store(o + 96, _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql1, 4), m4),
                                        _mm256_and_si256(_mm256_srli_epi16(qh, 2), m30)));
        }
        for (int g = 0; g < 16; ++g) A[(16 * sb + g) * 16 + r] = h2f(blk->d) * blk->scales[g];
      }
    }
  }
}

inline void transpose8(__m256i r[8]) {
  __m256i t[8], u[8];
  for (int i = 0; i < 4; ++i) {
    t[2 * i] = _mm256_unpacklo_epi32(r[2 * i], r[2 * i + 1]);
    t[2 * i + 1] = _mm256_unpackhi_epi32(r[2 * i], r[2 * i + 1]);
  }
  for (int i = 0; i < 2; ++i) {
    u[4 * i] = _mm256_unpacklo_epi64(t[4 * i], t[4 * i + 2]);
    u[4 * i + 1] = _mm256_unpackhi_epi64(t[4 * i], t[4 * i + 2]);
    u[4 * i + 2] = _mm256_unpacklo_epi64(t[4 * i + 1], t[4 * i + 3]);
    u[4 * i + 3] = _mm256_unpackhi_epi64(t[4 * i + 1], t[4 * i + 3]);
  }
  for (int c = 0; c < 4; ++c) {  // u[c] lane j: rows 0-3 of column 4j+c; u[4+c]: rows 4-7
    r[c] = _mm256_permute2x128_si256(u[c], u[4 + c], 0x20);
    r[4 + c] = _mm256_permute2x128_si256(u[c], u[4 + c], 0x31);
  }
}

// Same panel layout as the AVX-512 kernels: [k/4][16 rows][4 bytes].
void transpose_strip(const uint8_t* tmp, int64_t kcp, uint8_t* panel) {
  for (int64_t c = 0; c < kcp / 32; ++c)
    for (int half = 0; half < 2; ++half) {
      __m256i r[8];
      for (int i = 0; i < 8; ++i) r[i] = _mm256_load_si256(reinterpret_cast<const __m256i*>(tmp + (8 * half + i) * kcp + 32 * c));
      transpose8(r);
      for (int s = 0; s < 8; ++s) _mm256_store_si256(reinterpret_cast<__m256i*>(panel + (8 * c + s) * 64 + 32 * half), r[s]);
    }
}

struct TileArgs {
  const uint8_t* panel;
  const float *A, *B;
  int64_t g0, ng;
  int dshift;
  const QuantizedActs* a;
  int64_t k0;
  float* y;
  int64_t ldy;
  bool accumulate;
  int rows;  // valid rows of this 8-row half
};

// 8 rows (one half of a panel) x T tokens.
template <int T, int G, bool kSigned, bool kCorr, bool kMin>
void tile(const TileArgs& p, int half, int64_t t0) {
  const QuantizedActs& a = *p.a;
  const int64_t ldq = a.ldq, nab = a.ablocks(), ngr = a.groups();
  const int8_t* xq = a.q + t0 * ldq + p.k0;
  const float* dx = a.d + t0 * nab;
  const int32_t* ic = a.icorr + t0 * ngr + p.g0;
  const float* fs = a.fsum + t0 * ngr + p.g0;
  const __m256i ones = _mm256_set1_epi16(1), flip = _mm256_set1_epi8(char(0x80));
  __m256 acc[T];
  for (int t = 0; t < T; ++t) acc[t] = _mm256_setzero_ps();
  for (int64_t g = 0; g < p.ng; ++g) {
    __m256i is[T];
    for (int t = 0; t < T; ++t) is[t] = kCorr ? _mm256_set1_epi32(ic[t * ngr + g]) : _mm256_setzero_si256();
    const uint8_t* wg = p.panel + g * G * 16 + 32 * half;
    const int8_t* xg = xq + g * G;
    if (kSigned) {  // Q8_0: codes are q + 128; back to signed, then |w| * sign(x, w)
      for (int s = 0; s < G / 4; ++s) {
        const __m256i wv = _mm256_xor_si256(_mm256_load_si256(reinterpret_cast<const __m256i*>(wg + 64 * s)), flip);
        const __m256i aw = _mm256_sign_epi8(wv, wv);
        for (int t = 0; t < T; ++t) {
          const __m256i xv = _mm256_sign_epi8(_mm256_set1_epi32(load_i32(xg + t * ldq + 4 * s)), wv);
          is[t] = _mm256_add_epi32(is[t], _mm256_madd_epi16(_mm256_maddubs_epi16(aw, xv), ones));
        }
      }
    } else {  // codes <= 63: two vpmaddubsw sums fit in 16 bits
      for (int s = 0; s < G / 4; s += 2) {
        const __m256i w0 = _mm256_load_si256(reinterpret_cast<const __m256i*>(wg + 64 * s));
        const __m256i w1 = _mm256_load_si256(reinterpret_cast<const __m256i*>(wg + 64 * s + 64));
        for (int t = 0; t < T; ++t) {
          const __m256i p0 = _mm256_maddubs_epi16(w0, _mm256_set1_epi32(load_i32(xg + t * ldq + 4 * s)));
          const __m256i p1 = _mm256_maddubs_epi16(w1, _mm256_set1_epi32(load_i32(xg + t * ldq + 4 * s + 4)));
          is[t] = _mm256_add_epi32(is[t], _mm256_madd_epi16(_mm256_add_epi16(p0, p1), ones));
        }
      }
    }
    const __m256 av = _mm256_load_ps(p.A + 16 * g + 8 * half);
    const int64_t di = (p.g0 + g) >> p.dshift;
    for (int t = 0; t < T; ++t)
      acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(is[t]), _mm256_mul_ps(av, _mm256_set1_ps(dx[t * nab + di])), acc[t]);
    if (kMin) {
      const __m256 bv = _mm256_load_ps(p.B + 16 * g + 8 * half);
      for (int t = 0; t < T; ++t) acc[t] = _mm256_fmadd_ps(bv, _mm256_set1_ps(fs[t * ngr + g]), acc[t]);
    }
  }
  for (int t = 0; t < T; ++t) {
    float* yt = p.y + (t0 + t) * p.ldy + 8 * half;
    alignas(32) float v[8];
    _mm256_store_ps(v, acc[t]);
    for (int i = 0; i < p.rows; ++i) yt[i] = p.accumulate ? yt[i] + v[i] : v[i];
  }
}

constexpr int kTileT = 4;

template <int G, bool kSigned, bool kCorr, bool kMin>
void tiles(const TileArgs& p, int64_t n, int half) {
  int64_t t0 = 0;
  for (; t0 + kTileT <= n; t0 += kTileT) tile<kTileT, G, kSigned, kCorr, kMin>(p, half, t0);
  switch (n - t0) {
    case 1: tile<1, G, kSigned, kCorr, kMin>(p, half, t0); break;
    case 2: tile<2, G, kSigned, kCorr, kMin>(p, half, t0); break;
    case 3: tile<3, G, kSigned, kCorr, kMin>(p, half, t0); break;
    default: break;
  }
}

void gemm(const QuantWeights& w, int64_t r0, int64_t r1, const QuantizedActs& a, float* y, int64_t ldy) {
  const int G = a.group;
  const int64_t kc_max = imin(kKC, w.k), kcp_max = (kc_max + 63) / 64 * 64, ng_max = kc_max / G;
  uint8_t* tmp = quant_scratch(size_t(32 * kcp_max + 2 * ng_max * 64));
  uint8_t* panel = tmp + 16 * kcp_max;
  float* A = reinterpret_cast<float*>(panel + 16 * kcp_max);
  float* B = A + ng_max * 16;
  int dshift = 0;
  while ((G << dshift) < a.ablock) ++dshift;
  for (int64_t rs = r0; rs < r1; rs += 16) {
    const int rv = int(imin(16, r1 - rs));
    for (int64_t k0 = 0; k0 < w.k; k0 += kKC) {
      const int64_t kc = imin(kKC, w.k - k0), kcp = (kc + 63) / 64 * 64;
      unpack_strip(w, rs, rv, k0, kc, kcp, tmp, A, B);
      transpose_strip(tmp, kcp, panel);
      for (int half = 0; half < 2 && 8 * half < rv; ++half) {
        const TileArgs p{panel, A, B, k0 / G, kc / G, dshift, &a, k0, y + rs, ldy, k0 > 0, int(imin(8, rv - 8 * half))};
        switch (w.type) {
          case DType::Q4_0: tiles<32, false, true, false>(p, a.n, half); break;
          case DType::Q8_0: tiles<32, true, false, false>(p, a.n, half); break;
          case DType::Q4_K: tiles<32, false, false, true>(p, a.n, half); break;
          case DType::Q6_K: tiles<16, false, true, false>(p, a.n, half); break;
          default: break;
        }
      }
    }
  }
}

}  // namespace

const QuantVariant& avx2_variant() {
  static const QuantVariant v{"avx2", quantize, gemv, gemm};
  return v;
}

#pragma GCC pop_options

}  // namespace edgerun

#endif  // __x86_64__
