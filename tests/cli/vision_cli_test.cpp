// `edgerun logits --messages … --image …` and `edgerun describe` on the tiny SmolVLM golden model:
// the dump's tensors against the golden, the streamed answer against the library's greedy
// continuation, and bad input as one clear error line.
#include <cmath>

#include "cli/cli_fixture.h"
#include "formats/gguf.h"
#include "formats/json_file.h"
#include "formats/safetensors.h"
#include "media/video_test_util.h"
#include "models/golden_expected.h"
#include "runtime/generate.h"
#include "runtime/multimodal.h"
#include "text/chat_template.h"

namespace edgerun {
namespace {

class VisionCli : public test::Cli {
 protected:
  std::string dir() { return golden("vlm/tiny-smolvlm"); }
  std::string model() { return dir() + "/model"; }
  std::string image(int k) {
    return dir() + "/" + read_json_file(dir() + "/case.json")["images"][size_t(k)]["file"].get<std::string>();
  }
  std::string conversation() {
    return write("conv.json", read_json_file(dir() + "/case.json")["messages"].dump()).string();
  }
};

TEST_F(VisionCli, LogitsDumpMatchesTheGolden) {
  const std::string out = (tmp_ / "out.safetensors").string();
  const test::Result r = run("logits -m " + model() + " --messages " + conversation() + " --image " + image(0) +
                             " --image " + image(1) + " --add-generation-prompt -o " + out);
  ASSERT_EQ(r.status, 0) << r.err;
  const test::Expected got{read_safetensors(out)}, want{read_safetensors(dir() + "/expected.safetensors")};
  EXPECT_EQ(got.ints("input_ids"), want.ints("input_ids"));
  EXPECT_EQ(got.get("input_ids").dtype, DType::I64);
  EXPECT_EQ(got.get("image1.pixel_values").shape, (std::vector<int64_t>{5, 3, 512, 512}));
  EXPECT_EQ(got.get("image2.features").shape, (std::vector<int64_t>{13, 64, 32}));
  EXPECT_LE(test::rel_to_max(got.floats("image1.pixel_values"), want.floats("image1.pixel_values")), 1.2e-7);
  EXPECT_LE(test::rel_to_max(got.floats("image1.features"), want.floats("image1.features")), 1e-4);
  EXPECT_LE(test::rel_to_max(got.floats("image2.features"), want.floats("image2.features")), 1e-4);
  const std::vector<float> logits = got.floats("logits");
  const std::vector<float> last = want.floats("logits_last");
  ASSERT_EQ(got.get("logits").shape, (std::vector<int64_t>{1222, int64_t(last.size())}));
  EXPECT_LE(test::rel_to_max(logits.data() + (logits.size() - last.size()), last), 1e-4);
}

// `quantize` writes the text GGUF and llama.cpp's mmproj layout; both load back (--mmproj) and,
// in F32, give the golden's numbers.
TEST_F(VisionCli, GgufWithMmprojMatchesTheGolden) {
  const std::string gguf = (tmp_ / "vlm.gguf").string(), mmproj = (tmp_ / "mmproj-vlm.gguf").string();
  const test::Result q = run("quantize " + model() + " " + gguf + " --type f32");
  ASSERT_EQ(q.status, 0) << q.err;
  ASSERT_TRUE(std::filesystem::exists(mmproj)) << q.err;
  const GgufFile file = GgufFile::open(mmproj);
  EXPECT_EQ(file.get_string("clip.projector_type"), "idefics3");
  EXPECT_EQ(file.get_int("clip.vision.projector.scale_factor"), 4);
  EXPECT_EQ(file.get_int("clip.vision.preproc_image_size"), 2048);
  EXPECT_EQ(file.tensor_infos().size(), 3u + 2 * 16 + 2 + 1);  // patch (2), positions, 2 layers, post-LN, projection
  const std::string out = (tmp_ / "out.safetensors").string();
  const test::Result r = run("logits -m " + gguf + " --mmproj " + mmproj + " --messages " + conversation() + " --image " +
                             image(0) + " --image " + image(1) + " --add-generation-prompt -o " + out);
  ASSERT_EQ(r.status, 0) << r.err;
  const test::Expected got{read_safetensors(out)}, want{read_safetensors(dir() + "/expected.safetensors")};
  EXPECT_EQ(got.ints("input_ids"), want.ints("input_ids"));
  EXPECT_LE(test::rel_to_max(got.floats("image2.features"), want.floats("image2.features")), 1e-4);
  const std::vector<float> logits = got.floats("logits"), last = want.floats("logits_last");
  EXPECT_LE(test::rel_to_max(logits.data() + (logits.size() - last.size()), last), 1e-4);
  // Bad pairings are one clear error.
  expect_clean_error("describe -m " + gguf + " --mmproj " + gguf + " --image " + image(0), "not a vision projector");
  expect_clean_error("describe -m " + model() + " --mmproj " + mmproj + " --image " + image(0), "--mmproj");
  expect_clean_error("describe -m " + golden("llm/tiny-smollm3/model") + " --image " + image(0), "not a vision-language model");
}

TEST_F(VisionCli, DescribeStreamsTheGreedyAnswer) {
  const test::Result r = run("describe -m " + model() + " --image " + image(1) + " -p 'What is this?' --temp 0 -n 12");
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.err.find("1 images (13 tiles)"), std::string::npos) << r.err;
  // The same question through the library.
  const LoadedModel m = load_model(model());
  ThreadPool pool(2);
  nlohmann::ordered_json messages = nlohmann::ordered_json::parse(
      R"([{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "What is this?"}]}])");
  normalise_vision_messages(messages, "test");
  const ModelChatTemplate found = find_chat_template(model());
  ChatTemplateInput input;
  input.messages = messages;
  input.add_generation_prompt = true;
  const auto encoded = encode_image(*m.vision, read_image(image(1)), pool);
  const MultimodalPrompt p = build_multimodal_prompt(m, ChatTemplate(found.source).render(input), {encoded});
  LlamaState state = m.model->new_state(int64_t(p.ids.size()) + 12);
  GenerateOptions opt;
  opt.max_tokens = 12;
  opt.sampling.temperature = 0;
  opt.eos_ids = m.eos_ids;
  opt.prompt_embeddings = p.embeddings.data();
  const GenerateResult g = generate(*m.model, state, pool, p.ids, opt, [](int32_t) { return true; });
  EXPECT_EQ(r.out, m.require_tokenizer().decode(g.tokens, true) + "\n");
}

TEST_F(VisionCli, ChatAttachesImagesWithSlashImage) {
  const std::string input = "/image " + (tmp_ / "nope.png").string() + "\n/image " + image(1) + "\nWhat is this?\n";
  const test::Result chat = run("chat -m " + model() + " --temp 0 -n 6", &input);
  ASSERT_EQ(chat.status, 0) << chat.err;
  EXPECT_NE(chat.err.find("nope.png"), std::string::npos) << chat.err;  // reported, the chat goes on
  EXPECT_NE(chat.err.find("image attached (13 tiles)"), std::string::npos) << chat.err;
  const test::Result describe = run("describe -m " + model() + " --image " + image(1) + " -p 'What is this?' --temp 0 -n 6");
  ASSERT_EQ(describe.status, 0) << describe.err;
  EXPECT_EQ(chat.out, describe.out);
}

TEST_F(VisionCli, DescribeAVideo) {
  const std::string clip = (tmp_ / "clip.mkv").string();
  test::write_test_video(clip, 40, 10, 96, 64);  // 4 s at 10 fps → 4 frames sampled
  const test::Result r = run("describe -m " + model() + " --video " + clip + " --temp 0 -n 4");
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.err.find("video 96x64, 4.0 s at 10.00 fps: 4 frames sampled"), std::string::npos) << r.err;
  EXPECT_FALSE(r.out.empty());
  expect_clean_error("describe -m " + model() + " --video " + write("bad.mp4", std::string(4000, 'z')).string(), "bad.mp4");
  expect_clean_error("describe -m " + model(), "--image or --video");
}

