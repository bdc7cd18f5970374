// MobileSAM's TinyViT encoder against the official predictor (../shared/golden/sam/mobile-sam),
// from the PNG through the whole predictor.
#include <gtest/gtest.h>

#include <cmath>

#include "core/error.h"
#include "media/image.h"
#include "models/golden_expected.h"
#include "models/tiny_vit.h"
#include "runtime/sam_predictor.h"
#include "test_util.h"

namespace edgerun {
namespace {

TEST(TinyVit, EmbeddingAndPromptsFromThePngMatchTheOfficialPredictor) {
  const std::string dir = test::golden_dir() + "/sam/mobile-sam";
  const json cs = read_ordered_json_file(dir + "/case.json");
  const auto model = load_sam(dir + "/model");
  EXPECT_NE(model->description.find("TinyViT"), std::string::npos);
  ThreadPool pool(2);
  SamPredictor predictor(*model, pool);
  const test::Expected expected{read_safetensors(dir + "/expected.safetensors")};
  const json& img = cs["images"][0];
  predictor.set_image(read_image(dir + "/" + img["file"].get<std::string>()));
  const std::vector<float> want = expected.floats(img["tensors"]["image_embeddings"].get<std::string>());
  double worst = 0;
  for (size_t i = 0; i < want.size(); ++i) worst = std::max(worst, std::fabs(double(predictor.embedding()[i]) - want[i]));
  EXPECT_LE(worst, cs["tolerances"]["image_embeddings"]["atol"].get<double>());
  const json& p = img["prompts"][0];
  SamPrompt prompt;
  prompt.points.push_back({p["point_coords"][0][0].get<float>(), p["point_coords"][0][1].get<float>()});
  prompt.labels.push_back(1);
  prompt.multimask = true;
  const SamPrediction r = predictor.predict(prompt);
  const std::vector<float> logits = expected.floats(p["expected"]["low_res_logits"].get<std::string>());
  double worst_logit = 0;
  for (size_t i = 0; i < logits.size(); ++i) worst_logit = std::max(worst_logit, std::fabs(double(r.low_res_logits[i]) - logits[i]));
  EXPECT_LE(worst_logit, cs["tolerances"]["low_res_logits"]["atol"].get<double>());
}

TEST(TinyVit, RecognisedByNamesAndMisshapenTensorsAreNamed) {
  WeightStore mobile, vit;
  add_weights_file(mobile, test::golden_dir() + "/sam/mobile-sam/model/model.safetensors");
  add_weights_file(vit, test::golden_dir() + "/sam/sam-vit-mini/model/model.safetensors");
  EXPECT_TRUE(looks_like_tiny_vit(mobile));
  EXPECT_FALSE(looks_like_tiny_vit(vit));
  TinyVitConfig wrong;
  wrong.embed_dims = {64, 128, 192, 320};  // stage 2 width does not match the checkpoint
  try {
    TinyVitEncoder e(wrong, mobile);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("layers.2"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace edgerun
