// Ministral 3 as a configuration of the Llama-family decoder, against ../shared/golden/llm/
// tiny-ministral3 (random weights, the real YaRN / query-temperature parameters, original context
// reduced to 32 so that short prompts cross the query-scale steps; expected values from a float64
// numpy forward of the transformers code, agreeing with llama.cpp to ~5e-5).
// Also the other forms of the same weights a user meets: the Mistral3ForConditionalGeneration
// layout (text decoder nested, vision tensors skipped), FP8 E4M3 weights with per-tensor scales
// as the Instruct release ships them, and mistral3 GGUF files written by `edgerun quantize`.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "core/error.h"
#include "core/storage.h"
#include "formats/gguf.h"
#include "formats/json_file.h"
#include "formats/safetensors.h"
#include "kernels/rope.h"
#include "models/golden_expected.h"
#include "runtime/generate.h"
#include "runtime/model_loader.h"
#include "runtime/quantize.h"
#include "test_util.h"
#include "text/gguf_vocab_export.h"

namespace edgerun {
namespace {

namespace fs = std::filesystem;
using test::TempDir;

std::string case_dir() { return test::golden_dir() + "/llm/tiny-ministral3"; }
std::string model_dir() { return case_dir() + "/model"; }
const char* const kPrompts[] = {"p0", "p1"};

// README: an engine computing in F32 from the BF16 weights stays within 1e-3 of the float64
// reference at every position (the oracles agree to 7e-5).
constexpr double kGoldenTolerance = 1e-3;

std::string prompt_text(int k) { return read_json_file(case_dir() + "/case.json")["prompts"][k]["text"].get<std::string>(); }

double max_abs_diff(const std::vector<float>& a, const std::vector<float>& b) {
  EXPECT_EQ(a.size(), b.size());
  double worst = 0;
  for (size_t i = 0; i < std::min(a.size(), b.size()); ++i) worst = std::max(worst, std::fabs(double(a[i]) - b[i]));
  return worst;
}

double max_abs(const std::vector<float>& a) {
  double m = 0;
  for (float v : a) m = std::max(m, std::fabs(double(v)));
  return m;
}

class MinistralGolden : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    expected_ = new test::Expected{read_safetensors(case_dir() + "/expected.safetensors")};
    model_ = new LoadedModel(load_model(model_dir(), LoadOptions{true, false}));
  }
  static void TearDownTestSuite() {
    delete expected_;
    delete model_;
  }
  static std::vector<int32_t> ids(const std::string& p) { return expected_->ints("input_ids_" + p); }
  static test::Expected* expected_;
  static LoadedModel* model_;
};
test::Expected* MinistralGolden::expected_ = nullptr;
LoadedModel* MinistralGolden::model_ = nullptr;

TEST_F(MinistralGolden, ConfigIsTheLlamaDecoderWithYarnAndQueryTemperature) {
  const LlamaConfig& c = model_->config;
  EXPECT_EQ(c.architecture, "Ministral3ForCausalLM");
  EXPECT_EQ(c.q_dim(), 384);  // 6 heads x 64, while hidden is 256
  EXPECT_EQ(c.hidden_size, 256);
  EXPECT_EQ(c.rope.type, "yarn");
  EXPECT_EQ(c.rope.theta, 1e6);
  EXPECT_EQ(c.rope.original_context, 32);
  EXPECT_EQ(c.rope.max_position, 512);  // YaRN recomputes the factor as 512 / 32
  EXPECT_DOUBLE_EQ(c.query_temperature.beta, 0.1);
  EXPECT_EQ(c.query_temperature.interval, 32);
  EXPECT_TRUE(c.tie_word_embeddings);
}

TEST_F(MinistralGolden, YarnInverseFrequenciesAndUnitAttentionFactor) {
  const RopeTable t = make_rope_table(model_->config.rope, false, "test");
  const std::vector<float> want = expected_->floats("yarn_inv_freq");
  ASSERT_EQ(t.inv_freq.size(), want.size());
  for (size_t i = 0; i < want.size(); ++i)  // both computed in f32; allow one rounding step
    EXPECT_NEAR(t.inv_freq[i], want[i], 2e-7 * std::fabs(want[i])) << "pair " << i;
  EXPECT_EQ(t.attention_factor, 1.0f);  // mscale == mscale_all_dim: not 1 + 0.1 ln 16
}

