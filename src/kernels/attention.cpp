#include "kernels/attention.h"

#include <algorithm>
#include <limits>
#include <cstring>
#include <vector>

#include "core/error.h"
#include "core/quant.h"
#include "kernels/fast_math.h"
#include "kernels/matmul.h"
#include "kernels/ops.h"
#include "kernels/simd.h"

namespace edgerun {

namespace {

EDGERUN_MULTIVERSION
void f32_to_half_row(DType type, const float* src, uint16_t* dst, int64_t n) {
  if (type == DType::BF16)
    for (int64_t i = 0; i < n; ++i) dst[i] = f32_to_bf16(src[i]);
  else
    for (int64_t i = 0; i < n; ++i) dst[i] = f32_to_f16(src[i]);
}

// Keys per block of the tiled attention: one block's scores for a row fill four AVX-512 vectors.
constexpr int64_t kKeyBlock = 64;
// Query rows per tile (tokens x heads of one KV group): enough to reuse each converted key/value
// block many times, few enough that the tile's scores and outputs stay in L1/L2.
constexpr int64_t kTileRows = 64;
// From this many query rows on, keys are transposed once per block for the score GEMM.
constexpr int64_t kTransposeRows = 16;


// Converts positions [j0, j1) of one KV head to F32: values as rows vb[j - j0][d]; keys either
// as rows kb[j - j0][d] or, for tiles with many query rows, transposed kb[d][j - j0] so the
// score loop runs along keys (the scattered writes then pay off over the rows). Missing keys
// are zero.
void load_kv_block(const KVCacheView& c, int64_t kv_dim, int64_t head, int64_t hd, int64_t j0, int64_t j1,
                   bool transpose_keys, float* kb, float* vb, float* tmp) {
  const size_t row = kv_row_bytes(c.type, kv_dim), head_off = kv_row_bytes(c.type, head * hd);
  for (int64_t j = j0; j < j1; ++j) {
    const uint8_t* key = c.k + size_t(j) * row + head_off;
    if (transpose_keys) {
      to_f32(c.type, key, tmp, hd);
      for (int64_t d = 0; d < hd; ++d) kb[d * kKeyBlock + (j - j0)] = tmp[d];
    } else {
      to_f32(c.type, key, kb + (j - j0) * hd, hd);
    }
    to_f32(c.type, c.v + size_t(j) * row + head_off, vb + (j - j0) * hd, hd);
  }
  if (transpose_keys)
    for (int64_t d = 0; d < hd; ++d)
      for (int64_t j = j1 - j0; j < kKeyBlock; ++j) kb[d * kKeyBlock + j] = 0;
}

// Few query rows (decode): one dot product per (row, key) straight from the key rows.
void block_scores_rows(const float* q, int64_t rows, int64_t hd, const float* kb, int64_t keys, float* s) {
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t j = 0; j < keys; ++j) s[r * kKeyBlock + j] = dot_f32(q + r * hd, kb + j * hd, hd);
}

// s[r][j] = Σ_d q[r][d] * kt[d][j] for `rows` query rows, four rows at a time so each key
// vector loaded serves four rows.
EDGERUN_MULTIVERSION
void block_scores(const float* q, int64_t rows, int64_t hd, const float* kt, float* s) {
  int64_t r = 0;
  for (; r + 4 <= rows; r += 4) {
    float a0[kKeyBlock] = {}, a1[kKeyBlock] = {}, a2[kKeyBlock] = {}, a3[kKeyBlock] = {};
    const float *q0 = q + r * hd, *q1 = q0 + hd, *q2 = q1 + hd, *q3 = q2 + hd;
    for (int64_t d = 0; d < hd; ++d) {
      const float* k = kt + d * kKeyBlock;
      for (int64_t j = 0; j < kKeyBlock; ++j) {
        a0[j] += q0[d] * k[j];
        a1[j] += q1[d] * k[j];
        a2[j] += q2[d] * k[j];
        a3[j] += q3[d] * k[j];
      }
    }
    std::memcpy(s + r * kKeyBlock, a0, sizeof a0);
    std::memcpy(s + (r + 1) * kKeyBlock, a1, sizeof a1);
    std::memcpy(s + (r + 2) * kKeyBlock, a2, sizeof a2);
    std::memcpy(s + (r + 3) * kKeyBlock, a3, sizeof a3);
  }
  for (; r < rows; ++r) {
    float a[kKeyBlock] = {};
    for (int64_t d = 0; d < hd; ++d)
      for (int64_t j = 0; j < kKeyBlock; ++j) a[j] += q[r * hd + d] * kt[d * kKeyBlock + j];
    std::memcpy(s + r * kKeyBlock, a, sizeof a);
  }
}

// Online softmax step for one row: folds the block's scores (entries at or past `valid` are
// masked) into the running max m and sum l, rescales the row's output o, and leaves the block's
// probabilities in s (zero where masked, so a fully masked row adds nothing).
EDGERUN_MULTIVERSION
void softmax_step_portable(float* s, int64_t valid, float* m, float* l, float* o, int64_t hd) {
  if (valid <= 0) {
    std::fill(s, s + kKeyBlock, 0.0f);
    return;
  }
  float mb = s[0];
  for (int64_t j = 1; j < valid; ++j) mb = std::max(mb, s[j]);
  const float m_new = std::max(*m, mb);
  const float correction = exp_approx(*m - m_new);
  float sum = 0;
  for (int64_t j = 0; j < kKeyBlock; ++j) {
    const float e = j < valid ? exp_approx(s[j] - m_new) : 0.0f;
    s[j] = e;
    sum += e;
  }
  *l = *l * correction + sum;
  *m = m_new;
  if (correction != 1.0f)
    for (int64_t d = 0; d < hd; ++d) o[d] *= correction;
}

#if defined(__x86_64__)
// The same over the block's four vectors, lanes past `valid` masked off.
__attribute__((target("avx512f"))) void softmax_step_avx512(float* s, int64_t valid, float* m, float* l, float* o,
                                                            int64_t hd) {
  static_assert(kKeyBlock == 64, "four vectors of sixteen scores");
  if (valid <= 0) {
    std::fill(s, s + kKeyBlock, 0.0f);
    return;
  }
  __mmask16 live[4];
  __m512 mx = _mm512_set1_ps(-std::numeric_limits<float>::infinity());
  for (int i = 0; i < 4; ++i) {
    const int64_t left = valid - 16 * i;
    live[i] = left >= 16 ? __mmask16(0xFFFF) : left <= 0 ? __mmask16(0) : __mmask16((1u << left) - 1);
    mx = _mm512_mask_max_ps(mx, live[i], mx, _mm512_loadu_ps(s + 16 * i));
  }
  const float m_new = std::max(*m, _mm512_reduce_max_ps(mx));
  const float correction = exp_approx(*m - m_new);
  const __m512 shift = _mm512_set1_ps(m_new);
  __m512 sum = _mm512_setzero_ps();
  for (int i = 0; i < 4; ++i) {
    const __m512 e = _mm512_maskz_mov_ps(live[i], exp_approx16(_mm512_sub_ps(_mm512_loadu_ps(s + 16 * i), shift)));
    _mm512_storeu_ps(s + 16 * i, e);
    sum = _mm512_add_ps(sum, e);
  }
  *l = *l * correction + _mm512_reduce_add_ps(sum);
  *m = m_new;
  if (correction != 1.0f)
    for (int64_t d = 0; d < hd; ++d) o[d] *= correction;
}
#endif

// The online softmax step, vectorised where the CPU allows.
void softmax_step(float* s, int64_t valid, float* m, float* l, float* o, int64_t hd) {
#if defined(__x86_64__)
  static const bool avx512 = __builtin_cpu_supports("avx512f");
  if (avx512) return softmax_step_avx512(s, valid, m, l, o, hd);
#endif
  softmax_step_portable(s, valid, m, l, o, hd);
}

// o[r][d] += Σ_j p[r][j] * vb[j][d]: four rows times 32 columns of o stay in registers while
// the block's values stream past once.
EDGERUN_MULTIVERSION
void block_values(const float* p, const float* vb, int64_t rows, int64_t valid, int64_t hd, float* o) {
  constexpr int64_t kCols = 32;
  int64_t r = 0;
  for (; r + 4 <= rows; r += 4) {
    const float *p0 = p + r * kKeyBlock, *p1 = p0 + kKeyBlock, *p2 = p1 + kKeyBlock, *p3 = p2 + kKeyBlock;
    float *o0 = o + r * hd, *o1 = o0 + hd, *o2 = o1 + hd, *o3 = o2 + hd;
    int64_t d0 = 0;
    for (; d0 + kCols <= hd; d0 += kCols) {
      float a0[kCols], a1[kCols], a2[kCols], a3[kCols];
      for (int64_t d = 0; d < kCols; ++d) a0[d] = o0[d0 + d], a1[d] = o1[d0 + d], a2[d] = o2[d0 + d], a3[d] = o3[d0 + d];
      for (int64_t j = 0; j < valid; ++j) {
        const float* v = vb + j * hd + d0;
        for (int64_t d = 0; d < kCols; ++d) {
          a0[d] += p0[j] * v[d];
          a1[d] += p1[j] * v[d];
          a2[d] += p2[j] * v[d];
          a3[d] += p3[j] * v[d];
        }
      }
      for (int64_t d = 0; d < kCols; ++d) o0[d0 + d] = a0[d], o1[d0 + d] = a1[d], o2[d0 + d] = a2[d], o3[d0 + d] = a3[d];
    }
    for (int64_t j = 0; j < valid; ++j)  // columns past the last multiple of 32
      for (int64_t d = d0; d < hd; ++d) {
        const float v = vb[j * hd + d];
        o0[d] += p0[j] * v, o1[d] += p1[j] * v, o2[d] += p2[j] * v, o3[d] += p3[j] * v;
      }
  }
  for (; r < rows; ++r)
    for (int64_t j = 0; j < valid; ++j)
      for (int64_t d = 0; d < hd; ++d) o[r * hd + d] += p[r * kKeyBlock + j] * vb[j * hd + d];
}

}  // namespace

