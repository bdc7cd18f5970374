// `edgerun quantize`: the tiny SmolLM2 / SmolLM3 checkpoints (random weights, real SmolLM2
// tokenizer) written as GGUF in every --type and loaded back: same config, same tokenization as
// the HF tokenizer, same logits as the HF model (F32/BF16 exactly up to float rounding; Q8_0
// within its quantization error), llama-quantize's per-tensor recipe (K-quants on a generated
// 256-wide model), the tokenizer.json → tokenizer.ggml.* export, and clear errors.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <random>

#include "core/error.h"
#include "core/quant.h"
#include "core/storage.h"
#include "core/thread_pool.h"
#include "formats/gguf.h"
#include "formats/gguf_writer.h"
#include "formats/json_file.h"
#include "formats/safetensors.h"
#include "runtime/model_loader.h"
#include "runtime/quantize.h"
#include "test_util.h"
#include "text/gguf_vocab_export.h"
#include "text/unicode.h"

namespace edgerun {
namespace {

namespace fs = std::filesystem;

using test::TempDir;

std::string model_dir(const std::string& name) { return test::golden_dir() + "/llm/" + name + "/model"; }

QuantizeResult quantize(const std::string& in, const std::string& out, const std::string& type, int threads = 2) {
  QuantizeOptions o;
  o.input = in;
  o.output = out;
  o.type = type;
  o.threads = threads;
  return quantize_model(o);
}

void expect_error(const std::function<void()>& f, const std::string& needle) {
  try {
    f();
    ADD_FAILURE() << "no error; expected one mentioning '" << needle << "'";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
  }
}

const Tensor& tensor(const std::vector<Tensor>& ts, const std::string& name) {
  for (const Tensor& t : ts)
    if (t.name == name) return t;
  throw std::runtime_error("no tensor " + name);
}

// A copy of a tiny model directory (links to the big files) with config.json edited.
std::string edited_model(const TempDir& tmp, const std::string& model, const std::function<void(json&)>& edit) {
  const std::string dir = tmp.file("model");
  fs::create_directories(dir);
  fs::create_symlink(fs::canonical(model_dir(model) + "/model.safetensors"), dir + "/model.safetensors");
  // Copies: the golden tokenizer.json is a git textual symlink, relative to its own folder.
  for (const char* f : {"tokenizer.json", "tokenizer_config.json", "generation_config.json"})
    std::ofstream(dir + "/" + f) << read_text_file(model_dir(model) + "/" + f);
  json c = read_json_file(model_dir(model) + "/config.json");
  edit(c);
  std::ofstream(dir + "/config.json") << c.dump(1);
  return dir;
}

void expect_same_config(const LlamaConfig& g, const LlamaConfig& h) {
  // Not compared: architecture (file-specific names), rope_interleaved / gguf_names (layout),
  // tie_word_embeddings (GGUF says it by omitting output.weight; checked by the callers).
  EXPECT_EQ(g.vocab_size, h.vocab_size);
  EXPECT_EQ(g.hidden_size, h.hidden_size);
  EXPECT_EQ(g.n_layers, h.n_layers);
  EXPECT_EQ(g.n_heads, h.n_heads);
  EXPECT_EQ(g.n_kv_heads, h.n_kv_heads);
  EXPECT_EQ(g.head_dim, h.head_dim);
  EXPECT_EQ(g.intermediate_size, h.intermediate_size);
  EXPECT_EQ(g.max_position_embeddings, h.max_position_embeddings);
  EXPECT_EQ(float(g.rms_norm_eps), float(h.rms_norm_eps));  // GGUF stores f32
  EXPECT_EQ(g.rope.type, h.rope.type);
  EXPECT_EQ(float(g.rope.theta), float(h.rope.theta));
  EXPECT_EQ(g.rope.rotary_dim, h.rope.rotary_dim);
  EXPECT_EQ(g.rope.factor, h.rope.factor);
  EXPECT_EQ(g.layer_uses_rope, h.layer_uses_rope);
  EXPECT_EQ(g.bos_token_id, h.bos_token_id);
  EXPECT_EQ(g.eos_token_ids, h.eos_token_ids);
}

// ---------------------------------------------------------------- recipe

TEST(QuantizeRecipe, ParsesTypeNames) {
  EXPECT_EQ(parse_quant_recipe("q8_0"), QuantRecipe::Q8_0);
  EXPECT_EQ(parse_quant_recipe("Q4_0"), QuantRecipe::Q4_0);
  EXPECT_EQ(parse_quant_recipe("q4_k"), QuantRecipe::Q4_K_M);
  EXPECT_EQ(parse_quant_recipe("q4_k_m"), QuantRecipe::Q4_K_M);
  EXPECT_EQ(parse_quant_recipe("bf16"), QuantRecipe::BF16);
  expect_error([] { parse_quant_recipe("q5_k"); }, "--type: unknown type 'q5_k' (expected q8_0, q4_0, q4_k, f16, bf16 or f32)");
  EXPECT_EQ(llama_ftype(QuantRecipe::F32), 0u);
  EXPECT_EQ(llama_ftype(QuantRecipe::F16), 1u);
  EXPECT_EQ(llama_ftype(QuantRecipe::Q4_0), 2u);
  EXPECT_EQ(llama_ftype(QuantRecipe::Q8_0), 7u);
  EXPECT_EQ(llama_ftype(QuantRecipe::Q4_K_M), 15u);
  EXPECT_EQ(llama_ftype(QuantRecipe::BF16), 32u);
}

constexpr uint32_t F32 = 0, F16 = 1, Q4_0 = 2, Q8_0 = 8, Q4_K = 12, Q6_K = 14, BF16 = 30;

TEST(QuantizeRecipe, TensorTypesFollowLlamaQuantize) {
  const std::vector<uint64_t> m{2048, 512}, v{2048};
  auto type = [](QuantRecipe r, const std::string& name, std::vector<uint64_t> ne, bool tied = true, int64_t layers = 32) {
    return quant_tensor_type(r, name, ne, layers, tied);
  };
  // 1-D tensors and norms stay F32 in every recipe.
  for (QuantRecipe r : {QuantRecipe::F16, QuantRecipe::BF16, QuantRecipe::Q8_0, QuantRecipe::Q4_0, QuantRecipe::Q4_K_M}) {
    EXPECT_EQ(type(r, "blk.0.attn_norm.weight", v), F32);
    EXPECT_EQ(type(r, "output_norm.weight", v), F32);
    EXPECT_EQ(type(r, "rope_freqs.weight", {64}), F32);
  }
  EXPECT_EQ(type(QuantRecipe::F16, "blk.0.attn_q.weight", m), F16);
  EXPECT_EQ(type(QuantRecipe::BF16, "token_embd.weight", m), BF16);
  EXPECT_EQ(type(QuantRecipe::F32, "output.weight", m), F32);
  // Q8_0: everything, the LM head included.
  EXPECT_EQ(type(QuantRecipe::Q8_0, "token_embd.weight", m), Q8_0);
  EXPECT_EQ(type(QuantRecipe::Q8_0, "output.weight", m, false), Q8_0);
  EXPECT_EQ(type(QuantRecipe::Q8_0, "blk.3.ffn_down.weight", m), Q8_0);
  // Q4_0: the LM head (output, or token_embd when tied) is Q6_K; an untied embedding stays Q4_0.
  EXPECT_EQ(type(QuantRecipe::Q4_0, "token_embd.weight", m, true), Q6_K);
  EXPECT_EQ(type(QuantRecipe::Q4_0, "token_embd.weight", m, false), Q4_0);
  EXPECT_EQ(type(QuantRecipe::Q4_0, "output.weight", m, false), Q6_K);
  EXPECT_EQ(type(QuantRecipe::Q4_0, "blk.0.attn_v.weight", m), Q4_0);
  // Q4_K_M: Q6_K for the head, and attn_v / ffn_down on the use_more_bits layers:
  // i < n/8, i >= 7n/8, or (i - n/8) % 3 == 2. For 32 layers: 0-3, 6, 9, ..., 27, 28-31.
  EXPECT_EQ(type(QuantRecipe::Q4_K_M, "token_embd.weight", m, true), Q6_K);
  EXPECT_EQ(type(QuantRecipe::Q4_K_M, "token_embd.weight", m, false), Q4_K);
  std::vector<int> more;
  for (int i = 0; i < 32; ++i) {
    const uint32_t tv = type(QuantRecipe::Q4_K_M, "blk." + std::to_string(i) + ".attn_v.weight", m);
    const uint32_t td = type(QuantRecipe::Q4_K_M, "blk." + std::to_string(i) + ".ffn_down.weight", m);
    EXPECT_EQ(tv, td) << i;
    if (tv == Q6_K) more.push_back(i);
    EXPECT_EQ(type(QuantRecipe::Q4_K_M, "blk." + std::to_string(i) + ".attn_q.weight", m), Q4_K);
    EXPECT_EQ(type(QuantRecipe::Q4_K_M, "blk." + std::to_string(i) + ".ffn_up.weight", m), Q4_K);
  }
  EXPECT_EQ(more, (std::vector<int>{0, 1, 2, 3, 6, 9, 12, 15, 18, 21, 24, 27, 28, 29, 30, 31}));
  // Rows that are not whole blocks: the LM head goes to Q8_0 (then F16); Q6_K → Q8_0;
  // Q4_K → Q8_0 (llama.cpp: Q5_0, which the engine lacks); Q8_0 / Q4_0 → F16 as the converter.
  std::string why;
  EXPECT_EQ(quant_tensor_type(QuantRecipe::Q4_K_M, "blk.5.attn_q.weight", {576, 576}, 30, true, &why), Q8_0);
  EXPECT_NE(why.find("not a multiple of the Q4_K block size 256"), std::string::npos) << why;
  EXPECT_EQ(type(QuantRecipe::Q4_K_M, "blk.0.ffn_down.weight", {1536 + 32, 576}), Q8_0);
  EXPECT_EQ(type(QuantRecipe::Q4_K_M, "token_embd.weight", {576, 49152}), Q8_0);
  EXPECT_EQ(type(QuantRecipe::Q4_0, "token_embd.weight", {48, 49152}), F16);
  EXPECT_EQ(type(QuantRecipe::Q8_0, "blk.0.attn_q.weight", {48, 48}), F16);
  EXPECT_EQ(type(QuantRecipe::Q4_K_M, "blk.0.attn_q.weight", {48, 48}), F16);
  why.clear();
  EXPECT_EQ(quant_tensor_type(QuantRecipe::Q8_0, "blk.0.attn_q.weight", {64, 64}, 8, true, &why), Q8_0);
  EXPECT_TRUE(why.empty());
}

TEST(QuantizeRope, SourceRowIsTheConverterPermutation) {
  // convert_hf_to_gguf.py: w.reshape(n_head, 2, d/2, in).swapaxes(1, 2).reshape(w.shape).
  for (int64_t head_dim : {2, 4, 16, 128}) {
    const int64_t n_head = 3, rows = n_head * head_dim;
    std::vector<int64_t> src(static_cast<size_t>(rows));
    for (int64_t h = 0; h < n_head; ++h)
      for (int64_t i = 0; i < head_dim / 2; ++i)
        for (int64_t j = 0; j < 2; ++j)  // output index [h][i][j] reads input [h][j][i]
          src[size_t(h * head_dim + i * 2 + j)] = h * head_dim + j * (head_dim / 2) + i;
    for (int64_t r = 0; r < rows; ++r) EXPECT_EQ(rope_source_row(r, head_dim), src[size_t(r)]) << head_dim << " " << r;
  }
}

// RoPE scaling goes where llama.cpp reads it: linear / yarn as {arch}.rope.scaling.* keys,
// Llama-3.1 scaling as the rope_freqs.weight divisors (convert_hf_to_gguf.py's formula).
TEST(QuantizeRope, ScalingIsWrittenAsLlamaCppReadsIt) {
  TempDir tmp;
  struct Out {
    LoadedModel g, hf;
  };
  auto run = [&](const json& scaling) {
    TempDir t2;
    const std::string dir = edited_model(t2, "tiny-smollm2", [&](json& c) { c["rope_scaling"] = scaling; });
    quantize(dir, tmp.file("r.gguf"), "f32");
    return Out{load_model(tmp.file("r.gguf"), LoadOptions{false, false}), load_model(dir, LoadOptions{false, false})};
  };
  {
    const Out o = run({{"type", "linear"}, {"factor", 2.0}});
    EXPECT_EQ(o.g.gguf->get_string("llama.rope.scaling.type"), "linear");
    EXPECT_EQ(o.g.gguf->get_float("llama.rope.scaling.factor"), 2.0);
    expect_same_config(o.g.config, o.hf.config);
  }
  {
    const Out o = run({{"rope_type", "yarn"}, {"factor", 4.0}, {"original_max_position_embeddings", 2048}});
    const GgufFile& f = *o.g.gguf;
    EXPECT_EQ(f.get_string("llama.rope.scaling.type"), "yarn");
    EXPECT_EQ(f.get_float("llama.rope.scaling.factor"), 4.0);
    EXPECT_EQ(f.get_int("llama.rope.scaling.original_context_length"), 2048);
    EXPECT_EQ(f.get_float("llama.rope.scaling.yarn_beta_fast"), 32.0);
    EXPECT_EQ(f.get_float("llama.rope.scaling.yarn_beta_slow"), 1.0);
    EXPECT_EQ(o.g.config.rope.type, "yarn");
    EXPECT_EQ(o.g.config.rope.original_context, 2048);
  }
  {
    const Out o = run({{"rope_type", "llama3"}, {"factor", 8.0}, {"low_freq_factor", 1.0}, {"high_freq_factor", 4.0},
                       {"original_max_position_embeddings", 8192}});
    const GgufFile& f = *o.g.gguf;
    EXPECT_EQ(f.find("llama.rope.scaling.type"), nullptr);
    const std::vector<Tensor> ts = f.tensors();
    const Tensor& freqs = tensor(ts, "rope_freqs.weight");
    ASSERT_EQ(freqs.shape, (std::vector<int64_t>{8}));  // head_dim 16 / 2
    ASSERT_EQ(freqs.dtype, DType::F32);
    const float* v = reinterpret_cast<const float*>(freqs.data);
    for (int i = 0; i < 8; ++i) {  // theta 1e5, d 16: wavelength 2*pi*1e5^(i/8) against 8192/4 and 8192/1
      const double wavelen = 2 * M_PI * std::pow(1e5, i / 8.0);
      const double smooth = (8192 / wavelen - 1) / 3;
      const double want = wavelen < 2048 ? 1 : wavelen > 8192 ? 8 : 1 / ((1 - smooth) / 8 + smooth);
      EXPECT_NEAR(v[i], want, 1e-5 * want) << i;
    }
    EXPECT_EQ(v[0], 1.0f);
    EXPECT_EQ(v[7], 8.0f);
  }
  {  // The model computes the same with the HF llama3 rule and with the GGUF divisors.
    TempDir t2;
    const json scaling = {{"rope_type", "llama3"}, {"factor", 8.0}, {"low_freq_factor", 1.0},
                          {"high_freq_factor", 4.0}, {"original_max_position_embeddings", 64}};
    const std::string dir = edited_model(t2, "tiny-smollm2", [&](json& c) { c["rope_scaling"] = scaling; });
    quantize(dir, tmp.file("r3.gguf"), "f32");
    const LoadedModel g = load_model(tmp.file("r3.gguf"), LoadOptions{true, false});
    const LoadedModel hf = load_model(dir, LoadOptions{true, false});
    std::vector<int32_t> ids(120);
    for (size_t i = 0; i < ids.size(); ++i) ids[i] = int32_t((i * 131 + 7) % 49152);
    ThreadPool pool(2);
    const int64_t vocab = hf.config.vocab_size, n = int64_t(ids.size());
    std::vector<float> a(static_cast<size_t>(n * vocab)), b(a.size());
    LlamaState sa = g.model->new_state(n, DType::F32), sb = hf.model->new_state(n, DType::F32);
    g.model->forward(ids.data(), n, sa, pool, a.data(), true);
    hf.model->forward(ids.data(), n, sb, pool, b.data(), true);
    double worst = 0;
    for (size_t i = 0; i < a.size(); ++i) worst = std::max(worst, double(std::fabs(a[i] - b[i])));
    EXPECT_LT(worst, 1e-3) << "llama3 RoPE: GGUF rope_freqs vs HF rope_scaling";
  }
}

// ---------------------------------------------------------------- whole models

const char* const kTexts[] = {
    "Hello world",
    "The quick brown fox jumps over the lazy dog. 12345 and 3.14159!",
    "  leading spaces, tabs\tand\nnewlines\n\n",
    "<|im_start|>user\nHi there<|im_end|>\n<|im_start|>assistant\n",
    "don't can't I'll WE'RE y'all'd've",
    "caf\xC3\xA9 na\xC3\xAFve \xD0\x9F\xD1\x80\xD0\xB8\xD0\xB2\xD0\xB5\xD1\x82 \xE4\xBD\xA0\xE5\xA5\xBD \xF0\x9F\xA6\x99\xF0\x9F\xA6\x99",
    "def f(x):\n    return x ** 2  # comment",
    "<|endoftext|>text<|im_end|>more< |im_start| >",
};

void expect_same_tokenization(const Tokenizer& gguf, const Tokenizer& hf, bool check_decode) {
  EXPECT_EQ(gguf.vocab_size(), hf.vocab_size());
  // GGUF also takes BOS from config.json when tokenizer_config.json names none (as the
  // converter does), so compare only when the HF tokenizer has one.
  if (hf.bos_id() >= 0) {
    EXPECT_EQ(gguf.bos_id(), hf.bos_id());
  }
  EXPECT_EQ(gguf.eos_id(), hf.eos_id());
  for (const char* text : kTexts) {
    for (bool add_special : {false, true}) {
      const std::vector<int32_t> ids = hf.encode(text, add_special);
      EXPECT_EQ(gguf.encode(text, add_special), ids) << "'" << text << "' add_special " << add_special;
      if (check_decode) {
        for (bool skip : {false, true}) EXPECT_EQ(gguf.decode(ids, skip), hf.decode(ids, skip)) << text;
      }
    }
  }
}


std::vector<float> all_logits(const LoadedModel& m, const std::vector<int32_t>& ids) {
  ThreadPool pool(2);
  const int64_t n = int64_t(ids.size());
  LlamaState state = m.model->new_state(n, DType::F32);
  std::vector<float> out(size_t(n * m.config.vocab_size));
  m.model->forward(ids.data(), n, state, pool, out.data(), true);
  return out;
}

struct Diff {
  double max_abs = 0, scale = 0;  // max |a - b|, max |b|
};
Diff diff(const std::vector<float>& a, const std::vector<float>& b) {
  Diff d;
  for (size_t i = 0; i < b.size(); ++i) {
    d.max_abs = std::max(d.max_abs, std::fabs(double(a[i]) - b[i]));
    d.scale = std::max(d.scale, std::fabs(double(b[i])));
  }
  return d;
}

struct Case {
  std::string model, type;
};
std::ostream& operator<<(std::ostream& os, const Case& c) { return os << c.model << "_" << c.type; }

class QuantizeModel : public ::testing::TestWithParam<Case> {
 protected:
  static std::vector<int32_t> prompt(const LoadedModel& hf) {
    return hf.tokenizer->encode("The capital of France is Paris. <|im_start|>user\n12 + 30 = 42?<|im_end|>", false);
  }
};

TEST_P(QuantizeModel, LoadsWithTheHfConfigTokenizerAndRecipe) {
  const Case& c = GetParam();
  TempDir tmp;
  const std::string out = tmp.file("out.gguf");
  const QuantizeResult r = quantize(model_dir(c.model), out, c.type);
  EXPECT_TRUE(fs::exists(out));
  EXPECT_FALSE(fs::exists(out + ".tmp"));
  EXPECT_EQ(fs::file_size(out), r.file_bytes);

  const LoadedModel hf = load_model(model_dir(c.model), LoadOptions{false, true});
  const LoadedModel g = load_model(out, LoadOptions{false, true});
  ASSERT_TRUE(g.gguf.has_value());
  const GgufFile& f = *g.gguf;
  EXPECT_EQ(f.get_string("general.architecture"), c.model == "tiny-smollm3" ? "smollm3" : "llama");
  EXPECT_EQ(f.get_int("general.file_type"), llama_ftype(parse_quant_recipe(c.type)));
  EXPECT_EQ(f.get_int("general.quantization_version"), 2);
  EXPECT_EQ(f.get_int("general.alignment"), 32);
  EXPECT_EQ(f.get_string("tokenizer.ggml.model"), "gpt2");
  EXPECT_EQ(f.get_string("tokenizer.ggml.pre"), "smollm");
  EXPECT_FALSE(f.get_bool_or("tokenizer.ggml.add_bos_token", true));
  if (c.model == "tiny-smollm3") EXPECT_NE(f.get_string("tokenizer.chat_template").find("Reasoning Mode"), std::string::npos);
  else EXPECT_NE(f.get_string("tokenizer.chat_template").find("<|im_start|>"), std::string::npos);
  expect_same_config(g.config, hf.config);
  EXPECT_TRUE(hf.config.tie_word_embeddings);

  // Every tensor has the recipe's type; 2 + 9 per layer, no output.weight (tied).
  EXPECT_EQ(f.tensor_infos().size(), size_t(2 + 9 * hf.config.n_layers));
  const QuantRecipe recipe = parse_quant_recipe(c.type);
  for (const GgufTensorInfo& t : f.tensor_infos()) {
    EXPECT_NE(t.name, "output.weight");
    EXPECT_EQ(t.ggml_type, quant_tensor_type(recipe, t.name, t.ne, hf.config.n_layers, true)) << t.name;
    if (t.ne.size() == 1) {
      EXPECT_EQ(t.ggml_type, F32) << t.name;
    }
  }
  const auto& infos = f.tensor_infos();
  auto type_of = [&](const std::string& name) {
    for (const GgufTensorInfo& t : infos)
      if (t.name == name) return t.ggml_type;
    return 999u;
  };
  if (c.model == "tiny-smollm3" && c.type == "q8_0") {  // hidden 64: every matrix is Q8_0
    EXPECT_EQ(type_of("token_embd.weight"), Q8_0);
    EXPECT_EQ(type_of("blk.7.ffn_down.weight"), Q8_0);
  }
  if (c.model == "tiny-smollm3" && c.type == "q4_0") {
    EXPECT_EQ(type_of("token_embd.weight"), Q8_0);  // Q6_K needs 256-wide rows: llama.cpp's Q8_0
    EXPECT_EQ(type_of("blk.0.attn_q.weight"), Q4_0);
  }
  if (c.model == "tiny-smollm2" && c.type == "q8_0") {  // hidden 48: no whole Q8_0 blocks
    EXPECT_EQ(type_of("blk.0.attn_q.weight"), F16);
    EXPECT_EQ(type_of("blk.0.ffn_down.weight"), Q8_0);  // rows of 128
  }

  ASSERT_NE(g.tokenizer, nullptr);
  expect_same_tokenization(*g.tokenizer, *hf.tokenizer, true);
}

class QuantizeFloatFile : public QuantizeModel {};

TEST_P(QuantizeFloatFile, GivesTheHfLogits) {
  const Case& c = GetParam();
  TempDir tmp;
  const std::string out = tmp.file("out.gguf");
  quantize(model_dir(c.model), out, c.type);
  const LoadedModel hf = load_model(model_dir(c.model));
  const LoadedModel g = load_model(out);
  const std::vector<int32_t> ids = prompt(hf);
  const Diff d = diff(all_logits(g, ids), all_logits(hf, ids));
  std::printf("%s %s: max |logit diff| vs HF %.3g (max |logit| %.3g)\n", c.model.c_str(), c.type.c_str(), d.max_abs, d.scale);
  // SmolLM3's checkpoint is BF16, so F32/BF16/F16 files hold its exact values; SmolLM2's is F32,
  // so only the F32 file is exact. Exact weights leave only summation-order rounding.
  const bool exact = c.type == "f32" || c.model == "tiny-smollm3";
  EXPECT_LE(d.max_abs, exact ? 1e-4 * d.scale : 2e-2 * d.scale);
}

std::string case_name(const ::testing::TestParamInfo<Case>& i) {
  std::string s = i.param.model + "_" + i.param.type;
  for (char& ch : s)
    if (ch == '-') ch = '_';
  return s;
}

INSTANTIATE_TEST_SUITE_P(
    Tiny, QuantizeModel,
    ::testing::Values(Case{"tiny-smollm2", "f32"}, Case{"tiny-smollm2", "bf16"}, Case{"tiny-smollm2", "f16"},
                      Case{"tiny-smollm2", "q8_0"}, Case{"tiny-smollm2", "q4_0"}, Case{"tiny-smollm2", "q4_k"},
                      Case{"tiny-smollm3", "f32"}, Case{"tiny-smollm3", "bf16"}, Case{"tiny-smollm3", "f16"},
                      Case{"tiny-smollm3", "q8_0"}, Case{"tiny-smollm3", "q4_0"}, Case{"tiny-smollm3", "q4_k"}),
    case_name);

INSTANTIATE_TEST_SUITE_P(Tiny, QuantizeFloatFile,
                         ::testing::Values(Case{"tiny-smollm2", "f32"}, Case{"tiny-smollm2", "bf16"},
                                           Case{"tiny-smollm2", "f16"}, Case{"tiny-smollm3", "f32"},
                                           Case{"tiny-smollm3", "bf16"}, Case{"tiny-smollm3", "f16"}),
                         case_name);

// Quantized files, dequantized again by re-quantizing the GGUF to F32 (the GGUF input path),
// run on the F32 kernels: measures the error the quantized weights themselves cause, as
// max |logit diff| / max |logit| (printed).
// Why these bounds: these random-weight models amplify weight noise. SmolLM2's BF16 file (weights
// rounded to 8 significant bits: ~0.11% RMS relative change per weight) already moves its logits
// by 1.7% of the largest logit (FloatFilesGiveTheHfLogits). Q8_0 rounds each weight to 1/254 of
// its block's max |w|: ~0.5% RMS relative, ~4.5x the BF16 noise, so ~7% is justified where every
// matrix is Q8_0 (SmolLM3, observed 4.9%) and ~2% for SmolLM2, where only ffn_down (128-wide
// rows) is Q8_0 and the 48-wide matrices fall back to F16 (observed 0.9%). 4-bit types (~8% RMS
// per weight) saturate such a model; their bound only catches garbage (wrong block layout, wrong
// rows), their weight-level error is checked on the 256-wide model below.
TEST(QuantizeModelQuantized, LogitsCloseToHfAfterDequantization) {
  struct Bound {
    std::string model, type;
    double rel;
  };
  const Bound bounds[] = {{"tiny-smollm2", "q8_0", 0.02}, {"tiny-smollm3", "q8_0", 0.07},
                          {"tiny-smollm2", "q4_0", 0.4},  {"tiny-smollm3", "q4_0", 1.0},
                          {"tiny-smollm2", "q4_k", 0.02}, {"tiny-smollm3", "q4_k", 0.07}};  // q4_k: all Q8_0 here
  for (const Bound& b : bounds) {
    TempDir tmp;
    quantize(model_dir(b.model), tmp.file("q.gguf"), b.type);
    const QuantizeResult back = quantize(tmp.file("q.gguf"), tmp.file("f32.gguf"), "f32");
    EXPECT_EQ(back.type_counts.count("F32"), 1u);
    const LoadedModel hf = load_model(model_dir(b.model));
    const LoadedModel g = load_model(tmp.file("f32.gguf"));
    const std::vector<int32_t> ids = hf.tokenizer->encode("The capital of France is Paris. 12 + 30 = 42?", false);
    const Diff d = diff(all_logits(g, ids), all_logits(hf, ids));
    std::printf("%s %s: max |logit diff| vs HF %.4g, relative to max |logit| %.4g\n", b.model.c_str(), b.type.c_str(),
                d.max_abs, d.max_abs / d.scale);
    EXPECT_LE(d.max_abs / d.scale, b.rel) << b.model << " " << b.type;
    EXPECT_GT(d.max_abs, 0.0) << "quantization changed nothing?";
  }
}

// Once the quantized matmul kernels exist the Q8_0 file runs directly; until then the model
// refuses the weights with a clear message and this test is skipped.
TEST(QuantizeModelQuantized, Q8_0RunsDirectly) {
  TempDir tmp;
  quantize(model_dir("tiny-smollm3"), tmp.file("q.gguf"), "q8_0");
  LoadedModel g;
  try {
    g = load_model(tmp.file("q.gguf"));
  } catch (const Error& e) {
    if (std::string(e.what()).find("cannot compute with") != std::string::npos) GTEST_SKIP() << e.what();
    throw;
  }
  const LoadedModel hf = load_model(model_dir("tiny-smollm3"));
  const std::vector<int32_t> ids = hf.tokenizer->encode("The capital of France is Paris.", false);
  const Diff d = diff(all_logits(g, ids), all_logits(hf, ids));
  std::printf("tiny-smollm3 q8_0 direct: max |logit diff| %.4g, relative %.4g\n", d.max_abs, d.max_abs / d.scale);
  EXPECT_LE(d.max_abs / d.scale, 0.07);  // the same bound as the dequantized file above
}


TEST(QuantizeModelQuantized, Bf16CopyIsExactWithQkRowsPermuted) {
  TempDir tmp;
  quantize(model_dir("tiny-smollm3"), tmp.file("bf16.gguf"), "bf16");
  const LoadedModel hf = load_model(model_dir("tiny-smollm3"), LoadOptions{true, false});
  const GgufFile g = GgufFile::open(tmp.file("bf16.gguf"));
  const std::vector<Tensor> ts = g.tensors();
  const int64_t hd = hf.config.head_dim;
  for (const char* proj : {"q", "k", "v"}) {
    const Tensor& want = hf.weights->get(std::string("model.layers.2.self_attn.") + proj + "_proj.weight");
    const Tensor& got = tensor(ts, std::string("blk.2.attn_") + proj + ".weight");
    ASSERT_EQ(got.shape, want.shape);
    ASSERT_EQ(got.dtype, DType::BF16);
    const size_t row = got.row_bytes();
    for (int64_t r = 0; r < got.shape[0]; ++r) {
      const int64_t from = std::string(proj) == "v" ? r : rope_source_row(r, hd);
      EXPECT_EQ(std::memcmp(got.data + r * row, want.data + from * row, row), 0) << proj << " row " << r;
    }
  }
}

TEST(QuantizeModelQuantized, RequantizingAGgufMatchesQuantizingTheHfModel) {
  // SmolLM3's weights are BF16, so HF → bf16 GGUF → q8_0 sees the same values as HF → q8_0.
  TempDir tmp;
  quantize(model_dir("tiny-smollm3"), tmp.file("bf16.gguf"), "bf16");
  quantize(tmp.file("bf16.gguf"), tmp.file("via.gguf"), "q8_0", 1);
  quantize(model_dir("tiny-smollm3"), tmp.file("direct.gguf"), "q8_0", 2);
  const GgufFile a = GgufFile::open(tmp.file("via.gguf")), b = GgufFile::open(tmp.file("direct.gguf"));
  ASSERT_EQ(a.tensor_infos().size(), b.tensor_infos().size());
  for (size_t i = 0; i < a.tensor_infos().size(); ++i) {
    const GgufTensorInfo &x = a.tensor_infos()[i], &y = b.tensor_infos()[i];
    ASSERT_EQ(x.name, y.name);
    EXPECT_EQ(x.ggml_type, y.ggml_type) << x.name;
    EXPECT_EQ(x.offset, y.offset) << x.name;
  }
  EXPECT_EQ(fs::file_size(tmp.file("via.gguf")), fs::file_size(tmp.file("direct.gguf")));
  const uint8_t* da = a.storage()->data() + a.data_offset();
  const uint8_t* db = b.storage()->data() + b.data_offset();
  EXPECT_EQ(std::memcmp(da, db, a.storage()->size() - a.data_offset()), 0) << "tensor bytes differ";
  ASSERT_EQ(a.metadata().size(), b.metadata().size());
  for (const auto& [key, value] : b.metadata()) EXPECT_NE(a.find(key), nullptr) << key;
  EXPECT_EQ(a.get_string_array("tokenizer.ggml.merges"), b.get_string_array("tokenizer.ggml.merges"));
  EXPECT_EQ(a.get_int("general.file_type"), 7);
}

// A random Llama checkpoint 256 wide (so every K-quant applies: llama-quantize's Q4_K_M recipe
// shows fully), 2 layers, with a 257-token byte-level tokenizer padded to vocab 272.
struct WideModel {
  static constexpr int64_t kVocab = 272, kHidden = 256, kHeads = 4, kKvHeads = 2, kHeadDim = 64, kFf = 512, kLayers = 2;
  std::string dir;
  std::map<std::string, std::vector<float>> weights;  // HF name → F32 values
};

WideModel make_wide_model(const std::string& dir) {
  WideModel m;
  m.dir = dir;
  fs::create_directories(dir);
  std::mt19937 rng(1234);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::uniform_real_distribution<float> uniform(0.7f, 1.3f);
  std::vector<std::pair<std::string, std::vector<int64_t>>> shapes = {{"model.embed_tokens.weight", {m.kVocab, m.kHidden}},
                                                                       {"model.norm.weight", {m.kHidden}}};
  for (int l = 0; l < m.kLayers; ++l) {
    const std::string p = "model.layers." + std::to_string(l) + ".";
    shapes.push_back({p + "input_layernorm.weight", {m.kHidden}});
    shapes.push_back({p + "post_attention_layernorm.weight", {m.kHidden}});
    shapes.push_back({p + "self_attn.q_proj.weight", {m.kHeads * m.kHeadDim, m.kHidden}});
    shapes.push_back({p + "self_attn.k_proj.weight", {m.kKvHeads * m.kHeadDim, m.kHidden}});
    shapes.push_back({p + "self_attn.v_proj.weight", {m.kKvHeads * m.kHeadDim, m.kHidden}});
    shapes.push_back({p + "self_attn.o_proj.weight", {m.kHidden, m.kHeads * m.kHeadDim}});
    shapes.push_back({p + "mlp.gate_proj.weight", {m.kFf, m.kHidden}});
    shapes.push_back({p + "mlp.up_proj.weight", {m.kFf, m.kHidden}});
    shapes.push_back({p + "mlp.down_proj.weight", {m.kHidden, m.kFf}});
  }
  std::vector<TensorToWrite> out;
  for (const auto& [name, shape] : shapes) {
    std::vector<float>& v = m.weights[name];
    v.resize(size_t(shape.size() == 1 ? shape[0] : shape[0] * shape[1]));
    const float scale = shape.size() == 1 ? 1.0f : 1.0f / std::sqrt(float(shape[1]));
    for (float& x : v) x = shape.size() == 1 ? uniform(rng) : normal(rng) * scale;
    out.push_back(TensorToWrite{name, DType::F32, shape, v.data(), v.size() * 4});
  }
  write_safetensors(dir + "/model.safetensors", out);
  const json config = {{"architectures", {"LlamaForCausalLM"}}, {"model_type", "llama"}, {"vocab_size", m.kVocab},
                       {"hidden_size", m.kHidden}, {"num_hidden_layers", m.kLayers}, {"num_attention_heads", m.kHeads},
                       {"num_key_value_heads", m.kKvHeads}, {"intermediate_size", m.kFf}, {"rms_norm_eps", 1e-5},
                       {"rope_theta", 10000.0}, {"max_position_embeddings", 512}, {"tie_word_embeddings", true},
                       {"bos_token_id", 256}, {"eos_token_id", 256}, {"hidden_act", "silu"}};
  std::ofstream(dir + "/config.json") << config.dump(1);
  json vocab = json::object();
  for (int b = 0; b < 256; ++b) vocab[text::byte_to_unicode(uint8_t(b))] = b;
  const json tok = {
      {"version", "1.0"},
      {"added_tokens", {{{"id", 256}, {"content", "<|endoftext|>"}, {"single_word", false}, {"lstrip", false},
                         {"rstrip", false}, {"normalized", false}, {"special", true}}}},
      {"normalizer", nullptr},
      {"pre_tokenizer", {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", true}, {"use_regex", true}}},
      {"post_processor", nullptr},
      {"decoder", {{"type", "ByteLevel"}, {"add_prefix_space", true}, {"trim_offsets", true}, {"use_regex", true}}},
      {"model", {{"type", "BPE"}, {"dropout", nullptr}, {"unk_token", nullptr}, {"fuse_unk", false},
                 {"byte_fallback", false}, {"ignore_merges", false}, {"vocab", vocab}, {"merges", json::array()}}}};
  std::ofstream(dir + "/tokenizer.json") << tok.dump();
  std::ofstream(dir + "/tokenizer_config.json") << json{{"eos_token", "<|endoftext|>"}, {"tokenizer_class", "GPT2Tokenizer"}}.dump();
  return m;
}

// RMS of (dequantized - original) over RMS of the original, for one GGUF matrix.
double relative_rms_error(const Tensor& q, const std::vector<float>& want, int64_t permute_head_dim) {
  const int64_t rows = q.shape[0], n = q.shape[1];
  std::vector<float> row(static_cast<size_t>(n));
  double err = 0, ref = 0;
  for (int64_t r = 0; r < rows; ++r) {
    const uint8_t* src = q.data + size_t(r) * q.row_bytes();
    if (q.dtype == DType::F32) std::memcpy(row.data(), src, size_t(n) * 4);
    else if (q.dtype == DType::F16) {
      for (int64_t i = 0; i < n; ++i) row[size_t(i)] = f16_to_f32(reinterpret_cast<const uint16_t*>(src)[i]);
    } else {
      dequantize_row(q.dtype, src, row.data(), n);
    }
    const int64_t from = permute_head_dim > 0 ? rope_source_row(r, permute_head_dim) : r;
    for (int64_t i = 0; i < n; ++i) {
      const double w = want[size_t(from * n + i)];
      err += (row[size_t(i)] - w) * (row[size_t(i)] - w);
      ref += w * w;
    }
  }
  return std::sqrt(err / ref);
}

// Each matrix of the 256-wide model, per recipe: the type llama-quantize gives it, and its
// weight error against the theory for Gaussian weights: Q8_0 rounds to amax/127 steps (RMS
// ~0.5% of RMS), Q6_K to ~1/32 of a 16-weight scale (~2%), Q4_K / Q4_0 to 1/16 (~7-9%).
// Observed worst: Q8_0 0.54%, Q6_K 1.8%, Q4_K 7.2%, Q4_0 8.6%; the bounds sit just above.
TEST(QuantizeModelQuantized, KQuantRecipeAndWeightErrorOnA256WideModel) {
  TempDir tmp;
  const WideModel m = make_wide_model(tmp.file("wide"));
  const std::map<uint32_t, double> bound = {{Q8_0, 0.0065}, {Q6_K, 0.022}, {Q4_K, 0.085}, {Q4_0, 0.10}};
  std::map<std::string, double> worst;
  for (const std::string type : {"q8_0", "q4_0", "q4_k"}) {
    const std::string out = tmp.file(type + ".gguf");
    const QuantizeResult r = quantize(m.dir, out, type);
    EXPECT_TRUE(r.warnings.empty()) << r.warnings[0];  // no fallbacks: every row is whole blocks
    const GgufFile g = GgufFile::open(out);
    const std::vector<Tensor> ts = g.tensors();
    auto type_of = [&](const std::string& name) { return tensor(ts, name).dtype; };
    if (type == "q4_k") {  // llama.cpp Q4_K_M: Q6_K for the (tied) head and use_more_bits(1, 2)
      EXPECT_EQ(type_of("token_embd.weight"), DType::Q6_K);
      EXPECT_EQ(type_of("blk.0.attn_v.weight"), DType::Q4_K);
      EXPECT_EQ(type_of("blk.1.attn_v.weight"), DType::Q6_K);
      EXPECT_EQ(type_of("blk.0.ffn_down.weight"), DType::Q4_K);
      EXPECT_EQ(type_of("blk.1.ffn_down.weight"), DType::Q6_K);
      EXPECT_EQ(type_of("blk.1.attn_q.weight"), DType::Q4_K);
      EXPECT_EQ(type_of("blk.1.ffn_gate.weight"), DType::Q4_K);
    } else if (type == "q4_0") {
      EXPECT_EQ(type_of("token_embd.weight"), DType::Q6_K);
      EXPECT_EQ(type_of("blk.1.attn_v.weight"), DType::Q4_0);
    } else {
      EXPECT_EQ(type_of("token_embd.weight"), DType::Q8_0);
    }
    EXPECT_EQ(type_of("blk.0.attn_norm.weight"), DType::F32);
    for (const Tensor& t : ts) {
      if (t.shape.size() != 2) continue;
      std::string hf = t.name == "token_embd.weight" ? "model.embed_tokens.weight" : "";
      int64_t permute = 0;
      for (const auto& [gg, name] : std::vector<std::pair<std::string, std::string>>{
               {"attn_q", "self_attn.q_proj"}, {"attn_k", "self_attn.k_proj"}, {"attn_v", "self_attn.v_proj"},
               {"attn_output", "self_attn.o_proj"}, {"ffn_gate", "mlp.gate_proj"}, {"ffn_up", "mlp.up_proj"},
               {"ffn_down", "mlp.down_proj"}}) {
        for (int l = 0; l < m.kLayers; ++l) {
          if (t.name == "blk." + std::to_string(l) + "." + gg + ".weight") {
            hf = "model.layers." + std::to_string(l) + "." + name + ".weight";
            permute = gg == "attn_q" || gg == "attn_k" ? m.kHeadDim : 0;
          }
        }
      }
      ASSERT_FALSE(hf.empty()) << t.name;
      const double e = relative_rms_error(t, m.weights.at(hf), permute);
      const uint32_t id = t.dtype == DType::Q8_0 ? Q8_0 : t.dtype == DType::Q6_K ? Q6_K : t.dtype == DType::Q4_K ? Q4_K : Q4_0;
      EXPECT_LE(e, bound.at(id)) << type << " " << t.name << " " << dtype_name(t.dtype);
      double& w = worst[dtype_name(t.dtype)];
      w = std::max(w, e);
    }
  }
  for (const auto& [name, e] : worst) std::printf("256-wide model: worst RMS relative weight error %s %.4f\n", name.c_str(), e);

  // The padded vocabulary and the tiny tokenizer survive too.
  const LoadedModel g = load_model(tmp.file("q4_k.gguf"), LoadOptions{false, true});
  const LoadedModel hf = load_model(m.dir, LoadOptions{false, true});
  expect_same_config(g.config, hf.config);
  EXPECT_EQ(g.gguf->get_string("tokenizer.ggml.pre"), "gpt-2");
  const std::vector<std::string> tokens = g.gguf->get_string_array("tokenizer.ggml.tokens");
  ASSERT_EQ(tokens.size(), size_t(m.kVocab));
  EXPECT_EQ(tokens[256], "<|endoftext|>");
  EXPECT_EQ(tokens[271], "[PAD271]");
  EXPECT_EQ(g.tokenizer->encode("hi <|endoftext|>", false), (std::vector<int32_t>{104, 105, 32, 256}));
  EXPECT_EQ(g.tokenizer->eos_id(), 256);
  EXPECT_EQ(hf.tokenizer->encode("hi <|endoftext|>", false), (std::vector<int32_t>{104, 105, 32, 256}));
}

// ---------------------------------------------------------------- vocabulary export

// The Llama-3 tokenizer (SmolLM3's vocabulary): Split(Llama-3 regex) + ByteLevel with
// ignore_merges is llama.cpp's "llama-bpe"; the GGUF tokenizer reproduces the oracle ids.
TEST(QuantizeVocab, Llama3TokenizerIsLlamaBpe) {
  const std::string src = test::golden_dir() + "/tokenizer/llama3-npm";
  const GgufVocab v = export_hf_vocab(src, 0);
  EXPECT_EQ(v.pre, "llama-bpe");
  EXPECT_EQ(v.tokens.size(), 128256u);
  EXPECT_EQ(v.tokens[128000], "<|begin_of_text|>");
  EXPECT_EQ(v.token_types[128000], 3);
  EXPECT_EQ(v.token_types[100], 1);
  EXPECT_EQ(v.bos_id, 128000);
  EXPECT_EQ(v.eos_id, 128001);
  EXPECT_FALSE(v.add_bos);  // this tokenizer.json's post-processor is ByteLevel only
  EXPECT_FALSE(v.chat_template.empty());
  EXPECT_TRUE(v.warnings.empty());

  TempDir tmp;
  GgufWriter w;
  w.set_string("general.architecture", "llama");
  write_vocab_metadata(w, v);
  w.write_file(tmp.file("vocab.gguf"), {});
  const GgufFile g = GgufFile::open(tmp.file("vocab.gguf"));
  const auto gguf = Tokenizer::from_gguf(g);
  const auto hf = Tokenizer::from_hf_dir(src);
  expect_same_tokenization(*gguf, *hf, false);  // decode: llama.cpp cleans spaces differently
  const json cases = read_json_file(src + "/cases.json");
  int n = 0;
  for (const json& k : cases) {
    const std::string text = k["text"].get<std::string>();
    EXPECT_EQ(gguf->encode(text, k["add_special_tokens"].get<bool>()), k["ids"].get<std::vector<int32_t>>()) << text;
    ++n;
  }
  EXPECT_GT(n, 50);
}

TEST(QuantizeVocab, SmolLM2CasesMatchTheOracle) {
  const std::string src = test::golden_dir() + "/tokenizer/smollm2";
  const GgufVocab v = export_hf_vocab(src, 49152);
  EXPECT_EQ(v.pre, "smollm");
  EXPECT_EQ(v.bos_id, 1);
  EXPECT_EQ(v.eos_id, 2);
  EXPECT_EQ(v.unk_id, 0);
  EXPECT_EQ(v.pad_id, 2);
  EXPECT_EQ(v.add_space_prefix, false);
  TempDir tmp;
  GgufWriter w;
  write_vocab_metadata(w, v);
  w.write_file(tmp.file("vocab.gguf"), {});
  const auto gguf = Tokenizer::from_gguf(GgufFile::open(tmp.file("vocab.gguf")));
  for (const json& k : read_json_file(src + "/cases.json")) {
    const std::string text = k["text"].get<std::string>();
    const std::vector<int32_t> ids = k["ids"].get<std::vector<int32_t>>();
    EXPECT_EQ(gguf->encode(text, k["add_special_tokens"].get<bool>()), ids) << text;
    EXPECT_EQ(gguf->decode(ids, false), k["decoded"].get<std::string>()) << text;
  }
}

TEST(QuantizeVocab, PadsToTheModelVocabAndRecognisesUnknownPreTokenizers) {
  TempDir tmp;
  json tok = read_json_file(test::golden_dir() + "/tokenizer/smollm2/tokenizer.json");
  std::ofstream(tmp.file("tokenizer.json")) << tok.dump();
  // tokenizer_config.json's added_tokens_decoder adds ids tokenizer.json lacks, never overrides.
  std::ofstream(tmp.file("tokenizer_config.json"))
      << json{{"added_tokens_decoder", {{"49153", {{"content", "<extra>"}, {"special", false}}},
                                        {"0", {{"content", "<other>"}, {"special", true}}}}},
              {"eos_token", "<extra>"}}.dump();
  GgufVocab v = export_hf_vocab(tmp.path(), 49160);
  EXPECT_EQ(v.tokens[49153], "<extra>");
  EXPECT_EQ(v.token_types[49153], 4);
  EXPECT_EQ(v.tokens[0], "<|endoftext|>");
  EXPECT_EQ(v.eos_id, 49153);
  const auto hf = Tokenizer::from_hf_dir(tmp.path());
  EXPECT_EQ(hf->encode("a<extra>", false), (std::vector<int32_t>{81, 49153}));
  GgufWriter w;
  write_vocab_metadata(w, v);
  w.write_file(tmp.file("v.gguf"), {});
  EXPECT_EQ(Tokenizer::from_gguf(GgufFile::open(tmp.file("v.gguf")))->encode("a<extra>", false),
            (std::vector<int32_t>{81, 49153}));
  fs::remove(tmp.file("tokenizer_config.json"));

  tok["pre_tokenizer"] = json{{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", true}};
  tok["model"]["merges"] = json::array({json::array({"\xC4\xA0", "t"}), json::array({"a b", "c"})});
  std::ofstream(tmp.file("tokenizer.json")) << tok.dump();
  v = export_hf_vocab(tmp.path(), 49160);
  EXPECT_EQ(v.pre, "gpt-2");
  ASSERT_EQ(v.tokens.size(), 49160u);
  EXPECT_EQ(v.tokens[49159], "[PAD49159]");
  EXPECT_EQ(v.token_types[49159], 5);
  EXPECT_EQ(v.merges, (std::vector<std::string>{"\xC4\xA0 t", "a\xC4\xA0" "b c"}));
  EXPECT_EQ(v.bos_id, -1);  // no tokenizer_config / config here

  tok["pre_tokenizer"] = json{{"type", "Whitespace"}};
  std::ofstream(tmp.file("tokenizer.json")) << tok.dump();
  expect_error([&] { export_hf_vocab(tmp.path(), 0); }, "SentencePiece-style BPE");
  tok["pre_tokenizer"] = json{{"type", "Sequence"}, {"pretokenizers", json::array({json{{"type", "Split"}, {"pattern", {{"Regex", "\\s+"}}}, {"behavior", "Isolated"}}, json{{"type", "ByteLevel"}, {"use_regex", false}}})}};
  std::ofstream(tmp.file("tokenizer.json")) << tok.dump();
  v = export_hf_vocab(tmp.path(), 0);
  EXPECT_EQ(v.pre, "default");
  ASSERT_FALSE(v.warnings.empty());
  EXPECT_NE(v.warnings[0].find("not recognised"), std::string::npos);
  expect_error([&] { export_hf_vocab(tmp.path(), 100); }, "outside the model's vocab_size 100");
  tok["model"]["type"] = "WordPiece";
  std::ofstream(tmp.file("tokenizer.json")) << tok.dump();
  expect_error([&] { export_hf_vocab(tmp.path(), 0); }, "'WordPiece' tokenizers cannot be exported");
}

// ---------------------------------------------------------------- errors


TEST(QuantizeErrors, BadArgumentsAndInputsNameTheCulprit) {
  TempDir tmp;
  const std::string out = tmp.file("out.gguf");
  const std::string smol = model_dir("tiny-smollm2");
  expect_error([&] { quantize(smol, out, "q3_k"); }, "--type: unknown type 'q3_k'");
  expect_error([&] { quantize(tmp.file("missing"), out, "q8_0"); }, "missing: no such file or directory");
  expect_error([&] { quantize(smol, tmp.file("no/dir/out.gguf"), "q8_0"); }, "output directory '" + tmp.file("no/dir") + "' does not exist");
  expect_error([&] { quantize(smol, tmp.path(), "q8_0"); }, "is a directory");
  std::ofstream(tmp.file("notes.txt")) << "just some text, not a model at all";
  expect_error([&] { quantize(tmp.file("notes.txt"), out, "q8_0"); }, "notes.txt: not a GGUF file");
  fs::create_directories(tmp.file("empty"));
  expect_error([&] { quantize(tmp.file("empty"), out, "q8_0"); }, "not a model directory: config.json is missing");
  {
    TempDir t2;
    const std::string dir = edited_model(t2, "tiny-smollm2", [](json& c) { c["model_type"] = "gpt2"; });
    expect_error([&] { quantize(dir, out, "q8_0"); }, "unknown architecture: model_type 'gpt2'");
  }
  {
    TempDir t2;
    const std::string dir = edited_model(t2, "tiny-smollm3", [](json& c) { c["no_rope_layers"] = {1, 1, 0, 1, 1, 1, 1, 0}; });
    expect_error([&] { quantize(dir, out, "q8_0"); }, "no_rope_layers");
  }
  {
    TempDir t2;
    const std::string dir = edited_model(t2, "tiny-smollm2", [](json& c) { c["tie_word_embeddings"] = false; });
    expect_error([&] { quantize(dir, out, "q8_0"); }, "missing tensor 'lm_head.weight'");
  }
  {
    TempDir t2;
    const std::string dir = edited_model(t2, "tiny-smollm2", [](json& c) { c["num_hidden_layers"] = 5; });
    expect_error([&] { quantize(dir, out, "q8_0"); }, "'model.layers.5.input_layernorm.weight' has no GGUF counterpart");
  }
  EXPECT_FALSE(fs::exists(out));
  EXPECT_FALSE(fs::exists(out + ".tmp"));
}

TEST(QuantizeErrors, AFailureLeavesAnExistingOutputUntouched) {
  TempDir tmp;
  const std::string out = tmp.file("out.gguf");
  std::ofstream(out) << "previous";
  TempDir t2;
  const std::string dir = edited_model(t2, "tiny-smollm2", [](json&) {});
  fs::remove(dir + "/tokenizer.json");
  std::ofstream(dir + "/tokenizer.json") << "{ not json";
  expect_error([&] { quantize(dir, out, "q8_0"); }, "tokenizer.json");
  std::ifstream in(out);
  std::string content;
  std::getline(in, content);
  EXPECT_EQ(content, "previous");
  EXPECT_FALSE(fs::exists(out + ".tmp"));
}

}  // namespace
}  // namespace edgerun
