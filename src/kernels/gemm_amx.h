// F32 GEMM on Intel AMX tiles, as accurate as F32 FMAs: each F32 operand is split exactly into
// three BF16 parts by truncation (a = hi + mid + lo: 8 + 8 + 8 significant bits) and the six
// part-products that reach F32's rounding level (hi·hi, hi·mid, mid·hi, hi·lo, mid·mid, lo·hi)
// are accumulated in F32 by TDPBF16PS. The three dropped ones (mid·lo, lo·mid, lo·lo) sum to less
// than 2⁻²¹ of |a·b|, the size of an F32 dot product's own rounding over a few terms; tested
// against the f64 reference at the F32 GEMM's tolerance. AMX's BF16 rate (~20× the F32 FMA
// rate) pays for the six products several times over. Used by the blocked GEMM (gemm.cpp),
// attention and the convolutions where available.
#pragma once
#include <cstdint>

#include "core/thread_pool.h"
#include "kernels/gemm.h"

namespace edgerun {

// True on x86-64 CPUs with AMX-TILE and AMX-BF16 once Linux has granted this process the tile
// state (asked once, at the first call); false everywhere else.
bool amx_available();

// y[n, out] (row stride ldy) = x[n, in] (row stride ldx) · B. Only where amx_available().
void gemm_amx(const float* x, int64_t ldx, int64_t n, const PanelView& b, float* y, int64_t ldy, ThreadPool& pool,
              GemmEpilogue epilogue = {});

// Whether an available AMX path pays off for a right-hand side in deep and out wide (at 64 output
// columns it is 1.3x the F32 kernel; below that packing dominates). The GEMMs also want 256+ rows.
inline bool amx_suits(int64_t in, int64_t out) { return in >= 64 && out >= 64 && amx_available(); }

// B split into its BF16 parts once (AmxPackedB, gemm.h), for a right-hand side that meets many
// left-hand blocks (attention's keys and values per head, a weight across row chunks).
void pack_amx_b(const PanelView& b, AmxPackedB& packed, ThreadPool& pool);
void gemm_amx_packed(const float* x, int64_t ldx, int64_t n, const AmxPackedB& b, float* y, int64_t ldy,
                     ThreadPool& pool, GemmEpilogue epilogue = {});

// A convolution as that GEMM without copying patches: y [H'·W', out] (channel-last) from the
// channel-last map x [h, w, channels] and the weight packed as [out, (ky, kx, c)]. The left-hand
// blocks are split straight from the map (zero outside it). channels must be a multiple of 32.
struct AmxConvInput {
  const float* x;
  int64_t h, w, channels;
  int64_t kernel_h, kernel_w, stride, pad;  // zero padding
};
void conv_amx_packed(const AmxConvInput& in, const AmxPackedB& b, float* y, ThreadPool& pool, GemmEpilogue epilogue = {});

// The exact split used above, exposed for tests: hi + mid + lo == a for finite a whose parts
// stay normal.
struct Bf16Parts {
  uint16_t hi, mid, lo;
};
Bf16Parts split_bf16x3(float a);

}  // namespace edgerun