size_t kv_row_bytes(DType t, int64_t kv_dim) { return dtype_row_bytes(t, kv_dim); }

bool kv_type_supported(DType t) {
  return t == DType::F32 || t == DType::F16 || t == DType::BF16 || t == DType::Q8_0;
}

void store_kv(const float* k, const float* v, int64_t n, int64_t start, int64_t kv_dim, const KVCacheView& c) {
  const size_t row = kv_row_bytes(c.type, kv_dim);
  for (int64_t t = 0; t < n; ++t) {
    uint8_t* kd = c.k + size_t(start + t) * row;
    uint8_t* vd = c.v + size_t(start + t) * row;
    switch (c.type) {
      case DType::F32:
        std::memcpy(kd, k + t * kv_dim, row);
        std::memcpy(vd, v + t * kv_dim, row);
        break;
      case DType::Q8_0:
        quantize_row(DType::Q8_0, k + t * kv_dim, kd, kv_dim);
        quantize_row(DType::Q8_0, v + t * kv_dim, vd, kv_dim);
        break;
      default:
        f32_to_half_row(c.type, k + t * kv_dim, reinterpret_cast<uint16_t*>(kd), kv_dim);
        f32_to_half_row(c.type, v + t * kv_dim, reinterpret_cast<uint16_t*>(vd), kv_dim);
    }
  }
}

