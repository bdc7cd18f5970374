// The SigLIP vision transformer as SmolVLM/Idefics3 use it (MODELS.md §6.2): a patch convolution
// with learned absolute positions, pre-LN encoder layers (MHA with biases, GELU-tanh MLP) and a
// final LayerNorm. One square tile in, one embedding per patch out; no pooling head.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "core/thread_pool.h"
#include "formats/json_file.h"
#include "formats/weight_store.h"
#include "models/vit_blocks.h"

namespace edgerun {

struct SiglipConfig {
  int64_t hidden_size = 0, n_layers = 0, n_heads = 0, intermediate_size = 0;
  int64_t patch_size = 0, image_size = 0, channels = 3;
  double layer_norm_eps = 1e-6;
  GeluKind gelu = GeluKind::kTanh;

  int64_t grid() const { return image_size / patch_size; }  // patches per side (SO400M: 384 / 14 → 27)
  int64_t n_patches() const { return grid() * grid(); }
  int64_t head_dim() const { return hidden_size / n_heads; }
};

// From a vision_config object (`where` names it in errors).
SiglipConfig siglip_config_from_hf(const json& vision_config, const std::string& where);

// Sees intermediate results (tests and dumps): a name and a [rows, cols] F32 matrix.
using ActivationObserver = std::function<void(const std::string& name, const float* data, int64_t rows, int64_t cols)>;

class SiglipEncoder {
 public:
  // Binds "<prefix>embeddings.*", "<prefix>encoder.layers.N.*", "<prefix>post_layernorm.*",
  // checking every shape.
  SiglipEncoder(const SiglipConfig& config, const WeightStore& weights, const std::string& prefix);
  const SiglipConfig& config() const { return cfg_; }

  // pixels [tiles, channels, image_size, image_size] → out [tiles, n_patches, hidden_size]. The
  // observer, when given, sees "vision_embeddings", "encoder_layer{i}" and "post_layernorm" (all
  // tiles' rows).
  void encode(const float* pixels, int64_t tiles, float* out, ThreadPool& pool,
              const ActivationObserver* observe = nullptr) const;

 private:
  struct Layer {
    LayerNormLayer norm1, norm2;
    LinearLayer q, k, v, out, fc1, fc2;
  };
  SiglipConfig cfg_;
  const Tensor* patch_weight_ = nullptr;
  std::vector<float> patch_bias_, positions_;
  std::vector<Layer> layers_;
  LayerNormLayer post_norm_;
};

}  // namespace edgerun
