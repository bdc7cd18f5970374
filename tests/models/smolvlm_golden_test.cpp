// SmolVLM (Idefics3) against ../shared/golden/vlm/tiny-smolvlm: the HF processor's pixel values,
// the SigLIP tower stage by stage, the connector, the expanded prompt's ids, the merged input
// rows, the logits and a greedy continuation — from the PNGs and the conversation in case.json.
#include <gtest/gtest.h>

#include <fstream>

#include "core/error.h"
#include "formats/json_file.h"
#include "models/golden_expected.h"
#include "runtime/generate.h"
#include "runtime/mmproj.h"
#include "runtime/multimodal.h"
#include "test_util.h"
#include "text/chat_template.h"

namespace edgerun {
namespace {

constexpr double kRelToMax = 1e-4;  // the golden's suggested tolerance (an f32 engine lands near 1e-6)

std::string case_dir() { return test::golden_dir() + "/vlm/tiny-smolvlm"; }

struct SmolVlmGolden : ::testing::Test {
  static void SetUpTestSuite() {
    model_ = new LoadedModel(load_model(case_dir() + "/model"));
    expected_ = new test::Expected{read_safetensors(case_dir() + "/expected.safetensors")};
    case_ = new json(read_json_file(case_dir() + "/case.json"));
  }
  static void TearDownTestSuite() {
    delete model_;
    delete expected_;
    delete case_;
  }
  static ImageU8 image(int k) { return read_image(case_dir() + "/" + (*case_)["images"][size_t(k)]["file"].get<std::string>()); }
  static LoadedModel* model_;
  static test::Expected* expected_;
  static json* case_;
};
LoadedModel* SmolVlmGolden::model_ = nullptr;
test::Expected* SmolVlmGolden::expected_ = nullptr;
json* SmolVlmGolden::case_ = nullptr;

TEST_F(SmolVlmGolden, ConfigAndProcessorSettingsAreRead) {
  ASSERT_TRUE(model_->vision);
  const VisionModel& v = *model_->vision;
  EXPECT_EQ(v.config.model_type, "idefics3");
  EXPECT_EQ(v.config.vision.hidden_size, 96);
  EXPECT_EQ(v.config.scale_factor, 4);
  EXPECT_EQ(v.config.tokens_per_tile(), 64);
  EXPECT_EQ(v.config.image_token_id, 49190);
  EXPECT_EQ(v.processor.longest_edge, 2048);
  EXPECT_EQ(v.processor.tile_size, 512);
  EXPECT_EQ(model_->config.hf_prefix, "model.text_model.");
  EXPECT_EQ(model_->eos_ids, std::vector<int32_t>{49279});
}

TEST_F(SmolVlmGolden, PreprocessingMatchesThePilProcessor) {
  for (int k = 0; k < 2; ++k) {
    const json& info = (*case_)["images"][size_t(k)];
    const ImageU8 img = image(k);
    const auto [w1, h1] = idefics3_first_resize(img.width, img.height, 2048);
    EXPECT_EQ(w1, info["resize1_hw"][1].get<int64_t>());
    EXPECT_EQ(h1, info["resize1_hw"][0].get<int64_t>());
    const auto [w2, h2] = idefics3_tile_resize(w1, h1, 512);
    EXPECT_EQ(w2, info["resize2_hw"][1].get<int64_t>());
    EXPECT_EQ(h2, info["resize2_hw"][0].get<int64_t>());
    const ProcessedImage p = idefics3_preprocess(img, model_->vision->processor);
    EXPECT_EQ(p.rows, info["rows"].get<int64_t>());
    EXPECT_EQ(p.cols, info["cols"].get<int64_t>());
    ASSERT_EQ(p.n_tiles(), info["n_tiles"].get<int64_t>());
    if (k == 0) {
      const std::vector<float> want = expected_->floats("image1.pixel_values");
      ASSERT_EQ(p.pixels.size(), want.size());
      double worst = 0;
      for (size_t i = 0; i < want.size(); ++i) worst = std::max(worst, std::abs(double(p.pixels[i]) - want[i]));
      EXPECT_LE(worst, 1.2e-7);
    } else {
      const std::vector<float> want = expected_->floats("image2.pixel_values_sub8");
      const int64_t M = 512, S = M / 8;
      double worst = 0;
      for (int64_t t = 0; t < p.n_tiles(); ++t)
        for (int64_t c = 0; c < 3; ++c)
          for (int64_t y = 0; y < S; ++y)
            for (int64_t x = 0; x < S; ++x)
              worst = std::max(worst, std::abs(double(p.pixels[size_t(((t * 3 + c) * M + y * 8) * M + x * 8)]) -
                                               want[size_t(((t * 3 + c) * S + y) * S + x)]));
      EXPECT_LE(worst, 1.2e-7);
    }
  }
}

TEST_F(SmolVlmGolden, VisionTowerMatchesStageByStage) {
  const ProcessedImage p = idefics3_preprocess(image(0), model_->vision->processor);
  std::map<std::string, std::vector<float>> seen;
  const ActivationObserver observe = [&](const std::string& name, const float* data, int64_t rows, int64_t cols) {
    seen[name].assign(data, data + rows * cols);
  };
  ThreadPool pool(2);
  std::vector<float> features(size_t(64 * 32));
  model_->vision->tower->tile_features(p.tile(0), 1, features.data(), pool, &observe);
  for (const char* stage : {"vision_embeddings", "encoder_layer0", "encoder_layer1", "post_layernorm", "pixel_shuffle"}) {
    ASSERT_TRUE(seen.count(stage)) << stage;
    EXPECT_LE(test::rel_to_max(seen[stage], expected_->floats(std::string("image1.tile0.") + stage)), kRelToMax) << stage;
  }
  const std::vector<float> want = expected_->floats("image1.features");
  EXPECT_LE(test::rel_to_max(features, std::vector<float>(want.begin(), want.begin() + 64 * 32)), kRelToMax);
}

// The tower encodes a few tiles together; each tile's features must not depend on its batch.
TEST_F(SmolVlmGolden, TilesEncodedTogetherEqualTilesEncodedAlone) {
  const ProcessedImage p = idefics3_preprocess(image(0), model_->vision->processor);
  const int64_t n = std::min<int64_t>(3, p.n_tiles()), per_tile = 64 * 32;
  ASSERT_GE(n, 2);
  ThreadPool pool(2);
  std::vector<float> together(static_cast<size_t>(n * per_tile)), alone(static_cast<size_t>(per_tile));
  model_->vision->tower->tile_features(p.tile(0), n, together.data(), pool);
  for (int64_t t = 0; t < n; ++t) {
    model_->vision->tower->tile_features(p.tile(t), 1, alone.data(), pool);
    EXPECT_EQ(std::vector<float>(together.begin() + t * per_tile, together.begin() + (t + 1) * per_tile), alone) << "tile " << t;
  }
}

TEST_F(SmolVlmGolden, ConversationGivesTheExpectedIdsRowsLogitsAndGreedyTokens) {
  ThreadPool pool(2);
  nlohmann::ordered_json messages = nlohmann::ordered_json::parse((*case_)["messages"].dump());
  const std::vector<MediaRef> media = normalise_vision_messages(messages, "case.json");
  ASSERT_EQ(media.size(), 2u);
  ImageFeatureCache cache;
  std::vector<std::shared_ptr<const EncodedImage>> images = {cache.encode(*model_->vision, image(0), pool),
                                                             cache.encode(*model_->vision, image(1), pool)};
  EXPECT_EQ(cache.encode(*model_->vision, image(0), pool), images[0]);  // seen again: not re-encoded
  EXPECT_EQ(cache.hits(), 1u);
  EXPECT_LE(test::rel_to_max(images[0]->features, expected_->floats("image1.features")), kRelToMax);
  EXPECT_LE(test::rel_to_max(images[1]->features, expected_->floats("image2.features")), kRelToMax);

  const ModelChatTemplate found = find_chat_template(case_dir() + "/model");
  ChatTemplateInput input;
  input.messages = messages;
  input.add_generation_prompt = true;
  input.special_tokens = found.special_tokens;
  const std::string rendered = ChatTemplate(found.source).render(input);
  EXPECT_EQ(rendered, (*case_)["prompt_rendered"].get<std::string>());
  const MultimodalPrompt prompt = build_multimodal_prompt(*model_, rendered, images);
  EXPECT_EQ(prompt.ids, expected_->ints("input_ids"));
  EXPECT_LE(test::rel_to_max(prompt.embeddings, expected_->floats("inputs_embeds")), kRelToMax);

  const LlamaModel& lm = *model_->model;
  LlamaState state = lm.new_state(int64_t(prompt.ids.size()) + 16, DType::F32);
  GenerateOptions opt;
  opt.max_tokens = 16;
  opt.sampling.temperature = 0;
  opt.prompt_embeddings = prompt.embeddings.data();
  std::vector<float> top2;
  std::vector<float> logits(size_t(lm.config().vocab_size));
  // The last prompt position's logits, then the greedy continuation through the KV cache.
  LlamaState probe = lm.new_state(int64_t(prompt.ids.size()) + 16, DType::F32);
  lm.forward(prompt.ids.data(), int64_t(prompt.ids.size()), probe, pool, logits.data(), false, prompt.embeddings.data());
  const std::vector<float> logits_last = logits;
  EXPECT_LE(test::rel_to_max(logits, expected_->floats("logits_last")), kRelToMax);
  const GenerateResult r = generate(lm, state, pool, prompt.ids, opt, [](int32_t) { return true; });
  EXPECT_EQ(r.tokens, expected_->ints("greedy_ids"));
  // Each KV-cache step's top-1 and top-2 logits (checks the steps numerically even where ids repeat).
  for (int32_t id : r.tokens) {
    std::vector<float> sorted = logits;
    std::partial_sort(sorted.begin(), sorted.begin() + 2, sorted.end(), std::greater<float>());
    top2.push_back(sorted[0]);
    top2.push_back(sorted[1]);
    lm.forward(&id, 1, probe, pool, logits.data(), false);
  }
  const double top2_error = test::rel_to_max(top2, expected_->floats("greedy_top2_logits"));
  EXPECT_LE(top2_error, kRelToMax);
  std::printf("features %.2e / %.2e, inputs_embeds %.2e, logits_last %.2e, greedy top-2 logits %.2e (rel_to_max)\n",
              test::rel_to_max(images[0]->features, expected_->floats("image1.features")),
              test::rel_to_max(images[1]->features, expected_->floats("image2.features")),
              test::rel_to_max(prompt.embeddings, expected_->floats("inputs_embeds")),
              test::rel_to_max(logits_last, expected_->floats("logits_last")), top2_error);
}

// The mmproj reader on a real file cut short or damaged: an Error naming the file, never a crash.
TEST_F(SmolVlmGolden, MmprojBadFilesAreErrors) {
  test::TempDir dir;
  const std::string good = dir.file("mmproj.gguf");
  write_idefics3_mmproj(case_dir() + "/model", good);
  EXPECT_NO_THROW(load_idefics3_mmproj(good, model_->require_tokenizer()));
  std::ifstream in(good, std::ios::binary);
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  for (size_t cut : {size_t(0), size_t(10), size_t(200), bytes.size() / 2, bytes.size() - 1}) {
    const std::string path = dir.write("cut.gguf", bytes.substr(0, cut));
    EXPECT_THROW(load_idefics3_mmproj(path, model_->require_tokenizer()), Error) << cut;
  }
  uint64_t state = 7;
  for (int round = 0; round < 30; ++round) {
    std::string damaged = bytes;
    for (int f = 0; f < 4; ++f) {
      state = state * 6364136223846793005ull + 1442695040888963407ull;
      damaged[(state >> 33) % 4096 % damaged.size()] = char(state >> 56);  // the header and metadata
    }
    const std::string path = dir.write("damaged.gguf", damaged);
    try {
      load_idefics3_mmproj(path, model_->require_tokenizer());
    } catch (const Error&) {
    }
  }
}

TEST(SmolVlmVideo, PromptTextFollowsTheProcessor) {
  EXPECT_EQ(number_in_words(0), "zero");
  EXPECT_EQ(number_in_words(21), "twenty-one");
  EXPECT_EQ(number_in_words(64), "sixty-four");
  EXPECT_EQ(number_in_words(105), "one hundred and five");
  EXPECT_EQ(number_in_words(1000), "one thousand");
  EncodedVideo v;
  v.info.duration = 75.9;  // int() → 75 s → 0:01:15
  v.timestamps = {0.0, 37.5, 75.2};
  const std::string block = idefics3_image_prompt(0, 0, 2);
  EXPECT_EQ(block, "<fake_token_around_image><global-img><image><image><fake_token_around_image>");
  EXPECT_EQ(video_prompt(v, 2), "You are provided the following series of three frames from a 0:01:15 [H:MM:SS] video.\n"
                                "\nFrame from 00:00:" + block + "\nFrame from 00:37:" + block +
                                    "\nFrame from 01:15:" + block + "\n\n");
  // The model's template has no video: the processor's default takes over for videos only.
  EXPECT_EQ(vision_chat_template("{{ x }}", false), "{{ x }}");
  EXPECT_NE(vision_chat_template("{{ x }}", true).find("'<video>'"), std::string::npos);
  EXPECT_EQ(vision_chat_template("{{ 'video' }}", true), "{{ 'video' }}");
}

TEST_F(SmolVlmGolden, MismatchedImagesAndPlaceholdersAreErrors) {
  ThreadPool pool(1);
  const auto img = encode_image(*model_->vision, image(0), pool);
  EXPECT_THROW(build_multimodal_prompt(*model_, "User:<image><image>hi", {img}), Error);
  EXPECT_THROW(build_multimodal_prompt(*model_, "User: hi", {img}), Error);
  nlohmann::ordered_json bad = nlohmann::ordered_json::parse(R"([{"role": "user", "content": [{"type": "audio"}]}])");
  EXPECT_THROW(normalise_vision_messages(bad, "conv.json"), Error);
  nlohmann::ordered_json ok = nlohmann::ordered_json::parse(
      R"([{"role": "user", "content": "hi"}, {"role": "user", "content": [{"type": "image_url", "image_url": {"url": "data:x"}}]}])");
  const auto media = normalise_vision_messages(ok, "conv.json");
  ASSERT_EQ(media.size(), 1u);
  EXPECT_EQ(media[0].url, "data:x");
  EXPECT_EQ(ok[0]["content"][0]["type"], "text");
  EXPECT_EQ(ok[1]["content"][0].dump(), R"({"type":"image"})");
}

}  // namespace
}  // namespace edgerun
