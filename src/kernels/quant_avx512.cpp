// AVX-512 quantized kernels (F/BW/VL/DQ + VNNI + VBMI: Ice Lake, Sapphire Rapids, Zen 4/5).
//
// Decode (one token) streams each weight row once: nibbles are unpacked with byte permutes,
// dot products use vpdpbusd (unsigned weight codes x signed activations) or vpmaddubsw when a
// per-sub-block integer scale can be folded into the following vpmaddwd (K-quants).
// Prefill packs 16-row strips of weights (per k panel of 4096) into "16 rows x 4 consecutive k"
// dwords, so one vpdpbusd computes 16 rows x 4 k for one token with the activation dword
// broadcast; a register tile of 32 rows x 6 tokens issues 2 weight loads and 6 broadcasts per
// 12 VNNI ops. Packing is done on the fly into a per-thread buffer and reused by every token.
//
// The whole file is compiled for the AVX-512 target via a pragma; callers only reach it through
// avx512_variant() after avx512_supported() said yes. Nothing here instantiates templates from
// other headers, so no AVX-512 code can leak into shared inline functions.
#if defined(__x86_64__)
#include <immintrin.h>

#include <cstring>
#include <type_traits>

#include "core/quant.h"
#include "kernels/quant_kernels.h"

namespace edgerun {

bool avx512_supported() {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
         __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq") &&
         __builtin_cpu_supports("avx512vnni") && __builtin_cpu_supports("avx512vbmi") &&
         __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c");
}

#pragma GCC push_options
#pragma GCC target("avx512f,avx512bw,avx512vl,avx512dq,avx512vnni,avx512vbmi,fma,f16c,bmi,bmi2")
// GCC 12 reports the deliberately undefined registers inside its own AVX-512 intrinsics.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

namespace {

inline int64_t imin(int64_t a, int64_t b) { return a < b ? a : b; }
// Decode is bound by how many cache misses one core keeps in flight, and the best way to ask for
// weights ahead differs by vendor. Zen 5: one request ~8 KiB ahead into L2 raised single-core
// streaming from ~19 to ~23 GB/s. Intel (Xeon family 6 model 207): a near request into L1
// (4 KiB ahead) plus a far one into L2 (16 KiB ahead) raised two-core Q8_0 decode streaming
// from ~22 to ~26 GB/s (median of alternating runs), where the single L2 request gave ~22;
// Q4_0 ~21 -> ~25 GB/s, and Q4_K_M decode end to end ~11.9 -> ~12.1 t/s.
enum class Prefetch { L2Ahead, L1AndL2Ahead };
template <Prefetch P>
inline void prefetch(const uint8_t* p, int bytes) {
  for (int o = 0; o < bytes; o += 64) {
    if constexpr (P == Prefetch::L2Ahead) {
      _mm_prefetch(reinterpret_cast<const char*>(p + 8192 + o), _MM_HINT_T1);
    } else {
      _mm_prefetch(reinterpret_cast<const char*>(p + 4096 + o), _MM_HINT_T0);
      _mm_prefetch(reinterpret_cast<const char*>(p + 16384 + o), _MM_HINT_T1);
    }
  }
}
inline int32_t load_i32(const void* p) {
  int32_t v;
  std::memcpy(&v, p, 4);
  return v;
}
inline float h2f(uint16_t h) { return _cvtsh_ss(h); }
inline float hsum(__m512 v) { return _mm512_reduce_add_ps(v); }
inline float hsum(__m256 v) {
  const __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  const __m128 t = _mm_add_ps(s, _mm_movehl_ps(s, s));
  return _mm_cvtss_f32(_mm_add_ss(t, _mm_movehdup_ps(t)));
}

// ---- activation quantization (bit-identical to quantize_acts_ref) ------------------------

void quantize(const float* x, QuantizedActs& a, int64_t t) {
  int8_t* q = a.q + t * a.ldq;
  float* d = a.d + t * a.ablocks();
  int32_t* ic = a.icorr + t * a.groups();
  float* fs = a.fsum + t * a.groups();
  const int ab = a.ablock, G = a.group;
  const __m512 sign = _mm512_set1_ps(-0.0f);
  for (int64_t b = 0; b < a.ablocks(); ++b) {
    const float* xb = x + b * ab;
    __m512 m = _mm512_setzero_ps();
    for (int j = 0; j < ab; j += 16) m = _mm512_max_ps(m, _mm512_andnot_ps(sign, _mm512_loadu_ps(xb + j)));
    const float amax = _mm512_reduce_max_ps(m);
    const float db = amax / 127.0f;
    const float id = db != 0 ? 1.0f / db : 0.0f;
    d[b] = db;
    const __m512 vid = _mm512_set1_ps(id);
    for (int g = 0; g < ab; g += G) {
      __m512i s = _mm512_setzero_si512();
      for (int j = g; j < g + G; j += 16) {
        const __m512i qi = _mm512_cvtps_epi32(_mm512_mul_ps(_mm512_loadu_ps(xb + j), vid));
        _mm_storeu_si128(reinterpret_cast<__m128i*>(q + b * ab + j), _mm512_cvtsepi32_epi8(qi));
        s = _mm512_add_epi32(s, qi);
      }
      const int32_t sum = _mm512_reduce_add_epi32(s);
      const int64_t gi = (b * ab + g) / G;
      ic[gi] = -a.zero_point * sum;
      fs[gi] = db * float(sum);
    }
  }
  for (int64_t j = a.k; j < a.ldq; ++j) q[j] = 0;
}

// ---- decode -------------------------------------------------------------------------------

// Q4_0: eight 18-byte blocks (144 bytes) per step. vpermt2b gathers the 16-byte nibble arrays of
// four blocks into one register and the eight f16 scales into another; low nibbles (elements
// 0..15 of each block) and high nibbles (16..31) then meet activations permuted the same way.
struct Q40Tables {
  __m512i qa, qb, sc;
  Q40Tables() {
    alignas(64) uint8_t a[64], b[64], s[64] = {};
    for (int j = 0; j < 4; ++j)
      for (int i = 0; i < 16; ++i) {
        a[16 * j + i] = uint8_t(18 * j + 2 + i);
        b[16 * j + i] = uint8_t(18 * (j + 4) + 2 + i - 64);
      }
    for (int j = 0; j < 8; ++j) {
      s[2 * j] = uint8_t(18 * j);
      s[2 * j + 1] = uint8_t(18 * j + 1);
    }
    qa = _mm512_load_si512(a);
    qb = _mm512_load_si512(b);
    sc = _mm512_load_si512(s);
  }
};

template <Prefetch P, int R>
void gemv_q4_0_rows(const QuantWeights& w, int64_t r, const QuantizedActs& a, float* y) {
  static const Q40Tables tb;
  const int64_t nb = w.k / 32, nb8 = nb / 8 * 8;
  const __m512i m4 = _mm512_set1_epi8(0x0f);
  const __m512i lo_idx = _mm512_setr_epi64(0, 1, 4, 5, 8, 9, 12, 13);
  const __m512i hi_idx = _mm512_setr_epi64(2, 3, 6, 7, 10, 11, 14, 15);
  const __m512i pa = _mm512_setr_epi32(0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3);
  const __m512i pb = _mm512_setr_epi32(4, 4, 4, 4, 5, 5, 5, 5, 6, 6, 6, 6, 7, 7, 7, 7);
  __m512 acc[R], acc2[R];
  __m256 accc[R];
  for (int i = 0; i < R; ++i) acc[i] = acc2[i] = _mm512_setzero_ps(), accc[i] = _mm256_setzero_ps();
  for (int64_t b = 0; b < nb8; b += 8) {
    const int8_t* xq = a.q + 32 * b;
    const __m512i x0 = _mm512_loadu_si512(xq), x1 = _mm512_loadu_si512(xq + 64);
    const __m512i x2 = _mm512_loadu_si512(xq + 128), x3 = _mm512_loadu_si512(xq + 192);
    const __m512i xla = _mm512_permutex2var_epi64(x0, lo_idx, x1), xha = _mm512_permutex2var_epi64(x0, hi_idx, x1);
    const __m512i xlb = _mm512_permutex2var_epi64(x2, lo_idx, x3), xhb = _mm512_permutex2var_epi64(x2, hi_idx, x3);
    const __m256 dx = _mm256_loadu_ps(a.d + b), fs = _mm256_loadu_ps(a.fsum + b);
    for (int i = 0; i < R; ++i) {
      const uint8_t* p = w.row(r + i) + 18 * b;
      prefetch<P>(p, 144);
      const __m512i z0 = _mm512_loadu_si512(p), z1 = _mm512_loadu_si512(p + 64);
      const __m512i z2 = _mm512_castsi128_si512(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 128)));
      const __m512i qa = _mm512_permutex2var_epi8(z0, tb.qa, z1);
      const __m512i qb = _mm512_permutex2var_epi8(z1, tb.qb, z2);
      const __m256 dw = _mm256_cvtph_ps(_mm512_castsi512_si128(_mm512_permutex2var_epi8(z0, tb.sc, z1)));
      __m512i ia = _mm512_dpbusd_epi32(_mm512_setzero_si512(), _mm512_and_si512(qa, m4), xla);
      ia = _mm512_dpbusd_epi32(ia, _mm512_and_si512(_mm512_srli_epi16(qa, 4), m4), xha);
      __m512i ib = _mm512_dpbusd_epi32(_mm512_setzero_si512(), _mm512_and_si512(qb, m4), xlb);
      ib = _mm512_dpbusd_epi32(ib, _mm512_and_si512(_mm512_srli_epi16(qb, 4), m4), xhb);
      const __m512 s = _mm512_castps256_ps512(_mm256_mul_ps(dw, dx));
      acc[i] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(ia), _mm512_permutexvar_ps(pa, s), acc[i]);
      acc2[i] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(ib), _mm512_permutexvar_ps(pb, s), acc2[i]);
      accc[i] = _mm256_fmadd_ps(dw, fs, accc[i]);
    }
  }
  for (int i = 0; i < R; ++i) {
    float s = hsum(_mm512_add_ps(acc[i], acc2[i])) - 8 * hsum(accc[i]);
    if (nb8 < nb) {  // leftover blocks (k not a multiple of 256)
      const auto* blk = reinterpret_cast<const BlockQ4_0*>(w.row(r + i));
      for (int64_t b = nb8; b < nb; ++b) {
        int32_t is = a.icorr[b];
        for (int j = 0; j < 16; ++j) is += (blk[b].qs[j] & 15) * a.q[32 * b + j] + (blk[b].qs[j] >> 4) * a.q[32 * b + j + 16];
        s += h2f(blk[b].d) * a.d[b] * float(is);
      }
    }
    y[r + i] = s;
  }
}