TEST_F(MinistralGolden, QueryScaleAtEveryPosition) {
  for (const char* p : kPrompts) {
    const std::vector<float> want = expected_->floats(std::string("q_scale_") + p);
    for (size_t pos = 0; pos < want.size(); ++pos)
      EXPECT_NEAR(model_->config.query_temperature.factor(int64_t(pos)), want[pos], 1e-6) << p << " position " << pos;
  }
  EXPECT_EQ(model_->config.query_temperature.factor(31), 1.0f);
  EXPECT_NEAR(model_->config.query_temperature.factor(32), 1 + 0.1 * std::log(2.0), 1e-6);
}

TEST_F(MinistralGolden, LogitsAtEveryPosition) {
  for (const char* p : kPrompts) {
    for (int threads : {1, 2}) {
      const std::vector<float> got = test::logits_at_every_position(*model_->model, ids(p), threads);
      EXPECT_LE(max_abs_diff(got, expected_->floats(std::string("logits_") + p)), kGoldenTolerance) << p << " threads " << threads;
    }
  }
}

// Greedy ids exactly, and the logits of every decode step (one token at a time through the
// cache, so positions past 32 and 64 see the query scale in the decode path too).
TEST_F(MinistralGolden, GreedyContinuationAndDecodeLogits) {
  ThreadPool pool(2);
  const int64_t vocab = model_->config.vocab_size;
  for (const char* p : kPrompts) {
    const std::vector<int32_t> prompt = ids(p), greedy = expected_->ints(std::string("greedy_") + p);
    LlamaState state = model_->model->new_state(int64_t(prompt.size() + greedy.size()), DType::F32);
    GenerateOptions opt;
    opt.max_tokens = int64_t(greedy.size());
    opt.sampling.temperature = 0;
    EXPECT_EQ(generate(*model_->model, state, pool, prompt, opt, [](int32_t) { return true; }).tokens, greedy) << p;

    const std::vector<float> want = expected_->floats(std::string("gen_logits_") + p);
    LlamaState s = model_->model->new_state(int64_t(prompt.size() + greedy.size()), DType::F32);
    std::vector<float> row(static_cast<size_t>(vocab));
    model_->model->forward(prompt.data(), int64_t(prompt.size()), s, pool, row.data(), false);
    for (size_t j = 0; j < greedy.size(); ++j) {
      if (j > 0) model_->model->forward(&greedy[j - 1], 1, s, pool, row.data(), false);
      const std::vector<float> want_row(want.begin() + std::ptrdiff_t(j * size_t(vocab)), want.begin() + std::ptrdiff_t((j + 1) * size_t(vocab)));
      EXPECT_LE(max_abs_diff(row, want_row), kGoldenTolerance) << p << " decode step " << j;
    }
  }
}

// The full-size config make_random_checkpoint uses (tools/configs, reconstructed): head_dim is
// explicit (q width 4096 > hidden 3072) and the text decoder sits under text_config.
TEST(MinistralConfig, ThreeBillionVisionLanguageConfig) {
  const std::string file = test::source_dir() + "/tools/configs/Ministral-3-3B-Instruct-2512/config.json";
  const LlamaConfig c = llama_config_from_hf(read_json_file(file), file);
  EXPECT_EQ(c.architecture, "Mistral3ForConditionalGeneration");
  EXPECT_EQ(c.model_type, "ministral3");
  EXPECT_TRUE(c.vision_language);
  EXPECT_EQ(c.hf_prefix, "model.language_model.");
  EXPECT_EQ(c.q_dim(), 4096);
  EXPECT_EQ(c.kv_dim(), 1024);
  EXPECT_EQ(c.hidden_size, 3072);
  EXPECT_EQ(c.n_layers, 26);
  EXPECT_EQ(c.vocab_size, 131072);
  EXPECT_TRUE(c.tie_word_embeddings);
  EXPECT_EQ(c.query_temperature.interval, 16384);
  EXPECT_EQ(c.rope.max_position, 262144);
  const RopeTable t = make_rope_table(c.rope, false, file);
  EXPECT_EQ(t.attention_factor, 1.0f);
  // MODELS.md §5.2: pairs 0-19 keep their frequency, 37-63 are divided by 16.
  const float base19 = float(1.0 / std::pow(1e6, double(float(38) / 128.0f)));
  EXPECT_EQ(t.inv_freq[19], base19);
  const float base40 = float(1.0 / std::pow(1e6, double(float(80) / 128.0f)));
  EXPECT_NEAR(t.inv_freq[40], base40 / 16, 1e-7 * base40);
}

