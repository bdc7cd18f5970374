// GGUF-embedded vocabularies against llama.cpp's own tokenizer vectors, the stories260K prompts,
// and (via GGUFs written here from tokenizer.json, as llama.cpp's converter would) the HF golden
// ids, which llama.cpp reproduces 71/71 per tokenizer.
#include <gtest/gtest.h>

#include <cstring>

#include "core/storage.h"
#include "formats/gguf.h"
#include "formats/json_file.h"
#include "text/tokenizer.h"
#include "text/unicode.h"
#include "tokenizer_test_util.h"

namespace edgerun {
namespace {

using test::golden_dir;
using test::ids_str;
using test::tokenizer_golden;

void check_vectors(const std::string& vocab, bool roundtrip) {
  const std::string base = tokenizer_golden("llamacpp-vectors/" + vocab);
  const auto tok = Tokenizer::from_gguf(GgufFile::open(base));
  const auto cases = test::read_vocab_vectors(base);
  ASSERT_EQ(cases.size(), 46u);
  size_t passed = 0;
  for (const auto& [text, expected] : cases) {
    // test-tokenizer-0 tokenizes with add_special=false.
    const auto got = tok->encode(text, false);
    EXPECT_EQ(ids_str(got), ids_str(expected)) << vocab << " '" << text << "'";
    bool ok = got == expected;
    if (roundtrip) {
      EXPECT_EQ(tok->decode(expected, false), text) << vocab;
      ok = ok && tok->decode(expected, false) == text;
    }
    passed += ok;
  }
  std::printf("[ tokenizer ] %s vectors: %zu/%zu passed\n", vocab.c_str(), passed, cases.size());
}

TEST(TokenizerGguf, Gpt2Vectors) { check_vectors("ggml-vocab-gpt-2.gguf", false); }
TEST(TokenizerGguf, LlamaSpmVectors) { check_vectors("ggml-vocab-llama-spm.gguf", true); }

TEST(TokenizerGguf, Stories260KPrompts) {
  const std::string dir = golden_dir() + "/llm/stories260K";
  const auto tok = Tokenizer::from_gguf(GgufFile::open(dir + "/gguf/stories260K.gguf"));
  EXPECT_EQ(tok->vocab_size(), 512);
  EXPECT_EQ(tok->bos_id(), 1);
  EXPECT_EQ(tok->eos_id(), 2);
  EXPECT_TRUE(tok->is_special(1));
  EXPECT_FALSE(tok->is_special(300));
  const json c = read_json_file(dir + "/case.json");
  ASSERT_EQ(c.at("prompts").size(), 3u);
  for (const json& p : c.at("prompts")) {
    const std::string text = p.at("text").get<std::string>();
    const auto input_ids = p.at("input_ids").get<std::vector<int32_t>>();
    EXPECT_EQ(ids_str(tok->encode(text, true)), ids_str(input_ids)) << text;
    EXPECT_EQ(ids_str(tok->encode(text, false)),
              ids_str(p.at("llama_cpp_tokenizer_ids").get<std::vector<int32_t>>()))
        << text;
    std::vector<int32_t> all = input_ids;
    for (int32_t id : p.at("greedy_ids").get<std::vector<int32_t>>()) all.push_back(id);
    EXPECT_EQ(tok->decode(all, true), p.at("full_text").get<std::string>());
    EXPECT_EQ(tok->decode(input_ids, false), "<s> " + text);
  }
  // Special tokens written in the text are matched; a space is prepended after them.
  EXPECT_EQ(ids_str(tok->encode("<s>Once", false)), ids_str(tok->encode("Once", true)));
}

// ---- GGUF vocabularies written from tokenizer.json --------------------------------------------

class GgufWriter {
 public:
  void kv_string(const std::string& key, const std::string& v) {
    header(key, 8);
    str(v);
  }
  void kv_u32(const std::string& key, uint32_t v) {
    header(key, 4);
    pod(v);
  }
  void kv_bool(const std::string& key, bool v) {
    header(key, 7);
    pod(static_cast<uint8_t>(v));
  }
  void kv_strings(const std::string& key, const std::vector<std::string>& v) {
    header(key, 9);
    pod(uint32_t{8});
    pod(uint64_t{v.size()});
    for (const auto& s : v) str(s);
  }
  void kv_i32s(const std::string& key, const std::vector<int32_t>& v) {
    header(key, 9);
    pod(uint32_t{5});
    pod(uint64_t{v.size()});
    for (int32_t x : v) pod(x);
  }
  std::string finish() const {
    std::string out = "GGUF";
    auto put = [&](auto v) { out.append(reinterpret_cast<const char*>(&v), sizeof v); };
    put(uint32_t{3});
    put(uint64_t{0});
    put(uint64_t{count_});
    return out + body_;
  }

