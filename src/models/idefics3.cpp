#include "models/idefics3.h"

#include "core/error.h"

namespace edgerun {

bool is_idefics3_config(const json& c) {
  if (!c.is_object() || !c.contains("model_type") || !c["model_type"].is_string()) return false;
  const std::string t = c["model_type"].get<std::string>();
  return t == "idefics3" || t == "smolvlm";
}

Idefics3Config idefics3_config_from_hf(const json& c, const std::string& file) {
  Idefics3Config cfg;
  cfg.model_type = json_string(c, "model_type", file);
  cfg.vision = siglip_config_from_hf(json_require(c, "vision_config", file), file + ": vision_config");
  cfg.scale_factor = json_int_or(c, "scale_factor", 2, file);
  const json& text = json_require(c, "text_config", file);
  cfg.text_hidden = json_int(text, "hidden_size", file + ": text_config");
  const int64_t image_token = json_int_or(c, "image_token_id", 49190, file);
  if (image_token < 0 || image_token > INT32_MAX) fail(file + ": field 'image_token_id'", "out of range");
  cfg.image_token_id = int32_t(image_token);
  const int64_t r = cfg.scale_factor, grid = cfg.vision.grid();
  if (r <= 0 || grid % r != 0)
    fail(file + ": field 'scale_factor'", std::to_string(r) + " does not divide the " + std::to_string(grid) +
                                              "-patch grid of the vision tower");
  return cfg;
}

void pixel_shuffle(const float* patches, int64_t grid, int64_t channels, int64_t r, float* out) {
  const int64_t out_grid = grid / r, D = channels;
  for (int64_t I = 0; I < out_grid; ++I)
    for (int64_t J = 0; J < out_grid; ++J) {
      float* o = out + (I * out_grid + J) * D * r * r;
      for (int64_t m = 0; m < r; ++m)
        for (int64_t k = 0; k < r; ++k) {
          const float* src = patches + ((I * r + m) * grid + (J * r + k)) * D;
          std::copy(src, src + D, o + (m * r + k) * D);
        }
    }
}

Idefics3Vision::Idefics3Vision(const Idefics3Config& config, const WeightStore& w)
    : cfg_(config), encoder_(config.vision, w, "model.vision_model.") {
  const int64_t r = cfg_.scale_factor;
  projection_ = load_linear(w, "model.connector.modality_projection.proj", cfg_.text_hidden,
                            cfg_.vision.hidden_size * r * r, /*bias_required=*/false);
}

void Idefics3Vision::tile_features(const float* pixels, int64_t tiles, float* features, ThreadPool& pool,
                                   const ActivationObserver* observe) const {
  const SiglipConfig& v = cfg_.vision;
  const int64_t r = cfg_.scale_factor, C = v.hidden_size, T = cfg_.tokens_per_tile(), P = v.n_patches();
  std::vector<float> patches(size_t(tiles * P * C)), shuffled(patches.size());
  encoder_.encode(pixels, tiles, patches.data(), pool, observe);
  for (int64_t t = 0; t < tiles; ++t) pixel_shuffle(patches.data() + t * P * C, v.grid(), C, r, shuffled.data() + t * P * C);
  if (observe) (*observe)("pixel_shuffle", shuffled.data(), tiles * T, C * r * r);
  projection_.apply(shuffled.data(), tiles * T, features, pool);
}

}  // namespace edgerun
