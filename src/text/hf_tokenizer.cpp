// Hugging Face tokenizer.json with a BPE model, following the `tokenizers` crate: added tokens
// are cut out of the text first (raw ones, then normalized ones after the normalizer ran), the
// rest goes through the pre-tokenizer and the BPE model; decode maps ids to token strings and
// runs the decoder chain, then transformers' clean_up_tokenization when the config asks for it.
#include <array>
#include <unordered_map>

#include "core/error.h"
#include "core/storage.h"
#include "formats/json_file.h"
#include "text/bpe.h"
#include "text/hf_components.h"
#include "text/token_trie.h"
#include "text/tokenizer.h"
#include "text/unicode.h"

namespace edgerun {

namespace {

using text::hf::JsonPath;

struct AddedToken {
  std::string content;
  int32_t id = -1;
  bool special = false, lstrip = false, rstrip = false, single_word = false, normalized = true;
};

struct Segment {
  std::string text;
  int32_t id = -1;  // >= 0: an added token
  bool first = false;
};

uint32_t cp_before(std::string_view s, size_t end) {
  size_t b = end;
  while (b > 0 && (static_cast<unsigned char>(s[b - 1]) & 0xC0) == 0x80) --b;
  if (b > 0) --b;
  uint32_t cp;
  text::utf8_next(s, b, &cp);
  return cp;
}

class HfTokenizer : public Tokenizer {
 public:
  HfTokenizer(const json& root, const std::string& file, const json& config,
              const std::string& config_file);

  std::vector<int32_t> encode(std::string_view text, bool add_special) const override;
  std::string decode(const std::vector<int32_t>& ids, bool skip_special) const override;
  int32_t vocab_size() const override { return static_cast<int32_t>(id_to_token_.size()); }
  int32_t bos_id() const override { return bos_; }
  int32_t eos_id() const override { return eos_; }
  bool is_special(int32_t id) const override {
    return id >= 0 && id < vocab_size() && special_[static_cast<size_t>(id)];
  }
  std::string token_bytes(int32_t id) const override;

 private:
  void load_model(const json& model, const JsonPath& at);
  void load_added(const json& list, const JsonPath& at, bool from_config);
  void apply_config(const json& config, const std::string& config_file);
  int32_t token_id(const std::string& token) const;
  void set_token(int32_t id, const std::string& text, const JsonPath& at);
  std::vector<Segment> split_added(const std::string& s, const text::TokenTrie& trie, bool first) const;
  void tokenize_word(const std::string& word, std::vector<int32_t>& out) const;

  std::unordered_map<std::string, int32_t> vocab_;  // the model's vocabulary
  std::vector<std::string> id_to_token_;
  std::vector<bool> has_token_;
  std::vector<bool> special_;
  text::BpeMerges merges_;
  int32_t unk_ = -1;
  bool byte_fallback_ = false, fuse_unk_ = false, ignore_merges_ = false;
  std::array<int32_t, 256> byte_ids_{};
  std::string prefix_, suffix_;  // continuing_subword_prefix / end_of_word_suffix

  std::vector<AddedToken> added_;
  std::unordered_map<int32_t, size_t> added_by_id_;
  text::TokenTrie raw_trie_, norm_trie_;