void attention(const float* q, int64_t n, int64_t start, const KVCacheView& c, const AttentionShape& s,
               float* out, ThreadPool& pool) {
  const int64_t hd = s.head_dim, kv_dim = s.n_kv_heads * hd, q_dim = s.n_heads * hd;
  const int64_t group = s.n_heads / s.n_kv_heads;
  // A tile is a run of tokens times all query heads of one KV head; row r of a tile is token
  // t0 + r / group, head kvh * group + r % group.
  const int64_t tile_tokens = std::max<int64_t>(1, kTileRows / group);
  const int64_t tiles = (n + tile_tokens - 1) / tile_tokens;
  pool.parallel_for(s.n_kv_heads * tiles, [&](int64_t i0, int64_t i1, int) {
    const int64_t max_rows = tile_tokens * group;
    std::vector<float> buf(size_t(max_rows * hd * 2 + max_rows * kKeyBlock + max_rows * 2 + 2 * kKeyBlock * hd + hd));
    float* qs = buf.data();                   // [rows][hd] scaled queries
    float* o = qs + max_rows * hd;            // [rows][hd] running outputs
    float* sc = o + max_rows * hd;            // [rows][kKeyBlock] scores / probabilities
    float* m = sc + max_rows * kKeyBlock;     // running max per row
    float* l = m + max_rows;                  // running sum per row
    float* kt = l + max_rows;                 // [hd][kKeyBlock]
    float* vb = kt + hd * kKeyBlock;          // [kKeyBlock][hd]
    float* tmp = vb + kKeyBlock * hd;         // [hd]
    for (int64_t item = i0; item < i1; ++item) {
      const int64_t kvh = item / tiles, t0 = (item % tiles) * tile_tokens;
      const int64_t t1 = std::min(n, t0 + tile_tokens), rows = (t1 - t0) * group;
      for (int64_t r = 0; r < rows; ++r) {
        const float* src = q + (t0 + r / group) * q_dim + (kvh * group + r % group) * hd;
        for (int64_t d = 0; d < hd; ++d) qs[r * hd + d] = src[d] * s.scale;
        m[r] = -std::numeric_limits<float>::infinity();
        l[r] = 0;
      }
      std::fill(o, o + rows * hd, 0.0f);
      const int64_t keys = start + t1;  // causal: the tile's last token sees positions < keys
      for (int64_t j0 = 0; j0 < keys; j0 += kKeyBlock) {
        const int64_t j1 = std::min(keys, j0 + kKeyBlock);
        const bool transpose = rows >= kTransposeRows;
        load_kv_block(c, kv_dim, kvh, hd, j0, j1, transpose, kt, vb, tmp);
        if (transpose) block_scores(qs, rows, hd, kt, sc);
        else block_scores_rows(qs, rows, hd, kt, j1 - j0, sc);
        for (int64_t r = 0; r < rows; ++r) {
          const int64_t pos = start + t0 + r / group;
          softmax_step(sc + r * kKeyBlock, std::min(j1, pos + 1) - j0, &m[r], &l[r], o + r * hd, hd);
        }
        block_values(sc, vb, rows, j1 - j0, hd, o);
      }
      for (int64_t r = 0; r < rows; ++r) {
        float* dst = out + (t0 + r / group) * q_dim + (kvh * group + r % group) * hd;
        const float inv = 1.0f / l[r];
        for (int64_t d = 0; d < hd; ++d) dst[d] = o[r * hd + d] * inv;
      }
    }
  });
}

}  // namespace edgerun
