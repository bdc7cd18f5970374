// Choosing the next token from logits: greedy, or temperature sampling after the repetition
// penalty and top-k / top-p / min-p filters, applied in the order Hugging Face applies them.
// The random stream is our own (splitmix64 → uniform double), so a seed gives the same output
// on every platform and standard library.
#pragma once
#include <cstdint>
#include <vector>

namespace edgerun {

struct SamplerParams {
  float temperature = 0.8f;  // 0 = greedy
  int top_k = 40;            // 0 = off
  float top_p = 0.95f;       // 1 = off
  float min_p = 0.05f;       // 0 = off
  float repeat_penalty = 1.0f;  // 1 = off; HF semantics: logit>0 → /r, else ×r
  int repeat_last_n = 64;    // how many recent tokens the penalties look at (-1 = all)
  // OpenAI's penalties: logit −= count·frequency_penalty + (count > 0)·presence_penalty.
  float frequency_penalty = 0.0f, presence_penalty = 0.0f;
  uint64_t seed = 0;
};

class Sampler {
 public:
  explicit Sampler(const SamplerParams& p);
  // Picks a token from logits[0..n) (modified in place). `history` = prompt + generated ids.
  int32_t sample(float* logits, int64_t n, const std::vector<int32_t>& history);
  // Uniform in [0, 1), exposed for tests.
  double next_uniform();

 private:
  SamplerParams p_;
  uint64_t state_;
};

// Validates user-facing parameters; throws Error naming the option.
void check_sampler_params(const SamplerParams& p);

}  // namespace edgerun
