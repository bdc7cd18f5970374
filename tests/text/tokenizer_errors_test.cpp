// Malformed tokenizer files give an edgerun::Error naming the file (and the field), never a
// crash.
#include <gtest/gtest.h>

#include "core/error.h"
#include "core/storage.h"
#include "formats/gguf.h"
#include "formats/json_file.h"
#include "text/tokenizer.h"
#include "tokenizer_test_util.h"

namespace edgerun {
namespace {

using test::TempDir;

// A small valid byte-level BPE tokenizer.json to break in different ways.
json good_tokenizer() {
  return json::parse(R"({
    "version": "1.0",
    "added_tokens": [{"id": 5, "content": "<|end|>", "special": true, "normalized": false,
                      "lstrip": false, "rstrip": false, "single_word": false}],
    "normalizer": null,
    "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": false, "use_regex": true},
    "post_processor": null,
    "decoder": {"type": "ByteLevel"},
    "model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "ab": 2, "Ġ": 3, "Ġab": 4},
              "merges": ["a b", "Ġ ab"]}
  })");
}

// Writes `j` (or raw text) as tokenizer.json and expects from_hf_dir to throw an Error whose
// message names the file and contains `needle`.
void expect_hf_error(const std::string& content, const std::string& needle) {
  TempDir dir;
  const std::string file = dir.write("tokenizer.json", content);
  try {
    Tokenizer::from_hf_dir(dir.path());
    ADD_FAILURE() << "no error for: " << needle;
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find(file), std::string::npos) << msg;
    EXPECT_NE(msg.find(needle), std::string::npos) << msg;
  }
}

TEST(TokenizerErrors, GoodTokenizerLoads) {
  TempDir dir;
  dir.write("tokenizer.json", good_tokenizer().dump());
  const auto tok = Tokenizer::from_hf_dir(dir.path());
  EXPECT_EQ(tok->encode("ab ab<|end|>", false), (std::vector<int32_t>{2, 4, 5}));
  EXPECT_EQ(tok->decode({2, 4, 5}, true), "ab ab");
  EXPECT_EQ(tok->vocab_size(), 6);
}

TEST(TokenizerErrors, MissingFile) {
  TempDir dir;
  EXPECT_THROW(Tokenizer::from_hf_dir(dir.path()), Error);
  try {
    Tokenizer::from_hf_dir(dir.path());
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("tokenizer.json"), std::string::npos) << e.what();
  }
}

TEST(TokenizerErrors, InvalidJson) { expect_hf_error("{\"model\": {", "invalid JSON"); }
TEST(TokenizerErrors, NotAnObject) { expect_hf_error("[1, 2]", "object"); }

TEST(TokenizerErrors, MissingModel) {
  json j = good_tokenizer();
  j.erase("model");
  expect_hf_error(j.dump(), "'model'");
}

TEST(TokenizerErrors, UnknownModelType) {
  json j = good_tokenizer();
  j["model"]["type"] = "Unigram";
  expect_hf_error(j.dump(), "model.type");
}

TEST(TokenizerErrors, MissingVocab) {
  json j = good_tokenizer();
  j["model"].erase("vocab");
  expect_hf_error(j.dump(), "model.vocab");
}

TEST(TokenizerErrors, BadVocabId) {
  json j = good_tokenizer();
  j["model"]["vocab"]["c"] = "seven";
  expect_hf_error(j.dump(), "model.vocab");
  j["model"]["vocab"]["c"] = -3;
  expect_hf_error(j.dump(), "model.vocab");
  j["model"]["vocab"]["c"] = 1LL << 40;
  expect_hf_error(j.dump(), "model.vocab");
}

TEST(TokenizerErrors, MergeWithUnknownToken) {
  json j = good_tokenizer();
  j["model"]["merges"].push_back("a zz");
  expect_hf_error(j.dump(), "model.merges[2]");
  j = good_tokenizer();
  j["model"]["merges"].push_back(json::array({"b", "a"}));  // "ba" is not a token
  expect_hf_error(j.dump(), "merged token 'ba'");
  j = good_tokenizer();
  j["model"]["merges"].push_back("nospace");
  expect_hf_error(j.dump(), "model.merges[2]");
  j = good_tokenizer();
  j["model"]["merges"].push_back(42);
  expect_hf_error(j.dump(), "model.merges[2]");
  j = good_tokenizer();
  j["model"]["merges"] = "a b";
  expect_hf_error(j.dump(), "model.merges");
}

