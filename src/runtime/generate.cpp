#include "runtime/generate.h"

#include <algorithm>
#include <chrono>

#include "core/error.h"

namespace edgerun {

namespace {
double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}
}  // namespace

GenerateResult generate(const LlamaModel& model, LlamaState& state, ThreadPool& pool,
                        const std::vector<int32_t>& prompt, const GenerateOptions& opt,
                        const std::function<bool(int32_t)>& on_token) {
  if (prompt.empty()) fail("prompt", "is empty (no tokens to start from)");
  if (int64_t(prompt.size()) > state.context)
    fail("prompt", "has " + std::to_string(prompt.size()) + " tokens, more than the context of " +
                       std::to_string(state.context) + " tokens (raise --ctx)");
  if (state.n_past > int64_t(prompt.size())) fail("generate", "the cache holds more tokens than the prompt");
  GenerateResult r;
  const int64_t vocab = model.config().vocab_size;
  std::vector<float> logits(static_cast<size_t>(vocab));
  std::vector<int32_t> history = prompt;
  Sampler sampler(opt.sampling);

  auto t0 = std::chrono::steady_clock::now();
  const int64_t todo = int64_t(prompt.size()) - state.n_past;
  const int64_t H = model.config().hidden_size;
  const auto rows_from = [&](int64_t i) { return opt.prompt_embeddings ? opt.prompt_embeddings + i * H : nullptr; };
  if (todo > 0) model.forward(prompt.data() + state.n_past, todo, state, pool, logits.data(), false, rows_from(state.n_past));
  else {  // the whole prompt is cached: recompute the last position to get its logits
    state.n_past -= 1;
    model.forward(&prompt.back(), 1, state, pool, logits.data(), false, rows_from(state.n_past));
  }
  r.prompt_seconds = seconds_since(t0);

  t0 = std::chrono::steady_clock::now();
  r.stop_reason = "length";
  for (int64_t i = 0; i < opt.max_tokens; ++i) {
    if (opt.constraint) {
      if (opt.constraint->finished()) {
        r.stop_reason = "eos";
        break;
      }
      opt.constraint->mask_logits(logits.data(), vocab);
    }
    const int32_t id = sampler.sample(logits.data(), vocab, history);
    if (std::find(opt.eos_ids.begin(), opt.eos_ids.end(), id) != opt.eos_ids.end()) {
      r.stop_reason = "eos";
      break;
    }
    if (opt.constraint) opt.constraint->accept(id);
    r.tokens.push_back(id);
    history.push_back(id);
    if (!on_token(id)) {
      r.stop_reason = "callback";
      break;
    }
    if (i + 1 == opt.max_tokens) break;
    if (state.n_past >= state.context) {
      r.stop_reason = "context";
      break;
    }
    model.forward(&id, 1, state, pool, logits.data(), false);
  }
  r.generate_seconds = seconds_since(t0);
  return r;
}

TextStream::TextStream(const Tokenizer& tokenizer, std::vector<int32_t> context)
    : tok_(tokenizer), ids_(std::move(context)) {
  emitted_ = tok_.decode(ids_, true).size();
}

std::string TextStream::push(int32_t id) {
  ids_.push_back(id);
  const std::string text = tok_.decode(ids_, true);
  // Hold back a trailing U+FFFD: it may be the first bytes of a character still to come.
  size_t stable = text.size();
  while (stable >= 3 && text.compare(stable - 3, 3, "\xEF\xBF\xBD") == 0) stable -= 3;
  if (stable <= emitted_) return "";
  std::string piece = text.substr(emitted_, stable - emitted_);
  emitted_ = stable;
  return piece;
}

std::string TextStream::finish() {
  const std::string text = tok_.decode(ids_, true);
  std::string rest = text.size() > emitted_ ? text.substr(emitted_) : "";
  emitted_ = text.size();
  return rest;
}

}  // namespace edgerun
