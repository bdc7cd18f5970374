#include "kernels/gemm.h"

#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#include "core/error.h"
#include "kernels/gemm_amx.h"
#include "kernels/matmul.h"
#include "kernels/simd.h"

#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace edgerun {

namespace {

constexpr int64_t kPanel = kPanelWidth;  // output columns per packed panel (two AVX-512 vectors)
constexpr int kRows = 8;           // rows of x per micro-kernel call (16 accumulators)
constexpr int64_t kDepth = 256;    // k per pass: a 32 KiB panel slice stays in L1
constexpr int64_t kRowBlock = 128;  // rows per work item (with kPanel columns)

// Tile of rows × kPanel outputs over k in [0, depth): c (row stride ldc, `cols` valid columns)
// += or = x[rows, depth] (row stride ldx) · panel[depth][kPanel] (row stride ldp: kPanel when
// packed, the matrix's row stride when read in place).
using MicroKernel = void (*)(const float* x, int64_t ldx, const float* panel, int64_t ldp, int64_t depth, float* c,
                             int64_t ldc, int rows, int64_t cols, bool accumulate);

EDGERUN_MULTIVERSION
void micro_portable(const float* x, int64_t ldx, const float* panel, int64_t ldp, int64_t depth, float* c, int64_t ldc,
                    int rows, int64_t cols, bool accumulate) {
  float acc[kRows][kPanel] = {};
  for (int64_t k = 0; k < depth; ++k) {
    const float* b = panel + k * ldp;
    for (int r = 0; r < rows; ++r) {
      const float a = x[r * ldx + k];
      for (int64_t j = 0; j < kPanel; ++j) acc[r][j] += a * b[j];
    }
  }
  for (int r = 0; r < rows; ++r)
    for (int64_t j = 0; j < cols; ++j) c[r * ldc + j] = (accumulate ? c[r * ldc + j] : 0.0f) + acc[r][j];
}

#if defined(__x86_64__)
template <int R>
__attribute__((target("avx512f"))) inline void micro_avx512_rows(const float* x, int64_t ldx, const float* panel,
                                                                 int64_t ldp, int64_t depth, float* c, int64_t ldc,
                                                                 int64_t cols, bool accumulate) {
  __m512 lo[R], hi[R];
  for (int r = 0; r < R; ++r) lo[r] = hi[r] = _mm512_setzero_ps();
  for (int64_t k = 0; k < depth; ++k) {
    const __m512 b0 = _mm512_loadu_ps(panel + k * ldp), b1 = _mm512_loadu_ps(panel + k * ldp + 16);
    for (int r = 0; r < R; ++r) {
      const __m512 a = _mm512_set1_ps(x[r * ldx + k]);
      lo[r] = _mm512_fmadd_ps(a, b0, lo[r]);
      hi[r] = _mm512_fmadd_ps(a, b1, hi[r]);
    }
  }
  const __mmask16 m0 = cols >= 16 ? __mmask16(0xffff) : __mmask16((1u << cols) - 1);
  const __mmask16 m1 = cols >= 32 ? __mmask16(0xffff) : cols <= 16 ? __mmask16(0) : __mmask16((1u << (cols - 16)) - 1);
  for (int r = 0; r < R; ++r) {
    float* row = c + r * ldc;
    if (accumulate) {
      lo[r] = _mm512_add_ps(lo[r], _mm512_maskz_loadu_ps(m0, row));
      hi[r] = _mm512_add_ps(hi[r], _mm512_maskz_loadu_ps(m1, row + 16));
    }
    _mm512_mask_storeu_ps(row, m0, lo[r]);
    _mm512_mask_storeu_ps(row + 16, m1, hi[r]);
  }
}

__attribute__((target("avx512f"))) void micro_avx512(const float* x, int64_t ldx, const float* panel, int64_t ldp,
                                                     int64_t depth, float* c, int64_t ldc, int rows, int64_t cols,
                                                     bool accumulate) {
  switch (rows) {
    case 8: return micro_avx512_rows<8>(x, ldx, panel, ldp, depth, c, ldc, cols, accumulate);
    case 7: return micro_avx512_rows<7>(x, ldx, panel, ldp, depth, c, ldc, cols, accumulate);
    case 6: return micro_avx512_rows<6>(x, ldx, panel, ldp, depth, c, ldc, cols, accumulate);
    case 5: return micro_avx512_rows<5>(x, ldx, panel, ldp, depth, c, ldc, cols, accumulate);
    case 4: return micro_avx512_rows<4>(x, ldx, panel, ldp, depth, c, ldc, cols, accumulate);
    case 3: return micro_avx512_rows<3>(x, ldx, panel, ldp, depth, c, ldc, cols, accumulate);
    case 2: return micro_avx512_rows<2>(x, ldx, panel, ldp, depth, c, ldc, cols, accumulate);
    default: return micro_avx512_rows<1>(x, ldx, panel, ldp, depth, c, ldc, cols, accumulate);
  }
}
#endif

MicroKernel pick_micro() {
#if defined(__x86_64__)
  if (__builtin_cpu_supports("avx512f")) return micro_avx512;
#endif
  return micro_portable;
}

// Panels of kPanel output rows [in][kPanel]; row(j, buf) gives output row j as F32 (or null past
// the end: zero columns).
template <typename RowFn>
void pack_rows(int64_t out, int64_t in, PackedPanels& packed, ThreadPool& pool, RowFn row_of) {
  const int64_t panels = (out + kPanel - 1) / kPanel;
  packed.out = out;
  packed.in = in;
  packed.data.resize(size_t(panels * in * kPanel));
  pool.parallel_for(panels, [&](int64_t p0, int64_t p1, int) {
    std::vector<float> buf(static_cast<size_t>(in));
    for (int64_t p = p0; p < p1; ++p) {
      float* dst = packed.data.data() + p * in * kPanel;
      for (int64_t j = 0; j < kPanel; ++j) {
        const int64_t r = p * kPanel + j;
        const float* row = r < out ? row_of(r, buf.data()) : nullptr;
        for (int64_t k = 0; k < in; ++k) dst[k * kPanel + j] = row ? row[k] : 0.0f;
      }
    }
  });
}

using Panels = PanelView;  // packed: panel_step in·kPanel, row_stride kPanel; in place: kPanel and the row stride

void gemm_with(MicroKernel micro, const float* x, int64_t ldx, int64_t n, const Panels& w, float* y, int64_t ldy,
               ThreadPool& pool, GemmEpilogue epilogue = {}) {
  const int64_t out = w.out, in = w.in;
  const int64_t panels = (out + kPanel - 1) / kPanel, row_blocks = (n + kRowBlock - 1) / kRowBlock;
  // Tiles ordered panel-major so neighbouring items share a panel in cache, unless the whole
  // right-hand side fits in L2: then row-block-major, so a block of x is read from memory once.
  const bool small_rhs = panels * in * kPanel * int64_t(sizeof(float)) <= (int64_t(512) << 10);
  pool.parallel_for(panels * row_blocks, [&](int64_t t0, int64_t t1, int) {
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t p = small_rhs ? t % panels : t / row_blocks, rb = small_rhs ? t / panels : t % row_blocks;
      const int64_t col0 = p * kPanel, cols = std::min(kPanel, out - col0);
      const int64_t r_end = std::min(n, (rb + 1) * kRowBlock);
      const float* panel = w.first + p * w.panel_step;
      for (int64_t k0 = 0; k0 < in; k0 += kDepth) {
        const int64_t depth = std::min(kDepth, in - k0);
        for (int64_t r = rb * kRowBlock; r < r_end; r += kRows) {
          const int rows = int(std::min<int64_t>(kRows, r_end - r));
          micro(x + r * ldx + k0, ldx, panel + k0 * w.row_stride, w.row_stride, depth, y + r * ldy + col0, ldy, rows, cols,
                k0 > 0 || epilogue.accumulate);
        }
      }
      finish_tile(epilogue, y + rb * kRowBlock * ldy + col0, ldy, r_end - rb * kRowBlock, cols, col0);  // still in cache
    }
  });
}


