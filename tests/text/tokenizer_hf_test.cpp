// Hugging Face tokenizer.json tokenizers against golden ids and texts from transformers.js
// (cross-checked with llama.cpp), llama.cpp's llama-bpe vectors and the tiny model prompts.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <random>

#include "formats/gguf.h"
#include "formats/json_file.h"
#include "text/tokenizer.h"
#include "tokenizer_test_util.h"

namespace edgerun {
namespace {

using test::golden_dir;
using test::ids_str;
using test::tokenizer_golden;

std::vector<int32_t> to_ids(const json& j) { return j.get<std::vector<int32_t>>(); }

void check_cases(const std::string& name) {
  const auto tok = Tokenizer::from_hf_dir(tokenizer_golden(name));
  const json cases = read_json_file(tokenizer_golden(name + "/cases.json"));
  ASSERT_TRUE(cases.is_array());
  ASSERT_GT(cases.size(), 60u);
  size_t passed = 0;
  for (const json& c : cases) {
    const std::string text = c.at("text").get<std::string>();
    const bool add_special = c.at("add_special_tokens").get<bool>();
    const std::vector<int32_t> expected = to_ids(c.at("ids"));
    const std::vector<int32_t> got = tok->encode(text, add_special);
    EXPECT_EQ(ids_str(got), ids_str(expected))
        << name << " encode '" << text << "' add_special=" << add_special;
    const std::string decoded = tok->decode(expected, false);
    const std::string decoded_skip = tok->decode(expected, true);
    EXPECT_EQ(decoded, c.at("decoded").get<std::string>()) << name << " decode '" << text << "'";
    EXPECT_EQ(decoded_skip, c.at("decoded_skip_special").get<std::string>())
        << name << " decode(skip) '" << text << "'";
    if (got == expected && decoded == c.at("decoded").get<std::string>() &&
        decoded_skip == c.at("decoded_skip_special").get<std::string>()) {
      ++passed;
    }
  }
  std::printf("[ tokenizer ] %s cases.json: %zu/%zu passed\n", name.c_str(), passed, cases.size());

  const json decode_cases = read_json_file(tokenizer_golden(name + "/decode_cases.json"));
  ASSERT_TRUE(decode_cases.is_array());
  size_t decode_passed = 0;
  for (const json& c : decode_cases) {
    const std::vector<int32_t> ids = to_ids(c.at("ids"));
    const std::string got = tok->decode(ids, false), got_skip = tok->decode(ids, true);
    EXPECT_EQ(got, c.at("expected").get<std::string>()) << name << " decode " << ids_str(ids);
    EXPECT_EQ(got_skip, c.at("expected_skip_special").get<std::string>())
        << name << " decode(skip) " << ids_str(ids);
    if (got == c.at("expected").get<std::string>() &&
        got_skip == c.at("expected_skip_special").get<std::string>()) {
      ++decode_passed;
    }
  }
  std::printf("[ tokenizer ] %s decode_cases.json: %zu/%zu passed\n", name.c_str(), decode_passed,
              decode_cases.size());
}

TEST(TokenizerHf, SmolLM2Golden) { check_cases("smollm2"); }
TEST(TokenizerHf, SmolVLM256MGolden) { check_cases("smolvlm-256m"); }
TEST(TokenizerHf, Llama3Golden) { check_cases("llama3-npm"); }

TEST(TokenizerHf, Llama3MatchesLlamaCppBpeVectors) {
  const auto tok = Tokenizer::from_hf_dir(tokenizer_golden("llama3-npm"));
  const auto cases =
      test::read_vocab_vectors(tokenizer_golden("llamacpp-vectors/ggml-vocab-llama-bpe.gguf"));
  ASSERT_EQ(cases.size(), 46u);
  size_t passed = 0;
  for (const auto& [text, expected] : cases) {
    const auto got = tok->encode(text, false);
    EXPECT_EQ(ids_str(got), ids_str(expected)) << "'" << text << "'";
    passed += got == expected;
  }
  std::printf("[ tokenizer ] llama-bpe vectors on llama3-npm: %zu/%zu passed\n", passed,
              cases.size());
}

TEST(TokenizerHf, TinyModelPrompts) {
  for (const char* name : {"tiny-smollm2", "tiny-smollm3"}) {
    const std::string dir = golden_dir() + "/llm/" + name;
    const auto tok = Tokenizer::from_hf_dir(dir + "/model");
    const json c = read_json_file(dir + "/case.json");
    ASSERT_TRUE(c.contains("prompts"));
    for (const json& p : c.at("prompts")) {
      const std::string text = p.at("text").get<std::string>();
      const bool add_special = p.value("add_special_tokens", false);
      EXPECT_EQ(ids_str(tok->encode(text, add_special)), ids_str(to_ids(p.at("input_ids"))))
          << name << " '" << text << "'";
      EXPECT_EQ(tok->decode(to_ids(p.at("input_ids")), false), text) << name;
    }
  }
}

TEST(TokenizerHf, SpecialTokenQueries) {
  const auto tok = Tokenizer::from_hf_dir(tokenizer_golden("smolvlm-256m"));
  EXPECT_EQ(tok->vocab_size(), 49280);
  EXPECT_EQ(tok->bos_id(), 1);      // <|im_start|>
  EXPECT_EQ(tok->eos_id(), 49279);  // <end_of_utterance>
  EXPECT_TRUE(tok->is_special(0));
  EXPECT_TRUE(tok->is_special(49279));
  EXPECT_FALSE(tok->is_special(100));
  EXPECT_FALSE(tok->is_special(-1));
  EXPECT_FALSE(tok->is_special(1 << 20));
  const auto llama3 = Tokenizer::from_hf_dir(tokenizer_golden("llama3-npm"));
  EXPECT_EQ(llama3->vocab_size(), 128256);
  EXPECT_EQ(llama3->bos_id(), 128000);
  EXPECT_EQ(llama3->eos_id(), 128001);
  // Unknown ids are dropped by decode rather than crashing.
  EXPECT_EQ(llama3->decode({-5, 9906, 1 << 30}, false), "Hello");
}

TEST(TokenizerHf, InvalidUtf8InputIsReplaced) {
  const auto tok = Tokenizer::from_hf_dir(tokenizer_golden("smollm2"));
  // Encoding treats ill-formed bytes as U+FFFD, as a lossy decode of the input would.
  EXPECT_EQ(tok->encode("a\xff"
                        "b",
                        false),
            tok->encode("a\xEF\xBF\xBD"
                        "b",
                        false));
  // A lone continuation/partial sequence in decoded bytes becomes U+FFFD.
  const auto ids = tok->encode("\xC3\xA9", false);  // é: one or two byte tokens
  std::vector<int32_t> partial;
  for (int32_t id : tok->encode("\xE2\x82\xAC", false)) partial.push_back(id);  // €
  if (partial.size() > 1) {
    partial.pop_back();
    EXPECT_EQ(tok->decode(partial, false).find("\xEF\xBF\xBD") != std::string::npos, true);
  }
  EXPECT_EQ(tok->decode(ids, false), "\xC3\xA9");
}

// Non-repetitive text (so the word cache does not help) mixing scripts, digits and spaces.
std::string random_text(size_t size, uint32_t seed) {
  static const char* const kParts[] = {"a",
                                       "b",
                                       "c",
                                       "d",
                                       "e",
                                       "x",
                                       "q",
                                       " ",
                                       "  ",
                                       "\n",
                                       "1",
                                       "2",
                                       ".",
                                       ",",
                                       "\xC3\xA9",
                                       "\xC3\x9F",
                                       "\xE4\xBD\xA0",
                                       "\xF0\x9F\x98\x80",
                                       "'s",
                                       "\xD0\x96",
                                       "\t",
                                       "-",
                                       "(",
                                       "\xD9\xA4",
                                       "The",
                                       "ing"};
  std::mt19937 rng(seed);
  std::string s;
  while (s.size() < size) s += kParts[rng() % (sizeof(kParts) / sizeof(kParts[0]))];
  return s;
}

TEST(TokenizerHf, Encodes100KBQuickly) {
  for (const char* name : {"llama3-npm", "smollm2"}) {
    const auto tok = Tokenizer::from_hf_dir(tokenizer_golden(name));
    const std::string corpus = random_text(100 * 1024, 7);
    const auto t0 = std::chrono::steady_clock::now();
    const auto ids = tok->encode(corpus, false);
    const double secs =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    EXPECT_GT(ids.size(), 20000u);
    EXPECT_LT(secs, 1.0) << name;
    std::printf("[ tokenizer ] %s: 100 KB encoded into %zu ids in %.3f s\n", name, ids.size(),
                secs);
    if (std::string(name) == "smollm2") {
      EXPECT_EQ(tok->decode(ids, false), corpus);  // no clean-up there: exact round trip
    }
  }
}

// A Llama-2 style tokenizer.json (Prepend/Replace normalizers, BPE with byte fallback, the
// Replace/ByteFallback/Fuse/Strip decoder chain) made from the llama-spm GGUF vocabulary the
// way transformers' SentencePieceExtractor derives merges from scores; it must agree with
// llama.cpp's SentencePiece vectors.
json llama2_style_tokenizer(const GgufFile& g) {
  const std::vector<std::string> tokens = g.get_string_array("tokenizer.ggml.tokens");
  const GgufValue* scores = g.find("tokenizer.ggml.scores");
  json vocab = json::object();
  std::unordered_map<std::string, int32_t> ids;
  for (size_t i = 0; i < tokens.size(); ++i) {
    vocab[tokens[i]] = i;
    ids[tokens[i]] = static_cast<int32_t>(i);
  }
  struct Merge {
    std::string l, r;
    double score;
  };
  std::vector<Merge> merges;
  for (size_t i = 0; i < tokens.size(); ++i) {
    const std::string& piece = tokens[i];
    std::vector<Merge> local;
    for (size_t k = 1; k < piece.size(); ++k) {
      if ((static_cast<unsigned char>(piece[k]) & 0xC0) == 0x80) continue;  // split at characters
      const std::string l = piece.substr(0, k), r = piece.substr(k);
      if (ids.count(l) && ids.count(r)) local.push_back({l, r, scores->array[i].f});
    }
    std::sort(local.begin(), local.end(), [&](const Merge& a, const Merge& b) {
      return std::make_pair(ids[a.l], ids[a.r]) < std::make_pair(ids[b.l], ids[b.r]);
    });
    merges.insert(merges.end(), local.begin(), local.end());
  }
  std::stable_sort(merges.begin(), merges.end(),
                   [](const Merge& a, const Merge& b) { return a.score > b.score; });
  json merge_list = json::array();
  for (const Merge& m : merges) merge_list.push_back(json::array({m.l, m.r}));
  json added = json::array();
  for (int id : {0, 1, 2}) {
    added.push_back({{"id", id},
                     {"content", tokens[static_cast<size_t>(id)]},
                     {"special", true},
                     {"normalized", false},
                     {"lstrip", false},
                     {"rstrip", false},
                     {"single_word", false}});
  }
  return json{
      {"version", "1.0"},
      {"added_tokens", added},
      {"normalizer",
       json::parse(R"({"type": "Sequence", "normalizers": [{"type": "Prepend", "prepend": "▁"},
          {"type": "Replace", "pattern": {"String": " "}, "content": "▁"}]})")},
      {"pre_tokenizer", nullptr},
      {"post_processor", json::parse(R"({"type": "TemplateProcessing",
          "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
          "pair": [], "special_tokens": {"<s>": {"id": "<s>", "ids": [1], "tokens": ["<s>"]}}})")},
      {"decoder", json::parse(R"({"type": "Sequence", "decoders": [
          {"type": "Replace", "pattern": {"String": "▁"}, "content": " "}, {"type": "ByteFallback"},
          {"type": "Fuse"}, {"type": "Strip", "content": " ", "start": 1, "stop": 0}]})")},
      {"model",
       {{"type", "BPE"},
        {"unk_token", "<unk>"},
        {"fuse_unk", true},
        {"byte_fallback", true},
        {"vocab", vocab},
        {"merges", merge_list}}}};
}

