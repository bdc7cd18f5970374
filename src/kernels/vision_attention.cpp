#include "kernels/vision_attention.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "core/aligned_vector.h"
#include "kernels/gemm.h"
#include "kernels/gemm_amx.h"
#include "kernels/matmul.h"
#include "kernels/ops.h"
#include "kernels/simd.h"

#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace edgerun {

namespace {

// Windows of at most this many positions, heads of at most this many dimensions take the fused
// window kernel (TinyViT's 7×7 and 14×14, SAM's 14×14).
constexpr int64_t kMaxFusedWindow = 256, kMaxFusedHeadDim = 64;

// Below this many queries attention goes row by row (SAM's decoder has 5–9 prompt tokens).
constexpr int64_t kFewQueries = 16;

EDGERUN_MULTIVERSION
void axpy(float* y, float a, const float* x, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] += a * x[i];
}

}  // namespace

void attention_full(AttentionRows q, AttentionRows k, AttentionRows v, int64_t nq, int64_t nk,
                    int64_t heads, int64_t head_dim, float scale, float* out, ThreadPool& pool,
                    const AttentionBias* bias) {
  const int64_t out_stride = heads * head_dim;
  // A few queries or keys (SAM's prompt tokens): row by row. Packing the keys and values for a
  // GEMM would cost more than the products it saves.
  if (nq < kFewQueries || nk < 32) {
    pool.parallel_for(heads * nq, [&](int64_t i0, int64_t i1, int) {
      std::vector<float> scores(static_cast<size_t>(nk));
      for (int64_t i = i0; i < i1; ++i) {
        const int64_t hd = i / nq, r = i % nq;
        const float* qr = q.data + r * q.stride + hd * head_dim;
        for (int64_t j = 0; j < nk; ++j) scores[j] = dot_f32(qr, k.data + j * k.stride + hd * head_dim, head_dim) * scale;
        if (bias) (*bias)(hd, r, qr, scores.data());
        softmax(scores.data(), nk);
        float* o = out + r * out_stride + hd * head_dim;
        std::fill(o, o + head_dim, 0.0f);
        for (int64_t j = 0; j < nk; ++j) axpy(o, scores[j], v.data + j * v.stride + hd * head_dim, head_dim);
      }
    }, 8);
    return;
  }
  // Per head: S = Q·Kᵀ and O = softmax(S)·V as two blocked GEMMs over blocks of queries (the
  // score block, not the whole [nq, nk] matrix, is materialised).
  struct Scratch {
    PackedPanels keys, values;
    AmxPackedB amx_keys, amx_values;
    std::vector<float> scores, scaled_queries;
  };
  constexpr int64_t kQueryBlock = 256;
  // With AMX, keys and values are split into BF16 parts once per head rather than by every
  // block's GEMM (global attention over 4096 positions: 16 blocks per head).
  const bool amx = nq >= kQueryBlock && amx_suits(head_dim, nk) && amx_suits(nk, head_dim);
  const auto attend_head = [&](int64_t h, Scratch& sc, ThreadPool& p) {
    sc.scores.resize(size_t(std::min(nq, kQueryBlock) * nk));
    sc.scaled_queries.resize(size_t(std::min(nq, kQueryBlock) * head_dim));
    pack_panels(k.data + h * head_dim, k.stride, 1, nk, head_dim, sc.keys, p);
    // V as the right-hand side is [nk, head_dim] rows: read in place when head_dim is whole panels.
    const bool values_in_place = head_dim % kPanelWidth == 0;
    if (!values_in_place) pack_panels(v.data + h * head_dim, 1, v.stride, head_dim, nk, sc.values, p);
    if (amx) {
      pack_amx_b(panel_view(sc.keys), sc.amx_keys, p);
      pack_amx_b(values_in_place ? panel_view_in_place(v.data + h * head_dim, v.stride, nk, head_dim) : panel_view(sc.values),
                 sc.amx_values, p);
    }
    for (int64_t q0 = 0; q0 < nq; q0 += kQueryBlock) {
      const int64_t m = std::min(kQueryBlock, nq - q0);
      float* s = sc.scores.data();
      // (q·scale)·kᵀ: scaling the block's queries costs head_dim per row, the scores nk.
      float* qs = sc.scaled_queries.data();
      for (int64_t r = 0; r < m; ++r)
        for (int64_t d = 0; d < head_dim; ++d) qs[r * head_dim + d] = q.data[(q0 + r) * q.stride + h * head_dim + d] * scale;
      if (amx) gemm_amx_packed(qs, head_dim, m, sc.amx_keys, s, nk, p);
      else gemm_packed(qs, head_dim, m, sc.keys, s, nk, p);
      p.parallel_for(m, [&](int64_t r0, int64_t r1, int) {
        if (bias)
          for (int64_t r = r0; r < r1; ++r) (*bias)(h, q0 + r, q.data + (q0 + r) * q.stride + h * head_dim, s + r * nk);
        softmax_rows(s + r0 * nk, r1 - r0, nk);
      }, 4);
      float* o = out + q0 * out_stride + h * head_dim;
      if (amx) gemm_amx_packed(s, nk, m, sc.amx_values, o, out_stride, p);
      else if (values_in_place) gemm_in_place(s, nk, m, v.data + h * head_dim, v.stride, nk, head_dim, o, out_stride, p);
      else gemm_packed(s, nk, m, sc.values, o, out_stride, p);
    }
  };
  if (heads > 1 && (nq * nk <= 256 * 256 || heads >= 2 * int64_t(pool.size()))) {
    // Small windows (SAM's 14×14, TinyViT's 7×7), or enough heads to share out evenly: one head
    // per task, each computed serially, rather than a dozen parallel regions per head.
    pool.parallel_for(heads, [&](int64_t h0, int64_t h1, int) {
      thread_local ThreadPool serial(1);
      thread_local Scratch sc;
      for (int64_t h = h0; h < h1; ++h) attend_head(h, sc, serial);
    });
    return;
  }
  thread_local Scratch shared;  // the caller's; the pool's workers use it through the reference
  Scratch& sc = shared;
  for (int64_t h = 0; h < heads; ++h) attend_head(h, sc, pool);
}

