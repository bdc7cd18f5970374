// Pipeline pieces the golden tokenizers do not exercise, on small hand-made tokenizer.json
// files: added-token flags, split behaviours, Metaspace, normalizers and decoders, with the
// results the `tokenizers` crate gives.
#include <gtest/gtest.h>

#include "formats/json_file.h"
#include "text/tokenizer.h"
#include "text/unicode.h"
#include "tokenizer_test_util.h"

namespace edgerun {
namespace {

using Ids = std::vector<int32_t>;

std::unique_ptr<Tokenizer> load(const json& j, const test::TempDir& dir) {
  dir.write("tokenizer.json", j.dump());
  return Tokenizer::from_hf_dir(dir.path());
}

json added(int id, const std::string& content, bool special, bool normalized, bool lstrip = false,
           bool rstrip = false, bool single_word = false) {
  return {{"id", id},
          {"content", content},
          {"special", special},
          {"normalized", normalized},
          {"lstrip", lstrip},
          {"rstrip", rstrip},
          {"single_word", single_word}};
}

TEST(TokenizerComponents, AddedTokenFlags) {
  json j = json::parse(R"({
    "normalizer": {"type": "Lowercase"},
    "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": false, "use_regex": true},
    "decoder": {"type": "ByteLevel"},
    "model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "x": 2, "Ġ": 3, "ab": 4, "Ġab": 5, "h": 6, "i": 7,
              "hi": 8, "Ġhi": 9, "!": 12}, "merges": ["a b", "Ġ ab", "h i", "Ġ hi"]}
  })");
  j["added_tokens"] = json::array({added(10, "<mask>", true, false, true, true),
                                   added(11, "ab!", false, false, false, false, true),
                                   added(13, "HIX", false, true)});
  test::TempDir dir;
  const auto tok = load(j, dir);
  // lstrip/rstrip swallow the whitespace around the token.
  EXPECT_EQ(tok->encode("ab <mask>  hi", false), (Ids{4, 10, 8}));
  // single_word: not inside a word, only between non-word characters.
  EXPECT_EQ(tok->encode("xab! ab!", false), (Ids{2, 4, 12, 3, 11}));
  // normalized tokens match the normalized (here lowercased) text; raw ones are cut out first.
  EXPECT_EQ(tok->encode("a HIX", false), (Ids{0, 3, 13}));
  // Raw tokens are cut out before normalizing: "<MASK>" lowercases to plain text ("a" is known).
  EXPECT_EQ(tok->encode("<MASK>", false), (Ids{0}));
  EXPECT_EQ(tok->decode({4, 10, 8}, false), "ab<mask>hi");
  EXPECT_EQ(tok->decode({4, 10, 8}, true), "abhi");
  // Non-special added tokens stay; a normalized one decodes to its normalized form, as the
  // tokenizers crate does since it caches that form for decoding.
  EXPECT_EQ(tok->decode({4, 11, 13}, true), "abab!hix");
  EXPECT_TRUE(tok->is_special(10));
  EXPECT_FALSE(tok->is_special(11));
}

// A vocabulary of whole pieces with ignore_merges makes each pre-token visible as one id.
json piece_tokenizer(const json& pre_tokenizer) {
  json j = json::parse(R"({
    "model": {"type": "BPE", "ignore_merges": true, "merges": [],
              "vocab": {"a": 0, "b": 1, "a ": 2, "b ": 3, " b": 4, "  ": 5, " ": 6, "aa": 7, "aab": 8,
                        "123": 9, "1": 10, "2": 11, "3": 12}}
  })");
  j["pre_tokenizer"] = pre_tokenizer;
  return j;
}

Ids split_ids(const std::string& behavior, const std::string& text, bool invert = false,
              const std::string& pattern = R"({"String": " "})") {
  test::TempDir dir;
  json pre = {{"type", "Split"},
              {"behavior", behavior},
              {"invert", invert},
              {"pattern", json::parse(pattern)}};
  return load(piece_tokenizer(pre), dir)->encode(text, false);
}

