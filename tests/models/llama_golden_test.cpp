// The Llama-family decoder against the golden logits and greedy continuations in
// ../shared/golden/llm (independent float64 / llama.cpp oracles; see the README there).
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>

#include "core/error.h"
#include "formats/safetensors.h"
#include "runtime/generate.h"
#include "runtime/model_loader.h"
#include "models/golden_expected.h"
#include "test_util.h"

namespace edgerun {
namespace {

struct GoldenCase {
  std::string name;       // folder under golden/llm
  std::string model;      // path inside it
  double atol, rtol;
};

std::ostream& operator<<(std::ostream& os, const GoldenCase& c) { return os << c.name << "/" << c.model; }

class LlamaGolden : public ::testing::TestWithParam<GoldenCase> {
 protected:
  void SetUp() override {
    const GoldenCase& c = GetParam();
    dir_ = test::golden_dir() + "/llm/" + c.name;
    model_ = load_model(dir_ + "/" + c.model, LoadOptions{true, false});
    expected_.file = read_safetensors(dir_ + "/expected.safetensors");
  }

  // Max violation of |got - want| <= atol + rtol |want|, as a ratio (<= 1 passes).
  void expect_close(const float* got, const std::vector<float>& want, const std::string& what) {
    const GoldenCase& c = GetParam();
    double worst = 0, worst_diff = 0;
    size_t at = 0;
    for (size_t i = 0; i < want.size(); ++i) {
      const double diff = std::fabs(double(got[i]) - want[i]);
      const double ratio = diff / (c.atol + c.rtol * std::fabs(want[i]));
      if (!(ratio <= worst)) {
        worst = std::isnan(ratio) ? 1e30 : ratio;
        worst_diff = diff;
        at = i;
      }
    }
    EXPECT_LE(worst, 1.0) << what << ": max |diff| " << worst_diff << " at flat index " << at;
  }