  std::unique_ptr<text::hf::Normalizer> normalizer_;
  std::unique_ptr<text::hf::PreTokenizer> pre_tokenizer_;
  std::unique_ptr<text::hf::Decoder> decoder_;
  text::hf::PostProcessor post_;
  bool clean_up_spaces_ = false;
  int32_t bos_ = -1, eos_ = -1;
  text::BpeCache cache_;
};

// Ids above this are treated as corrupt rather than allocated for.
constexpr int64_t kMaxVocab = 1 << 24;

void HfTokenizer::set_token(int32_t id, const std::string& text, const JsonPath& at) {
  if (id < 0 || id >= kMaxVocab) at.fail("token id " + std::to_string(id) + " out of range");
  if (static_cast<size_t>(id) >= id_to_token_.size()) {
    id_to_token_.resize(static_cast<size_t>(id) + 1);
    has_token_.resize(static_cast<size_t>(id) + 1, false);
    special_.resize(static_cast<size_t>(id) + 1, false);
  }
  id_to_token_[static_cast<size_t>(id)] = text;
  has_token_[static_cast<size_t>(id)] = true;
}

HfTokenizer::HfTokenizer(const json& root, const std::string& file, const json& config,
                         const std::string& config_file) {
  const JsonPath top{file, ""};
  if (!root.is_object()) fail(file, "expected a JSON object at the top level");
  if (!root.contains("model") || root.at("model").is_null()) (top / "model").fail("missing");
  load_model(root.at("model"), top / "model");
  if (root.contains("added_tokens") && !root.at("added_tokens").is_null()) {
    load_added(root.at("added_tokens"), top / "added_tokens", false);
  }
  auto node = [&](const char* key) -> const json& {
    static const json null_json;
    return root.contains(key) ? root.at(key) : null_json;
  };
  normalizer_ = text::hf::make_normalizer(node("normalizer"), top / "normalizer");
  pre_tokenizer_ = text::hf::make_pre_tokenizer(node("pre_tokenizer"), top / "pre_tokenizer");
  decoder_ = text::hf::make_decoder(node("decoder"), top / "decoder");
  post_ = text::hf::make_post_processor(node("post_processor"), top / "post_processor",
                                        [this](const std::string& t) { return token_id(t); });
  if (config.is_object()) apply_config(config, config_file);

  // Tries last: config may have added tokens, and normalized ones match normalized text.
  // Decoding such a token yields its normalized form too (tokenizers >= 0.23), so that e.g. a
  // ByteLevel normalizer's output is inverted by the ByteLevel decoder.
  for (size_t i = 0; i < added_.size(); ++i) {
    const AddedToken& t = added_[i];
    if (t.normalized) {
      const std::string form = normalizer_ ? normalizer_->normalize(t.content) : t.content;
      norm_trie_.insert(form, static_cast<int32_t>(i));
      id_to_token_[static_cast<size_t>(t.id)] = form;
    } else {
      raw_trie_.insert(t.content, static_cast<int32_t>(i));
    }
  }
  for (int32_t id : post_.prefix) {
    if (id < 0 || id >= vocab_size())
      (top / "post_processor").fail("token id " + std::to_string(id) + " out of range");
  }
  for (int32_t id : post_.suffix) {
    if (id < 0 || id >= vocab_size())
      (top / "post_processor").fail("token id " + std::to_string(id) + " out of range");
  }
  if (bos_ < 0 && !post_.prefix.empty()) bos_ = post_.prefix.front();
}

void HfTokenizer::load_model(const json& model, const JsonPath& at) {
  if (!model.is_object()) at.fail("expected a JSON object");
  std::string type = "BPE";  // the crate infers the type when the tag is absent
  if (model.contains("type")) {
    if (!model.at("type").is_string()) (at / "type").fail("expected a string");
    type = model.at("type").get<std::string>();
  }
  if (type != "BPE")
    (at / "type").fail("unsupported model type '" + type + "' (only BPE is supported)");

  if (!model.contains("vocab") || !model.at("vocab").is_object())
    (at / "vocab").fail("missing or not an object");
  for (const auto& [token, id] : model.at("vocab").items()) {
    if (!id.is_number_integer()) (at / "vocab").fail("id of '" + token + "' is not an integer");
    const int64_t v = id.get<int64_t>();
    if (v < 0 || v >= kMaxVocab) (at / "vocab").fail("id of '" + token + "' out of range");
    vocab_[token] = static_cast<int32_t>(v);
    set_token(static_cast<int32_t>(v), token, at / "vocab");
  }

  auto opt_string = [&](const char* key) -> std::string {
    if (!model.contains(key) || model.at(key).is_null()) return {};
    if (!model.at(key).is_string()) (at / key).fail("expected a string");
    return model.at(key).get<std::string>();
  };
  auto opt_bool = [&](const char* key) -> bool {
    if (!model.contains(key) || model.at(key).is_null()) return false;
    if (!model.at(key).is_boolean()) (at / key).fail("expected a boolean");
    return model.at(key).get<bool>();
  };
  prefix_ = opt_string("continuing_subword_prefix");
  suffix_ = opt_string("end_of_word_suffix");
  byte_fallback_ = opt_bool("byte_fallback");
  fuse_unk_ = opt_bool("fuse_unk");
  ignore_merges_ = opt_bool("ignore_merges");
  const std::string unk = opt_string("unk_token");
  if (!unk.empty()) {
    auto it = vocab_.find(unk);
    if (it == vocab_.end()) (at / "unk_token").fail("'" + unk + "' is not in the vocabulary");
    unk_ = it->second;
  }
  byte_ids_.fill(-1);
  if (byte_fallback_) {
    static const char* hex = "0123456789ABCDEF";
    for (int b = 0; b < 256; ++b) {
      const std::string name = std::string("<0x") + hex[b >> 4] + hex[b & 15] + ">";
      auto it = vocab_.find(name);
      if (it != vocab_.end()) byte_ids_[b] = it->second;
    }
  }

  if (!model.contains("merges") || model.at("merges").is_null()) return;  // a vocab-only BPE
  const json& merges = model.at("merges");
  if (!merges.is_array()) (at / "merges").fail("expected an array");
  for (size_t i = 0; i < merges.size(); ++i) {
    const json& m = merges[i];
    const JsonPath here = (at / "merges")[i];
    std::string a, b;
    if (m.is_string()) {  // "a b"
      const std::string s = m.get<std::string>();
      const size_t sp = s.find(' ', 1);
      if (sp == std::string::npos) here.fail("expected \"left right\", got '" + s + "'");
      a = s.substr(0, sp);
      b = s.substr(sp + 1);
    } else if (m.is_array() && m.size() == 2 && m[0].is_string() &&
               m[1].is_string()) {  // ["a", "b"]
      a = m[0].get<std::string>();
      b = m[1].get<std::string>();
    } else {
      here.fail("expected \"left right\" or [\"left\", \"right\"]");
    }
    auto ia = vocab_.find(a), ib = vocab_.find(b);
    if (ia == vocab_.end()) here.fail("token '" + a + "' is not in the vocabulary");
    if (ib == vocab_.end()) here.fail("token '" + b + "' is not in the vocabulary");
    if (b.size() < prefix_.size())
      here.fail("token '" + b + "' lacks the continuing_subword_prefix");
    const std::string merged = a + b.substr(prefix_.size());
    auto im = vocab_.find(merged);
    if (im == vocab_.end()) here.fail("merged token '" + merged + "' is not in the vocabulary");
    merges_.add(ia->second, ib->second, im->second, static_cast<int32_t>(i), true);
  }
}

void HfTokenizer::load_added(const json& list, const JsonPath& at, bool from_config) {
  auto flag = [&](const json& t, const char* key, bool fallback, const JsonPath& p) {
    if (!t.contains(key) || t.at(key).is_null()) return fallback;
    if (!t.at(key).is_boolean()) (p / key).fail("expected a boolean");
    return t.at(key).get<bool>();
  };
  auto add = [&](const json& t, int64_t id, const JsonPath& p) {
    if (!t.is_object()) p.fail("expected a JSON object");
    if (!t.contains("content") || !t.at("content").is_string())
      (p / "content").fail("missing or not a string");
    if (id < 0 || id >= kMaxVocab) (p / "id").fail("out of range");
    if (from_config && added_by_id_.count(static_cast<int32_t>(id))) return;  // tokenizer.json wins
    AddedToken tok;
    tok.content = t.at("content").get<std::string>();
    tok.id = static_cast<int32_t>(id);
    tok.special = flag(t, "special", false, p);
    tok.lstrip = flag(t, "lstrip", false, p);
    tok.rstrip = flag(t, "rstrip", false, p);
    tok.single_word = flag(t, "single_word", false, p);
    tok.normalized = flag(t, "normalized", !tok.special, p);
    set_token(tok.id, tok.content, p);
    special_[static_cast<size_t>(tok.id)] = tok.special;
    auto it = added_by_id_.find(tok.id);
    if (it != added_by_id_.end()) {
      added_[it->second] = tok;
    } else {
      added_by_id_[tok.id] = added_.size();
      added_.push_back(tok);
    }
  };
  if (list.is_array()) {
    for (size_t i = 0; i < list.size(); ++i) {
      const JsonPath p = at[i];
      if (!list[i].is_object() || !list[i].contains("id") ||
          !list[i].at("id").is_number_integer()) {
        (p / "id").fail("missing or not an integer");
      }
      add(list[i], list[i].at("id").get<int64_t>(), p);
    }
  } else if (list.is_object()) {  // tokenizer_config.json's added_tokens_decoder: {"id": {...}}
    for (const auto& [key, t] : list.items()) {
      const int64_t id = parse_id_key(key);
      if (id < 0) (at / key).fail("key is not a token id");
      add(t, id, at / key);
    }
  } else {
    at.fail("expected an array or an object");
  }
}

void HfTokenizer::apply_config(const json& config, const std::string& config_file) {
  const JsonPath top{config_file, ""};
  if (config.contains("added_tokens_decoder") && !config.at("added_tokens_decoder").is_null()) {
    load_added(config.at("added_tokens_decoder"), top / "added_tokens_decoder", true);
  }
  clean_up_spaces_ = json_bool_or(config, "clean_up_tokenization_spaces", false, config_file);
  // bos_token / eos_token: a string or {"content": ...}.
  auto special_id = [&](const char* key) -> int32_t {
    if (!config.contains(key) || config.at(key).is_null()) return -1;
    const json& v = config.at(key);
    std::string s;
    if (v.is_string()) {
      s = v.get<std::string>();
    } else if (v.is_object() && v.contains("content") && v.at("content").is_string()) {
      s = v.at("content").get<std::string>();
    } else {
      (top / key).fail("expected a string or {\"content\": ...}");
    }
    return token_id(s);
  };
  bos_ = special_id("bos_token");
  eos_ = special_id("eos_token");
  // transformers' Llama/Gemma fast tokenizers rebuild the post-processor from add_bos_token /
  // add_eos_token (defaults true / false).
  const std::string cls = json_string_or(config, "tokenizer_class", "", config_file);
  static const char* kLlamaLike[] = {"LlamaTokenizer",     "LlamaTokenizerFast",
                                     "CodeLlamaTokenizer", "CodeLlamaTokenizerFast",
                                     "GemmaTokenizer",     "GemmaTokenizerFast"};
  for (const char* name : kLlamaLike) {
    if (cls != name) continue;
    const bool add_bos = json_bool_or(config, "add_bos_token", true, config_file);
    const bool add_eos = json_bool_or(config, "add_eos_token", false, config_file);
    post_.prefix.clear();
    post_.suffix.clear();
    if (add_bos && bos_ >= 0) post_.prefix.push_back(bos_);
    if (add_eos && eos_ >= 0) post_.suffix.push_back(eos_);
  }
}

int32_t HfTokenizer::token_id(const std::string& token) const {
  for (const AddedToken& t : added_) {
    if (t.content == token) return t.id;
  }
  auto it = vocab_.find(token);
  return it == vocab_.end() ? -1 : it->second;
}

// The crate's AddedVocabulary::find_matches: leftmost-longest matches, filtered by
// single_word and widened by lstrip/rstrip; everything between becomes text segments.
std::vector<Segment> HfTokenizer::split_added(const std::string& s, const text::TokenTrie& trie,
                                              bool first) const {
  std::vector<Segment> out;
  auto push_text = [&](size_t b, size_t e) {
    if (e > b) out.push_back(Segment{s.substr(b, e - b), -1, first && b == 0});
  };
  if (trie.empty()) {
    push_text(0, s.size());
    return out;
  }
  size_t done = 0;  // end of the last emitted split
  for (size_t pos = 0; pos < s.size();) {
    const auto [len, index] = trie.longest(s, pos);
    if (len == 0) {
      ++pos;
      continue;
    }
    const AddedToken& tok = added_[static_cast<size_t>(index)];
    size_t start = pos, stop = pos + len;
    pos = stop;
    if (start < done) continue;  // inside a previous token's stripped whitespace
    if (tok.single_word) {
      uint32_t cp;
      const bool start_ok = start == 0 || !text::is_word_char(cp_before(s, start));
      const bool stop_ok =
          stop == s.size() || (text::utf8_next(s, stop, &cp), !text::is_word_char(cp));
      if (!start_ok || !stop_ok) continue;
    }
    if (tok.lstrip) {  // never back into the previous split
      for (uint32_t cp; start > done && text::is_whitespace(cp = cp_before(s, start));) {
        start -= text::utf8_encode(cp).size();
      }
    }
    if (tok.rstrip) {
      while (stop < s.size()) {
        uint32_t cp;
        const size_t n = text::utf8_next(s, stop, &cp);
        if (!text::is_whitespace(cp)) break;
        stop += n;
      }
      pos = stop;
    }
    push_text(done, start);
    out.push_back(Segment{s.substr(start, stop - start), tok.id, false});
    done = stop;
  }
  push_text(done, s.size());
  return out;
}

void HfTokenizer::tokenize_word(const std::string& word, std::vector<int32_t>& out) const {
  if (word.empty()) return;
  if (ignore_merges_) {
    auto it = vocab_.find(word);
    if (it != vocab_.end()) {
      out.push_back(it->second);
      return;
    }
  }
  if (auto cached = cache_.get(word)) {
    out.insert(out.end(), cached->begin(), cached->end());
    return;
  }
  std::vector<int32_t> symbols;
  int32_t pending_unk = -1;  // fuse_unk merges consecutive unknowns into one
  for (size_t i = 0; i < word.size();) {
    uint32_t cp;
    const size_t n = text::utf8_next(word, i, &cp);
    std::string piece = word.substr(i, n);
    if (i > 0 && !prefix_.empty()) piece = prefix_ + piece;
    if (i + n == word.size() && !suffix_.empty()) piece += suffix_;
    auto it = vocab_.find(piece);
    if (it != vocab_.end()) {
      if (pending_unk >= 0) symbols.push_back(pending_unk), pending_unk = -1;
      symbols.push_back(it->second);
    } else {
      bool done = false;
      if (byte_fallback_) {
        done = true;
        for (unsigned char c : piece) done = done && byte_ids_[c] >= 0;
        if (done) {
          if (pending_unk >= 0) symbols.push_back(pending_unk), pending_unk = -1;
          for (unsigned char c : piece) symbols.push_back(byte_ids_[c]);
        }
      }
      if (!done && unk_ >= 0) {
        if (pending_unk >= 0 && !fuse_unk_) symbols.push_back(pending_unk);
        pending_unk = unk_;
      }
      // Without byte fallback or unk_token the character is dropped, as the crate does.
    }
    i += n;
  }
  if (pending_unk >= 0) symbols.push_back(pending_unk);
  merges_.apply(symbols);
  cache_.put(word, symbols);
  out.insert(out.end(), symbols.begin(), symbols.end());
}

std::vector<int32_t> HfTokenizer::encode(std::string_view input, bool add_special) const {
  const std::string s = text::utf8_lossy(input);
  std::vector<int32_t> ids;
  if (add_special) ids = post_.prefix;
  for (Segment& raw : split_added(s, raw_trie_, true)) {
    if (raw.id >= 0) {
      ids.push_back(raw.id);
      continue;
    }
    const std::string normalized =
        normalizer_ ? normalizer_->normalize(std::move(raw.text)) : raw.text;
    for (Segment& seg : split_added(normalized, norm_trie_, raw.first)) {
      if (seg.id >= 0) {
        ids.push_back(seg.id);
        continue;
      }
      text::hf::Pieces pieces{text::hf::Piece{std::move(seg.text), seg.first}};
      if (pre_tokenizer_) pre_tokenizer_->pre_tokenize(pieces);
      for (const auto& p : pieces) tokenize_word(p.text, ids);
    }
  }
  if (add_special) ids.insert(ids.end(), post_.suffix.begin(), post_.suffix.end());
  return ids;
}

// transformers' clean_up_tokenization, replacement order included.
std::string clean_up_tokenization(std::string s) {
  static const std::pair<const char*, const char*> kRules[] = {
      {" .", "."},     {" ?", "?"},   {" !", "!"},   {" ,", ","},     {" ' ", "'"},
      {" n't", "n't"}, {" 'm", "'m"}, {" 's", "'s"}, {" 've", "'ve"}, {" 're", "'re"}};
  for (const auto& [from, to] : kRules) {
    const std::string f = from, t = to;
    std::string out;
    size_t prev = 0;
    for (size_t pos = s.find(f); pos != std::string::npos; pos = s.find(f, prev)) {
      out.append(s, prev, pos - prev);
      out += t;
      prev = pos + f.size();
    }
    out.append(s, prev, std::string::npos);
    s = std::move(out);
  }
  return s;
}

std::string HfTokenizer::token_bytes(int32_t id) const {
  if (id < 0 || id >= vocab_size() || !has_token_[static_cast<size_t>(id)]) return "";
  const std::string& t = id_to_token_[static_cast<size_t>(id)];
  return decoder_ ? decoder_->mid_text_bytes(t) : " " + t;  // without a decoder tokens are joined by spaces
}

std::string HfTokenizer::decode(const std::vector<int32_t>& ids, bool skip_special) const {
  std::vector<std::string> tokens;
  tokens.reserve(ids.size());
  for (int32_t id : ids) {
    if (id < 0 || id >= vocab_size() || !has_token_[static_cast<size_t>(id)])
      continue;  // unknown ids vanish
    if (skip_special && special_[static_cast<size_t>(id)]) continue;
    tokens.push_back(id_to_token_[static_cast<size_t>(id)]);
  }
  std::string out;
  if (decoder_) {
    decoder_->decode_chain(tokens);
    for (const std::string& t : tokens) out += t;
  } else {
    for (size_t i = 0; i < tokens.size(); ++i) out += (i ? " " : "") + tokens[i];
  }
  out = text::utf8_lossy(out);
  return clean_up_spaces_ ? clean_up_tokenization(std::move(out)) : out;
}

}  // namespace

std::unique_ptr<Tokenizer> Tokenizer::from_hf_dir(const std::string& dir) {
  const std::string file = dir + "/tokenizer.json";
  const json root = read_json_file(file);
  const std::string config_file = dir + "/tokenizer_config.json";
  json config;
  if (file_exists(config_file)) config = read_json_file(config_file);
  return std::make_unique<HfTokenizer>(root, file, config, config_file);
}

}  // namespace edgerun
