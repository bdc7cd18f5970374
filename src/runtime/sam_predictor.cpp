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

bool is_sam_model(const std::string& path) {
  try {
    if (path.empty()) return false;
    if (fs::is_directory(path)) {
      const fs::path config = fs::path(path) / "config.json";
      return fs::exists(config) && read_ordered_json_file(config.string()).value("model_type", "") == "sam";
    }
    const std::string ext = fs::path(path).extension().string();
    if (ext != ".safetensors" && ext != ".pth" && ext != ".pt") return false;
    WeightStore w;
    add_weights_file(w, path);
    return w.find("mask_decoder.iou_token.weight") != nullptr;
  } catch (const Error&) {
    return false;
  }
}

std::vector<float> sam_encode_image(const SamModel& model, const ImageU8& image, SamImageGeometry& geometry, ThreadPool& pool) {
  if (image.channels != 3) fail("image", "must be RGB");
  geometry = sam_geometry(image.height, image.width, model.config.image_size);
  const ImageU8 resized = resize_pil(image, int(geometry.resized_w), int(geometry.resized_h), ResampleFilter::kBilinear);
  const std::vector<float> input = sam_preprocess(resized.pixels.data(), geometry.resized_h, geometry.resized_w, model.config);
  const int64_t G = model.config.image_embedding_size;
  std::vector<float> embedding(size_t(model.config.prompt_embed_dim * G * G));
  model.encoder->encode(input.data(), embedding.data(), pool);
  return embedding;
}

void SamPredictor::set_image(const ImageU8& image) { embedding_ = sam_encode_image(model_, image, geometry_, pool_); }

SamPrediction SamPredictor::predict(const SamPrompt& prompt) const {
  if (embedding_.empty()) fail("predict", "set_image must come first");
  return model_.decoder->predict(embedding_.data(), geometry_, prompt, pool_);
}

}  // namespace edgerun