TEST(TokenizerHf, Llama2StyleMatchesLlamaCppSpmVectors) {
  const std::string base = tokenizer_golden("llamacpp-vectors/ggml-vocab-llama-spm.gguf");
  test::TempDir dir;
  dir.write("tokenizer.json", llama2_style_tokenizer(GgufFile::open(base)).dump());
  const auto tok = Tokenizer::from_hf_dir(dir.path());
  const auto cases = test::read_vocab_vectors(base);
  ASSERT_EQ(cases.size(), 46u);
  size_t passed = 0;
  for (const auto& [text, expected] : cases) {
    const auto got = tok->encode(text, false);
    EXPECT_EQ(ids_str(got), ids_str(expected)) << "'" << text << "'";
    EXPECT_EQ(tok->decode(expected, false), text);
    passed += got == expected && tok->decode(expected, false) == text;
  }
  std::printf("[ tokenizer ] llama-spm vectors on a Llama-2 style tokenizer.json: %zu/%zu passed\n",
              passed, cases.size());
  // The template adds BOS; the decoder strips the dummy prefix space.
  EXPECT_EQ(tok->encode("Hello", true).front(), 1);
  EXPECT_EQ(tok->decode(tok->encode("Hello world", true), true), "Hello world");
  EXPECT_EQ(tok->decode(tok->encode("Hello world", true), false), "<s> Hello world");
  EXPECT_EQ(tok->bos_id(), 1);
}

}  // namespace
}  // namespace edgerun
