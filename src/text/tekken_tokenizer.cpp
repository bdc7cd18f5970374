// tekken.json → Tokenizer. The pieces are the shared ones: the Hugging Face Split pre-tokenizer
// (PCRE2) for the pattern, BpeMerges for the rank-ordered merges (over byte symbols instead of
// byte-level characters), TokenTrie for control tokens written in the text.
#include "formats/base64.h"
#include "text/tekken_tokenizer.h"

#include <algorithm>
#include <array>
#include <tuple>
#include <unordered_map>

#include "core/error.h"
#include "formats/json_file.h"
#include "text/bpe.h"
#include "text/hf_components.h"
#include "text/hf_json.h"
#include "text/token_trie.h"
#include "text/tokenizer.h"
#include "text/unicode.h"

namespace edgerun {

namespace text {

namespace {

using hf::JsonPath;
namespace detail = hf::detail;

// The versions mistral-common's TokenizerVersion knows; anything else it refuses to load.
const char* const kKnownVersions[] = {"v1", "v2", "v3", "v7", "v11", "v13"};

// Files before v7 may omit special_tokens; mistral-common then uses this list.
const char* const kLegacySpecials[] = {
    "<unk>", "<s>", "</s>", "[INST]", "[/INST]", "[AVAILABLE_TOOLS]", "[/AVAILABLE_TOOLS]",
    "[TOOL_RESULTS]", "[/TOOL_RESULTS]", "[TOOL_CALLS]", "[IMG]", "<pad>", "[IMG_BREAK]", "[IMG_END]",
    "[PREFIX]", "[MIDDLE]", "[SUFFIX]", "[SYSTEM_PROMPT]", "[/SYSTEM_PROMPT]", "[TOOL_CONTENT]"};

int version_number(const std::string& v) { return std::stoi(v.substr(1)); }

}  // namespace

int32_t TekkenVocab::special_id(const std::string& text) const {
  auto it = std::find(specials.begin(), specials.end(), text);
  return it == specials.end() ? -1 : int32_t(it - specials.begin());
}

TekkenVocab read_tekken(const std::string& file) {
  const json root = read_json_file(file);
  const JsonPath top{file, ""};
  if (!root.is_object()) fail(file, "expected a JSON object");
  TekkenVocab v;
  v.file = file;
  const JsonPath cat = top / "config";
  const json& config = detail::member(root, "config", top);
  v.version = detail::get_string(config, "version", cat);
  if (std::find(std::begin(kKnownVersions), std::end(kKnownVersions), v.version) == std::end(kKnownVersions))
    (cat / "version").fail("unknown Tekken version '" + v.version + "' (known: v1, v2, v3, v7, v11, v13)");
  v.pattern = detail::get_string(config, "pattern", cat);
  const int64_t vocab_size = detail::get_int_or(config, "default_vocab_size", -1, cat);
  const int64_t num_special = detail::get_int_or(config, "default_num_special_tokens", -1, cat);
  if (num_special <= 0 || num_special > (1 << 20)) (cat / "default_num_special_tokens").fail("missing or out of range");
  if (vocab_size <= num_special || vocab_size > (1 << 24)) (cat / "default_vocab_size").fail("missing or out of range");

  // Control tokens: listed in the file (required after v7), padded with <SPECIAL_i>.
  if (detail::has(root, "special_tokens")) {
    const json& list = detail::get_array(root, "special_tokens", top);
    for (size_t i = 0; i < list.size(); ++i) {
      const JsonPath at = (top / "special_tokens")[i];
      if (detail::get_int_or(list[i], "rank", -1, at) != int64_t(i)) (at / "rank").fail("expected " + std::to_string(i));
      v.specials.push_back(detail::get_string(list[i], "token_str", at));
    }
  } else if (version_number(v.version) > 7) {
    (top / "special_tokens").fail("missing (required for Tekken versions after v7)");
  } else {
    v.specials.assign(std::begin(kLegacySpecials), std::end(kLegacySpecials));
  }
  if (int64_t(v.specials.size()) > num_special)
    (top / "special_tokens").fail("has " + std::to_string(v.specials.size()) + " entries for " +
                                  std::to_string(num_special) + " special ids");
  for (int64_t i = int64_t(v.specials.size()); i < num_special; ++i) v.specials.push_back("<SPECIAL_" + std::to_string(i) + ">");

  // BPE ranks, cut to the vocabulary size as mistral-common does.
  const json& vocab = detail::get_array(root, "vocab", top);
  const int64_t inner = vocab_size - num_special;
  if (int64_t(vocab.size()) < inner)
    (top / "vocab").fail("has " + std::to_string(vocab.size()) + " entries, default_vocab_size needs " + std::to_string(inner));
  v.tokens.resize(size_t(inner));
  for (int64_t r = 0; r < inner; ++r) {
    const JsonPath at = (top / "vocab")[size_t(r)];
    if (detail::get_int_or(vocab[size_t(r)], "rank", -1, at) != r) (at / "rank").fail("expected " + std::to_string(r));
    if (!base64_decode(detail::get_string(vocab[size_t(r)], "token_bytes", at), v.tokens[size_t(r)]) || v.tokens[size_t(r)].empty())
      (at / "token_bytes").fail("not valid non-empty base64");
  }
  return v;
}

std::vector<TekkenMerge> tekken_merges(const TekkenVocab& v) {
  std::unordered_map<std::string, int32_t> rank;
  rank.reserve(v.tokens.size());
  for (size_t r = 0; r < v.tokens.size(); ++r) rank.emplace(v.tokens[r], int32_t(r));
  std::vector<TekkenMerge> merges;
  for (size_t r = 0; r < v.tokens.size(); ++r) {
    const std::string& t = v.tokens[r];
    const size_t first = merges.size();
    for (size_t j = 1; j < t.size(); ++j) {
      auto left = rank.find(t.substr(0, j)), right = rank.find(t.substr(j));
      if (left != rank.end() && right != rank.end()) merges.push_back({left->second, right->second, int32_t(r)});
    }
    std::sort(merges.begin() + std::ptrdiff_t(first), merges.end(), [](const TekkenMerge& a, const TekkenMerge& b) {
      return std::tie(a.left, a.right) < std::tie(b.left, b.right);
    });
  }
  return merges;
}

}  // namespace text

namespace {

class TekkenTokenizer : public Tokenizer {
 public:
  explicit TekkenTokenizer(text::TekkenVocab vocab);