// ---------------------------------------------------------------- other forms of the checkpoint

struct OwnedTensor {
  std::string name;
  DType dtype;
  std::vector<int64_t> shape;
  std::vector<uint8_t> bytes;
};

void write_model(const std::string& dir, const json& config, const std::vector<OwnedTensor>& tensors) {
  fs::create_directories(dir);
  std::vector<TensorToWrite> w;
  for (const OwnedTensor& t : tensors) w.push_back({t.name, t.dtype, t.shape, t.bytes.data(), t.bytes.size()});
  write_safetensors(dir + "/model.safetensors", w);
  std::ofstream(dir + "/config.json") << config.dump(1);
  for (const char* f : {"tekken.json", "generation_config.json"}) fs::copy_file(model_dir() + "/" + f, dir + "/" + f);
}

std::vector<OwnedTensor> golden_tensors() {
  const SafetensorsFile f = read_safetensors(model_dir() + "/model.safetensors");
  std::vector<OwnedTensor> out;
  for (const Tensor& t : f.tensors) out.push_back({t.name, t.dtype, t.shape, std::vector<uint8_t>(t.data, t.data + t.nbytes)});
  return out;
}

std::vector<uint8_t> scalar_f32(float v) {
  std::vector<uint8_t> b(4);
  std::memcpy(b.data(), &v, 4);
  return b;
}

// The config upstream's converter writes: Mistral3Config around the decoder's Ministral3Config.
json vision_language_config() {
  json text = read_json_file(model_dir() + "/config.json");
  text.erase("architectures");
  return {{"architectures", {"Mistral3ForConditionalGeneration"}},
          {"model_type", "mistral3"},
          {"text_config", text},
          {"vision_config", {{"model_type", "pixtral"}, {"hidden_size", 8}, {"num_hidden_layers", 1}, {"num_attention_heads", 2},
                             {"head_dim", 4}, {"intermediate_size", 16}, {"patch_size", 2}, {"image_size", 8}, {"hidden_act", "silu"}}},
          {"image_token_index", 10},
          {"spatial_merge_size", 2},
          {"projector_hidden_act", "gelu"},
          {"multimodal_projector_bias", false},
          {"vision_feature_layer", -1},
          {"dtype", "bfloat16"}};
}

// The golden weights renamed as a Mistral3ForConditionalGeneration checkpoint stores them: the
// decoder under `decoder_prefix`, the LM head written out (the converter copies the embedding
// when tied), and a small vision tower and projector.
std::vector<OwnedTensor> vision_language_tensors(const std::string& decoder_prefix, const std::string& lm_head,
                                                 const std::string& vision_prefix) {
  std::vector<OwnedTensor> out;
  for (OwnedTensor& t : golden_tensors()) {
    t.name = decoder_prefix + t.name.substr(std::string("model.").size());
    if (t.name == decoder_prefix + "embed_tokens.weight") out.push_back({lm_head, t.dtype, t.shape, t.bytes});
    out.push_back(std::move(t));
  }
  out.push_back({vision_prefix + "vision_tower.patch_conv.weight", DType::BF16, {8, 3, 2, 2}, std::vector<uint8_t>(8 * 3 * 2 * 2 * 2)});
  out.push_back({vision_prefix + "multi_modal_projector.linear_1.weight", DType::BF16, {8, 8}, std::vector<uint8_t>(8 * 8 * 2)});
  return out;
}

TEST_F(MinistralGolden, VisionLanguageCheckpointGivesTheSameLogits) {
  const std::vector<float> want = test::logits_at_every_position(*model_->model, ids("p1"));
  // transformers >= 4.52 (the Ministral 3 release) and the older layout.
  struct Layout {
    std::string decoder, lm_head, vision;
  };
  for (const Layout& l : {Layout{"model.language_model.", "lm_head.weight", "model."},
                          Layout{"language_model.model.", "language_model.lm_head.weight", ""}}) {
    TempDir tmp;
    write_model(tmp.path(), vision_language_config(), vision_language_tensors(l.decoder, l.lm_head, l.vision));
    const LoadedModel m = load_model(tmp.path());
    EXPECT_EQ(m.config.architecture, "Mistral3ForConditionalGeneration");
    EXPECT_EQ(m.config.hf_prefix, l.decoder);
    ASSERT_EQ(m.notices.size(), 1u);
    EXPECT_NE(m.notices[0].find("skipping 2 vision tensors"), std::string::npos) << m.notices[0];
    EXPECT_LE(max_abs_diff(test::logits_at_every_position(*m.model, ids("p1")), want), 1e-5) << l.decoder;
    EXPECT_EQ(m.tokenizer->encode(prompt_text(1), true), ids("p1"));  // tekken.json: the copy has no tokenizer.json
  }
}