TEST(TokenizerComponents, SplitBehaviours) {
  EXPECT_EQ(split_ids("Removed", "a b"), (Ids{0, 1}));
  EXPECT_EQ(split_ids("Isolated", "a b"), (Ids{0, 6, 1}));
  EXPECT_EQ(split_ids("MergedWithPrevious", "a b"), (Ids{2, 1}));
  EXPECT_EQ(split_ids("MergedWithNext", "a b"), (Ids{0, 4}));
  EXPECT_EQ(split_ids("Contiguous", "a  b"), (Ids{0, 5, 1}));
  EXPECT_EQ(split_ids("Removed", "aab", true, R"({"Regex": "a+"})"), (Ids{7}));
  EXPECT_EQ(split_ids("Isolated", "aab", false, R"({"Regex": "x*"})"),
            (Ids{8}));  // empty matches split nothing
}

TEST(TokenizerComponents, DigitsAndWhitespace) {
  test::TempDir dir;
  EXPECT_EQ(
      load(piece_tokenizer(json::parse(R"({"type": "Digits", "individual_digits": false})")), dir)
          ->encode("a123b", false),
      (Ids{0, 9, 1}));
  EXPECT_EQ(
      load(piece_tokenizer(json::parse(R"({"type": "Digits", "individual_digits": true})")), dir)
          ->encode("a123b", false),
      (Ids{0, 10, 11, 12, 1}));
  EXPECT_EQ(load(piece_tokenizer(json::parse(R"({"type": "WhitespaceSplit"})")), dir)
                ->encode(" a \t b ", false),
            (Ids{0, 1}));
  EXPECT_EQ(load(piece_tokenizer(json::parse(R"({"type": "Whitespace"})")), dir)
                ->encode("aab 123", false),
            (Ids{8, 9}));
}

TEST(TokenizerComponents, MetaspaceFirstScheme) {
  json j = json::parse(R"({
    "pre_tokenizer": {"type": "Metaspace", "replacement": "▁", "prepend_scheme": "first", "split": true},
    "decoder": {"type": "Metaspace", "replacement": "▁", "prepend_scheme": "first", "split": true},
    "model": {"type": "BPE", "vocab": {"▁": 0, "h": 1, "i": 2, "▁h": 3, "▁hi": 4, "hi": 5, "<s>": 6},
              "merges": ["▁ h", "▁h i", "h i"]}
  })");
  j["added_tokens"] = json::array({added(6, "<s>", true, false)});
  test::TempDir dir;
  const auto tok = load(j, dir);
  EXPECT_EQ(tok->encode("hi hi", false), (Ids{4, 4}));
  EXPECT_EQ(tok->encode("<s>hi", false), (Ids{6, 5}));  // not at the start: no prefix
  EXPECT_EQ(tok->decode({4, 4}, false), "hi hi");
  EXPECT_EQ(tok->decode({6, 5}, false), "<s>hi");
}

TEST(TokenizerComponents, NormalizersAndUnk) {
  json j = json::parse(R"({
    "normalizer": {"type": "Sequence", "normalizers": [{"type": "NFKC"}, {"type": "Strip"},
                   {"type": "Replace", "pattern": {"Regex": "\\s+"}, "content": " "}]},
    "pre_tokenizer": {"type": "WhitespaceSplit"},
    "model": {"type": "BPE", "unk_token": "<unk>", "fuse_unk": true,
              "vocab": {"<unk>": 0, "f": 1, "i": 2, "fi": 3, "A": 4, "1": 5},
              "merges": ["f i"]}
  })");
  test::TempDir dir;
  const auto tok = load(j, dir);
  // NFKC turns the ligature into "fi" and fullwidth Ａ１ into A1; unknown runs fuse into one <unk>.
  EXPECT_EQ(tok->encode("  \xEF\xAC\x81 \xEF\xBC\xA1\xEF\xBC\x91  zzz ", false), (Ids{3, 4, 5, 0}));
  EXPECT_EQ(tok->decode({3, 4}, false), "fi A");  // no decoder: tokens joined by spaces
}