void pack_tensor(const Tensor& w, PackedPanels& packed, ThreadPool& pool) {
  pack_rows(w.shape[0], w.shape[1], packed, pool, [&](int64_t r, float* buf) {
    tensor_row_to_f32(w, r, buf);
    return buf;
  });
}

const MicroKernel& best_micro() {
  static const MicroKernel micro = pick_micro();
  return micro;
}

// AMX tiles where the CPU has them and the product is big enough to amortise packing both
// operands into BF16 parts; the F32 micro-kernel otherwise.
void gemm_best(const float* x, int64_t ldx, int64_t n, const Panels& w, float* y, int64_t ldy, ThreadPool& pool,
               GemmEpilogue epilogue = {}) {
  if (n >= 256 && amx_suits(w.in, w.out)) return gemm_amx(x, ldx, n, w, y, ldy, pool, epilogue);
  gemm_with(best_micro(), x, ldx, n, w, y, ldy, pool, epilogue);
}

}  // namespace

PanelView panel_view(const PackedPanels& w) { return {w.data.data(), w.in * kPanel, kPanel, w.out, w.in}; }

// Whole panels only, or the last loads would run past b.
PanelView panel_view_in_place(const float* b, int64_t ldb, int64_t in, int64_t out) {
  if (out % kPanel != 0) throw Error("gemm_in_place: " + std::to_string(out) + " columns is not a multiple of 32");
  return {b, kPanel, ldb, out, in};
}