namespace {

// One window's rows: key/value j and query i (the query's position in the window is qpos[i]; its
// output row is o[i]). Row pointers point at the token's row; heads are offsets from there.
struct WindowRows {
  const float* k[kMaxFusedWindow];
  const float* v[kMaxFusedWindow];
  const float* q[kMaxFusedWindow];
  float* o[kMaxFusedWindow];
  int64_t qpos[kMaxFusedWindow];
  int64_t nk = 0, nq = 0;
};

// One head of one window: (rows, offset of the head in the input rows, in the output rows, head,
// scale, bias, Kᵀ buffer, scores buffer).
using WindowHead = void (*)(const WindowRows&, int64_t, int64_t, int64_t, float, const AttentionBias*, float*, float*);

#if defined(__x86_64__)
// The 64-bit halves of each 128-bit lane of a and b: the low ones (a's, then b's), or the high.
__attribute__((target("avx512f"))) inline __m512 low_pairs(__m512 a, __m512 b) {
  return _mm512_castpd_ps(_mm512_unpacklo_pd(_mm512_castps_pd(a), _mm512_castps_pd(b)));
}
__attribute__((target("avx512f"))) inline __m512 high_pairs(__m512 a, __m512 b) {
  return _mm512_castpd_ps(_mm512_unpackhi_pd(_mm512_castps_pd(a), _mm512_castps_pd(b)));
}

// r[i] becomes column i of the 16×16 block whose rows r held: pairs of rows interleaved, then
// pairs of pairs, then the four 128-bit lanes gathered across the groups of four rows.
__attribute__((target("avx512f"))) inline void transpose16x16(__m512 (&r)[16]) {
  __m512 t[16];
  for (int i = 0; i < 8; ++i) {
    t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
    t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
  }
  for (int i = 0; i < 4; ++i) {  // r[4i + c], lane L: column 4L + c of rows 4i..4i+3
    r[4 * i] = low_pairs(t[4 * i], t[4 * i + 2]);
    r[4 * i + 1] = high_pairs(t[4 * i], t[4 * i + 2]);
    r[4 * i + 2] = low_pairs(t[4 * i + 1], t[4 * i + 3]);
    r[4 * i + 3] = high_pairs(t[4 * i + 1], t[4 * i + 3]);
  }
  for (int c = 0; c < 4; ++c) {
    t[c] = _mm512_shuffle_f32x4(r[c], r[4 + c], 0x88);  // lanes 0, 2 of each
    t[4 + c] = _mm512_shuffle_f32x4(r[c], r[4 + c], 0xdd);  // lanes 1, 3
    t[8 + c] = _mm512_shuffle_f32x4(r[8 + c], r[12 + c], 0x88);
    t[12 + c] = _mm512_shuffle_f32x4(r[8 + c], r[12 + c], 0xdd);
  }
  for (int c = 0; c < 4; ++c) {
    r[c] = _mm512_shuffle_f32x4(t[c], t[8 + c], 0x88);
    r[8 + c] = _mm512_shuffle_f32x4(t[c], t[8 + c], 0xdd);
    r[4 + c] = _mm512_shuffle_f32x4(t[4 + c], t[12 + c], 0x88);
    r[12 + c] = _mm512_shuffle_f32x4(t[4 + c], t[12 + c], 0xdd);
  }
}

// Scores of four query rows against NV vectors of keys starting at key j0: Σ_d q[r][d]·kt[d][j],
// scaled, stored to s (row stride `stride`, as kt's).
template <int V, int NV>
__attribute__((target("avx512f"))) inline void window_scores(const float* const (&q)[4], const float* kt, int64_t stride,
                                                             int64_t j0, __m512 scale, float* s) {
  __m512 acc[4][NV];
  for (auto& row : acc)
    for (__m512& a : row) a = _mm512_setzero_ps();
  for (int64_t d = 0; d < 16 * V; ++d) {
    __m512 kd[NV];
    for (int c = 0; c < NV; ++c) kd[c] = _mm512_load_ps(kt + d * stride + j0 + 16 * c);
    for (int r = 0; r < 4; ++r) {
      const __m512 qd = _mm512_set1_ps(q[r][d]);
      for (int c = 0; c < NV; ++c) acc[r][c] = _mm512_fmadd_ps(qd, kd[c], acc[r][c]);
    }
  }
  for (int r = 0; r < 4; ++r)
    for (int c = 0; c < NV; ++c) _mm512_store_ps(s + r * stride + j0 + 16 * c, _mm512_mul_ps(acc[r][c], scale));
}

// One head of a window of at most 256 positions, head_dim = 16·V, on AVX-512: Kᵀ in one
// [head_dim][keys] block (by 16×16 register transposes), then four queries at a time — their
// scores a block of 64 keys at a time in registers, the bias and a softmax over the rows, and 4×V
// output vectors accumulated from the value rows where they lie. The GEMM path's gathers,
// packing and calls cost more than these products at window sizes (7×7, 14×14).
template <int V>
__attribute__((target("avx512f"))) void window_head_avx512(const WindowRows& w, int64_t in_off, int64_t out_off,
                                                           int64_t head, float scale, const AttentionBias* bias,
                                                           float* kt, float* s) {
  const int64_t nk = w.nk, vectors = (nk + 15) / 16, stride = 16 * vectors;
  for (int64_t j0 = 0; j0 < stride; j0 += 16)  // Kᵀ by 16×16 blocks; keys past nk are zero
    for (int c = 0; c < V; ++c) {
      __m512 block[16];
      for (int i = 0; i < 16; ++i)
        block[i] = j0 + i < nk ? _mm512_loadu_ps(w.k[j0 + i] + in_off + 16 * c) : _mm512_setzero_ps();
      transpose16x16(block);
      for (int i = 0; i < 16; ++i) _mm512_store_ps(kt + (16 * c + i) * stride + j0, block[i]);
    }
  const __m512 vscale = _mm512_set1_ps(scale);
  for (int64_t r0 = 0; r0 < w.nq; r0 += 4) {
    const int64_t rows = std::min<int64_t>(4, w.nq - r0);
    const float* q[4];
    for (int r = 0; r < 4; ++r) q[r] = w.q[r0 + std::min<int64_t>(r, rows - 1)] + in_off;  // short groups repeat a row
    int64_t j0 = 0;
    for (; j0 + 64 <= stride; j0 += 64) window_scores<V, 4>(q, kt, stride, j0, vscale, s);
    for (; j0 < stride; j0 += 16) window_scores<V, 1>(q, kt, stride, j0, vscale, s);
    if (bias)
      for (int64_t r = 0; r < rows; ++r) (*bias)(head, w.qpos[r0 + r], q[r], s + r * stride);
    softmax_rows(s, rows, nk, stride);  // the short group's repeated rows need none
    __m512 o[4][V];
    for (auto& row : o)
      for (__m512& a : row) a = _mm512_setzero_ps();
    for (int64_t j = 0; j < nk; ++j) {
      __m512 vj[V];
      for (int c = 0; c < V; ++c) vj[c] = _mm512_loadu_ps(w.v[j] + in_off + 16 * c);
      for (int r = 0; r < 4; ++r) {
        const __m512 p = _mm512_set1_ps(s[r * stride + j]);
        for (int c = 0; c < V; ++c) o[r][c] = _mm512_fmadd_ps(p, vj[c], o[r][c]);
      }
    }
    for (int r = 0; r < 4; ++r)  // constant indices keep o in registers
      if (r < rows)
        for (int c = 0; c < V; ++c) _mm512_storeu_ps(w.o[r0 + r] + out_off + 16 * c, o[r][c]);
  }
}

// The kernel for this head size, or null where the window or the CPU does not suit it.
WindowHead fused_window_kernel(int64_t window_positions, int64_t head_dim) {
  static const bool avx512 = __builtin_cpu_supports("avx512f");
  if (!avx512 || window_positions > kMaxFusedWindow) return nullptr;
  switch (head_dim) {
    case 16: return window_head_avx512<1>;
    case 32: return window_head_avx512<2>;
    case 48: return window_head_avx512<3>;
    case 64: return window_head_avx512<4>;
    default: return nullptr;
  }
}
#else
WindowHead fused_window_kernel(int64_t, int64_t) { return nullptr; }
#endif

}  // namespace

