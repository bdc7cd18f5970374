// Building blocks shared by the vision models (SigLIP, SAM's ViT, TinyViT, SAM's mask decoder):
// LayerNorm, GELU, Linear with bias, 2-D convolutions and bidirectional multi-head attention.
// Feature maps are channel-first [C, H, W] for one image; token sequences are row-major [n, dim].
#pragma once
#include <cstdint>
#include <functional>
#include <vector>

#include "core/tensor.h"
#include "core/thread_pool.h"
#include "kernels/gemm.h"
#include "kernels/vision_attention.h"

namespace edgerun {

// A small tensor (norm weight, bias) converted to F32; throws naming it unless it has `numel`
// elements (numel < 0: any).
std::vector<float> tensor_to_f32(const Tensor& t, int64_t numel = -1);

// PyTorch nn.LayerNorm over the last dimension of n rows of length dim (biased variance).
void layernorm(const float* x, int64_t n, int64_t dim, const float* weight, const float* bias,
               float eps, float* y);
void layernorm_portable(const float* x, int64_t n, int64_t dim, const float* weight, const float* bias,
                        float eps, float* y);  // the reference of layernorm's SIMD path
// The same over n rows split across the pool (for the vision towers' [tokens, dim] maps).
void layernorm(const float* x, int64_t n, int64_t dim, const float* weight, const float* bias,
               float eps, float* y, ThreadPool& pool);
// SAM's LayerNorm2d: normalises each pixel of a [channels, pixels] map over its channels.
// y [cols, rows] = x [rows, cols]ᵀ (a channel-last map to channel-first), in cache-sized blocks.
void transpose(const float* x, int64_t rows, int64_t cols, float* y, ThreadPool& pool);
void layernorm_channels(const float* x, int64_t channels, int64_t pixels, const float* weight,
                        const float* bias, float eps, float* y);

// Exact GELU, 0.5·x·(1 + erf(x/√2)) (nn.GELU()).
void gelu_erf(float* x, int64_t n);
void gelu_erf_portable(float* x, int64_t n);  // the reference of gelu_erf's SIMD path (libm erf)
// The same in chunks across the pool (vision activations are tens of MB).
void gelu_erf(float* x, int64_t n, ThreadPool& pool);
// Tanh approximation (nn.GELU(approximate="tanh"), "gelu_pytorch_tanh" in HF configs).
void gelu_tanh(float* x, int64_t n);
void gelu_tanh_portable(float* x, int64_t n);  // the reference of gelu_tanh's SIMD path
void gelu_tanh(float* x, int64_t n, ThreadPool& pool);

// y[n, out] = x[n, in] · Wᵀ + b for a Linear weight W [out, in] of any matmul type; bias may be
// null. The epilogue's accumulate (y += …, a residual) and activation apply as the GEMM stores each
// tile, not in other passes; its bias field is ignored (the bias argument is the layer's).
void linear(const float* x, int64_t n, const Tensor& w, const float* bias, float* y, ThreadPool& pool,
            GemmEpilogue epilogue = {});

struct Conv2dShape {
  int64_t kernel_h = 1, kernel_w = 1;
  int64_t stride = 1, pad = 0;
  int64_t groups = 1;  // 1, or equal to the channel count (depthwise)
};
inline int64_t conv_output_size(int64_t in, int64_t kernel, int64_t stride, int64_t pad) {
  return (in + 2 * pad - kernel) / stride + 1;
}
// How a feature map of one image is stored: [C, H, W] (PyTorch's) or [H, W, C] (token rows).
enum class MapLayout { kChannelFirst, kChannelLast };
// nn.Conv2d with weight [O, C/groups, kh, kw] (zero padding) on x [C, H, W] or [H, W, C] into
// y [O, H', W'] or [H', W', O], then `activation` (if any) on the result, applied while each
// piece of the output is still in cache. A channel-last output makes the weight the GEMM's packed
// operand and reads the activations in place, so vision encoders keep their maps channel-last; a
// depthwise convolution keeps its input's layout.
void conv2d(const float* x, int64_t channels, int64_t h, int64_t w, const Tensor& weight, const float* bias,
            const Conv2dShape& s, float* y, ThreadPool& pool, MapLayout in = MapLayout::kChannelFirst,
            MapLayout out = MapLayout::kChannelFirst, Activation activation = nullptr);
// A depthwise convolution (weight [C, 1, kh, kw]) on a channel-last map x [H, W, C] → y [H', W', C]
// (TinyViT's local conv runs on token rows, so no transposes are needed around it).
void depthwise_conv2d_channels_last(const float* x, int64_t channels, int64_t h, int64_t w, const Tensor& weight,
                                    const float* bias, const Conv2dShape& s, float* y, ThreadPool& pool,
                                    Activation activation = nullptr);
// The pieces of it for a caller that convolves a few rows at a time (TinyViT's fused MBConv):
// the weight as [tap][C], and output rows [row_begin, row_end) (bias may be null) on this thread,
// written to y from its start, reading input row iy at rows[iy] (only the rows the output rows
// reach need to be set: the caller may keep them in a ring).
std::vector<float> depthwise_taps(const Tensor& weight);
void depthwise_rows_channels_last(const float* const* rows, int64_t channels, int64_t h, int64_t w,
                                  const float* taps, const float* bias, const Conv2dShape& s, int64_t row_begin,
                                  int64_t row_end, float* y, Activation activation = nullptr);
// nn.ConvTranspose2d with kernel == stride (no overlap, no padding), weight [C, O, k, k], packed
// once: one GEMM operand per kernel row ky, mapping an input pixel's C channels to the k·O values
// it writes into output row ky of its block.
struct ConvTransposeWeights {
  int64_t channels = 0, out_channels = 0, k = 0;
  std::vector<PackedPanels> kernel_rows;
};
ConvTransposeWeights pack_conv_transpose(const Tensor& weight, ThreadPool& pool);
// On channel-last maps, without the bias: x [H, W, C] → y [H·k, W·k, O].
void conv_transpose2d_nonoverlap(const float* x, int64_t h, int64_t w, const ConvTransposeWeights& weights, float* y,
                                 ThreadPool& pool);


}  // namespace edgerun