// Q8_0: eight 34-byte blocks (272 bytes) per step, loaded as 4.25 registers; vpermt2b cuts
// out the 32-byte code arrays of block pairs and the eight f16 scales. Codes become unsigned by
// flipping the sign bit (q + 128); the 128 * Σx excess is removed with the activation sums.
struct Q80Tables {
  __m512i q[4], sa, sb;
  Q80Tables() {
    alignas(64) uint8_t t[4][64], a[64] = {}, b[64] = {};
    for (int p = 0; p < 4; ++p)
      for (int i = 0; i < 64; ++i) {
        const int blk = 2 * p + i / 32;
        t[p][i] = uint8_t(34 * blk + 2 + i % 32 - 64 * p);
      }
    for (int j = 0; j < 4; ++j) {
      a[2 * j] = uint8_t(34 * j), a[2 * j + 1] = uint8_t(34 * j + 1);
      b[2 * j + 8] = uint8_t(34 * (j + 4) - 128), b[2 * j + 9] = uint8_t(34 * (j + 4) - 127);
    }
    for (int p = 0; p < 4; ++p) q[p] = _mm512_load_si512(t[p]);
    sa = _mm512_load_si512(a);
    sb = _mm512_load_si512(b);
  }
};

template <Prefetch P, int R>
void gemv_q8_0_rows(const QuantWeights& w, int64_t r, const QuantizedActs& a, float* y) {
  static const Q80Tables tb;
  const int64_t nb = w.k / 32, nb8 = nb / 8 * 8;
  const __m512i flip = _mm512_set1_epi8(char(0x80));
  __m512i pat[4];
  for (int j = 0; j < 4; ++j)
    pat[j] = _mm512_inserti64x4(_mm512_set1_epi32(2 * j), _mm256_set1_epi32(2 * j + 1), 1);
  __m512 acc[R];
  __m256 accc[R];
  for (int i = 0; i < R; ++i) acc[i] = _mm512_setzero_ps(), accc[i] = _mm256_setzero_ps();
  for (int64_t b = 0; b < nb8; b += 8) {
    const __m256 dx = _mm256_loadu_ps(a.d + b), fs = _mm256_loadu_ps(a.fsum + b);
    for (int i = 0; i < R; ++i) {
      const uint8_t* p = w.row(r + i) + 34 * b;
      prefetch<P>(p, 272);
      __m512i z[5];
      for (int j = 0; j < 4; ++j) z[j] = _mm512_loadu_si512(p + 64 * j);
      z[4] = _mm512_castsi128_si512(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 256)));
      const __m512i sc = _mm512_mask_blend_epi8(0xff00, _mm512_permutex2var_epi8(z[0], tb.sa, z[1]),
                                                _mm512_permutex2var_epi8(z[2], tb.sb, z[3]));
      const __m256 dw = _mm256_cvtph_ps(_mm512_castsi512_si128(sc));
      const __m512 s = _mm512_castps256_ps512(_mm256_mul_ps(dw, dx));
      for (int j = 0; j < 4; ++j) {
        const __m512i u = _mm512_xor_si512(_mm512_permutex2var_epi8(z[j], tb.q[j], z[j + 1]), flip);
        const __m512i is = _mm512_dpbusd_epi32(_mm512_setzero_si512(), u, _mm512_loadu_si512(a.q + 32 * b + 64 * j));
        acc[i] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(is), _mm512_permutexvar_ps(pat[j], s), acc[i]);
      }
      accc[i] = _mm256_fmadd_ps(dw, fs, accc[i]);
    }
  }
  for (int i = 0; i < R; ++i) {
    float s = hsum(acc[i]) - 128 * hsum(accc[i]);
    const auto* blk = reinterpret_cast<const BlockQ8_0*>(w.row(r + i));
    for (int64_t b = nb8; b < nb; ++b) {
      int32_t is = 0;
      for (int j = 0; j < 32; ++j) is += blk[b].qs[j] * a.q[32 * b + j];
      s += h2f(blk[b].d) * a.d[b] * float(is);
    }
    y[r + i] = s;
  }
}