void windowed_attention(const WindowedQkv& in, int64_t height, int64_t width, int64_t window, int64_t heads,
                        int64_t head_dim, float scale, float* out, ThreadPool& pool, const AttentionBias* bias) {
  const int64_t across = (width + window - 1) / window, down = (height + window - 1) / window;
  const int64_t N = window * window, C = heads * head_dim;
  if (const WindowHead kernel = fused_window_kernel(N, head_dim)) {
    pool.parallel_for(down * across, [&](int64_t w0, int64_t w1, int) {
      thread_local AlignedVector<float> buffer(size_t((kMaxFusedHeadDim + 4) * kMaxFusedWindow));
      float *kt = buffer.data(), *s = kt + kMaxFusedHeadDim * kMaxFusedWindow;  // Kᵀ; four score rows
      WindowRows rows;
      for (int64_t win = w0; win < w1; ++win) {
        const int64_t wy = win / across, wx = win % across;
        rows.nk = N;
        rows.nq = 0;
        for (int64_t t = 0; t < N; ++t) {
          const int64_t y = wy * window + t / window, x = wx * window + t % window;
          const bool inside = y < height && x < width;
          const int64_t row = (y * width + x) * in.stride;
          rows.k[t] = inside ? in.k + row : in.pad_k;
          rows.v[t] = inside ? in.v + row : in.pad_v;
          if (!inside) continue;
          rows.q[rows.nq] = in.q + row;
          rows.o[rows.nq] = out + (y * width + x) * C;
          rows.qpos[rows.nq++] = t;
        }
        for (int64_t h = 0; h < heads; ++h) kernel(rows, h * in.head_stride, h * head_dim, h, scale, bias, kt, s);
      }
    });
    return;
  }
  pool.parallel_for(down * across, [&](int64_t w0, int64_t w1, int) {
    thread_local ThreadPool serial(1);
    thread_local std::vector<float> buffers;  // q, k, v, out of one window, [N, C] each
    buffers.resize(size_t(4 * N * C));
    float *q = buffers.data(), *k = q + N * C, *v = k + N * C, *o = v + N * C;
    for (int64_t win = w0; win < w1; ++win) {
      const int64_t wy = win / across, wx = win % across;
      // Every position is a key (padding included); only the rows × cols inside the grid are
      // queries, packed densely (an edge window of SAM's 64² grid has 8 of its 14 rows inside).
      const int64_t rows = std::min(window, height - wy * window), cols = std::min(window, width - wx * window);
      for (int64_t r = 0; r < window; ++r)
        for (int64_t c = 0; c < window; ++c) {
          const int64_t y = wy * window + r, x = wx * window + c, t = r * window + c;
          const bool inside = r < rows && c < cols;
          const int64_t row = (y * width + x) * in.stride;
          for (int64_t h = 0; h < heads; ++h) {
            const int64_t at = h * in.head_stride;
            if (inside) std::copy_n(in.q + row + at, head_dim, q + (r * cols + c) * C + h * head_dim);
            std::copy_n(inside ? in.k + row + at : in.pad_k + at, head_dim, k + t * C + h * head_dim);
            std::copy_n(inside ? in.v + row + at : in.pad_v + at, head_dim, v + t * C + h * head_dim);
          }
        }
      // The bias callback counts rows within the whole window.
      const AttentionBias window_bias = [&](int64_t head, int64_t i, const float* qr, float* scores) {
        (*bias)(head, i / cols * window + i % cols, qr, scores);
      };
      attention_full({q, C}, {k, C}, {v, C}, rows * cols, N, heads, head_dim, scale, o, serial,
                     bias ? &window_bias : nullptr);
      for (int64_t r = 0; r < rows; ++r)
        std::copy_n(o + r * cols * C, cols * C, out + ((wy * window + r) * width + wx * window) * C);
    }
  });
}

}  // namespace edgerun
