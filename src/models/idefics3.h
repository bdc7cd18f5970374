// SmolVLM / SmolVLM2 (Idefics3 architecture; MODELS.md §6): a SigLIP vision tower, a pixel-shuffle
// connector that folds each scale×scale block of patches into one token and projects it to the
// text width, and a Llama text decoder (models/llama.h) whose `<image>` token rows are replaced
// by those features. This file holds the vision side and the model's configuration.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "core/thread_pool.h"
#include "formats/json_file.h"
#include "formats/weight_store.h"
#include "models/siglip.h"

namespace edgerun {

struct Idefics3Config {
  std::string model_type;  // "idefics3" (SmolVLM) or "smolvlm" (SmolVLM2)
  SiglipConfig vision;
  int64_t scale_factor = 0;   // pixel shuffle r
  int64_t text_hidden = 0;    // the decoder's hidden size (projection output)
  int32_t image_token_id = -1;

  int64_t tokens_per_tile() const { return vision.n_patches() / (scale_factor * scale_factor); }
};

// True for config.json model_types this file handles.
bool is_idefics3_config(const json& config);
// From the top-level config.json (`file` names it in errors).
Idefics3Config idefics3_config_from_hf(const json& config, const std::string& file);

// Connector input/output: patches [grid², C] of one tile → [grid²/r², C·r²], each output token
// the r×r block of patches (I·r+m, J·r+k) concatenated with m outer, k inner (MODELS.md §6.3).
void pixel_shuffle(const float* patches, int64_t grid, int64_t channels, int64_t scale, float* out);

// The vision tower + connector: one preprocessed tile → its image_seq_len text-width features.
class Idefics3Vision {
 public:
  Idefics3Vision(const Idefics3Config& config, const WeightStore& weights);
  const Idefics3Config& config() const { return cfg_; }

  // pixels [tiles, 3, S, S] (S = vision.image_size) → features [tiles, tokens_per_tile,
  // text_hidden]. The observer also sees "pixel_shuffle". Tiles are encoded together, so a
  // batch of a few (kTileBatch) converts each weight once for all of them.
  static constexpr int64_t kTileBatch = 4;
  void tile_features(const float* pixels, int64_t tiles, float* features, ThreadPool& pool,
                     const ActivationObserver* observe = nullptr) const;

 private:
  Idefics3Config cfg_;
  SiglipEncoder encoder_;
  LinearLayer projection_;
};

}  // namespace edgerun
