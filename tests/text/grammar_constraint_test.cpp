// Token-level constraints: token bytes, the vocabulary trie, masks against brute force, and the
// key guarantee — sampling anything under the constraint ends in JSON that parses and validates.
#include "text/grammar_constraint.h"

#include <gtest/gtest.h>

#include <chrono>
#include <random>

#include "core/error.h"
#include "formats/gguf.h"
#include "test_util.h"
#include "text/json_grammar.h"
#include "text/json_schema.h"
#include "text/sampler.h"

namespace edgerun {
namespace {

using ordered_json = nlohmann::ordered_json;

const Tokenizer& llama3() {
  static const auto tok = Tokenizer::from_hf_dir(test::golden_dir() + "/tokenizer/llama3-npm");
  return *tok;
}
const Tokenizer& stories() {  // SentencePiece, 512 tokens with byte fallback
  static const auto tok = Tokenizer::from_gguf(GgufFile::open(test::golden_dir() + "/llm/stories260K/gguf/stories260K.gguf"));
  return *tok;
}
std::shared_ptr<const VocabTrie> trie_of(const Tokenizer& tok) {
  return std::make_shared<VocabTrie>(tok);
}

TEST(TokenBytes, ConcatenatedTokensGiveTheText) {
  const std::string text = "Hello world! {\"a\": [1, 2.5e-3], \"b\": \"h\xC3\xA9llo \xE6\x97\xA5\xE6\x9C\xAC \xF0\x9F\x8E\x89\"}\n\tend";
  const std::string vectors = test::golden_dir() + "/tokenizer/llamacpp-vectors/";
  const std::vector<std::pair<std::string, std::unique_ptr<Tokenizer>>> tokenizers = [&] {
    std::vector<std::pair<std::string, std::unique_ptr<Tokenizer>>> v;
    v.emplace_back("llama3", Tokenizer::from_hf_dir(test::golden_dir() + "/tokenizer/llama3-npm"));
    v.emplace_back("smollm2", Tokenizer::from_hf_dir(test::golden_dir() + "/tokenizer/smollm2"));
    v.emplace_back("stories260K", Tokenizer::from_gguf(GgufFile::open(test::golden_dir() + "/llm/stories260K/gguf/stories260K.gguf")));
    v.emplace_back("llama-spm", Tokenizer::from_gguf(GgufFile::open(vectors + "ggml-vocab-llama-spm.gguf")));
    v.emplace_back("gpt-2", Tokenizer::from_gguf(GgufFile::open(vectors + "ggml-vocab-gpt-2.gguf")));
    return v;
  }();
  for (const auto& [name, tok] : tokenizers) {
    std::string joined;
    for (int32_t id : tok->encode(text, false)) joined += tok->token_bytes(id);
    // SentencePiece prepends a space to the text it encodes.
    EXPECT_TRUE(joined == text || joined == " " + text) << name << ": " << joined;
  }
  // A byte-level token holding part of a character gives just those bytes.
  const std::vector<int32_t> emoji = llama3().encode("\xF0\x9F\x8E\x89", false);
  std::string bytes;
  for (int32_t id : emoji) bytes += llama3().token_bytes(id);
  EXPECT_EQ(bytes, "\xF0\x9F\x8E\x89");
  EXPECT_EQ(stories().token_bytes(3 + 0xE6), "\xE6");  // <0xE6>
  EXPECT_EQ(stories().token_bytes(-1), "");
}

TEST(VocabTrie, PreorderWithSharedPrefixes) {
  const VocabTrie trie({"ab", "a", "", "abc", "b", "ab"});
  // root, a, ab, abc, b
  ASSERT_EQ(trie.node_count(), 5u);
  EXPECT_EQ(trie.byte(1), 'a');
  EXPECT_EQ(trie.subtree_end(1), 4u);
  EXPECT_EQ(trie.depth(3), 3u);
  EXPECT_EQ(trie.parent(3), 2u);
  EXPECT_EQ(std::vector<int32_t>(trie.tokens_begin(2), trie.tokens_end(2)), (std::vector<int32_t>{0, 5}));
  EXPECT_EQ(std::vector<int32_t>(trie.tokens_begin(4), trie.tokens_end(4)), (std::vector<int32_t>{4}));
  EXPECT_EQ(trie.max_token_bytes(), 3u);
}

// --- Driving a sampler under the constraint ----------------------------------------------------

struct Case {
  std::string name;
  std::string schema;  // empty: json_object mode
  JsonGrammarOptions options;
};

struct Compiled {
  JsonSchema schema;
  std::shared_ptr<const TokenGrammar> grammar;
};

Compiled compile(const Case& c, const std::shared_ptr<const VocabTrie>& vocab) {
  const std::string text = c.schema.empty() ? R"({"type": "object"})" : c.schema;
  JsonSchema schema = JsonSchema::compile(ordered_json::parse(text), c.name);
  auto grammar = c.schema.empty() ? json_object_grammar(c.options) : json_schema_grammar(schema, c.options);
  return {std::move(schema), std::make_shared<TokenGrammar>(grammar, vocab)};
}

JsonGrammarOptions limits(uint32_t string_chars, uint32_t depth) {
  JsonGrammarOptions o;
  o.max_string_chars = string_chars;
  o.max_depth = depth;
  return o;
}

std::vector<Case> cases() {
  return {
      {"person", R"({"type": "object", "properties": {
          "name": {"type": "string", "minLength": 1, "maxLength": 40},
          "age": {"type": "integer", "minimum": 0, "maximum": 150},
          "email": {"type": ["string", "null"], "format": "email"},
          "role": {"enum": ["admin", "user", "guest"]},
          "score": {"type": "number", "minimum": -1, "maximum": 1},
          "address": {"type": "object", "properties": {"city": {"type": "string"}, "zip": {"type": "string", "pattern": "^[0-9]{5}$"}},
                      "required": ["city"], "additionalProperties": false},
          "tags": {"type": "array", "items": {"type": "string", "maxLength": 12}, "maxItems": 4}},
        "required": ["name", "age", "role"], "additionalProperties": false})", limits(64, 16)},
      {"points", R"({"$defs": {"point": {"type": "object", "properties": {"x": {"type": "number"}, "y": {"type": "number"},
                     "label": {"anyOf": [{"type": "string"}, {"type": "integer"}, {"type": "null"}]}}, "required": ["x", "y"]}},
        "type": "array", "items": {"$ref": "#/$defs/point"}, "minItems": 1, "maxItems": 5})", limits(64, 16)},
      {"tree", R"({"type": "object", "properties": {"value": {"type": "boolean"},
          "when": {"type": "string", "format": "date"},
          "children": {"type": "array", "items": {"$ref": "#"}, "maxItems": 3}}, "required": ["value"]})", limits(32, 5)},
      {"tool_args", R"({"type": "object", "properties": {"location": {"type": "string"},
          "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}, "days": {"type": "integer", "minimum": 1, "maximum": 14}},
        "required": ["location", "unit", "days"], "additionalProperties": false})", {}},
      {"json_object", "", limits(32, 4)},
      {"tool_call", tool_call_schema(ordered_json::parse(R"([
          {"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object",
            "properties": {"city": {"type": "string"}, "unit": {"enum": ["c", "f"]}}, "required": ["city", "unit"],
            "additionalProperties": false}}},
          {"type": "function", "function": {"name": "add_points", "parameters": {"$defs": {"p": {"type": "object",
            "properties": {"x": {"type": "integer"}}, "required": ["x"], "additionalProperties": false}},
            "type": "object", "properties": {"points": {"type": "array", "items": {"$ref": "#/$defs/p"}, "maxItems": 3}},
            "required": ["points"], "additionalProperties": false}}}])"), "tools").dump(), limits(24, 16)},
      {"map", R"({"type": "object", "additionalProperties": {"type": "array", "items": {"type": "integer"}}})", limits(16, 16)},
  };
}