TEST_F(VisionCli, BadInputIsOneClearError) {
  const std::string out = " -o " + (tmp_ / "o.safetensors").string();
  expect_clean_error("describe -m " + model() + " --image " + (tmp_ / "missing.png").string(), "missing.png");
  const std::string junk = write("junk.png", std::string(300, 'x')).string();
  expect_clean_error("describe -m " + model() + " --image " + junk, "junk.png");
  // A PNG header announcing 100000 × 100000 pixels is refused before anything is allocated.
  std::string huge = "\x89PNG\r\n\x1a\n";
  huge += std::string("\0\0\0\x0dIHDR", 8) + std::string("\x00\x01\x86\xa0\x00\x01\x86\xa0\x08\x02\x00\x00\x00", 13) + "CRC!";
  expect_clean_error("describe -m " + model() + " --image " + write("huge.png", huge).string(), "huge.png");
  expect_clean_error("logits -m " + model() + " --messages " + conversation() + " --image " + image(0) + out,
                     "more image parts");
  expect_clean_error("logits -m " + model() + " --messages " + conversation() + " --image " + image(0) + " --image " +
                         image(1) + " --image " + image(0) + out,
                     "3 images given");
  const std::string bad_conv = write("bad.json", R"([{"role": "user", "content": [{"type": "audio"}]}])").string();
  expect_clean_error("logits -m " + model() + " --messages " + bad_conv + out, "audio");
  expect_clean_error("logits -m " + model() + " --image " + image(0) + " -p hi" + out, "--messages");
  expect_clean_error("describe -m " + golden("llm/tiny-smollm3/model") + " --image " + image(0), "not a vision-language model");
}

}  // namespace
}  // namespace edgerun
