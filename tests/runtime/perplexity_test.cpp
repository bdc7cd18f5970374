#include "runtime/perplexity.h"

#include <gtest/gtest.h>

#include <cmath>

#include "core/error.h"
#include "runtime/model_loader.h"
#include "test_util.h"

namespace edgerun {
namespace {

// Against itself a model has zero KL and full agreement; against a different model (the same
// weights with a different RoPE layout would be a bug, so use another real checkpoint form:
// the GGUF of stories260K equals the HF one) the numbers must agree to float precision.
TEST(Perplexity, SelfComparisonAndFormsOfTheSameModel) {
  LoadedModel hf = load_model(test::golden_dir() + "/llm/stories260K/model", LoadOptions{true, false});
  LoadedModel gguf = load_model(test::golden_dir() + "/llm/stories260K/gguf/stories260K.gguf", LoadOptions{true, true});
  const std::vector<int32_t> tokens = gguf.tokenizer->encode(
      "Once upon a time, there was a little girl named Lily. She loved to play outside in the park. One day, she "
      "saw a big, red ball. She wanted to play with it, but it was too high. Lily's mom said she could have it if "
      "she was good. Lily was very happy and played with the ball all day long.", false);
  ThreadPool pool(2);
  const PerplexityResult self = compute_perplexity(*hf.model, hf.model.get(), tokens, 32, 1, pool, [](int64_t, int64_t) {});
  EXPECT_GE(self.chunks, 2);
  EXPECT_EQ(self.scored_tokens, self.chunks * 15);
  EXPECT_GT(self.perplexity, 1.0);
  EXPECT_LT(self.perplexity, 30.0);  // a trained model on its own kind of text; uniform would be 512
  EXPECT_NEAR(self.mean_kl, 0.0, 1e-12);
  EXPECT_DOUBLE_EQ(self.top1_agreement, 1.0);
  const PerplexityResult cross = compute_perplexity(*gguf.model, hf.model.get(), tokens, 32, 1, pool, [](int64_t, int64_t) {});
  EXPECT_NEAR(cross.perplexity, self.perplexity, 1e-4 * self.perplexity);
  EXPECT_LT(cross.mean_kl, 1e-8);
  EXPECT_DOUBLE_EQ(cross.top1_agreement, 1.0);
  EXPECT_THROW(compute_perplexity(*hf.model, nullptr, tokens, 4096, 1, pool, [](int64_t, int64_t) {}), Error);
}

}  // namespace
}  // namespace edgerun