// The 6-bit scales and mins of a Q4_K super-block as bytes sc[0..7], m[0..7], unpacked with
// 32-bit lane arithmetic (reads 16 bytes: the 12 scale bytes and 4 bytes of codes).
inline __m128i q4k_scales(const uint8_t* s) {
  const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(s));  // u0 u1 u2 -
  const __m128i lo = _mm_and_si128(v, _mm_set1_epi32(0x3f3f3f3f));           // sc_lo m_lo
  const __m128i top = _mm_slli_epi32(_mm_and_si128(_mm_srli_epi32(v, 6), _mm_set1_epi32(0x03030303)), 4);
  const __m128i u2 = _mm_srlv_epi32(_mm_shuffle_epi32(v, 0xaa), _mm_setr_epi32(0, 4, 0, 4));
  const __m128i hi = _mm_or_si128(_mm_and_si128(u2, _mm_set1_epi32(0x0f0f0f0f)), top);  // sc_hi m_hi
  return _mm_unpacklo_epi32(lo, hi);                                                     // sc_lo sc_hi m_lo m_hi
}

// Q4_K: 128 elements per step. Low and high nibbles of 64 code bytes hold sub-blocks
// (4p, 4p+2) and (4p+1, 4p+3); two 256-bit shuffles restore element order. vpmaddubsw gives
// 16-bit pair sums (at most 2*15*127) and vpmaddwd multiplies them by the sub-block scale, taken
// from a broadcast of the eight 16-bit scales with one in-lane byte shuffle.
template <Prefetch P, int R>
void gemv_q4_k_rows(const QuantWeights& w, int64_t r, const QuantizedActs& a, float* y) {
  const int64_t nsb = w.k / 256;
  const __m512i m4 = _mm512_set1_epi8(0x0f);
  __m512i ctrl[4];
  for (int q = 0; q < 4; ++q) {
    alignas(64) uint8_t c[64];
    for (int i = 0; i < 64; ++i) {
      const int j = 2 * q + (i >= 32);
      c[i] = uint8_t(2 * j + (i & 1));
    }
    ctrl[q] = _mm512_load_si512(c);
  }
  __m512 acc[R];
  __m256 accm[R];
  for (int i = 0; i < R; ++i) acc[i] = _mm512_setzero_ps(), accm[i] = _mm256_setzero_ps();
  for (int64_t sb = 0; sb < nsb; ++sb) {
    const int8_t* xq = a.q + 256 * sb;
    const __m256 fs = _mm256_loadu_ps(a.fsum + 8 * sb);
    for (int i = 0; i < R; ++i) {
      const auto* blk = reinterpret_cast<const BlockQ4_K*>(w.row(r + i)) + sb;
      prefetch<P>(reinterpret_cast<const uint8_t*>(blk), 144);
      const __m128i sm = q4k_scales(blk->scales);
      const __m512i scb = _mm512_broadcast_i32x4(_mm_cvtepu8_epi16(sm));
      __m512i is = _mm512_setzero_si512();
      for (int p = 0; p < 2; ++p) {
        const __m512i z = _mm512_loadu_si512(blk->qs + 64 * p);
        const __m512i lo = _mm512_and_si512(z, m4), hi = _mm512_and_si512(_mm512_srli_epi16(z, 4), m4);
        const __m512i u0 = _mm512_shuffle_i64x2(lo, hi, 0x44), u1 = _mm512_shuffle_i64x2(lo, hi, 0xee);
        const __m512i p0 = _mm512_maddubs_epi16(u0, _mm512_loadu_si512(xq + 128 * p));
        const __m512i p1 = _mm512_maddubs_epi16(u1, _mm512_loadu_si512(xq + 128 * p + 64));
        is = _mm512_add_epi32(is, _mm512_madd_epi16(p0, _mm512_shuffle_epi8(scb, ctrl[2 * p])));
        is = _mm512_add_epi32(is, _mm512_madd_epi16(p1, _mm512_shuffle_epi8(scb, ctrl[2 * p + 1])));
      }
      const __m128 dd = _mm_cvtph_ps(_mm_cvtsi32_si128(load_i32(&blk->d)));  // d, dmin
      acc[i] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(is), _mm512_set1_ps(_mm_cvtss_f32(dd) * a.d[sb]), acc[i]);
      const __m256 mins = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_srli_si128(sm, 8)));
      accm[i] = _mm256_fmadd_ps(_mm256_mul_ps(mins, _mm256_broadcastss_ps(_mm_movehdup_ps(dd))), fs, accm[i]);
    }
  }
  for (int i = 0; i < R; ++i) y[r + i] = hsum(acc[i]) - hsum(accm[i]);
}