// FP8 as the Instruct release: each decoder Linear weight E4M3 with a per-tensor F32
// `weight_scale_inv` (amax / 448) and a static `activation_scale`; embeddings, norms and LM head
// stay BF16 (modules_to_not_convert). Also written: the same model with F32 weights holding
// exactly fp8 * scale, which the FP8 path must reproduce.
struct Fp8Copies {
  std::vector<OwnedTensor> fp8, dequantized;
};
Fp8Copies fp8_copies() {
  Fp8Copies c;
  for (OwnedTensor& t : vision_language_tensors("model.language_model.", "lm_head.weight", "model.")) {
    const bool linear = t.name.find(".layers.") != std::string::npos && t.shape.size() == 2;
    if (!linear) {
      c.dequantized.push_back(t);
      c.fp8.push_back(std::move(t));
      continue;
    }
    const size_t n = t.bytes.size() / 2;
    std::vector<float> w(n);
    float amax = 0;
    for (size_t i = 0; i < n; ++i) {
      uint16_t h;
      std::memcpy(&h, &t.bytes[2 * i], 2);
      w[i] = bf16_to_f32(h);
      amax = std::max(amax, std::fabs(w[i]));
    }
    const float scale = amax / 448;
    std::vector<uint8_t> q(n), deq(4 * n);
    for (size_t i = 0; i < n; ++i) {
      q[i] = f32_to_f8_e4m3(w[i] / scale);
      const float back = f8_e4m3_to_f32(q[i]) * scale;
      std::memcpy(&deq[4 * i], &back, 4);
    }
    const std::string stem = t.name.substr(0, t.name.size() - 6);
    c.fp8.push_back({t.name, DType::F8_E4M3, t.shape, std::move(q)});
    c.fp8.push_back({stem + "weight_scale_inv", DType::F32, {}, scalar_f32(scale)});
    c.fp8.push_back({stem + "activation_scale", DType::F32, {}, scalar_f32(0.05f)});
    c.dequantized.push_back({t.name, DType::F32, t.shape, std::move(deq)});
  }
  return c;
}

json fp8_config() {
  json c = vision_language_config();
  c["quantization_config"] = {{"quant_method", "fp8"}, {"activation_scheme", "static"}, {"weight_block_size", nullptr},
                              {"modules_to_not_convert", {"model.vision_tower", "model.multi_modal_projector", "lm_head"}}};
  return c;
}

QuantizeResult quantize(const std::string& in, const std::string& out, const std::string& type) {
  QuantizeOptions o;
  o.input = in;
  o.output = out;
  o.type = type;
  o.threads = 2;
  return quantize_model(o);
}