TEST(TokenizerErrors, BadRegex) {
  json j = good_tokenizer();
  j["pre_tokenizer"] = json::parse(R"({"type": "Split", "pattern": {"Regex": "(unclosed"},
                                       "behavior": "Isolated", "invert": false})");
  expect_hf_error(j.dump(), "pre_tokenizer.pattern");
}

TEST(TokenizerErrors, BadPreTokenizer) {
  json j = good_tokenizer();
  j["pre_tokenizer"] = json::parse(R"({"type": "Sequence", "pretokenizers": [{"type": "Nope"}]})");
  expect_hf_error(j.dump(), "pre_tokenizer.pretokenizers[0].type");
  j["pre_tokenizer"] =
      json::parse(R"({"type": "Split", "pattern": {"Regex": "a"}, "behavior": "Sideways"})");
  expect_hf_error(j.dump(), "pre_tokenizer.behavior");
  j["pre_tokenizer"] = json::parse(R"({"type": "Split", "pattern": 7, "behavior": "Isolated"})");
  expect_hf_error(j.dump(), "pre_tokenizer.pattern");
  j["pre_tokenizer"] = json::parse(R"({"no_type": 1})");
  expect_hf_error(j.dump(), "pre_tokenizer.type");
}

TEST(TokenizerErrors, BadNormalizerDecoderPostProcessor) {
  json j = good_tokenizer();
  j["normalizer"] = json::parse(R"({"type": "Precompiled", "precompiled_charsmap": "AAAA"})");
  expect_hf_error(j.dump(), "normalizer.type");
  j = good_tokenizer();
  j["decoder"] = json::parse(R"({"type": "Strip", "content": "ab", "start": 1, "stop": 0})");
  expect_hf_error(j.dump(), "decoder.content");
  j = good_tokenizer();
  j["post_processor"] = json::parse(R"({"type": "TemplateProcessing",
      "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
      "special_tokens": {}})");
  expect_hf_error(j.dump(), "post_processor.special_tokens");
  j["post_processor"]["special_tokens"] =
      json::parse(R"({"<s>": {"id": "<s>", "ids": [99], "tokens": ["<s>"]}})");
  expect_hf_error(j.dump(), "out of range");
}

TEST(TokenizerErrors, BadAddedTokens) {
  json j = good_tokenizer();
  j["added_tokens"][0].erase("content");
  expect_hf_error(j.dump(), "added_tokens[0].content");
  j = good_tokenizer();
  j["added_tokens"][0]["id"] = "five";
  expect_hf_error(j.dump(), "added_tokens[0].id");
  j = good_tokenizer();
  j["added_tokens"][0]["special"] = "yes";
  expect_hf_error(j.dump(), "added_tokens[0].special");
}

TEST(TokenizerErrors, BadTokenizerConfig) {
  TempDir dir;
  dir.write("tokenizer.json", good_tokenizer().dump());
  const std::string config =
      dir.write("tokenizer_config.json", "{\"clean_up_tokenization_spaces\": ");
  try {
    Tokenizer::from_hf_dir(dir.path());
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(config), std::string::npos) << e.what();
  }
  dir.write("tokenizer_config.json", R"({"clean_up_tokenization_spaces": "maybe"})");
  EXPECT_THROW(Tokenizer::from_hf_dir(dir.path()), Error);
  dir.write("tokenizer_config.json", R"({"bos_token": 12})");
  EXPECT_THROW(Tokenizer::from_hf_dir(dir.path()), Error);
}

// ---- GGUF ---------------------------------------------------------------------------------

// Minimal GGUF v3 writer for metadata-only files.
struct MiniGguf {
  std::string body;
  uint64_t count = 0;
  template <class T>
  void pod(T v) {
    body.append(reinterpret_cast<const char*>(&v), sizeof v);
  }
  void str(const std::string& s) {
    pod(uint64_t{s.size()});
    body += s;
  }
  void key(const std::string& k, uint32_t type) {
    ++count;
    str(k);
    pod(type);
  }
  void kv_string(const std::string& k, const std::string& v) {
    key(k, 8);
    str(v);
  }
  void kv_strings(const std::string& k, const std::vector<std::string>& v) {
    key(k, 9);
    pod(uint32_t{8});
    pod(uint64_t{v.size()});
    for (const auto& s : v) str(s);
  }
  void kv_i32s(const std::string& k, const std::vector<int32_t>& v) {
    key(k, 9);
    pod(uint32_t{5});
    pod(uint64_t{v.size()});
    for (int32_t x : v) pod(x);
  }
  void kv_floats(const std::string& k, const std::vector<float>& v) {
    key(k, 9);
    pod(uint32_t{6});
    pod(uint64_t{v.size()});
    for (float f : v) pod(f);
  }
  std::string bytes() const {
    std::string out = "GGUF";
    out.append("\x03\0\0\0", 4);
    out.append(8, '\0');
    out.append(reinterpret_cast<const char*>(&count), 8);
    return out + body;
  }
};