// Q6_K: 128 elements per step from 64 bytes of low nibbles and 32 bytes of high bit pairs; the
// 16 signed sub-block scales are applied by vpmaddwd and the -32 offset via the group sums.
template <Prefetch P, int R>
void gemv_q6_k_rows(const QuantWeights& w, int64_t r, const QuantizedActs& a, float* y) {
  const int64_t nsb = w.k / 256;
  const __m512i m4 = _mm512_set1_epi8(0x0f), m30 = _mm512_set1_epi8(0x30);
  __m512i sidx[4];
  for (int j = 0; j < 4; ++j) {
    alignas(64) int16_t v[32];
    for (int l = 0; l < 32; ++l) v[l] = int16_t(4 * j + l / 8);
    sidx[j] = _mm512_load_si512(v);
  }
  __m512 acc[R];
  for (int i = 0; i < R; ++i) acc[i] = _mm512_setzero_ps();
  for (int64_t sb = 0; sb < nsb; ++sb) {
    const int8_t* xq = a.q + 256 * sb;
    const __m512i ic = _mm512_loadu_si512(a.icorr + 16 * sb);
    for (int i = 0; i < R; ++i) {
      const auto* blk = reinterpret_cast<const BlockQ6_K*>(w.row(r + i)) + sb;
      prefetch<P>(reinterpret_cast<const uint8_t*>(blk), 210);
      const __m128i sc8 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(blk->scales));
      const __m512i sc16 = _mm512_castsi256_si512(_mm256_cvtepi8_epi16(sc8));
      __m512i is = _mm512_mullo_epi32(_mm512_cvtepi8_epi32(sc8), ic);
      for (int h = 0; h < 2; ++h) {
        const __m512i ql = _mm512_loadu_si512(blk->ql + 64 * h);
        const __m256i qh = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk->qh + 32 * h));
        const __m512i zq = _mm512_inserti64x4(_mm512_castsi256_si512(qh), _mm256_srli_epi16(qh, 2), 1);
        const __m512i lo = _mm512_or_si512(_mm512_and_si512(ql, m4), _mm512_and_si512(_mm512_slli_epi16(zq, 4), m30));
        const __m512i hi = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(ql, 4), m4), _mm512_and_si512(zq, m30));
        const __m512i plo = _mm512_maddubs_epi16(lo, _mm512_loadu_si512(xq + 128 * h));
        const __m512i phi = _mm512_maddubs_epi16(hi, _mm512_loadu_si512(xq + 128 * h + 64));
        is = _mm512_add_epi32(is, _mm512_madd_epi16(plo, _mm512_permutexvar_epi16(sidx[2 * h], sc16)));
        is = _mm512_add_epi32(is, _mm512_madd_epi16(phi, _mm512_permutexvar_epi16(sidx[2 * h + 1], sc16)));
      }
      acc[i] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(is), _mm512_set1_ps(h2f(blk->d) * a.d[sb]), acc[i]);
    }
  }
  for (int i = 0; i < R; ++i) y[r + i] = hsum(acc[i]);
}

