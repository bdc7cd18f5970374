// Blocked F32 GEMM for the prompt / vision path: y[n, out] = x[n, in] · Wᵀ for a Linear weight W
// [out, in] in any plain type (F32, F16, BF16, F8_E4M3, with its per-tensor scale). The weight is
// converted once per call into column panels of kPanel output rows laid out k-major ([in][kPanel]),
// so a register-tiled micro-kernel (kRows rows of x × kPanel outputs, broadcast + FMA) reads each
// packed weight value once per kRows tokens from L1. Work is split over (panel, row block) tiles.
// On CPUs with AMX, products of 256+ rows, 64+ deep and wide run on AMX tiles at F32 accuracy
// instead (gemm_amx.h); the panels are the same, so callers do not choose.
#pragma once
#include <cstdint>
#include <vector>

#include "core/aligned_vector.h"
#include "core/tensor.h"
#include "core/thread_pool.h"

namespace edgerun {

// Worth it from a handful of rows up; callers keep row-dot kernels for n < kGemmMinRows.
constexpr int64_t kGemmMinRows = 4;

// An elementwise function applied in place (GELU) as results are finished.
using Activation = void (*)(float* values, int64_t n);

// What happens to y as a tile of the product lands (while it is in cache): with accumulate the
// product is added to what y holds (a residual) instead of replacing it, then bias [out] is added
// to every row, then activation (e.g. GELU) is applied to each row's piece of the tile.
struct GemmEpilogue {
  const float* bias = nullptr;
  bool accumulate = false;
  Activation activation = nullptr;
};

void gemm_f32(const float* x, int64_t n, const Tensor& w, float* y, ThreadPool& pool, GemmEpilogue epilogue = {});

// The epilogue's bias and activation on a finished tile y[rows, cols] (row stride ldy) whose
// first column is column col of the output (for the kernels and linear's fallback).
void finish_tile(const GemmEpilogue& epilogue, float* y, int64_t ldy, int64_t rows, int64_t cols, int64_t col);

// The right-hand operand packed into panels, reusable across calls (attention packs Kᵀ and V
// once per head for every block of queries).
constexpr int64_t kPanelWidth = 32;
struct PackedPanels {
  int64_t out = 0, in = 0;
  AlignedVector<float> data;  // [ceil(out / kPanelWidth)][in][kPanelWidth]
};
// Element (r, k) of an F32 matrix at w[r·stride_out + k·stride_in], r < out, k < in.
void pack_panels(const float* w, int64_t stride_out, int64_t stride_in, int64_t out, int64_t in, PackedPanels& packed,
                 ThreadPool& pool);
// The right-hand operand B [in, out] as panels of kPanelWidth columns: element (k, col) is at
// first[(col / kPanelWidth)·panel_step + k·row_stride + col % kPanelWidth]; every panel is
// whole (kPanelWidth readable columns, those past `out` ignored).
struct PanelView {
  const float* first;
  int64_t panel_step, row_stride, out, in;
};
PanelView panel_view(const PackedPanels& packed);
// b [in, out] (row stride ldb) where it lies; out must be a multiple of kPanelWidth (throws Error otherwise).
PanelView panel_view_in_place(const float* b, int64_t ldb, int64_t in, int64_t out);

// The right-hand side split into BF16 parts for the AMX path (gemm_amx.h); empty elsewhere.
struct AmxPackedB {
  int64_t out = 0, in = 0;
  AlignedVector<uint16_t> data;
};

// y[n, out] (row stride ldy) = x[n, in] (row stride ldx) · packedᵀ.
void gemm_packed(const float* x, int64_t ldx, int64_t n, const PackedPanels& w, float* y, int64_t ldy, ThreadPool& pool,
                 GemmEpilogue epilogue = {});

// A right-hand side packed once and used by many products (a convolution's weight across bands of
// rows, an encoder's Linear weight): its BF16 parts where the AMX path takes it (64+ deep and
// wide), its F32 panels otherwise — one form, not both.
struct PackedOperand {
  PackedPanels panels;
  AmxPackedB amx;
  int64_t out() const { return amx.data.empty() ? panels.out : amx.out; }
};
// As pack_panels, then split into BF16 parts where they will be used (the panels then dropped).
void pack_operand(const float* w, int64_t stride_out, int64_t stride_in, int64_t out, int64_t in, PackedOperand& packed,
                  ThreadPool& pool);
void gemm_operand(const float* x, int64_t ldx, int64_t n, const PackedOperand& w, float* y, int64_t ldy, ThreadPool& pool,
                  GemmEpilogue epilogue = {});
// y[n, out] (row stride ldy) = x[n, in] (row stride ldx) · b[in, out] (row stride ldb), b read
// where it lies: for a right-hand side used once, too large to be worth packing. out must be a
// multiple of kPanelWidth (throws Error otherwise).
void gemm_in_place(const float* x, int64_t ldx, int64_t n, const float* b, int64_t ldb, int64_t in, int64_t out, float* y,
                   int64_t ldy, ThreadPool& pool);

// The same product computed by the portable micro-kernel only (the reference the SIMD path is
// tested against).
void gemm_f32_portable(const float* x, int64_t n, const Tensor& w, float* y, ThreadPool& pool,
                       GemmEpilogue epilogue = {});

void gemm_in_place_portable(const float* x, int64_t ldx, int64_t n, const float* b, int64_t ldb, int64_t in, int64_t out,
                            float* y, int64_t ldy, ThreadPool& pool);

}  // namespace edgerun