  std::vector<int32_t> encode(std::string_view text, bool add_special) const override;
  std::string decode(const std::vector<int32_t>& ids, bool skip_special) const override;
  int32_t vocab_size() const override { return int32_t(v_.vocab_size()); }
  int32_t bos_id() const override { return bos_; }
  int32_t eos_id() const override { return eos_; }
  bool is_special(int32_t id) const override { return id >= 0 && id < v_.num_special(); }
  std::string token_bytes(int32_t id) const override {
    if (id < 0 || id >= vocab_size()) return "";
    return is_special(id) ? v_.specials[size_t(id)] : v_.tokens[size_t(id - v_.num_special())];
  }

 private:
  void encode_piece(const std::string& piece, std::vector<int32_t>& ids) const;

  text::TekkenVocab v_;
  std::unordered_map<std::string, int32_t> rank_;  // token bytes → rank
  std::array<int32_t, 256> byte_rank_{};
  text::BpeMerges merges_;
  text::TokenTrie specials_;
  std::unique_ptr<text::hf::PreTokenizer> split_;
  text::BpeCache cache_;
  int32_t bos_ = -1, eos_ = -1;
};

TekkenTokenizer::TekkenTokenizer(text::TekkenVocab vocab) : v_(std::move(vocab)) {
  // The pattern runs as a Split pre-tokenizer with Isolated behaviour: the matches and any text
  // between them become pieces (tiktoken keeps only matches, but Tekken's pattern matches all
  // text), which is also what the tokenizer.json form of the same tokenizer does.
  const json split = {{"type", "Split"}, {"pattern", {{"Regex", v_.pattern}}}, {"behavior", "Isolated"}};
  split_ = text::hf::make_pre_tokenizer(split, text::hf::JsonPath{v_.file, "config"});  // errors name config.pattern
  byte_rank_.fill(-1);
  for (size_t r = 0; r < v_.tokens.size(); ++r) {
    rank_.emplace(v_.tokens[r], int32_t(r));
    if (v_.tokens[r].size() == 1) byte_rank_[static_cast<unsigned char>(v_.tokens[r][0])] = int32_t(r);
  }
  for (int b = 0; b < 256; ++b)
    if (byte_rank_[size_t(b)] < 0)
      fail(v_.file + ": field 'vocab'", "no token for the single byte " + std::to_string(b) + " (every byte must be a token)");
  // tiktoken merges the pair whose concatenation has the lowest rank: that rank is the priority.
  for (const text::TekkenMerge& m : text::tekken_merges(v_)) merges_.add(m.left, m.right, m.merged, m.merged, false);
  for (int64_t id = 0; id < v_.num_special(); ++id) specials_.insert(v_.specials[size_t(id)], int32_t(id));
  bos_ = v_.special_id("<s>");
  eos_ = v_.special_id("</s>");
}

void TekkenTokenizer::encode_piece(const std::string& piece, std::vector<int32_t>& ids) const {
  const int32_t offset = int32_t(v_.num_special());
  if (auto whole = rank_.find(piece); whole != rank_.end()) {
    ids.push_back(whole->second + offset);
    return;
  }
  if (auto cached = cache_.get(piece)) {
    ids.insert(ids.end(), cached->begin(), cached->end());
    return;
  }
  std::vector<int32_t> symbols;
  for (unsigned char c : piece) symbols.push_back(byte_rank_[c]);
  merges_.apply(symbols);
  for (int32_t& s : symbols) s += offset;
  cache_.put(piece, symbols);
  ids.insert(ids.end(), symbols.begin(), symbols.end());
}

std::vector<int32_t> TekkenTokenizer::encode(std::string_view input, bool add_special) const {
  const std::string s = text::utf8_lossy(input);
  std::vector<int32_t> ids;
  if (add_special && bos_ >= 0) ids.push_back(bos_);  // mistral-common's encode(bos=True)
  // Control tokens written in the text are matched as tokens, as in the tokenizer.json form and
  // llama.cpp (mistral-common's raw encode would spell them out as text).
  size_t done = 0;
  auto flush = [&](size_t end) {
    if (end <= done) return;
    text::hf::Pieces pieces{text::hf::Piece{s.substr(done, end - done), done == 0}};
    split_->pre_tokenize(pieces);
    for (const text::hf::Piece& p : pieces) encode_piece(p.text, ids);
  };
  for (size_t pos = 0; pos < s.size();) {
    const auto [len, id] = specials_.longest(s, pos);
    if (len == 0) {
      ++pos;
      continue;
    }
    flush(pos);
    ids.push_back(id);
    pos += len;
    done = pos;
  }
  flush(s.size());
  return ids;
}

std::string TekkenTokenizer::decode(const std::vector<int32_t>& ids, bool skip_special) const {
  std::string bytes;
  for (int32_t id : ids) {
    if (id < 0 || id >= vocab_size()) continue;  // unknown ids vanish
    if (is_special(id)) {
      if (!skip_special) bytes += v_.specials[size_t(id)];
    } else {
      bytes += v_.tokens[size_t(id - v_.num_special())];
    }
  }
  return text::utf8_lossy(bytes);
}

}  // namespace

std::unique_ptr<Tokenizer> Tokenizer::from_tekken(const std::string& file) {
  return std::make_unique<TekkenTokenizer>(text::read_tekken(file));
}

}  // namespace edgerun