namespace {
EDGERUN_MULTIVERSION
void add_bias_rows(float* __restrict y, int64_t ldy, int64_t rows, int64_t cols, const float* __restrict bias) {
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t j = 0; j < cols; ++j) y[r * ldy + j] += bias[j];
}
}  // namespace

void finish_tile(const GemmEpilogue& epilogue, float* y, int64_t ldy, int64_t rows, int64_t cols, int64_t col) {
  if (epilogue.bias) add_bias_rows(y, ldy, rows, cols, epilogue.bias + col);
  if (epilogue.activation)
    for (int64_t r = 0; r < rows; ++r) epilogue.activation(y + r * ldy, cols);
}

void gemm_f32(const float* x, int64_t n, const Tensor& w, float* y, ThreadPool& pool, GemmEpilogue epilogue) {
  thread_local PackedPanels packed;  // the caller's buffer, reused across calls
  pack_tensor(w, packed, pool);
  gemm_best(x, w.shape[1], n, panel_view(packed), y, w.shape[0], pool, epilogue);
}

void gemm_f32_portable(const float* x, int64_t n, const Tensor& w, float* y, ThreadPool& pool, GemmEpilogue epilogue) {
  PackedPanels packed;
  pack_tensor(w, packed, pool);
  gemm_with(micro_portable, x, w.shape[1], n, panel_view(packed), y, w.shape[0], pool, epilogue);
}

void pack_panels(const float* w, int64_t stride_out, int64_t stride_in, int64_t out, int64_t in, PackedPanels& packed,
                 ThreadPool& pool) {
  if (stride_in == 1) {
    pack_rows(out, in, packed, pool, [&](int64_t r, float*) { return w + r * stride_out; });
    return;
  }
  if (stride_out == 1) {  // a panel's values at one k are contiguous: copy them as runs
    const int64_t panels = (out + kPanel - 1) / kPanel;
    packed.out = out;
    packed.in = in;
    packed.data.resize(size_t(panels * in * kPanel));
    pool.parallel_for(panels, [&](int64_t p0, int64_t p1, int) {
      for (int64_t p = p0; p < p1; ++p) {
        const int64_t cols = std::min(kPanel, out - p * kPanel);
        float* dst = packed.data.data() + p * in * kPanel;
        for (int64_t k = 0; k < in; ++k, dst += kPanel) {
          std::copy_n(w + p * kPanel + k * stride_in, cols, dst);
          std::fill(dst + cols, dst + kPanel, 0.0f);
        }
      }
    });
    return;
  }
  pack_rows(out, in, packed, pool, [&](int64_t r, float* buf) {
    for (int64_t k = 0; k < in; ++k) buf[k] = w[r * stride_out + k * stride_in];
    return buf;
  });
}

void gemm_packed(const float* x, int64_t ldx, int64_t n, const PackedPanels& w, float* y, int64_t ldy, ThreadPool& pool,
                 GemmEpilogue epilogue) {
  gemm_best(x, ldx, n, panel_view(w), y, ldy, pool, epilogue);
}

void pack_operand(const float* w, int64_t stride_out, int64_t stride_in, int64_t out, int64_t in, PackedOperand& packed,
                  ThreadPool& pool) {
  pack_panels(w, stride_out, stride_in, out, in, packed.panels, pool);
  packed.amx = {};
  if (!amx_suits(in, out)) return;
  pack_amx_b(panel_view(packed.panels), packed.amx, pool);
  packed.panels = {};
}

void gemm_operand(const float* x, int64_t ldx, int64_t n, const PackedOperand& w, float* y, int64_t ldy, ThreadPool& pool,
                  GemmEpilogue epilogue) {
  // AMX whenever the operand is in that form, even for a few rows (a block cut by the output's
  // edge is handled there): the panels are gone.
  if (!w.amx.data.empty()) return gemm_amx_packed(x, ldx, n, w.amx, y, ldy, pool, epilogue);
  gemm_with(best_micro(), x, ldx, n, panel_view(w.panels), y, ldy, pool, epilogue);
}

void gemm_in_place(const float* x, int64_t ldx, int64_t n, const float* b, int64_t ldb, int64_t in, int64_t out, float* y,
                   int64_t ldy, ThreadPool& pool) {
  gemm_best(x, ldx, n, panel_view_in_place(b, ldb, in, out), y, ldy, pool);
}

void gemm_in_place_portable(const float* x, int64_t ldx, int64_t n, const float* b, int64_t ldb, int64_t in, int64_t out,
                            float* y, int64_t ldy, ThreadPool& pool) {
  gemm_with(micro_portable, x, ldx, n, panel_view_in_place(b, ldb, in, out), y, ldy, pool);
}

}  // namespace edgerun
