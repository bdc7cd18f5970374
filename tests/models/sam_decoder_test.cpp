// SAM's prompt encoder, mask decoder and post-processing against the official predictor's
// outputs (../shared/golden/sam), fed with the golden image embeddings: every prompt of every
// image, both cases (the ViT case and MobileSAM share the decoder architecture).
#include <gtest/gtest.h>

#include <cmath>
#include <set>
#include <tuple>

#include "core/error.h"
#include "models/golden_expected.h"
#include "models/sam.h"
#include "test_util.h"

namespace edgerun {
namespace {

double max_abs(const std::vector<float>& got, const std::vector<float>& want) {
  EXPECT_EQ(got.size(), want.size());
  double m = 0;
  for (size_t i = 0; i < std::min(got.size(), want.size()); ++i) m = std::max(m, std::fabs(double(got[i]) - want[i]));
  return m;
}

SamPrompt prompt_of(const json& p, const test::Expected& expected) {
  SamPrompt prompt;
  if (!p["point_coords"].is_null())
    for (size_t i = 0; i < p["point_coords"].size(); ++i) {
      prompt.points.push_back({p["point_coords"][i][0].get<float>(), p["point_coords"][i][1].get<float>()});
      prompt.labels.push_back(p["point_labels"][i].get<int>());
    }
  if (!p["box"].is_null())
    prompt.box = std::array<float, 4>{p["box"][0].get<float>(), p["box"][1].get<float>(), p["box"][2].get<float>(), p["box"][3].get<float>()};
  if (!p["mask_input"].is_null()) prompt.mask_input = expected.floats(p["mask_input"]["tensor"].get<std::string>());
  prompt.multimask = p["multimask_output"].get<bool>();
  return prompt;
}

class SamDecoderGolden : public ::testing::TestWithParam<std::string> {};

TEST_P(SamDecoderGolden, EveryPromptMatchesTheOfficialPredictor) {
  const std::string dir = test::golden_dir() + "/sam/" + GetParam();
  const json cs = read_ordered_json_file(dir + "/case.json");
  const json& tol = cs["tolerances"];
  WeightStore weights;
  add_weights_file(weights, dir + "/model/model.safetensors");
  const SamConfig config = sam_config_from_json(read_ordered_json_file(dir + "/model/config.json"), dir + "/model/config.json");
  const SamPromptDecoder decoder(config, weights);
  const test::Expected expected{read_safetensors(dir + "/expected.safetensors")};
  ThreadPool pool(2);
  int prompts = 0;
  for (const json& img : cs["images"]) {
    const std::vector<float> embedding = expected.floats(img["tensors"]["image_embeddings"].get<std::string>());
    const SamImageGeometry g = sam_geometry(img["original_size_hw"][0], img["original_size_hw"][1]);
    ASSERT_EQ(g.resized_h, img["input_size_hw"][0].get<int64_t>());
    ASSERT_EQ(g.resized_w, img["input_size_hw"][1].get<int64_t>());
    // The image side prepared once per image (as the predictor and the server do) must give
    // exactly what computing it per prompt gives; mask prompts do not use it.
    const SamPromptDecoder::ImageSide prepared = decoder.prepare(embedding.data(), pool);
    for (const json& p : img["prompts"]) {
      SCOPED_TRACE(p["id"].get<std::string>());
      const json& e = p["expected"];
      const SamPrediction r = decoder.predict(embedding.data(), g, prompt_of(p, expected), pool);
      const SamPrediction from_prepared = decoder.predict(embedding.data(), g, prompt_of(p, expected), pool, &prepared);
      EXPECT_EQ(from_prepared.low_res_logits, r.low_res_logits);
      EXPECT_EQ(from_prepared.iou, r.iou);
      EXPECT_EQ(from_prepared.masks, r.masks);
      ASSERT_EQ(r.count, p["num_outputs"].get<int64_t>());
      EXPECT_LE(max_abs(r.sparse_embeddings, expected.floats(e["sparse_embeddings"])), tol["sparse_embeddings"]["atol"].get<double>());
      EXPECT_LE(max_abs(r.low_res_logits, expected.floats(e["low_res_logits"])), tol["low_res_logits"]["atol"].get<double>());
      EXPECT_LE(max_abs(r.iou, expected.floats(e["iou_predictions"])), tol["iou_predictions"]["atol"].get<double>());
      // Masks: identical except where the reference logit is within the strict tier's eps of 0
      // (the listed ambiguous pixels carry their logits).
      const Tensor& want = expected.get(e["masks"]);
      ASSERT_EQ(want.nbytes, r.masks.size());
      std::set<std::tuple<int, int, int>> ambiguous;
      const std::vector<int32_t> cyx = expected.ints(e["masks_ambiguous_cyx"]);
      const std::vector<float> cyx_logit = expected.floats(e["masks_ambiguous_logit"]);
      ASSERT_EQ(cyx.size(), 3 * cyx_logit.size());
      const double mask_eps = tol["masks"]["eps"].get<double>();
      for (size_t i = 0; i + 2 < cyx.size(); i += 3)
        if (std::fabs(cyx_logit[i / 3]) < mask_eps) ambiguous.insert({cyx[i], cyx[i + 1], cyx[i + 2]});
      size_t differing = 0;
      for (int64_t c = 0; c < r.count; ++c)
        for (int64_t y = 0; y < r.height; ++y)
          for (int64_t x = 0; x < r.width; ++x) {
            const size_t i = size_t((c * r.height + y) * r.width + x);
            if (r.masks[i] != want.data[i] && !ambiguous.count({int(c), int(y), int(x)})) ++differing;
          }
      EXPECT_EQ(differing, 0u);
      ++prompts;
    }
  }
  EXPECT_GE(prompts, 5);
}

INSTANTIATE_TEST_SUITE_P(Golden, SamDecoderGolden, ::testing::Values("sam-vit-mini", "mobile-sam"),
                         [](const auto& info) { return info.param == "sam-vit-mini" ? std::string("vit") : std::string("mobile_sam"); });

TEST(SamDecoder, BadPromptsAreClearErrors) {
  const std::string dir = test::golden_dir() + "/sam/sam-vit-mini";
  WeightStore weights;
  add_weights_file(weights, dir + "/model/model.safetensors");
  const SamPromptDecoder decoder(SamConfig{}, weights);
  ThreadPool pool(1);
  const std::vector<float> embedding(256 * 64 * 64, 0.0f);
  const SamImageGeometry g = sam_geometry(100, 200);
  SamPrompt bad_label;
  bad_label.points = {{10, 10}};
  bad_label.labels = {2};
  EXPECT_THROW(decoder.predict(embedding.data(), g, bad_label, pool), Error);
  SamPrompt bad_mask;
  bad_mask.points = {{10, 10}};
  bad_mask.labels = {1};
  bad_mask.mask_input.assign(100, 0.0f);
  EXPECT_THROW(decoder.predict(embedding.data(), g, bad_mask, pool), Error);
  SamPrompt unlabelled;
  unlabelled.points = {{10, 10}};
  EXPECT_THROW(decoder.predict(embedding.data(), g, unlabelled, pool), Error);
  // A missing tensor is named.
  WeightStore empty;
  try {
    SamPromptDecoder d(SamConfig{}, empty);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("prompt_encoder"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace edgerun
