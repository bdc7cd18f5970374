#include "runtime/sam_predictor.h"

#include <filesystem>

#include "core/error.h"
#include "formats/json_file.h"

namespace edgerun {

namespace fs = std::filesystem;

std::unique_ptr<SamModel> load_sam(const std::string& path) {
  auto m = std::make_unique<SamModel>();
  if (fs::is_directory(path)) {
    const std::string config_path = (fs::path(path) / "config.json").string();
    if (!fs::exists(config_path)) fail(path, "no config.json in the SAM model directory");
    const json config = read_ordered_json_file(config_path);
    if (config.value("model_type", "") != "sam")
      fail(config_path, "'model_type' is not \"sam\"" + std::string(config.contains("vision_config")
                                                                ? " (the Hugging Face SamModel layout is not supported yet)"
                                                                : ""));
    const std::string variant = config.value("variant", "vit");
    if (variant != "vit") fail(config_path, "SAM variant '" + variant + "' is not supported yet (only the ViT encoders)");
    const std::string weights = config.value("weights", "model.safetensors");
    add_weights_file(m->weights, (fs::path(path) / weights).string());
    m->config = sam_config_from_json(config, config_path);
  } else {
    if (!fs::exists(path)) fail(path, "no such file or directory");
    add_weights_file(m->weights, path);
  }
  if (!m->weights.find("image_encoder.patch_embed.proj.weight")) {
    if (m->weights.find("image_encoder.layers.0.blocks.0.conv1.c.weight") || m->weights.find("image_encoder.patch_embed.seq.0.c.weight"))
      fail(path, "MobileSAM's TinyViT image encoder is not supported yet");
    fail(path, "no 'image_encoder.patch_embed.proj.weight': not a SAM checkpoint with official tensor names");
  }
  const SamVitConfig vit = sam_vit_config_from_weights(m->weights);
  m->encoder = std::make_unique<SamVitEncoder>(vit, m->weights);
  m->decoder = std::make_unique<SamPromptDecoder>(m->config, m->weights);
  int globals = 0;
  for (bool g : vit.global) globals += g;
  m->description = "SAM ViT (embed " + std::to_string(vit.embed_dim) + ", depth " + std::to_string(vit.depth) + ", " +
                   std::to_string(vit.heads) + " heads, " + std::to_string(globals) + " global blocks)";
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
