// One SAM checkpoint in each layout a user may have: the golden layout, a bare official-name
// file, and Hugging Face transformers' SamModel directory (renamed as transformers'
// convert_sam_to_hf.py renames them) give the same masks.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <regex>

#include "core/error.h"
#include "formats/safetensors.h"
#include "media/image.h"
#include "runtime/sam_predictor.h"
#include "test_util.h"

namespace edgerun {
namespace {

// transformers' renaming, official → HF: substring replacements in this order, then the
// hypernetwork MLPs' layer numbers.
std::string hf_name(std::string key) {
  const std::pair<const char*, const char*> mapping[] = {
      {"iou_prediction_head.layers.0", "iou_prediction_head.proj_in"},
      {"iou_prediction_head.layers.1", "iou_prediction_head.layers.0"},
      {"iou_prediction_head.layers.2", "iou_prediction_head.proj_out"},
      {"mask_decoder.output_upscaling.0", "mask_decoder.upscale_conv1"},
      {"mask_decoder.output_upscaling.1", "mask_decoder.upscale_layer_norm"},
      {"mask_decoder.output_upscaling.3", "mask_decoder.upscale_conv2"},
      {"mask_downscaling.0", "mask_embed.conv1"},
      {"mask_downscaling.1", "mask_embed.layer_norm1"},
      {"mask_downscaling.3", "mask_embed.conv2"},
      {"mask_downscaling.4", "mask_embed.layer_norm2"},
      {"mask_downscaling.6", "mask_embed.conv3"},
      {"point_embeddings", "point_embed"},
      {"pe_layer.positional_encoding_gaussian_matrix", "shared_embedding.positional_embedding"},
      {"image_encoder", "vision_encoder"},
      {"neck.0", "neck.conv1"},
      {"neck.1", "neck.layer_norm1"},
      {"neck.2", "neck.conv2"},
      {"neck.3", "neck.layer_norm2"},
      {"patch_embed.proj", "patch_embed.projection"},
      {".norm", ".layer_norm"},
      {"blocks", "layers"},
  };
  for (const auto& [from, to] : mapping) {
    const size_t at = key.find(from);
    if (at != std::string::npos) key.replace(at, std::string(from).size(), to);
  }
  std::smatch m;
  if (std::regex_match(key, m, std::regex(R"(.*\.output_hypernetworks_mlps\.(\d+)\.layers\.(\d+).*)"))) {
    const int layer = std::stoi(m[2]);
    const std::string from = "layers." + std::to_string(layer);
    const std::string to = layer == 0 ? "proj_in" : layer == 1 ? "layers.0" : "proj_out";
    key.replace(key.find(from, key.find("output_hypernetworks_mlps")), from.size(), to);
  }
  return key;
}

TEST(SamLayouts, TransformersDirectoryGivesTheSameMasks) {
  test::TempDir tmp;
  const std::string golden = test::golden_dir() + "/sam/sam-vit-mini";
  const SafetensorsFile official = read_safetensors(golden + "/model/model.safetensors");
  std::vector<TensorToWrite> renamed;
  std::vector<std::string> names;
  for (const Tensor& t : official.tensors) {
    renamed.push_back({hf_name(t.name), t.dtype, t.shape, t.data, t.nbytes});
    if (t.name == "prompt_encoder.pe_layer.positional_encoding_gaussian_matrix")
      renamed.push_back({"shared_image_embedding.positional_embedding", t.dtype, t.shape, t.data, t.nbytes});
  }
  for (const auto& t : renamed) names.push_back(t.name);
  EXPECT_NE(std::find(names.begin(), names.end(), "vision_encoder.layers.0.layer_norm1.weight"), names.end());
  EXPECT_NE(std::find(names.begin(), names.end(), "mask_decoder.output_hypernetworks_mlps.2.proj_out.bias"), names.end());
  std::filesystem::create_directories(tmp.file("hf"));
  write_safetensors(tmp.file("hf/model.safetensors"), renamed);
  std::ofstream(tmp.file("hf/config.json")) << R"({"architectures": ["SamModel"], "model_type": "sam",
    "vision_config": {"hidden_size": 192, "num_hidden_layers": 4, "num_attention_heads": 3, "global_attn_indexes": [1, 3]},
    "prompt_encoder_config": {"hidden_size": 256}, "mask_decoder_config": {"hidden_size": 256, "num_multimask_outputs": 3}})";

  const auto a = load_sam(golden + "/model");
  const auto b = load_sam(tmp.file("hf"));
  EXPECT_NE(b->description.find("transformers"), std::string::npos);
  EXPECT_TRUE(is_sam_model(tmp.file("hf")));
  ThreadPool pool(2);
  const ImageU8 image = read_image(golden + "/images/coffee_600x400.png");
  SamPredictor pa(*a, pool), pb(*b, pool);
  pa.set_image(image);
  pb.set_image(image);
  EXPECT_EQ(pa.embedding(), pb.embedding());
  SamPrompt prompt;
  prompt.points = {{290, 140}};
  prompt.labels = {1};
  prompt.box = std::array<float, 4>{170, 15, 410, 285};
  EXPECT_EQ(pa.predict(prompt).low_res_logits, pb.predict(prompt).low_res_logits);
}

TEST(SamLayouts, DetectionAndBadDirectories) {
  EXPECT_TRUE(is_sam_model(test::golden_dir() + "/sam/mobile-sam/model"));
  EXPECT_TRUE(is_sam_model(test::golden_dir() + "/sam/sam-vit-mini/model/model.safetensors"));
  EXPECT_FALSE(is_sam_model(test::golden_dir() + "/llm/tiny-smollm3/model"));
  EXPECT_FALSE(is_sam_model(test::golden_dir() + "/llm/stories260K/gguf/stories260K.gguf"));
  EXPECT_FALSE(is_sam_model("/nonexistent"));
  test::TempDir tmp;
  tmp.write("config.json", R"({"model_type": "sam", "variant": "hiera"})");
  EXPECT_THROW(load_sam(tmp.path()), Error);
}

}  // namespace
}  // namespace edgerun
