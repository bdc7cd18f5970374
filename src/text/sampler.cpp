#include "text/sampler.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <unordered_map>

#include "core/error.h"

namespace edgerun {

Sampler::Sampler(const SamplerParams& p) : p_(p), state_(p.seed) {}

double Sampler::next_uniform() {
  uint64_t z = (state_ += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  z ^= z >> 31;
  return double(z >> 11) * (1.0 / 9007199254740992.0);
}

void check_sampler_params(const SamplerParams& p) {
  if (!(p.temperature >= 0) || !std::isfinite(p.temperature)) fail("--temp", "must be a number >= 0");
  if (p.top_k < 0) fail("--top-k", "must be >= 0");
  if (!(p.top_p > 0 && p.top_p <= 1)) fail("--top-p", "must be in (0, 1]");
  if (!(p.min_p >= 0 && p.min_p <= 1)) fail("--min-p", "must be in [0, 1]");
  if (!(p.repeat_penalty > 0) || !std::isfinite(p.repeat_penalty)) fail("--repeat-penalty", "must be > 0");
  if (!(p.frequency_penalty >= -2 && p.frequency_penalty <= 2)) fail("frequency_penalty", "must be in [-2, 2]");
  if (!(p.presence_penalty >= -2 && p.presence_penalty <= 2)) fail("presence_penalty", "must be in [-2, 2]");
}

int32_t Sampler::sample(float* logits, int64_t n, const std::vector<int32_t>& history) {
  const bool openai_penalties = p_.frequency_penalty != 0.0f || p_.presence_penalty != 0.0f;
  if (p_.repeat_penalty != 1.0f || openai_penalties) {
    const size_t from = p_.repeat_last_n < 0 ? 0 : history.size() - std::min(history.size(), size_t(p_.repeat_last_n));
    std::unordered_map<int32_t, int> counts;
    for (size_t i = from; i < history.size(); ++i) ++counts[history[i]];
    for (const auto& [id, count] : counts) {
      if (id < 0 || id >= n) continue;
      float& l = logits[id];
      if (p_.repeat_penalty != 1.0f) l = l > 0 ? l / p_.repeat_penalty : l * p_.repeat_penalty;
      l -= float(count) * p_.frequency_penalty + p_.presence_penalty;
    }
  }
  if (p_.temperature <= 0)  // greedy: the first maximum, like argmax
    return int32_t(std::max_element(logits, logits + n) - logits);

  std::vector<int32_t> ids(static_cast<size_t>(n));
  std::iota(ids.begin(), ids.end(), 0);
  auto by_logit = [&](int32_t a, int32_t b) { return logits[a] > logits[b] || (logits[a] == logits[b] && a < b); };
  size_t keep = size_t(n);
  if (p_.top_k > 0 && size_t(p_.top_k) < keep) {
    keep = size_t(p_.top_k);
    std::partial_sort(ids.begin(), ids.begin() + long(keep), ids.end(), by_logit);
  } else {
    std::sort(ids.begin(), ids.end(), by_logit);
  }
  ids.resize(keep);
  // Probabilities of the survivors at this temperature.
  std::vector<double> prob(keep);
  const double mx = logits[ids[0]] / p_.temperature;
  double sum = 0;
  for (size_t i = 0; i < keep; ++i) sum += prob[i] = std::exp(logits[ids[i]] / p_.temperature - mx);
  for (double& q : prob) q /= sum;
  if (p_.top_p < 1.0f) {  // smallest prefix whose mass reaches top_p (at least one token)
    double cum = 0;
    size_t i = 0;
    while (i < keep) {
      cum += prob[i++];
      if (cum >= p_.top_p) break;
    }
    keep = std::max<size_t>(1, i);
  }
  if (p_.min_p > 0) {  // drop tokens less likely than min_p × the top probability
    const double floor = p_.min_p * prob[0];
    size_t i = 1;
    while (i < keep && prob[i] >= floor) ++i;
    keep = i;
  }
  double total = 0;
  for (size_t i = 0; i < keep; ++i) total += prob[i];
  double r = next_uniform() * total;
  for (size_t i = 0; i < keep; ++i) {
    r -= prob[i];
    if (r < 0) return ids[i];
  }
  return ids[keep - 1];
}

}  // namespace edgerun