struct DriveResult {
  std::string text;
  std::vector<int32_t> ids;
  int tokens = 0;
  bool ended = false;
  double mask_seconds = 0;     // computing the allowed set and applying it to the logits
  double allowed_seconds = 0;  // the first part alone
};

using LogitsFn = std::function<void(std::vector<float>&, std::mt19937&)>;

// Samples under the constraint until it is finished, EOS is sampled or the budget runs out.
// `check` runs on every step with the constraint before it is used.
DriveResult drive(const std::shared_ptr<const TokenGrammar>& grammar, int32_t eos, uint64_t seed, int budget,
                  bool greedy, const LogitsFn& logits_fn,
                  const std::function<void(GrammarConstraint&)>& check = nullptr) {
  GrammarConstraint constraint(grammar, {eos});
  SamplerParams p;
  p.temperature = greedy ? 0.0f : 1.0f;
  p.top_k = 64;  // of the allowed tokens, since the rest are -inf: still random, and no full sort
  p.top_p = 1.0f;
  p.min_p = 0.0f;
  p.seed = seed;
  Sampler sampler(p);
  std::mt19937 rng(uint32_t(seed * 7919 + 1));
  std::vector<float> logits(size_t(grammar->vocab().vocab_size()));
  DriveResult r;
  for (; r.tokens < budget; ++r.tokens) {
    if (constraint.finished()) break;
    if (check) check(constraint);
    logits_fn(logits, rng);
    const auto t0 = std::chrono::steady_clock::now();
    constraint.allowed();
    r.allowed_seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    constraint.mask_logits(logits.data(), int64_t(logits.size()));
    r.mask_seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    const int32_t id = sampler.sample(logits.data(), int64_t(logits.size()), {});
    constraint.accept(id);
    r.ids.push_back(id);
    if (id == eos) break;
  }
  r.ended = constraint.finished() || constraint.is_complete();
  r.text = constraint.text();
  return r;
}