TEST_F(MinistralGolden, Fp8WeightsWithPerTensorScales) {
  TempDir tmp;
  const Fp8Copies copies = fp8_copies();
  write_model(tmp.file("fp8"), fp8_config(), copies.fp8);
  write_model(tmp.file("dequantized"), vision_language_config(), copies.dequantized);
  const LoadedModel fp8 = load_model(tmp.file("fp8"), LoadOptions{true, false});
  const LoadedModel deq = load_model(tmp.file("dequantized"), LoadOptions{true, false});
  const std::vector<int32_t> prompt = ids("p1");
  const std::vector<float> got = test::logits_at_every_position(*fp8.model, prompt);
  const std::vector<float> exact = test::logits_at_every_position(*deq.model, prompt);
  // The FP8 kernels multiply by the scale after the dot product instead of before: float
  // rounding only.
  EXPECT_LE(max_abs_diff(got, exact), 1e-3);
  // Against the BF16 original, only loosely: that the FP8 path computes exactly fp8 * scale is
  // the check above. E4M3 keeps 3 mantissa bits, a relative RMS error of ~2.4% per weight, about
  // 4x Q8_0's (~0.6%) and 20x BF16's; this random model passes weight noise to the logits nearly
  // undamped (Q8_0 moves them by 2.5, Q8_0GgufStaysClose), so ~10 is expected at worst (observed
  // 7.6 on logits up to 23, cosine 0.98). Bounds: half the largest logit, cosine >= 0.95 — enough
  // to catch a missing or inverted scale (logits off by orders of magnitude) or permuted rows.
  const std::vector<float> golden = expected_->floats("logits_p1");
  const double d = max_abs_diff(got, golden), scale = max_abs(golden);
  double dot = 0, gg = 0, ww = 0;
  size_t agree = 0;
  const size_t V = size_t(fp8.config.vocab_size);
  for (size_t i = 0; i < got.size(); ++i) dot += double(got[i]) * golden[i], gg += double(got[i]) * got[i], ww += double(golden[i]) * golden[i];
  for (size_t p = 0; p < prompt.size(); ++p)
    agree += std::max_element(&got[p * V], &got[p * V] + V) - &got[p * V] == std::max_element(&golden[p * V], &golden[p * V] + V) - &golden[p * V];
  std::printf("FP8 E4M3 per-tensor: max |logit - golden| %.3f (max |logit| %.1f), cosine %.5f, argmax agree %zu/%zu\n", d, scale,
              dot / std::sqrt(gg * ww), agree, prompt.size());
  EXPECT_LE(d, 0.5 * scale);
  EXPECT_GE(dot / std::sqrt(gg * ww), 0.95);

  // Decode runs the one-row path of the same kernel.
  ThreadPool pool(2);
  LlamaState a = fp8.model->new_state(int64_t(prompt.size()), DType::F32), b = deq.model->new_state(int64_t(prompt.size()), DType::F32);
  std::vector<float> x(size_t(fp8.config.vocab_size)), y(x.size());
  for (int32_t id : prompt) {
    fp8.model->forward(&id, 1, a, pool, x.data(), false);
    deq.model->forward(&id, 1, b, pool, y.data(), false);
  }
  EXPECT_LE(max_abs_diff(x, y), 1e-3);

  // As `edgerun quantize` input: the F32 GGUF holds fp8 * scale exactly; Q8_0 requantizes it.
  quantize(tmp.file("fp8"), tmp.file("f32.gguf"), "f32");
  quantize(tmp.file("fp8"), tmp.file("q8.gguf"), "q8_0");
  EXPECT_LE(max_abs_diff(test::logits_at_every_position(*load_model(tmp.file("f32.gguf")).model, prompt), exact), 1e-3);
  const double q8 = max_abs_diff(test::logits_at_every_position(*load_model(tmp.file("q8.gguf")).model, prompt), exact);
  EXPECT_LE(q8, 0.15 * scale);  // Q8_0 noise on top, same reasoning as for the BF16 source below
}

TEST_F(MinistralGolden, Fp8WithoutScalesIsRefused) {
  TempDir tmp;
  std::vector<OwnedTensor> tensors;
  for (OwnedTensor& t : fp8_copies().fp8)
    if (t.name.find("layers.1.mlp.up_proj.weight_scale_inv") == std::string::npos) tensors.push_back(std::move(t));
  write_model(tmp.path(), fp8_config(), tensors);
  try {
    load_model(tmp.path());
    FAIL() << "loaded FP8 weights without their scale";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("FP8 tensor 'model.language_model.layers.1.mlp.up_proj.weight' has no scale"),
              std::string::npos) << e.what();
  }
}

// ---------------------------------------------------------------- GGUF