template <int R, typename F>
inline void rows_loop(int64_t r0, int64_t r1, F&& f) {
  int64_t r = r0;
  for (; r + R <= r1; r += R) f(r, std::integral_constant<int, R>());
  for (; r < r1; ++r) f(r, std::integral_constant<int, 1>());
}

template <Prefetch P>
void gemv(const QuantWeights& w, int64_t r0, int64_t r1, const QuantizedActs& a, float* y) {
  switch (w.type) {
    case DType::Q4_0:
      rows_loop<4>(r0, r1, [&](int64_t r, auto R) { gemv_q4_0_rows<P, decltype(R)::value>(w, r, a, y); });
      return;
    case DType::Q8_0:
      rows_loop<2>(r0, r1, [&](int64_t r, auto R) { gemv_q8_0_rows<P, decltype(R)::value>(w, r, a, y); });
      return;
    case DType::Q4_K:
      rows_loop<2>(r0, r1, [&](int64_t r, auto R) { gemv_q4_k_rows<P, decltype(R)::value>(w, r, a, y); });
      return;
    case DType::Q6_K:
      rows_loop<2>(r0, r1, [&](int64_t r, auto R) { gemv_q6_k_rows<P, decltype(R)::value>(w, r, a, y); });
      return;
    default: return;
  }
}

// ---- prefill GEMM ---------------------------------------------------------------------------

constexpr int64_t kKC = 4096;  // k elements per packed panel (2 x 16 rows x 4 KiB of codes, in L2)