void random_logits(std::vector<float>& logits, std::mt19937& rng) {
  std::uniform_real_distribution<float> d(-4.0f, 4.0f);
  for (float& l : logits) l = d(rng);
}

void expect_valid(const JsonSchema& schema, const DriveResult& r, const std::string& what) {
  ASSERT_TRUE(r.ended) << what << ": not complete after " << r.tokens << " tokens: " << r.text;
  json value;
  try {
    value = json::parse(r.text);
  } catch (const std::exception& e) {
    FAIL() << what << ": does not parse (" << e.what() << "): " << r.text;
  }
  const std::vector<std::string> errors = validate_json(schema, value);
  EXPECT_TRUE(errors.empty()) << what << ": " << (errors.empty() ? "" : errors[0]) << "\n" << r.text;
}

// Random logits, many seeds, every schema: the output always parses and validates.
void expect_random_sampling_valid(const Tokenizer& tok, uint64_t seeds, int budget) {
  const auto vocab = trie_of(tok);
  for (const Case& c : cases()) {
    const Compiled compiled = compile(c, vocab);
    for (uint64_t seed = 1; seed <= seeds; ++seed) {
      const DriveResult r = drive(compiled.grammar, tok.eos_id(), seed, budget, false, random_logits);
      expect_valid(compiled.schema, r, c.name + " seed " + std::to_string(seed));
    }
  }
}

TEST(GrammarConstraint, RandomSamplingAlwaysEndsInValidJsonSmallVocab) { expect_random_sampling_valid(stories(), 25, 6000); }
TEST(GrammarConstraint, RandomSamplingAlwaysEndsInValidJsonLlama3) { expect_random_sampling_valid(llama3(), 6, 3000); }

// Every step's mask equals the brute-force answer (each token's bytes through the character
// matcher) and the mask computed without the cache.
TEST(GrammarConstraint, MasksMatchBruteForce) {
  for (const Tokenizer* tok : {&stories(), &llama3()}) {
    const auto vocab = trie_of(*tok);
    const bool small = tok->vocab_size() < 1000;
    for (const Case& c : cases()) {
      const Compiled compiled = compile(c, vocab);
      int steps = 0;
      auto check = [&](GrammarConstraint& constraint) {
        const GrammarMatcher& m = constraint.matcher();
        MaskScratch scratch;
        TokenBits uncached((size_t(vocab->vocab_size()) + 63) / 64, 0);
        compiled.grammar->add_allowed_uncached(m.stacks(), scratch, uncached);
        const TokenBits& cached = constraint.allowed();
        const bool brute = small || steps < 3;
        for (int32_t id = 0; id < vocab->vocab_size(); ++id) {
          const bool want_uncached = token_bit(uncached, id) || (id == tok->eos_id() && m.is_complete());
          ASSERT_EQ(token_bit(cached, id), want_uncached) << c.name << " step " << steps << " token " << id;
          if (brute && id != tok->eos_id()) {
            const std::string& bytes = vocab->token_bytes(id);
            ASSERT_EQ(token_bit(cached, id), !bytes.empty() && m.can_accept(bytes))
                << c.name << " step " << steps << " token " << id << " after " << constraint.text();
          }
        }
        ++steps;
      };
      drive(compiled.grammar, tok->eos_id(), 99, small ? 400 : 60, false, random_logits, check);
    }
  }
}

// Greedy decoding from logits that push towards EOS, whitespace, nesting or endless digits still
// ends in valid JSON within the budget: the grammar's bounds leave no way to stall.
TEST(GrammarConstraint, AdversarialGreedyLogitsStillFinish) {
  for (const Tokenizer* tok : {&stories(), &llama3()}) {
    const auto vocab = trie_of(*tok);
    auto prefer = [&](const std::function<bool(const std::string&)>& liked, float eos_bonus) -> LogitsFn {
      std::vector<float> bonus(size_t(vocab->vocab_size()));
      for (size_t i = 0; i < bonus.size(); ++i) bonus[i] = liked(vocab->token_bytes(int32_t(i))) ? 50.0f : 0.0f;
      bonus[size_t(tok->eos_id())] += eos_bonus;
      return [bonus](std::vector<float>& logits, std::mt19937& rng) {
        std::uniform_real_distribution<float> noise(0.0f, 1.0f);
        for (size_t i = 0; i < logits.size(); ++i) logits[i] = noise(rng) + bonus[i];
      };
    };
    auto all_of = [](const std::string& chars) {
      return [chars](const std::string& b) { return !b.empty() && b.find_first_not_of(chars) == std::string::npos; };
    };
    const std::vector<std::pair<std::string, LogitsFn>> adversaries = {
        {"eos", prefer([](const std::string&) { return false; }, 100.0f)},
        {"whitespace", prefer(all_of(" \n\t\r"), 0.0f)},
        {"brackets", prefer(all_of("[{ "), 0.0f)},
        {"digits", prefer(all_of("0123456789"), 0.0f)},
        {"quotes and escapes", prefer(all_of("\"\\u"), 0.0f)},
    };
    for (const Case& c : cases()) {
      const Compiled compiled = compile(c, vocab);
      for (const auto& [name, logits_fn] : adversaries) {
        // tool_args keeps the default 4096-character string bound: one character per token here.
        const DriveResult r = drive(compiled.grammar, tok->eos_id(), 5, 6000, true, logits_fn);
        expect_valid(compiled.schema, r, c.name + " / " + name);
      }
    }
  }
}

