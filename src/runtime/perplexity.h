// Quality of a model on a text: perplexity, and against a base model (the unquantized one)
// the mean KL divergence of the next-token distributions and how often their top-1 agree.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "core/thread_pool.h"
#include "models/llama.h"

namespace edgerun {

struct PerplexityResult {
  int64_t chunks = 0, scored_tokens = 0;
  double perplexity = 0, perplexity_sd = 0;  // sd: standard error propagated from the mean NLL
  bool has_base = false;
  double base_perplexity = 0;
  double mean_kl = 0, kl_sd = 0;             // KL(base || model), nats per token
  double top1_agreement = 0;                 // fraction of positions with the same argmax
};

// Splits `tokens` into chunks of `ctx`; each chunk starts from a fresh cache, and, as llama.cpp
// does, only its second half is scored (every scored token has at least ctx/2 of context).
// If bos >= 0 the first token of each chunk is replaced by it. `base` may be null.
PerplexityResult compute_perplexity(const LlamaModel& model, const LlamaModel* base, const std::vector<int32_t>& tokens,
                                    int64_t ctx, int32_t bos, ThreadPool& pool,
                                    const std::function<void(int64_t, int64_t)>& progress);

}  // namespace edgerun
