// `edgerun segment` on the golden SAM checkpoint: the dumped tensors against the official
// predictor, the mask PNGs, prompt lists, mask prompts, and bad input.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <set>
#include <sstream>
#include <tuple>

#include "cli/cli_fixture.h"
#include "formats/json_file.h"
#include "formats/safetensors.h"
#include "media/image.h"
#include "models/golden_expected.h"

namespace edgerun {
namespace {

using test::Cli;

class SegmentCli : public Cli {
 protected:
  std::string dir() { return golden("sam/sam-vit-mini"); }
  std::string model() { return dir() + "/model"; }
  std::string image() { return dir() + "/images/coffee_600x400.png"; }
  std::string base() { return "segment -t 2 -m " + model() + " --image " + image(); }
  test::Expected expected() { return {read_safetensors(dir() + "/expected.safetensors")}; }
  std::vector<float> floats(const SafetensorsFile& f, const std::string& name) {
    for (const Tensor& t : f.tensors)
      if (t.name == name) {
        std::vector<float> v(size_t(t.numel()));
        std::memcpy(v.data(), t.data, v.size() * 4);
        return v;
      }
    ADD_FAILURE() << "no " << name;
    return {};
  }
  static double max_abs(const std::vector<float>& a, const std::vector<float>& b) {
    EXPECT_EQ(a.size(), b.size());
    double m = 0;
    for (size_t i = 0; i < std::min(a.size(), b.size()); ++i) m = std::max(m, std::fabs(double(a[i]) - b[i]));
    return m;
  }
};

TEST_F(SegmentCli, DumpMatchesTheOfficialPredictorAndPngsHoldTheMasks) {
  const std::string out = (tmp_ / "mask.png").string(), dump = (tmp_ / "d.safetensors").string();
  const test::Result r = run(base() + " --point 290,140 --multimask -o " + out + " --overlay " + (tmp_ / "o.png").string() + " --dump " + dump);
  ASSERT_EQ(r.status, 0) << r.err;
  const json line = json::parse(r.out);
  ASSERT_EQ(line["iou_predictions"].size(), 3u);
  const SafetensorsFile d = read_safetensors(dump);
  const test::Expected e = expected();
  EXPECT_LE(max_abs(floats(d, "image_embeddings"), e.floats("img0.image_embeddings")), 1e-4);
  EXPECT_LE(max_abs(floats(d, "low_res_logits"), e.floats("img0.p0.low_res_logits")), 2e-4);
  EXPECT_LE(max_abs(floats(d, "iou_predictions"), e.floats("img0.p0.iou_predictions")), 5e-5);
  // Masks: the official ones except at the listed near-zero-logit pixels.
  const Tensor* masks = nullptr;
  for (const Tensor& t : d.tensors)
    if (t.name == "masks") masks = &t;
  ASSERT_NE(masks, nullptr);
  EXPECT_EQ(masks->shape, (std::vector<int64_t>{1, 3, 400, 600}));
  const Tensor& want = e.get("img0.p0.masks");
  std::set<std::tuple<int, int, int>> ambiguous;
  const std::vector<int32_t> cyx = e.ints("img0.p0.masks_ambiguous_cyx");
  for (size_t i = 0; i + 2 < cyx.size(); i += 3) ambiguous.insert({cyx[i], cyx[i + 1], cyx[i + 2]});
  size_t differing = 0;
  for (size_t i = 0; i < want.nbytes; ++i)
    if (masks->data[i] != want.data[i] && !ambiguous.count({int(i / 240000), int(i % 240000 / 600), int(i % 600)})) ++differing;
  EXPECT_EQ(differing, 0u);
  // The best mask's PNG (and the numbered candidates) hold exactly the dumped masks.
  const int best = line["best"];
  for (const auto& [path, k] : {std::pair<std::string, int>{out, best}, {(tmp_ / "mask_1.png").string(), 1}}) {
    const ImageU8 png = read_image(path);
    ASSERT_EQ(png.width, 600);
    size_t wrong = 0;
    for (size_t i = 0; i < 240000; ++i) wrong += (png.pixels[i * 3] == 255) != (masks->data[size_t(k) * 240000 + i] == 1);
    EXPECT_EQ(wrong, 0u) << path;
  }
  EXPECT_EQ(read_image((tmp_ / "o.png").string()).width, 600);
}

TEST_F(SegmentCli, PromptListAndMaskInputReuseOneEmbedding) {
  // The golden's mask prompt (img0.p4): the best low-res logits of p0 fed back with the point.
  const test::Expected e = expected();
  const std::vector<float> mask_input = e.floats("img0.p4.mask_input");
  const std::string mask_path = (tmp_ / "prev.safetensors").string();
  write_safetensors(mask_path, {{"mask_input", DType::F32, {1, 1, 256, 256}, mask_input.data(), mask_input.size() * 4}});
  write("prompts.json", R"([{"box": [170, 15, 410, 285]},
                            {"points": [[290, 140]], "labels": [1], "mask_input": ")" + mask_path + R"("}])");
  const std::string dump = (tmp_ / "d.safetensors").string();
  const test::Result r = run(base() + " --prompts " + (tmp_ / "prompts.json").string() + " --dump " + dump);
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(std::count(r.out.begin(), r.out.end(), '\n'), 2) << r.out;
  EXPECT_LE(max_abs(floats(read_safetensors((tmp_ / "d_0.safetensors").string()), "low_res_logits"), e.floats("img0.p2.low_res_logits")), 2e-4);
  EXPECT_LE(max_abs(floats(read_safetensors((tmp_ / "d_1.safetensors").string()), "low_res_logits"), e.floats("img0.p4.low_res_logits")), 2e-4);
}

// A bare weights file with the official names (no config.json): the encoder is read off the shapes.
TEST_F(SegmentCli, BareWeightsFileWorksLikeTheModelDirectory) {
  const std::string a = (tmp_ / "a.safetensors").string(), b = (tmp_ / "b.safetensors").string();
  ASSERT_EQ(run(base() + " --point 290,140 --dump " + a).status, 0);
  const test::Result r = run("segment -t 2 -m " + model() + "/model.safetensors --image " + image() + " --point 290,140 --dump " + b);
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(floats(read_safetensors(a), "low_res_logits"), floats(read_safetensors(b), "low_res_logits"));
  expect_clean_error("segment -m " + golden("llm/tiny-smollm3/model/model.safetensors") + " --image " + image() + " --point 1,1",
                     "not a SAM checkpoint");
}

TEST_F(SegmentCli, BadInputIsOneClearError) {
  expect_clean_error(base() + " --point 700,10", "outside");
  expect_clean_error(base() + " --point 12", "--point");
  expect_clean_error(base() + " --point 1,2,7", "--point");
  expect_clean_error(base() + " --box 10,10,5", "--box");
  expect_clean_error(base() + " --box 50,50,10,10", "--box");
  expect_clean_error(base(), "at least one point");
  expect_clean_error("segment -m " + model() + " --image " + (tmp_ / "none.png").string() + " --point 1,1", "none.png");
  expect_clean_error("segment -m " + dir() + " --image " + image() + " --point 1,1", "config.json");
  const std::vector<float> wrong(128 * 128, 0.0f);
  const std::string bad_mask = (tmp_ / "bad.safetensors").string();
  write_safetensors(bad_mask, {{"mask_input", DType::F32, {1, 1, 128, 128}, wrong.data(), wrong.size() * 4}});
  expect_clean_error(base() + " --point 1,1 --mask-input " + bad_mask, "mask_input");
  write("p.json", "[]");
  expect_clean_error(base() + " --prompts " + (tmp_ / "p.json").string(), "p.json");
  write("p2.json", R"([{"points": [[1, 1]]}])");
  expect_clean_error(base() + " --point 1,1 --prompts " + (tmp_ / "p2.json").string(), "--prompts");
}

// `bench` on a SAM model times the encoder and the prompt decoder (values are not checked:
// timings are for BENCHMARKS.md; what is checked is that every field is there and sensible).
TEST_F(SegmentCli, BenchTimesEncodeAndDecode) {
  const test::Result r = run("bench -t 2 -r 1 --json -m " + model() + " --image " + image());
  ASSERT_EQ(r.status, 0) << r.err;
  const json j = json::parse(r.out);
  EXPECT_EQ(j["image_width"], 600);
  EXPECT_EQ(j["image_height"], 400);
  EXPECT_EQ(j["threads"], 2);
  for (const char* key : {"first_encode_ms", "encode_ms", "encode_ms_min", "point_decode_ms", "box_decode_ms"})
    EXPECT_GT(j[key].get<double>(), 0.0) << key;
  EXPECT_NE(j["encoder"].get<std::string>().find("SAM ViT"), std::string::npos);
  expect_clean_error("bench -m " + model() + " --image " + (tmp_ / "none.png").string(), "none.png");
  expect_clean_error("bench --image " + image(), "--image");  // the built-in model is a language model
}

}  // namespace
}  // namespace edgerun