// Decodes rows [rs, rs + rv) x columns [k0, k0 + kc) into unsigned codes tmp[16][kcp] and the
// per-group scales A[g][16] (and Q4_K mins B[g][16]); missing rows become zeros.
void unpack_strip(const QuantWeights& w, int64_t rs, int rv, int64_t k0, int64_t kc, int64_t kcp, uint8_t* tmp,
                  float* A, float* B) {
  const int G = quant_group(w.type);
  const int64_t ng = kc / G;
  const __m256i m4y = _mm256_set1_epi8(0x0f);
  const __m128i m4x = _mm_set1_epi8(0x0f);
  for (int r = 0; r < 16; ++r) {
    uint8_t* dst = tmp + r * kcp;
    if (r >= rv) {
      std::memset(dst, 0, size_t(kcp));
      for (int64_t g = 0; g < ng; ++g) A[g * 16 + r] = B[g * 16 + r] = 0;
      continue;
    }
    for (int64_t j = kc; j < kcp; ++j) dst[j] = 0;
    const uint8_t* row = w.row(rs + r);
    switch (w.type) {
      case DType::Q4_0:
        for (int64_t g = 0; g < ng; ++g) {
          const uint8_t* p = row + 18 * (k0 / 32 + g);
          const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 2));
          const __m256i u = _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_and_si128(v, m4x)),
                                                    _mm_and_si128(_mm_srli_epi16(v, 4), m4x), 1);
          _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst + 32 * g), u);
          A[g * 16 + r] = h2f(uint16_t(p[0] | (p[1] << 8)));
        }
        break;
      case DType::Q8_0:
        for (int64_t g = 0; g < ng; ++g) {
          const uint8_t* p = row + 34 * (k0 / 32 + g);
          const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + 2));
          _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst + 32 * g), _mm256_xor_si256(v, _mm256_set1_epi8(char(0x80))));
          A[g * 16 + r] = h2f(uint16_t(p[0] | (p[1] << 8)));
        }
        break;
      case DType::Q4_K:
        for (int64_t sb = 0; sb < kc / 256; ++sb) {
          const auto* blk = reinterpret_cast<const BlockQ4_K*>(row) + k0 / 256 + sb;
          alignas(16) uint8_t sm[16];
          _mm_store_si128(reinterpret_cast<__m128i*>(sm), q4k_scales(blk->scales));
          const float d = h2f(blk->d), dmin = h2f(blk->dmin);
          for (int c = 0; c < 4; ++c) {
            const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk->qs + 32 * c));
            _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst + 256 * sb + 64 * c), _mm256_and_si256(v, m4y));
            _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst + 256 * sb + 64 * c + 32),
                                _mm256_and_si256(_mm256_srli_epi16(v, 4), m4y));
          }
          for (int j = 0; j < 8; ++j) {
            A[(8 * sb + j) * 16 + r] = d * sm[j];
            B[(8 * sb + j) * 16 + r] = -dmin * sm[8 + j];
          }
        }
        break;
      case DType::Q6_K: {
        const __m512i m4 = _mm512_set1_epi8(0x0f), m30 = _mm512_set1_epi8(0x30);
        for (int64_t sb = 0; sb < kc / 256; ++sb) {
          const auto* blk = reinterpret_cast<const BlockQ6_K*>(row) + k0 / 256 + sb;
          for (int h = 0; h < 2; ++h) {
            const __m512i ql = _mm512_loadu_si512(blk->ql + 64 * h);
            const __m256i qh = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk->qh + 32 * h));
            const __m512i zq = _mm512_inserti64x4(_mm512_castsi256_si512(qh), _mm256_srli_epi16(qh, 2), 1);
            _mm512_storeu_si512(dst + 256 * sb + 128 * h,
                                _mm512_or_si512(_mm512_and_si512(ql, m4), _mm512_and_si512(_mm512_slli_epi16(zq, 4), m30)));
            _mm512_storeu_si512(dst + 256 * sb + 128 * h + 64,
                                _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(ql, 4), m4), _mm512_and_si512(zq, m30)));
          }
          const float d = h2f(blk->d);
          for (int g = 0; g < 16; ++g) A[(16 * sb + g) * 16 + r] = d * blk->scales[g];
        }
        break;
      }
      default: break;
    }
  }
}

