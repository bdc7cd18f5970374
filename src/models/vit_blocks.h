// Blocks the vision transformers share (SigLIP, SAM's ViT, TinyViT): a Linear layer with its
// bias, a LayerNorm, the two-layer GELU MLP and the patch embedding, bound by name from a
// checkpoint. The arithmetic lives in kernels/vision_ops; this is the weights side.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/tensor.h"
#include "core/thread_pool.h"
#include "formats/weight_store.h"
#include "kernels/gemm.h"

namespace edgerun {

// "<prefix>.weight" [out, in] (mapped, any matmul type) and "<prefix>.bias" [out] as F32 (empty
// when the layer has none and `bias_required` is false). out/in < 0: any.
struct LinearLayer {
  const Tensor* weight = nullptr;
  std::vector<float> bias;
  // Set by pack(): the weight laid out once for the GEMM, so that apply() does not lay it out
  // again on every call. It costs a copy (6 bytes per weight on AMX, 4 otherwise), so only a
  // small encoder (TinyViT: 4.7M weights in its Linear layers) keeps one.
  std::shared_ptr<const PackedOperand> packed;
  int64_t out() const { return weight->dim(0); }
  int64_t in() const { return weight->dim(1); }
  // y[n, out] = x[n, in] · Wᵀ + b, with the epilogue's accumulate / activation (see linear)
  void apply(const float* x, int64_t n, float* y, ThreadPool& pool, GemmEpilogue epilogue = {}) const;
  void pack(ThreadPool& pool);  // F32-convertible weights only (throws Error for quantized ones)
};
LinearLayer load_linear(const WeightStore& w, const std::string& prefix, int64_t out = -1, int64_t in = -1,
                        bool bias_required = true);

// "<prefix>.weight" and "<prefix>.bias", both [dim], as F32.
struct LayerNormLayer {
  std::vector<float> weight, bias;
  float eps = 1e-6f;
  void apply(const float* x, int64_t n, float* y, ThreadPool& pool) const;  // over the last dimension
};
LayerNormLayer load_layernorm(const WeightStore& w, const std::string& prefix, int64_t dim, double eps);

enum class GeluKind { kErf, kTanh };
// fc2(gelu(fc1(norm(x)))) for n rows → out [n, fc2.out()]; with accumulate, added to out (a
// residual; out may then be x itself). norm: a LayerNorm applied to x first, or null.
void gelu_mlp(const LinearLayer& fc1, const LinearLayer& fc2, GeluKind gelu, const float* x, int64_t n, float* out,
              ThreadPool& pool, bool accumulate = false, const LayerNormLayer* norm = nullptr);

// A patch convolution (kernel = stride = patch, with bias) over an image [3, h, w], written as
// tokens [(h/patch)·(w/patch), out_channels] row-major over the patch grid.
void patch_embed(const Tensor& weight, const float* bias, const float* image, int64_t h, int64_t w, float* tokens,
                 ThreadPool& pool);

}  // namespace edgerun