  std::string dir_;
  LoadedModel model_;
  test::Expected expected_;
};

TEST_P(LlamaGolden, LogitsAtEveryPositionOfPrompt0) {
  const std::vector<int32_t> ids = expected_.ints("prompt0.input_ids");
  const std::vector<float> want = expected_.floats("prompt0.logits");
  const int64_t n = int64_t(ids.size()), vocab = model_.config.vocab_size;
  ASSERT_EQ(want.size(), size_t(n * vocab));
  for (int threads : {1, 2}) {
    ThreadPool pool(threads);
    LlamaState state = model_.model->new_state(n, DType::F32);
    std::vector<float> got(static_cast<size_t>(n * vocab));
    model_.model->forward(ids.data(), n, state, pool, got.data(), true);
    expect_close(got.data(), want, "prompt0.logits, threads " + std::to_string(threads));
  }
}

// Two sequences advanced together in batches that mix a prompt chunk of one with single tokens
// of the other (as the server's continuous batching does) give each its own golden logits.
TEST_P(LlamaGolden, BatchedSequencesMatchTheirGoldenLogits) {
  const std::vector<int32_t> ids = expected_.ints("prompt0.input_ids");
  const std::vector<float> want = expected_.floats("prompt0.logits");
  const int64_t n = int64_t(ids.size()), vocab = model_.config.vocab_size;
  ASSERT_GE(n, 4);
  ThreadPool pool(2);
  LlamaState a = model_.model->new_state(n, DType::F32), b = model_.model->new_state(n, DType::F32);
  std::vector<float> got_a(size_t(n * vocab)), got_b(size_t(n * vocab));
  const int64_t first_chunk = n / 2;
  // Round 1: half of A's prompt and B's first token; then A and B one token per round each.
  model_.model->forward_batch({{ids.data(), first_chunk, &a, got_a.data(), true}, {ids.data(), 1, &b, got_b.data(), true}}, pool);
  while (b.n_past < n) {
    std::vector<SequenceChunk> batch;
    if (a.n_past < n) batch.push_back({ids.data() + a.n_past, 1, &a, got_a.data() + a.n_past * vocab, true});
    batch.push_back({ids.data() + b.n_past, 1, &b, got_b.data() + b.n_past * vocab, false});
    model_.model->forward_batch(batch, pool);
  }
  expect_close(got_a.data(), want, "sequence A");
  expect_close(got_b.data(), want, "sequence B");
  // The same sequence twice in one batch is refused.
  LlamaState c = model_.model->new_state(n, DType::F32);
  EXPECT_THROW(model_.model->forward_batch({{ids.data(), 1, &c, nullptr, false}, {ids.data() + 1, 1, &c, nullptr, false}}, pool), Error);
}

TEST_P(LlamaGolden, LastLogitsAndGreedyContinuations) {
  ThreadPool pool(2);
  const int64_t vocab = model_.config.vocab_size;
  for (int k = 0; k < 3; ++k) {
    const std::string p = "prompt" + std::to_string(k);
    const std::vector<int32_t> ids = expected_.ints(p + ".input_ids");
    const std::vector<int32_t> greedy = expected_.ints(p + ".greedy_ids");
    if (k > 0) {
      LlamaState state = model_.model->new_state(int64_t(ids.size()), DType::F32);
      std::vector<float> last(static_cast<size_t>(vocab));
      model_.model->forward(ids.data(), int64_t(ids.size()), state, pool, last.data(), false);
      expect_close(last.data(), expected_.floats(p + ".last_logits"), p + ".last_logits");
    }
    LlamaState state = model_.model->new_state(int64_t(ids.size() + greedy.size()), DType::F32);
    GenerateOptions opt;
    opt.max_tokens = int64_t(greedy.size());
    opt.sampling.temperature = 0;  // greedy; EOS ignored as in the golden data
    const GenerateResult r = generate(*model_.model, state, pool, ids, opt, [](int32_t) { return true; });
    EXPECT_EQ(r.tokens, greedy) << p << " greedy continuation";
  }
}

// Max |logit - golden| / max |golden logit| on prompt 2 with the given KV cache type.
double relative_logit_error(const LoadedModel& m, const test::Expected& e, DType kv, ThreadPool& pool) {
  const std::vector<int32_t> ids = e.ints("prompt2.input_ids");
  LlamaState state = m.model->new_state(int64_t(ids.size()), kv);
  std::vector<float> last(static_cast<size_t>(m.config.vocab_size));
  m.model->forward(ids.data(), int64_t(ids.size()), state, pool, last.data(), false);
  const std::vector<float> want = e.floats("prompt2.last_logits");
  double worst = 0, scale = 0;
  for (size_t i = 0; i < want.size(); ++i) {
    worst = std::max(worst, std::fabs(double(last[i]) - want[i]));
    scale = std::max(scale, std::fabs(double(want[i])));
  }
  return worst / scale;
}

// The F16 KV cache (the default for `run`) rounds keys and values to 11 significant bits: the
// greedy continuations must not change and logits stay within 0.2% of the largest logit.
// BF16 (8 bits) is an opt-in that is measurably coarser: it does flip greedy tokens here.
TEST_P(LlamaGolden, HalfPrecisionKvCache) {
  ThreadPool pool(2);
  const std::vector<int32_t> ids = expected_.ints("prompt2.input_ids");
  const std::vector<int32_t> greedy = expected_.ints("prompt2.greedy_ids");
  LlamaState state = model_.model->new_state(int64_t(ids.size() + greedy.size()), DType::F16);
  GenerateOptions opt;
  opt.max_tokens = int64_t(greedy.size());
  opt.sampling.temperature = 0;
  const GenerateResult r = generate(*model_.model, state, pool, ids, opt, [](int32_t) { return true; });
  EXPECT_EQ(r.tokens, greedy);
  const double f16 = relative_logit_error(model_, expected_, DType::F16, pool);
  const double bf16 = relative_logit_error(model_, expected_, DType::BF16, pool);
  std::printf("KV cache logit error relative to max |logit|: f16 %.2e, bf16 %.2e\n", f16, bf16);
  EXPECT_LE(f16, 2e-3);
  EXPECT_LE(bf16, 2e-2);
  // Q8_0 (8-bit codes, one scale per 32) sits between the two.
  if (model_.config.head_dim % 32 == 0) {
    const double q8 = relative_logit_error(model_, expected_, DType::Q8_0, pool);
    std::printf("KV cache logit error relative to max |logit|: q8_0 %.2e\n", q8);
    EXPECT_LE(q8, 1e-2);
  } else {
    EXPECT_THROW(model_.model->new_state(8, DType::Q8_0), Error);
  }
}

INSTANTIATE_TEST_SUITE_P(
    Golden, LlamaGolden,
    ::testing::Values(GoldenCase{"tiny-smollm3", "model", 2e-3, 1e-3}, GoldenCase{"tiny-smollm2", "model", 2e-3, 1e-3},
                      GoldenCase{"stories260K", "model", 1e-4, 1e-4},
                      GoldenCase{"stories260K", "gguf/stories260K.gguf", 1e-4, 1e-4}),
    [](const auto& info) {
      std::string s = info.param.name + "_" + info.param.model;
      for (char& ch : s)
        if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
      return s;
    });

// Processing a prompt in one call or token by token must give the same cache and logits.
TEST(LlamaModel, IncrementalDecodeMatchesBatchedPrefill) {
  LoadedModel m = load_model(test::golden_dir() + "/llm/tiny-smollm3/model", LoadOptions{true, false});
  const std::vector<int32_t> ids = {57, 1326, 982, 457, 216, 33, 34, 7680, 30};
  const int64_t n = int64_t(ids.size()), vocab = m.config.vocab_size;
  ThreadPool pool(2);
  LlamaState a = m.model->new_state(n, DType::F32), b = m.model->new_state(n, DType::F32);
  std::vector<float> all(static_cast<size_t>(n * vocab)), one(static_cast<size_t>(vocab));
  m.model->forward(ids.data(), n, a, pool, all.data(), true);
  for (int64_t t = 0; t < n; ++t) {
    m.model->forward(&ids[size_t(t)], 1, b, pool, one.data(), false);
    for (int64_t v = 0; v < vocab; v += 97) ASSERT_NEAR(one[v], all[t * vocab + v], 1e-4) << t;
  }
  EXPECT_THROW(m.model->forward(ids.data(), 1, b, pool, one.data(), false), Error);  // context full
}

}  // namespace
}  // namespace edgerun
