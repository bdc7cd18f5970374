// End to end: the real stories260K model generating under a JSON schema through generate().
#include <gtest/gtest.h>

#include "runtime/generate.h"
#include "runtime/model_loader.h"
#include "test_util.h"
#include "text/grammar_constraint.h"
#include "text/json_grammar.h"
#include "text/json_schema.h"

namespace edgerun {
namespace {

TEST(GrammarGenerate, Stories260KWritesJsonThatValidates) {
  const LoadedModel m = load_model(test::golden_dir() + "/llm/stories260K/gguf/stories260K.gguf");
  const Tokenizer& tok = m.require_tokenizer();
  const auto vocab = std::make_shared<VocabTrie>(tok);
  const JsonSchema schema = JsonSchema::compile(nlohmann::ordered_json::parse(R"({
    "type": "object",
    "properties": {
      "title": {"type": "string"},
      "mood": {"enum": ["happy", "sad", "scared"]},
      "characters": {"type": "array", "maxItems": 3, "items": {"type": "object",
        "properties": {"name": {"type": "string", "minLength": 1}, "age": {"type": "integer", "minimum": 1, "maximum": 99}},
        "required": ["name", "age"], "additionalProperties": false}},
      "ending": {"type": ["string", "null"]}
    },
    "required": ["title", "mood", "characters"], "additionalProperties": false})"), "response_format.json_schema.schema");
  JsonGrammarOptions options;
  options.max_string_chars = 40;  // the model's context is 512 tokens
  const auto grammar = std::make_shared<TokenGrammar>(json_schema_grammar(schema, options), vocab);
  const std::vector<int32_t> prompt = tok.encode("Once upon a time, there was a little cat named Tom.", true);
  ThreadPool pool(1);
  for (uint64_t seed = 0; seed < 4; ++seed) {
    GrammarConstraint constraint(grammar, m.eos_ids);
    LlamaState state = m.model->new_state(512, DType::F32);
    GenerateOptions opt;
    opt.max_tokens = 512 - int64_t(prompt.size());
    opt.sampling.temperature = seed == 0 ? 0.0f : 0.9f;  // greedy, then sampled
    opt.sampling.seed = seed;
    opt.eos_ids = m.eos_ids;
    opt.constraint = &constraint;
    const GenerateResult r = generate(*m.model, state, pool, prompt, opt, [](int32_t) { return true; });
    EXPECT_EQ(r.stop_reason, "eos") << constraint.text();
    json value;
    ASSERT_NO_THROW(value = json::parse(constraint.text())) << constraint.text();
    const std::vector<std::string> errors = validate_json(schema, value);
    EXPECT_TRUE(errors.empty()) << errors[0] << "\n" << constraint.text();
    // Decoding the ids gives the same JSON (SentencePiece drops the leading space).
    EXPECT_EQ(json::parse(tok.decode(r.tokens, true)), value);
    std::printf("seed %llu (%zu tokens): %s\n", static_cast<unsigned long long>(seed), r.tokens.size(),
                constraint.text().c_str());
  }
}

}  // namespace
}  // namespace edgerun
