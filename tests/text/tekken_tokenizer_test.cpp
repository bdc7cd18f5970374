// Mistral's tekken.json: the golden Ministral 3 prompts, agreement with the tokenizer.json form
// of the same tokenizer and with its GGUF export on llama.cpp's tokenizer test strings, the
// tiktoken merge rule on a hand-made vocabulary, and one clear error line for bad files.
#include <gtest/gtest.h>

#include <fstream>

#include "core/error.h"
#include "formats/gguf.h"
#include "formats/gguf_writer.h"
#include "formats/json_file.h"
#include "text/gguf_vocab_export.h"
#include "text/tekken_tokenizer.h"
#include "text/tokenizer.h"
#include "tokenizer_test_util.h"

namespace edgerun {
namespace {

using test::TempDir;

std::string tiny_dir() { return test::golden_dir() + "/llm/tiny-ministral3/model"; }

TEST(Tekken, GoldenPromptIdsFromBothTokenizerFiles) {
  const json c = read_json_file(test::golden_dir() + "/llm/tiny-ministral3/case.json");
  const auto tekken = Tokenizer::from_tekken(tiny_dir() + "/tekken.json");
  const auto hf = Tokenizer::from_hf_dir(tiny_dir());
  for (const json& p : c["prompts"]) {
    const std::string text = p["text"].get<std::string>();
    const std::vector<int32_t> want = p["input_ids"].get<std::vector<int32_t>>();
    EXPECT_EQ(tekken->encode(text, true), want) << text;
    EXPECT_EQ(hf->encode(text, true), want) << text;
    EXPECT_EQ(tekken->decode(want, true), text);
  }
  EXPECT_EQ(tekken->vocab_size(), 8192);
  EXPECT_EQ(tekken->bos_id(), 1);
  EXPECT_EQ(tekken->eos_id(), 2);
  EXPECT_TRUE(tekken->is_special(999));
  EXPECT_FALSE(tekken->is_special(1000));
}

// Three readings of one tokenizer: tekken.json, tokenizer.json (transformers' conversion) and
// the GGUF vocabulary exported from tekken.json (as llama.cpp's converter writes it).
TEST(Tekken, AgreesWithTokenizerJsonAndGgufOnHardText) {
  const auto tekken = Tokenizer::from_tekken(tiny_dir() + "/tekken.json");
  const auto hf = Tokenizer::from_hf_dir(tiny_dir());
  TempDir tmp;
  std::ofstream(tmp.file("tekken.json")) << test::slurp(tiny_dir() + "/tekken.json");
  GgufWriter w;
  w.set_string("general.architecture", "mistral3");
  write_vocab_metadata(w, export_tekken_vocab(tmp.path(), 8192));
  w.open(tmp.file("vocab.gguf"));
  w.finish();
  const auto gguf = Tokenizer::from_gguf(GgufFile::open(tmp.file("vocab.gguf")));

  std::vector<std::string> texts = {
      "CamelCaseWords and digits 2512 split apart.", "  leading spaces\n\n\ttabs\r\nand CRLF",
      "DON'T shout, don't whisper", "emoji 🙂👍🏽 and 日本語のテキスト", "[INST]control tokens[/INST]</s><s>[IMG]",
      "<SPECIAL_37> is a filler", "invalid \xff\xfe bytes", "x/y/z //comment\n", ""};
  for (const auto& [text, ids] : test::read_vocab_vectors(test::tokenizer_golden("llamacpp-vectors/ggml-vocab-llama-bpe.gguf")))
    texts.push_back(text);
  for (const std::string& t : texts) {
    const std::vector<int32_t> ids = tekken->encode(t, true);
    EXPECT_EQ(hf->encode(t, true), ids) << t;
    EXPECT_EQ(gguf->encode(t, true), ids) << t;
    EXPECT_EQ(tekken->encode(t, false), std::vector<int32_t>(ids.begin() + 1, ids.end())) << t;
    for (bool skip : {false, true}) EXPECT_EQ(tekken->decode(ids, skip), hf->decode(ids, skip)) << t;
  }
}

// A hand-made file: ranks 0..255 the bytes, then "ab" (256), "bc" (257), "abc" (258), "cd" (259).
std::string tiny_tekken(const std::string& version, bool specials, int vocab_size = 1 + 260) {
  static const char* b64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  auto encode = [&](const std::string& s) {
    std::string out;
    for (size_t i = 0; i < s.size(); i += 3) {
      uint32_t v = uint32_t(uint8_t(s[i])) << 16;
      if (i + 1 < s.size()) v |= uint32_t(uint8_t(s[i + 1])) << 8;
      if (i + 2 < s.size()) v |= uint8_t(s[i + 2]);
      out += b64[v >> 18], out += b64[(v >> 12) & 63];
      out += i + 1 < s.size() ? b64[(v >> 6) & 63] : '=';
      out += i + 2 < s.size() ? b64[v & 63] : '=';
    }
    return out;
  };
  json vocab = json::array();
  for (int b = 0; b < 256; ++b) vocab.push_back({{"rank", b}, {"token_bytes", encode(std::string(1, char(b)))}, {"token_str", nullptr}});
  int r = 256;
  for (const char* t : {"ab", "bc", "abc", "cd"}) vocab.push_back({{"rank", r++}, {"token_bytes", encode(t)}, {"token_str", t}});
  json j = {{"config", {{"pattern", R"(\p{L}+|\s+|.)"}, {"num_vocab_tokens", 260}, {"default_vocab_size", vocab_size},
                        {"default_num_special_tokens", 1}, {"version", version}}},
            {"vocab", vocab}};
  if (specials) j["special_tokens"] = json::array({{{"rank", 0}, {"token_str", "<s>"}, {"is_control", true}}});
  return j.dump();
}

TEST(Tekken, MergesByTheRankOfTheMergedToken) {
  TempDir tmp;
  const auto t = Tokenizer::from_tekken(tmp.write("tekken.json", tiny_tekken("v13", true)));
  // "abcd": pairs ab (256), bc (257), cd (259): ab first, then "ab"+"c" = abc (258), then d alone.
  EXPECT_EQ(t->encode("abcd", false), (std::vector<int32_t>{1 + 258, 1 + 'd'}));
  EXPECT_EQ(t->encode("abc", true), (std::vector<int32_t>{0, 1 + 258}));  // whole piece is a token
  EXPECT_EQ(t->encode("bcd", false), (std::vector<int32_t>{1 + 257, 1 + 'd'}));
  EXPECT_EQ(t->decode({0, 1 + 258, 1 + 'd'}, false), "<s>abcd");
  EXPECT_EQ(t->decode({0, 1 + 258, 1 + 'd'}, true), "abcd");
  // The vocabulary is cut to default_vocab_size: without "cd" and "abc", "abcd" is ab + c + d.
  const auto cut = Tokenizer::from_tekken(tmp.write("cut.json", tiny_tekken("v13", true, 1 + 258)));
  EXPECT_EQ(cut->vocab_size(), 259);
  EXPECT_EQ(cut->encode("abcd", false), (std::vector<int32_t>{1 + 256, 1 + 'c', 1 + 'd'}));
}

TEST(Tekken, OldFilesWithoutSpecialTokensUseTheBuiltInList) {
  TempDir tmp;
  // v3 files may omit special_tokens; mistral-common then uses its list (<unk>, <s>, </s>, ...).
  json j = json::parse(tiny_tekken("v3", false));
  j["config"]["default_num_special_tokens"] = 20;
  j["config"]["default_vocab_size"] = 20 + 260;
  const auto t = Tokenizer::from_tekken(tmp.write("tekken.json", j.dump()));
  EXPECT_EQ(t->bos_id(), 1);
  EXPECT_EQ(t->eos_id(), 2);
  EXPECT_EQ(t->encode("[INST]", false), (std::vector<int32_t>{3}));
}

TEST(Tekken, BadFilesGiveOneClearError) {
  TempDir tmp;
  auto error_for = [&](const std::string& content) -> std::string {
    try {
      Tokenizer::from_tekken(tmp.write("tekken.json", content));
    } catch (const Error& e) {
      return e.what();
    }
    return "no error";
  };
  const std::string file = tmp.file("tekken.json");
  EXPECT_EQ(error_for(tiny_tekken("v99", true)),
            file + ": field 'config.version': unknown Tekken version 'v99' (known: v1, v2, v3, v7, v11, v13)");
  EXPECT_EQ(error_for(tiny_tekken("v13", false)),
            file + ": field 'special_tokens': missing (required for Tekken versions after v7)");
  EXPECT_NE(error_for(tiny_tekken("v13", true, 1 + 300)).find("field 'vocab': has 260 entries"), std::string::npos);
  json bad = json::parse(tiny_tekken("v13", true));
  bad["vocab"][5]["token_bytes"] = "@@";
  EXPECT_EQ(error_for(bad.dump()), file + ": field 'vocab[5].token_bytes': not valid non-empty base64");
  bad = json::parse(tiny_tekken("v13", true));
  bad["vocab"][7]["rank"] = 8;
  EXPECT_EQ(error_for(bad.dump()), file + ": field 'vocab[7].rank': expected 7");
  bad = json::parse(tiny_tekken("v13", true));
  bad["config"]["pattern"] = "(unclosed";
  EXPECT_NE(error_for(bad.dump()).find(file + ": field 'config.pattern'"), std::string::npos);
  bad = json::parse(tiny_tekken("v13", true));
  bad["vocab"][65]["token_bytes"] = "QkI=";  // "BB" instead of the single byte 'A'
  EXPECT_NE(error_for(bad.dump()).find("no token for the single byte 65"), std::string::npos);
  EXPECT_NE(error_for("{\"config\": ").find("invalid JSON"), std::string::npos);
}

}  // namespace
}  // namespace edgerun