// In-register transpose of a 16x16 matrix of dwords.
inline void transpose16(__m512i r[16]) {
  __m512i t[16], u[16];
  for (int i = 0; i < 8; ++i) {
    t[2 * i] = _mm512_unpacklo_epi32(r[2 * i], r[2 * i + 1]);
    t[2 * i + 1] = _mm512_unpackhi_epi32(r[2 * i], r[2 * i + 1]);
  }
  for (int i = 0; i < 4; ++i) {
    u[4 * i] = _mm512_unpacklo_epi64(t[4 * i], t[4 * i + 2]);
    u[4 * i + 1] = _mm512_unpackhi_epi64(t[4 * i], t[4 * i + 2]);
    u[4 * i + 2] = _mm512_unpacklo_epi64(t[4 * i + 1], t[4 * i + 3]);
    u[4 * i + 3] = _mm512_unpackhi_epi64(t[4 * i + 1], t[4 * i + 3]);
  }
  for (int c = 0; c < 4; ++c) {
    const __m512i v0 = _mm512_shuffle_i32x4(u[c], u[4 + c], 0x88), v1 = _mm512_shuffle_i32x4(u[c], u[4 + c], 0xdd);
    const __m512i v2 = _mm512_shuffle_i32x4(u[8 + c], u[12 + c], 0x88), v3 = _mm512_shuffle_i32x4(u[8 + c], u[12 + c], 0xdd);
    r[c] = _mm512_shuffle_i32x4(v0, v2, 0x88);
    r[8 + c] = _mm512_shuffle_i32x4(v0, v2, 0xdd);
    r[4 + c] = _mm512_shuffle_i32x4(v1, v3, 0x88);
    r[12 + c] = _mm512_shuffle_i32x4(v1, v3, 0xdd);
  }
}

// Codes tmp[16][kcp] -> panel[kcp / 4][16 rows][4 bytes]: one zmm = 16 rows x 4 consecutive k.
void transpose_strip(const uint8_t* tmp, int64_t kcp, uint8_t* panel) {
  for (int64_t c = 0; c < kcp / 64; ++c) {
    __m512i r[16];
    for (int i = 0; i < 16; ++i) r[i] = _mm512_load_si512(tmp + i * kcp + 64 * c);
    transpose16(r);
    for (int s = 0; s < 16; ++s) _mm512_store_si512(panel + (16 * c + s) * 64, r[s]);
  }
}

struct Panel {
  uint8_t* codes;  // [kcp / 4][16][4]
  float *A, *B;    // [ng][16]
  __mmask16 mask;  // valid rows
};

struct TileArgs {
  Panel panel[2];
  int64_t g0, ng;  // first group (global index) and group count of the panels
  int dshift;      // activation-scale index = global group >> dshift
  const QuantizedActs* a;
  int64_t k0;
  float* y;  // y + first row of panel 0
  int64_t ldy;
  bool accumulate;
};

// RV panels of 16 rows x T tokens. Integer sums per group start from the zero-point
// correction; then one f32 FMA per group applies weight scale x activation scale. With RV=2
// each activation broadcast feeds two vpdpbusd, which keeps the loads below the VNNI rate.
template <int RV, int T, int G, bool kCorr, bool kMin>
void tile(const TileArgs& p, int64_t t0) {
  const QuantizedActs& a = *p.a;
  const int64_t ldq = a.ldq, nab = a.ablocks(), ngr = a.groups();
  const int8_t* xq = a.q + t0 * ldq + p.k0;
  const float* dx = a.d + t0 * nab;
  const int32_t* ic = a.icorr + t0 * ngr + p.g0;
  const float* fs = a.fsum + t0 * ngr + p.g0;
  __m512 acc[RV][T];
  for (int v = 0; v < RV; ++v)
    for (int t = 0; t < T; ++t)
      acc[v][t] = p.accumulate ? _mm512_maskz_loadu_ps(p.panel[v].mask, p.y + (t0 + t) * p.ldy + 16 * v)
                               : _mm512_setzero_ps();
  for (int64_t g = 0; g < p.ng; ++g) {
    __m512i is[RV][T];
    for (int t = 0; t < T; ++t) {
      const __m512i init = kCorr ? _mm512_set1_epi32(ic[t * ngr + g]) : _mm512_setzero_si512();
      for (int v = 0; v < RV; ++v) is[v][t] = init;
    }
    const int8_t* xg = xq + g * G;
    for (int s = 0; s < G / 4; ++s) {
      __m512i wv[RV];
      for (int v = 0; v < RV; ++v) wv[v] = _mm512_load_si512(p.panel[v].codes + (g * G / 4 + s) * 64);
      for (int t = 0; t < T; ++t) {
        const __m512i xb = _mm512_set1_epi32(load_i32(xg + t * ldq + 4 * s));
        for (int v = 0; v < RV; ++v) is[v][t] = _mm512_dpbusd_epi32(is[v][t], wv[v], xb);
      }
    }
    const int64_t di = (p.g0 + g) >> p.dshift;
    for (int v = 0; v < RV; ++v) {
      const __m512 av = _mm512_load_ps(p.panel[v].A + 16 * g);
      for (int t = 0; t < T; ++t)
        acc[v][t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(is[v][t]), _mm512_mul_ps(av, _mm512_set1_ps(dx[t * nab + di])), acc[v][t]);
      if (kMin) {
        const __m512 bv = _mm512_load_ps(p.panel[v].B + 16 * g);
        for (int t = 0; t < T; ++t) acc[v][t] = _mm512_fmadd_ps(bv, _mm512_set1_ps(fs[t * ngr + g]), acc[v][t]);
      }
    }
  }
  for (int v = 0; v < RV; ++v)
    for (int t = 0; t < T; ++t) _mm512_mask_storeu_ps(p.y + (t0 + t) * p.ldy + 16 * v, p.panel[v].mask, acc[v][t]);
}

