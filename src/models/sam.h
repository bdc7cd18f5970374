// Segment Anything (SAM v1 / MobileSAM): the prompt side — the prompt encoder (random Fourier
// positions, point / box / mask embeddings) and the two-way-transformer mask decoder with its IoU
// head — and the predictor's prompt transform and mask post-processing. MODELS.md §7.1; names as
// in the official `Sam.state_dict()` (prompt_encoder.*, mask_decoder.*).
// The image encoders (ViT, TinyViT) produce the [256, 64, 64] embedding this part consumes.
#pragma once
#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/thread_pool.h"
#include "formats/json_file.h"
#include "formats/weight_store.h"
#include "kernels/gemm.h"
#include "kernels/vision_ops.h"
#include "models/vit_blocks.h"

namespace edgerun {

struct SamConfig {
  int64_t prompt_embed_dim = 256;
  int64_t image_size = 1024;           // the encoder's square input
  int64_t image_embedding_size = 64;   // its output grid
  int64_t mask_in_chans = 16;
  int64_t decoder_depth = 2, decoder_mlp_dim = 2048, decoder_heads = 8, attention_downsample = 2;
  int64_t num_multimask_outputs = 3;
  int64_t iou_head_depth = 3, iou_head_hidden_dim = 256;
  double decoder_layer_norm_eps = 1e-5, layer_norm2d_eps = 1e-6;
  float mask_threshold = 0.0f;
  std::array<float, 3> pixel_mean{123.675f, 116.28f, 103.53f}, pixel_std{58.395f, 57.12f, 57.375f};

  int64_t mask_tokens() const { return num_multimask_outputs + 1; }
  int64_t low_res_size() const { return image_embedding_size * 4; }  // 256
};

// The prompt/decoder fields of a golden or official-style config.json (defaults for the rest).
SamConfig sam_config_from_json(const json& config, const std::string& file);

// One prompt in the coordinates of the original image.
struct SamPrompt {
  std::vector<std::array<float, 2>> points;  // (x, y) in pixels
  std::vector<int> labels;                    // 1 foreground, 0 background
  std::optional<std::array<float, 4>> box;    // x0, y0, x1, y1
  std::vector<float> mask_input;              // empty, or [256 × 256] low-res logits
  bool multimask = true;
};

struct SamPrediction {
  int64_t count = 0;                 // C: 3 with multimask, else 1
  std::vector<float> sparse_embeddings;  // [N, 256] (the prompt encoder's output)
  std::vector<float> low_res_logits;     // [C, 256, 256]
  std::vector<float> iou;                // [C]
  std::vector<uint8_t> masks;            // [C, H, W] 0/1 at the original size
  int64_t height = 0, width = 0;
};

// Sizes of the predictor's transform: the image is resized so its long side is image_size.
struct SamImageGeometry {
  int64_t original_h = 0, original_w = 0, resized_h = 0, resized_w = 0;
};
SamImageGeometry sam_geometry(int64_t height, int64_t width, int64_t long_side = 1024);

class SamPromptDecoder {
 public:
  SamPromptDecoder(const SamConfig& config, const WeightStore& weights);

  // The part of the decoder's image side that only a mask prompt changes: the embedding as
  // [pixel, channel] plus no_mask_embed, and that plus the dense positional encoding (the first
  // layer's attention keys). Computed once per image and passed to predict.
  struct ImageSide {
    std::vector<float> keys, keys_pe;  // [P, D] each
  };
  ImageSide prepare(const float* image_embedding, ThreadPool& pool) const;

  // Prompt encoder + mask decoder + post-processing on an image embedding [256, 64, 64]
  // (`prepared`: prepare's result for that embedding, or null to compute it here).
  // Throws Error naming the field for a prompt it cannot take.
  SamPrediction predict(const float* image_embedding, const SamImageGeometry& geometry, const SamPrompt& prompt,
                        ThreadPool& pool, const ImageSide* prepared = nullptr) const;

 private:
  // A Linear layer packed once for the GEMM (the decoder applies each to a few token rows per
  // prompt, where packing per call would cost more than the product).
  struct Linear {
    PackedPanels packed;
    std::vector<float> bias;
    std::vector<float> rows;  // the [out, in] weight as F32, kept where the forward pass folds it
    int64_t out() const { return packed.out; }
    int64_t in() const { return packed.in; }
    void apply(const float* x, int64_t n, float* y, ThreadPool& pool) const;  // y = x·Wᵀ + b
  };
  struct Attention {
    Linear q, k, v, out;
    int64_t internal_dim = 0;
  };
  struct Norm {
    std::vector<float> weight, bias;
  };
  struct Block {
    Attention self_attn, token_to_image, image_to_token;
    Norm norm1, norm2, norm3, norm4;
    Linear lin1, lin2;
  };

