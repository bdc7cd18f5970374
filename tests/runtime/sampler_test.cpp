#include "text/sampler.h"

#include <gtest/gtest.h>

#include <map>
#include <set>
#include <cmath>

#include "core/error.h"

namespace edgerun {
namespace {

TEST(Sampler, GreedyTakesFirstMaximum) {
  SamplerParams p;
  p.temperature = 0;
  Sampler s(p);
  std::vector<float> l = {0.1f, 2.0f, 2.0f, -1.0f};
  EXPECT_EQ(s.sample(l.data(), 4, {}), 1);
}

TEST(Sampler, RepetitionPenaltyFollowsHfSemantics) {
  SamplerParams p;
  p.temperature = 0;
  p.repeat_penalty = 2.0f;
  Sampler s(p);
  std::vector<float> l = {3.0f, 2.0f, -1.0f};
  EXPECT_EQ(s.sample(l.data(), 3, {0}), 1);  // 3/2 = 1.5 < 2
  EXPECT_FLOAT_EQ(l[0], 1.5f);
  std::vector<float> m = {-1.0f, -1.5f};
  Sampler s2(p);
  EXPECT_EQ(s2.sample(m.data(), 2, {0}), 1);  // -1 × 2 = -2 < -1.5
}

TEST(Sampler, FrequencyAndPresencePenaltiesFollowOpenAI) {
  SamplerParams p;
  p.temperature = 0;
  p.frequency_penalty = 0.5f;
  p.presence_penalty = 0.25f;
  Sampler s(p);
  std::vector<float> l = {3.0f, 2.0f, 1.0f};
  // id 0 seen three times: 3 − 3·0.5 − 0.25; id 2 once: 1 − 0.5 − 0.25; id 1 not at all.
  EXPECT_EQ(s.sample(l.data(), 3, {0, 2, 0, 0}), 1);
  EXPECT_FLOAT_EQ(l[0], 1.25f);
  EXPECT_FLOAT_EQ(l[1], 2.0f);
  EXPECT_FLOAT_EQ(l[2], 0.25f);
}

TEST(Sampler, SeedIsReproducibleAndDistributionFollowsProbabilities) {
  SamplerParams p;
  p.temperature = 1.0f;
  p.top_k = 0;
  p.top_p = 1.0f;
  p.min_p = 0.0f;
  p.seed = 42;
  const std::vector<float> base = {std::log(0.5f), std::log(0.3f), std::log(0.2f)};
  std::map<int, int> counts;
  Sampler a(p), b(p);
  for (int i = 0; i < 20000; ++i) {
    std::vector<float> l1 = base, l2 = base;
    const int x = a.sample(l1.data(), 3, {});
    ASSERT_EQ(x, b.sample(l2.data(), 3, {}));
    counts[x]++;
  }
  EXPECT_NEAR(counts[0] / 20000.0, 0.5, 0.02);
  EXPECT_NEAR(counts[1] / 20000.0, 0.3, 0.02);
  EXPECT_NEAR(counts[2] / 20000.0, 0.2, 0.02);
}

TEST(Sampler, FiltersRestrictTheCandidates) {
  const std::vector<float> base = {std::log(0.5f), std::log(0.3f), std::log(0.15f), std::log(0.05f)};
  auto support = [&](SamplerParams p) {
    std::set<int> seen;
    Sampler s(p);
    for (int i = 0; i < 3000; ++i) {
      std::vector<float> l = base;
      seen.insert(s.sample(l.data(), 4, {}));
    }
    return seen;
  };
  SamplerParams p;
  p.temperature = 1;
  p.top_k = 0;
  p.top_p = 1;
  p.min_p = 0;
  EXPECT_EQ(support(p).size(), 4u);
  SamplerParams k = p;
  k.top_k = 2;
  EXPECT_EQ(support(k), (std::set<int>{0, 1}));
  SamplerParams tp = p;
  tp.top_p = 0.75f;  // 0.5 alone is short of 0.75; 0.5 + 0.3 reaches it
  EXPECT_EQ(support(tp), (std::set<int>{0, 1}));
  SamplerParams mp = p;
  mp.min_p = 0.25f;  // floor 0.125
  EXPECT_EQ(support(mp), (std::set<int>{0, 1, 2}));
}

TEST(Sampler, RejectsBadParameters) {
  SamplerParams p;
  p.top_p = 0;
  EXPECT_THROW(check_sampler_params(p), Error);
  p = {};
  p.temperature = -1;
  EXPECT_THROW(check_sampler_params(p), Error);
  p = {};
  p.repeat_penalty = 0;
  EXPECT_THROW(check_sampler_params(p), Error);
}

}  // namespace
}  // namespace edgerun
