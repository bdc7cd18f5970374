// SAM's ViT image encoder against the official predictor's image embeddings, and the whole
// image → masks pipeline from the PNG (../shared/golden/sam/sam-vit-mini).
#include <gtest/gtest.h>

#include <cmath>

#include "core/error.h"
#include "media/image.h"
#include "models/golden_expected.h"
#include "models/sam.h"
#include "test_util.h"

namespace edgerun {
namespace {

const std::string kCase = "/sam/sam-vit-mini";

TEST(SamVitEncoder, ConfigComesFromTheTensorShapes) {
  WeightStore w;
  add_weights_file(w, test::golden_dir() + kCase + "/model/model.safetensors");
  const SamVitConfig c = sam_vit_config_from_weights(w);
  EXPECT_EQ(c.embed_dim, 192);
  EXPECT_EQ(c.depth, 4);
  EXPECT_EQ(c.heads, 3);
  EXPECT_EQ(c.head_dim, 64);
  EXPECT_EQ(c.window, 14);
  EXPECT_EQ(c.global, (std::vector<bool>{false, true, false, true}));  // config.json: global_attn_indexes [1, 3]
  WeightStore mobile;
  add_weights_file(mobile, test::golden_dir() + "/sam/mobile-sam/model/model.safetensors");
  EXPECT_THROW(sam_vit_config_from_weights(mobile), Error);  // TinyViT: no ViT blocks
}

TEST(SamVitEncoder, EmbeddingsAndMasksFromThePngMatchTheOfficialPredictor) {
  const std::string dir = test::golden_dir() + kCase;
  const json cs = read_ordered_json_file(dir + "/case.json");
  WeightStore w;
  add_weights_file(w, dir + "/model/model.safetensors");
  const SamConfig config = sam_config_from_json(read_ordered_json_file(dir + "/model/config.json"), dir);
  const SamVitEncoder encoder(sam_vit_config_from_weights(w), w);
  const SamPromptDecoder decoder(config, w);
  const test::Expected expected{read_safetensors(dir + "/expected.safetensors")};
  ThreadPool pool(2);
  for (const json& img : cs["images"]) {
    SCOPED_TRACE(img["file"].get<std::string>());
    const ImageU8 original = read_image(dir + "/" + img["file"].get<std::string>());
    const SamImageGeometry g = sam_geometry(original.height, original.width);
    const ImageU8 resized = resize_pil(original, int(g.resized_w), int(g.resized_h), ResampleFilter::kBilinear);
    const std::vector<float> input = sam_preprocess(resized.pixels.data(), g.resized_h, g.resized_w, config, pool);
    std::vector<float> embedding(256 * 64 * 64);
    encoder.encode(input.data(), embedding.data(), pool);
    const std::vector<float> want = expected.floats(img["tensors"]["image_embeddings"].get<std::string>());
    double worst = 0;
    for (size_t i = 0; i < want.size(); ++i) worst = std::max(worst, std::fabs(double(embedding[i]) - want[i]));
    EXPECT_LE(worst, cs["tolerances"]["image_embeddings"]["atol"].get<double>());
    // The first prompt through our own embedding: the low-res logits stay within tolerance.
    const json& p = img["prompts"][0];
    SamPrompt prompt;
    prompt.points.push_back({p["point_coords"][0][0].get<float>(), p["point_coords"][0][1].get<float>()});
    prompt.labels.push_back(p["point_labels"][0].get<int>());
    prompt.multimask = p["multimask_output"].get<bool>();
    const SamPrediction r = decoder.predict(embedding.data(), g, prompt, pool);
    const std::vector<float> logits = expected.floats(p["expected"]["low_res_logits"].get<std::string>());
    double worst_logit = 0;
    for (size_t i = 0; i < logits.size(); ++i) worst_logit = std::max(worst_logit, std::fabs(double(r.low_res_logits[i]) - logits[i]));
    EXPECT_LE(worst_logit, cs["tolerances"]["low_res_logits"]["atol"].get<double>());
  }
}

}  // namespace
}  // namespace edgerun