TEST_F(MinistralGolden, QuantizeWritesMistral3GgufAsLlamaCpp) {
  TempDir tmp;
  quantize(model_dir(), tmp.file("bf16.gguf"), "bf16");
  const GgufFile g = GgufFile::open(tmp.file("bf16.gguf"));
  // The keys llama.cpp's converter writes for Ministral3ForCausalLM (conversion/mistral3.py and
  // the base TextModel) and its mistral3 loader reads.
  EXPECT_EQ(g.get_string("general.architecture"), "mistral3");
  EXPECT_EQ(g.get_string("mistral3.rope.scaling.type"), "yarn");
  EXPECT_FLOAT_EQ(float(g.get_float("mistral3.rope.scaling.factor")), 16.0f);
  EXPECT_EQ(g.get_int("mistral3.rope.scaling.original_context_length"), 32);
  EXPECT_FLOAT_EQ(float(g.get_float("mistral3.rope.scaling.yarn_beta_fast")), 32.0f);
  EXPECT_FLOAT_EQ(float(g.get_float("mistral3.rope.scaling.yarn_beta_slow")), 1.0f);
  EXPECT_FLOAT_EQ(float(g.get_float("mistral3.rope.scaling.yarn_log_multiplier")), 1.0f);
  EXPECT_FLOAT_EQ(float(g.get_float("mistral3.attention.temperature_scale")), 0.1f);
  EXPECT_FLOAT_EQ(float(g.get_float("mistral3.rope.freq_base")), 1e6f);
  EXPECT_EQ(g.get_int("mistral3.rope.dimension_count"), 64);
  EXPECT_EQ(g.get_int("mistral3.attention.key_length"), 64);
  EXPECT_EQ(g.get_int("mistral3.attention.value_length"), 64);
  EXPECT_EQ(g.get_int("mistral3.context_length"), 512);
  EXPECT_EQ(g.get_string("tokenizer.ggml.pre"), "tekken");
  EXPECT_FALSE(g.find("output.weight"));  // tied

  const LoadedModel m = load_model(tmp.file("bf16.gguf"));
  EXPECT_EQ(m.config.query_temperature.interval, 32);
  EXPECT_TRUE(m.config.rope_interleaved);
  for (int k = 0; k < 2; ++k) {
    const std::string p = kPrompts[k];
    EXPECT_EQ(m.tokenizer->encode(prompt_text(k), true), ids(p));
    EXPECT_LE(max_abs_diff(test::logits_at_every_position(*m.model, ids(p)), expected_->floats("logits_" + p)), kGoldenTolerance)
        << p;  // BF16 weights are the checkpoint's own values
  }
}

// Q8_0 rounds each weight to 1/254 of its block's max: ~4x the weight noise of BF16, which
// alone moves this random model's logits by ~0.45 (README); observed ~2.5 on logits up to 23,
// so the bound is 15% of the largest logit. Argmax must agree wherever the golden top-1 margin
// exceeds that noise.
TEST_F(MinistralGolden, Q8_0GgufStaysClose) {
  TempDir tmp;
  quantize(model_dir(), tmp.file("q8.gguf"), "q8_0");
  const LoadedModel m = load_model(tmp.file("q8.gguf"));
  const int64_t vocab = m.config.vocab_size;
  const std::vector<float> got = test::logits_at_every_position(*m.model, ids("p1"));
  const std::vector<float> want = expected_->floats("logits_p1");
  const double d = max_abs_diff(got, want), scale = max_abs(want);
  std::printf("Q8_0 mistral3 GGUF: max |logit - golden| %.3f (max |logit| %.1f)\n", d, scale);
  EXPECT_LE(d, 0.15 * scale);
  for (size_t pos = 0; pos < ids("p1").size(); ++pos) {
    const float* w = &want[pos * size_t(vocab)];
    const float* g = &got[pos * size_t(vocab)];
    std::vector<float> sorted(w, w + vocab);
    std::partial_sort(sorted.begin(), sorted.begin() + 2, sorted.end(), std::greater<float>());
    if (sorted[0] - sorted[1] > 2 * d)
      EXPECT_EQ(std::max_element(g, g + vocab) - g, std::max_element(w, w + vocab) - w) << "position " << pos;
  }
}

// Without tokenizer.json the GGUF vocabulary comes from tekken.json; it must be the one the
// tokenizer.json export gives (llama.cpp's converter derives both the same way).
TEST_F(MinistralGolden, TekkenVocabularyExportMatchesTheTokenizerJsonOne) {
  TempDir tmp;
  fs::copy_file(model_dir() + "/tekken.json", tmp.file("tekken.json"));
  const GgufVocab from_tekken = export_tekken_vocab(tmp.path(), 8192);
  const GgufVocab from_json = export_hf_vocab(model_dir(), 8192);
  EXPECT_EQ(from_tekken.tokens, from_json.tokens);
  EXPECT_EQ(from_tekken.token_types, from_json.token_types);
  EXPECT_EQ(from_tekken.merges, from_json.merges);
  EXPECT_EQ(from_tekken.pre, "tekken");
  EXPECT_EQ(from_json.pre, "tekken");
  EXPECT_EQ(from_tekken.bos_id, 1);
  EXPECT_EQ(from_tekken.eos_id, 2);
  EXPECT_EQ(from_tekken.pad_id, 11);
  EXPECT_TRUE(from_tekken.add_bos);
}

}  // namespace
}  // namespace edgerun
