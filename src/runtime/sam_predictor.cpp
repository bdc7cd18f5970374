#include "runtime/sam_predictor.h"

#include <filesystem>
#include <optional>

#include "core/error.h"
#include "formats/json_file.h"
#include "models/tiny_vit.h"

namespace edgerun {

namespace fs = std::filesystem;

namespace {

void replace_all(std::string& s, const std::string& from, const std::string& to) {
  for (size_t at = s.find(from); at != std::string::npos; at = s.find(from, at + to.size())) s.replace(at, from.size(), to);
}

// Hugging Face transformers' SamModel names back to the official ones (the inverse of
// transformers' convert_sam_to_hf.py renaming). "" for tensors with no official counterpart.
std::string official_sam_name(std::string n) {
  if (n == "shared_image_embedding.positional_embedding") return "";  // a copy of the prompt encoder's
  // Three-layer MLPs: proj_in, layers.0, proj_out → layers.0, .1, .2.
  if (n.find("output_hypernetworks_mlps.") != std::string::npos || n.find("iou_prediction_head.") != std::string::npos) {
    replace_all(n, ".layers.0.", ".layers.1.");
    replace_all(n, ".proj_in.", ".layers.0.");
    replace_all(n, ".proj_out.", ".layers.2.");
  }
  const std::pair<const char*, const char*> renames[] = {
      {"vision_encoder.layers.", "image_encoder.blocks."},
      {"vision_encoder.", "image_encoder."},
      {"mask_decoder.upscale_conv1.", "mask_decoder.output_upscaling.0."},
      {"mask_decoder.upscale_layer_norm.", "mask_decoder.output_upscaling.1."},
      {"mask_decoder.upscale_conv2.", "mask_decoder.output_upscaling.3."},
      {"mask_embed.conv1.", "mask_downscaling.0."},
      {"mask_embed.layer_norm1.", "mask_downscaling.1."},
      {"mask_embed.conv2.", "mask_downscaling.3."},
      {"mask_embed.layer_norm2.", "mask_downscaling.4."},
      {"mask_embed.conv3.", "mask_downscaling.6."},
      {"prompt_encoder.point_embed.", "prompt_encoder.point_embeddings."},
      {"shared_embedding.positional_embedding", "pe_layer.positional_encoding_gaussian_matrix"},
      {"neck.conv1.", "neck.0."},
      {"neck.layer_norm1.", "neck.1."},
      {"neck.conv2.", "neck.2."},
      {"neck.layer_norm2.", "neck.3."},
      {"patch_embed.projection.", "patch_embed.proj."},
      {".layer_norm", ".norm"},
  };
  for (const auto& [from, to] : renames) replace_all(n, from, to);
  return n;
}

}  // namespace

std::unique_ptr<SamModel> load_sam(const std::string& path) {
  auto m = std::make_unique<SamModel>();
  std::optional<TinyVitConfig> tiny_vit;
  if (fs::is_directory(path)) {
    const std::string config_path = (fs::path(path) / "config.json").string();
    if (!fs::exists(config_path)) fail(path, "no config.json in the SAM model directory");
    const json config = read_ordered_json_file(config_path);
    if (config.value("model_type", "") != "sam") fail(config_path, "'model_type' is not \"sam\"");
    if (config.contains("vision_config")) {  // Hugging Face transformers' SamModel layout
      const fs::path st = fs::path(path) / "model.safetensors";
      add_weights_file(m->weights, fs::exists(st) ? st.string() : (fs::path(path) / "pytorch_model.bin").string());
      m->weights.rename(official_sam_name);
      // The decoder sizes are SAM's everywhere (and our defaults); the encoder is read off the shapes.
      const json& dec = config.value("mask_decoder_config", json::object());
      if (dec.value("num_multimask_outputs", 3) != 3 || dec.value("hidden_size", 256) != 256)
        fail(config_path, "mask_decoder_config: only SAM's 256-wide decoder with 3 multimask outputs is supported");
      m->encoder = std::make_unique<SamVitEncoder>(sam_vit_config_from_weights(m->weights), m->weights);
      m->decoder = std::make_unique<SamPromptDecoder>(m->config, m->weights);
      m->description = m->encoder->describe() + " [transformers layout]";
      return m;
    }
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
  const ImageU8 resized =
      resize_pil(image, int(geometry.resized_w), int(geometry.resized_h), ResampleFilter::kBilinear, &pool);
  const std::vector<float> input =
      sam_preprocess(resized.pixels.data(), geometry.resized_h, geometry.resized_w, model.config, pool);
  const int64_t G = model.config.image_embedding_size;
  std::vector<float> embedding(size_t(model.config.prompt_embed_dim * G * G));
  model.encoder->encode(input.data(), embedding.data(), pool);
  return embedding;
}

void SamPredictor::set_image(const ImageU8& image) {
  embedding_ = sam_encode_image(model_, image, geometry_, pool_);
  image_side_ = model_.decoder->prepare(embedding_.data(), pool_);
}

SamPrediction SamPredictor::predict(const SamPrompt& prompt) const {
  if (embedding_.empty()) fail("predict", "set_image must come first");
  return model_.decoder->predict(embedding_.data(), geometry_, prompt, pool_, &image_side_);
}

}  // namespace edgerun
