// `edgerun perplexity -m MODEL -f TEXT [--ctx N] [--kl-base BASE]`.
#include <cstdio>

#include "cli/common.h"
#include "core/error.h"
#include "core/storage.h"
#include "runtime/perplexity.h"

namespace edgerun::cli {

int run_perplexity(const PerplexityArgs& a) {
  const std::string text = read_text_file(a.text_file);
  LoadedModel m = open_model(a.model, {});
  const Tokenizer& tok = m.require_tokenizer();
  std::optional<LoadedModel> base;
  if (!a.kl_base.empty()) base = load_model(a.kl_base, LoadOptions{true, false});
  // As llama.cpp: the text is tokenized with its BOS, and each chunk's first token is replaced by
  // BOS when the tokenizer adds one (so chunk 1 is BOS + the text's first ctx-1 tokens).
  const std::vector<int32_t> tokens = tok.encode(text, true);
  const std::vector<int32_t> with_special = tok.encode("", true);
  const int32_t bos = !with_special.empty() && with_special[0] == tok.bos_id() ? tok.bos_id() : -1;
  ThreadPool pool(a.threads);
  std::fprintf(stderr, "edgerun perplexity: %zu tokens, context %lld\n", tokens.size(), (long long)a.ctx);
  const PerplexityResult r = compute_perplexity(*m.model, base ? base->model.get() : nullptr, tokens, a.ctx, bos, pool,
                                                [](int64_t done, int64_t total) {
                                                  std::fprintf(stderr, "\redgerun perplexity: chunk %lld/%lld", (long long)done, (long long)total);
                                                  if (done == total) std::fputc('\n', stderr);
                                                });
  std::printf("perplexity: %.4f ± %.4f (%lld chunks of %lld, %lld scored tokens)\n", r.perplexity, r.perplexity_sd,
              (long long)r.chunks, (long long)a.ctx, (long long)r.scored_tokens);
  if (r.has_base) {
    std::printf("base perplexity: %.4f\n", r.base_perplexity);
    std::printf("mean KL divergence: %.6f ± %.6f nats\n", r.mean_kl, r.kl_sd);
    std::printf("top-1 agreement: %.2f%%\n", 100 * r.top1_agreement);
  }
  return 0;
}

}  // namespace edgerun::cli