  Attention attention(const std::string& prefix, int64_t internal_dim) const;
  Norm norm(const std::string& prefix, int64_t dim) const;
  Linear linear(const std::string& prefix, int64_t out = -1, int64_t in = -1, bool keep_rows = false) const;
  // Token self-attention: q, k, v [n, D] → out [n, D].
  void attend(const Attention& a, const float* q, const float* k, const float* v, int64_t n, float* out,
              ThreadPool& pool) const;
  // The T tokens attend to the P image positions (keys = image + PE, values = image, [P, D]).
  void tokens_to_image(const Attention& a, const float* tokens, int64_t T, const float* keys, const float* values,
                       float* out, ThreadPool& pool) const;
  // The image positions (queries [P, D]) attend to the T tokens (keys, values [T, D]) → out [P, D],
  // without the output projection's bias.
  void image_to_tokens(const Attention& a, const float* queries, const float* keys, const float* values, int64_t T,
                       float* out, ThreadPool& pool) const;
  ImageSide image_side(const float* image_embedding, const SamPrompt& prompt, ThreadPool& pool) const;
  void mlp(const std::vector<Linear>& layers, const float* x, float* y) const;
  std::vector<float> positional_encoding(float x, float y) const;  // normalised coords → [256]
  std::vector<float> sparse_embeddings(const SamImageGeometry& g, const SamPrompt& p, int64_t& n) const;
  std::vector<float> dense_embeddings(const SamPrompt& p, ThreadPool& pool) const;
  std::vector<float> dense_positional_encoding() const;  // [pixel, channel], computed once (dense_pe_)

  SamConfig cfg_;
  const WeightStore& w_;
  std::vector<float> gaussian_;  // [2, 128]
  std::vector<float> dense_pe_;  // the image side's positional encoding, the same for every prompt
  std::vector<std::vector<float>> point_embeddings_;  // 4 × [256]
  std::vector<float> not_a_point_, no_mask_, iou_token_, mask_tokens_;
  std::vector<Block> blocks_;
  Attention final_attn_;
  Norm final_norm_;
  ConvTransposeWeights upscale1_, upscale2_;  // output_upscaling.0 and .3
  std::vector<float> upscale1_bias_, upscale2_bias_;
  Norm upscale_norm_;  // output_upscaling.1
  std::vector<std::vector<Linear>> hypernetworks_;
  std::vector<Linear> iou_head_;
};

}  // namespace edgerun

namespace edgerun {

// SAM's ViT image encoder (ViT-B/L/H and reduced test sizes). Everything but the LayerNorm eps
// can be read off the tensor shapes: embed width (patch conv), depth (block count), head size
// (relative-position tables), and which blocks attend globally (tables of 2·64−1 rows).
struct SamVitConfig {
  int64_t embed_dim = 0, depth = 0, heads = 0, head_dim = 0, window = 14, patch = 16, grid = 64;
  int64_t out_chans = 256;
  std::vector<bool> global;  // per block
  double eps = 1e-6, neck_eps = 1e-6;
};
SamVitConfig sam_vit_config_from_weights(const WeightStore& w, const std::string& prefix = "image_encoder.");

// The neck both SAM image encoders end with: 1×1 conv, LayerNorm2d, 3×3 conv, LayerNorm2d, from
// the encoder's channel-last [grid², C] tokens to the channel-first [out, grid, grid] embedding.
struct SamNeck {
  const Tensor *conv1 = nullptr, *conv2 = nullptr;
  std::vector<float> norm1_w, norm1_b, norm2_w, norm2_b;
  float eps = 1e-6f;
  static SamNeck load(const WeightStore& w, const std::string& prefix, int64_t in_channels, int64_t out_channels, double eps);
  void apply(const float* tokens, int64_t grid, float* out, ThreadPool& pool) const;
};

// What SAM's image encoders share: a [3, 1024, 1024] normalised, padded image in, the
// [256, 64, 64] embedding out.
class SamImageEncoder {
 public:
  virtual ~SamImageEncoder() = default;
  virtual void encode(const float* image, float* out, ThreadPool& pool) const = 0;
  virtual std::string describe() const = 0;
};

class SamVitEncoder : public SamImageEncoder {
 public:
  SamVitEncoder(const SamVitConfig& config, const WeightStore& weights, const std::string& prefix = "image_encoder.");
  void encode(const float* image, float* out, ThreadPool& pool) const override;
  std::string describe() const override;
  const SamVitConfig& config() const { return cfg_; }

 private:
  struct Block {
    std::vector<float> norm1_w, norm1_b, norm2_w, norm2_b, qkv_b, proj_b, rel_h, rel_w;
    const Tensor *qkv, *proj;
    LinearLayer lin1, lin2;
  };
  void attend(const Block& b, bool global, const float* x, float* out, ThreadPool& pool) const;

  SamVitConfig cfg_;
  const WeightStore& w_;
  std::string prefix_;
  std::vector<float> patch_bias_, pos_embed_;
  std::vector<Block> blocks_;
  SamNeck neck_;
};

// SamPredictor.set_image's input: the resized RGB image (long side `size`), normalised with the
// pixel mean/std and zero-padded to size × size, channel-first (rows shared out over the pool).
std::vector<float> sam_preprocess(const uint8_t* rgb, int64_t height, int64_t width, const SamConfig& config,
                                  ThreadPool& pool);

}  // namespace edgerun