// Token tiles: 6 tokens for two panels (24 accumulators + 2 weights + 1 broadcast of 32
// registers), 8 for one.
template <int RV, int G, bool kCorr, bool kMin>
void tiles(const TileArgs& p, int64_t n) {
  constexpr int TT = RV == 2 ? 6 : 8;
  int64_t t0 = 0;
  for (; t0 + TT <= n; t0 += TT) tile<RV, TT, G, kCorr, kMin>(p, t0);
  switch (n - t0) {
    case 1: tile<RV, 1, G, kCorr, kMin>(p, t0); break;
    case 2: tile<RV, 2, G, kCorr, kMin>(p, t0); break;
    case 3: tile<RV, 3, G, kCorr, kMin>(p, t0); break;
    case 4: tile<RV, 4, G, kCorr, kMin>(p, t0); break;
    case 5: tile<RV, 5, G, kCorr, kMin>(p, t0); break;
    case 6: if (TT > 6) tile<RV, 6, G, kCorr, kMin>(p, t0); break;
    case 7: if (TT > 7) tile<RV, 7, G, kCorr, kMin>(p, t0); break;
    default: break;
  }
}

template <int RV>
void run_tiles(DType type, const TileArgs& p, int64_t n) {
  switch (type) {
    case DType::Q4_0: case DType::Q8_0: tiles<RV, 32, true, false>(p, n); break;
    case DType::Q4_K: tiles<RV, 32, false, true>(p, n); break;
    case DType::Q6_K: tiles<RV, 16, true, false>(p, n); break;
    default: break;
  }
}

// Rows are taken 32 at a time (two packed panels); a trailing 16-row strip uses one panel.
// The k dimension is cut into panels of kKC so the codes (2 x 32 KiB) stay in L1/L2 while
// every token tile streams past them.
void gemm(const QuantWeights& w, int64_t r0, int64_t r1, const QuantizedActs& a, float* y, int64_t ldy) {
  const int G = a.group;
  const int64_t kc_max = imin(kKC, w.k), kcp_max = (kc_max + 63) / 64 * 64, ng_max = kc_max / G;
  const size_t panel_bytes = size_t(16 * kcp_max + 2 * ng_max * 64);
  uint8_t* tmp = quant_scratch(size_t(16 * kcp_max) + 2 * panel_bytes);
  Panel panel[2];
  for (int v = 0; v < 2; ++v) {
    panel[v].codes = tmp + 16 * kcp_max + v * panel_bytes;
    panel[v].A = reinterpret_cast<float*>(panel[v].codes + 16 * kcp_max);
    panel[v].B = panel[v].A + ng_max * 16;
  }
  int dshift = 0;
  while ((G << dshift) < a.ablock) ++dshift;
  for (int64_t rs = r0; rs < r1; rs += 32) {
    const int rv = int(imin(32, r1 - rs));
    const int np = rv > 16 ? 2 : 1;
    for (int64_t k0 = 0; k0 < w.k; k0 += kKC) {
      const int64_t kc = imin(kKC, w.k - k0), kcp = (kc + 63) / 64 * 64;
      for (int v = 0; v < np; ++v) {
        const int rows = int(imin(16, rv - 16 * v));
        unpack_strip(w, rs + 16 * v, rows, k0, kc, kcp, tmp, panel[v].A, panel[v].B);
        transpose_strip(tmp, kcp, panel[v].codes);
        panel[v].mask = __mmask16((1u << rows) - 1);
      }
      const TileArgs p{{panel[0], panel[1]}, k0 / G, kc / G, dshift, &a, k0, y + rs, ldy, k0 > 0};
      if (np == 2) run_tiles<2>(w.type, p, a.n);
      else run_tiles<1>(w.type, p, a.n);
    }
  }
}

// Each vendor gets the prefetch scheme measured on it (see prefetch()); a prefetch never changes
// results, so both instantiations compute the same values.
decltype(&gemv<Prefetch::L2Ahead>) decode_kernel_for_this_cpu() {
  __builtin_cpu_init();
  return __builtin_cpu_is("amd") ? gemv<Prefetch::L2Ahead> : gemv<Prefetch::L1AndL2Ahead>;
}

}  // namespace

const QuantVariant& avx512_variant() {
  static const QuantVariant v{"avx512", quantize, decode_kernel_for_this_cpu(), gemm};
  return v;
}

#pragma GCC pop_options

}  // namespace edgerun

#endif  // __x86_64__
