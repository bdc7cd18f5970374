// MobileSAM's image encoder: TinyViT-5M (MODELS.md §7.2; mobile_sam/modeling/tiny_vit_sam.py).
// A conv stem and an MBConv stage at 256², then three stages of windowed-attention blocks with
// learned offset biases and a depthwise "local" conv, joined by conv patch merging, and SAM's
// neck. BatchNorms run in eval mode from their running statistics.
#pragma once
#include <string>
#include <memory>
#include <vector>

#include "formats/json_file.h"
#include "kernels/vision_ops.h"
#include "models/sam.h"

namespace edgerun {

struct TinyVitConfig {
  std::vector<int64_t> embed_dims{64, 128, 160, 320}, depths{2, 2, 6, 2}, num_heads{2, 4, 5, 10}, window_sizes{7, 7, 14, 7};
  // Stride of the depthwise conv in each patch merging; MobileSAM keeps the last one at 1 so that
  // the final stage stays at 64².
  std::vector<int64_t> merge_strides{2, 2, 1};
  double mlp_ratio = 4.0, mbconv_expand_ratio = 4.0;
  double layer_norm_eps = 1e-5, batch_norm_eps = 1e-5, neck_eps = 1e-6;
  int64_t img_size = 1024;

  // The "tiny_vit" object of the golden config.json; missing fields keep MobileSAM's values.
  static TinyVitConfig from_json(const json& section, const std::string& file);
};

// True when the checkpoint's image encoder is a TinyViT (by its tensor names).
bool looks_like_tiny_vit(const WeightStore& w, const std::string& prefix = "image_encoder.");

class TinyVitEncoder : public SamImageEncoder {
 public:
  TinyVitEncoder(const TinyVitConfig& config, const WeightStore& weights, const std::string& prefix = "image_encoder.");
  void encode(const float* image, float* out, ThreadPool& pool) const override;
  std::string describe() const override;

 private:
  // A bias-free conv followed by an eval-mode BatchNorm, folded: the BatchNorm's per-channel scale
  // multiplies the conv's weight (an F32 copy; `weight` views it) and its shift is the bias.
  struct ConvBn {
    std::shared_ptr<const std::vector<float>> folded;  // shared so that copies keep `weight` valid
    Tensor weight;
    Conv2dShape shape;
    std::vector<float> shift;
  };
  struct Block {  // one TinyViT block
    LayerNormLayer attn_norm, mlp_norm;
    LinearLayer qkv, proj, fc1, fc2;  // packed at load
    std::vector<float> bias;  // [heads, window², window²] attention bias, expanded from the table
    std::vector<float> pad_qkv;  // [3·dim] the projections of a padding token (zero before the norm)
    ConvBn local_conv;
  };
  // Stage 0's block: 1×1 expand, depthwise 3×3, 1×1 project (each with its BatchNorm folded in),
  // prepared for the fused pass: the 1×1 weights packed for the GEMM, the depthwise weight by tap.
  struct MbConv {
    ConvBn expand, depthwise, project;
    PackedOperand expand_packed, project_packed;
    std::vector<float> taps;
  };
  struct Stage {
    int64_t dim = 0, heads = 0, window = 0, resolution = 0;
    std::vector<MbConv> mbconvs;  // stage 0
    std::vector<Block> blocks;
    std::vector<ConvBn> merge;                 // conv1, conv2, conv3 (empty for the last stage)
    int64_t out_resolution = 0;
  };

  ConvBn conv_bn(const std::string& name, int64_t kernel, int64_t stride, int64_t pad, bool depthwise) const;
  // y [H'·W', C_out] (channel-last) through the conv and its BatchNorm, from x [H·W, C_in], or from
  // x [C_in, H, W] when `in` says so (the image).
  // With `gelu`, GELU follows the BatchNorm as each piece of the output is finished.
  void run_conv_bn(const ConvBn& c, const float* x, int64_t channels, int64_t h, int64_t w, float* y, ThreadPool& pool,
                   bool gelu = false, MapLayout in = MapLayout::kChannelLast) const;
  // Per-token buffers of one stage's blocks, allocated once per stage and never zero-filled.
  struct BlockScratch {
    std::unique_ptr<float[]> normed, qkv, attended;  // only where attention is not tiled
    std::vector<float> conv_out;                     // swapped with the tokens after the local conv
  };
  void run_block(const Stage& s, const Block& b, std::vector<float>& tokens, BlockScratch& scratch, ThreadPool& pool) const;
  // The block's attention half (norm, qkv, windowed attention, projection + residual) on tokens,
  // tile by tile where the stage's grid is large (see the definition).
  static bool tiled_attention(const Stage& s);
  void run_attention(const Stage& s, const Block& b, float* tokens, BlockScratch& scratch, ThreadPool& pool) const;
  // One MBConv on x [H·H, C] → y [H·H, C], a few rows at a time (see the definition).
  void run_mbconv(const MbConv& m, const float* x, int64_t channels, int64_t H, float* y, ThreadPool& pool) const;

  TinyVitConfig cfg_;
  const WeightStore& w_;
  std::string prefix_;
  ConvBn stem1_, stem2_;
  std::vector<Stage> stages_;
  SamNeck neck_;
};

}  // namespace edgerun