TEST(GrammarConstraint, EndTokenOnlyWhenCompleteAndBadTokensAreErrors) {
  const auto vocab = trie_of(stories());
  const Compiled compiled = compile({"bool", R"({"type": "boolean"})", {}}, vocab);
  GrammarConstraint c(compiled.grammar, {stories().eos_id()});
  EXPECT_FALSE(c.is_allowed(stories().eos_id()));
  const std::vector<int32_t> ids = stories().encode("true", false);
  for (int32_t id : ids) c.accept(id);
  EXPECT_EQ(c.text(), " true");  // SentencePiece's leading space: one whitespace run is allowed
  EXPECT_TRUE(c.finished());
  EXPECT_TRUE(c.is_allowed(stories().eos_id()));
  GrammarConstraint fresh(compiled.grammar, {stories().eos_id()});
  EXPECT_THROW(fresh.accept(stories().eos_id()), Error);
  EXPECT_THROW(fresh.accept(stories().encode("x", false).back()), Error);
  EXPECT_THROW(fresh.accept(1 << 20), Error);
}

// Time to compute one step's mask over the 128k llama3 vocabulary. Prints the numbers; the bound
// is loose so a loaded machine does not fail it.
TEST(GrammarConstraint, MaskTimePerTokenLlama3) {
  const auto vocab = trie_of(llama3());
  const Case person = cases()[0];
  const Compiled compiled = compile(person, vocab);
  auto time_drive = [&](uint64_t seed) { return drive(compiled.grammar, llama3().eos_id(), seed, 3000, false, random_logits); };
  // Drives 1-10 find new grammar positions (first-time walks fill the cache); 11-20 are warm.
  double cold_seconds = 0, seconds = 0, allowed_seconds = 0;
  int cold_tokens = 0, tokens = 0;
  DriveResult first;
  size_t entries_after_cold = 0;
  for (uint64_t seed = 1; seed <= 20; ++seed) {
    const DriveResult r = time_drive(seed);
    (seed <= 10 ? cold_seconds : seconds) += r.mask_seconds;
    if (seed > 10) allowed_seconds += r.allowed_seconds;
    (seed <= 10 ? cold_tokens : tokens) += r.tokens;
    if (seed == 1) first = r;
    if (seed == 10) entries_after_cold = compiled.grammar->cache_entries();
  }
  // The same steps without the cache: the whole trie walked each time.
  GrammarConstraint constraint(compiled.grammar, {llama3().eos_id()});
  MaskScratch scratch;
  double uncached_seconds = 0;
  int uncached_steps = 0;
  for (int32_t id : first.ids) {
    if (uncached_steps == 40 || id == llama3().eos_id()) break;
    TokenBits bits((size_t(vocab->vocab_size()) + 63) / 64, 0);
    const auto u0 = std::chrono::steady_clock::now();
    compiled.grammar->add_allowed_uncached(constraint.matcher().stacks(), scratch, bits);
    uncached_seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - u0).count();
    ++uncached_steps;
    constraint.accept(id);
  }
  const double per_token_ms = 1000 * seconds / std::max(tokens, 1);
  std::printf("llama3 mask per token, person schema: %.3f ms warm (%d tokens; %.3f ms of it the allowed set), %.3f ms "
              "while the cache fills (%d tokens, first drive %.1f ms/token), %.2f ms without the cache; cache entries %zu after 10 drives, %zu after 20\n",
              per_token_ms, tokens, 1000 * allowed_seconds / std::max(tokens, 1), 1000 * cold_seconds / std::max(cold_tokens, 1), cold_tokens,
              1000 * first.mask_seconds / std::max(first.tokens, 1), 1000 * uncached_seconds / std::max(uncached_steps, 1),
              entries_after_cold, compiled.grammar->cache_entries());
  EXPECT_LT(per_token_ms, 25.0);
}

}  // namespace
}  // namespace edgerun
