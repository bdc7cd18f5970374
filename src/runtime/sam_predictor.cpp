#include "runtime/sam_predictor.h"

#include <filesystem>
#include <optional>

#include "core/error.h"
#include "formats/json_file.h"
#include "models/tiny_vit.h"

namespace edgerun {

namespace fs = std::filesystem;

std::unique_ptr<SamModel> load_sam(const std::string& path) {
  auto m = std::make_unique<SamModel>();
  std::optional<TinyVitConfig> tiny_vit;
  if (fs::is_directory(path)) {
    const std::string config_path = (fs::path(path) / "config.json").string();
    if (!fs::exists(config_path)) fail(path, "no config.json in the SAM model directory");
    const json config = read_ordered_json_file(config_path);
    if (config.value("model_type", "") != "sam")
      fail(config_path, "'model_type' is not \"sam\"" + std::string(config.contains("vision_config")
                                                                ? " (the Hugging Face SamModel layout is not supported yet)"
                                                                : ""));
    const std::string variant = config.value("variant", "vit");
    if (variant == "tiny_vit") tiny_vit = TinyVitConfig::from_json(config.value("tiny_vit", json::object()), config_path);
    else if (variant != "vit") fail(config_path, "unknown SAM variant '" + variant + "' (expected \"vit\" or \"tiny_vit\")");
    const std::string weights = config.value("weights", "model.safetensors");
    add_weights_file(m->weights, (fs::path(path) / weights).string());
    m->config = sam_config_from_json(config, config_path);
  } else {
    if (!fs::exists(path)) fail(path, "no such file or directory");
    add_weights_file(m->weights, path);
    if (looks_like_tiny_vit(m->weights)) tiny_vit = TinyVitConfig{};
  }
  if (tiny_vit) {
    m->encoder = std::make_unique<TinyVitEncoder>(*tiny_vit, m->weights);
  } else {
    if (!m->weights.find("image_encoder.patch_embed.proj.weight"))
      fail(path, "no 'image_encoder.patch_embed.proj.weight': not a SAM checkpoint with official tensor names");
    m->encoder = std::make_unique<SamVitEncoder>(sam_vit_config_from_weights(m->weights), m->weights);
  }
  m->decoder = std::make_unique<SamPromptDecoder>(m->config, m->weights);
  m->description = m->encoder->describe();
  return m;
}

void SamPredictor::set_image(const ImageU8& image) {
  if (image.channels != 3) fail("image", "must be RGB");
  geometry_ = sam_geometry(image.height, image.width, model_.config.image_size);
  const ImageU8 resized = resize_pil(image, int(geometry_.resized_w), int(geometry_.resized_h), ResampleFilter::kBilinear);
  const std::vector<float> input = sam_preprocess(resized.pixels.data(), geometry_.resized_h, geometry_.resized_w, model_.config);
  const int64_t G = model_.config.image_embedding_size;
  embedding_.assign(size_t(model_.config.prompt_embed_dim * G * G), 0.0f);
  model_.encoder->encode(input.data(), embedding_.data(), pool_);
}

SamPrediction SamPredictor::predict(const SamPrompt& prompt) const {
  if (embedding_.empty()) fail("predict", "set_image must come first");
  return model_.decoder->predict(embedding_.data(), geometry_, prompt, pool_);
}

}  // namespace edgerun