void expect_gguf_error(const MiniGguf& g, const std::string& needle) {
  const std::string bytes = g.bytes();
  try {
    const auto gguf = GgufFile::parse(Storage::borrow("broken.gguf", bytes.data(), bytes.size()));
    Tokenizer::from_gguf(gguf);
    ADD_FAILURE() << "no error for: " << needle;
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("broken.gguf"), std::string::npos) << msg;
    EXPECT_NE(msg.find(needle), std::string::npos) << msg;
  }
}

TEST(TokenizerErrors, GgufMissingTokenizer) {
  MiniGguf g;
  g.kv_string("general.architecture", "llama");
  expect_gguf_error(g, "tokenizer.ggml.model");
  g.kv_string("tokenizer.ggml.model", "llama");
  expect_gguf_error(g, "tokenizer.ggml.tokens");
}

TEST(TokenizerErrors, GgufUnsupportedModelAndPre) {
  MiniGguf g;
  g.kv_string("tokenizer.ggml.model", "bert");
  g.kv_strings("tokenizer.ggml.tokens", {"a", "b"});
  expect_gguf_error(g, "unsupported tokenizer model 'bert'");
  MiniGguf h;
  h.kv_string("tokenizer.ggml.model", "gpt2");
  h.kv_string("tokenizer.ggml.pre", "no-such-pre");
  h.kv_strings("tokenizer.ggml.tokens", {"a", "b", "ab"});
  h.kv_strings("tokenizer.ggml.merges", {"a b"});
  expect_gguf_error(h, "tokenizer.ggml.pre");
}

TEST(TokenizerErrors, GgufBadMergesAndScores) {
  MiniGguf g;
  g.kv_string("tokenizer.ggml.model", "gpt2");
  g.kv_string("tokenizer.ggml.pre", "gpt-2");
  g.kv_strings("tokenizer.ggml.tokens", {"a", "b", "ab"});
  g.kv_strings("tokenizer.ggml.merges", {"a b", "a c"});
  expect_gguf_error(g, "tokenizer.ggml.merges");
  MiniGguf h;
  h.kv_string("tokenizer.ggml.model", "gpt2");
  h.kv_strings("tokenizer.ggml.tokens", {"a", "b", "ab"});
  expect_gguf_error(h, "tokenizer.ggml.merges");  // gpt2 vocabularies need merges
  MiniGguf s;
  s.kv_string("tokenizer.ggml.model", "llama");
  s.kv_strings("tokenizer.ggml.tokens", {"<unk>", "<s>", "</s>", "a"});
  s.kv_floats("tokenizer.ggml.scores", {0.f, 0.f});
  expect_gguf_error(s, "tokenizer.ggml.scores");
  MiniGguf e;
  e.kv_string("tokenizer.ggml.model", "llama");
  e.kv_strings("tokenizer.ggml.tokens", {});
  expect_gguf_error(e, "tokenizer.ggml.tokens");
}

TEST(TokenizerErrors, GgufMinimalSpmWorks) {
  MiniGguf g;
  g.kv_string("tokenizer.ggml.model", "llama");
  g.kv_strings("tokenizer.ggml.tokens", {"<unk>", "<s>", "</s>", "\xE2\x96\x81", "a",
                                         "\xE2\x96\x81"
                                         "a"});
  g.kv_floats("tokenizer.ggml.scores", {0.f, 0.f, 0.f, -1.f, -2.f, -0.5f});
  g.kv_i32s("tokenizer.ggml.token_type", {2, 3, 3, 1, 1, 1});
  const std::string bytes = g.bytes();
  const auto tok = Tokenizer::from_gguf(
      GgufFile::parse(Storage::borrow("mini.gguf", bytes.data(), bytes.size())));
  EXPECT_EQ(tok->encode("a a", true), (std::vector<int32_t>{1, 5, 5}));
  // 'b' has neither a token nor <0x62>: it is dropped, as llama.cpp drops it.
  EXPECT_EQ(tok->encode("ab", false), (std::vector<int32_t>{5}));
  EXPECT_EQ(tok->decode({1, 5, 5}, true), "a a");
  EXPECT_EQ(tok->decode({1, 5, 5, 99, -1}, false), "<s> a a");
}

}  // namespace
}  // namespace edgerun
