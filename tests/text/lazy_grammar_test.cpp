// LazyGrammar: free text until "<tool_call>", then one call object held to the tools' schema,
// then free text again.
#include "text/lazy_grammar.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "test_util.h"
#include "text/json_grammar.h"
#include "text/json_schema.h"
#include "text/tokenizer.h"

namespace edgerun {
namespace {

using ordered_json = nlohmann::ordered_json;

bool all_finite(const std::vector<float>& v) {
  for (float x : v)
    if (!std::isfinite(x)) return false;
  return true;
}

TEST(LazyGrammar, HoldsOnlyTheCallAfterTheTrigger) {
  const auto tok = Tokenizer::from_hf_dir(test::golden_dir() + "/tokenizer/llama3-npm");
  const auto vocab = std::make_shared<VocabTrie>(*tok);
  const ordered_json tools = ordered_json::parse(R"([{"type": "function", "function": {"name": "get_weather",
      "parameters": {"type": "object", "properties": {"city": {"enum": ["Paris", "Rome"]}},
                     "required": ["city"], "additionalProperties": false}}}])");
  const auto grammar = std::make_shared<TokenGrammar>(json_schema_grammar(JsonSchema::compile(tool_call_schema(tools, "tools"), "tools")), vocab);
  const int32_t eos = vocab->vocab_size();  // an id past the vocabulary, as an EOS can be
  LazyGrammar lazy(grammar, "<tool_call>", {eos});
  const int64_t n = vocab->vocab_size() + 1;
  std::vector<float> logits(size_t(n), 0.0f);

  const std::vector<int32_t> prose = tok->encode("Let me check. <tool_call>", false);
  ASSERT_GT(prose.size(), 2u);
  for (size_t i = 0; i < prose.size(); ++i) {
    EXPECT_FALSE(lazy.active()) << i;
    lazy.mask_logits(logits.data(), n);
    EXPECT_TRUE(all_finite(logits)) << "free text must not be restricted (token " << i << ")";
    lazy.accept(prose[i]);
  }
  ASSERT_TRUE(lazy.active());

  // Sample anything allowed until the call is complete: it must be a valid call of the tool.
  std::mt19937 rng(7);
  std::string call;
  for (int step = 0; step < 2000 && lazy.active(); ++step) {
    std::fill(logits.begin(), logits.end(), 0.0f);
    lazy.mask_logits(logits.data(), n);
    std::vector<int32_t> allowed;
    for (int32_t id = 0; id < n; ++id)
      if (std::isfinite(logits[size_t(id)])) allowed.push_back(id);
    ASSERT_FALSE(allowed.empty());
    ASSERT_LT(allowed.size(), size_t(n) / 2) << "the call must be restricted";
    EXPECT_EQ(std::find(allowed.begin(), allowed.end(), eos), allowed.end()) << "no EOS inside a call";
    const int32_t id = allowed[std::uniform_int_distribution<size_t>(0, allowed.size() - 1)(rng)];
    call += vocab->token_bytes(id);
    lazy.accept(id);
  }
  ASSERT_FALSE(lazy.active()) << "no complete call after 2000 tokens: " << call;
  const ordered_json parsed = ordered_json::parse(call);
  EXPECT_EQ(parsed["name"], "get_weather");
  EXPECT_TRUE(parsed["arguments"]["city"] == "Paris" || parsed["arguments"]["city"] == "Rome") << call;

  // Free again afterwards, and a second call switches it on again.
  std::fill(logits.begin(), logits.end(), 0.0f);
  lazy.mask_logits(logits.data(), n);
  EXPECT_TRUE(all_finite(logits));
  for (int32_t id : tok->encode("\n</tool_call>\n<tool_call>", false)) lazy.accept(id);
  EXPECT_TRUE(lazy.active());
  EXPECT_FALSE(lazy.finished());
}

}  // namespace
}  // namespace edgerun