TEST(TokenizerComponents, ContinuingSubwordPrefixAndSuffixDecoder) {
  json j = json::parse(R"({
    "pre_tokenizer": {"type": "WhitespaceSplit"},
    "decoder": {"type": "BPEDecoder", "suffix": "</w>"},
    "model": {"type": "BPE", "end_of_word_suffix": "</w>",
              "vocab": {"a": 0, "b</w>": 1, "ab</w>": 2, "a</w>": 3},
              "merges": ["a b</w>"]}
  })");
  test::TempDir dir;
  const auto tok = load(j, dir);
  EXPECT_EQ(tok->encode("ab a", false), (Ids{2, 3}));
  EXPECT_EQ(tok->decode({2, 3}, false), "ab a");
}

TEST(TokenizerComponents, RobertaPostProcessorAndCleanup) {
  json j = json::parse(R"({
    "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": true},
    "post_processor": {"type": "RobertaProcessing", "sep": ["</s>", 2], "cls": ["<s>", 0],
                       "trim_offsets": true, "add_prefix_space": true},
    "decoder": {"type": "ByteLevel"},
    "model": {"type": "BPE", "vocab": {"<s>": 0, "<pad>": 1, "</s>": 2, "Ġ": 3, "a": 4, "Ġa": 5, ",": 6,
              "Ġ,": 7, "n": 8, "'": 9, "t": 10, "Ġn": 11},
              "merges": ["Ġ a", "Ġ ,", "Ġ n"]}
  })");
  j["added_tokens"] = json::array({added(0, "<s>", true, false), added(2, "</s>", true, false)});
  test::TempDir dir;
  dir.write("tokenizer_config.json",
            R"({"clean_up_tokenization_spaces": true, "eos_token": "</s>"})");
  const auto tok = load(j, dir);
  EXPECT_EQ(tok->encode("a", true), (Ids{0, 5, 2}));  // add_prefix_space gives "Ġa"
  EXPECT_EQ(tok->eos_id(), 2);
  EXPECT_EQ(tok->bos_id(), 0);
  // " a , n't": " ," and " n't" lose their space.
  EXPECT_EQ(tok->decode({5, 7, 11, 9, 10}, true), " a,n't");
}

TEST(TokenizerComponents, Utf8LossyReplacesMaximalSubparts) {
  const std::string fffd = "\xEF\xBF\xBD";
  EXPECT_EQ(text::utf8_lossy("ok \xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80"),
            "ok \xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80");
  EXPECT_EQ(text::utf8_lossy("a\xF0\x9F\x98"), "a" + fffd);  // truncated 4-byte: one U+FFFD
  EXPECT_EQ(text::utf8_lossy("\xF0\x9F\x98"
                             "b"),
            fffd + "b");
  EXPECT_EQ(text::utf8_lossy("\xE0\x80"), fffd + fffd);             // E0 needs A0..BF next
  EXPECT_EQ(text::utf8_lossy("\xED\xA0\x80"), fffd + fffd + fffd);  // surrogates are ill-formed
  EXPECT_EQ(text::utf8_lossy("\xC0\xAF"), fffd + fffd);             // overlong
  EXPECT_EQ(text::utf8_lossy("\xF4\x90\x80\x80"), fffd + fffd + fffd + fffd);  // above U+10FFFF
  EXPECT_EQ(text::utf8_lossy("\xFF\xFE"), fffd + fffd);
  EXPECT_EQ(text::utf8_lossy("\xE2\x82"
                             "x\x80"),
            fffd + "x" + fffd);
  EXPECT_EQ(text::utf8_lossy(fffd), fffd);
}

TEST(TokenizerComponents, CharDelimiterSplit) {
  test::TempDir dir;
  EXPECT_EQ(
      load(piece_tokenizer(json::parse(R"({"type": "CharDelimiterSplit", "delimiter": "b"})")), dir)
          ->encode("aabaa", false),
      (Ids{7, 7}));
}

}  // namespace
}  // namespace edgerun
