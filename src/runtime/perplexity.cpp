#include "runtime/perplexity.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"

namespace edgerun {

namespace {

// log-softmax of one row, in double for the small differences KL measures.
void log_softmax(const float* logits, int64_t n, std::vector<double>& out) {
  out.resize(size_t(n));
  const double mx = *std::max_element(logits, logits + n);
  double sum = 0;
  for (int64_t i = 0; i < n; ++i) sum += std::exp(double(logits[i]) - mx);
  const double lse = mx + std::log(sum);
  for (int64_t i = 0; i < n; ++i) out[size_t(i)] = double(logits[i]) - lse;
}

struct Running {  // mean and variance of a stream of values
  int64_t n = 0;
  double sum = 0, sum_sq = 0;
  void add(double x) {
    ++n;
    sum += x;
    sum_sq += x * x;
  }
  double mean() const { return n ? sum / double(n) : 0; }
  double standard_error() const {
    if (n < 2) return 0;
    const double var = (sum_sq - sum * sum / double(n)) / double(n - 1);
    return std::sqrt(std::max(var, 0.0) / double(n));
  }
};

}  // namespace

PerplexityResult compute_perplexity(const LlamaModel& model, const LlamaModel* base, const std::vector<int32_t>& tokens,
                                    int64_t ctx, int32_t bos, ThreadPool& pool,
                                    const std::function<void(int64_t, int64_t)>& progress) {
  if (ctx < 4) fail("--ctx", "must be at least 4 tokens");
  const int64_t vocab = model.config().vocab_size;
  if (base && base->config().vocab_size != vocab)
    fail("--kl-base", "the base model's vocabulary (" + std::to_string(base->config().vocab_size) +
                          ") differs from the model's (" + std::to_string(vocab) + ")");
  const int64_t n_chunks = int64_t(tokens.size()) / ctx;
  if (n_chunks == 0)
    fail("-f", "the text has " + std::to_string(tokens.size()) + " tokens, fewer than one context of " +
                   std::to_string(ctx) + " (use a longer text or a smaller --ctx)");
  PerplexityResult r;
  r.chunks = n_chunks;
  r.has_base = base != nullptr;
  Running nll, base_nll, kl;
  int64_t agree = 0;
  std::vector<float> logits(size_t(ctx * vocab)), base_logits(base ? size_t(ctx * vocab) : 0);
  std::vector<double> lp, lq;
  for (int64_t c = 0; c < n_chunks; ++c) {
    std::vector<int32_t> chunk(tokens.begin() + c * ctx, tokens.begin() + (c + 1) * ctx);
    if (bos >= 0) chunk[0] = bos;
    LlamaState s = model.new_state(ctx, DType::F32);
    model.forward(chunk.data(), ctx, s, pool, logits.data(), true);
    if (base) {
      LlamaState bs = base->new_state(ctx, DType::F32);
      base->forward(chunk.data(), ctx, bs, pool, base_logits.data(), true);
    }
    // Position t predicts chunk[t + 1]; score the second half.
    for (int64_t t = ctx / 2; t + 1 < ctx; ++t) {
      log_softmax(&logits[size_t(t * vocab)], vocab, lq);
      nll.add(-lq[size_t(chunk[size_t(t + 1)])]);
      if (base) {
        log_softmax(&base_logits[size_t(t * vocab)], vocab, lp);
        base_nll.add(-lp[size_t(chunk[size_t(t + 1)])]);
        double d = 0;
        for (int64_t i = 0; i < vocab; ++i) d += std::exp(lp[size_t(i)]) * (lp[size_t(i)] - lq[size_t(i)]);
        kl.add(std::max(d, 0.0));
        const auto am = [&](const float* row) { return std::max_element(row, row + vocab) - row; };
        agree += am(&logits[size_t(t * vocab)]) == am(&base_logits[size_t(t * vocab)]) ? 1 : 0;
      }
    }
    progress(c + 1, n_chunks);
  }
  r.scored_tokens = nll.n;
  r.perplexity = std::exp(nll.mean());
  r.perplexity_sd = r.perplexity * nll.standard_error();
  if (base) {
    r.base_perplexity = std::exp(base_nll.mean());
    r.mean_kl = kl.mean();
    r.kl_sd = kl.standard_error();
    r.top1_agreement = double(agree) / double(std::max<int64_t>(kl.n, 1));
  }
  return r;
}

}  // namespace edgerun