 private:
  template <class T>
  void pod(T v) {
    body_.append(reinterpret_cast<const char*>(&v), sizeof v);
  }
  void str(const std::string& s) {
    pod(uint64_t{s.size()});
    body_ += s;
  }
  void header(const std::string& key, uint32_t type) {
    ++count_;
    str(key);
    pod(type);
  }
  std::string body_;
  uint64_t count_ = 0;
};

// Converts a byte-level BPE tokenizer.json the way convert_hf_to_gguf.py does.
// bos < 0: no BOS metadata and add_bos_token=false; otherwise bos_token_id = bos and no
// add_bos_token key (the pre-tokenizer's default applies).
std::string gguf_from_tokenizer_json(const std::string& dir, const std::string& pre,
                                     int64_t bos = -1) {
  const json j = read_json_file(dir + "/tokenizer.json");
  const json& vocab = j.at("model").at("vocab");
  size_t n = 0;
  for (const auto& [t, id] : vocab.items()) n = std::max(n, id.get<size_t>() + 1);
  for (const json& a : j.at("added_tokens")) n = std::max(n, a.at("id").get<size_t>() + 1);
  std::vector<std::string> tokens(n);
  std::vector<int32_t> types(n, 1);
  for (const auto& [t, id] : vocab.items()) tokens[id.get<size_t>()] = t;
  for (const json& a : j.at("added_tokens")) {
    const size_t id = a.at("id").get<size_t>();
    tokens[id] = a.at("content").get<std::string>();
    types[id] = a.at("special").get<bool>() ? 3 : 4;
  }
  std::vector<std::string> merges;
  for (const json& m : j.at("model").at("merges")) {
    merges.push_back(m.is_string() ? m.get<std::string>()
                                   : m[0].get<std::string>() + " " + m[1].get<std::string>());
  }
  GgufWriter w;
  w.kv_string("general.architecture", "llama");
  w.kv_string("tokenizer.ggml.model", "gpt2");
  w.kv_string("tokenizer.ggml.pre", pre);
  w.kv_strings("tokenizer.ggml.tokens", tokens);
  w.kv_i32s("tokenizer.ggml.token_type", types);
  w.kv_strings("tokenizer.ggml.merges", merges);
  if (bos < 0) {
    w.kv_bool("tokenizer.ggml.add_bos_token", false);
  } else {
    w.kv_u32("tokenizer.ggml.bos_token_id", static_cast<uint32_t>(bos));
  }
  return w.finish();
}

void check_converted(const std::string& name, const std::string& pre, bool check_decode) {
  const std::string bytes = gguf_from_tokenizer_json(tokenizer_golden(name), pre);
  const auto gguf = GgufFile::parse(Storage::borrow(name + ".gguf", bytes.data(), bytes.size()));
  const auto tok = Tokenizer::from_gguf(gguf);
  const json cases = read_json_file(tokenizer_golden(name + "/cases.json"));
  size_t passed = 0;
  for (const json& c : cases) {
    const std::string text = c.at("text").get<std::string>();
    const auto expected = c.at("ids").get<std::vector<int32_t>>();
    const auto got = tok->encode(text, false);  // none of these tokenizers adds BOS/EOS
    EXPECT_EQ(ids_str(got), ids_str(expected))
        << name << " (GGUF, pre=" << pre << ") '" << text << "'";
    bool ok = got == expected;
    if (check_decode) {
      EXPECT_EQ(tok->decode(expected, false), c.at("decoded").get<std::string>())
          << name << " (GGUF)";
      EXPECT_EQ(tok->decode(expected, true), c.at("decoded_skip_special").get<std::string>())
          << name << " (GGUF)";
      ok = ok && tok->decode(expected, false) == c.at("decoded").get<std::string>();
    }
    passed += ok;
  }
  std::printf("[ tokenizer ] %s as GGUF (pre=%s): %zu/%zu passed\n", name.c_str(), pre.c_str(),
              passed, cases.size());
}

TEST(TokenizerGguf, SmolLM2AsGgufMatchesHf) { check_converted("smollm2", "smollm", true); }
TEST(TokenizerGguf, SmolVLMAsGgufMatchesHf) { check_converted("smolvlm-256m", "smollm", true); }
TEST(TokenizerGguf, Llama3AsGgufMatchesHf) { check_converted("llama3-npm", "llama-bpe", false); }

TEST(TokenizerGguf, Llama3BpeVectorsViaGguf) {
  const std::string bytes = gguf_from_tokenizer_json(tokenizer_golden("llama3-npm"), "llama-bpe");
  const auto tok = Tokenizer::from_gguf(
      GgufFile::parse(Storage::borrow("llama3.gguf", bytes.data(), bytes.size())));
  size_t passed = 0;
  const auto cases =
      test::read_vocab_vectors(tokenizer_golden("llamacpp-vectors/ggml-vocab-llama-bpe.gguf"));
  for (const auto& [text, expected] : cases) {
    const auto got = tok->encode(text, false);
    EXPECT_EQ(ids_str(got), ids_str(expected)) << "'" << text << "'";
    passed += got == expected;
  }
  std::printf("[ tokenizer ] llama-bpe vectors via GGUF: %zu/%zu passed\n", passed, cases.size());
}

TEST(TokenizerGguf, Llama3GgufAddsBosAndCleansSpaces) {
  // Without an add_bos_token key, llama-bpe adds BOS (llama.cpp's default for it).
  const std::string bytes =
      gguf_from_tokenizer_json(tokenizer_golden("llama3-npm"), "llama-bpe", 128000);
  const auto tok = Tokenizer::from_gguf(
      GgufFile::parse(Storage::borrow("llama3.gguf", bytes.data(), bytes.size())));
  EXPECT_EQ(tok->bos_id(), 128000);
  EXPECT_EQ(tok->encode("Hello", true).front(), 128000);
  EXPECT_EQ(tok->encode("Hello", false).front(), 9906);
  EXPECT_EQ(tok->decode(tok->encode("Hello , world ! I 'm ok .", false), false),
            "Hello, world! I'm ok.");
  EXPECT_EQ(tok->decode(tok->encode("<|begin_of_text|>Hi", false), true), "Hi");
}

// Every pre-tokenizer regex list compiles and splits text that a byte-only vocabulary then
// reproduces exactly.
TEST(TokenizerGguf, AllPreTokenizersWork) {
  std::vector<std::string> tokens;
  for (int b = 0; b < 256; ++b) {
    const std::string one = std::string(1, static_cast<char>(b));
    tokens.push_back(text::bytes_to_byte_level(one));
  }
  const std::string sample =
      "Hello World's 12345 caf\xC3\xA9 \xE4\xBD\xA0\xE5\xA5\xBD\n\n  \tx++ y;";
  for (const char* pre :
       {"default", "gpt-2", "llama-bpe", "llama3", "smollm", "starcoder", "qwen2", "tekken",
        "gpt-4o", "falcon", "bloom", "dbrx", "command-r", "stablelm2", "chatglm-bpe"}) {
    GgufWriter w;
    w.kv_string("tokenizer.ggml.model", "gpt2");
    w.kv_string("tokenizer.ggml.pre", pre);
    w.kv_strings("tokenizer.ggml.tokens", tokens);
    w.kv_strings("tokenizer.ggml.merges", {});
    const std::string bytes = w.finish();
    const auto tok =
        Tokenizer::from_gguf(GgufFile::parse(Storage::borrow(pre, bytes.data(), bytes.size())));
    const auto ids = tok->encode(sample, false);
    EXPECT_EQ(ids.size(), sample.size()) << pre;  // one byte token per byte
    EXPECT_EQ(tok->decode(ids, false), sample) << pre;
  }
}

}  // namespace
}  // namespace edgerun
